/**
 * The example app's contract: every event both sides send, with the schema of its data and
 * reply, defined once and used by the server (src/server.ts, `events` option and router) and the
 * page (src/browser/main.ts, `events` option and router). The types of `send`, `recv$`, replies
 * and handlers all come from here, and each side validates what it receives against it.
 */
import { defineEvents } from '@sente-rx/core';
import { z } from 'zod';

const text = z.string().max(200);
const uids = z.array(z.string()).max(10_000);

export const events = defineEvents({
  /** Client → server. */
  client: {
    /** Fire and forget: the server only logs it. */
    'example/hello': { data: z.object({ from: text, at: z.number() }) },
    /** Request/reply: the server echoes the data back with the uid and transport it sees. */
    'example/echo': {
      data: z.object({ text, at: z.number() }),
      reply: z.object({ echoed: z.object({ text, at: z.number() }), uid: z.string(), transport: z.enum(['ws', 'ajax']) }),
    },
    /** Request/reply: the server broadcasts `BROADCAST_COUNT` `example/broadcast` events to every connected client. */
    'example/test-broadcast': {
      data: z.object({}),
      reply: z.object({ run: z.number(), count: z.number(), uids }),
    },
    /** Request/reply: turns the server's broadcast loop on or off. */
    'example/toggle-loop': { data: z.object({}), reply: z.object({ on: z.boolean() }) },
    /** Request/reply: the connected uids, per transport. */
    'example/connected-uids': { data: z.object({}), reply: z.object({ any: uids, ws: uids, ajax: uids }) },
    /** Request/reply: the server pushes `example/push` to every client of user `to`. */
    'example/push': {
      data: z.object({ to: z.string().max(64), text }),
      reply: z.union([z.object({ to: z.string(), online: z.boolean() }), z.object({ error: z.string() })]),
    },
    /** Fire and forget: the server breaks this client's connection without a goodbye (see BreakMode). */
    'example/break': { data: z.object({ mode: z.enum(['kill', 'silence']) }) },
    /**
     * Request/reply: the server asks this very tab to confirm (a server→client `example/confirm`
     * request) and replies with the tab's answer, or with why there was none.
     */
    'example/ask-me': {
      data: z.object({ question: text }),
      reply: z.union([z.object({ answer: z.boolean() }), z.object({ error: z.string() })]),
    },
    /** Request/reply: the server broadcasts `example/note` to every connected client, named or anonymous. */
    'example/note': { data: z.object({ text }), reply: z.object({ sent: z.literal(true) }) },
  },
  /** Server → client. */
  server: {
    'example/broadcast': { data: z.object({ run: z.number(), i: z.number(), of: z.number() }) },
    'example/broadcast-loop': { data: z.object({ n: z.number(), at: z.number() }) },
    'example/loop-state': { data: z.object({ on: z.boolean() }) },
    'example/push': { data: z.object({ from: z.string(), text }) },
    /** A broadcast note from a user (`example/note`). */
    'example/note': { data: z.object({ from: z.string(), text }) },
    /** A server→client request: the tab shows the question and replies with the user's answer. */
    'example/confirm': { data: z.object({ question: text }), reply: z.boolean() },
  },
});

export type ExampleEvents = typeof events;

/** Checks the handshake's data (the client sees it as `unknown`). */
export const handshakeDataSchema = z.object({ loop: z.boolean(), serverStartedAt: z.number() });
