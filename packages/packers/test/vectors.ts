/**
 * Frames recorded from a real Sente v1.21.0 server and the client frames it accepted
 * (../../../../shared/sente-interop.md in the project notes), with the JS value each unpacks to
 * and the envelope kind that packs the value back. `repacked` is set where packing the value
 * gives a different but equivalent frame (EDN types with no JS counterpart: symbols,
 * characters, ratios, lists and keyword sets come back as strings, numbers and vectors).
 * Reusable by the server and client wire tests.
 */
import type { EnvelopeKind } from '@sente-rx/core';
import { Uuid } from '../src/shape.js';

export interface WireVector {
  readonly name: string;
  readonly direction: 'server-to-client' | 'client-to-server';
  readonly transport: 'ws' | 'ajax' | 'both';
  /** The exact EDN text on the wire (Ajax POST: the `ppstr` form parameter, decoded). */
  readonly frame: string;
  readonly kind: EnvelopeKind;
  readonly value: unknown;
  /** What `ednPacker.pack(value, kind)` writes when it is not `frame` itself. */
  readonly repacked?: string;
}

const RICH_DATA = {
  s: 'hi "q" é',
  v: [1, -2.5, null, true],
  set: new Set(['a']),
  k: 'ns/kw',
  sym: 'foo/bar',
  uuid: new Uuid('6f1c2b1e-0000-4000-8000-000000000001'),
  inst: new Date(Date.UTC(2020, 0, 2, 3, 4, 5, 678)),
  big: 12345678901234567890n,
  ch: 'a',
  ratio: 1 / 3,
  list: [1, 2],
  nested: new Map<unknown, unknown>([['str-key', new Map([[1, 2]])]]),
};

export const SERVER_FRAMES: readonly WireVector[] = [
  { name: 'WS handshake', direction: 'server-to-client', transport: 'both', kind: 'handshake', frame: '[[:chsk/handshake ["alice" nil nil]] nil]', value: [['chsk/handshake', ['alice', null, null]], null] },
  { name: 'nil-uid handshake with data', direction: 'server-to-client', transport: 'ws', kind: 'handshake', frame: '[[:chsk/handshake [:sente/nil-uid nil {:hd "hello"}]] nil]', value: [['chsk/handshake', ['sente/nil-uid', null, { hd: 'hello' }]], null] },
  { name: 'Ajax handshake', direction: 'server-to-client', transport: 'ajax', kind: 'handshake', frame: '[[:chsk/handshake ["bob" nil nil]] nil]', value: [['chsk/handshake', ['bob', null, null]], null] },
  { name: 'WS reply', direction: 'server-to-client', transport: 'ws', kind: 'reply', frame: '[{:echo {:x 1}, :uid "alice"} "cb1"]', value: [{ echo: { x: 1 }, uid: 'alice' }, 'cb1'] },
  { name: 'pong', direction: 'server-to-client', transport: 'ws', kind: 'pong', frame: '["pong" "cb2"]', value: ['pong', 'cb2'] },
  { name: 'push batch of 3', direction: 'server-to-client', transport: 'both', kind: 'server-batch', frame: '[[[:test/push {:i 0}] [:test/push {:i 1}] [:test/push {:i 2}]] nil]', value: [[['test/push', { i: 0 }], ['test/push', { i: 1 }], ['test/push', { i: 2 }]], null] },
  { name: 'push batch of 1', direction: 'server-to-client', transport: 'both', kind: 'server-batch', frame: '[[[:test/push {:i 0}]] nil]', value: [[['test/push', { i: 0 }]], null] },
  { name: 'server ping', direction: 'server-to-client', transport: 'ws', kind: 'ws-ping', frame: '[:chsk/ws-ping nil]', value: ['chsk/ws-ping', null] },
  { name: 'empty long poll', direction: 'server-to-client', transport: 'ajax', kind: 'lp-timeout', frame: '[:chsk/timeout nil]', value: ['chsk/timeout', null] },
  { name: 'Ajax POST reply', direction: 'server-to-client', transport: 'ajax', kind: 'reply', frame: '[{:echo {:x 1}, :uid "bob"} nil]', value: [{ echo: { x: 1 }, uid: 'bob' }, null] },
  { name: 'Ajax POST without cb', direction: 'server-to-client', transport: 'ajax', kind: 'dummy-cb-200', frame: '[:chsk/dummy-cb-200 nil]', value: ['chsk/dummy-cb-200', null] },
  {
    name: 'rich EDN echo reply',
    direction: 'server-to-client',
    transport: 'ws',
    kind: 'reply',
    frame: '[{:echo {:v [1 -2.5 nil true], :inst #inst "2020-01-02T03:04:05.678-00:00", :big 12345678901234567890N, :nested {"str-key" {1 2}}, :s "hi \\"q\\" é", :ch \\a, :k :ns/kw, :sym foo/bar, :list (1 2), :ratio 1/3, :uuid #uuid "6f1c2b1e-0000-4000-8000-000000000001", :set #{:a}}, :uid "alice"} "cb0"]',
    value: [{ echo: RICH_DATA, uid: 'alice' }, 'cb0'],
    repacked: '[{:echo {:v [1 -2.5 nil true], :inst #inst "2020-01-02T03:04:05.678-00:00", :big 12345678901234567890N, :nested {"str-key" {1 2}}, :s "hi \\"q\\" é", :ch "a", :k "ns/kw", :sym "foo/bar", :list [1 2], :ratio 0.3333333333333333, :uuid #uuid "6f1c2b1e-0000-4000-8000-000000000001", :set #{"a"}}, :uid "alice"} "cb0"]',
  },
];

