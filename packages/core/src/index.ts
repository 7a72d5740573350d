// @sente-rx/core: protocol, types and pure logic. No IO.

// events and uids
export {
  ALL_USERS_WITHOUT_UID,
  asEvent,
  assertEvent,
  isEvent,
  isReservedId,
  NIL_UID,
  preview,
  validateEvent,
} from './event.js';
export type { ChskEvent, EventProblem, Uid } from './event.js';

// envelope and wire constants
export {
  AJAX_CB_ID,
  ajaxEventEnvelope,
  batchEnvelope,
  classifyClientMessage,
  clientEventEnvelope,
  DUMMY_CB_200,
  envelope,
  Envelopes,
  HANDSHAKE,
  handshakeEnvelope,
  LP_TIMEOUT,
  MAX_CB_ID_LENGTH,
  packEnvelope,
  packHandshake,
  parseClientMessage,
  parseEnvelope,
  parseServerMessage,
  PONG,
  replyCbId,
  uidFromWire,
  WS_PING,
  WS_PONG,
} from './envelope.js';
export type { CbId, ClientMessage, ClientMessageKind, Envelope, HandshakeData, KindedEnvelope, Parsed, ServerMessage } from './envelope.js';
export { ajaxPostRequest, encodeAjaxForm, isFormContentType, readAjaxPost } from './ajax-form.js';
export type { AjaxPostBody, AjaxPostRequest } from './ajax-form.js';
export { CloseCode, DEFAULT_MAX_MESSAGE_BYTES } from './close-codes.js';
export {
  CLIENT_ID_MAX_LENGTH,
  CloseReason as ProtocolCloseReason,
  ContentType,
  Header,
  isValidClientId,
  packedContentType,
  Query,
  ReservedId,
  reservedSendAllowed,
} from './protocol.js';

// positions and recovery on the wire
export {
  decodePosition,
  encodePosition,
  MAX_EPOCH_LENGTH,
  POS_ID,
  positionMarker,
  positionQueryValue,
  readPositionCodes,
  readPositionMarker,
  readPositionQuery,
  RECOVERY_ID,
  recoveryElement,
  splitHandshakeRecovery,
} from './positions.js';
export type { CodedBatch, EventPosition, HandshakeRecovery, MalformedMarker, Position, PositionedBatch, PositionQuery } from './positions.js';

// packers
export { ENVELOPE_KINDS, jsonPacker } from './packer.js';
export type { EnvelopeKind, Packed, Packer } from './packer.js';

// errors
export { ChskError, isChskError, isReplyErrorValue, REPLY_ERROR_VALUES } from './errors.js';
export type { ChskErrorCode, ReplyErrorValue, ValidationIssue } from './errors.js';
export { MAX_ISSUES, sanitizeIssues } from './wire-issues.js';

// typed contract, routers, the first-subscriber buffer
export { CONTRACT_CHECKS, contractChecks, defineEvents, describeIssues, validateIncoming, validateReply, validationError } from './contract.js';
export type {
  ClientEvent,
  ClientEventMsgOf,
  ClientReservedEvents,
  ContractChecks,
  ContractSide,
  DataInputOf,
  DataOf,
  EventContract,
  EventId,
  EventIdOf,
  EventMsgParts,
  EventOf,
  EventSpec,
  EventSpecs,
  EventTuple,
  HasReply,
  ReplyFn,
  ReplyInputOf,
  ReplyOf,
  SchemaInput,
  SchemaOutput,
  ServerEvent,
  ServerEventMsgOf,
  ServerReservedEvents,
  StandardSchemaV1,
  StandardSchemaV1Issue,
  StandardSchemaV1Props,
  StandardSchemaV1Result,
  UntypedContract,
  Validated,
} from './contract.js';
export { startChskRouter } from './router-core.js';
export type { ChskHandler, ChskHandlers, ChskRouterOptions, HandlerResult, MsgOfId, ReplyValueOf, RoutableMsg } from './router-core.js';
export { DEFAULT_FIRST_SUBSCRIBER_BUFFER, FirstSubscriberBuffer } from './replay-first.js';
export type { FirstSubscriberBufferOptions } from './replay-first.js';

// client state model
export {
  initialState,
  onAjaxError,
  onAjaxSuccess,
  onClosed,
  onHandshake,
  onReconnectScheduled,
  onUnauthorized,
  onWsClose,
  onWsError,
  transition,
} from './state.js';
export type { ChskState, CloseReason, RequestedType, StatePair, TransportType } from './state.js';

// rx helpers
export { readonlyBehaviorSubject } from './readonly-subject.js';
export type { ReadonlyBehaviorSubject } from './readonly-subject.js';

// backoff, ids, logging
export { backoffMs, checkBackoffDelay, DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_MAX_MS, fullJitterBackoff, MAX_TIMER_DELAY_MS } from './backoff.js';
export type { BackoffDelay, BackoffOptions } from './backoff.js';
export { randomUuid } from './ids.js';
export { consoleLogger, silentLogger } from './logger.js';
export type { Logger } from './logger.js';

/** Returned by the server's `csrfToken` option to skip the CSRF check (Sente's `:sente/skip-CSRF-check`). */
export const SKIP_CSRF_CHECK: unique symbol = Symbol.for('sente-rx/skip-csrf-check');
