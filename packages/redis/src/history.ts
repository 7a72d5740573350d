// The log's page logic lives in the server package (one implementation for every broker).
export { buildPage, type StoredEvent, type StreamSlice, validLimit, validPosition } from '@sente-rx/server';
