/** The root README's "When the server refuses" snippet, type-checked with the repository (root-readme.test.ts keeps the copies equal). */
import { createChannelSocketClient } from '@sente-rx/client';
import { silentLogger } from '@sente-rx/core';
import { exhaustMap, filter } from 'rxjs';

declare function refreshSession(): Promise<void>;
declare function currentToken(): string;

// #region readme
const chsk = createChannelSocketClient('/chsk', () => currentToken(), { // a function: read again on every connect
  stableMs: 5_000,                                  // the default: the backoff resets after 5 s open
  logger: silentLogger,                             // quiet; the default, consoleLogger, prints warnings and errors
});
chsk.state$.pipe(
  filter(([old, s]) => s.lastClose !== old.lastClose && s.lastClose?.reason === 'unauthorized'), // 401/403: stopped
  exhaustMap(() => refreshSession()),               // log in again, get a new session and token
).subscribe(() => chsk.reconnect());
// #endregion readme
