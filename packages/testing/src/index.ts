// @sente-rx/testing: marble-test doubles of the channel socket client and server.
// inMemoryPair: the real client and server over an in-memory network in virtual time.
export { mockClientChsk } from './mock-client.js';
export type {
  ClientIncomingEvent,
  ClientSent,
  LifecycleCall,
  MockClientChsk,
  MockClientIncoming,
  MockClientMsg,
  MockClientOptions,
  MockClientSend,
  Replied,
  ReservedEventOf,
} from './mock-client.js';
export { mockServerChsk } from './mock-server.js';
export type {
  ClientTarget,
  ConnectedUidsValue,
  MockServerApi,
  MockServerChsk,
  MockServerIncoming,
  MockServerMsg,
  MockServerOptions,
  ServerIncomingEvent,
  ServerSent,
} from './mock-server.js';
export type { MarbleSpec } from './marbles.js';
export { inMemoryPair } from './in-memory-pair.js';
export type { InMemoryClientOptions, InMemoryNetwork, InMemoryPair, InMemoryPairOptions, InMemoryRequest, ReceivedEntry } from './in-memory-pair.js';
