/**
 * The lab with its BGP speaker and nova disk tree wired in (labUp's `bgp` and `disks`): the BGP
 * and disk faults injected through the lab API and the CLI, shown by `status`, healed, kept in
 * step by addInstance, and torn down by labDown, also from another process.
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { addInstance, heal, injectFault, labDown, labUp, loadLab, type LabEnv } from '../lab/lab.js';
import { orphanBgpIp } from '../lab/addons.js';
import { announced, bgpUnavailableReason } from '../lab/bgp.js';
import { pidAlive } from '../lab/procs.js';
import { disksUnavailableReason, instanceDir } from '../lab/disks.js';
import { readCurrent, setCurrent } from '../lab/files.js';
import { listNamespaces, uniquePrefix } from '../lab/netns.js';
import { requireLab, requirePart } from '../lab/require.js';
import { labCliOk } from '../support/cli.js';

const labs: string[] = [];
after(() => {
  for (const p of labs) labDown(p); // also on failure; idempotent
});

function requireParts(t: TestContext): boolean {
  if (!requireLab(t)) return false;
  return requirePart(t, 'wired lab', bgpUnavailableReason('bird') ?? disksUnavailableReason());
}


const slash32 = (ips: string[]): string[] => ips.map((ip) => `${ip}/32`);
/** Only instance dirs, leftovers and orphans: nova's own entries left out. */
const treeEntries = (e: LabEnv): string[] => readdirSync(e.disks!.root).filter((n) => !['_base', 'locks', 'compute_nodes'].includes(n)).sort();
const backingChainOk = (disk: string): boolean => spawnSync('qemu-img', ['info', '-U', '--output=json', '--backing-chain', disk], { stdio: 'ignore' }).status === 0;

