/**
 * A tiny in-memory cookie session for Express, so the app needs no extra dependency: a random id
 * in an HttpOnly cookie maps to `{ uid, csrfToken }`. In production use express-session (or your
 * framework's) with a real store; sente-rx only needs the two values, whatever holds them.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';

export interface Session {
  uid: string | undefined;
  readonly csrfToken: string;
}

const COOKIE = 'sid';
const MAX_SESSIONS = 10_000;
const token = (): string => randomBytes(32).toString('base64url');

export class Sessions {
  readonly #byId = new Map<string, Session>();

  /** The request's session, or undefined (no cookie, or one this process does not know). */
  get(req: IncomingMessage): Session | undefined {
    const id = cookie(req.headers.cookie, COOKIE);
    return id === undefined ? undefined : this.#byId.get(id);
  }

  /** Express middleware: every request gets `req.session` (a new session sets its cookie). */
  readonly middleware = (req: Request, res: Response, next: NextFunction): void => {
    let session = this.get(req);
    if (session === undefined) {
      const id = token();
      session = { uid: undefined, csrfToken: token() };
      this.#byId.set(id, session);
      // Bounded: past MAX_SESSIONS the oldest is forgotten (Map keeps insertion order).
      if (this.#byId.size > MAX_SESSIONS) this.#byId.delete(this.#byId.keys().next().value as string);
      res.cookie(COOKIE, id, { httpOnly: true, sameSite: 'lax', path: '/' });
    }
    res.locals.session = session;
    next();
  };
}

/** The request's session, as the middleware left it. */
export const sessionOf = (res: Response): Session => res.locals.session as Session;

/** Constant-time check of the token a page sent (header `X-CSRF-Token`) against the session's. */
export function csrfMatches(session: Session, sent: unknown): boolean {
  if (typeof sent !== 'string') return false;
  const a = Buffer.from(session.csrfToken);
  const b = Buffer.from(sent);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
