import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeRoot, findEndpoint, networkRoot, type CatalogService } from '../../src/inventory/openstack/catalog.js';
import { authBody, keystoneBase, parseTokenResponse } from '../../src/inventory/openstack/keystone.js';
import { nextPage } from '../../src/inventory/openstack/pagination.js';

const ep = (iface: string, region: string, url: string) => ({ id: `${iface}${region}`, interface: iface, region_id: region, region, url });
const CATALOG: CatalogService[] = [
  { type: 'identity', endpoints: [ep('public', 'RegionOne', 'https://k.example:5000')] },
  {
    type: 'compute',
    name: 'nova',
    endpoints: [
      ep('public', 'RegionOne', 'https://api.example:8774/v2.1/8f4c1b7e'),
      ep('internal', 'RegionOne', 'http://10.0.0.10:8774/v2.1'),
      ep('internal', 'RegionTwo', 'http://10.1.0.10:8774/v2.1'),
    ],
  },
  { type: 'network', endpoints: [ep('internal', 'RegionTwo', 'http://10.1.0.10:9696'), { interface: 'internal', region: 'RegionOne', url: 'http://10.0.0.10:9696/' }] },
];

test('endpoints by type, interface and region ("" = the first of any region)', () => {
  assert.equal(findEndpoint(CATALOG, 'compute', 'internal', 'RegionTwo'), 'http://10.1.0.10:8774/v2.1');
  assert.equal(findEndpoint(CATALOG, 'compute', 'internal', ''), 'http://10.0.0.10:8774/v2.1');
  assert.equal(findEndpoint(CATALOG, 'compute', 'public', 'RegionOne'), 'https://api.example:8774/v2.1/8f4c1b7e');
  assert.equal(findEndpoint(CATALOG, 'network', 'internal', 'RegionOne'), 'http://10.0.0.10:9696/', 'pre-Mitaka "region" alone');
});

test('no endpoint: one line naming type, interface and region', () => {
  assert.throws(() => findEndpoint(CATALOG, 'compute', 'internal', 'RegionThree'), { name: 'ProbeError', message: 'openstack: no compute endpoint (interface internal, region RegionThree) in the catalog' });
  assert.throws(() => findEndpoint(CATALOG, 'network', 'admin', ''), { message: 'openstack: no network endpoint (interface admin, any region) in the catalog' });
  assert.throws(() => findEndpoint([{ type: 'compute', endpoints: [ep('internal', 'R', 'ftp://x')] }], 'compute', 'internal', ''), { message: 'openstack: the compute endpoint is not an http(s) URL: "ftp://x"' });
  assert.throws(() => findEndpoint([{ type: 'compute' } as unknown as CatalogService], 'compute', 'internal', ''), /no compute endpoint/);
});

test('API roots, with or without the version in the catalog URL', () => {
  assert.equal(computeRoot('http://n:8774/v2.1'), 'http://n:8774/v2.1');
  assert.equal(computeRoot('http://n:8774/v2.1/'), 'http://n:8774/v2.1');
  assert.equal(computeRoot('http://n:8774/v2.1/8f4c1b7e2d9a4c3f'), 'http://n:8774/v2.1/8f4c1b7e2d9a4c3f');
  assert.equal(computeRoot('https://cloud.example/compute/v2.1'), 'https://cloud.example/compute/v2.1');
  assert.equal(computeRoot('http://n:8774/v2/8f4c1b7e'), 'http://n:8774/v2/8f4c1b7e');
  assert.equal(computeRoot('http://n:8774'), 'http://n:8774/v2.1');
  assert.equal(computeRoot('https://cloud.example/compute/'), 'https://cloud.example/compute/v2.1');
  assert.equal(networkRoot('http://n:9696'), 'http://n:9696/v2.0');
  assert.equal(networkRoot('http://n:9696/'), 'http://n:9696/v2.0');
  assert.equal(networkRoot('https://cloud.example/networking/v2.0/'), 'https://cloud.example/networking/v2.0');
  assert.equal(keystoneBase('https://k:5000'), 'https://k:5000/v3');
  assert.equal(keystoneBase('https://k:5000/identity/v3/'), 'https://k:5000/identity/v3');
});

test('Keystone request bodies: password scoped to a project; application credentials unscoped', () => {
  assert.deepEqual(authBody({ method: 'password', username: 'u', userDomainName: 'Default', password: 'p', projectName: 'admin', projectDomainId: 'default' }), {
    auth: {
      identity: { methods: ['password'], password: { user: { name: 'u', domain: { name: 'Default' }, password: 'p' } } },
      scope: { project: { name: 'admin', domain: { id: 'default' } } },
    },
  });
  assert.deepEqual(authBody({ method: 'password', userId: 'uid', password: 'p', projectId: 'pid' }), {
    auth: { identity: { methods: ['password'], password: { user: { id: 'uid', password: 'p' } } }, scope: { project: { id: 'pid' } } },
  });
  assert.deepEqual(authBody({ method: 'application_credential', id: 'ac', secret: 's' }), {
    auth: { identity: { methods: ['application_credential'], application_credential: { id: 'ac', secret: 's' } } },
  });
});

test('Keystone answers: the token from the header, expiry and catalog from the body', () => {
  const body = { token: { expires_at: '2025-11-21T15:00:00.000000Z', catalog: CATALOG, methods: ['password'] } };
  assert.deepEqual(parseTokenResponse('gAAAA-tok', body), { id: 'gAAAA-tok', expiresAt: '2025-11-21T15:00:00.000000Z', catalog: CATALOG });
  assert.throws(() => parseTokenResponse(undefined, body), { message: 'openstack: keystone: no X-Subject-Token header in the answer' });
  assert.throws(() => parseTokenResponse('t', { token: { expires_at: 'soon', catalog: [] } }), { message: 'openstack: keystone: unexpected answer (no valid "expires_at")' });
  assert.throws(() => parseTokenResponse('t', { token: { expires_at: '2025-11-21T15:00:00Z' } }), { message: 'openstack: keystone: the token has no catalog' });
  assert.throws(() => parseTokenResponse('t', []), { message: 'openstack: keystone: unexpected answer (no "token")' });
});

test('next pages: the query of rel=next on the URL in use, whatever host the link names', () => {
  const current = new URL('http://10.0.0.10:8774/v2.1/servers/detail?all_tenants=1&host=c7');
  const next = nextPage(current, [{ rel: 'previous', href: 'http://x/?marker=0' }, { rel: 'next', href: 'https://api.example/v2.1/servers/detail?all_tenants=1&host=c7&limit=10&marker=abc' }]);
  assert.equal(next?.toString(), 'http://10.0.0.10:8774/v2.1/servers/detail?all_tenants=1&host=c7&limit=10&marker=abc');
  assert.equal(nextPage(current, [{ rel: 'previous', href: 'http://x/?marker=0' }]), undefined);
  assert.equal(nextPage(current, undefined), undefined);
  assert.equal(nextPage(current, 'next'), undefined);
});
