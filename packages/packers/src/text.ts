import { ChskError, type Packed } from '@sente-rx/core';

const decoder = /* @__PURE__ */ new TextDecoder('utf-8', { fatal: true });

/** The text of a frame; bytes must be valid UTF-8. */
export function decodeText(data: Packed): string {
  if (typeof data === 'string') return data;
  try {
    return decoder.decode(data);
  } catch (cause) {
    throw new ChskError('protocol/bad-frame', 'frame is not valid UTF-8', { cause });
  }
}
