import { afterEach, describe, expect, it, vi } from 'vitest';
import { createChannelSocketServer } from '@sente-rx/server';
import { nodeAdapter } from '@sente-rx/server/node';
import { createChannelSocketClient } from '@sente-rx/client';
import { silentLogger } from '@sente-rx/core';

// Failures are visible by default: without a `logger` option, warnings and errors reach the console.
describe('default logger', () => {
  afterEach(() => vi.restoreAllMocks());

  it('the server warns on the console when no csrfToken option is given', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const chsk = createChannelSocketServer(nodeAdapter(), {});
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('no csrfToken option'));
    await chsk.close();
  });

  it('silentLogger silences it', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const chsk = createChannelSocketServer(nodeAdapter(), { logger: silentLogger });
    expect(warn).not.toHaveBeenCalled();
    await chsk.close();
  });

  it('the client logs a transport failure on the console', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const c = createChannelSocketClient('/chsk', null, {
      type: 'ws',
      host: '127.0.0.1:1',
      WebSocket: class {
        constructor() {
          throw new Error('no sockets here');
        }
      } as never,
    });
    await vi.waitFor(() => expect(error.mock.calls.length + warn.mock.calls.length).toBeGreaterThan(0));
    c.close();
  });
});
