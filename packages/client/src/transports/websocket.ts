import { type ChskEvent, clientEventEnvelope, CloseCode, type Envelope, type Logger, type Packed, type Packer, packEnvelope, parseServerMessage, replyCbId, type ServerMessage } from '@sente-rx/core';
import type { SchedulerLike, Subscription } from 'rxjs';
import { hub } from '../hub.js';
import type { Transport, TransportEvent, WebSocketConstructor, WebSocketLike } from '../types.js';

const OPEN = 1;
/** Closed with no close frame (RFC 6455): the socket could not be made, or never opened in time. */
const ABNORMAL = 1006;

export interface WebSocketTransportConfig {
  readonly url: () => string;
  readonly WebSocket: WebSocketConstructor;
  readonly packer: Packer;
  readonly logger: Logger;
  readonly connectTimeoutMs: number;
  readonly scheduler: SchedulerLike;
  /** Past this many bytes waiting to be sent (`bufferedAmount`), the socket is closed: the server does not read. */
  readonly maxBufferedBytes: number;
  /**
   * Asks the server over HTTP whether it refuses this client (401/403), for a socket that never
   * opened and whose WebSocket did not say why (browsers never expose an upgrade's status).
   * Resolves to 401 or 403, or undefined (not refused, or no answer).
   */
  readonly probeRefusal?: () => Promise<number | undefined>;
  /** Where replies go (see `TransportContext.reply`); without it they are `reply` events. */
  readonly reply?: (cbId: string, value: unknown) => void;
  /** Where the other server messages go (see `TransportContext.receive`); without it they are `message` events. */
  readonly receive?: (message: ServerMessage) => void;
}

/**
 * The HTTP status of a refused upgrade, when the WebSocket says it. Node's `ws` reports it in its
 * error ("Unexpected server response: 403"); browsers never expose it (the client learns a 401 or
 * 403 there from the Ajax handshake, which `auto` falls back to).
 */
const upgradeStatus = (message: string | undefined): number | undefined => {
  const m = message === undefined ? null : /Unexpected server response: (\d{3})/.exec(message);
  return m === null ? undefined : Number(m[1]);
};

