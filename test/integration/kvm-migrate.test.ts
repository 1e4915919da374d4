/**
 * `up --nodes 2 --libvirt kvm` and `migrate`: each node namespace runs its own libvirtd whose
 * instances are real KVM guests, and `migrate` is a real live migration between them. Without
 * --undefinesource (`--leave domain`) the source keeps the domain "shut off (migrated)", the
 * lab's real domain-left-on-source, and lm-probe's inventory on node 1 reports exactly that.
 *
 * LMP_KVM_FIXTURES=<dir> also records the real virsh outputs into <dir> (that is how
 * test/fixtures/libvirt-kvm/ was made; its README.md is written by hand).
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { clusterDown, clusterUp, type Cluster } from '../lab/cluster.js';
import { migrate } from '../lab/migrate.js';
import { kvmProcesses, kvmUnavailableReason, virsh, type KvmNode } from '../lab/kvm.js';
import { labDisplayName, leftDomain } from '../lab/libvirt.js';
import { heal, injectFault } from '../lab/lab.js';
import { listNamespaces } from '../lab/netns.js';
import { pidAlive } from '../lab/procs.js';
import { fixtureRecorder, requireLab, requirePart } from '../lab/require.js';
import { lmProbe } from '../support/cli.js';

let cluster: Cluster | undefined;
after(() => {
  if (cluster) clusterDown(cluster); // idempotent; also on failure
});

const requireKvm = (t: TestContext): boolean => requirePart(t, 'KVM lab', kvmUnavailableReason());
const fixture = fixtureRecorder('LMP_KVM_FIXTURES');

/** `virsh event --all --loop --timeout N` in the background; resolves with what it printed. */
function events(uri: string, seconds: number): { done: Promise<string> } {
  const child = spawn('virsh', ['-c', uri, 'event', '--all', '--loop', '--timeout', String(seconds)], { env: { ...process.env, LC_ALL: 'C' } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const done = new Promise<string>((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), (seconds + 5) * 1000);
    child.on('close', () => {
      clearTimeout(kill);
      resolve(out);
    });
  });
  return { done };
}

type InventoryDoc = { instances: { uuid: string; displayName?: string; state: string; stateReason?: string; ports: { ips: string[] }[] }[] };
function inventory(configFile: string, fixtureName?: string): InventoryDoc {
  const r = lmProbe(['inventory', '--json', '--config', configFile]);
  assert.equal(r.code, 0, `lm-probe inventory exited ${r.code}: ${r.stderr}`);
  if (fixtureName) fixture(fixtureName, r.stdout);
  return JSON.parse(r.stdout) as InventoryDoc;
}

