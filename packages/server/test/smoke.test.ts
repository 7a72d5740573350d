import { afterEach, describe, expect, it } from 'vitest';
import { firstValueFrom } from 'rxjs';
import { client, startServer, whenOpen, type TestServer } from './support.js';
import type { ChannelSocketClient } from '@sente-rx/client';

describe('smoke', () => {
  let srv: TestServer | undefined;
  const clients: ChannelSocketClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await srv?.stop();
  });

  it('connects, replies and pushes', async () => {
    srv = await startServer();
    srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.({ got: m.data }));
    const c = client(srv.port, { uid: 'alice' });
    clients.push(c);
    await whenOpen(c);
    expect(c.state.uid).toBe('alice');
    expect(c.state.type).toBe('ws');
    const reply = await firstValueFrom(c.send(['test/echo', 42], { timeoutMs: 2000 }));
    expect(reply).toEqual({ got: 42 });
  });
});
