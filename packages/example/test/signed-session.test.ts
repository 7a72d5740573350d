/** The cluster demo's stateless sessions: any node with the secret reads a session; nothing else does. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { SignedCookieSessions } from '../src/session.js';

const SECRET = 'a-secret-of-at-least-16-chars';

function response(): { res: ServerResponse; cookie: () => string } {
  const set: string[] = [];
  const res = { appendHeader: (_name: string, value: string) => set.push(value) } as unknown as ServerResponse;
  return { res, cookie: () => (set.at(-1) ?? '').split(';')[0] ?? '' };
}
const request = (cookie: string | undefined): IncomingMessage => ({ headers: cookie === undefined ? {} : { cookie } }) as IncomingMessage;

describe('SignedCookieSessions', () => {
  it('a session made on one node is read by another node with the same secret, uid and CSRF token included', () => {
    const nodeA = new SignedCookieSessions(SECRET);
    const nodeB = new SignedCookieSessions(SECRET);
    const first = response();
    const s = nodeA.getOrCreate(request(undefined), first.res);
    const login = response();
    const next = nodeA.setUid(s, 'alice', login.res);
    expect(next.csrfToken).toBe(s.csrfToken);
    expect(next.id).not.toBe(s.id); // rotated on a change of privilege
    expect(nodeB.get(request(login.cookie()))).toEqual({ id: next.id, csrfToken: s.csrfToken, uid: 'alice' });
  });

  it('refuses a tampered cookie, another secret, garbage and no cookie', () => {
    const sessions = new SignedCookieSessions(SECRET);
    const made = response();
    sessions.setUid(sessions.getOrCreate(request(undefined), response().res), 'alice', made.res);
    const cookie = made.cookie();
    const [name, value = ''] = cookie.split('=');
    const [body = '', sig = ''] = value.split('.');
    const forged = Buffer.from(Buffer.from(body, 'base64url').toString('utf8').replace('alice', 'admin')).toString('base64url');
    expect(sessions.get(request(`${name}=${forged}.${sig}`))).toBeUndefined();
    expect(new SignedCookieSessions('another-secret-16-chars').get(request(cookie))).toBeUndefined();
    expect(sessions.get(request(`${name}=garbage`))).toBeUndefined();
    expect(sessions.get(request(undefined))).toBeUndefined();
    expect(sessions.get(request(cookie))?.uid).toBe('alice');
  });

  it('refuses a short secret', () => {
    expect(() => new SignedCookieSessions('short')).toThrow(TypeError);
  });
});
