/**
 * One run of a probe at a time per node. The lock is a file holding the owner's pid, created
 * with O_EXCL; a lock whose pid is gone (crash, kill -9) is stale and taken over.
 */
import { mkdirSync, openSync, writeSync, closeSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

export type LockResult = { acquired: true; release: () => void } | { acquired: false; pid: number };

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

export function acquireLock(dir: string, name: string): LockResult {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.lock`);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return {
        acquired: true,
        release: () => {
          try {
            if (Number(readFileSync(path, 'utf8').trim()) === process.pid) unlinkSync(path);
          } catch { /* already gone */ }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let pid = NaN;
    try {
      pid = Number(readFileSync(path, 'utf8').trim());
    } catch { /* removed meanwhile: retry */ }
    if (alive(pid) && pid !== process.pid) return { acquired: false, pid };
    try { unlinkSync(path); } catch { /* another taker won the race */ }
  }
  return { acquired: false, pid: NaN };
}
