// @sente-rx/client: the channel socket client for browsers and Node.
export { createChannelSocketClient } from './full-client.js';
export { AjaxCloseCode } from './transports/ajax.js';
export * from './exports.js';
