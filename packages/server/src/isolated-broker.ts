/**
 * The broker is app code too (issue 9 item 4): the core calls `publish`, `request`, `reply` and
 * `localPresence` while it serves a connection (inside a WebSocket upgrade, an Ajax request or a
 * grace timer), where a throw would escape into Node's event loop and exit the process. This
 * wrapper catches and logs those (and `interest`, when the broker has it: then the handshake does
 * not wait); a broker whose `publish` throws loses that send (logged with the target and event
 * ids) and `send` returns normally. Every other member is the broker's own (a
 * Proxy, so getters and methods that use private fields still see the real broker), and `connect`
 * still throws: a broker that cannot serve this server is a set-up error.
 */
import type { ChskEvent, Logger, Uid } from '@sente-rx/core';
import type { Broker, BrokerReply, BrokerRequest, SendTarget } from './broker.js';

export function isolatedBroker(broker: Broker, logger: Logger): Broker {
  const guarded = {
    publish(target: SendTarget, events: readonly ChskEvent[], flush: boolean): void {
      try {
        broker.publish(target, events, flush);
      } catch (err) {
        logger.error('sente-rx: the broker threw in publish; this send is lost', { target, ids: events.map((e) => e[0]), err });
      }
    },
    request(req: BrokerRequest): void {
      try {
        broker.request(req);
      } catch (err) {
        logger.error('sente-rx: the broker threw in request; the request will time out', { uid: req.uid, clientId: req.clientId, id: req.event[0], err });
      }
    },
    reply(rep: BrokerReply): void {
      try {
        broker.reply(rep);
      } catch (err) {
        logger.error('sente-rx: the broker threw in reply; the asking node will time out', { err });
      }
    },
    localPresence(uid: Uid, on: { readonly ws: boolean; readonly ajax: boolean }): void {
      try {
        broker.localPresence(uid, on);
      } catch (err) {
        logger.error('sente-rx: the broker threw in localPresence; connectedUids$ may be stale', { uid, err });
      }
    },
  } satisfies Partial<Broker>;
  const interest = broker.interest;
  // Absent stays absent (no wait at the handshake); a throw or a rejection means: do not wait.
  const guardedInterest =
    interest === undefined
      ? undefined
      : (uid: Uid, on: boolean): Promise<void> | undefined => {
          try {
            return interest.call(broker, uid, on)?.catch((err: unknown) => logger.error('sente-rx: the broker\'s interest promise rejected; the handshake goes on', { uid, err }));
          } catch (err) {
            logger.error('sente-rx: the broker threw in interest; the handshake goes on without waiting', { uid, err });
            return undefined;
          }
        };
  return new Proxy(broker, {
    get(target, prop) {
      if (prop === 'interest') return guardedInterest;
      if (typeof prop === 'string' && Object.hasOwn(guarded, prop)) return guarded[prop as keyof typeof guarded];
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
    },
  });
}
