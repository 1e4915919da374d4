/**
 * The lab's nova instances tree, checked with the real qemu-img: healthy disks are backed by the
 * shared _base image, and each leftover fault looks on disk the way the orphaned-disks probe
 * will find it. No namespaces needed: the tree lives in a fresh /tmp/lmpXXXX of its own.
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { requireLab, requirePart } from '../lab/require.js';
import {
  IMAGE_ID, bareDiskEnv, cacheName, diskFault, diskHeal, disksDown, disksUnavailableReason, disksUp, instanceDir, sharedBase, type DiskEnv, type DiskTree,
} from '../lab/disks.js';

let env: DiskEnv | undefined;
let tree: DiskTree | undefined;
after(() => {
  // Also on failure. disksDown first (it checks the path), then the lab dir itself.
  if (tree) disksDown(tree);
  if (env) rmSync(env.dir, { recursive: true, force: true });
});

const requireQemuImg = (t: TestContext): boolean => requirePart(t, 'disk tree', disksUnavailableReason());

interface ImgInfo {
  filename: string;
  format: string;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
}

function qemuImg(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('qemu-img', args, { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function info(disk: string): ImgInfo {
  const r = qemuImg(['info', '--output=json', disk]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as ImgInfo;
}

/** A disk whose whole chain opens: qcow2 on the shared raw base. */
function assertBackedByShared(t: DiskTree, disk: string): void {
  const i = info(disk);
  assert.equal(i.format, 'qcow2');
  assert.equal(i['backing-filename'], sharedBase(t));
  assert.equal(i['backing-filename-format'], 'raw');
  assert.ok(existsSync(sharedBase(t)), 'backing file exists');
  const chain = qemuImg(['info', '--output=json', '--backing-chain', disk]);
  assert.equal(chain.code, 0, chain.stderr);
  assert.deepEqual((JSON.parse(chain.stdout) as ImgInfo[]).map((x) => [x.filename, x.format]), [[disk, 'qcow2'], [sharedBase(t), 'raw']]);
}

test('nova instances tree: healthy disks, the four leftovers, heal, down', async (t) => {
  if (!requireLab(t) || !requireQemuImg(t)) return;
  env = bareDiskEnv(3);
  tree = disksUp(env);
  const e = env;
  const d = tree;
  const uuids = e.instances.map((i) => i.uuid);
  const healthyNames = ['_base', 'compute_nodes', 'locks', ...uuids].sort();

  await t.test('the healthy tree is laid out like nova\'s', () => {
    assert.equal(d.root, join(e.dir, 'instances'));
    assert.deepEqual(readdirSync(d.root).sort(), healthyNames);
    assert.deepEqual(readdirSync(d.base), [cacheName(IMAGE_ID)]);
    assert.ok(statSync(join(d.root, 'locks')).isDirectory());
    const nodes = JSON.parse(readFileSync(join(d.root, 'compute_nodes'), 'utf8')) as Record<string, number>;
    assert.deepEqual(Object.keys(nodes), [`${e.prefix}-node1`]);
    assert.ok(Math.abs(nodes[`${e.prefix}-node1`] - Date.now() / 1000) < 600);
    for (const uuid of uuids) {
      const dir = instanceDir(d, uuid);
      assert.deepEqual(readdirSync(dir).sort(), ['console.log', 'disk', 'disk.info']);
      assert.deepEqual(JSON.parse(readFileSync(join(dir, 'disk.info'), 'utf8')), { [join(dir, 'disk')]: 'qcow2' });
      assert.equal(statSync(join(dir, 'console.log')).size, 0);
      assertBackedByShared(d, join(dir, 'disk'));
    }
  });

  await t.test('orphan-disk: a valid instance dir for a UUID the node does not host', () => {
    const dir = diskFault(d, e, 'orphan-disk');
    const uuid = dir.slice(d.root.length + 1);
    assert.match(uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(!uuids.includes(uuid));
    assertBackedByShared(d, join(dir, 'disk'));
    const second = diskFault(d, e, 'orphan-disk');
    assert.notEqual(second, dir, 'each call leaves another orphan');
  });

  await t.test('resize-leftover and del-leftover: <uuid>_resize / <uuid>_del next to the instance', () => {
    const [i1, i2] = e.instances;
    const resize = diskFault(d, e, 'resize-leftover');
    const del = diskFault(d, e, 'del-leftover', i2.index);
    assert.equal(resize, `${instanceDir(d, i1.uuid)}_resize`);
    assert.equal(del, `${instanceDir(d, i2.uuid)}_del`);
    for (const [dir, uuid] of [[resize, i1.uuid], [del, i2.uuid]]) {
      assert.deepEqual(readdirSync(dir).sort(), ['console.log', 'disk', 'disk.info']);
      // A renamed dir keeps disk.info as it was: it still names <uuid>/disk.
      assert.deepEqual(JSON.parse(readFileSync(join(dir, 'disk.info'), 'utf8')), { [join(instanceDir(d, uuid), 'disk')]: 'qcow2' });
      assertBackedByShared(d, join(dir, 'disk'));
      assertBackedByShared(d, join(instanceDir(d, uuid), 'disk')); // the instance itself is untouched
    }
  });

  await t.test('missing-backing: plain info still exits 0, the chain does not open', () => {
    const victim = e.instances[2];
    const disk = diskFault(d, e, 'missing-backing', victim.index);
    assert.equal(disk, join(instanceDir(d, victim.uuid), 'disk'));
    const i = info(disk); // exit 0: plain `info` does not open the backing file
    const backing = i['full-backing-filename']!;
    assert.equal(i['backing-filename'], backing);
    assert.ok(backing.startsWith(`${d.base}/`) && backing !== sharedBase(d), backing);
    assert.ok(!existsSync(backing), 'backing file is gone');
    const chain = qemuImg(['info', '--output=json', '--backing-chain', disk]);
    assert.equal(chain.code, 1);
    assert.equal(chain.stdout, '');
    // qemu-img 7.2 names only the base: "qemu-img: Could not open '<base>': Could not open '<base>': No such file or directory".
    assert.ok(chain.stderr.startsWith(`qemu-img: Could not open '${backing}': `), chain.stderr);
    assert.match(chain.stderr, /No such file or directory\n$/);
    // The shared base and the other instances are still fine.
    for (const other of e.instances.filter((x) => x !== victim)) assertBackedByShared(d, join(instanceDir(d, other.uuid), 'disk'));
  });

  await t.test('diskHeal: back to exactly the healthy tree', () => {
    diskHeal(d, e);
    assert.deepEqual(readdirSync(d.root).sort(), healthyNames);
    assert.deepEqual(readdirSync(d.base), [cacheName(IMAGE_ID)]);
    for (const uuid of uuids) assertBackedByShared(d, join(instanceDir(d, uuid), 'disk'));
  });

  await t.test('disksDown removes the tree and nothing else', () => {
    disksDown(d);
    assert.ok(!existsSync(d.root));
    assert.ok(existsSync(e.dir), 'the lab dir itself is the lab\'s to remove');
    disksDown(d); // idempotent
  });
});
