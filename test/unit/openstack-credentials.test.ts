import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from '../../src/config.js';
import { ProbeError } from '../../src/errors.js';
import { candidateFiles, deepMerge, parseCloudsFile } from '../../src/inventory/openstack/clouds-yaml.js';
import { describeIdentity, resolveCredentials, type OpenStackConfig } from '../../src/inventory/openstack/credentials.js';
import { uniquePrefix } from '../lab/netns.js';

const root = join('/tmp', uniquePrefix());
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** A directory tree: { 'cwd/clouds.yaml': '...', 'xdg/openstack/secure.yaml': '...' }. */
function tree(files: Record<string, string>): { dir: string; cwd: string; env: NodeJS.ProcessEnv } {
  const dir = join(root, `d${++n}`);
  mkdirSync(join(dir, 'cwd'), { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return { dir, cwd: join(dir, 'cwd'), env: { HOME: join(dir, 'home'), XDG_CONFIG_HOME: join(dir, 'xdg') } };
}

const cfg = (change: Partial<Omit<OpenStackConfig, 'auth'>> & { auth?: Partial<OpenStackConfig['auth']> } = {}): OpenStackConfig => {
  const base = defaultConfig([]).inventory.openstack;
  return { ...base, ...change, auth: { ...base.auth, ...change.auth } };
};

const CLOUD = (name: string, url: string, extra = '') => `clouds:\n  ${name}:\n    auth:\n      auth_url: ${url}\n      username: u\n      password: p\n      project_name: admin\n${extra}`;

const messageOf = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof ProbeError, String(err));
    return err.message;
  }
  return assert.fail('expected a ProbeError');
};

test('nothing anywhere: not configured', () => {
  const { cwd, env } = tree({});
  assert.equal(resolveCredentials(cfg(), env, cwd), null);
});

test('the config section first, with its password or application credential', () => {
  const { cwd, env } = tree({ 'cwd/clouds.yaml': CLOUD('lab', 'http://clouds.example/v3') });
  const c = resolveCredentials(cfg({ auth: { auth_url: 'https://k.example:5000/v3', username: 'u', password: 'p', project_name: 'admin' } }), { ...env, OS_CLOUD: 'lab', OS_AUTH_URL: 'http://env.example' }, cwd)!;
  assert.equal(c.authUrl, 'https://k.example:5000/v3');
  assert.deepEqual(c.auth, { method: 'password', username: 'u', userDomainName: 'Default', password: 'p', projectName: 'admin', projectDomainName: 'Default' });
  assert.equal(c.origin, 'the config (inventory.openstack.auth)');
  assert.equal(c.interface, 'internal');
  assert.equal(describeIdentity(c), 'user Default/u, project Default/admin');

  const app = resolveCredentials(cfg({ auth: { auth_url: 'https://k.example:5000', application_credential_id: 'ac1', application_credential_secret: 's' } }), env, cwd)!;
  assert.deepEqual(app.auth, { method: 'application_credential', id: 'ac1', secret: 's' });
  assert.equal(describeIdentity(app), 'application credential ac1');
});

test('clouds.yaml: ./ before $XDG_CONFIG_HOME/openstack before /etc/openstack; $OS_CLIENT_CONFIG_FILE first', () => {
  const env = { HOME: '/home/op', XDG_CONFIG_HOME: '/x' };
  assert.deepEqual(candidateFiles('clouds', env, '/w'), ['/w/clouds.yaml', '/w/clouds.yml', '/x/openstack/clouds.yaml', '/x/openstack/clouds.yml', '/etc/openstack/clouds.yaml', '/etc/openstack/clouds.yml']);
  assert.equal(candidateFiles('secure', { HOME: '/home/op' }, '/w')[2], '/home/op/.config/openstack/secure.yaml');
  assert.equal(candidateFiles('clouds', { ...env, OS_CLIENT_CONFIG_FILE: '/etc/my.yaml' }, '/w')[0], '/etc/my.yaml');

  const { cwd, env: e } = tree({ 'cwd/clouds.yaml': CLOUD('lab', 'http://here.example/v3'), 'xdg/openstack/clouds.yaml': CLOUD('lab', 'http://xdg.example/v3') });
  const c = resolveCredentials(cfg({ cloud: 'lab' }), e, cwd)!;
  assert.equal(c.authUrl, 'http://here.example/v3');
  assert.equal(c.origin, `${join(cwd, 'clouds.yaml')} (cloud "lab")`);
});

test('clouds.yaml: secure.yaml merged over the entry; region, interface, cacert, verify from the entry', () => {
  const { cwd, env, dir } = tree({
    'xdg/openstack/clouds.yaml': 'clouds:\n  lab:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: http://k.example/v3\n      application_credential_id: ac1\n    region_name: RegionTwo\n    interface: publicURL\n    cacert: /etc/ssl/lab.pem\n    verify: false\n',
    'xdg/openstack/secure.yaml': 'clouds:\n  lab:\n    auth:\n      application_credential_secret: s3cr3t\n',
  });
  const c = resolveCredentials(cfg(), { ...env, OS_CLOUD: 'lab' }, cwd)!;
  assert.deepEqual(c.auth, { method: 'application_credential', id: 'ac1', secret: 's3cr3t' });
  assert.equal(c.region, 'RegionTwo');
  assert.equal(c.interface, 'public', '"publicURL", the old spelling');
  assert.equal(c.cacert, '/etc/ssl/lab.pem');
  assert.equal(c.insecure, true);
  assert.equal(c.origin, `${join(dir, 'xdg/openstack/clouds.yaml')} (cloud "lab")`);

  // What the config sets (away from its defaults) wins.
  const o = resolveCredentials(cfg({ region_name: 'RegionOne', interface: 'admin', cacert: '/etc/ca.pem' }), { ...env, OS_CLOUD: 'lab' }, cwd)!;
  assert.deepEqual([o.region, o.interface, o.cacert], ['RegionOne', 'admin', '/etc/ca.pem']);
});

