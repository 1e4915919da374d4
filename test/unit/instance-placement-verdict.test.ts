import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leftoverOf, verdict, type PlacementInput } from '../../probes/instance-placement/verdict.js';
import type { Instance, SourceName } from '../../src/inventory/types.js';
import { Status } from '../../src/result.js';

const HOST = 'cmp1';
const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const port = (id: string, sources: SourceName[]) => ({ id, ips: [], sources, origin: {} });
function inst(n: number, sources: SourceName[], o: Partial<Instance> = {}): Instance {
  return { uuid: uuid(n), name: `instance-${String(n).padStart(8, '0')}`, state: 'running', ports: [], sources, origin: {}, ...(sources.includes('openstack') ? { novaHost: HOST, origin: { novaHost: 'openstack' } } : {}), ...o };
}
const input = (instances: Instance[], o: Partial<PlacementInput> = {}): PlacementInput => ({
  host: HOST,
  instances,
  libvirt: true,
  compared: true,
  elsewhere: new Map(),
  portHosts: new Map(),
  bindings: new Map(),
  leftoverSince: {},
  graceLeftS: () => 0,
  grace: 900,
  nowS: 10_000,
  ...o,
});

test('all agree: OK, with the count of domains', () => {
  const v = verdict(input([inst(1, ['libvirt', 'ovs', 'openstack']), inst(2, ['libvirt', 'openstack'])]));
  assert.equal(v.status, Status.OK);
  assert.equal(v.summary, '2 domains where Nova places them, none left by a migration');
  assert.deepEqual(v.details, []);
});

test('a domain running here that Nova places on another host is CRITICAL, naming that host', () => {
  const v = verdict(input([inst(1, ['libvirt']), inst(2, ['libvirt', 'openstack'])], { elsewhere: new Map([[uuid(1), { host: 'cmp2', status: 'ACTIVE', taskState: null }]]) }));
  assert.equal(v.status, Status.CRITICAL);
  assert.equal(v.summary, '1 running here but not placed here by Nova');
  assert.match(v.details[0], /^instance-00000001 \(0{8}-.*1\): running here, but Nova places it on cmp2 \(ACTIVE\) \(find which copy Nova runs before stopping one: two copies corrupt its disk\)$/);
  assert.deepEqual(v.perfdata.find((p) => p.label === 'elsewhere')?.value, 1);
});

test('... but only WARNING while Nova still migrates it here, or it arrived within grace; an incoming migration (paused, migrating) is fine', () => {
  const migrating = verdict(input([inst(1, ['libvirt'])], { elsewhere: new Map([[uuid(1), { host: 'cmp2', status: 'MIGRATING', taskState: 'migrating' }]]) }));
  assert.equal(migrating.status, Status.WARNING);
  assert.match(migrating.details[0], /Nova places it on cmp2 \(MIGRATING, task migrating\) \(a live migration to here is finishing\)/);
  assert.equal(verdict(input([inst(1, ['libvirt'])], { graceLeftS: () => 30 })).status, Status.WARNING);
  assert.equal(verdict(input([inst(1, ['libvirt'], { state: 'paused', stateReason: 'migrating' })])).status, Status.OK);
  // A shut-off domain Nova does not know is not "running elsewhere".
  assert.equal(verdict(input([inst(1, ['libvirt'], { state: 'shutoff', stateReason: 'destroyed' })])).status, Status.OK);
});

test('Nova places it here, no domain: CRITICAL; unless its task says it is arriving', () => {
  const missing = verdict(input([inst(1, ['openstack'], { novaStatus: 'ACTIVE', taskState: null })]));
  assert.equal(missing.status, Status.CRITICAL);
  assert.match(missing.details[0], /: Nova places it on cmp1 \(ACTIVE\), but libvirt has no such domain \(nova reset-state/);
  const arriving = verdict(input([inst(1, ['openstack'], { novaStatus: 'RESIZE', taskState: 'resize_migrating' })]));
  assert.equal(arriving.status, Status.OK);
  assert.match(arriving.details[0], /task resize_migrating\), but libvirt has no such domain: arriving$/);
});

