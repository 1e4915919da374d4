// The OVS reader's parser and the "ovs" inventory source, on real ovs-vsctl output recorded
// from a 3-instance lab (test/fixtures/ovs/README.md says how).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { assertOvsDb, failureReason, parseOvsInterfaces, type OvsInterface } from '../../src/host/ovs.js';
import { instancesFromInterfaces } from '../../src/inventory/ovs.js';
import { identity } from '../lab/identity.js';

const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/ovs/${name}`, import.meta.url), 'utf8');
const HEALTHY = fixture('list-healthy.txt');
const NO_PORT = fixture('list-no-port.txt');
const PORT_ERROR = fixture('list-port-error.txt');
const [vm1, vm2, vm3] = [1, 2, 3].map(identity);

const byName = (list: OvsInterface[], name: string) => list.find((i) => i.name === name)!;

/** The port the lab plugs for an instance, as the source reports it when healthy. */
const healthyPort = (id: ReturnType<typeof identity>, ofport: number) => ({
  id: id.portId, mac: id.mac, tap: id.tap, ofport, bridge: 'br-int', linkState: 'up', ifaceStatus: 'active',
});

test('parse: every Interface, joined to its Port and Bridge', () => {
  const list = parseOvsInterfaces(HEALTHY);
  assert.deepEqual(list.map((i) => i.name).sort(), ['br-int', vm1.tap, vm2.tap, vm3.tap, 'to-ns-link'].sort());
  for (const i of list) assert.equal(i.bridge, 'br-int', i.name);
  const tap = byName(list, vm1.tap);
  assert.equal(tap.port, vm1.tap);
  assert.ok(Number.isInteger(tap.ofport) && tap.ofport! > 0);
  assert.equal(tap.linkState, 'up');
  assert.equal(tap.macInUse, vm1.tapMac);
  assert.equal(tap.error, undefined, 'the empty set is "no error"');
  assert.match(tap.uuid, /^[0-9a-f-]{36}$/);
  assert.deepEqual(tap.externalIds, { 'attached-mac': vm1.mac, 'iface-id': vm1.portId, 'iface-status': 'active', 'vm-uuid': vm1.uuid });
  const local = byName(list, 'br-int');
  assert.equal(local.ofport, 65534);
  assert.equal(local.linkState, 'down');
  assert.deepEqual(byName(list, 'to-ns-link').externalIds, {});
});

test('parse: a port in error has ofport -1, the error, and no link state', () => {
  const broken = byName(parseOvsInterfaces(PORT_ERROR), vm3.tap);
  assert.equal(broken.ofport, -1);
  assert.equal(broken.error, `could not open network device ${vm3.tap} (No such device)`);
  assert.equal(broken.linkState, undefined);
  assert.equal(broken.macInUse, undefined);
  assert.equal(broken.bridge, 'br-int', 'still on the bridge');
});

test('source: one instance per vm-uuid, with the port facts OVS has', () => {
  const { instances, notes } = instancesFromInterfaces(parseOvsInterfaces(HEALTHY));
  assert.equal(notes, undefined, 'br-int and to-ns-link carry no iface-id: infrastructure, not noted');
  const list = parseOvsInterfaces(HEALTHY);
  const expected = [vm1, vm2, vm3]
    .map((id) => ({ uuid: id.uuid, ports: [healthyPort(id, byName(list, id.tap).ofport!)] }))
    .sort((a, b) => a.uuid.localeCompare(b.uuid));
  assert.deepEqual(instances, expected);
  assert.ok(!('state' in instances[0]), 'OVS does not know the state');
});

test('source: no-port: the instance is simply not there', () => {
  const { instances } = instancesFromInterfaces(parseOvsInterfaces(NO_PORT));
  assert.deepEqual(instances.map((i) => i.uuid).sort(), [vm1.uuid, vm3.uuid].sort());
});

test('source: port-error: ofport -1 and ovsError, no linkState', () => {
  const { instances } = instancesFromInterfaces(parseOvsInterfaces(PORT_ERROR));
  const port = instances.find((i) => i.uuid === vm3.uuid)!.ports[0];
  assert.deepEqual(port, {
    id: vm3.portId, mac: vm3.mac, tap: vm3.tap, ofport: -1, bridge: 'br-int',
    ovsError: `could not open network device ${vm3.tap} (No such device)`, ifaceStatus: 'active',
  });
});

/** The healthy fixture with some external_ids rewritten (synthetic variants of real output). */
function withExternalIds(change: Record<string, Record<string, string>>): string {
  const [ifaces, ...rest] = HEALTHY.trim().split('\n');
  const doc = JSON.parse(ifaces) as { data: unknown[][]; headings: string[] };
  const nameAt = doc.headings.indexOf('name');
  const idsAt = doc.headings.indexOf('external_ids');
  for (const row of doc.data) {
    const ids = change[row[nameAt] as string];
    if (ids) row[idsAt] = ['map', Object.entries(ids)];
  }
  return [JSON.stringify(doc), ...rest].join('\n');
}

test('source: libvirt\'s vm-id counts like vm-uuid; several ports of one VM make one instance', () => {
  const text = withExternalIds({
    [vm2.tap]: { 'iface-id': vm2.portId, 'attached-mac': vm2.mac.toUpperCase(), 'vm-id': vm1.uuid.toUpperCase() },
  });
  const { instances } = instancesFromInterfaces(parseOvsInterfaces(text));
  const one = instances.find((i) => i.uuid === vm1.uuid)!;
  assert.deepEqual(one.ports.map((p) => p.tap), [vm1.tap, vm2.tap].sort());
  assert.equal(one.ports.find((p) => p.tap === vm2.tap)!.mac, vm2.mac, 'MAC lower-cased');
  assert.equal(one.ports.find((p) => p.tap === vm2.tap)!.ifaceStatus, undefined, 'not set by libvirt');
  assert.equal(instances.length, 2);
});

test('source: a Neutron port without a VM is noted; invalid values are noted and left out', () => {
  const text = withExternalIds({
    [vm1.tap]: { 'iface-id': vm1.portId },
    [vm2.tap]: { 'iface-id': vm2.portId, 'vm-uuid': 'not-a-uuid' },
    [vm3.tap]: { 'iface-id': vm3.portId, 'vm-uuid': vm3.uuid, 'attached-mac': 'fa:16:3e:zz' },
  });
  const { instances, notes } = instancesFromInterfaces(parseOvsInterfaces(text));
  assert.deepEqual(instances.map((i) => i.uuid), [vm3.uuid]);
  assert.equal(instances[0].ports[0].mac, undefined);
  assert.deepEqual(notes!.sort(), [
    `${vm1.tap} on br-int: Neutron port ${vm1.portId} with no vm-uuid`,
    `${vm2.tap}: ignored invalid vm-uuid "not-a-uuid"`,
    `${vm3.tap}: ignored invalid attached-mac "fa:16:3e:zz"`,
  ].sort());
});

test('parse: a single-element set comes bare (a bridge with one port)', () => {
  const text = [
    '{"data":[[["uuid","11111111-1111-4111-8111-111111111111"],"eth1","",1,["set",[]],"up",["map",[]],"02:00:00:00:00:01"]],"headings":["_uuid","name","type","ofport","error","link_state","external_ids","mac_in_use"]}',
    '{"data":[[["uuid","22222222-2222-4222-8222-222222222222"],"eth1",["uuid","11111111-1111-4111-8111-111111111111"],7]],"headings":["_uuid","name","interfaces","tag"]}',
    '{"data":[["br-ex",["uuid","22222222-2222-4222-8222-222222222222"],["set",[]],["set",[]]]],"headings":["name","ports","fail_mode","controller"]}',
    '{"data":[],"headings":["_uuid","target","is_connected"]}',
  ].join('\n');
  assert.equal(parseOvsInterfaces(text)[0].bridge, 'br-ex');
  assert.equal(parseOvsInterfaces(text)[0].tag, 7);
});

test('parse: an interface not yet given an ofport ([]) has none', () => {
  const text = HEALTHY.replace(/("tap[0-9a-f]{8}-[0-9a-f]{2}","[a-z]*"),\d+,/, '$1,["set",[]],');
  assert.equal(parseOvsInterfaces(text).filter((i) => i.ofport === undefined).length, 1);
});

test('garbage is a ProbeError "ovs-vsctl: unparseable output: ..."', () => {
  const cases = [
    'ovs-vsctl: not json at all',
    '',
    HEALTHY.split('\n').slice(0, 3).join('\n'), // three documents, not four
    HEALTHY.replace('"headings":["_uuid","name","type","ofport"', '"headings":["_uuid","nom","type","ofport"'),
    HEALTHY.replace(/\["uuid","/, '["uuud","'),
    '{"data":1,"headings":[]}\n{}\n{}\n{}',
  ];
  for (const text of cases) {
    assert.throws(() => parseOvsInterfaces(text), (err: Error) => {
      assert.equal(err.name, 'ProbeError');
      assert.match(err.message, /^ovs-vsctl: unparseable output: /);
      assert.ok(!err.message.includes('\n') && err.message.length < 200, err.message);
      return true;
    }, JSON.stringify(text.slice(0, 60)));
  }
  assert.throws(() => parseOvsInterfaces(''), /^ProbeError: ovs-vsctl: unparseable output: empty$/);
});

test('the db string is validated before use', () => {
  for (const ok of ['unix:/run/openvswitch/db.sock', 'unix:/tmp/lmp1a2b/ovs/db.sock', 'tcp:127.0.0.1:6640', 'ssl:ovsdb.example:6640', 'tcp:[::1]:6640']) {
    assert.equal(assertOvsDb(ok), ok);
  }
  for (const bad of ['', '--db=x', 'unix:relative.sock', 'punix:/run/db.sock', 'unix:/a b', 'tcp:host', 'tcp:a:1,tcp:b:2', 'unix:/x\n--verbose']) {
    assert.throws(() => assertOvsDb(bad), /^ProbeError: invalid OVS db: /, JSON.stringify(bad));
  }
});

test('failures are phrased from ovs-vsctl\'s stderr, in one line', () => {
  const db = 'unix:/run/openvswitch/db.sock';
  assert.equal(
    failureReason(`ovs-vsctl: ${db}: database connection failed (No such file or directory)\n`, db, 5),
    `ovs-vsctl: ${db}: database connection failed (No such file or directory)`,
  );
  assert.equal(
    failureReason('2026-01-01T00:00:00Z|00001|fatal_signal|WARN|terminating with signal 14 (Alarm clock)\n', db, 5),
    `ovs-vsctl: ${db}: no answer within 5s (--timeout)`,
  );
  assert.equal(failureReason('', db, 5), 'ovs-vsctl: failed without a message');
});
