/**
 * orphaned-disks at scale: a 500-instance disk tree (real qemu-img disks) where a tenth is wrong
 * at once gives the right counts, with the same number of processes as a 6-instance tree (the
 * tree is read in-process; only the inventory's virsh runs).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, utimesSync, writeFileSync, readdirSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { bareDiskEnv, diskFault, disksDown, disksUnavailableReason, disksUp, type DiskTree } from '../lab/disks.js';
import { writeLibvirtNode } from '../lab/libvirt.js';
import { requireLab, requirePart } from '../lab/require.js';
import { lmProbe } from '../support/cli.js';

const made: { dir: string; tree: DiskTree }[] = [];
after(() => {
  for (const m of made) {
    disksDown(m.tree);
    rmSync(m.dir, { recursive: true, force: true });
  }
});

function agedTwoHours(path: string): void {
  const when = new Date(Date.now() - 7_200_000);
  if (lstatSync(path).isDirectory()) for (const n of readdirSync(path)) agedTwoHours(join(path, n));
  utimesSync(path, when, when);
}

/** A node of n instances with a tenth of them wrong: orphans, _del leftovers, missing backing files. */
function node(n: number): { config: string; tree: DiskTree; faults: { orphans: number; leftovers: number; missing: number } } {
  const env = bareDiskEnv(n);
  const tree = disksUp(env);
  made.push({ dir: env.dir, tree });
  const tenth = Math.max(1, Math.floor(n / 30)); // 3 kinds x n/30 = a tenth
  for (let k = 0; k < tenth; k++) {
    diskFault(tree, env, 'orphan-disk');
    diskFault(tree, env, 'del-leftover', env.instances[k].index);
    diskFault(tree, env, 'missing-backing', env.instances[n - 1 - k].index);
  }
  agedTwoHours(tree.root);
  const uri = writeLibvirtNode(env);
  const config = join(env.dir, 'config.yaml');
  writeFileSync(config, stringify({
    host: `${env.prefix}-node1`, state_dir: join(env.dir, 'state'), lock_dir: join(env.dir, 'lock'),
    inventory: { sources: ['libvirt'], libvirt: { uri }, cache: { path: join(env.dir, 'cache', 'inventory.json') } },
    probes: { 'orphaned-disks': { instances_path: tree.root } },
  }));
  return { config, tree, faults: { orphans: tenth, leftovers: tenth, missing: tenth } };
}

interface Doc { processes_spawned: number; results: { status_text: string; perfdata: { label: string; value: number }[] }[] }

test('6 and 500 instances, a tenth wrong: right counts, the same number of processes', (t) => {
  if (!requireLab(t) || !requirePart(t, 'disk tree', disksUnavailableReason())) return;
  const spawned: number[] = [];
  for (const n of [6, 500]) {
    const { config, faults } = node(n);
    const r = lmProbe(['orphaned-disks', '--config', config, '--json'], { timeoutMs: 120_000 });
    const doc = JSON.parse(r.stdout) as Doc;
    const perf = Object.fromEntries(doc.results[0].perfdata.map((p) => [p.label, p.value]));
    assert.equal(doc.results[0].status_text, 'CRITICAL', r.stdout);
    assert.deepEqual(
      { instances: perf.instances, orphans: perf.orphans, leftovers: perf.leftovers, missing_backing: perf.missing_backing },
      { instances: n, orphans: faults.orphans, leftovers: faults.leftovers, missing_backing: faults.missing },
    );
    spawned.push(doc.processes_spawned);
  }
  assert.equal(spawned[1], spawned[0], `processes at 6 and 500 instances: ${spawned.join(', ')}`);
  assert.ok(spawned[0] <= 3, `only the inventory's virsh calls: ${spawned[0]}`);
});
