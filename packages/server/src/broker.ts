import type { ChskEvent, Uid } from '@sente-rx/core';
import { BehaviorSubject, type Observable } from 'rxjs';
import type { ConnectedUids } from './types.js';

/** One user-targeted send, as it travels between server nodes. */
export interface BrokerMessage {
  readonly uid: Uid;
  readonly events: readonly ChskEvent[];
  readonly flush: boolean;
}

/** The server node a broker delivers to. */
export interface BrokerNode {
  deliver(msg: BrokerMessage): void;
}

/**
 * Every user-targeted send and every connected-uid change goes through the broker, so a cluster
 * broker (Redis) can route sends to whichever node holds a uid's connections and aggregate
 * presence. Messages from one publisher must reach each node in publish order.
 */
export interface Broker {
  connect(node: BrokerNode): void;
  publish(msg: BrokerMessage): void;
  /** This node's connected uids changed. */
  setPresence(local: ConnectedUids): void;
  /** Connected uids across the cluster. */
  readonly connectedUids$: Observable<ConnectedUids>;
  close(): Promise<void>;
}

export const EMPTY_UIDS: ConnectedUids = Object.freeze({ ws: new Set<Uid>(), ajax: new Set<Uid>(), any: new Set<Uid>() });

/** One process, zero set-up: delivery is a synchronous call. */
export function inMemoryBroker(): Broker {
  let node: BrokerNode | undefined;
  const uids$ = new BehaviorSubject<ConnectedUids>(EMPTY_UIDS);
  return {
    connect(n) {
      if (node !== undefined) throw new Error('inMemoryBroker serves one server; create one per server');
      node = n;
    },
    publish(msg) {
      node?.deliver(msg);
    },
    setPresence(local) {
      uids$.next(local);
    },
    connectedUids$: uids$.asObservable(),
    close() {
      node = undefined;
      uids$.complete();
      return Promise.resolve();
    },
  };
}
