/**
 * The reaper's quarantine: `<instances_path>/_lm-probe-quarantine/<YYYY-MM-DD>/<entry>`, on the
 * same file system as the entries, so moving one in (or back) is a rename: instant, atomic and
 * reversible. Every move is one JSON line in `journal.jsonl` there.
 */
import { appendFile, lstat, mkdir, readdir, readFile, realpath, rename, rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { underRoot } from '../../src/host/qcow2.js';
import { QUARANTINE_DIR } from './verdict.js';

export interface JournalRecord {
  time: string;
  action: 'quarantine' | 'restore' | 'purge';
  /** Host paths: where the entry was, and where it went (purge: nothing). */
  from: string;
  to?: string;
  bytes: number;
  why: string;
}

export class Quarantine {
  /** Host path of the quarantine dir. */
  readonly dir: string;
  readonly instancesPath: string;
  constructor(instancesPath: string, readonly root: string) {
    this.instancesPath = resolve(instancesPath); // no trailing slash: compared with dirname() below
    this.dir = join(this.instancesPath, QUARANTINE_DIR);
  }

  private fs(hostPath: string): string {
    return underRoot(this.root, hostPath);
  }

  async journal(): Promise<JournalRecord[]> {
    const text = await readFile(this.fs(join(this.dir, 'journal.jsonl')), 'utf8').catch(() => '');
    return text.split('\n').filter(Boolean).flatMap((l) => {
      try {
        return [JSON.parse(l) as JournalRecord];
      } catch {
        return []; // a torn last line (a crash mid-append) is not worth failing for
      }
    });
  }

  async record(r: Omit<JournalRecord, 'time'>, now = new Date()): Promise<void> {
    await mkdir(this.fs(this.dir), { recursive: true });
    await appendFile(this.fs(join(this.dir, 'journal.jsonl')), `${JSON.stringify({ time: now.toISOString(), ...r })}\n`);
  }

  /** Move an entry of the instances path in; returns where it went (a host path). */
  async moveIn(name: string, bytes: number, why: string, now = new Date()): Promise<string> {
    const day = join(this.dir, now.toISOString().slice(0, 10));
    await mkdir(this.fs(day), { recursive: true });
    let to = join(day, name);
    if (await exists(this.fs(to))) to = `${to}.${Math.floor(now.getTime() / 1000)}`; // the same dir quarantined twice a day
    const from = join(this.instancesPath, name);
    await rename(this.fs(from), this.fs(to)); // same file system: never a copy
    await this.record({ action: 'quarantine', from, to, bytes, why }, now);
    return to;
  }

  /** Quarantined entries (host paths) with the time they came in (journal; else their day dir). */
  async entries(): Promise<{ path: string; since: number; from?: string }[]> {
    const records = await this.journal();
    const out: { path: string; since: number; from?: string }[] = [];
    const days = await readdir(this.fs(this.dir)).catch(() => [] as string[]);
    for (const day of days.filter((d) => /^\d{4}-\d{2}-\d{2}$/.test(d)).sort()) {
      for (const name of (await readdir(this.fs(join(this.dir, day)))).sort()) {
        const path = join(this.dir, day, name);
        const rec = records.filter((r) => r.action === 'quarantine' && r.to === path).pop();
        out.push({ path, since: rec ? Date.parse(rec.time) / 1000 : Date.parse(`${day}T00:00:00Z`) / 1000, ...(rec ? { from: rec.from } : {}) });
      }
    }
    return out;
  }

  /** A quarantined entry named as `<day>/<name>`, `<name>` (the latest) or its full path. */
  async find(spec: string): Promise<{ path: string; since: number; from?: string } | undefined> {
    const all = await this.entries();
    const wanted = isAbsolute(spec) ? spec : spec.includes('/') ? join(this.dir, spec) : undefined;
    return wanted ? all.find((e) => e.path === wanted) : all.filter((e) => basename(e.path) === spec).pop();
  }

  /** Is this host path a real entry inside the quarantine (no symlink anywhere on the way)? */
  async contains(hostPath: string): Promise<boolean> {
    const rel = relative(this.dir, hostPath);
    if (!rel || rel.startsWith('..') || rel.split('/').length !== 2) return false;
    const real = await realpath(this.fs(hostPath)).catch(() => '');
    const realDir = await realpath(this.fs(this.dir)).catch(() => '');
    return !!real && real === join(realDir, rel) && !(await lstat(this.fs(hostPath))).isSymbolicLink();
  }

  /** Move a quarantined entry back where it was. */
  async moveBack(e: { path: string; from?: string }, bytes: number): Promise<string> {
    const to = e.from ?? join(this.instancesPath, basename(e.path).replace(/\.\d+$/, ''));
    if (dirname(to) !== this.instancesPath) throw new Error(`journal names ${to}, not an entry of ${this.instancesPath}`);
    if (await exists(this.fs(to))) throw new Error(`${to} exists`);
    await rename(this.fs(e.path), this.fs(to));
    await this.record({ action: 'restore', from: e.path, to, bytes, why: 'restored on request' });
    return to;
  }

  async remove(path: string, bytes: number, why: string): Promise<void> {
    await rm(this.fs(path), { recursive: true });
    await this.record({ action: 'purge', from: path, bytes, why });
  }
}

const exists = (p: string) => lstat(p).then(() => true, () => false);