test('KVM nodes: a real live migration; --leave domain keeps it shut off (migrated) on node 1, and lm-probe says so', { timeout: 120_000 }, async (t) => {
  if (!requireLab(t) || !requireKvm(t)) return;
  let t0 = Date.now();
  const c = (cluster = clusterUp({ instances: 2, nodes: 2, libvirt: 'kvm' }));
  const [n1, n2] = c.nodes;
  const k1 = n1.kvm as KvmNode;
  const k2 = n2.kvm as KvmNode;
  t.diagnostic(`2 KVM nodes up in ${Date.now() - t0} ms; ${virsh(k1.uri, ['version']).trim().split('\n').join('; ')}`);

  // Two hypervisors: their own hostname (libvirt refuses to migrate to "the same host") and host UUID.
  assert.notEqual(k1.hostUuid, k2.hostUuid);
  assert.equal(virsh(k1.uri, ['hostname']).trim(), n1.host ?? `${n1.prefix}-node1`);
  assert.equal(virsh(k2.uri, ['hostname']).trim(), n2.host);
  const [i1, i2] = n1.instances;
  for (const i of [i1, i2]) assert.equal(virsh(k1.uri, ['domstate', i.name]).trim(), 'running');
  assert.equal(virsh(k1.uri, ['dumpxml', i1.name]).includes("<domain type='kvm'"), true);
  fixture('dumpxml-running.xml', virsh(k1.uri, ['dumpxml', i1.name]));
  // lm-probe reads node 1 as it would a real one: both guests, with nova metadata and IPs.
  const before = inventory(n1.configFile);
  assert.deepEqual(before.instances.map((x) => [x.uuid, x.state, x.displayName, x.ports[0]?.ips]).sort(), [i1, i2].map((i) => [i.uuid, 'running', labDisplayName(i), [i.ip]]).sort());

  const evSrc = events(k1.uri, 6);
  const evDst = events(k2.uri, 6);
  await new Promise((r) => setTimeout(r, 500)); // let both event loops register
  t0 = Date.now();
  migrate(n1, n2, i1.index, { leave: ['domain'] });
  t.diagnostic(`migrate (live migration + the lab's clean-up) in ${Date.now() - t0} ms`);

  assert.equal(virsh(k2.uri, ['domstate', i1.name]).trim(), 'running');
  const srcState = virsh(k1.uri, ['domstate', '--reason', i1.name]);
  assert.equal(srcState.trim(), 'shut off (migrated)');
  fixture('domstate-reason-src.txt', srcState);
  fixture('domstate-reason-dst.txt', virsh(k2.uri, ['domstate', '--reason', i1.name]));
  const jobSrc = virsh(k1.uri, ['domjobinfo', '--completed', i1.name]);
  assert.match(jobSrc, /Job type:\s+Completed/);
  assert.match(jobSrc, /Operation:\s+Outgoing migration/);
  fixture('domjobinfo-completed-src.txt', jobSrc);
  fixture('domjobinfo-completed-dst.txt', virsh(k2.uri, ['domjobinfo', '--completed', i1.name]));
  const listSrc = virsh(k1.uri, ['-q', 'list', '--all', '--uuid', '--name']);
  const listDst = virsh(k2.uri, ['-q', 'list', '--all', '--uuid', '--name']);
  assert.match(listSrc, new RegExp(`${i1.uuid} ${i1.name}`));
  assert.match(listDst, new RegExp(`${i1.uuid} ${i1.name}`));
  fixture('list-src.txt', listSrc);
  fixture('list-dst.txt', listDst);

  // lm-probe on node 1: the domain left behind; on node 2: the instance, running.
  const left = inventory(n1.configFile, 'lm-probe-inventory-src.json').instances.find((x) => x.uuid === i1.uuid);
  assert.ok(left, `instance ${i1.uuid} not in node 1's inventory`);
  assert.equal(left.state, 'shutoff');
  assert.equal(left.stateReason, 'migrated');
  const arrived = inventory(n2.configFile).instances.find((x) => x.uuid === i1.uuid);
  assert.equal(arrived?.state, 'running');
  assert.deepEqual(arrived?.ports[0]?.ips, [i1.ip]);

  const [es, ed] = await Promise.all([evSrc.done, evDst.done]);
  assert.match(es, /Stopped Migrated/);
  assert.match(ed, /Resumed Migrated/);
  fixture('events-src.txt', es);
  fixture('events-dst.txt', ed);

  // A clean migration undefines the source's domain; the instance answers from node 2.
  migrate(n1, n2, i2.index);
  assert.equal(virsh(k1.uri, ['-q', 'list', '--all', '--name']).includes(i2.name), false);
  assert.equal(virsh(k2.uri, ['domstate', i2.name]).trim(), 'running');
  const routed = lmProbe(['instance-routed', '--config', n2.configFile]);
  assert.equal(routed.code, 0, routed.stdout + routed.stderr);
  assert.match(routed.stdout, /ips=2;/);

  // The injected domain-left-on-source on a KVM node: defined, never started; heal undefines it.
  injectFault(n2, 9, 'domain-left-on-source');
  assert.equal(virsh(k2.uri, ['domstate', leftDomain(9).name]).trim(), 'shut off');
  heal(n2, 9);
  assert.equal(virsh(k2.uri, ['-q', 'list', '--all', '--name']).includes(leftDomain(9).name), false);

  const procs = [...kvmProcesses(k1), ...kvmProcesses(k2)];
  assert.ok(procs.length >= 4, `expected 2 libvirtd + 2 qemu, got ${procs.join(',')}`);
  const namespaces = [n1.nodeNs, n2.nodeNs];
  clusterDown(c);
  cluster = undefined;
  assert.deepEqual(procs.filter((x) => pidAlive(x)), []);
  const ns = listNamespaces();
  assert.deepEqual(namespaces.filter((n) => ns.includes(n)), []);
  assert.equal(existsSync(n1.dir), false);
  assert.equal(existsSync(n2.dir), false);
});
