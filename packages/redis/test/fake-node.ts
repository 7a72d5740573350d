/** A server core stand-in: records what a broker hands it, answers requests for clients it holds. */
import type { Uid } from '@sente-rx/core';
import type { Subscription } from 'rxjs';
import type { Broker, BrokerMessage, BrokerNode, BrokerReply, BrokerRequest, ConnectedUids } from '../src/contract.js';

const listeners = new Set<() => void>();
const notify = (): void => {
  for (const l of [...listeners]) l();
};

/** Resolves when `pred` holds, re-checked on every recorded event; rejects after a generous bound. */
export function until(pred: () => boolean, what: string, boundMs = 10_000): Promise<void> {
  if (pred()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!pred()) return;
      listeners.delete(check);
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      listeners.delete(check);
      reject(new Error(`timed out waiting for: ${what}`));
    }, boundMs);
    listeners.add(check);
  });
}

/** The log of `b` (history/head), failing loudly when the broker was made with `recovery: false`. */
export function withLog(b: Broker): Required<Pick<Broker, 'history' | 'head'>> {
  const { history, head } = b;
  if (history === undefined || head === undefined) throw new Error('this broker has no log (recovery: false)');
  return { history: history.bind(b), head: head.bind(b) };
}

/** Lets a test wake `until` waiters from outside a node (e.g. after a status change). */
export const poke = notify;

export class FakeNode implements BrokerNode {
  readonly nodeId: string;
  readonly deliveries: BrokerMessage[] = [];
  readonly requests: BrokerRequest[] = [];
  readonly replies: BrokerReply[] = [];
  readonly ports: [Uid, boolean][] = [];
  /** Client ids this node holds, per uid (what a real server would know from its connections). */
  readonly clients = new Map<Uid, Set<string>>();
  uids: ConnectedUids | undefined;
  uidEmissions = 0;
  #broker: Broker | undefined;
  #sub: Subscription | undefined;

  constructor(nodeId: string) {
    this.nodeId = nodeId;
  }

  attach(broker: Broker): this {
    this.#broker = broker;
    broker.connect(this);
    this.#sub = broker.connectedUids$.subscribe((u) => {
      this.uids = u;
      this.uidEmissions++;
      notify();
    });
    return this;
  }

  detach(): void {
    this.#sub?.unsubscribe();
  }

  /** Holds a client of uid (ws) and tells the broker. */
  hold(uid: Uid, clientId = `${uid}-c`, on: { ws: boolean; ajax: boolean } = { ws: true, ajax: false }): void {
    let set = this.clients.get(uid);
    if (set === undefined) this.clients.set(uid, (set = new Set()));
    set.add(clientId);
    this.#broker?.localPresence(uid, on);
  }

  release(uid: Uid): void {
    this.clients.delete(uid);
    this.#broker?.localPresence(uid, { ws: false, ajax: false });
  }

  deliver(msg: BrokerMessage): void {
    this.deliveries.push(msg);
    notify();
  }

  request(req: BrokerRequest): void {
    this.requests.push(req);
    if (this.clients.get(req.uid)?.has(req.clientId) === true) {
      this.#broker?.reply({ id: req.id, to: req.from, outcome: { ok: true, value: { answeredBy: this.nodeId, event: req.event } } });
    }
    notify();
  }

  reply(rep: BrokerReply): void {
    this.replies.push(rep);
    notify();
  }

  uidport(uid: Uid, open: boolean): void {
    this.ports.push([uid, open]);
    notify();
  }

  /** Events delivered for a uid target (uid or client), flattened, in delivery order. */
  eventsFor(uid: Uid): BrokerMessage['logged'][number][] {
    return this.deliveries.filter((m) => m.target.kind !== 'all' && m.target.uid === uid).flatMap((m) => m.logged);
  }
}
