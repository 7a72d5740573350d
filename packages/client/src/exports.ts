// What both entries export besides their createChannelSocketClient: `@sente-rx/client`
// (index.ts) and `@sente-rx/client/ws` (ws.ts).
export { DEFAULT_RECV_BUFFER_SIZE } from './client.js';
export { startClientChskRouter, type ClientChskHandlers, type ClientChskRouterOptions } from './router.js';
export type {
  ChannelSocketClient,
  ClientEventMsg,
  ClientOptions,
  WsClientOptions,
  ClientSendFn,
  ClientSendOptions,
  CsrfToken,
  FetchLike,
  ReadonlyBehaviorSubject,
  Transport,
  TransportContext,
  TransportEvent,
  TransportFactory,
  WebSocketConstructor,
  WebSocketLike,
} from './types.js';
export { ChskError, isChskError, NIL_UID } from '@sente-rx/core';
export type { ChskErrorCode, ChskEvent, ChskState, CloseReason, StatePair } from '@sente-rx/core';
