/**
 * @module @sente-rx/packers
 */
export * from '@sente-rx/packers';