export const CLIENT_FRAMES: readonly WireVector[] = [
  { name: 'event with cb', direction: 'client-to-server', transport: 'ws', kind: 'client-event', frame: '[[:test/echo {:x 1}] "cb1"]', value: [['test/echo', { x: 1 }], 'cb1'] },
  { name: 'ping with cb', direction: 'client-to-server', transport: 'ws', kind: 'client-event', frame: '[[:chsk/ws-ping] "cb2"]', value: [['chsk/ws-ping'], 'cb2'] },
  { name: 'event without cb', direction: 'client-to-server', transport: 'ws', kind: 'client-event', frame: '[[:test/echo {:x 2}] nil]', value: [['test/echo', { x: 2 }], null] },
  { name: '1-element envelope', direction: 'client-to-server', transport: 'ws', kind: 'client-event', frame: '[[:test/echo {:x 3}]]', value: [['test/echo', { x: 3 }]] },
  { name: 'push request', direction: 'client-to-server', transport: 'ws', kind: 'client-event', frame: '[[:test/push-me {:n 3}] nil]', value: [['test/push-me', { n: 3 }], null] },
  { name: 'pong', direction: 'client-to-server', transport: 'ws', kind: 'client-event', frame: '[[:chsk/ws-pong] nil]', value: [['chsk/ws-pong'], null] },
  { name: 'non-namespaced id', direction: 'client-to-server', transport: 'ws', kind: 'client-event', frame: '[[:nonamespace 1] "cb3"]', value: [['nonamespace', 1], 'cb3'] },
  { name: 'Ajax POST with cb', direction: 'client-to-server', transport: 'ajax', kind: 'ajax-event', frame: '[[:test/echo {:x 1}] :ajax]', value: [['test/echo', { x: 1 }], 'ajax'] },
  { name: 'Ajax POST without cb', direction: 'client-to-server', transport: 'ajax', kind: 'ajax-event', frame: '[[:test/echo {:x 2}] nil]', value: [['test/echo', { x: 2 }], null] },
  { name: 'Ajax POST, id only', direction: 'client-to-server', transport: 'ajax', kind: 'ajax-event', frame: '[[:test/unhandled] :ajax]', value: [['test/unhandled'], 'ajax'] },
  { name: 'Ajax POST with a string cb', direction: 'client-to-server', transport: 'ajax', kind: 'ajax-event', frame: '[[:test/echo {:x 6}] "cb6"]', value: [['test/echo', { x: 6 }], 'cb6'] },
  {
    name: 'rich EDN event',
    direction: 'client-to-server',
    transport: 'ws',
    kind: 'client-event',
    frame: '[[:test/echo {:s "hi \\"q\\" \\u00e9", :v [1 -2.5 nil true], :set #{:a}, :k :ns/kw, :sym foo/bar, :uuid #uuid "6f1c2b1e-0000-4000-8000-000000000001", :inst #inst "2020-01-02T03:04:05.678Z", :big 12345678901234567890N, :ch \\a, :ratio 1/3, :list (1 2), :nested {"str-key" {1 2}}}] "cb0"]',
    value: [['test/echo', RICH_DATA], 'cb0'],
    repacked: '[[:test/echo {:s "hi \\"q\\" é", :v [1 -2.5 nil true], :set #{"a"}, :k "ns/kw", :sym "foo/bar", :uuid #uuid "6f1c2b1e-0000-4000-8000-000000000001", :inst #inst "2020-01-02T03:04:05.678-00:00", :big 12345678901234567890N, :ch "a", :ratio 0.3333333333333333, :list [1 2], :nested {"str-key" {1 2}}}] "cb0"]',
  },
];

/** Every recorded frame. */
export const WIRE_VECTORS: readonly WireVector[] = [...SERVER_FRAMES, ...CLIENT_FRAMES];