test('wired lab: BGP (bird) and disks with their faults, through the API and the CLI', async (t) => {
  if (!requireParts(t)) return;
  const prefix = uniquePrefix();
  labs.push(prefix);
  let e = labUp({ instances: 4, prefix, bgp: 'bird', disks: true });
  const ips = () => e.instances.map((i) => i.ip);
  const uuids = () => e.instances.map((i) => i.uuid).sort();

  await t.test('lab.json records the speaker (PIDs) and the disk root; both are healthy', () => {
    const rec = JSON.parse(readFileSync(join(e.dir, 'lab.json'), 'utf8')) as LabEnv;
    assert.equal(rec.bgp?.daemon, 'bird');
    assert.deepEqual(rec.bgp?.pids, e.bgp!.pids);
    assert.ok(e.bgp!.pids.every(pidAlive));
    assert.equal(rec.disks?.root, join(e.dir, 'instances'));
    assert.deepEqual(rec.addonFaults, []);
    assert.deepEqual(announced(e.bgp!), slash32(ips()));
    assert.deepEqual(treeEntries(e), uuids());
  });

  await t.test('API: no-bgp, orphan-bgp and the four disk faults inject', () => {
    injectFault(e, 2, 'no-bgp');
    injectFault(e, 9, 'orphan-bgp');
    assert.deepEqual(announced(e.bgp!), slash32([ips()[0], ips()[2], ips()[3], orphanBgpIp(9)]));
    injectFault(e, 1, 'orphan-disk');
    injectFault(e, 3, 'resize-leftover');
    injectFault(e, 3, 'del-leftover');
    injectFault(e, 4, 'missing-backing');
    const [, , i3, i4] = e.instances;
    const entries = treeEntries(e);
    assert.ok(entries.includes(`${i3.uuid}_resize`) && entries.includes(`${i3.uuid}_del`));
    assert.equal(entries.length, 4 + 3, 'the instances, two leftovers and one orphan');
    assert.ok(!backingChainOk(join(instanceDir(e.disks!, i4.uuid), 'disk')), 'missing-backing: the chain does not open');
    assert.equal(loadLab(prefix).addonFaults?.length, 6, 'lab.json records them');
  });

  await t.test('CLI status shows the speaker, what the router received, the tree and every fault', () => {
    const out = labCliOk('status', prefix);
    assert.match(out, /^BGP: BIRD [\d.]+ speaker AS 65001 in \S+-link/m);
    assert.match(out, new RegExp(`router received 4: .*${orphanBgpIp(9).replace(/\./g, '\\.')}/32`));
    assert.match(out, new RegExp(`^disks: ${e.disks!.root}$`, 'm'));
    assert.match(out, /_resize {2}<- not a lab instance/);
    for (const f of ['2: no-bgp', '9: orphan-bgp', '1: orphan-disk', '3: resize-leftover', '3: del-leftover', '4: missing-backing']) assert.ok(out.includes(`  ${f} `), `status lists ${f}:\n${out}`);
  });

  await t.test('CLI heal <index> clears that index\'s faults only; heal all the rest', () => {
    labCliOk('heal', '3', '--prefix', prefix);
    e = loadLab(prefix);
    assert.ok(!treeEntries(e).some((n) => n.endsWith('_resize') || n.endsWith('_del')));
    assert.ok(!backingChainOk(join(instanceDir(e.disks!, e.instances[3].uuid), 'disk')), 'missing-backing on 4 stays');
    labCliOk('heal', '2', '--prefix', prefix);
    assert.ok(announced(e.bgp!).includes(`${ips()[1]}/32`));
    labCliOk('heal', 'all', '--prefix', prefix);
    e = loadLab(prefix);
    assert.deepEqual(e.addonFaults, []);
    assert.deepEqual(announced(e.bgp!), slash32(ips()));
    assert.deepEqual(treeEntries(e), uuids());
    assert.ok(backingChainOk(join(instanceDir(e.disks!, e.instances[3].uuid), 'disk')));
    assert.match(labCliOk('status', prefix), /^active faults: none$/m);
  });

  await t.test('CLI fault from another process; the API heals it', () => {
    labCliOk('fault', '1', 'no-bgp', '--prefix', prefix);
    labCliOk('fault', '2', 'orphan-bgp', '--prefix', prefix);
    labCliOk('fault', '2', 'orphan-disk', '--prefix', prefix);
    e = loadLab(prefix);
    assert.deepEqual(announced(e.bgp!), slash32([...ips().slice(1), orphanBgpIp(2)]));
    assert.equal(treeEntries(e).length, 5);
    heal(e, 1);
    heal(e, 2); // orphan-bgp 2, orphan-disk 2 (and instance 2, which is healthy)
    assert.deepEqual(announced(e.bgp!), slash32(ips()));
    assert.deepEqual(treeEntries(e), uuids());
    assert.deepEqual(loadLab(prefix).addonFaults, []);
  });

  await t.test('addInstance: its /32 reaches the router and it gets a disk dir', () => {
    const i = addInstance(e);
    assert.deepEqual(announced(e.bgp!), slash32(ips()));
    assert.ok(existsSync(join(instanceDir(e.disks!, i.uuid), 'disk')));
    assert.deepEqual(treeEntries(e), uuids());
  });

  await t.test('labDown stops the speaker and the router and leaves nothing', () => {
    const pids = e.bgp!.pids;
    labDown(e);
    assert.ok(!pids.some(pidAlive), 'BGP daemons stopped');
    assert.deepEqual(listNamespaces().filter((ns) => ns.startsWith(`${prefix}-`)), []);
    assert.ok(!existsSync(e.dir));
  });
});

test('wired lab via the CLI: up --bgp --disks, down from another process', (t) => {
  if (!requireParts(t)) return;
  const prefix = uniquePrefix();
  labs.push(prefix);
  const previous = readCurrent(); // `up` makes this lab the machine's current one: put it back after
  t.after(() => setCurrent(previous && existsSync(`/tmp/${previous}`) ? previous : null));
  assert.match(labCliOk('up', '2', '--bgp', 'bird', '--disks', '--faults', '1:no-bgp,2:resize-leftover', '--prefix', prefix), new RegExp(`/tmp/${prefix}/lab.json`));
  const e = loadLab(prefix);
  assert.deepEqual(announced(e.bgp!), [`${e.instances[1].ip}/32`]);
  assert.ok(treeEntries(e).includes(`${e.instances[1].uuid}_resize`));
  assert.ok(e.bgp!.pids.every(pidAlive), 'the daemons outlive the CLI that started them');
  labCliOk('down', prefix);
  assert.ok(!e.bgp!.pids.some(pidAlive), 'down (another process) stopped them by their recorded PIDs');
  assert.deepEqual(listNamespaces().filter((ns) => ns.startsWith(`${prefix}-`)), []);
  assert.ok(!existsSync(e.dir));
});
