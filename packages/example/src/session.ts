/**
 * A tiny in-memory cookie session, enough for the demo: a random session id in an HttpOnly cookie
 * maps to `{ csrfToken, uid }`. Real apps use their framework's session middleware; the chsk server
 * only needs two functions of the request (`userId` and `csrfToken`), whatever the session is.
 *
 * Memory is bounded: past `maxSessions` the least recently used session is dropped.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface Session {
  readonly id: string;
  /** The reference CSRF token: the page echoes it in the `X-CSRF-Token` header or `csrf-token` param. */
  readonly csrfToken: string;
  readonly uid: string | undefined;
}

export interface SessionStoreOptions {
  /** @default 'sente-rx-example-sid' */
  readonly cookieName?: string;
  /** @default 10_000 */
  readonly maxSessions?: number;
}

const ID_PATTERN = /^[A-Za-z0-9_-]{43}$/; // 32 random bytes, base64url

const randomToken = (): string => randomBytes(32).toString('base64url');

export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  readonly #cookieName: string;
  readonly #maxSessions: number;

  constructor(options: SessionStoreOptions = {}) {
    this.#cookieName = options.cookieName ?? 'sente-rx-example-sid';
    this.#maxSessions = options.maxSessions ?? 10_000;
    if (!(this.#maxSessions >= 1)) throw new TypeError(`maxSessions must be >= 1, got ${this.#maxSessions}`);
  }

  get size(): number {
    return this.#sessions.size;
  }

  /**
   * The request's session, or `undefined` when the request has no session cookie or the store does
   * not know it (for example after a server restart: this store lives in memory).
   */
  get(req: IncomingMessage): Session | undefined {
    const id = readCookie(req.headers.cookie, this.#cookieName);
    if (id === undefined || !ID_PATTERN.test(id)) return undefined;
    const session = this.#sessions.get(id);
    if (session !== undefined) {
      // Map order is insertion order: re-inserting marks the session as most recently used.
      this.#sessions.delete(id);
      this.#sessions.set(id, session);
    }
    return session;
  }

  /** The request's session, or a new one whose cookie is set on `res`. */
  getOrCreate(req: IncomingMessage, res: ServerResponse): Session {
    return this.get(req) ?? this.#put({ id: randomToken(), csrfToken: randomToken(), uid: undefined }, res);
  }

  /**
   * Logs the session in as `uid` (or out, with `undefined`). The session id is rotated, as every
   * change of privilege should (session fixation); the CSRF token stays, so the page keeps working.
   */
  setUid(session: Session, uid: string | undefined, res: ServerResponse): Session {
    this.#sessions.delete(session.id);
    return this.#put({ id: randomToken(), csrfToken: session.csrfToken, uid }, res);
  }

  /** Constant-time comparison of a token sent by the page with the session's reference token. */
  static csrfMatches(session: Session, sent: string | undefined): boolean {
    if (sent === undefined) return false;
    const a = Buffer.from(session.csrfToken);
    const b = Buffer.from(sent);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  #put(session: Session, res: ServerResponse): Session {
    this.#sessions.set(session.id, session);
    if (this.#sessions.size > this.#maxSessions) {
      const oldest = this.#sessions.keys().next();
      if (oldest.done !== true) this.#sessions.delete(oldest.value);
    }
    // No `Secure` flag: the demo serves plain http on localhost. Behind TLS, add it.
    res.appendHeader('Set-Cookie', `${this.#cookieName}=${session.id}; Path=/; HttpOnly; SameSite=Lax`);
    return session;
  }
}

function readCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** What the server needs of a session store (the in-memory one above, or the signed-cookie one below). */
export type Sessions = Pick<SessionStore, 'get' | 'getOrCreate' | 'setUid'>;

/**
 * A stateless session for the cluster demo: the session itself (`{ id, csrfToken, uid }`) is in
 * the cookie, signed with HMAC-SHA256 under a secret every node shares, so a request may land on
 * any node (no sticky sessions, no shared store). Same interface and cookie flags as SessionStore;
 * a cookie with a bad signature is no session.
 */
export class SignedCookieSessions implements Sessions {
  readonly #secret: Buffer;
  readonly #cookieName: string;

  constructor(secret: string, options: Pick<SessionStoreOptions, 'cookieName'> = {}) {
    if (secret.length < 16) throw new TypeError('the session secret must be at least 16 characters');
    this.#secret = Buffer.from(secret);
    this.#cookieName = options.cookieName ?? 'sente-rx-example-sid';
  }

  get(req: IncomingMessage): Session | undefined {
    const raw = readCookie(req.headers.cookie, this.#cookieName);
    const dot = raw?.lastIndexOf('.') ?? -1;
    if (raw === undefined || dot < 1) return undefined;
    const body = raw.slice(0, dot);
    const sig = Buffer.from(raw.slice(dot + 1));
    const want = Buffer.from(this.#sign(body));
    if (sig.length !== want.length || !timingSafeEqual(sig, want)) return undefined;
    try {
      const s = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { i?: unknown; c?: unknown; u?: unknown };
      if (typeof s.i !== 'string' || typeof s.c !== 'string' || !(s.u === undefined || typeof s.u === 'string')) return undefined;
      return { id: s.i, csrfToken: s.c, uid: s.u };
    } catch {
      return undefined;
    }
  }

  getOrCreate(req: IncomingMessage, res: ServerResponse): Session {
    return this.get(req) ?? this.#put({ id: randomToken(), csrfToken: randomToken(), uid: undefined }, res);
  }

  setUid(session: Session, uid: string | undefined, res: ServerResponse): Session {
    return this.#put({ id: randomToken(), csrfToken: session.csrfToken, uid }, res);
  }

  #sign(body: string): string {
    return createHmac('sha256', this.#secret).update(body).digest('base64url');
  }

  #put(session: Session, res: ServerResponse): Session {
    const body = Buffer.from(JSON.stringify({ i: session.id, c: session.csrfToken, u: session.uid })).toString('base64url');
    res.appendHeader('Set-Cookie', `${this.#cookieName}=${body}.${this.#sign(body)}; Path=/; HttpOnly; SameSite=Lax`);
    return session;
  }
}
