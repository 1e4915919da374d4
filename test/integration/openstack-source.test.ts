/**
 * The openstack inventory source against a fake OpenStack on the loopback (test/support/
 * fake-openstack.ts): every way of giving credentials, pagination, the token cache, the 401
 * re-authentication, and each failure as the one line an operator reads. No root needed.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from '../../src/config.js';
import { ProbeError } from '../../src/errors.js';
import { createOpenStackSource } from '../../src/inventory/openstack/index.js';
import type { OpenStackConfig } from '../../src/inventory/openstack/credentials.js';
import type { SourceInstance } from '../../src/inventory/types.js';
import { makeServers, startFakeOpenStack, type FakeOpenStack, type FakePort, type FakeServer } from '../support/fake-openstack.js';
import { findTool, uniquePrefix } from '../lab/netns.js';

const HOST = 'compute-7';
const PASSWORD = 'correct horse battery staple';
const APP_SECRET = 'Zq9-app-credential-secret-7Jx';
const root = join('/tmp', uniquePrefix());
mkdirSync(root, { recursive: true, mode: 0o700 });
after(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;
/** A fresh directory per test: its token cache and clouds.yaml never leak into another test. */
function freshDir(): string {
  const dir = join(root, `t${++dirs}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

type Change = Partial<Omit<OpenStackConfig, 'auth'>> & { auth?: Partial<OpenStackConfig['auth']> };

/** The config section with password auth against the fake, and whatever `change` says. */
function configFor(fake: FakeOpenStack, dir: string, change: Change = {}): OpenStackConfig {
  const base = defaultConfig([]).inventory.openstack;
  return {
    ...base,
    token_cache: join(dir, 'cache', 'token.json'),
    ...change,
    auth: { ...base.auth, auth_url: fake.authUrl, username: 'lm-probe', password: PASSWORD, project_name: 'admin', ...change.auth },
  };
}

/** Every --debug line any source wrote: checked for secrets at the end. */
const debugLines: string[] = [];
const tokensSeen = new Set<string>();

function source(cfg: OpenStackConfig, dir: string, env: NodeJS.ProcessEnv = {}) {
  return createOpenStackSource(cfg, HOST, { HOME: dir, ...env }, { cwd: dir, debug: (l) => debugLines.push(l) });
}

async function gather(cfg: OpenStackConfig, dir: string, env?: NodeJS.ProcessEnv) {
  return source(cfg, dir, env).gather({ timeoutMs: 30_000 });
}

/** The ProbeError message of a gather that must fail: one line, nothing else. */
async function failure(cfg: OpenStackConfig, dir: string, env?: NodeJS.ProcessEnv): Promise<string> {
  try {
    await gather(cfg, dir, env);
  } catch (err) {
    assert.ok(err instanceof ProbeError, `not a ProbeError: ${(err as Error)?.stack ?? err}`);
    assert.doesNotMatch(err.message, /\n/);
    assert.equal(err.cause, undefined, 'no cause chain (it would carry headers)');
    return err.message;
  }
  return assert.fail('the gather should have failed');
}

const record = (fake: FakeOpenStack) => {
  for (const r of fake.requests) if (r.token) tokensSeen.add(r.token);
};

const UUID_A = '8dc7c44c-e491-4139-ac5a-1a06dbe1f53f';
const UUID_B = 'b3e0b925-4b0f-4d8e-9d8a-2a5f7c1e6b21';
const UUID_C = '082651cd-1f4e-4c2a-8b7d-5e6f7a8b9c0d';
const UUID_ORPHAN = '44244033-aaaa-4bbb-8ccc-dddddddddddd';
const UUID_ELSEWHERE = '55555555-1111-4222-8333-444444444444';

/** A small node: three servers here (one shut off, one in ERROR), one elsewhere, and their ports. */
function smallNode(): { servers: FakeServer[]; ports: FakePort[] } {
  return {
    servers: [
      { id: UUID_A, name: 'web-1', instanceName: 'instance-00000001', host: HOST, flavor: 'm1.small', tenantId: 'p1' },
      { id: UUID_B, name: 'db-1', instanceName: 'instance-00000002', host: HOST, status: 'SHUTOFF', vmState: 'stopped', flavor: 'm1.large', tenantId: 'p2' },
      { id: UUID_C, name: 'batch-1', instanceName: 'instance-00000003', host: HOST, status: 'ERROR', vmState: 'error', taskState: null, tenantId: 'p1' },
      { id: UUID_ELSEWHERE, name: 'far', instanceName: 'instance-00000009', host: 'compute-8', tenantId: 'p1' },
    ],
    ports: [
      { id: '83a59a9f-d268-4b7f-a43e-1f2ff8d2a028', deviceId: UUID_A, host: HOST, mac: 'FA:16:3E:1F:00:01', ips: ['198.18.1.2', '2001:DB8:0::2'] },
      { id: '98c50d99-c5aa-4b7f-a43e-1f2ff8d2a029', deviceId: UUID_B, host: HOST, mac: 'fa:16:3e:1f:00:02', ips: ['198.18.1.3'], status: 'DOWN', migratingTo: 'compute-8' },
      // Neutron binds it here, Nova places no such server here: the merge reports it.
      { id: '24d1346d-8d00-4b7f-a43e-1f2ff8d2a030', deviceId: UUID_ORPHAN, host: HOST, mac: 'fa:16:3e:1f:00:04', ips: ['198.18.1.5'], vifType: 'vhostuser' },
      // Not an instance's port.
      { id: 'dddddddd-0000-4b7f-a43e-1f2ff8d2a031', deviceId: 'dhcp3a1c-0000-0000-0000-000000000000', deviceOwner: 'network:dhcp', host: HOST, mac: 'fa:16:3e:00:00:99', ips: ['198.18.1.1'] },
      { id: 'eeeeeeee-0000-4b7f-a43e-1f2ff8d2a032', deviceId: UUID_ELSEWHERE, host: 'compute-8', mac: 'fa:16:3e:1f:00:09', ips: ['198.18.1.9'] },
    ],
  };
}

const SMALL_NODE_EXPECTED: SourceInstance[] = [
  {
    uuid: UUID_A, name: 'instance-00000001', displayName: 'web-1', state: 'running', novaHost: HOST, novaStatus: 'ACTIVE', vmState: 'active', taskState: null, novaUpdated: '2025-11-21T08:01:02Z', flavor: 'm1.small', project: 'p1',
    ports: [{ id: '83a59a9f-d268-4b7f-a43e-1f2ff8d2a028', mac: 'fa:16:3e:1f:00:01', tap: 'tap83a59a9f-d2', ips: ['198.18.1.2', '2001:db8::2'], status: 'ACTIVE', vifType: 'ovs' }],
  },
  {
    uuid: UUID_B, name: 'instance-00000002', displayName: 'db-1', state: 'shutoff', novaHost: HOST, novaStatus: 'SHUTOFF', vmState: 'stopped', taskState: null, novaUpdated: '2025-11-21T08:01:02Z', flavor: 'm1.large', project: 'p2',
    ports: [{ id: '98c50d99-c5aa-4b7f-a43e-1f2ff8d2a029', mac: 'fa:16:3e:1f:00:02', tap: 'tap98c50d99-c5', ips: ['198.18.1.3'], status: 'DOWN', vifType: 'ovs', migratingTo: 'compute-8' }],
  },
  // ERROR: Nova does not say whether it runs; the state is left to libvirt.
  { uuid: UUID_C, name: 'instance-00000003', displayName: 'batch-1', novaHost: HOST, novaStatus: 'ERROR', vmState: 'error', taskState: null, novaUpdated: '2025-11-21T08:01:02Z', flavor: 'm1.small', project: 'p1', ports: [] },
  { uuid: UUID_ORPHAN, ports: [{ id: '24d1346d-8d00-4b7f-a43e-1f2ff8d2a030', mac: 'fa:16:3e:1f:00:04', tap: 'tap24d1346d-8d', ips: ['198.18.1.5'], status: 'ACTIVE', vifType: 'vhostuser' }] },
];

test('password auth: the servers and ports of this host, instance by instance, ready for the merge', async () => {
  const fake = await startFakeOpenStack(smallNode());
  const dir = freshDir();
  const src = source(configFor(fake, dir), dir);
  assert.equal(src.name, 'openstack');
  assert.equal(src.configured(), true);
  const result = await src.gather({ timeoutMs: 30_000 });
  record(fake);

  assert.deepEqual(result.instances, SMALL_NODE_EXPECTED);
  assert.equal(result.notes, undefined);

  // 1 auth + 1 Nova page + 1 Neutron page.
  assert.deepEqual(fake.requests.map((r) => r.service).sort(), ['keystone', 'neutron', 'nova']);
  const [auth] = fake.requests.filter((r) => r.service === 'keystone');
  assert.deepEqual(auth.authMethods, ['password']);
  const [nova] = fake.requests.filter((r) => r.service === 'nova');
  assert.deepEqual(nova.query, { all_tenants: '1', host: HOST });
  assert.equal(nova.novaVersion, '2.47');
  assert.equal(nova.path, '/internal/RegionOne/compute/v2.1/servers/detail');
  const [neutron] = fake.requests.filter((r) => r.service === 'neutron');
  assert.deepEqual(neutron.query, { 'binding:host_id': HOST });
  assert.equal(neutron.path, '/internal/RegionOne/network/v2.0/ports', 'the /v2.0 Neutron catalog URLs lack is added');
});

test('inventory.openstack.host overrides the node name; region and interface select the endpoints', async () => {
  const fake = await startFakeOpenStack({ ...smallNode() });
  const dir = freshDir();
  const r = await gather(configFor(fake, dir, { host: 'compute-8', interface: 'public', region_name: 'RegionOne' }), dir);
  record(fake);
  assert.deepEqual(r.instances.map((i) => i.uuid), [UUID_ELSEWHERE]);
  const nova = fake.requests.find((x) => x.service === 'nova')!;
  const neutron = fake.requests.find((x) => x.service === 'neutron')!;
  assert.equal(nova.query.host, 'compute-8');
  assert.match(nova.path, /^\/public\/RegionOne\/compute\/v2\.1\/[0-9a-f]{32}\/servers\/detail$/, 'the project-id form of the Nova URL');
  assert.equal(neutron.path, '/public/RegionOne/network/v2.0/ports', 'a catalog URL that has /v2.0 keeps just one');

  fake.reset();
  const two = await gather(configFor(fake, freshDir(), { region_name: 'RegionTwo' }), dir);
  assert.deepEqual(two.instances, []);
  assert.ok(fake.requests.filter((x) => x.service !== 'keystone').every((x) => x.region === 'RegionTwo'));
});

test('application-credential auth', async () => {
  const fake = await startFakeOpenStack({ ...smallNode(), appCredentials: [{ id: 'a1b2c3d4e5f60718293a4b5c6d7e8f90', secret: APP_SECRET, project: 'admin' }] });
  const dir = freshDir();
  const cfg = configFor(fake, dir, { auth: { username: '', password: '', project_name: '', application_credential_id: 'a1b2c3d4e5f60718293a4b5c6d7e8f90', application_credential_secret: APP_SECRET } });
  const r = await gather(cfg, dir);
  record(fake);
  assert.deepEqual(r.instances, SMALL_NODE_EXPECTED);
  assert.deepEqual(fake.requests.find((x) => x.service === 'keystone')!.authMethods, ['application_credential']);

  const wrong = configFor(fake, freshDir(), { auth: { ...cfg.auth, application_credential_secret: 'nope' } });
  assert.equal(await failure(wrong, dir), 'openstack: keystone: 401 Unauthorized (The request you have made requires authentication.)');
});

test('clouds.yaml in $XDG_CONFIG_HOME/openstack, the password in secure.yaml, the cloud from $OS_CLOUD', async () => {
  const fake = await startFakeOpenStack(smallNode());
  const dir = freshDir();
  const xdg = join(dir, 'xdg');
  mkdirSync(join(xdg, 'openstack'), { recursive: true });
  writeFileSync(join(xdg, 'openstack', 'clouds.yaml'), [
    'clouds:',
    '  other:',
    '    auth: {auth_url: "http://127.0.0.1:1/v3"}',
    '  lab:',
    '    auth:',
    `      auth_url: ${fake.origin}/identity`,
    '      username: lm-probe',
    '      project_name: admin',
    '      user_domain_name: Default',
    '      project_domain_name: Default',
    '    region_name: RegionOne',
    '    interface: public',
    '',
  ].join('\n'));
  writeFileSync(join(xdg, 'openstack', 'secure.yaml'), `clouds:\n  lab:\n    auth:\n      password: "${PASSWORD}"\n`, { mode: 0o600 });
  const cfg = { ...configFor(fake, dir), auth: defaultConfig([]).inventory.openstack.auth };
  const src = source(cfg, dir, { XDG_CONFIG_HOME: xdg, OS_CLOUD: 'lab' });
  assert.equal(src.configured(), true);
  const r = await src.gather({ timeoutMs: 30_000 });
  record(fake);
  assert.deepEqual(r.instances, SMALL_NODE_EXPECTED);
  assert.equal(fake.requests.find((x) => x.service === 'nova')!.interface, 'public', 'interface from the clouds.yaml entry');
  assert.ok(debugLines.some((l) => l.includes(`${join(xdg, 'openstack', 'clouds.yaml')} (cloud "lab")`)), 'debug names the file and cloud');

  // The cloud named in the config wins over $OS_CLOUD, and a missing one is an error naming the file.
  const missing = { ...cfg, cloud: 'nosuch' };
  assert.equal(await failure(missing, dir, { XDG_CONFIG_HOME: xdg, OS_CLOUD: 'lab' }), `openstack: cloud "nosuch" not found (${join(xdg, 'openstack', 'clouds.yaml')})`);
});

test('the OS_* environment, as an openrc file sets it', async () => {
  const fake = await startFakeOpenStack(smallNode());
  const dir = freshDir();
  const cfg = { ...configFor(fake, dir), auth: defaultConfig([]).inventory.openstack.auth };
  const env = {
    OS_AUTH_URL: fake.authUrl, OS_USERNAME: 'lm-probe', OS_PASSWORD: PASSWORD, OS_PROJECT_NAME: 'admin',
    OS_USER_DOMAIN_NAME: 'Default', OS_PROJECT_DOMAIN_NAME: 'Default', OS_REGION_NAME: 'RegionOne', OS_INTERFACE: 'internal',
  };
  const r = await gather(cfg, dir, env);
  record(fake);
  assert.deepEqual(r.instances, SMALL_NODE_EXPECTED);

  assert.equal(source(cfg, dir, {}).configured(), false, 'no auth URL anywhere: not configured (skipped)');
});

test('3 pages of servers and 2 pages of ports, all read; the next links of another host are not followed there', async () => {
  const { servers, ports } = makeServers(25, HOST);
  const fake = await startFakeOpenStack({ servers, ports, novaMaxLimit: 10, neutronMaxLimit: 13 });
  const dir = freshDir();
  const r = await gather(configFor(fake, dir), dir);
  record(fake);
  assert.equal(r.instances.length, 25);
  assert.deepEqual(r.instances.map((i) => i.uuid), servers.map((s) => s.id));
  assert.ok(r.instances.every((i, k) => i.ports.length === 1 && i.ports[0].id === ports[k].id && i.ports[0].ips![0] === ports[k].ips[0]));
  const nova = fake.requests.filter((x) => x.service === 'nova');
  assert.equal(nova.length, 3, 'Nova pages: 10 + 10 + 5');
  assert.deepEqual(nova.map((x) => x.query.marker), [undefined, servers[9].id, servers[19].id]);
  assert.ok(nova.every((x) => x.query.host === HOST && x.query.all_tenants === '1'), 'the filters ride along on every page');
  const neutron = fake.requests.filter((x) => x.service === 'neutron');
  assert.equal(neutron.length, 2, 'Neutron pages: 13 + 12');
  assert.ok(neutron.every((x) => x.query['binding:host_id'] === HOST));
  assert.equal(fake.count('keystone'), 1);
});

test('the token cache: mode 0600 in a 0700 directory, reused by the next gather (Keystone asked once)', async () => {
  const fake = await startFakeOpenStack(smallNode());
  const dir = freshDir();
  const cfg = configFor(fake, dir);
  await gather(cfg, dir);
  const second = await gather(cfg, dir);
  record(fake);
  assert.deepEqual(second.instances, SMALL_NODE_EXPECTED);
  assert.equal(fake.count('keystone'), 1);
  assert.equal(fake.count('nova'), 2);
  const tokens = new Set(fake.requests.filter((x) => x.service !== 'keystone').map((x) => x.token));
  assert.equal(tokens.size, 1, 'both gathers used the same token');

  assert.equal(statSync(cfg.token_cache).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'cache')).mode & 0o777, 0o700);
  const text = readFileSync(cfg.token_cache, 'utf8');
  assert.ok(!text.includes(PASSWORD), 'the password is not in the cache');
  assert.ok(text.includes([...tokens][0]!));

  // Other credentials do not pick up that token.
  fake.reset();
  await assert.rejects(gather({ ...cfg, auth: { ...cfg.auth, password: 'wrong' } }, dir), /keystone: 401/);
});

test('a token that expires within 5 minutes is not reused', async () => {
  const fake = await startFakeOpenStack({ ...smallNode(), tokenTtlS: 240 });
  const dir = freshDir();
  const cfg = configFor(fake, dir);
  await gather(cfg, dir);
  await gather(cfg, dir);
  record(fake);
  assert.equal(fake.count('keystone'), 2);
});

test('a 401 from Nova: the cached token is dropped, one re-authentication, the request retried, success', async () => {
  const fake = await startFakeOpenStack(smallNode());
  const dir = freshDir();
  const cfg = configFor(fake, dir);
  await gather(cfg, dir);
  const cached = JSON.parse(readFileSync(cfg.token_cache, 'utf8'));
  fake.reset();
  fake.faults.rejectTokenOnce = 'nova';
  const r = await gather(cfg, dir);
  record(fake);
  assert.deepEqual(r.instances, SMALL_NODE_EXPECTED);
  assert.equal(fake.count('keystone'), 1, 'exactly one re-authentication');
  assert.equal(fake.count('nova', 401), 1);
  assert.equal(fake.count('nova', 200), 1);
  // Neutron may have used the revoked token alongside: then it retried too, with the same new token.
  assert.equal(fake.count('neutron', 200), 1);
  const after401 = JSON.parse(readFileSync(cfg.token_cache, 'utf8'));
  assert.notDeepEqual(Object.values(after401.tokens).map((e: any) => e.token), Object.values(cached.tokens).map((e: any) => e.token), 'the cache holds the new token');

  // Neutron refusing it works the same way.
  fake.reset();
  fake.faults.rejectTokenOnce = 'neutron';
  assert.deepEqual((await gather(cfg, dir)).instances, SMALL_NODE_EXPECTED);
  assert.equal(fake.count('keystone'), 1);
});

test('a 500: one line naming the service and the status (and the fault message when there is one)', async () => {
  const fake = await startFakeOpenStack(smallNode());
  const dir = freshDir();
  fake.faults.error500 = 'neutron';
  assert.equal(await failure(configFor(fake, dir), dir), 'openstack: neutron: 500 Internal Server Error');
  fake.faults = { error500: 'nova', error500Json: true };
  assert.equal(await failure(configFor(fake, dir), dir), 'openstack: nova: 500 Internal Server Error (Unexpected API Error. The database is unreachable.)');
  fake.faults = { error500: 'keystone' };
  assert.equal(await failure(configFor(fake, freshDir()), dir), 'openstack: keystone: 500 Internal Server Error');
});

test('slower than the timeout: "timed out", after the timeout and not much later', async () => {
  const fake = await startFakeOpenStack(smallNode());
  const dir = freshDir();
  fake.faults.slow = { service: 'nova', ms: 5_000 };
  const started = Date.now();
  assert.equal(await failure(configFor(fake, dir, { timeout: 1 }), dir), 'openstack: nova: timed out after 1s');
  const took = Date.now() - started;
  assert.ok(took >= 1_000 && took < 2_500, `took ${took} ms`);

  // The gather's own budget bounds it too.
  fake.faults.slow = { service: 'neutron', ms: 5_000 };
  const cut = source(configFor(fake, dir, { timeout: 10 }), dir).gather({ timeoutMs: 800 });
  await assert.rejects(cut, (err: Error) => err instanceof ProbeError && /^openstack: neutron: timed out after 0\.\ds$/.test(err.message));
});

test('the caller aborting stops the gather at once', async () => {
  const fake = await startFakeOpenStack(smallNode());
  const dir = freshDir();
  fake.faults.slow = { service: 'nova', ms: 5_000 };
  const abort = new AbortController();
  setTimeout(() => abort.abort(), 200);
  const started = Date.now();
  await assert.rejects(source(configFor(fake, dir), dir).gather({ timeoutMs: 30_000, signal: abort.signal }), { message: 'openstack: nova: aborted' });
  assert.ok(Date.now() - started < 1_000);
});

test('malformed JSON', async () => {
  const fake = await startFakeOpenStack(smallNode());
  const dir = freshDir();
  fake.faults.malformed = 'nova';
  assert.equal(await failure(configFor(fake, dir), dir), 'openstack: nova: malformed JSON');
  fake.faults = { malformed: 'keystone' };
  assert.equal(await failure(configFor(fake, freshDir()), dir), 'openstack: keystone: malformed JSON');
});

test('a catalog without the network endpoint (or none in the region): named, before any Nova request', async () => {
  const fake = await startFakeOpenStack(smallNode());
  const dir = freshDir();
  fake.faults.catalogWithout = 'network';
  assert.equal(await failure(configFor(fake, dir, { region_name: 'RegionOne' }), dir), 'openstack: no network endpoint (interface internal, region RegionOne) in the catalog');
  assert.equal(await failure(configFor(fake, freshDir()), dir), 'openstack: no network endpoint (interface internal, any region) in the catalog');
  fake.faults = {};
  assert.equal(await failure(configFor(fake, freshDir(), { region_name: 'RegionThree', interface: 'admin' }), dir), 'openstack: no compute endpoint (interface admin, region RegionThree) in the catalog');
  assert.equal(fake.count('nova') + fake.count('neutron'), 0);
});

test('a wrong password: keystone 401, one line', async () => {
  const fake = await startFakeOpenStack(smallNode());
  const dir = freshDir();
  const message = await failure(configFor(fake, dir, { auth: { password: 'not-the-password' } }), dir);
  assert.equal(message, 'openstack: keystone: 401 Unauthorized (The request you have made requires authentication.)');
  assert.equal(fake.count('nova') + fake.count('neutron'), 0);
});

test('connection refused: one line with the URL', async () => {
  const fake = await startFakeOpenStack();
  const dir = freshDir();
  const cfg = configFor(fake, dir, { auth: { auth_url: 'http://127.0.0.1:1/v3' } });
  assert.equal(await failure(cfg, dir), 'openstack: keystone: connection refused (http://127.0.0.1:1/v3)');
  const noVersion = configFor(fake, dir, { auth: { auth_url: 'http://127.0.0.1:1' } });
  assert.equal(await failure(noVersion, dir), 'openstack: keystone: connection refused (http://127.0.0.1:1/v3)', '/v3 added to an auth_url without it');
});

/** A self-signed certificate for 127.0.0.1 (openssl), or null when openssl is missing. */
function selfSigned(dir: string): { key: string; cert: string; certFile: string } | null {
  if (!findTool('openssl')) return null;
  const key = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', certFile], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile };
}

test('TLS: verified against cacert, refused without it, accepted with insecure', async (t) => {
  const dir = freshDir();
  const tls = selfSigned(dir);
  if (!tls) return t.skip('openssl not installed');
  const fake = await startFakeOpenStack({ ...smallNode(), tls: { key: tls.key, cert: tls.cert } });
  assert.deepEqual((await gather(configFor(fake, freshDir(), { cacert: tls.certFile }), dir)).instances, SMALL_NODE_EXPECTED);
  assert.equal(await failure(configFor(fake, freshDir()), dir), `openstack: keystone: TLS: self-signed certificate (${fake.authUrl})`);
  assert.deepEqual((await gather(configFor(fake, freshDir(), { insecure: true }), dir)).instances, SMALL_NODE_EXPECTED);
  assert.equal(await failure(configFor(fake, freshDir(), { cacert: join(dir, 'nope.pem') }), dir), `openstack: cacert ${join(dir, 'nope.pem')}: not found`);
});

test('200 servers and ports: time of a gather, with and without a cached token', async (t) => {
  const { servers, ports } = makeServers(200, HOST);
  const fake = await startFakeOpenStack({ servers, ports });
  const dir = freshDir();
  const cfg = configFor(fake, dir);
  const timed = async () => {
    const started = performance.now();
    const r = await gather(cfg, dir);
    assert.equal(r.instances.length, 200);
    assert.ok(r.instances.every((i) => i.ports.length === 1 && i.state === 'running'));
    return Math.round(performance.now() - started);
  };
  const cold = await timed();
  const warm = [await timed(), await timed(), await timed()];
  record(fake);
  assert.equal(fake.count('keystone'), 1);
  assert.equal(fake.count('nova'), 4);
  assert.equal(fake.count('neutron'), 4);
  t.diagnostic(`200 servers/ports: ${cold} ms with authentication (3 requests), ${warm.join(' / ')} ms with a cached token (2 requests)`);
  assert.ok(cold < 5_000 && Math.max(...warm) < 5_000);
});

test('no secret ever reached a debug line', () => {
  assert.ok(debugLines.length > 0);
  const text = debugLines.join('\n');
  for (const secret of [PASSWORD, APP_SECRET, ...tokensSeen]) assert.ok(!text.includes(secret), `a secret in: ${text}`);
});
