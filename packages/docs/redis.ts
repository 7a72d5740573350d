/**
 * @module @sente-rx/redis
 */
export * from '@sente-rx/redis';
