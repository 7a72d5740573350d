// @sente-rx/server: the host-agnostic server. The Node adapter is at '@sente-rx/server/node'.
export { createChannelSocketServer } from './server.js';
export type { ChannelSocketServer, ServerRequestEvent } from './server.js';
export { startServerChskRouter, type ServerChskHandlers, type ServerChskRouterOptions } from './router.js';
export { DEFAULT_PRESENCE_WINDOW_MS, inMemoryBroker, META_TTL_MS } from './broker.js';
export type {
  Broker,
  BrokerMessage,
  BrokerNode,
  BrokerOutcome,
  BrokerReply,
  BrokerRequest,
  HistoryPage,
  InMemoryBrokerOptions,
  LoggedEvent,
  Position,
  SendTarget,
} from './broker.js';
// For broker authors: the log logic every broker shares (@sente-rx/redis uses it).
export { buildPage, MemoryLog, validLimit, validPosition } from './log.js';
export type { LogBounds, StoredEvent, StreamSlice } from './log.js';
// For broker authors: immutable connectedUids$ snapshots at O(1) per change (@sente-rx/redis uses it).
export { SnapshotSet } from './presence-set.js';
export type { SnapshotSetStats } from './presence-set.js';
export { DEFAULT_RECOVERY } from './recovery.js';
export type { RecoveryBounds, ServerRecoveryOptions } from './recovery.js';
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
