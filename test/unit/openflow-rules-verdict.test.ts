// openflow-rules' verdict on real `ovs-ofctl dump-flows` of the lab (test/fixtures/ovs-ofctl/), for
// both firewall drivers. The OVSDB side is the lab's interfaces with the ofports the dump itself
// shows (each port's MAC flow names its ofport; the uplink's is the VLAN-tagging flow's in_port).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { detectDriver, verdict, type Driver, type RulesInput } from '../../probes/openflow-rules/verdict.js';
import { parseFlows, type Flow } from '../../src/host/ovs-flows.js';
import type { OvsSnapshot } from '../../src/host/ovs.js';
import { ovsHosting } from '../../src/inventory/ovs.js';
import { Status } from '../../src/result.js';
import { FIREWALL_DRIVERS, type FirewallDriver } from '../lab/flows.js';
import { goneIdentity, identity } from '../lab/identity.js';
import { labInventory } from '../support/ovs-inventory.js';

const dump = (driver: string, state: string) => parseFlows(readFileSync(new URL(`../../../test/fixtures/ovs-ofctl/dump-flows.${driver}.${state}.txt`, import.meta.url), 'utf8'));
const ids = [1, 2, 3].map(identity);

/** The lab's br-int as the OVSDB had it when the dump was taken. */
function snapshotFor(flows: Flow[], driver: FirewallDriver, present = ids): OvsSnapshot {
  const macTable = driver === 'iptables_hybrid' ? 25 : 71;
  const uplink = flows.find((f) => f.table === 0 && f.priority === 3)!.inPort!;
  const interfaces = present.map((id) => {
    // After stale-ofport-flow both the old and the new ofport carry the MAC: the port has the new, higher one.
    const seen = flows.filter((f) => f.table === macTable && f.macs.includes(id.mac) && f.inPort !== undefined).map((f) => f.inPort!);
    const ofport = seen.length ? Math.max(...seen) : 99;
    return { uuid: id.portId, name: id.tap, ofport, bridge: 'br-int', tag: 1, externalIds: { 'iface-id': id.portId, 'attached-mac': id.mac, 'vm-uuid': id.uuid } };
  });
  return { interfaces: [...interfaces, { uuid: 'u', name: 'to-ns-link', ofport: uplink, bridge: 'br-int', tag: 1, externalIds: {} }], ports: [], bridges: [] };
}

function judge(flows: Flow[], snapshot: OvsSnapshot, o: Partial<RulesInput> = {}) {
  return verdict({
    bridge: 'br-int', flows, driver: detectDriver(flows), hosting: ovsHosting(labInventory([1, 2, 3]), snapshot), snapshot,
    cookies: [], graceLeftS: () => 0, leftRecently: () => undefined, parseSeconds: 0.001, ...o,
  });
}

for (const driver of FIREWALL_DRIVERS) {
  test(`${driver}: healthy is OK, the driver is recognised from the tables`, () => {
    const flows = dump(driver, 'healthy');
    assert.equal(detectDriver(flows), driver);
    const v = judge(flows, snapshotFor(flows, driver));
    assert.equal(v.status, Status.OK, v.details.join('\n'));
    assert.equal(v.summary, `3 ports with their ${driver} flows, no orphans (${flows.length} flows on br-int)`);
    assert.deepEqual(v.perfdata.map((p) => p.label), ['ports', 'flows', 'missing', 'orphaned', 'parse_time']);
  });

  test(`${driver}: no-flows names every missing part of instance 2`, () => {
    const flows = dump(driver, 'no-flows');
    const snap = snapshotFor(dump(driver, 'healthy'), driver); // the ofports are those of the same lab a moment before
    const v = judge(flows, snap);
    const n = snap.interfaces.find((i) => i.name === ids[1].tap)!.ofport;
    assert.equal(v.status, Status.CRITICAL);
    const parts = driver === 'iptables_hybrid'
      ? [`table 0 in_port=${n} arp -> 24`, `table 0 in_port=${n} -> 25`, `table 24 arp_spa=${ids[1].ip}`, `table 25 dl_src=${ids[1].mac}`]
      : [`table 60 in_port=${n}`, `table 60 dl_vlan=1,dl_dst=${ids[1].mac}`, `table 71 reg5=${n},dl_src=${ids[1].mac}`, `table 71 reg5=${n} ${ids[1].ip}`, `table 73 reg5=${n}`, `table 81 reg5=${n}`, `table 82 reg5=${n}`];
    assert.ok(v.details[0].endsWith(`: missing ${parts.join(', ')}`), v.details[0]);
  });

  test(`${driver}: orphan-flows: one group for ofport 50007 with its MAC and IP`, () => {
    const flows = dump(driver, 'orphan-flows');
    const gone = goneIdentity(7);
    const v = judge(flows, snapshotFor(flows, driver));
    assert.equal(v.status, driver === 'openvswitch' ? Status.CRITICAL : Status.WARNING, 'black hole: outputs to a port that is gone');
    assert.equal(v.details.length, 1);
    assert.match(v.details[0], new RegExp(`^orphaned: \\d+ flows for ofport ${gone.ofport} \\(no Interface on br-int\\) in tables [\\d,]+; ${gone.mac}.*${gone.ip.replace(/\./g, '\\.')}`));
    const left = { uuid: gone.uuid, first: 0, last: 1, left: 1, ips: [gone.ip], macs: [gone.mac], ports: [gone.portId] };
    const recent = judge(flows, snapshotFor(flows, driver), { leftRecently: (k) => (k === gone.mac ? left : undefined) });
    assert.equal(recent.status, Status.WARNING, 'an instance that left within the grace window warns at most');
    assert.match(recent.details[0], new RegExp(`left with ${gone.uuid} \\(${gone.uuid}\\) within the grace window$`));
  });

  test(`${driver}: stale-ofport-flow: the old ofport's flows, named by the instance whose MAC they carry`, () => {
    const flows = dump(driver, 'stale-ofport-flow');
    const v = judge(flows, snapshotFor(flows, driver));
    assert.equal(v.status, Status.WARNING);
    assert.match(v.details[0], new RegExp(`^orphaned: \\d+ flows? for ofport \\d+ \\(no Interface on br-int\\) .*of ${ids[2].name} \\(${ids[2].uuid}\\) port ${ids[2].portId}`));
  });
}

