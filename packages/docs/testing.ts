/**
 * @module @sente-rx/testing
 */
export * from '@sente-rx/testing';
