/**
 * Lets the demo break one client's connection the way networks do, so the page can show that the
 * client notices and recovers:
 *
 * - `kill`: destroy the TCP socket. No WebSocket close frame, no HTTP response: the browser sees a
 *   1006 close (WebSocket) or a network error (Ajax poll) at once.
 * - `silence`: keep the socket open but stop reading and writing it — the half-dead connection a
 *   sleeping laptop or a dropped NAT entry leaves behind. Nothing tells the client; only its
 *   keep-alive ping going unanswered does (the `wsKeepAliveMs` / `wsPingTimeoutMs` client options).
 *   Over Ajax the held poll simply never answers; the client's request timeout catches it.
 *
 * It watches the chsk path's sockets — WebSocket upgrades and in-flight Ajax polls — by the
 * `client-id` query parameter every chsk request carries.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { requestPath, requestQuery } from '@sente-rx/server/node';
import type { BreakMode } from './events.js';

const CLIENT_ID_PARAM = 'client-id';

export class ConnectionBreaker {
  readonly #byClient = new Map<string, Set<Duplex>>();
  /** Silenced sockets outlive their client; `destroyAll` ends them so a server can close promptly. */
  readonly #silenced = new Set<Duplex>();
  /** Clients whose sockets were broken, until they connect or poll again. */
  readonly #broken = new Set<string>();
  readonly #path: string;
  readonly #onReturn: (clientId: string) => void;

  /** `onReturn` hears of a broken client's first new connection or poll: it noticed and recovered. */
  constructor(path: string, onReturn: (clientId: string) => void = () => undefined) {
    this.#path = path;
    this.#onReturn = onReturn;
  }

  /**
   * Watches WebSocket upgrades on `server`, alongside the chsk server's own upgrade listener
   * (`attach`), which answers every upgrade nobody takes. This listener never takes one. Returns
   * the function that stops watching.
   */
  watchUpgrades(server: Server): () => void {
    const listener = (req: IncomingMessage, socket: Duplex): void => this.#track(req, socket, socket);
    server.on('upgrade', listener);
    return () => server.off('upgrade', listener);
  }

  /** Watches an Ajax request (call it for GET polls on the chsk path) until its response ends. */
  watchRequest(req: IncomingMessage, onDone: { once(event: 'close', listener: () => void): unknown }): void {
    this.#track(req, req.socket, onDone);
  }

  /** Breaks every watched socket of `clientId`; returns how many there were. */
  break(clientId: string, mode: BreakMode): number {
    const sockets = this.#byClient.get(clientId);
    if (sockets === undefined) return 0;
    this.#byClient.delete(clientId);
    this.#broken.add(clientId);
    for (const socket of sockets) {
      if (mode === 'kill') {
        socket.destroy();
      } else {
        // pause(): no more reads (pings go unanswered). cork(): writes pile up in memory instead of
        // reaching the wire; the server's own keep-alive (or destroyAll) ends the socket later.
        socket.pause();
        socket.cork();
        this.#silenced.add(socket);
        socket.once('close', () => this.#silenced.delete(socket));
      }
    }
    return sockets.size;
  }

  /** Destroys every silenced socket (they would otherwise hold a closing server open). */
  destroyAll(): void {
    for (const socket of this.#silenced) socket.destroy();
    this.#silenced.clear();
    this.#byClient.clear();
    this.#broken.clear();
  }

  #track(req: IncomingMessage, socket: Duplex, lifetime: { once(event: 'close', listener: () => void): unknown }): void {
    // Never new URL(req.url): a request line like `GET http://a:99999/chsk` makes it throw.
    if (requestPath(req) !== this.#path) return;
    const clientId = requestQuery(req).get(CLIENT_ID_PARAM);
    if (clientId === null || clientId === '') return;
    if (this.#broken.delete(clientId)) this.#onReturn(clientId);
    let sockets = this.#byClient.get(clientId);
    if (sockets === undefined) this.#byClient.set(clientId, (sockets = new Set()));
    sockets.add(socket);
    lifetime.once('close', () => {
      const current = this.#byClient.get(clientId);
      current?.delete(socket);
      if (current?.size === 0) this.#byClient.delete(clientId);
    });
  }
}
