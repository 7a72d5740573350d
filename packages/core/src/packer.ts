import { ChskError } from './errors.js';

/** Bytes or text on the wire. */
export type Packed = string | Uint8Array;

/**
 * Turns values into wire data and back. The default is JSON text. A binary packer sets
 * `binary: true`; the WebSocket transport then sends binary frames, and Ajax uses
 * `application/octet-stream` bodies. Client and server must use the same packer.
 */
export interface Packer {
  readonly binary: boolean;
  pack(value: unknown): Packed;
  /** Throws on data it cannot read; callers turn that into the outcome PROTOCOL.md defines. */
  unpack(data: Packed): unknown;
}

const decoder = /* @__PURE__ */ new TextDecoder('utf-8', { fatal: true });

export const jsonPacker: Packer = /* @__PURE__ */ Object.freeze({
  binary: false,
  pack(value: unknown): string {
    const s = JSON.stringify(value);
    if (s === undefined) throw new ChskError('chsk/error', 'value cannot be packed as JSON');
    return s;
  },
  unpack(data: Packed): unknown {
    return JSON.parse(typeof data === 'string' ? data : decoder.decode(data));
  },
});
