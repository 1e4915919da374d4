import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Credentials } from '../../src/inventory/openstack/credentials.js';
import { ApiError, type Http, type HttpRequest } from '../../src/inventory/openstack/http.js';
import { TokenSession } from '../../src/inventory/openstack/session.js';
import { cacheKey, cacheLabel, forgetToken, readCachedToken, REUSE_MARGIN_MS, saveToken } from '../../src/inventory/openstack/token-cache.js';
import { uniquePrefix } from '../lab/netns.js';

const root = join('/tmp', uniquePrefix());
mkdirSync(root, { recursive: true, mode: 0o700 });
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const cachePath = () => join(root, `c${++n}`, 'sub', 'token.json');

const CREDS: Credentials = {
  authUrl: 'https://k.example:5000',
  auth: { method: 'password', username: 'lm-probe', userDomainName: 'Default', password: 'hunter2', projectName: 'admin', projectDomainName: 'Default' },
  region: '',
  interface: 'internal',
  cacert: '',
  insecure: false,
  origin: 'test',
};
const HOUR = 3_600_000;
const token = (id: string, expiresInMs = HOUR) => ({ id, expiresAt: new Date(Date.now() + expiresInMs).toISOString(), catalog: [{ type: 'compute', endpoints: [] }] });

test('the cache key changes with the URL, the identity, the project and the secret; the label has no secret', () => {
  const k = cacheKey(CREDS);
  assert.match(k, /^[0-9a-f]{64}$/);
  assert.equal(cacheKey({ ...CREDS, authUrl: 'https://k.example:5000/v3/' }), k, 'the same Keystone written with /v3/');
  assert.notEqual(cacheKey({ ...CREDS, auth: { ...CREDS.auth, password: 'other' } as Credentials['auth'] }), k);
  assert.notEqual(cacheKey({ ...CREDS, auth: { ...CREDS.auth, projectName: 'other' } as Credentials['auth'] }), k);
  assert.notEqual(cacheKey({ ...CREDS, authUrl: 'https://k2.example:5000' }), k);
  assert.equal(cacheLabel(CREDS), 'https://k.example:5000/v3 user Default/lm-probe, project Default/admin');
});

test('saved 0600 in a new 0700 directory; read back until 5 minutes before expiry; forgotten', () => {
  const path = cachePath();
  const key = cacheKey(CREDS);
  saveToken(path, key, cacheLabel(CREDS), token('tok-1'));
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(join(path, '..')).mode & 0o777, 0o700);
  assert.ok(!readFileSync(path, 'utf8').includes('hunter2'));
  assert.equal(readCachedToken(path, key)?.id, 'tok-1');
  assert.equal(readCachedToken(path, 'other-key'), undefined);
  const expiry = Date.parse(readCachedToken(path, key)!.expiresAt);
  assert.equal(readCachedToken(path, key, expiry - REUSE_MARGIN_MS - 1000)?.id, 'tok-1');
  assert.equal(readCachedToken(path, key, expiry - REUSE_MARGIN_MS + 1000), undefined);

  // Entries of other identities stay; expired ones go.
  saveToken(path, 'expired', 'x', token('old', -1000));
  saveToken(path, 'other', 'y', token('tok-2'));
  const file = JSON.parse(readFileSync(path, 'utf8'));
  assert.deepEqual(Object.keys(file.tokens).sort(), [key, 'other'].sort());
  forgetToken(path, key);
  assert.equal(readCachedToken(path, key), undefined);
  assert.equal(readCachedToken(path, 'other')?.id, 'tok-2');
});

test('a cache file others could write, or garbage, is not trusted (and gets replaced)', () => {
  const path = cachePath();
  const key = cacheKey(CREDS);
  saveToken(path, key, 'l', token('tok-1'));
  chmodSync(path, 0o666);
  assert.equal(readCachedToken(path, key), undefined);
  saveToken(path, key, 'l', token('tok-2'));
  assert.equal(statSync(path).mode & 0o777, 0o600);
  writeFileSync(path, '{not json');
  assert.equal(readCachedToken(path, key), undefined);
  mkdirSync(join(root, 'flat'), { recursive: true });
  assert.equal(readCachedToken(join(root, 'flat', 'missing.json'), key), undefined);
});

/** An Http whose Keystone hands out tok-1, tok-2, ... and counts the requests. */
function fakeKeystone(): Http & { auths: number } {
  const http = {
    auths: 0,
    send: async (req: HttpRequest) => {
      assert.equal(req.service, 'keystone');
      http.auths++;
      return { status: 201, headers: { 'x-subject-token': `tok-${http.auths}` }, body: { token: { expires_at: new Date(Date.now() + HOUR).toISOString(), catalog: [] } } };
    },
    close: () => {},
  };
  return http;
}

const refused = () => new ApiError('openstack: nova: 401 Unauthorized', 401);

test('session: the cached token first; a 401 drops it, one re-authentication, one retry', async () => {
  const path = cachePath();
  saveToken(path, cacheKey(CREDS), 'l', token('cached'));
  const http = fakeKeystone();
  const session = new TokenSession(http, CREDS, path);
  const used: string[] = [];
  const out = await session.authed(async (t) => {
    used.push(t);
    if (t === 'cached') throw refused();
    return 'ok';
  });
  assert.equal(out, 'ok');
  assert.deepEqual(used, ['cached', 'tok-1']);
  assert.equal(http.auths, 1);
  assert.equal(readCachedToken(path, cacheKey(CREDS))?.id, 'tok-1', 'the cache holds the new token');
});

test('session: a 401 for the new token too is the error (no second re-authentication)', async () => {
  const http = fakeKeystone();
  const session = new TokenSession(http, CREDS, cachePath());
  let calls = 0;
  await assert.rejects(session.authed(async () => {
    calls++;
    throw refused();
  }), { message: 'openstack: nova: 401 Unauthorized' });
  assert.equal(calls, 2);
  assert.equal(http.auths, 2, 'the first token, then one re-authentication');
  // Later requests of the same gather do not re-authenticate again either.
  await assert.rejects(session.authed(async () => { throw refused(); }), /401/);
  assert.equal(http.auths, 2);
});

test('session: two requests refused side by side share one re-authentication', async () => {
  const http = fakeKeystone();
  const session = new TokenSession(http, CREDS, '');
  const call = async (t: string) => {
    await new Promise((r) => setImmediate(r));
    if (t === 'tok-1') throw refused();
    return t;
  };
  assert.deepEqual(await Promise.all([session.authed(call), session.authed(call)]), ['tok-2', 'tok-2']);
  assert.equal(http.auths, 2);
});

test('session: other errors are not retried; a cache that cannot be written is a note', async () => {
  const http = fakeKeystone();
  // Under a regular file: not writable even for root.
  const blocker = join(root, 'a-file');
  writeFileSync(blocker, '');
  const session = new TokenSession(http, CREDS, join(blocker, 'token.json'));
  let calls = 0;
  await assert.rejects(session.authed(async () => {
    calls++;
    throw new ApiError('openstack: nova: 500 Internal Server Error', 500);
  }), /500/);
  assert.equal(calls, 1);
  assert.equal(session.notes.length, 1);
  assert.equal(session.notes[0].startsWith(`openstack: token cache ${join(blocker, 'token.json')} not written: `), true, session.notes[0]);
});
