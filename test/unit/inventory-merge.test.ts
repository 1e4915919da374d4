import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { findDisagreements, mergeSources, type SourceFacts } from '../../src/inventory/merge.js';
import { loadCache, saveCache } from '../../src/inventory/cache.js';

const A = '8dc7c44c-e491-4139-ac5a-1a06dbe1f53f';
const B = '11111111-2222-3333-4444-555555555555';
const P = '83a59a9f-d268-4b7f-a43e-1f2ff8d2a028';

const libvirt: SourceFacts = { source: 'libvirt', instances: [{ uuid: A.toUpperCase(), name: 'instance-00000001', displayName: 'web', state: 'running', stateReason: 'booted', ports: [{ id: P, tap: 'tap83a59a9f-d2', mac: 'fa:16:3e:1f:00:01', ips: ['198.18.1.2'] }] }] };
const ovs: SourceFacts = { source: 'ovs', instances: [{ uuid: A, ports: [{ id: P, tap: 'tap83a59a9f-d2', mac: 'fa:16:3e:1f:00:01', ofport: 5, bridge: 'br-int', ifaceStatus: 'active' }] }] };
const nova: SourceFacts = {
  source: 'openstack',
  instances: [
    { uuid: A, name: 'instance-00000001', displayName: 'web-renamed', state: 'running', novaHost: 'compute-1', vmState: 'active', ports: [{ id: P, tap: 'tap83a59a9f-d2', mac: 'fa:16:3e:1f:00:01', ips: ['198.18.1.2'], status: 'ACTIVE' }] },
    { uuid: B, name: 'instance-00000002', state: 'running', novaHost: 'compute-1', ports: [{ id: 'bbbbbbbb-0000-0000-0000-000000000000', ips: ['198.18.1.3'] }] },
  ],
};

test('instances join on UUID (any case), ports on port id; each fact keeps its origin', () => {
  const [a] = mergeSources([libvirt, ovs, nova]);
  assert.equal(a.uuid, A);
  assert.deepEqual(a.sources, ['libvirt', 'ovs', 'openstack']);
  assert.equal(a.displayName, 'web', 'the first source in precedence order wins');
  assert.equal(a.origin.displayName, 'libvirt');
  assert.equal(a.novaHost, 'compute-1');
  assert.equal(a.origin.novaHost, 'openstack');
  assert.equal(a.ports.length, 1);
  assert.equal(a.ports[0].ofport, 5);
  assert.equal(a.ports[0].origin.ofport, 'ovs');
  assert.equal(a.ports[0].origin.ips, 'libvirt');
  assert.deepEqual(a.ports[0].sources, ['libvirt', 'ovs', 'openstack']);
});

test('precedence follows the order of sources', () => {
  const [a] = mergeSources([nova, libvirt]);
  assert.equal(a.displayName, 'web-renamed');
  assert.equal(a.origin.displayName, 'openstack');
});

test('ports without ids join on tap, then MAC', () => {
  const file: SourceFacts = { source: 'file', instances: [{ uuid: A, state: 'running', ports: [{ id: '', tap: 'tap83a59a9f-d2', ips: ['198.18.1.2'] }] }] };
  const [a] = mergeSources([file, ovs]);
  assert.equal(a.ports.length, 1);
  assert.equal(a.ports[0].id, P, 'the id comes from the source that knows it');
});

test('an instance no source gives a state for is "unknown"', () => {
  const [a] = mergeSources([ovs]);
  assert.equal(a.state, 'unknown');
});

test('disagreements become findings, only between sources that answered', () => {
  const merged = mergeSources([libvirt, ovs, nova]);
  const findings = findDisagreements([libvirt, ovs, nova], merged, 'compute-1');
  assert.ok(findings.includes(`instance-00000002 (${B}): Nova places it on compute-1, but libvirt has no such domain`), findings.join('\n'));
  assert.ok(findings.includes(`port bbbbbbbb-0000-0000-0000-000000000000 of instance-00000002 (${B}): bound to compute-1 in Neutron, but no OVS interface`), findings.join('\n'));
  // Without libvirt's answer there is nobody to disagree with about domains.
  const noLibvirt = findDisagreements([ovs, nova], mergeSources([ovs, nova]), 'compute-1');
  assert.ok(!noLibvirt.some((f) => f.includes('libvirt has no such domain')));
});

test('libvirt running a domain Nova does not place here, OVS port of a missing domain, IP disagreement', () => {
  const stray: SourceFacts = { source: 'libvirt', instances: [{ uuid: B, name: 'instance-00000002', state: 'running', ports: [] }] };
  const ovsOrphan: SourceFacts = { source: 'ovs', instances: [{ uuid: A, ports: [{ id: P, tap: 'tap83a59a9f-d2' }] }] };
  const novaA: SourceFacts = { source: 'openstack', instances: [{ uuid: A, novaHost: 'compute-1', ports: [{ id: P, ips: ['198.18.1.9'] }] }] };
  const libvirtA: SourceFacts = { source: 'libvirt', instances: [...stray.instances, { uuid: A, name: 'instance-00000001', state: 'running', ports: [{ id: P, ips: ['198.18.1.2'] }] }] };
  const f1 = findDisagreements([stray, novaA], mergeSources([stray, novaA]), 'compute-1');
  assert.ok(f1.some((f) => f === `instance-00000002 (${B}): libvirt runs it here, but Nova does not place it on compute-1`), f1.join('\n'));
  const f2 = findDisagreements([stray, ovsOrphan], mergeSources([stray, ovsOrphan]), 'compute-1');
  assert.ok(f2.some((f) => f === `${A}: OVS has its interface tap83a59a9f-d2, but libvirt has no such domain`), f2.join('\n'));
  const f3 = findDisagreements([libvirtA, novaA], mergeSources([libvirtA, novaA]), 'compute-1');
  assert.ok(f3.some((f) => f === `port ${P} of instance-00000001 (${A}): libvirt says IPs 198.18.1.2, openstack says 198.18.1.9`), f3.join('\n'));
});

const dir = mkdtempSync('/tmp/lmp-cache-');
after(() => rmSync(dir, { recursive: true, force: true }));

test('cache: saved 0600, loaded with its age, refused when too old or for another host', async () => {
  const path = join(dir, 'sub', 'inventory.json');
  const merged = mergeSources([libvirt, ovs]);
  await saveCache(path, 'compute-1', merged, 1_000_000);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const ok = await loadCache(path, 'compute-1', 3600, 1_000_000 + 120_000);
  assert.ok('instances' in ok);
  if ('instances' in ok) {
    assert.equal(ok.ageS, 120);
    assert.equal(ok.instances[0].ports[0].ofport, 5);
    const [again] = mergeSources([{ source: 'cache', instances: ok.instances }]);
    assert.equal(again.origin.name, 'cache');
  }
  assert.deepEqual(await loadCache(path, 'compute-1', 60, 1_000_000 + 120_000), { unusable: 'cache is 120s old (max_age 60s)' });
  assert.match(((await loadCache(path, 'compute-2', 3600, 1_000_000)) as { unusable: string }).unusable, /is for host compute-1/);
  assert.match(((await loadCache(join(dir, 'none.json'), 'compute-1', 3600)) as { unusable: string }).unusable, /^no cache at/);
});
