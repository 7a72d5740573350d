import { type ChskEvent, CloseCode, envelope, type Logger, type Packed, type Packer, parseServerMessage } from '@sente-rx/core';
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
}

/** One WebSocket connection attempt; a new transport per attempt. */
export function webSocketTransport(cfg: WebSocketTransportConfig): Transport {
  const { logger, packer } = cfg;
  const events = hub<TransportEvent>();
  const emit = (ev: TransportEvent): void => events.next(ev);
  let socket: WebSocketLike | null = null;
  let opened = false;
  /** simulateNetworkFailure(silent): nothing arrives, nothing leaves, no close is reported. */
  let silenced = false;
  let openTimer: Subscription | null = null;

  /** An error, then the end: the socket could not be made or did not open in time. */
  const abort = (message: string): void => {
    emit({ kind: 'error', message });
    emit({ kind: 'closed', code: ABNORMAL, reason: message, clean: false });
  };

  const receive = (data: unknown): void => {
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
    const msg = parseServerMessage(value);
    if (!msg.ok) {
      logger.warn('sente-rx: ignored a malformed server message', { reason: msg.reason });
      return;
    }
    emit({ kind: 'message', message: msg.value });
  };

  const stop = (code: number = CloseCode.NORMAL, reason = ''): void => {
    openTimer?.unsubscribe();
    const ws = socket;
    socket = null;
    if (ws === null) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    // Late errors from a closing socket must not surface as unhandled 'error' events (Node's ws).
    ws.onerror = () => undefined;
    try {
      ws.close(code, reason);
    } catch {
      // already closing
    }
  };

  return {
    type: 'ws',
    keepAlive: true,
    events: events.asObservable(),
    stop,
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
          logger.warn('sente-rx: the WebSocket did not open within wsConnectTimeoutMs');
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
      ws.onmessage = (ev) => {
        if (socket === ws && !silenced) receive(ev.data);
      };
      ws.onerror = (ev) => {
        if (socket !== ws) return;
        const message = (ev as { message?: unknown } | null)?.message;
        emit(typeof message === 'string' ? { kind: 'error', message } : { kind: 'error' });
      };
      ws.onclose = (ev) => {
        if (socket !== ws || silenced) return;
        socket = null;
        openTimer?.unsubscribe();
        emit({ kind: 'closed', code: ev.code, reason: ev.reason, clean: ev.wasClean });
      };
    },
    send(event: ChskEvent, cbId: string | null): boolean {
      if (silenced) return true; // swallowed by the dead path
      const ws = socket;
      if (ws === null || ws.readyState !== OPEN) return false;
      const packed = packer.pack(envelope(event, cbId)) as string | Uint8Array<ArrayBuffer>; // throws when it cannot be packed
      try {
        ws.send(packed);
        return true;
      } catch (err) {
        logger.warn('sente-rx: WebSocket send failed', { err });
        return false;
      }
    },
    simulateNetworkFailure(silent) {
      if (silent) {
        // The socket goes quiet, as when a network path dies: only the keep-alive can notice.
        if (socket !== null) silenced = true;
        return;
      }
      try {
        socket?.close(CloseCode.CLIENT_ABNORMAL, 'CLOSE_ABNORMAL');
      } catch {
        // already closing
      }
    },
  };
}
