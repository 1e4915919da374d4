/** Small file helpers: results and state are written atomically (temp file + fsync + rename). */
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Write a file so a reader sees either the old content or the new, never a torn one. */
export async function writeFileAtomic(path: string, data: string, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await makeDir(dir);
  // Unique per call: two writers in one process (a daemon) never share a temp file.
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`);
  try {
    const fh = await open(tmp, 'w', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/**
 * mkdir -p that reports the real reason: Node's recursive mkdir says ENOENT on a read-only
 * file system; the first level that cannot be made tells EROFS (or ENOSPC, EACCES).
 */
export async function makeDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const missing: string[] = [];
    let at = dir;
    while (!(await stat(at).then(() => true, () => false)) && dirname(at) !== at) {
      missing.unshift(at);
      at = dirname(at);
    }
    for (const level of missing) await mkdir(level); // throws the true error
    throw err;
  }
}

/** Read a JSON file, or return the fallback when it is missing or unreadable. */
export async function readJsonOr<T>(path: string, fallback: T): Promise<T> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return fallback;
  }
}

/** The synchronous form, for the rare writes off the repeated paths (the Keystone token cache). */
export function writeFileAtomicSync(path: string, data: string, mode = 0o644): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`);
  try {
    const fd = openSync(tmp, 'w', mode);
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* nothing to clean */ }
    throw err;
  }
}
