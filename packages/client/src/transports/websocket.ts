import { type ChskEvent, envelope, type Logger, type Packed, parseServerMessage } from '@sente-rx/core';
import type { SchedulerLike, Subscription } from 'rxjs';
import type { Transport, TransportHost, WebSocketConstructor, WebSocketLike } from '../types.js';

const OPEN = 1;

/** One WebSocket connection attempt; a new instance per attempt. */
export class WebSocketTransport implements Transport {
  readonly type = 'ws' as const;
  #ws: WebSocketLike | null = null;
  #opened = false;

  #openTimer: Subscription | null = null;

  constructor(
    private readonly host: TransportHost,
    private readonly url: () => string,
    private readonly Ctor: WebSocketConstructor,
    private readonly logger: Logger,
    private readonly connectTimeoutMs: number,
    private readonly scheduler: SchedulerLike,
  ) {}

  connect(): void {
    let ws: WebSocketLike;
    try {
      ws = new this.Ctor(this.url());
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.host.wsError(message);
      this.host.lost({ everOpened: false, error: message });
      return;
    }
    this.#ws = ws;
    ws.binaryType = 'arraybuffer';
    if (this.connectTimeoutMs > 0) {
      this.#openTimer = this.scheduler.schedule(() => {
        if (this.#ws !== ws || this.#opened) return;
        this.logger.warn('sente-rx: the WebSocket did not open within wsConnectTimeoutMs');
        this.stop(1000, 'connect timeout');
        this.host.wsError('connect timeout');
        this.host.lost({ everOpened: false, error: 'connect timeout' });
      }, this.connectTimeoutMs);
    }
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      this.#opened = true;
      this.#openTimer?.unsubscribe();
    };
    ws.onmessage = (ev) => {
      if (this.#ws === ws) this.#receive(ev.data);
    };
    ws.onerror = (ev) => {
      if (this.#ws !== ws) return;
      const message = (ev as { message?: unknown } | null)?.message;
      this.host.wsError(typeof message === 'string' ? message : undefined);
    };
    ws.onclose = (ev) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#openTimer?.unsubscribe();
      this.host.lost({ code: ev.code, reason: ev.reason, clean: ev.wasClean, everOpened: this.#opened });
    };
  }

  #receive(data: unknown): void {
    let packed: Packed;
    if (typeof data === 'string') packed = data;
    else if (data instanceof ArrayBuffer) packed = new Uint8Array(data);
    else if (ArrayBuffer.isView(data)) packed = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else {
      this.logger.warn('sente-rx: ignored a WebSocket message of an unknown kind');
      return;
    }
    let value: unknown;
    try {
      value = this.host.packer.unpack(packed);
    } catch (err) {
      this.logger.warn('sente-rx: ignored a server message that does not unpack', { err });
      return;
    }
    const msg = parseServerMessage(value);
    if (!msg.ok) {
      this.logger.warn('sente-rx: ignored a malformed server message', { reason: msg.reason });
      return;
    }
    this.host.received(msg.value);
  }

  send(event: ChskEvent, cbId: string | null): boolean {
    const ws = this.#ws;
    if (ws === null || ws.readyState !== OPEN) return false;
    try {
      ws.send(this.host.packer.pack(envelope(event, cbId)) as string | Uint8Array<ArrayBuffer>);
      return true;
    } catch (err) {
      this.logger.warn('sente-rx: WebSocket send failed', { err });
      return false;
    }
  }

  #detach(): WebSocketLike | null {
    this.#openTimer?.unsubscribe();
    const ws = this.#ws;
    this.#ws = null;
    if (ws !== null) {
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      // Late errors from a closing socket must not surface as unhandled 'error' events (Node's ws).
      ws.onerror = () => undefined;
    }
    return ws;
  }

  stop(code = 1000, reason = ''): void {
    const ws = this.#detach();
    try {
      ws?.close(code, reason);
    } catch {
      // already closing
    }
  }

  break(silent: boolean): void {
    if (silent) {
      // The socket goes quiet: nothing arrives, nothing is sent, and no close event reaches the
      // client, as when a network path dies. Only the keep-alive can notice.
      const ws = this.#ws;
      if (ws === null) return;
      ws.onmessage = null;
      ws.onclose = null;
      this.send = () => true;
      return;
    }
    const ws = this.#ws;
    try {
      ws?.close(3000, 'CLOSE_ABNORMAL');
    } catch {
      // already closing
    }
  }
}
