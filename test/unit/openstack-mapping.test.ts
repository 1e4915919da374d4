import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assembleInstances } from '../../src/inventory/openstack/assemble.js';
import { describeNetworkError, errorDetail } from '../../src/inventory/openstack/http.js';
import { listPorts, mapPort, portsUrl } from '../../src/inventory/openstack/neutron.js';
import { instanceState, listServers, mapServer, serversUrl } from '../../src/inventory/openstack/nova.js';

/** A server as GET /servers/detail (2.47, admin) returns it, trimmed to what matters here plus some noise. */
const SERVER = {
  id: '8DC7C44C-E491-4139-AC5A-1A06DBE1F53F',
  name: 'web-1',
  status: 'MIGRATING',
  tenant_id: '8f4c1b7e2d9a4c3f9e6b5a4d3c2b1a09',
  flavor: { original_name: 'm1.small', vcpus: 1, ram: 2048, disk: 20 },
  addresses: { private: [{ addr: '203.0.113.99', version: 4 }] },
  'OS-EXT-SRV-ATTR:host': 'compute-7',
  'OS-EXT-SRV-ATTR:instance_name': 'instance-0000002a',
  'OS-EXT-STS:vm_state': 'active',
  'OS-EXT-STS:task_state': 'migrating',
  'OS-EXT-STS:power_state': 1,
  updated: '2025-11-21T08:01:02Z',
};

test('a Nova server: every field it maps, the UUID lower case, no IP from "addresses"', () => {
  assert.deepEqual(mapServer(SERVER), {
    uuid: '8dc7c44c-e491-4139-ac5a-1a06dbe1f53f',
    name: 'instance-0000002a',
    displayName: 'web-1',
    novaHost: 'compute-7',
    novaStatus: 'MIGRATING',
    vmState: 'active',
    taskState: 'migrating',
    novaUpdated: '2025-11-21T08:01:02Z',
    flavor: 'm1.small',
    project: '8f4c1b7e2d9a4c3f9e6b5a4d3c2b1a09',
    ports: [],
  });
  // Before 2.47 the flavor is only an id; an absent task_state stays unknown, null stays null.
  const old = mapServer({ id: SERVER.id, status: 'ACTIVE', flavor: { id: '3', links: [] }, 'OS-EXT-STS:vm_state': 'active', 'OS-EXT-STS:task_state': null });
  assert.deepEqual(old, { uuid: '8dc7c44c-e491-4139-ac5a-1a06dbe1f53f', state: 'running', novaStatus: 'ACTIVE', vmState: 'active', taskState: null, flavor: '3', ports: [] });
  assert.throws(() => mapServer({ id: '../etc' }), { name: 'ProbeError', message: 'openstack: nova: a server without a valid "id": "../etc"' });
});

test('the instance state, only where Nova is sure', () => {
  const cases: [string, string | undefined, string | undefined][] = [
    ['ACTIVE', 'active', 'running'],
    ['SHUTOFF', 'stopped', 'shutoff'],
    ['SHUTOFF', undefined, 'shutoff'],
    ['PAUSED', 'paused', 'paused'],
    ['SUSPENDED', 'suspended', 'suspended'],
    ['ERROR', 'error', undefined],
    ['ERROR', 'stopped', 'shutoff'],
    ['MIGRATING', 'active', undefined],
    ['REBOOT', 'active', undefined],
    ['BUILD', 'building', undefined],
    ['ACTIVE', 'rescued', undefined],
  ];
  for (const [status, vm, want] of cases) assert.equal(instanceState(status, vm), want, `${status}/${vm}`);
});

const PORT = {
  id: '83a59a9f-d268-4b7f-a43e-1f2ff8d2a028',
  device_id: '8DC7C44C-E491-4139-AC5A-1A06DBE1F53F',
  device_owner: 'compute:az-2',
  mac_address: 'FA:16:3E:1F:00:01',
  fixed_ips: [{ ip_address: '198.18.1.2', subnet_id: 's' }, { ip_address: '2001:DB8:0::2', subnet_id: 's6' }, { ip_address: 'bogus' }],
  status: 'ACTIVE',
  'binding:host_id': 'compute-7',
  'binding:vif_type': 'ovs',
  'binding:profile': { migrating_to: 'compute-8' },
  network_id: 'n',
};

test('a Neutron port: an instance port with its IPs, tap and migration target', () => {
  assert.deepEqual(mapPort(PORT), {
    instanceUuid: '8dc7c44c-e491-4139-ac5a-1a06dbe1f53f',
    hostId: 'compute-7',
    port: {
      id: '83a59a9f-d268-4b7f-a43e-1f2ff8d2a028',
      mac: 'fa:16:3e:1f:00:01',
      tap: 'tap83a59a9f-d2',
      ips: ['198.18.1.2', '2001:db8::2'],
      status: 'ACTIVE',
      vifType: 'ovs',
      migratingTo: 'compute-8',
    },
  });
  assert.equal(mapPort({ ...PORT, device_owner: 'network:dhcp' }), undefined);
  assert.equal(mapPort({ ...PORT, device_owner: 'network:router_interface' }), undefined);
  assert.equal(mapPort({ ...PORT, device_id: '' }), undefined, 'a port being unplugged');
  assert.deepEqual(mapPort({ ...PORT, 'binding:profile': {}, fixed_ips: [] })?.port.ips, []);
  assert.equal(mapPort({ ...PORT, 'binding:profile': {} })?.port.migratingTo, undefined);
});

