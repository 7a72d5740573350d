/** The root README's contract (section "Typed events"); the other snippets import it. */
// #region readme
// events.ts: one contract, imported by the server and by the client
import { z } from 'zod';
import { defineEvents } from '@sente-rx/core';

export const events = defineEvents({
  client: {                                   // client → server; `reply` when the client asks for one
    'chat/post': { data: z.object({ room: z.string(), text: z.string().max(2_000) }), reply: z.object({ id: z.number() }) },
    'chat/typing': { data: z.object({ room: z.string() }) },
  },
  server: {                                   // server → client: pushes, and requests (with `reply`)
    'chat/msg': { data: z.object({ id: z.number(), from: z.string(), text: z.string() }) },
    'app/confirm': { data: z.object({ question: z.string() }), reply: z.boolean() },
  },
});
// #endregion readme
