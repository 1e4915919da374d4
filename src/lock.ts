/**
 * One run of a probe at a time per node, across processes and within one (a daemon).
 *
 * The lock file holds "<pid> <start time> <nonce>" and is created whole: written to a temp
 * file, then link()ed to its name, which fails if the name exists, so no reader ever sees a
 * half-written lock. A holder is alive only if that pid exists AND started at that time (a pid
 * reused by another process does not hold the lock; a bare "1" is not a lock). A stale lock is
 * broken under a second, short-lived lock (`.break`), re-checked there, so two processes that
 * both found it stale cannot both take it. Within one process the nonce tells this run's lock
 * from another run's.
 */
import { link, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { makeDir } from './fsutil.js';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type LockResult =
  | { acquired: true; release: () => Promise<void> }
  | { acquired: false; pid: number };

interface Token { pid: number; start: string; nonce: string }

/** Locks this process holds now, by path -> nonce. */
const held = new Map<string, string>();
/** A .break lock older than this was left by a process that died while breaking: ignore it. */
const BREAK_STALE_MS = 10_000;

/** Field 22 of /proc/<pid>/stat: the process's start time in clock ticks since boot. */
export function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function parseToken(text: string): Token | undefined {
  const m = /^(\d+) (\d+) ([0-9a-f]+)\n?$/.exec(text);
  return m ? { pid: Number(m[1]), start: m[2], nonce: m[3] } : undefined;
}

/** Does the process that wrote this lock still run (and, if it is this one, does it still hold it)? */
function holderAlive(t: Token | undefined, path: string): boolean {
  if (!t || t.pid <= 0) return false;
  if (t.pid === process.pid) return held.get(path) === t.nonce;
  return startTime(t.pid) === t.start;
}

const readOr = (path: string) => readFile(path, 'utf8').catch(() => undefined);

async function linkNew(path: string, content: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, { mode: 0o644 });
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/** Remove the lock at path if it still holds exactly `stale`; under the .break lock. */
async function breakStale(path: string, stale: string): Promise<void> {
  const breaker = `${path}.break`;
  if (!(await linkNew(breaker, `${process.pid}\n`))) {
    const age = await stat(breaker).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > BREAK_STALE_MS) await unlink(breaker).catch(() => {});
    return; // someone else is breaking it; the caller tries again
  }
  try {
    if ((await readOr(path)) === stale) await unlink(path).catch(() => {});
  } finally {
    await unlink(breaker).catch(() => {});
  }
}

export async function acquireLock(dir: string, name: string): Promise<LockResult> {
  await makeDir(dir);
  const path = join(dir, `${name}.lock`);
  const nonce = randomBytes(8).toString('hex');
  const mine = `${process.pid} ${startTime(process.pid) ?? '0'} ${nonce}\n`;
  for (let attempt = 0; attempt < 20; attempt++) {
    if (await linkNew(path, mine)) {
      held.set(path, nonce);
      return {
        acquired: true,
        release: async () => {
          if (held.get(path) !== nonce) return;
          held.delete(path);
          if ((await readOr(path)) === mine) await unlink(path).catch(() => {});
        },
      };
    }
    const current = await readOr(path);
    if (current === undefined) continue; // released meanwhile
    const token = parseToken(current);
    if (holderAlive(token, path)) return { acquired: false, pid: token!.pid };
    await breakStale(path, current);
    if (attempt > 2) await new Promise((r) => setTimeout(r, 5 + attempt * 5));
  }
  throw new Error(`lock ${path} could not be taken (contended)`);
}