test('servers and ports as instances: ports on their server, a port of no server makes a uuid-only instance', () => {
  const a = mapServer(SERVER);
  const port = mapPort(PORT)!;
  const orphan = mapPort({ ...PORT, id: '24d1346d-8d00-4b7f-a43e-1f2ff8d2a030', device_id: '44244033-aaaa-4bbb-8ccc-dddddddddddd' })!;
  const second = mapPort({ ...PORT, id: '98c50d99-c5aa-4b7f-a43e-1f2ff8d2a029' })!;
  const out = assembleInstances([a], [port, orphan, second]);
  assert.deepEqual(out.map((i) => [i.uuid, i.ports.map((p) => p.id)]), [
    ['8dc7c44c-e491-4139-ac5a-1a06dbe1f53f', ['83a59a9f-d268-4b7f-a43e-1f2ff8d2a028', '98c50d99-c5aa-4b7f-a43e-1f2ff8d2a029']],
    ['44244033-aaaa-4bbb-8ccc-dddddddddddd', ['24d1346d-8d00-4b7f-a43e-1f2ff8d2a030']],
  ]);
  assert.deepEqual(out[1], { uuid: '44244033-aaaa-4bbb-8ccc-dddddddddddd', ports: [orphan.port] });
  assert.deepEqual(a.ports, [], 'the inputs are not changed');
});

test('the list URLs carry the host filters', () => {
  assert.equal(serversUrl('http://n:8774/v2.1', 'compute-7').toString(), 'http://n:8774/v2.1/servers/detail?all_tenants=1&host=compute-7');
  assert.equal(portsUrl('http://n:9696/v2.0', 'compute-7').toString(), 'http://n:9696/v2.0/ports?binding%3Ahost_id=compute-7');
});

test('a filter the API dropped (no admin role): an error, or the foreign entries left out', async () => {
  const page = (body: unknown) => async () => body;
  await assert.rejects(listServers(page({ servers: [{ id: SERVER.id, status: 'ACTIVE' }] }), 'http://n/v2.1', 'compute-7'), {
    message: 'openstack: nova: servers come without OS-EXT-SRV-ATTR:host (the credentials lack the admin role the host filter needs)',
  });
  const nova = await listServers(page({ servers: [SERVER, { ...SERVER, id: '55555555-1111-4222-8333-444444444444', 'OS-EXT-SRV-ATTR:host': 'compute-8' }] }), 'http://n/v2.1', 'compute-7');
  assert.deepEqual([nova.instances.length, nova.otherHosts, nova.pages], [1, 1, 1]);
  const { 'binding:host_id': _, ...hidden } = PORT;
  await assert.rejects(listPorts(page({ ports: [hidden] }), 'http://n/v2.0', 'compute-7'), /neutron: ports come without binding:host_id/);
  const neutron = await listPorts(page({ ports: [PORT, { ...PORT, 'binding:host_id': 'compute-8' }] }), 'http://n/v2.0', 'compute-7');
  assert.deepEqual([neutron.ports.length, neutron.otherHosts], [1, 1]);
  await assert.rejects(listServers(page({ server: [] }), 'http://n/v2.1', 'c'), { message: 'openstack: nova: unexpected answer (no "servers" list)' });
  const loop = { servers: [SERVER], servers_links: [{ rel: 'next', href: 'http://n/v2.1/servers/detail?all_tenants=1&host=compute-7' }] };
  await assert.rejects(listServers(page(loop), 'http://n/v2.1', 'compute-7'), { message: 'openstack: nova: pagination does not advance (the same next link twice)' });
});

test('error bodies: the message of whichever service wrote it, or nothing', () => {
  assert.equal(errorDetail('{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}'), 'The request you have made requires authentication.');
  assert.equal(errorDetail('{"computeFault": {"code": 500, "message": "Unexpected API Error.\\nPlease report it"}}'), 'Unexpected API Error. Please report it');
  assert.equal(errorDetail('{"NeutronError": {"type": "HTTPNotFound", "message": "Port x could not be found.", "detail": ""}}'), 'Port x could not be found.');
  assert.equal(errorDetail('{"message": "plain"}'), 'plain');
  assert.equal(errorDetail('<html><body><h1>503 Service Unavailable</h1></body></html>'), '');
  assert.equal(errorDetail(''), '');
  assert.equal(errorDetail('null'), '');
  assert.equal(errorDetail(JSON.stringify({ error: { message: 'x'.repeat(500) } })).length, 160);
});

test('transport errors in words', () => {
  const u = 'https://k.example:5000/v3';
  assert.equal(describeNetworkError({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, u), `connection refused (${u})`);
  assert.equal(describeNetworkError({ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND k.example' }, u), `cannot resolve the host name (${u})`);
  assert.equal(describeNetworkError({ code: 'ERR_NETWORK', cause: { code: 'ECONNRESET' } }, u), `connection reset (${u})`);
  assert.equal(describeNetworkError({ code: 'EHOSTUNREACH' }, u), `host unreachable (${u})`);
  assert.equal(describeNetworkError({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT', message: 'self-signed certificate' }, u), `TLS: self-signed certificate (${u})`);
  assert.equal(describeNetworkError({ code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: "Hostname/IP does not match certificate's altnames" }, u), `TLS: Hostname/IP does not match certificate's altnames (${u})`);
  assert.equal(describeNetworkError(new Error('socket hang up\n  at x'), u), `socket hang up at x (${u})`);
});
