// Kept for the client tests that still import '../../server/test/support.js': the kit itself is
// @sente-rx/fixtures. Import from there.
export * from '@sente-rx/fixtures';
