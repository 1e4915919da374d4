/**
 * A nova instances tree (what /var/lib/nova/instances holds on a compute node) inside a lab's
 * own dir, made with the real qemu-img, for the orphaned-disks probe:
 *
 *   <env.dir>/instances/
 *     _base/<sha1(image id)>          the image cache: a small sparse raw image
 *     <uuid>/disk                     qcow2, backing file _base/<sha1>, backing format raw
 *     <uuid>/disk.info                {"<dir>/<uuid>/disk": "qcow2"}, as nova writes it
 *     <uuid>/console.log              empty
 *     locks/                          nova's external lock files
 *     compute_nodes                   {"<host>": <epoch>}, nova's storage registry
 *
 * Faults add the leftovers the probe looks for on a migration's source node. Nothing outside
 * env.dir is ever touched. See DISKS.md.
 */
import { createHash } from 'node:crypto';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { LAB_ROOT, assertPrefix, labDir } from './files.js';
import { identity } from './identity.js';
import type { LabInstance } from './lab.js';
import { findTool, sh, uniquePrefix } from './netns.js';

export interface DiskTree {
  root: string; // env.dir/instances
  base: string; // root/_base
}

/** What the tree needs of a LabEnv (any LabEnv is one; so is a bare object, no namespaces needed). */
export interface DiskEnv {
  prefix: string;
  dir: string;
  instances: { index: number; uuid: string }[];
  /** The node's name (LabEnv.host); default `<prefix>-node1`. */
  host?: string;
}

export type DiskFault = 'orphan-disk' | 'resize-leftover' | 'del-leftover' | 'missing-backing';
export const DISK_FAULTS: readonly DiskFault[] = ['orphan-disk', 'resize-leftover', 'del-leftover', 'missing-backing'];

/** The Glance image every lab instance boots from (fixed, so every lab has the same _base name). */
export const IMAGE_ID = nameUuid('image/cirros');
/** The image's size; raw and sparse, so it costs one 4 KiB block. */
export const BASE_SIZE = '4M';
/** The flavor's root disk; qcow2 allocates nothing for it up front. */
export const DISK_SIZE = '1G';
const BASE_FORMAT = 'raw'; // nova's default (force_raw_images = True)

/** Nova's image cache name for an image: sha1 of its id (imagecache.get_cache_fname). */
export const cacheName = (imageId: string): string => createHash('sha1').update(imageId).digest('hex');
export const sharedBase = (tree: DiskTree): string => join(tree.base, cacheName(IMAGE_ID));
export const instanceDir = (tree: DiskTree, uuid: string): string => join(tree.root, uuid);

/** Why disk trees cannot be built here, or null. */
export function disksUnavailableReason(): string | null {
  return findTool('qemu-img') ? null : 'qemu-img not installed (apt-get install qemu-utils)';
}

