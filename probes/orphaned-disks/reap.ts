/**
 * `lm-probe reap-disks`: the orphaned-disks probe's opt-in reaper. Never deletes by default:
 *   (no flag)         dry run: what it would move to the quarantine, why, and the space
 *   --apply           move each provable orphan/leftover into the quarantine (a rename), journaled
 *   --purge           delete quarantined entries older than quarantine_days
 *   --restore <entry> move one quarantined entry back
 * Every action is logged on stderr and in the journal. Exit codes: 0 nothing to do or all done,
 * 1 something skipped (a guard refused), 2 an action failed, 3 could not run at all.
 */
import { basename } from 'node:path';
import { oneLine } from '../../src/errors.js';
import { loadConfig, type Config, type ProbeOptionsSpec } from '../../src/config.js';
import { heldUnder, scanOpenFiles } from '../../src/host/open-files.js';
import { underRoot } from '../../src/host/qcow2.js';
import { gatherInventory } from '../../src/inventory/index.js';
import { acquireLock } from '../../src/lock.js';
import { Logger } from '../../src/log.js';
import { guardPresence, Presence } from '../../src/presence.js';
import { StateStore } from '../../src/state.js';
import { checkGuards, type GuardContext } from './guards.js';
import { scanInstancesPath, type Options } from './index.js';
import { Quarantine } from './quarantine.js';
import { readEntry } from './tree.js';
import { formatAge, formatBytes, hostedView, isReclaimable } from './verdict.js';

export interface ReapFlags {
  config?: string;
  debug?: boolean;
  quiet?: boolean;
  apply?: boolean;
  purge?: boolean;
  restore?: string;
}

export interface ReapOutput { text: string; code: number }

const NAME = 'orphaned-disks'; // the probe's lock: reaper and probe never overlap
const WORD = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'];

/** Lines and exit code of one reaper run. */
class Report {
  lines: string[] = [];
  code = 0;
  constructor(private log: Logger) {}
  did(line: string): void { this.lines.push(line); this.log.info(line); }
  skipped(line: string): void { this.lines.push(line); this.log.warn(line); this.code = Math.max(this.code, 1); }
  failed(line: string): void { this.lines.push(line); this.log.error(line); this.code = 2; }
  out(summary: string): ReapOutput { return { text: [`REAP-DISKS ${WORD[this.code]} - ${summary}`, ...this.lines].join('\n') + '\n', code: this.code }; }
}

const fail = (why: string): ReapOutput => ({ text: `REAP-DISKS UNKNOWN - ${why}\n`, code: 3 });

export async function reapDisks(flags: ReapFlags, registry: readonly ProbeOptionsSpec[]): Promise<ReapOutput> {
  const modes = [flags.apply, flags.purge, flags.restore !== undefined].filter(Boolean).length;
  if (modes > 1) return fail('usage: --apply, --purge and --restore go one at a time');
  let config: Config;
  try {
    config = loadConfig(flags.config, registry);
  } catch (err) {
    return fail(oneLine(err, 400));
  }
  const log = new Logger({ debug: flags.debug, quiet: flags.quiet });
  const o = config.probes[NAME] as unknown as Options;
  let lock;
  try {
    lock = await acquireLock(config.lock_dir, NAME);
  } catch (err) {
    return fail(`cannot take lock in ${config.lock_dir}: ${oneLine(err)}`);
  }
  if (!lock.acquired) return fail(`already running (pid ${lock.pid}): the orphaned-disks probe or another reaper`);
  try {
    const q = new Quarantine(o.instances_path, o.root);
    if (flags.restore !== undefined) return await restore(q, flags.restore, log);
    if (flags.purge) return await purge(q, o, log);
    return await reap(config, o, q, !!flags.apply, log);
  } catch (err) {
    return fail(oneLine(err, 400));
  } finally {
    await lock.release();
  }
}

async function openFilesOrError(o: Options): Promise<GuardContext['open']> {
  try {
    return await scanOpenFiles(underRoot(o.root, '/proc'));
  } catch (err) {
    return { error: `cannot scan /proc: ${oneLine(err)}` };
  }
}

/** The shared presence record as the probe last saved it: read, never updated (that is the probe's run). */
async function readPresence(config: Config, log: Logger): Promise<Presence | undefined> {
  const record = await new StateStore(config.state_dir, log).read('presence', guardPresence);
  return record && new Presence(record, Date.now() / 1000);
}

