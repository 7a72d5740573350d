// @sente-rx/server/node: the Node adapter (node:http + ws). The implementation is node-adapter.ts.
export { nodeAdapter } from './node-adapter.js';
export { UNHANDLED_UPGRADE_MS } from './node-adapter.js';
export type { AttachOptions, NodeAdapterApi, NodeAdapterOptions } from './node-adapter.js';
export { requestPath, requestQuery, type RequestTarget } from './request-path.js';
