/** Small DOM helpers for the page: no framework, just typed lookups and formatting. */

/** The element with `id`; throws if the page lacks it (a template/code mismatch, not a user error). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`#${id} is missing from the page`);
  return el as T;
}

/** `HH:MM:SS.mmm` in local time. */
export function clock(udt: number): string {
  const d = new Date(udt);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** A one-line rendering of any value, cut at `max` characters. */
export function preview(x: unknown, max = 160): string {
  let s: string;
  try {
    s = typeof x === 'string' ? x : (JSON.stringify(x) ?? String(x));
  } catch {
    s = String(x);
  }
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
