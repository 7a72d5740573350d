// `npm run client-cost -w @sente-rx/bench [-- push|reply] [--clients=N] [--per-frame=N] [--block=N] [--builds=DIR,DIR]`:
// the RxJS client's own CPU per pushed event or per request/reply, with no network and no server:
// fake WebSockets hand it frames as a sente-rx server writes them (PROTOCOL.md), so what is
// measured is the client library (and JSON). A profiling aid for the client's hot paths, not a
// benchmark figure (those come from `npm run bench`, side by side with ws and Socket.IO).
//
// - push: `clients` clients (default 1,000, as the fan-out loader has) each get push batches of
//   `--per-frame` events (default 2; the fan-out bench's saturation phase delivers 3 to 4.5 per
//   frame) with their `chsk/pos` marker (recovery is on by default), round-robin: each frame to
//   the next client, as the fan-out loader's clients get theirs; `--block=N` gives each client N
//   frames in a row instead. With many clients round-robin costs far more per frame than in a
//   row (on the 2-core bench machine: 1 client 4.3 µs per 1-event frame, 1,000 clients 9.7 µs,
//   1,000 clients with --block=10 4.3 µs): what one frame touches of a client (its closures,
//   contexts, hub, subscriber chain) is out of the CPU caches when 1,000 clients take turns.
// - reply: `clients` clients (default 100, as the request/reply loader has) each keep one request
//   out; an in-process echo answers `[data, cbId]` (its JSON is in the figure, for every build alike).
// - `--builds=A,B`: each a checkout whose `packages/client/dist` is built (for instance a git
//   worktree of the commit before a change); their rounds alternate in one process, so an A/B
//   sees the same machine. Without it: this checkout's build.
// - With `node --cpu-prof` the profile shows which lines cost (a Map that empties on every
//   reply, a clock read per message, and closure hops per push were found so).
//
// Bounded: `rounds` rounds (default 15) of `n` operations (default 100,000) per build.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { clients: { type: 'string' }, builds: { type: 'string' }, rounds: { type: 'string' }, n: { type: 'string' }, 'per-frame': { type: 'string' }, block: { type: 'string' } },
});
const mode = positionals[0] ?? 'push';
if (mode !== 'push' && mode !== 'reply') throw new Error(`mode must be push or reply, got ${mode}`);
const clients = Number(values.clients ?? (mode === 'push' ? 1_000 : 100));
const rounds = Math.min(Number(values.rounds ?? 15), 100);
const n = Math.min(Number(values.n ?? 100_000), 1_000_000);
const perFrame = Number(values['per-frame'] ?? 2);
const block = Number(values.block ?? 1);
if (!(clients >= 1 && clients <= 10_000 && rounds >= 3 && n >= 1_000)) throw new Error('clients must be 1..10,000, rounds >= 3, n >= 1,000');
if (!(Number.isInteger(perFrame) && perFrame >= 1 && perFrame <= 100)) throw new Error('per-frame must be an integer 1..100');
if (!(Number.isInteger(block) && block >= 1 && block <= 10_000)) throw new Error('block must be an integer 1..10,000');
/** The client frame `i` goes to: round-robin, `block` frames in a row each. */
const clientOf = (i: number): number => Math.floor(i / block) % clients;
const here = path.dirname(fileURLToPath(import.meta.url));
const builds = values.builds?.split(',') ?? [path.resolve(here, '../../..')];

interface FakeSocket {
  readyState: number;
  bufferedAmount: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: string): void;
  close(): void;
}
interface ClientLike {
  recv$: { subscribe(fn: (m: { id: string }) => void): unknown };
  send(ev: readonly [string, unknown], o: { timeoutMs: number }): { subscribe(o: { next: (v: unknown) => void; error: (e: unknown) => void }): unknown };
}
type Create = (path: string, csrf: string, opts: Record<string, unknown>) => ClientLike;

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
/** The echo's queue: socket, frame. */
const outbox: [FakeSocket, string][] = [];

