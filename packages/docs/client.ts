/**
 * @module @sente-rx/client
 */
export * from '@sente-rx/client';
