// Load generator for the raw `ws` baseline: ws clients speaking the baseline's JSON frames.

import WebSocket from 'ws';
import { runLoader, type BenchClient } from '../loader-harness.js';

await runLoader(({ port, uid, transport, onPush, onFrame }) => {
  if (transport !== 'ws') throw new Error('raw ws has no long-polling transport');
  return new Promise<BenchClient>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?uid=${encodeURIComponent(uid)}`, { perMessageDeflate: false });
    const pending = new Map<number, (err: unknown, reply?: unknown) => void>();
    let seq = 0;
    const client: BenchClient = {
      request(payload, done) {
        const id = ++seq;
        pending.set(id, done);
        ws.send(JSON.stringify({ id, d: payload }));
      },
      close: () => ws.close(),
    };
    ws.on('error', (err) => reject(err));
    ws.on('close', () => {
      for (const done of pending.values()) done(new Error('closed'));
      pending.clear();
    });
    ws.on('message', (data) => {
      onFrame();
      const msg = JSON.parse(String(data)) as { p?: { t: number }; id?: number; d?: unknown; hello?: string };
      if (msg.p !== undefined) onPush(msg.p);
      else if (msg.id !== undefined) {
        const done = pending.get(msg.id);
        pending.delete(msg.id);
        done?.(null, msg.d);
      } else if (msg.hello !== undefined) resolve(client);
    });
  });
});
