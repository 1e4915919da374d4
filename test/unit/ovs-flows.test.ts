// The flow parser on real `ovs-ofctl dump-flows` output recorded from the lab
// (test/fixtures/ovs-ofctl/README.md), and on a generated 10,000-flow dump.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { nextTables, parseFlows } from '../../src/host/ovs-flows.js';
import { AGENT_COOKIE, portFlows } from '../lab/flows.js';
import { identity } from '../lab/identity.js';

const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/ovs-ofctl/${name}`, import.meta.url), 'utf8');
const flowLines = (text: string) => text.split('\n').filter((l) => l.startsWith(' cookie='));

for (const driver of ['iptables_hybrid', 'openvswitch']) {
  for (const state of ['healthy', 'no-flows', 'orphan-flows', 'stale-ofport-flow']) {
    test(`parse: every flow of dump-flows.${driver}.${state} (OpenFlow 1.3, with counters)`, () => {
      const text = fixture(`dump-flows.${driver}.${state}.txt`);
      const flows = parseFlows(text);
      assert.equal(flows.length, flowLines(text).length);
      for (const f of flows) {
        assert.equal(f.cookie, AGENT_COOKIE);
        assert.ok(!/duration|n_packets|n_bytes/.test(f.text), 'counters are not part of a flow');
      }
    });
  }
}

test('parse: the keys of a hybrid port flow (in_port, arp_spa, dl_src, goto_table)', () => {
  const flows = parseFlows(fixture('dump-flows.iptables_hybrid.orphan-flows.txt'));
  const orphan = flows.filter((f) => f.inPort === 50007);
  assert.deepEqual(orphan.map((f) => [f.table, f.priority]).sort(), [[0, 10], [0, 9], [24, 2], [25, 2]].sort());
  assert.deepEqual(orphan.find((f) => f.table === 24)!.ips, ['198.18.7.253']);
  assert.deepEqual(orphan.find((f) => f.table === 25)!.macs, ['fa:16:3e:ee:00:07']);
  assert.deepEqual(nextTables(orphan.find((f) => f.table === 0 && f.match.has('arp'))!), [24]);
  const drop = flows.find((f) => f.priority === 65535)!;
  assert.deepEqual(drop.actions, ['drop']);
  assert.equal(drop.match.get('vlan_tci'), '0x0fff/0x1fff');
});

test('parse: openvswitch firewall flows: hex reg5, outputs, ct() kept whole', () => {
  const flows = parseFlows(fixture('dump-flows.openvswitch.healthy.txt'));
  const t81 = flows.filter((f) => f.table === 81 && f.match.has('arp'));
  assert.equal(t81.length, 3);
  for (const f of t81) assert.deepEqual(f.outputs, [f.reg5]);
  const ct = flows.find((f) => f.table === 71 && f.priority === 65)!;
  assert.deepEqual(ct.actions, ['ct(table=72,zone=NXM_NX_REG6[0..15])']);
  const ingress = flows.find((f) => f.table === 60 && f.macs.includes(identity(1).mac))!;
  assert.equal(ingress.match.get('dl_vlan'), '1');
  assert.ok(ingress.actions.includes('pop_vlan'));
  assert.deepEqual(nextTables(ingress), [81]);
});

test('parse: --no-stats, reset_counts, learn(), conjunction(), nested ct(exec()), resubmit(port,table)', () => {
  const flows = parseFlows(fixture('dump-flows-no-stats.special.txt'));
  const conj = flows.filter((f) => f.table === 70 && f.actions[0].startsWith('conjunction('));
  assert.equal(conj.length, 2);
  const first = conj.find((f) => f.ips.length)!;
  assert.deepEqual(first.ips, ['198.18.1.2']);
  assert.match(first.text, /idle_timeout=300, reset_counts priority=5,ip,nw_src=198\.18\.1\.2 actions=conjunction\(10,1\/2\)$/);
  const learn = flows.find((f) => f.table === 21)!;
  assert.equal(learn.actions.length, 2, 'the learn() template is one action');
  assert.deepEqual(learn.outputs, [2], 'output: inside learn() is not an output');
  const ct = flows.find((f) => f.match.has('conj_id'))!;
  assert.deepEqual(ct.actions, ['ct(commit,zone=NXM_NX_REG6[0..15],exec(set_field:0x1->ct_mark))', 'output:2']);
  const v6 = flows.find((f) => f.table === 22 && f.priority === 3)!;
  assert.deepEqual(v6.ips, ['fe80::f816:3eff:fe1f:1']);
  assert.deepEqual(nextTables(v6), [94, 60]);
  assert.deepEqual(flows.find((f) => f.table === 22 && f.priority === 0)!.actions, ['drop']);
});

test('parse: OpenFlow 1.0 (NXST_FLOW, idle_age) and 1.5 (importance) dumps of the same flows', () => {
  const of13 = parseFlows(fixture('dump-flows-no-stats.special.txt'));
  for (const name of ['dump-flows-of10.special.txt', 'dump-flows-of15.special.txt']) {
    const text = fixture(name);
    const flows = parseFlows(text);
    assert.equal(flows.length, of13.length, name);
    assert.deepEqual(flows.map((f) => `${f.table}/${f.priority}/${f.cookie}`).sort(), of13.map((f) => `${f.table}/${f.priority}/${f.cookie}`).sort(), name);
  }
  const important = parseFlows(fixture('dump-flows-of15.special.txt')).find((f) => f.text.includes('importance=7'))!;
  assert.deepEqual(important.ips, ['198.18.1.2']);
});

test('garbage is a ProbeError "ovs-ofctl: unparseable flow: ..."', () => {
  for (const text of ['ovs-ofctl: br-int is not a bridge or a socket', ' cookie=0x1, table=0, priority=1 actions=', ' cookie=0x1, table=x, priority=1 actions=drop']) {
    assert.throws(() => parseFlows(text), (err: Error) => err.name === 'ProbeError' && /^ovs-ofctl: unparseable flow: /.test(err.message));
  }
});

/** `flows.ts` writes replace-flows lines; ovs-ofctl prints them back in this form. */
const asDumped = (f: string) => {
  const [head, actions] = f.split(',actions=');
  const [cookie, table, ...match] = head.split(',');
  return ` ${cookie}, duration=12.5s, ${table}, n_packets=3, n_bytes=180, ${match.join(',')} actions=${actions}`;
};

test('a 10,000-flow dump (openvswitch firewall, 385 ports) parses whole', () => {
  const lines = ['OFPST_FLOW reply (OF1.3) (xid=0x2):'];
  for (let n = 1; lines.length <= 10_000; n++) {
    const id = identity(n);
    lines.push(...portFlows('openvswitch', { ofport: n + 10, mac: id.mac, ip: id.ip }).map(asDumped));
  }
  const text = lines.slice(0, 10_001).join('\n');
  const started = process.hrtime.bigint();
  const flows = parseFlows(text);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.equal(flows.length, 10_000);
  assert.equal(flows.filter((f) => f.table === 60 && f.inPort !== undefined).length, 385);
  console.log(`# parsed 10,000 flows in ${ms.toFixed(1)} ms`); // shown, not asserted (no timing assertions)
});
