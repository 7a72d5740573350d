/**
 * @module @sente-rx/server/node
 */
export * from '@sente-rx/server/node';
