/**
 * The example's channel socket server, typed by the contract (contract.ts): `recv$` typed and
 * validated, `send(uid | { uid, clientId }, ev)`, `broadcast(ev)` and
 * `request({ uid, clientId }, ev, { timeoutMs })`, all checked against the contract.
 */
import type http from 'node:http';
import { type ChannelSocketServer, createChannelSocketServer, type ServerEventMsg, type ServerOptions } from '@sente-rx/server';
import { type NodeAdapterApi, nodeAdapter } from '@sente-rx/server/node';
import { events, type ExampleEvents } from './contract.js';

/** What the example's router handles: the contract's client events and the reserved server events. */
export type ExampleServerMsg = ServerEventMsg<ExampleEvents>;

export type ExampleChsk = ChannelSocketServer<ExampleEvents> & NodeAdapterApi;

export function createExampleChsk(options: ServerOptions<http.IncomingMessage>): ExampleChsk {
  return createChannelSocketServer(nodeAdapter(), { ...options, events });
}
