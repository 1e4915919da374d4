/**
 * Which files some process holds open: one pass over /proc/<pid>/fd/* (readlink each), in-process.
 * A qemu process holds its disks open this way; so does anything copying or reading them.
 */
import { readdir, readlink, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface OpenFiles {
  /** Path -> the first process seen holding it: "pid 1234 (qemu-system-x86)". */
  holders: Map<string, string>;
  /** Processes whose fds could not be read (EACCES: not root). */
  unreadable: number;
}

const DELETED = ' (deleted)';

/** Scan every process once. `proc` is where /proc is mounted (the probe's root + /proc). */
export async function scanOpenFiles(proc = '/proc'): Promise<OpenFiles> {
  const holders = new Map<string, string>();
  let unreadable = 0;
  const pids = (await readdir(proc)).filter((n) => /^\d+$/.test(n));
  await Promise.all(
    pids.map(async (pid) => {
      let fds: string[];
      try {
        fds = await readdir(join(proc, pid, 'fd'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') unreadable++; // ENOENT: it exited meanwhile
        return;
      }
      const comm = (await readFile(join(proc, pid, 'comm'), 'utf8').catch(() => '?')).trim();
      for (const fd of fds) {
        const target = await readlink(join(proc, pid, 'fd', fd)).catch(() => '');
        if (!target.startsWith('/')) continue; // socket:[..], pipe:[..], anon_inode:...
        const path = target.endsWith(DELETED) ? target.slice(0, -DELETED.length) : target;
        if (!holders.has(path)) holders.set(path, `pid ${pid} (${comm})`);
      }
    }),
  );
  return { holders, unreadable };
}

/** The first open file at or below `dir` and who holds it, or undefined. Pure. */
export function heldUnder(open: OpenFiles, dir: string): { path: string; holder: string } | undefined {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  for (const [path, holder] of open.holders) if (path === dir || path.startsWith(prefix)) return { path, holder };
  return undefined;
}
