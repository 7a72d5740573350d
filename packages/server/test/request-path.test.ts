import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { requestPath, requestQuery } from '@sente-rx/server/node';

describe('requestPath', () => {
  it.each([
    ['/chsk', '/chsk'],
    ['/chsk?client-id=a&csrf-token=b', '/chsk'],
    ['/chsk#frag', '/chsk'],
    ['/chsk/', '/chsk/'],
    ['/%63hsk', '/%63hsk'],
    ['//evil.example/chsk', '//evil.example/chsk'],
    ['http://a:99999/chsk', '/chsk'],
    ['http://a:99999/chsk?x=1', '/chsk'],
    ['HTTPS://[::1]:1/a/b', '/a/b'],
    ['http://a', '/'],
    ['http://a?x', '/'],
    ['', '/'],
    ['*', ''],
    ['example.com:443', ''],
    ['chsk', ''],
    ['\u0000\uffff', ''],
  ])('%j → %j', (url, path) => {
    expect(requestPath({ url })).toBe(path);
  });

  it('gives / for a request without url', () => {
    expect(requestPath({})).toBe('/');
  });

  it('never throws, and gives "" or a path starting with /', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (url) => {
        const path = requestPath({ url });
        expect(path === '' || path.startsWith('/')).toBe(true);
        expect(path).not.toMatch(/[?#]/);
      }),
    );
  });
});

describe('requestQuery', () => {
  it('reads the query of origin-form and absolute-form targets', () => {
    expect(requestQuery({ url: '/chsk?uid=alice&x=%20y#z' }).get('uid')).toBe('alice');
    expect(requestQuery({ url: '/chsk?uid=alice&x=%20y#z' }).get('x')).toBe(' y');
    expect(requestQuery({ url: 'http://a:99999/chsk?uid=bob' }).get('uid')).toBe('bob');
  });

  it('is empty without a query, before a fragment, or when the target has no path', () => {
    expect([...requestQuery({ url: '/chsk' })]).toEqual([]);
    expect([...requestQuery({ url: '/chsk#?uid=a' })]).toEqual([]);
    expect([...requestQuery({ url: '*?uid=a' })]).toEqual([]);
    expect([...requestQuery({})]).toEqual([]);
  });

  it('never throws', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (url) => {
        expect(requestQuery({ url })).toBeInstanceOf(URLSearchParams);
      }),
    );
  });
});
