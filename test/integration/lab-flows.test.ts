/**
 * br-int's neutron-like flows (both firewall drivers) and the OVS faults, as the real
 * `ovs-ofctl -O OpenFlow13 dump-flows br-int` and `ovs-vsctl` see them.
 *
 * LMP_OFCTL_FIXTURES=<dir> also records each state's dump-flows (plain and --names) into <dir>:
 * that is how test/fixtures/ovs-ofctl/ was made.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { healAll, injectFault, labDown, labUp, type LabEnv, type LabInstance } from '../lab/lab.js';
import { AGENT_COOKIE, FIREWALL_DRIVERS, dumpFlows, type FirewallDriver } from '../lab/flows.js';
import { goneIdentity } from '../lab/identity.js';
import { listNamespaces, nsArping, nsPing } from '../lab/netns.js';
import { ovsDirOf } from '../lab/ovs.js';
import { requireLab } from '../lab/require.js';

const labs: LabEnv[] = [];
after(() => {
  for (const e of labs) labDown(e); // also on failure; idempotent
});

interface Flow {
  cookie: string;
  table: number;
  match: string;
  actions: string;
}

/** The real ovs-ofctl's dump, parsed just enough for the checks (durations and counters dropped). */
function flows(e: LabEnv): Flow[] {
  return dumpFlows(ovsDirOf(e.dir))
    .split('\n')
    .filter((l) => l.includes('cookie='))
    .map((l) => {
      const m = /cookie=(\S+?),.* table=(\d+),.*?(priority=\S*?)(?:,| )?actions=(.*)$/.exec(l.trim());
      assert.ok(m, `unparsed flow line: ${l}`);
      return { cookie: m[1], table: Number(m[2]), match: m[3].replace(/,$/, ''), actions: m[4] };
    });
}

const vsctl = (e: LabEnv, ...args: string[]): string => {
  const r = spawnSync('ovs-vsctl', [`--db=${e.ovsDb}`, '--timeout=10', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
};
const ofportOf = (e: LabEnv, name: string): number => Number(vsctl(e, 'get', 'Interface', name, 'ofport'));
const hex = (n: number): string => `0x${n.toString(16)}`;

/** Flows that name this ofport: `in_port=N` or (openvswitch firewall) `reg5=0xN`. */
const forOfport = (fs: Flow[], ofport: number): Flow[] =>
  fs.filter((f) => new RegExp(`(^|,)in_port=${ofport}(,|$)|(^|,)reg5=${hex(ofport)}(,|$)`).test(f.match) || f.actions.includes(`set_field:${hex(ofport)}->reg5`));
const forMac = (fs: Flow[], mac: string): Flow[] => fs.filter((f) => f.match.includes(mac));

/** Every ofport any flow refers to. */
function referencedOfports(fs: Flow[]): Set<number> {
  const out = new Set<number>();
  for (const f of fs) {
    for (const m of f.match.matchAll(/(?:^|,)in_port=(\d+)/g)) out.add(Number(m[1]));
    for (const m of f.match.matchAll(/(?:^|,)reg5=0x([0-9a-f]+)/g)) out.add(parseInt(m[1], 16));
  }
  return out;
}

function assertHealthyFlows(e: LabEnv, driver: FirewallDriver): void {
  const fs = flows(e);
  assert.deepEqual([...new Set(fs.map((f) => f.cookie))], [AGENT_COOKIE], 'one agent cookie');
  const live = new Set(JSON.parse(vsctl(e, '--format=json', '--columns=ofport', 'list', 'Interface')).data.map((r: number[]) => r[0]));
  for (const p of referencedOfports(fs)) assert.ok(live.has(p), `flows reference ofport ${p}, which no interface has`);
  for (const i of e.instances) {
    const ofport = ofportOf(e, i.tap);
    const mine = forOfport(fs, ofport);
    if (driver === 'iptables_hybrid') {
      assert.ok(fs.some((f) => f.table === 0 && f.match === `priority=10,arp,in_port=${ofport}` && f.actions === 'goto_table:24'), `${i.tap}: table 0 ARP -> 24`);
      assert.ok(fs.some((f) => f.table === 24 && f.match === `priority=2,arp,in_port=${ofport},arp_spa=${i.ip}`), `${i.tap}: table 24 arp_spa`);
      assert.ok(fs.some((f) => f.table === 25 && f.match === `priority=2,in_port=${ofport},dl_src=${i.mac}`), `${i.tap}: table 25 dl_src`);
    } else {
      assert.ok(fs.some((f) => f.table === 60 && f.match === `priority=100,in_port=${ofport}`), `${i.tap}: table 60 in_port`);
      assert.ok(fs.some((f) => f.table === 60 && f.match === `priority=90,dl_vlan=1,dl_dst=${i.mac}` && f.actions.includes(`set_field:${hex(ofport)}->reg5`)), `${i.tap}: table 60 dl_vlan,dl_dst`);
      for (const t of [71, 72, 73, 81, 82]) assert.ok(mine.some((f) => f.table === t), `${i.tap}: reg5=${hex(ofport)} in table ${t}`);
    }
  }
}

const reachable = (e: LabEnv, i: LabInstance): boolean => nsPing(e.linkNs, i.ip, 1) && nsArping(e.linkNs, e.linkIface, i.ip, 1);

function record(e: LabEnv, driver: FirewallDriver, state: string): void {
  const dir = process.env.LMP_OFCTL_FIXTURES;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `dump-flows.${driver}.${state}.txt`), dumpFlows(ovsDirOf(e.dir)));
  writeFileSync(join(dir, `dump-flows-names.${driver}.${state}.txt`), dumpFlows(ovsDirOf(e.dir), { names: true }));
}