test('shut off (migrated) and paused by a migration: WARNING only after grace, with for how long', () => {
  const left = inst(1, ['libvirt'], { state: 'shutoff', stateReason: 'migrated' });
  assert.equal(leftoverOf(left), 'shut off (migrated): the source copy of a finished migration');
  assert.equal(leftoverOf(inst(2, ['libvirt'], { state: 'paused', stateReason: 'post-copy failed' })), 'paused (post-copy failed): the post-copy migration failed');
  assert.equal(leftoverOf(inst(3, ['libvirt'], { state: 'shutoff', stateReason: 'destroyed' })), undefined);
  const fresh = verdict(input([left], { leftoverSince: { [uuid(1)]: 9_900 } }));
  assert.equal(fresh.status, Status.OK);
  assert.match(fresh.details[0], /shut off \(migrated\).*, for 2 min \[within grace: 13 min more\] \(virsh undefine it once the destination runs it\)$/);
  const old = verdict(input([left], { leftoverSince: { [uuid(1)]: 9_000 } }));
  assert.equal(old.status, Status.WARNING);
  assert.equal(old.summary, '1 left by a migration');
  assert.match(old.details[0], /, for 17 min \(virsh undefine/);
});

test('a port bound to another host, a second INACTIVE binding: WARNING each', () => {
  const i = inst(1, ['libvirt', 'openstack'], { ports: [port('p-moved', ['libvirt']), port('p-two', ['libvirt', 'openstack'])] });
  const v = verdict(input([i], { portHosts: new Map([['p-moved', 'cmp2']]), bindings: new Map([['p-two', [{ host: HOST, status: 'ACTIVE' }, { host: 'cmp2', status: 'INACTIVE' }]]]) }));
  assert.equal(v.status, Status.WARNING);
  assert.equal(v.summary, '2 port binding problems');
  assert.match(v.details[0], /^port p-moved of instance-00000001 .*: bound to cmp2 in Neutron, not cmp1 /);
  assert.match(v.details[1], /^port p-two of .*: a second binding to cmp2 is left, INACTIVE \(DELETE \/v2\.0\/ports\/p-two\/bindings\/cmp2\)$/);
});

test('without OpenStack: only libvirt states, and the summary says placement was not compared', () => {
  const v = verdict(input([inst(1, ['libvirt']), inst(2, ['libvirt'], { state: 'shutoff', stateReason: 'migrated' })], { compared: false, notCompared: 'no OpenStack source', leftoverSince: { [uuid(2)]: 0 } }));
  assert.equal(v.status, Status.WARNING, 'the leftover counts; the domain Nova does not know is not judged');
  assert.equal(v.summary, '1 left by a migration; placement not compared (no OpenStack source)');
  assert.equal(v.details.length, 1);
});

test('500 instances, a tenth of them wrong at once: every one counted, worst first', () => {
  const all: Instance[] = [];
  for (let n = 1; n <= 500; n++) {
    if (n % 10 === 1) all.push(inst(n, ['libvirt'])); // 50 not placed here
    else if (n % 10 === 2) all.push(inst(n, ['libvirt'], { state: 'shutoff', stateReason: 'migrated' })); // 50 leftovers
    else all.push(inst(n, ['libvirt', 'ovs', 'openstack']));
  }
  const v = verdict(input(all, { leftoverSince: Object.fromEntries(all.map((i) => [i.uuid, 0])) }));
  assert.equal(v.status, Status.CRITICAL);
  assert.equal(v.summary, '50 running here but not placed here by Nova, 50 left by a migration');
  assert.equal(v.details.length, 100);
  assert.ok(v.details.slice(0, 50).every((d) => d.includes('Nova does not place it on cmp1')));
});

test('findings for `lm-probe instance`: each case tied to its instance, keyed without host names', () => {
  const moved = inst(1, ['libvirt']);
  const left = inst(2, ['libvirt'], { state: 'shutoff', stateReason: 'migrated' });
  const i = inst(3, ['libvirt', 'openstack'], { ports: [port('p-moved', ['libvirt'])] });
  const v = verdict(input([moved, left, i], { elsewhere: new Map([[uuid(1), { host: 'cmp2', status: 'ACTIVE' }]]), portHosts: new Map([['p-moved', 'cmp2']]), leftoverSince: { [uuid(2)]: 1 } }));
  assert.deepEqual(v.findings!.map((f) => [f.instance, f.key, f.status]), [
    [uuid(1), 'placement-elsewhere', Status.CRITICAL],
    [uuid(3), 'port-not-bound-here p-moved', Status.WARNING],
    [uuid(2), 'domain-leftover shutoff/migrated', Status.WARNING],
  ]);
  assert.deepEqual(v.findings!.map((f) => f.text), v.details);
});
