// @sente-rx/server: the host-agnostic server. The Node adapter is at '@sente-rx/server/node'.
export { createChannelSocketServer } from './server.js';
export type { ChannelSocketServer, ServerRequestEvent } from './server.js';
export { startServerChskRouter, type ServerChskHandlers, type ServerChskRouterOptions } from './router.js';
export { DEFAULT_PRESENCE_WINDOW_MS, inMemoryBroker } from './broker.js';
export type { Broker, BrokerMessage, BrokerNode, BrokerOutcome, BrokerReply, BrokerRequest, InMemoryBrokerOptions, SendTarget } from './broker.js';
export { allowOrigin, constantTimeEqual, validCsrfToken } from './security.js';
export type { AllowedOrigins } from './security.js';
export type {
  Admission,
  AdmittedRequest,
  AjaxResponder,
  ClientTarget,
  ConnectedUids,
  ReadonlyBehaviorSubject,
  Rejection,
  RequestInfo,
  RequestOptions,
  RequestView,
  SendFn,
  SendOptions,
  ServerAdapter,
  ServerChannel,
  ServerCore,
  ServerEventMsg,
  ServerOptions,
  WsConnection,
} from './types.js';
export { ALL_USERS_WITHOUT_UID, NIL_UID, SKIP_CSRF_CHECK } from '@sente-rx/core';
