/**
 * Two lab nodes and `migrate`: a clean live migration moves the port (and its flows), the /32
 * route, the BGP announcement, the libvirt domain and the instance dir from node 1 to node 2;
 * each `--leave` step leaves its leftover on node 1. Both nodes' speakers peer with one router,
 * whose birdc says which node(s) it has the /32 from. Checked with the real tools (ovs-vsctl,
 * ovs-ofctl, ip, birdc, virsh, ls) and the real lm-probe.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { clusterDown, clusterUp, type Cluster } from '../lab/cluster.js';
import { migrate, LEAVE_STEPS, type LeaveStep } from '../lab/migrate.js';
import type { LabEnv, LabInstance } from '../lab/lab.js';
import { announced, bgpUnavailableReason, routerView } from '../lab/bgp.js';
import { disksUnavailableReason, instanceDir } from '../lab/disks.js';
import { dumpFlows } from '../lab/flows.js';
import { ovsDirOf, vsctl } from '../lab/ovs.js';
import { labUnavailableReason, listNamespaces, nsExec, nsPing, sh, uniquePrefix } from '../lab/netns.js';
import { pidAlive } from '../lab/procs.js';
import { requireLab, requirePart } from '../lab/require.js';
import { kvmUnavailableReason } from '../lab/kvm.js';
import { readCurrent, setCurrent } from '../lab/files.js';
import { labCliOk, lmProbe } from '../support/cli.js';

function requireParts(t: TestContext): boolean {
  if (!requireLab(t)) return false;
  const reason = bgpUnavailableReason('bird') ?? disksUnavailableReason() ?? (spawnSync('virsh', ['--version']).status === 0 ? null : 'virsh not installed');
  return requirePart(t, '2-node lab', reason);
}

// ---- what the real tools say ---------------------------------------------------------------------

/** external_ids of the OVS Interface named `tap`, or null when the port is not there. */
function portIds(env: LabEnv, tap: string): Record<string, string> | null {
  const out = vsctl(env.ovsDb, ['--format=json', '--columns=external_ids', 'find', 'Interface', `name=${tap}`]);
  const rows = (JSON.parse(out) as { data: [['map', [string, string][]]][] }).data;
  return rows.length ? Object.fromEntries(rows[0][0][1]) : null;
}
const routed = (env: LabEnv, ip: string): boolean => sh('ip', ['-n', env.linkNs, 'route', 'show', `${ip}/32`]).includes(`dev ${env.linkIface}`);
const flowsFor = (env: LabEnv, i: LabInstance): boolean => dumpFlows(ovsDirOf(env.dir)).includes(`dl_src=${i.mac}`);
/** virsh's state of the domain on the node, or null when it is not defined there. */
function domState(env: LabEnv, i: LabInstance): string | null {
  const r = spawnSync('virsh', ['-c', env.kvm?.uri ?? `test://${env.dir}/libvirt/node.xml`, 'domstate', i.name], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}
const hasDir = (env: LabEnv, i: LabInstance): boolean => sh('ls', [env.disks!.root]).split('\n').includes(i.uuid);
const announces = (env: LabEnv, i: LabInstance): boolean => announced(env.bgp!).includes(`${i.ip}/32`);
/** The nodes the shared router has the instance's /32 from (its protocols node1, node2), per `birdc show route`. */
const routerHas = (env: LabEnv, i: LabInstance): string[] => routerView(env.bgp!)[`${i.ip}/32`] ?? [];

/** Node 2 has the instance, whole and answering. */
function assertOnNode2(dst: LabEnv, i: LabInstance): void {
  assert.deepEqual(portIds(dst, i.tap), { 'iface-id': i.portId, 'attached-mac': i.mac, 'vm-uuid': i.uuid, 'iface-status': 'active' });
  assert.ok(flowsFor(dst, i), 'node 2 has the port flows');
  assert.ok(routed(dst, i.ip), 'node 2 routes the /32');
  assert.ok(nsPing(dst.linkNs, i.ip, 2), `ping ${i.ip} from ${dst.linkNs}`);
  assert.ok(announces(dst, i), 'the router receives the /32 from node 2');
  assert.equal(domState(dst, i), 'running');
  assert.ok(hasDir(dst, i), 'node 2 has the instance dir');
}

// ---- the tests -----------------------------------------------------------------------------------

describe('two lab nodes and migrate', { skip: labUnavailableReason() !== null && process.env.LMP_REQUIRE_LAB !== '1' ? 'lab unavailable' : false }, () => {
  let c: Cluster | undefined;
  const src = () => c!.nodes[0];
  const dst = () => c!.nodes[1];
  before(() => {
    if (labUnavailableReason() !== null || bgpUnavailableReason('bird') || disksUnavailableReason()) return;
    c = clusterUp({ instances: 2 + LEAVE_STEPS.length, nodes: 2, bgp: 'bird', disks: true });
  });
  after(() => {
    if (c) clusterDown(c);
  });

  test('up --nodes 2: two nodes, each with its OVS, link namespace, speaker, disks and host name', (t) => {
    if (!requireParts(t)) return;
    assert.equal(dst().prefix, `${src().prefix}n2`);
    assert.equal(dst().host, `${src().prefix}-node2`);
    assert.notEqual(src().ovsPids.ovsVswitchd, dst().ovsPids.ovsVswitchd);
    for (const ns of [src().nodeNs, src().linkNs, dst().nodeNs, dst().linkNs]) assert.ok(listNamespaces().includes(ns), ns);
    assert.equal(dst().instances.length, 0);
    // Two nodes default to KVM where it works: then `migrate` below is a real live migration.
    const kvm = kvmUnavailableReason() === null;
    assert.equal(!!src().kvm && !!dst().kvm, kvm);
    if (kvm) assert.match(sh('virsh', ['-c', src().kvm!.uri, 'list', '--name']), new RegExp(src().instances[0].name));
  });

  test('up --nodes 2 --bgp: one router, one session per node', (t) => {
    if (!requireParts(t)) return;
    const [b1, b2] = [src().bgp!, dst().bgp!];
    assert.deepEqual(listNamespaces().filter((ns) => ns.startsWith(src().prefix) && ns.endsWith('-rtr')), [`${src().prefix}-rtr`], 'one router namespace');
    assert.equal(b2.routerNs, b1.routerNs);
    assert.equal(b2.routerSocket, b1.routerSocket);
    const protocols = nsExec(b1.routerNs, 'birdc', ['-s', b1.routerSocket, 'show', 'protocols']);
    assert.match(protocols, /^node1\s+BGP\s.*Established/m);
    assert.match(protocols, /^node2\s+BGP\s.*Established/m);
    const all = Object.fromEntries(src().instances.map((i) => [`${i.ip}/32`, ['node1']]));
    assert.deepEqual(routerView(b1), all, 'every /32 from node 1 only');
  });

  test('a clean migration moves everything to node 2 and leaves nothing on node 1', (t) => {
    if (!requireParts(t)) return;
    const i = src().instances.find((x) => x.index === 1)!;
    assert.ok(portIds(src(), i.tap) && routed(src(), i.ip) && announces(src(), i) && domState(src(), i) === 'running' && hasDir(src(), i));
    assert.deepEqual(routerHas(src(), i), ['node1'], 'before: the router has the /32 from node 1 only');
    const moved = migrate(src(), dst(), 1);
    assert.deepEqual(routerHas(src(), i), ['node2'], 'after: from node 2 only');
    assert.equal(moved.tap, i.tap);
    assertOnNode2(dst(), i);
    assert.equal(portIds(src(), i.tap), null, 'no port on node 1');
    assert.ok(!flowsFor(src(), i), 'no flows on node 1');
    assert.ok(!routed(src(), i.ip), 'no route on node 1');
    assert.ok(!announces(src(), i), 'no announcement from node 1');
    assert.equal(domState(src(), i), null, 'no domain on node 1');
    assert.ok(!hasDir(src(), i) && !existsSync(instanceDir(src().disks!, i.uuid)), 'no instance dir on node 1');
  });

  test('lm-probe: node 2 inventories the migrated instance; instance-routed is OK on both nodes', (t) => {
    if (!requireParts(t)) return;
    const i = dst().instances.find((x) => x.index === 1)!;
    const inv = lmProbe(['inventory', '--json', '--config', dst().configFile]);
    assert.equal(inv.code, 0, inv.stderr);
    const doc = JSON.parse(inv.stdout) as { host: string; instances: { uuid: string; ports: { ips: string[] }[] }[] };
    assert.equal(doc.host, dst().host);
    assert.deepEqual(doc.instances.map((x) => x.uuid), [i.uuid]);
    assert.deepEqual(doc.instances[0].ports[0].ips, [i.ip]);
    for (const env of [src(), dst()]) {
      const r = lmProbe(['instance-routed', '--config', env.configFile]);
      assert.equal(r.code, 0, `${env.host}: ${r.stdout}${r.stderr}`);
    }
  });

  for (const [k, step] of LEAVE_STEPS.entries()) {
    test(`migrate --leave ${step}: the leftover is on node 1, node 2 is right`, (t) => {
      if (!requireParts(t)) return;
      const index = 2 + k; // a fresh instance per step
      const i = src().instances.find((x) => x.index === index)!;
      migrate(src(), dst(), index, { leave: [step as LeaveStep] });
      assertOnNode2(dst(), i);
      const left: Record<LeaveStep, () => boolean> = {
        route: () => routed(src(), i.ip),
        bgp: () => announces(src(), i),
        flows: () => flowsFor(src(), i),
        port: () => portIds(src(), i.tap)?.['vm-uuid'] === i.uuid,
        disk: () => hasDir(src(), i),
        domain: () => domState(src(), i) === 'shut off',
      };
      for (const s of LEAVE_STEPS) {
        // A left route is announced by node 1's speaker too (it exports the kernel's /32s).
        const expected = s === step || (step === 'route' && s === 'bgp');
        assert.equal(left[s](), expected, `${s} ${expected ? 'left' : 'cleaned'} on node 1`);
      }
      // What an operator sees on the router: two paths for the /32 while node 1 still announces it.
      const paths = step === 'bgp' || step === 'route' ? ['node1', 'node2'] : ['node2'];
      assert.deepEqual(routerHas(src(), i), paths, `the router has the /32 from ${paths.join(' and ')}`);
    });
  }

  test('down: both speakers, the shared router, their veths and files are gone', (t) => {
    if (!requireParts(t)) return;
    const [b1, b2] = [src().bgp!, dst().bgp!];
    const pids = [...b1.pids, ...b2.pids];
    clusterDown(c!);
    c = undefined;
    assert.deepEqual(pids.filter(pidAlive), [], 'no BGP daemon left running');
    assert.deepEqual(listNamespaces().filter((ns) => ns.startsWith(b1.prefix)), [], 'no namespace left');
    for (const d of [b1.dir, b2.dir, join(b1.dir, '..'), join(b2.dir, '..')]) assert.ok(!existsSync(d), `${d} removed`);
  });
});

test('CLI: up --nodes 2, migrate --leave, status, down removes both nodes', (t) => {
  if (!requireLab(t)) return;
  const prefix = uniquePrefix();
  const previous = readCurrent(); // `up` makes this lab the CLI's current one; restored below
  const cli = labCliOk;
  try {
    cli('up', '2', '--nodes', '2', '--prefix', prefix);
    assert.equal(cli('migrate', '1', '--leave', 'route', '--prefix', prefix).trim(), `/tmp/${prefix}n2/config.yaml`);
    const out = cli('status', prefix);
    assert.match(out, new RegExp(`==== node 2: ${prefix}-node2 \\(lab ${prefix}n2\\)`));
    assert.match(out, /1 {2}instance-00000001 {2}198\.18\.1\.2 +node 2/);
    assert.match(out, /1: on node 1: route/);
  } finally {
    cli('down', prefix);
    setCurrent(previous);
  }
  assert.deepEqual(listNamespaces().filter((ns) => ns.startsWith(prefix)), []);
  assert.ok(!existsSync(`/tmp/${prefix}`) && !existsSync(`/tmp/${prefix}n2`));
});