/** One WebSocket connection attempt; a new transport per attempt. */
export function webSocketTransport(cfg: WebSocketTransportConfig): Transport {
  const { logger, packer, reply, receive: handOver } = cfg;
  const events = hub<TransportEvent>();
  const emit = (ev: TransportEvent): void => events.next(ev);
  let socket: WebSocketLike | null = null;
  let opened = false;
  /** simulateNetworkFailure(silent): nothing arrives, nothing leaves, no close is reported. */
  let silenced = false;
  let openTimer: Subscription | null = null;
  /** The HTTP status that refused the upgrade, when known. */
  let refusedWith: number | undefined;
  /** Bumped by stop(): a refusal probe that answers after it reports nothing. */
  let generation = 0;

  /** An error, then the end: the socket could not be made or did not open in time. */
  const abort = (message: string): void => {
    emit({ kind: 'error', message });
    emit({ kind: 'closed', code: ABNORMAL, reason: message, clean: false });
  };

  /** Detaches the socket and closes it (or, with `hard` and a `terminate()`, drops it without a closing handshake). */
  const stop = (code: number = CloseCode.NORMAL, reason = '', hard = false): void => {
    generation++;
    openTimer?.unsubscribe();
    const ws = socket;
    socket = null;
    if (ws === null) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    // Late errors from a closing socket must not surface as unhandled 'error' events (Node's ws).
    ws.onerror = () => undefined;
    try {
      if (hard && typeof ws.terminate === 'function') ws.terminate();
      else ws.close(code, reason);
    } catch {
      // already closing
    }
  };

  /** Ends the connection as a network failure does: no closing handshake, 1006 (RFC 6455 §7.1.5). */
  const drop = (reason: string, extra: { bufferFull?: true } = {}): void => {
    stop(CloseCode.CLIENT_ABNORMAL, reason, true);
    emit({ kind: 'closed', code: ABNORMAL, reason, clean: false, ...extra });
  };

  return {
    type: 'ws',
    keepAlive: true,
    events: events.asObservable(),
    stop: (code, reason) => stop(code, reason),
    connect() {
      let ws: WebSocketLike;
      try {
        ws = new cfg.WebSocket(cfg.url());
      } catch (err) {
        abort(err instanceof Error ? err.message : String(err));
        return;
      }
      socket = ws;
      ws.binaryType = 'arraybuffer';
      if (cfg.connectTimeoutMs > 0) {
        openTimer = cfg.scheduler.schedule(() => {
          if (socket !== ws || opened) return;
          // Logged by the client, rate-limited (a WebSocket stuck on an unknown path does this on every attempt).
          stop(CloseCode.NORMAL, 'connect timeout');
          abort('connect timeout');
        }, cfg.connectTimeoutMs);
      }
      ws.onopen = () => {
        if (socket !== ws) return;
        opened = true;
        openTimer?.unsubscribe();
        emit({ kind: 'open' });
      };
      // The whole receive path in the handler itself: one closure per frame, not two (what a frame
      // touches of a client counts when many clients share a process and take turns).
      ws.onmessage = (ev) => {
        if (socket !== ws || silenced) return;
        const data: unknown = ev.data;
        let packed: Packed;
        if (typeof data === 'string') packed = data;
        else if (data instanceof ArrayBuffer) packed = new Uint8Array(data);
        else if (ArrayBuffer.isView(data)) packed = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        else {
          logger.warn('sente-rx: ignored a WebSocket message of an unknown kind');
          return;
        }
        let value: unknown;
        try {
          value = packer.unpack(packed);
        } catch (err) {
          logger.warn('sente-rx: ignored a server message that does not unpack', { err });
          return;
        }
        // Under request/reply load nearly every message is a reply: it goes straight to the request.
        const cbId = replyCbId(value);
        if (cbId !== undefined) {
          if (reply !== undefined) reply(cbId, (value as Envelope)[0]);
          else emit({ kind: 'reply', cbId, value: (value as Envelope)[0] });
          return;
        }
        const msg = parseServerMessage(value);
        if (!msg.ok) {
          logger.warn('sente-rx: ignored a malformed server message', { reason: msg.reason });
          return;
        }
        if (handOver !== undefined) handOver(msg.value);
        else emit({ kind: 'message', message: msg.value });
      };
      ws.onerror = (ev) => {
        if (socket !== ws) return;
        const message = (ev as { message?: unknown } | null)?.message;
        if (typeof message === 'string' && !opened) refusedWith = upgradeStatus(message);
        emit(typeof message === 'string' ? { kind: 'error', message } : { kind: 'error' });
      };
      ws.onclose = (ev) => {
        if (socket !== ws || silenced) return;
        socket = null;
        openTimer?.unsubscribe();
        const closedWith = (status: number | undefined): void =>
          emit({ kind: 'closed', code: ev.code, reason: ev.reason, clean: ev.wasClean, ...(status === undefined ? {} : { status }) });
        if (opened || refusedWith !== undefined || cfg.probeRefusal === undefined) return closedWith(opened ? undefined : refusedWith);
        const attempt = ++generation;
        cfg.probeRefusal().then(
          (status) => attempt === generation && closedWith(status),
          () => attempt === generation && closedWith(undefined),
        );
      };
    },
    send(event: ChskEvent, cbId: string | null): boolean {
      if (silenced) return true; // swallowed by the dead path
      const ws = socket;
      if (ws === null || ws.readyState !== OPEN) return false;
      const packed = packEnvelope(packer, clientEventEnvelope(event, cbId)) as string | Uint8Array<ArrayBuffer>; // throws when it cannot be packed
      try {
        ws.send(packed);
      } catch (err) {
        logger.warn('sente-rx: WebSocket send failed', { err });
        return false;
      }
      // The server bounds what it buffers for us; we bound what we buffer for it (a server that
      // floods pings and never reads would otherwise grow our memory without end).
      const buffered = ws.bufferedAmount ?? 0;
      if (buffered > cfg.maxBufferedBytes) {
        logger.warn('sente-rx: closing a WebSocket whose server does not read (send buffer over maxBufferedBytes)', { bufferedAmount: buffered, maxBufferedBytes: cfg.maxBufferedBytes });
        drop('send buffer full', { bufferFull: true });
      }
      return true;
    },
    simulateNetworkFailure(silent) {
      if (silent) {
        // The socket goes quiet, as when a network path dies: only the keep-alive can notice.
        if (socket !== null) silenced = true;
        return;
      }
      // What a real network failure reports: an abnormal close (1006, not clean). The server's
      // end is closed too (with 3000, or terminated where the socket can be).
      if (socket !== null) drop('');
    },
  };
}
