/**
 * @module @sente-rx/core
 */
export * from '@sente-rx/core';