/** An RFC 4122 name-based (v5-style) UUID, for the lab's image ids and migrated-away instances. */
function nameUuid(name: string): string {
  const b = createHash('sha1').update(`lm-probe-lab/${name}`).digest().subarray(0, 16);
  b[6] = (b[6] & 0x0f) | 0x50;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The tree must be <LAB_ROOT>/lmp.../instances: disksDown and diskHeal delete things under it. */
function checkRoot(root: string): void {
  assertPrefix(basename(dirname(root)));
  if (dirname(dirname(root)) !== LAB_ROOT || basename(root) !== 'instances') throw new Error(`not a lab disk tree: ${root}`);
}

/** An image in the cache, as nova's image cache leaves it: the file plus its fetch lock. */
function makeBase(tree: DiskTree, imageId: string): string {
  const path = join(tree.base, cacheName(imageId));
  sh('qemu-img', ['create', '-q', '-f', BASE_FORMAT, path, BASE_SIZE]);
  writeFileSync(join(tree.root, 'locks', `nova-${cacheName(imageId)}`), '');
  return path;
}

/** One instance's dir as nova's libvirt driver creates it (Qcow2 image backend). */
function makeInstanceDir(dir: string, base: string): void {
  mkdirSync(dir, { recursive: true });
  const disk = join(dir, 'disk');
  rmSync(disk, { force: true });
  // -F is required: qemu-img 7.x refuses a backing file without a backing format.
  sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', BASE_FORMAT, disk, DISK_SIZE]);
  // jsonutils.dumps: Python's separators, no newline.
  writeFileSync(join(dir, 'disk.info'), `{${JSON.stringify(disk)}: "qcow2"}`);
  writeFileSync(join(dir, 'console.log'), '');
}

/**
 * The backing file named in a qcow2 header, or null (not qcow2, or none). Read directly (spec:
 * u64 offset at byte 8, u32 length at 16) so diskHeal need not run qemu-img once per instance.
 */
function backingOf(disk: string): string | null {
  const fd = openSync(disk, 'r');
  try {
    const h = Buffer.alloc(20);
    if (readSync(fd, h, 0, 20, 0) < 20 || h.readUInt32BE(0) !== 0x514649fb) return null; // "QFI\xfb"
    const offset = Number(h.readBigUInt64BE(8));
    if (offset === 0) return null;
    const name = Buffer.alloc(h.readUInt32BE(16));
    readSync(fd, name, 0, name.length, offset);
    return name.toString();
  } finally {
    closeSync(fd);
  }
}

function healthy(tree: DiskTree, dir: string): boolean {
  const disk = join(dir, 'disk');
  return existsSync(disk) && backingOf(disk) === sharedBase(tree) && existsSync(join(dir, 'disk.info')) && existsSync(join(dir, 'console.log'));
}

/** Nova's own files at the root: the lock dir with the storage registry's lock, and the registry. */
function makeSkeleton(tree: DiskTree, env: DiskEnv): void {
  mkdirSync(tree.base, { recursive: true });
  mkdirSync(join(tree.root, 'locks'), { recursive: true });
  writeFileSync(join(tree.root, 'locks', 'nova-storage-registry-lock'), '');
  // {hostname: time.time()}, rewritten by nova's image cache manager on every run.
  writeFileSync(join(tree.root, 'compute_nodes'), `{${JSON.stringify(env.host ?? `${env.prefix}-node1`)}: ${Date.now() / 1000}}`);
}

function pick(env: DiskEnv, index?: number): DiskEnv['instances'][number] {
  const i = index === undefined ? env.instances[0] : env.instances.find((x) => x.index === index);
  if (!i) throw new Error(index === undefined ? `lab ${env.prefix} has no instances` : `lab ${env.prefix} has no instance ${index}`);
  return i;
}

// ---- API --------------------------------------------------------------------------------------

/** Build the healthy tree: one shared base image, one dir per lab instance. */
export function disksUp(env: DiskEnv): DiskTree {
  const root = join(env.dir, 'instances');
  checkRoot(root);
  if (existsSync(root)) throw new Error(`${root} already exists (diskHeal restores it, disksDown removes it)`);
  const tree: DiskTree = { root, base: join(root, '_base') };
  try {
    makeSkeleton(tree, env);
    const base = makeBase(tree, IMAGE_ID);
    for (const i of env.instances) makeInstanceDir(instanceDir(tree, i.uuid), base);
  } catch (err) {
    disksDown(tree);
    throw err;
  }
  return tree;
}

/**
 * Add one leftover; returns the path created (or, for missing-backing, the disk affected).
 * `index` is a lab instance's index (default: the first instance), except for orphan-disk where
 * it numbers the migrated-away instance (default: the first one without a dir yet).
 * Faults are independent files: several may coexist; diskHeal removes them all.
 */
export function diskFault(tree: DiskTree, env: DiskEnv, fault: DiskFault, index?: number): string {
  checkRoot(tree.root);
  switch (fault) {
    case 'orphan-disk': {
      // A full instance dir for a UUID this node does not host: the source side of a migration
      // whose cleanup never ran. Its UUIDs come from their own namespace, so addInstance can
      // never turn an orphan into a lab instance.
      const dirOf = (n: number) => instanceDir(tree, nameUuid(`migrated-away/${n}`));
      let n = index ?? 1;
      if (index === undefined) while (existsSync(dirOf(n))) n++;
      const dir = dirOf(n);
      makeInstanceDir(dir, sharedBase(tree));
      return dir;
    }
    case 'resize-leftover':
    case 'del-leftover': {
      // Nova renames <uuid> to <uuid>_resize (resize/cold migration, removed on confirm) or
      // <uuid>_del (delete, then rmtree), so the leftover holds the instance's files as they were,
      // disk.info still naming <uuid>/disk. Copied rather than renamed: the instance stays hosted.
      const i = pick(env, index);
      const dir = `${instanceDir(tree, i.uuid)}${fault === 'resize-leftover' ? '_resize' : '_del'}`;
      cpSync(instanceDir(tree, i.uuid), dir, { recursive: true });
      return dir;
    }
    case 'missing-backing': {
      // The instance's disk is rebuilt on an image of its own, whose cache file then goes away;
      // the shared base, and every other disk, stay valid.
      const i = pick(env, index);
      const imageId = nameUuid(`image/gone/${i.index}`);
      const base = makeBase(tree, imageId);
      makeInstanceDir(instanceDir(tree, i.uuid), base);
      rmSync(base);
      return join(instanceDir(tree, i.uuid), 'disk');
    }
    default:
      throw new Error(`unknown disk fault ${JSON.stringify(fault)} (want ${DISK_FAULTS.join(', ')})`);
  }
}

/**
 * Back to the healthy tree, judged from the files themselves (so it also works on a tree another
 * process faulted): anything that is not a lab instance, the shared base or nova's own files goes;
 * an instance dir that is incomplete or not backed by the shared base is rebuilt, and a lab
 * instance without a dir (e.g. after addInstance) gets one.
 */
export function diskHeal(tree: DiskTree, env: DiskEnv): void {
  checkRoot(tree.root);
  const base = sharedBase(tree);
  makeSkeleton(tree, env);
  const keep = new Set(['_base', 'locks', 'compute_nodes', ...env.instances.map((i) => i.uuid)]);
  for (const name of readdirSync(tree.root)) if (!keep.has(name)) rmSync(join(tree.root, name), { recursive: true, force: true });
  for (const name of readdirSync(tree.base)) if (join(tree.base, name) !== base) rmSync(join(tree.base, name), { recursive: true, force: true });
  const locks = new Set(['nova-storage-registry-lock', `nova-${cacheName(IMAGE_ID)}`]);
  for (const name of readdirSync(join(tree.root, 'locks'))) if (!locks.has(name)) rmSync(join(tree.root, 'locks', name), { force: true });
  if (!existsSync(base)) makeBase(tree, IMAGE_ID);
  for (const i of env.instances) {
    const dir = instanceDir(tree, i.uuid);
    if (!healthy(tree, dir)) makeInstanceDir(dir, base);
  }
}

/** Remove the whole tree. Idempotent. */
export function disksDown(tree: DiskTree): void {
  checkRoot(tree.root);
  rmSync(tree.root, { recursive: true, force: true });
}

/** A new lab instance's dir (addInstance), on the shared base; the tree's faults are left alone. */
export function diskAddInstance(tree: DiskTree, uuid: string): void {
  checkRoot(tree.root);
  makeInstanceDir(instanceDir(tree, uuid), sharedBase(tree));
}

/**
 * A lab-shaped env with `n` instances and a fresh /tmp/lmpXXXX of its own, without namespaces:
 * enough for a disk tree and a test-driver libvirt node (libvirt.ts writeLibvirtNode). The
 * caller removes env.dir (after disksDown) when done.
 */
export function bareDiskEnv(n: number): DiskEnv & { instances: LabInstance[] } {
  for (;;) {
    const prefix = uniquePrefix();
    try {
      mkdirSync(labDir(prefix)); // fails if another lab has this prefix
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw err;
    }
    const instances = Array.from({ length: n }, (_, k) => ({ ...identity(k + 1), ns: '', fault: null }));
    return { prefix, dir: labDir(prefix), instances };
  }
}
