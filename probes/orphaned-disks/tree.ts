/**
 * Reads Nova's instances path in-process: one listing of it, an lstat of each entry, and inside
 * each directory a listing and an lstat per file (instance dirs are flat: disk, disk.info,
 * console.log...). No process per instance. Symlinks are never followed.
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { underRoot } from '../../src/host/qcow2.js';

export interface TreeEntry {
  name: string;
  /** Path on the host (what the operator sees; the probe reads it under its root). */
  path: string;
  type: 'dir' | 'file' | 'symlink' | 'other';
  /** Allocated bytes (st_blocks * 512), everything below included. */
  bytes: number;
  /** Newest mtime of the entry and everything below it, epoch s. */
  newestMtimeS: number;
  /** Regular files directly inside a directory entry (its disks are among them). */
  files: string[];
}

const typeOf = (s: { isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean }): TreeEntry['type'] =>
  s.isDirectory() ? 'dir' : s.isFile() ? 'file' : s.isSymbolicLink() ? 'symlink' : 'other';

/** Size and newest mtime of a directory, lstat-ing what is below it (bounded depth: no loops). */
async function measureDir(fsPath: string, depth = 0): Promise<{ bytes: number; newest: number; files: string[] }> {
  let bytes = 0;
  let newest = 0;
  const files: string[] = [];
  const names = await readdir(fsPath).catch(() => [] as string[]); // vanished or unreadable: counted as empty
  for (const name of names) {
    const s = await lstat(join(fsPath, name)).catch(() => undefined);
    if (!s) continue;
    bytes += s.blocks * 512;
    newest = Math.max(newest, s.mtimeMs / 1000);
    if (s.isFile()) files.push(name);
    else if (s.isDirectory() && depth < 4) {
      const sub = await measureDir(join(fsPath, name), depth + 1);
      bytes += sub.bytes;
      newest = Math.max(newest, sub.newest);
    }
  }
  return { bytes, newest, files };
}

/** One entry of the instances path (undefined: gone since the listing); dirs measured unless `shallow`. */
export async function readEntry(instancesPath: string, root: string, name: string, shallow = false): Promise<TreeEntry | undefined> {
  const fsPath = join(underRoot(root, instancesPath), name);
  const s = await lstat(fsPath).catch(() => undefined);
  if (!s) return undefined;
  const entry: TreeEntry = { name, path: join(instancesPath, name), type: typeOf(s), bytes: s.blocks * 512, newestMtimeS: s.mtimeMs / 1000, files: [] };
  if (entry.type === 'dir' && !shallow) {
    const inner = await measureDir(fsPath);
    entry.bytes += inner.bytes;
    entry.newestMtimeS = Math.max(entry.newestMtimeS, inner.newest);
    entry.files = inner.files.sort();
  }
  return entry;
}

/**
 * Every entry of the instances path. `shallow` names entries only listed, not measured (Nova's
 * image cache can be large and is not judged). Throws when the path itself cannot be read.
 */
export async function readInstancesTree(instancesPath: string, root: string, shallow: ReadonlySet<string>): Promise<TreeEntry[]> {
  const names = (await readdir(underRoot(root, instancesPath))).sort();
  const entries = await Promise.all(names.map((name) => readEntry(instancesPath, root, name, shallow.has(name))));
  return entries.filter((e): e is TreeEntry => e !== undefined);
}