for (const driver of FIREWALL_DRIVERS) {
  test(`br-int flows (${driver} firewall driver) and the OVS faults`, async (t) => {
    if (!requireLab(t)) return;
    const e = labUp({ instances: 3, firewall: driver });
    labs.push(e);
    const [a, b, c] = e.instances;

    await t.test('healthy: each port\'s flows, one cookie, ICMP and ARP through them', () => {
      assert.equal(e.firewall, driver);
      assertHealthyFlows(e, driver);
      for (const i of e.instances) assert.ok(reachable(e, i), `${i.ip} answers ping and arping`);
      record(e, driver, 'healthy');
    });

    await t.test('no-flows: the port is on br-int, but no flow names its ofport or MAC', () => {
      const ofport = ofportOf(e, b.tap);
      injectFault(e, b.index, 'no-flows');
      const fs = flows(e);
      assert.ok(ofport > 0);
      assert.deepEqual(forOfport(fs, ofport), []);
      assert.deepEqual(forMac(fs, b.mac), []);
      // NORMAL still forwards it: a missing port flow is a finding, not an outage.
      assert.ok(reachable(e, b));
      record(e, driver, 'no-flows');
      healAll(e);
      assertHealthyFlows(e, driver);
    });

    await t.test('orphan-flows: flows for an ofport and MAC no port on the node has', () => {
      const gone = goneIdentity(7);
      injectFault(e, 7, 'orphan-flows');
      const fs = flows(e);
      assert.ok(forOfport(fs, gone.ofport).length > 0, `flows for ofport ${gone.ofport}`);
      assert.ok(forMac(fs, gone.mac).length > 0, `flows for ${gone.mac}`);
      assert.ok(!vsctl(e, '--columns=ofport', 'list', 'Interface').includes(String(gone.ofport)), 'no interface has that ofport');
      record(e, driver, 'orphan-flows');
      healAll(e);
      assert.deepEqual(forOfport(flows(e), gone.ofport), []);
    });

    await t.test('stale-ofport-flow: re-plugged with a new ofport; flows for the old one remain', () => {
      const old = ofportOf(e, c.tap);
      injectFault(e, c.index, 'stale-ofport-flow');
      const now = ofportOf(e, c.tap);
      assert.notEqual(now, old);
      const fs = flows(e);
      assert.ok(fs.some((f) => f.match.includes(`in_port=${old},`) || f.match.endsWith(`in_port=${old}`)), `a flow still matches in_port=${old}`);
      assert.ok(forOfport(fs, now).length > 0, 'and the new ofport has its flows');
      assert.ok(reachable(e, c), 'the instance works through its new ofport');
      record(e, driver, 'stale-ofport-flow');
      healAll(e);
      assert.equal(ofportOf(e, c.tap), now, 'heal keeps the new ofport');
      assertHealthyFlows(e, driver);
    });

    await t.test('orphan-port: an OVS port whose vm-uuid names an instance not on this node', () => {
      const gone = goneIdentity(5);
      injectFault(e, 5, 'orphan-port');
      assert.ok(vsctl(e, 'list-ports', e.bridge).split('\n').includes(gone.tap));
      const vm = vsctl(e, 'get', 'Interface', gone.tap, 'external_ids:vm-uuid').replace(/"/g, '');
      assert.equal(vm, gone.uuid);
      assert.ok(!e.instances.some((i) => i.uuid === vm));
      assert.ok(ofportOf(e, gone.tap) > 0);
      healAll(e);
      assert.ok(!vsctl(e, 'list-ports', e.bridge).split('\n').includes(gone.tap));
    });

    await t.test('no-namespace: the namespace is gone; tap, port and flows remain; no answer', () => {
      const ofport = ofportOf(e, a.tap);
      injectFault(e, a.index, 'no-namespace');
      assert.ok(!listNamespaces().includes(a.ns));
      assert.ok(vsctl(e, 'list-ports', e.bridge).split('\n').includes(a.tap));
      assert.equal(ofportOf(e, a.tap), ofport);
      assert.ok(forOfport(flows(e), ofport).length > 0);
      assert.ok(!nsPing(e.linkNs, a.ip, 1), 'ping must fail');
      healAll(e);
      assert.ok(listNamespaces().includes(a.ns));
      assert.ok(reachable(e, a));
      assertHealthyFlows(e, driver);
    });

    await t.test('del-port leaves the port\'s flows in place (no-port), as with the real agent', () => {
      const ofport = ofportOf(e, b.tap);
      injectFault(e, b.index, 'no-port');
      assert.ok(forOfport(flows(e), ofport).length > 0);
      healAll(e);
      assertHealthyFlows(e, driver);
      for (const i of e.instances) assert.ok(reachable(e, i));
    });
  });
}
