// @sente-rx/server: the host-agnostic server. The Node adapter is at '@sente-rx/server/node'.
export { createChannelSocketServer } from './server.js';
export type { ChannelSocketServer } from './server.js';
export { startServerChskRouter, type ServerChskHandlers, type ServerChskRouterOptions } from './router.js';
export { inMemoryBroker } from './broker.js';
export type { Broker, BrokerMessage, BrokerNode } from './broker.js';
export { allowOrigin, constantTimeEqual, validCsrfToken } from './security.js';
export type { AllowedOrigins } from './security.js';
export type {
  Admission,
  AdmittedRequest,
  AjaxResponder,
  ConnectedUids,
  ReadonlyBehaviorSubject,
  Rejection,
  RequestInfo,
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
