/**
 * `ednPacker`: Sente's default format (EDN text, as `taoensso.encore/pr-edn` and `read-edn`
 * write and read it). Event ids and the protocol's reserved values are keywords on the wire, by
 * the envelope's kind; user data follows the tables in ./edn-reader.ts and ./edn-writer.ts.
 */
import type { EnvelopeKind, Packed, Packer } from '@sente-rx/core';
import { readEdn } from './edn-reader.js';
import { writeEdn } from './edn-writer.js';
import { decodeText } from './text.js';

/** A {@link Packer} whose `pack` is known to return text. */
export const ednPacker: { pack(value: unknown, kind?: EnvelopeKind): string } & Packer = Object.freeze({
  binary: false,
  senteFormat: true,
  pack(value: unknown, kind?: EnvelopeKind): string {
    return writeEdn(value, kind);
  },
  unpack(data: Packed): unknown {
    return readEdn(decodeText(data));
  },
});

export { readEdn } from './edn-reader.js';
export { writeEdn } from './edn-writer.js';
export { Uuid } from './shape.js';
