/** Where `auto` remembers its Ajax fallback for the page (the policy itself is pure: auto-policy.ts). */
import type { ClientOptions } from './types.js';

type Storage = NonNullable<ClientOptions['storage']>;

export function defaultStorage(): Storage | null {
  try {
    const s = (globalThis as { sessionStorage?: Storage }).sessionStorage;
    return s ?? null;
  } catch {
    return null; // sandboxed frames throw on access
  }
}

/** Where the policy's `remember` decisions are kept for the page (one key per channel path). */
export function fallbackMemory(storage: Storage | null, path: string): { remembered(): boolean; remember(ajax: boolean): void } {
  const key = `sente-rx:ajax-fallback:${path}`;
  return {
    remembered() {
      try {
        return storage?.getItem(key) === 'ajax';
      } catch {
        return false;
      }
    },
    remember(ajax) {
      try {
        if (ajax) storage?.setItem(key, 'ajax');
        else storage?.removeItem(key);
      } catch {
        // storage full or disabled: the fallback is then remembered for this client only
      }
    },
  };
}