async function reap(config: Config, o: Options, q: Quarantine, apply: boolean, log: Logger): Promise<ReapOutput> {
  const host = config.inventory.openstack.host || config.host;
  const inventory = await gatherInventory(config, { log });
  const presence = await readPresence(config, log);
  const scan = await scanInstancesPath(o, inventory, host, log, { presence });
  const candidates = scan.findings.filter(isReclaimable);
  const r = new Report(log);
  if (!candidates.length) return r.out(`nothing to reap in ${o.instances_path}`);
  const g: GuardContext = {
    instancesPath: o.instances_path, root: o.root, minAgeS: o.min_age, shared: scan.shared, leftRecently: presence?.departed(o.min_age) ?? [],
    view: hostedView(inventory, host), inventory, open: await openFilesOrError(o), nowS: () => Date.now() / 1000,
  };
  let moved = 0;
  let bytes = 0;
  for (const f of candidates) {
    const name = basename(f.path);
    const verdict = await checkGuards(g, name);
    if ('refused' in verdict) {
      r.skipped(`skipped ${f.path}: ${verdict.refused}`);
      continue;
    }
    const e = verdict.entry;
    const what = `${f.path} (${formatBytes(e.bytes)}, ${formatAge(Math.round(g.nowS() - e.newestMtimeS))} old): ${f.kind}: ${f.why}`;
    if (!apply) {
      r.did(`would quarantine ${what}`);
    } else {
      try {
        const to = await q.moveIn(name, e.bytes, `${f.kind}: ${f.why}`);
        r.did(`quarantined ${what} -> ${to}`);
      } catch (err) {
        r.failed(`failed to quarantine ${f.path}: ${oneLine(err)}`);
        continue;
      }
    }
    moved++;
    bytes += e.bytes;
  }
  const skipped = candidates.length - moved;
  const tail = skipped ? `; ${skipped} skipped` : '';
  return apply
    ? r.out(`${moved} of ${candidates.length} entries quarantined in ${q.dir} (${formatBytes(bytes)}, freed by --purge after ${o.quarantine_days} days)${tail}`)
    : r.out(`dry run, nothing changed: ${moved} of ${candidates.length} entries would be quarantined (${formatBytes(bytes)} to free)${tail}; --apply moves them to ${q.dir}`);
}

async function purge(q: Quarantine, o: Options, log: Logger): Promise<ReapOutput> {
  const r = new Report(log);
  const nowS = Date.now() / 1000;
  const old = (await q.entries()).filter((e) => nowS - e.since >= o.quarantine_days * 86_400);
  if (!old.length) return r.out(`nothing in ${q.dir} older than ${o.quarantine_days} days`);
  const open = await openFilesOrError(o);
  let freed = 0;
  let done = 0;
  for (const e of old) {
    if (!(await q.contains(e.path))) {
      r.skipped(`skipped ${e.path}: not a real entry of ${q.dir} (symlink?)`);
      continue;
    }
    if ('error' in open || open.unreadable) {
      r.skipped(`skipped ${e.path}: cannot tell which files are open`);
      continue;
    }
    const held = heldUnder(open, e.path);
    if (held) {
      r.skipped(`skipped ${e.path}: held open by ${held.holder}: ${held.path}`);
      continue;
    }
    const size = (await readEntry(q.dir, o.root, e.path.slice(q.dir.length + 1)))?.bytes ?? 0;
    try {
      await q.remove(e.path, size, `quarantined ${formatAge(Math.round(nowS - e.since))} ago, quarantine_days ${o.quarantine_days}`);
      r.did(`purged ${e.path} (${formatBytes(size)}, quarantined ${formatAge(Math.round(nowS - e.since))} ago)`);
      freed += size;
      done++;
    } catch (err) {
      r.failed(`failed to purge ${e.path}: ${oneLine(err)}`);
    }
  }
  return r.out(`${done} of ${old.length} quarantined entries purged, ${formatBytes(freed)} freed`);
}

async function restore(q: Quarantine, spec: string, log: Logger): Promise<ReapOutput> {
  const r = new Report(log);
  const e = await q.find(spec);
  if (!e) return fail(`no quarantined entry ${spec} in ${q.dir}`);
  if (!(await q.contains(e.path))) return fail(`${e.path} is not a real entry of ${q.dir} (symlink?)`);
  const size = (await readEntry(q.dir, q.root, e.path.slice(q.dir.length + 1)))?.bytes ?? 0;
  try {
    const to = await q.moveBack(e, size);
    r.did(`restored ${e.path} -> ${to}`);
    return r.out(`restored ${to}`);
  } catch (err) {
    r.failed(`failed to restore ${e.path}: ${oneLine(err)}`);
    return r.out(`restore of ${e.path} failed`);
  }
}
