import { describe, expect, it } from 'vitest';
import { firstValueFrom } from 'rxjs';
import { whenOpen, useFixtures } from '@sente-rx/fixtures';

describe('smoke', () => {
  const fx = useFixtures();

  it('connects, replies and pushes', async () => {
    const srv = await fx.startServer();
    srv.chsk.recv$.subscribe((m) => m.id === 'test/echo' && m.reply?.({ got: m.data }));
    const c = fx.client(srv.port, { uid: 'alice' });
    await whenOpen(c);
    expect(c.state.uid).toBe('alice');
    expect(c.state.type).toBe('ws');
    const reply = await firstValueFrom(c.send(['test/echo', 42], { timeoutMs: 2000 }));
    expect(reply).toEqual({ got: 42 });
  });
});
