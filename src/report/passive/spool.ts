/**
 * Results a channel could not deliver, kept until it can: <state_dir>/spool/<channel>/, one
 * JSON file per result, written atomically, named so that the directory order is the check
 * order. Plus `backoff.json`: how many runs in a row the channel failed and when to try next.
 *
 * Bounded: results older than spool.max_age, and the oldest beyond spool.max_entries, are
 * dropped, and `prune` says so. Nothing here sends: the passive reporter decides.
 */
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic, readJsonOr } from '../../fsutil.js';
import type { PassiveResult } from './message.js';

export interface SpoolEntry { file: string; result: PassiveResult }
export interface Backoff { failures: number; nextAt: number; lastError: string; since: number }
export interface SpoolLimits { max_entries: number; max_age: number; backoff_max: number }

const NO_BACKOFF: Backoff = { failures: 0, nextAt: 0, lastError: '', since: 0 };
const isEntryName = (f: string) => /^\d{13}-\d+-\d+\.json$/.test(f);
let seq = 0;

export class Spool {
  /** Files that held no result (left in place for a human to look at). */
  readonly broken: string[] = [];

  constructor(readonly dir: string, private readonly limits: SpoolLimits) {}

  /** Whether any result waits (the directory alone, no file read). */
  async any(): Promise<boolean> {
    return (await readdir(this.dir).catch(() => [] as string[])).some(isEntryName);
  }

  /** Waiting results, oldest check first; unreadable files are skipped (and named by `broken`). */
  async entries(): Promise<SpoolEntry[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter(isEntryName).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: SpoolEntry[] = [];
    for (const name of names) {
      const file = join(this.dir, name);
      try {
        const result = JSON.parse(await readFile(file, 'utf8')) as PassiveResult;
        if (typeof result?.service === 'string' && typeof result.checkedAt === 'number') out.push({ file, result });
        else this.broken.push(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.broken.push(file);
      }
    }
    return out;
  }

  async add(r: PassiveResult): Promise<string> {
    const file = join(this.dir, `${String(r.checkedAt).padStart(13, '0')}-${process.pid}-${seq++}.json`);
    await writeFileAtomic(file, `${JSON.stringify(r)}\n`, 0o600);
    return file;
  }

  async remove(e: SpoolEntry): Promise<void> {
    await unlink(e.file).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
  }

  /** Drop what is over the bounds; returns one line per reason, for the trace and --json. */
  async prune(entries: SpoolEntry[], now = Date.now()): Promise<{ kept: SpoolEntry[]; dropped: string[] }> {
    const tooOld = entries.filter((e) => now - e.result.checkedAt > this.limits.max_age * 1000);
    let kept = entries.filter((e) => !tooOld.includes(e));
    const overflow = kept.slice(0, Math.max(0, kept.length - this.limits.max_entries));
    kept = kept.slice(overflow.length);
    for (const e of [...tooOld, ...overflow]) await this.remove(e);
    const dropped: string[] = [];
    if (tooOld.length) dropped.push(`dropped ${tooOld.length} result(s) older than spool.max_age ${this.limits.max_age}s (${describe(tooOld)})`);
    if (overflow.length) dropped.push(`dropped the ${overflow.length} oldest result(s) over spool.max_entries ${this.limits.max_entries} (${describe(overflow)})`);
    return { kept, dropped };
  }

  async backoff(): Promise<Backoff> {
    return readJsonOr<Backoff>(join(this.dir, 'backoff.json'), NO_BACKOFF);
  }

  /** One more failed run: the next try waits 0 (next run), then 1, 2, 4... minutes, up to backoff_max. */
  async failed(reason: string, now = Date.now()): Promise<Backoff> {
    const b = await this.backoff();
    const failures = b.failures + 1;
    const waitS = failures <= 1 ? 0 : Math.min(this.limits.backoff_max, 60 * 2 ** (failures - 2));
    const next: Backoff = { failures, nextAt: now + waitS * 1000, lastError: reason, since: b.since || now };
    await writeFileAtomic(join(this.dir, 'backoff.json'), `${JSON.stringify(next)}\n`, 0o600);
    return next;
  }

  async succeeded(): Promise<void> {
    await unlink(join(this.dir, 'backoff.json')).catch(() => {});
  }
}

/** "3 of instance-routed, 1 of ovs-ports" */
export function describe(entries: SpoolEntry[]): string {
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(e.result.service, (counts.get(e.result.service) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${n} of ${s}`).join(', ');
}
