/**
 * @module @sente-rx/server
 */
export * from '@sente-rx/server';
