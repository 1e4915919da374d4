/**
 * The lab node itself, checked with the real tools (ip, ping, arping, ovs-vsctl): the topology
 * and each fault must look exactly as documented before any probe is tested against it.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { heal, injectFault, labDown, labUp, type LabEnv, type LabInstance } from '../lab/lab.js';
import { listNamespaces, nsArping, nsPing } from '../lab/netns.js';
import { requireLab } from '../lab/require.js';
import { leftDomain } from '../lab/libvirt.js';
import { lmProbe } from '../support/cli.js';

let env: LabEnv | undefined;
after(() => {
  if (env) labDown(env); // also on failure; labDown is idempotent
});

/** The link namespace's routes, as `ip -j route` reports them. */
function linkRoutes(linkNs: string): { dst: string; dev?: string; type?: string }[] {
  const r = spawnSync('ip', ['-n', linkNs, '-j', 'route'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { dst: string; dev?: string; type?: string }[];
}

/** Interface names in a namespace (undefined: the root namespace). */
function links(ns?: string): string[] {
  const r = spawnSync('ip', [...(ns ? ['-n', ns] : []), '-j', 'link'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname);
}

/** The real ovs-vsctl against the lab's db: [exit code, stdout, stderr]. */
function ovs(e: LabEnv, ...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync('ovs-vsctl', [`--db=${e.ovsDb}`, '--timeout=10', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
}
const ovsOk = (e: LabEnv, ...args: string[]): string => {
  const r = ovs(e, ...args);
  assert.equal(r.code, 0, `ovs-vsctl ${args.join(' ')}: ${r.err}`);
  return r.out;
};

/** external_ids of an Interface, from `ovs-vsctl get Interface X external_ids` ({k=v, k="v"}). */
function externalIds(e: LabEnv, iface: string): Record<string, string> {
  const text = ovsOk(e, 'get', 'Interface', iface, 'external_ids');
  return Object.fromEntries([...text.matchAll(/([\w-]+)=("[^"]*"|[^,}]*)/g)].map((m) => [m[1], m[2].replace(/^"|"$/g, '')]));
}
const ofport = (e: LabEnv, i: LabInstance): number => Number(ovsOk(e, 'get', 'Interface', i.tap, 'ofport'));
const portsOnBridge = (e: LabEnv): string[] => ovsOk(e, 'list-ports', e.bridge).split('\n');

const hasRoute = (e: LabEnv, i: LabInstance): boolean => linkRoutes(e.linkNs).some((r) => r.dst === i.ip && r.dev === e.linkIface);
const ping = (e: LabEnv, i: LabInstance): boolean => nsPing(e.linkNs, i.ip, 1);
const arping = (e: LabEnv, i: LabInstance): boolean => nsArping(e.linkNs, e.linkIface, i.ip, 1);

/** Healthy as every tool sees it: on br-int with an ofport, routed, answering ping and ARP. */
function assertHealthy(e: LabEnv, i: LabInstance): void {
  assert.ok(portsOnBridge(e).includes(i.tap), `${i.tap} on ${e.bridge}`);
  assert.ok(ofport(e, i) > 0, `${i.tap} has an ofport`);
  assert.equal(ovsOk(e, 'get', 'Interface', i.tap, 'error'), '[]');
  assert.ok(hasRoute(e, i), 'route present');
  assert.ok(ping(e, i), `ping ${i.ip} answered`);
  assert.ok(arping(e, i), `arping ${i.ip} answered`);
}

/** Net namespace identity of a process (its /proc/<pid>/ns/net inode). */
const netnsOfPid = (pid: number): number => statSync(`/proc/${pid}/ns/net`).ino;
const netnsOf = (name: string): number => statSync(`/run/netns/${name}`).ino;

test('lab node: OVS topology, a healthy instance and the five faults, as the real tools see them', async (t) => {
  if (!requireLab(t)) return;
  env = labUp({ instances: 6, faults: { 2: 'no-route', 3: 'drop-icmp', 4: 'dead', 5: 'no-port', 6: 'port-error' } });
  const e = env;
  const [ok, noRoute, dropIcmp, dead, noPort, portError] = e.instances;

  await t.test('files, namespaces, and the link namespace', () => {
    for (const f of [e.inventoryFile, e.configFile, `${e.dir}/lab.json`]) assert.ok(existsSync(f), f);
    const record = JSON.parse(readFileSync(`${e.dir}/lab.json`, 'utf8')) as LabEnv;
    assert.equal(record.nodeNs, `${e.prefix}-node`);
    assert.equal(record.ovsDb, `unix:/tmp/${e.prefix}/ovs/db.sock`);
    assert.equal(record.linkIface, e.linkIface);
    assert.deepEqual(record.ovsPids, e.ovsPids);
    assert.match(readFileSync(e.configFile, 'utf8'), new RegExp(`arp_interface: ${e.linkIface}`));
    const ns = listNamespaces();
    for (const n of [e.nodeNs, e.linkNs, ...e.instances.map((i) => i.ns)]) assert.ok(ns.includes(n), n);
    const routes = linkRoutes(e.linkNs);
    assert.ok(routes.some((r) => r.type === 'unreachable' && r.dst === '198.18.0.0/15'));
    assert.ok(!routes.some((r) => r.dst === 'default'), 'link namespace must have no default route');
    assert.deepEqual(links(e.linkNs).sort(), ['lo', e.linkIface].sort(), 'the link namespace has one leg, into br-int');
  });

  await t.test('the taps live in the node namespace; nothing was added to the root namespace', () => {
    const node = links(e.nodeNs);
    for (const i of e.instances.filter((x) => x.fault !== 'port-error')) assert.ok(node.includes(i.tap), `${i.tap} in ${e.nodeNs}`);
    assert.ok(node.includes(e.linkPort) && node.includes(e.bridge));
    const root = links();
    for (const name of [...e.instances.map((i) => i.tap), e.linkPort, e.linkIface, e.bridge, 'ovs-netdev']) {
      assert.ok(!root.includes(name), `${name} must not be in the root namespace`);
    }
  });

  await t.test("the lab's own OVS daemons run inside the node namespace, on the lab's db", () => {
    for (const pid of [e.ovsPids.ovsdbServer, e.ovsPids.ovsVswitchd]) {
      assert.ok(pid > 1);
      assert.equal(netnsOfPid(pid), netnsOf(e.nodeNs), `pid ${pid} is in ${e.nodeNs}`);
      assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), new RegExp(`/tmp/${e.prefix}/ovs/`));
    }
    assert.equal(ovsOk(e, 'get', 'Bridge', e.bridge, 'datapath_type'), 'netdev');
    assert.equal(ovsOk(e, 'list-br'), e.bridge);
  });

  await t.test('ovs-vsctl lists each tap on br-int with the external_ids os-vif sets', () => {
    const ports = portsOnBridge(e);
    for (const i of e.instances.filter((x) => x.fault !== 'no-port')) {
      assert.ok(ports.includes(i.tap), `${i.tap} on ${e.bridge}`);
      assert.deepEqual(externalIds(e, i.tap), { 'attached-mac': i.mac, 'iface-id': i.portId, 'iface-status': 'active', 'vm-uuid': i.uuid });
    }
    assert.ok(ports.includes(e.linkPort), `${e.linkPort} on ${e.bridge}`);
    assert.deepEqual(externalIds(e, e.linkPort), {}, 'the link port belongs to no VM');
  });

  await t.test('instance 1 is healthy', () => assertHealthy(e, ok));

  await t.test('no-route: no /32 route, no ping, but ARP through br-int answers', () => {
    assert.ok(!hasRoute(e, noRoute));
    assert.ok(!ping(e, noRoute), 'ping must fail');
    assert.ok(arping(e, noRoute), `arping on ${e.linkIface} must answer`);
  });
  await t.test('drop-icmp: route present, no ping, ARP answers', () => {
    assert.ok(hasRoute(e, dropIcmp));
    assert.ok(!ping(e, dropIcmp), 'ping must fail');
    assert.ok(arping(e, dropIcmp), 'arping must answer');
  });
  await t.test('dead: route present, neither ping nor ARP answers', () => {
    assert.ok(hasRoute(e, dead));
    assert.ok(!ping(e, dead), 'ping must fail');
    assert.ok(!arping(e, dead), 'arping must fail');
  });
  await t.test('no-port: the tap exists but is on no bridge; route present, neither ping nor ARP answers', () => {
    assert.ok(links(e.nodeNs).includes(noPort.tap), 'the tap is still there');
    assert.ok(!portsOnBridge(e).includes(noPort.tap), 'not in list-ports');
    const r = ovs(e, 'port-to-br', noPort.tap);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /no port named/);
    assert.ok(hasRoute(e, noPort));
    assert.ok(!ping(e, noPort), 'ping must fail');
    assert.ok(!arping(e, noPort), 'arping must fail');
  });
  await t.test('port-error: the port is on br-int with ofport -1 and an error; neither ping nor ARP answers', () => {
    assert.ok(portsOnBridge(e).includes(portError.tap));
    assert.equal(ofport(e, portError), -1);
    assert.equal(ovsOk(e, 'get', 'Interface', portError.tap, 'error'), `"could not open network device ${portError.tap} (No such device)"`);
    assert.equal(externalIds(e, portError.tap)['vm-uuid'], portError.uuid, 'external_ids are kept');
    assert.ok(!ping(e, portError), 'ping must fail');
    assert.ok(!arping(e, portError), 'arping must fail');
  });

  await t.test('heal brings every faulty instance back', () => {
    for (const i of [noRoute, dropIcmp, dead, noPort, portError]) {
      heal(e, i.index);
      assert.equal(i.fault, null);
      assertHealthy(e, i);
      assert.equal(externalIds(e, i.tap)['vm-uuid'], i.uuid);
    }
  });

  await t.test('no-port and port-error injected on a running instance, then healed', () => {
    injectFault(e, ok.index, 'no-port');
    assert.ok(!portsOnBridge(e).includes(ok.tap));
    assert.ok(!ping(e, ok), 'no-port: ping must fail');
    injectFault(e, ok.index, 'port-error'); // heals no-port first
    assert.equal(ofport(e, ok), -1);
    assert.match(ovsOk(e, 'get', 'Interface', ok.tap, 'error'), /No such device/);
    assert.ok(!ping(e, ok), 'port-error: ping must fail');
    heal(e, ok.index);
    assertHealthy(e, ok);
  });

  await t.test('domain-left-on-source: a shut-off domain of an instance not here, as virsh and lm-probe see it; heal undefines it', () => {
    const uri = `test://${e.dir}/libvirt/node.xml`;
    const gone = leftDomain(4);
    injectFault(e, 4, 'domain-left-on-source');
    const state = spawnSync('virsh', ['-c', uri, 'domstate', gone.name], { encoding: 'utf8' });
    assert.equal(state.stdout.trim(), 'shut off', state.stderr);
    const inv = lmProbe(['inventory', '--json', '--config', e.configFile]);
    const doc = JSON.parse(inv.stdout) as { instances: { uuid: string; state: string }[] };
    assert.deepEqual(doc.instances.filter((x) => x.uuid === gone.uuid).map((x) => x.state), ['shutoff']);
    assert.ok(!e.instances.some((i) => i.uuid === gone.uuid), 'not a lab instance');
    heal(e, 4);
    assert.notEqual(spawnSync('virsh', ['-c', uri, 'domstate', gone.name]).status, 0, 'undefined after heal');
  });

  await t.test('labDown stops the OVS daemons and leaves no namespace and no dir', () => {
    const pids = [e.ovsPids.ovsdbServer, e.ovsPids.ovsVswitchd];
    labDown(e);
    assert.deepEqual(listNamespaces().filter((ns) => ns.startsWith(`${e.prefix}-`)), []);
    assert.ok(!existsSync(e.dir), `${e.dir} removed`);
    for (const pid of pids) {
      // Gone, or a zombie waiting for its reaper (it was re-parented when it detached).
      const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
      assert.ok(stat === '' || /^\d+ \(.*\) Z/.test(stat) || !stat.includes('ovs'), `pid ${pid} still running: ${stat}`);
    }
  });
});