test('clouds.yaml: domain_name stands in for the user and project domains; ids are used as ids', () => {
  const { cwd, env } = tree({
    'cwd/clouds.yaml': 'clouds:\n  a:\n    auth: {auth_url: "http://k/v3", username: u, password: p, project_name: pr, domain_name: Corp}\n  b:\n    auth: {auth_url: "http://k/v3", user_id: 42ab, password: p, project_id: 9f0e}\n',
  });
  assert.deepEqual(resolveCredentials(cfg({ cloud: 'a' }), env, cwd)!.auth, { method: 'password', username: 'u', userDomainName: 'Corp', password: 'p', projectName: 'pr', projectDomainName: 'Corp' });
  assert.deepEqual(resolveCredentials(cfg({ cloud: 'b' }), env, cwd)!.auth, { method: 'password', userId: '42ab', password: 'p', projectId: '9f0e' });
});

test('clouds.yaml errors name the file (and line), never quote it', () => {
  const { cwd, env, dir } = tree({ 'cwd/clouds.yaml': 'clouds:\n  lab:\n    auth:\n      password: "hunter2\n' });
  const m = messageOf(() => resolveCredentials(cfg({ cloud: 'lab' }), env, cwd));
  assert.match(m, new RegExp(`^openstack: ${join(dir, 'cwd/clouds.yaml')}:\\d+: invalid YAML: `));
  assert.ok(!m.includes('hunter2'));

  const none = tree({});
  assert.equal(messageOf(() => resolveCredentials(cfg({ cloud: 'lab' }), none.env, none.cwd)),
    `openstack: cloud "lab" not found (no clouds.yaml found in ${none.cwd}, ${join(none.dir, 'xdg/openstack')}, /etc/openstack)`);

  const noUrl = tree({ 'cwd/clouds.yaml': 'clouds:\n  lab:\n    auth: {username: u}\n' });
  assert.equal(messageOf(() => resolveCredentials(cfg({ cloud: 'lab' }), noUrl.env, noUrl.cwd)), `openstack: ${join(noUrl.cwd, 'clouds.yaml')} (cloud "lab"): no auth.auth_url`);

  const token = tree({ 'cwd/clouds.yaml': 'clouds:\n  lab:\n    auth_type: token\n    auth: {auth_url: "http://k/v3", token: abc}\n' });
  assert.match(messageOf(() => resolveCredentials(cfg({ cloud: 'lab' }), token.env, token.cwd)), /auth_type "token" is not supported \(password or v3applicationcredential\)$/);

  assert.throws(() => parseCloudsFile('- a\n- b\n', 'x.yaml'), /^ProbeError: openstack: x.yaml: expected a mapping with "clouds" in it$/);
  assert.throws(() => parseCloudsFile('clouds:\n  lab: 3\n', 'x.yaml'), /cloud "lab" must be a mapping/);
});

test('the OS_* environment, with the legacy names', () => {
  const { cwd, env } = tree({});
  const c = resolveCredentials(cfg(), {
    ...env, OS_AUTH_URL: 'http://k.example:5000/v3', OS_USERNAME: 'u', OS_PASSWORD: 'p', OS_TENANT_NAME: 'admin',
    OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_ID: 'default', OS_REGION_NAME: 'RegionOne', OS_INTERFACE: 'public', OS_CACERT: '/etc/ca.pem',
  }, cwd)!;
  assert.deepEqual(c.auth, { method: 'password', username: 'u', userDomainName: 'Default', password: 'p', projectName: 'admin', projectDomainId: 'default' });
  assert.deepEqual([c.region, c.interface, c.cacert, c.origin], ['RegionOne', 'public', '/etc/ca.pem', 'the OS_* environment']);

  const app = resolveCredentials(cfg(), { ...env, OS_AUTH_URL: 'http://k/v3', OS_AUTH_TYPE: 'v3applicationcredential', OS_APPLICATION_CREDENTIAL_ID: 'ac', OS_APPLICATION_CREDENTIAL_SECRET: 's' }, cwd)!;
  assert.equal(app.auth.method, 'application_credential');
});

test('incomplete or odd credentials: what is missing, where', () => {
  const { cwd, env } = tree({});
  assert.equal(messageOf(() => resolveCredentials(cfg(), { ...env, OS_AUTH_URL: 'http://k/v3', OS_USERNAME: 'u' }, cwd)), 'openstack: the OS_* environment: password auth needs password, project_name');
  assert.equal(messageOf(() => resolveCredentials(cfg({ auth: { auth_url: 'http://k/v3', application_credential_id: 'ac' } }), env, cwd)), 'openstack: the config (inventory.openstack.auth): application-credential auth needs application_credential_secret');
  assert.equal(messageOf(() => resolveCredentials(cfg({ auth: { auth_url: 'k.example:5000' } }), env, cwd)), 'openstack: the config (inventory.openstack.auth): auth_url is not an http(s) URL: "k.example:5000"');
  assert.equal(messageOf(() => resolveCredentials(cfg(), { ...env, OS_AUTH_URL: 'http://k/v3', OS_USERNAME: 'u', OS_PASSWORD: 'p', OS_PROJECT_NAME: 'x', OS_INTERFACE: 'private' }, cwd)), 'openstack: the OS_* environment: interface "private" is not one of internal, public, admin');
});

test('deepMerge: secure values over clouds values, mappings merged', () => {
  assert.deepEqual(deepMerge({ auth: { a: 1, b: 2 }, r: 'x' }, { auth: { b: 3 } }), { auth: { a: 1, b: 3 }, r: 'x' });
});
