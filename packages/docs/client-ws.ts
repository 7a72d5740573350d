/**
 * The WebSocket-only entry of the client: the same `createChannelSocketClient` without Ajax
 * long-polling, `auto` or server→client requests, for a smaller browser bundle (the client
 * README's "Smaller bundle").
 *
 * @module @sente-rx/client/ws
 */
export * from '@sente-rx/client/ws';
