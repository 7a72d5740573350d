/**
 * A random RFC 4122 v4 id from the platform's CSPRNG (browsers and Node 20 both have `crypto`;
 * `randomUUID` is missing on plain-http pages, which are not a secure context).
 */
export function randomUuid(): string {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === 'function') return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40; // version 4
  b[8] = (b[8]! & 0x3f) | 0x80; // the RFC 4122 variant
  let s = '';
  b.forEach((x, i) => (s += (i === 4 || i === 6 || i === 8 || i === 10 ? '-' : '') + (x | 0x100).toString(16).slice(1)));
  return s;
}