test('cookies: a flow with a cookie that is not the agent\'s is orphaned', () => {
  const flows = dump('iptables_hybrid', 'healthy');
  const v = judge(flows, snapshotFor(flows, 'iptables_hybrid'), { cookies: ['0x1'] });
  assert.equal(v.status, Status.WARNING);
  assert.deepEqual(v.details, [`orphaned: ${flows.length} flows for cookie 0x6c6d70a9e47c3b21 (not the agent's) in tables 0,23,24,25,60`]);
  assert.equal(judge(flows, snapshotFor(flows, 'iptables_hybrid'), { cookies: ['0x6C6D70A9E47C3B21'] }).status, Status.OK);
});

test('security-group rules name remote addresses and conjunctions remote groups: not orphans', () => {
  const flows = dump('openvswitch', 'healthy');
  const snap = snapshotFor(flows, 'openvswitch');
  const n = snap.interfaces[0].ofport;
  const extra = parseFlows([
    ` cookie=0x6c6d70a9e47c3b21, table=82, priority=70,ct_state=+new-est,ip,reg5=0x${n!.toString(16)},nw_src=10.9.9.9 actions=output:${n}`,
    ' cookie=0x6c6d70a9e47c3b21, table=72, priority=70,ct_state=+new-est,ip,nw_dst=10.9.9.8 actions=conjunction(7,1/2)',
    ' cookie=0x6c6d70a9e47c3b21, table=71, priority=70,ip,nw_src=10.9.9.7 actions=conjunction(8,1/2)',
  ].join('\n'));
  assert.equal(judge([...flows, ...extra], snap).status, Status.OK);
});

test('noop driver: no flows expected, orphans still found', () => {
  const healthy = snapshotFor(dump('iptables_hybrid', 'healthy'), 'iptables_hybrid');
  const none = judge(dump('iptables_hybrid', 'no-flows'), healthy, { driver: 'noop' as Driver });
  assert.equal(none.status, Status.OK);
  assert.match(none.summary, /no firewall flows expected/);
  const orphans = judge(dump('iptables_hybrid', 'orphan-flows'), snapshotFor(dump('iptables_hybrid', 'orphan-flows'), 'iptables_hybrid'), { driver: 'noop' as Driver });
  assert.equal(orphans.status, Status.WARNING);
  assert.match(orphans.details[0], /^orphaned: 4 flows for ofport 50007 /);
});

for (const driver of FIREWALL_DRIVERS) {
  test(`${driver}: findings for \`lm-probe instance\`: missing flows keyed by port id; orphaned flows tied to the instance whose MAC they carry, or the one that left with it`, () => {
    const v = judge(dump(driver, 'no-flows'), snapshotFor(dump(driver, 'healthy'), driver));
    assert.deepEqual(v.findings!.map((f) => [f.instance, f.key, f.status]), [[ids[1].uuid, `flows-missing ${ids[1].portId}`, Status.CRITICAL]]);
    assert.equal(v.findings![0].text, v.details[0]);
    const stale = judge(dump(driver, 'stale-ofport-flow'), snapshotFor(dump(driver, 'stale-ofport-flow'), driver));
    assert.deepEqual(stale.findings!.map((f) => [f.instance, f.key]), [[ids[2].uuid, `flows-orphaned ${ids[2].mac}`]], 'keyed by its MAC, not the old ofport');
    const flows = dump(driver, 'orphan-flows');
    const gone = goneIdentity(7);
    assert.deepEqual(judge(flows, snapshotFor(flows, driver)).findings, [], 'nobody known had it: no finding');
    // Long after its grace, the presence record still names who left with that MAC.
    const left = { uuid: gone.uuid, first: 0, last: 1, left: 1, ips: [gone.ip], macs: [gone.mac], ports: [gone.portId] };
    const owned = judge(flows, snapshotFor(flows, driver), { formerOwner: (k) => (k === gone.mac ? left : undefined) });
    assert.deepEqual(owned.findings!.map((f) => [f.instance, f.key, f.status]), [[gone.uuid, `flows-orphaned ${gone.mac}`, owned.status]]);
  });
}