async function setUp(dir: string) {
  const { createChannelSocketClient } = (await import(path.join(dir, 'packages/client/dist/index.js'))) as { createChannelSocketClient: Create };
  const made: FakeSocket[] = [];
  class FakeWebSocket implements FakeSocket {
    readyState = 0;
    bufferedAmount = 0;
    onopen: FakeSocket['onopen'] = null;
    onmessage: FakeSocket['onmessage'] = null;
    constructor(readonly url: string) {
      made.push(this);
    }
    send(data: string): void {
      outbox.push([this, data]);
    }
    close(): void {}
  }
  const st = { count: 0, socks: [] as FakeSocket[], seqs: [] as number[], clients: [] as ClientLike[], runs: [] as number[] };
  for (let i = 0; i < clients; i++) {
    const c = createChannelSocketClient('/chsk', 'tok', { host: 'x', WebSocket: FakeWebSocket, logger: quiet, wsKeepAliveMs: 0 });
    c.recv$.subscribe((m) => {
      if (m.id === 'bench/push') st.count++;
    });
    const s = made[i] as FakeSocket;
    s.readyState = 1;
    s.onopen?.({});
    const recovery = mode === 'push' ? [['chsk/recovery', { pos: 'ep.0.0' }]] : [];
    s.onmessage?.({ data: JSON.stringify([['chsk/handshake', [`u${i}`, null, null, true, ...recovery]], null]) });
    st.socks.push(s);
    st.seqs.push(1);
    st.clients.push(c);
  }
  return st;
}
type Build = Awaited<ReturnType<typeof setUp>>;

/** µs of CPU per push for one round. */
function pushRound(st: Build): number {
  const frames: string[] = [];
  const to: FakeSocket[] = [];
  for (let i = 0; i < n / perFrame; i++) {
    const k = clientOf(i);
    const s0 = st.seqs[k] as number;
    st.seqs[k] = s0 + perFrame;
    const evs = Array.from({ length: perFrame }, (_, j) => ['bench/push', { t: 123_456.789 + i, i: perFrame * i + j, pad: 'xxxxxxxxxxxxxxxx' }]);
    // The server's marker: a run of 3 or more consecutive codes is one [first, count] item (PROTOCOL.md §11.4).
    const codes = perFrame >= 3 ? [[s0, perFrame]] : Array.from({ length: perFrame }, (_, j) => s0 + j);
    frames.push(JSON.stringify([[['chsk/pos', ['ep', ...codes]], ...evs], null]));
    to.push(st.socks[k] as FakeSocket);
  }
  const before = st.count;
  const t0 = process.cpuUsage();
  for (let i = 0; i < frames.length; i++) to[i]?.onmessage?.({ data: frames[i] });
  const du = process.cpuUsage(t0);
  // A figure over pushes the client did not deliver would flatter nothing and mean nothing.
  if (st.count - before !== perFrame * frames.length) throw new Error(`delivered ${st.count - before} of ${perFrame * frames.length} pushes`);
  return (du.user + du.system) / (st.count - before);
}

/** µs of CPU per request/reply for one round. */
function replyRound(st: Build): number {
  let sent = 0;
  let replies = 0;
  const wrong: unknown[] = [];
  const loop = (c: ClientLike, seq: number): void => {
    if (sent >= n) return;
    sent++;
    c.send(['bench/echo', { i: seq }], { timeoutMs: 30_000 }).subscribe({
      next: (reply) => {
        replies++;
        if ((reply as { i?: unknown } | null)?.i !== seq) wrong.push(reply);
        loop(c, seq + 1);
      },
      error: (err) => wrong.push(err),
    });
  };
  const t0 = process.cpuUsage();
  for (const c of st.clients) loop(c, 0);
  for (let k = 0; k < outbox.length; k++) {
    const [ws, frame] = outbox[k] as [FakeSocket, string];
    const [ev, cbId] = JSON.parse(frame) as [[string, unknown], string];
    ws.onmessage?.({ data: JSON.stringify([ev[1], cbId]) });
  }
  outbox.length = 0;
  const du = process.cpuUsage(t0);
  // Every request answered with its own data, or the figure is not one.
  if (replies !== sent || wrong.length > 0) throw new Error(`${replies} of ${sent} requests answered; wrong or failed: ${JSON.stringify(wrong.slice(0, 3))}`);
  return (du.user + du.system) / replies;
}

const sets: Build[] = [];
for (const dir of builds) sets.push(await setUp(dir));
for (let r = 0; r < rounds; r++) {
  // Alternate which build goes first, and keep the first two rounds as warm-up.
  for (const st of r % 2 === 0 ? sets : [...sets].reverse()) {
    const us = mode === 'push' ? pushRound(st) : replyRound(st);
    if (r >= 2) st.runs.push(us);
  }
}
for (const [i, st] of sets.entries()) {
  const runs = [...st.runs].sort((a, b) => a - b);
  const q = (p: number): string => (runs[Math.min(runs.length - 1, Math.floor(p * runs.length))] as number).toFixed(3);
  process.stdout.write(`${builds[i]}: ${mode}${mode === 'push' ? ` (${perFrame} per frame${block > 1 ? `, ${block} frames in a row per client` : ''})` : ''}, ${clients} clients: µs of CPU per ${mode === 'push' ? 'pushed event' : 'reply'}: median ${q(0.5)} (min ${q(0)}, p75 ${q(0.75)}) over ${runs.length} rounds\n`);
}
process.exit(0);
