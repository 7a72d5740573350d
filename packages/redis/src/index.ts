export { redisBroker } from './redis-broker.js';
export type { RedisBroker, RedisBrokerOptions, RedisBrokerStatus } from './redis-broker.js';
export { inMemoryBrokerV2 } from './memory-broker.js';
export type { InMemoryBrokerV2Options } from './memory-broker.js';
export { DEFAULT_RECOVERY } from './contract.js';
export type {
  Broker,
  BrokerMessage,
  BrokerNode,
  BrokerOutcome,
  BrokerReply,
  BrokerRequest,
  BrokerStats,
  ConnectedUids,
  HistoryPage,
  LoggedEvent,
  Position,
  RecoveryBounds,
  RecoveryOptions,
  SendTarget,
} from './contract.js';
