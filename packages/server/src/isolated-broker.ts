/**
 * The broker is app code too (issue 9 item 4): the core calls `publish` from `send` and
 * `setPresence` while it serves a connection (inside a WebSocket upgrade, an Ajax request or a
 * grace timer), where a throw would escape into Node's event loop and exit the process. This
 * wrapper catches and logs those two; a broker whose `publish` throws loses that send (logged
 * with the uid and event id) and `send` returns normally. Every other member is the broker's own
 * (a Proxy, so getters and methods that use private fields still see the real broker), and
 * `connect` still throws: a broker that cannot serve this server is a set-up error.
 */
import type { Logger } from '@sente-rx/core';
import type { Broker, BrokerMessage } from './broker.js';
import type { ConnectedUids } from './types.js';

export function isolatedBroker(broker: Broker, logger: Logger): Broker {
  const publish = (msg: BrokerMessage): void => {
    try {
      broker.publish(msg);
    } catch (err) {
      logger.error('sente-rx: the broker threw in publish; this send is lost', { uid: msg.uid, ids: msg.events.map((e) => e[0]), err });
    }
  };
  const setPresence = (local: ConnectedUids): void => {
    try {
      broker.setPresence(local);
    } catch (err) {
      logger.error('sente-rx: the broker threw in setPresence; connectedUids$ may be stale', { err });
    }
  };
  return new Proxy(broker, {
    get(target, prop) {
      if (prop === 'publish') return publish;
      if (prop === 'setPresence') return setPresence;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
    },
  });
}
