/**
 * The client contract, once per transport: every assertion holds for `ws`, `ajax` and `auto`
 * against a real server on port 0. The cases are in contract-suite.ts (also run over a two-node
 * Redis cluster: packages/redis/test/contract-cluster.test.ts).
 */
import { startServer } from '@sente-rx/fixtures';
import { contractSuite } from './contract-suite.js';

contractSuite({ name: 'one server', start: (options, port) => startServer(options, port) });
