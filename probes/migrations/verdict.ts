/**
 * The verdict of migrations, as pure functions: live migration jobs on this node (libvirt's
 * job statistics, with samples kept between runs to see convergence), and Nova's view (servers
 * stuck in a migration or resize state, failed migrations). Every finding names the remedy.
 */
import type { NovaMigration } from '../../src/inventory/openstack/lookups.js';
import type { Instance } from '../../src/inventory/types.js';
import { Status, worst, type Finding as InstanceFinding, type Perf, type ProbeOutcome } from '../../src/result.js';

/** One look at an outgoing migration job (from `domjobinfo --rawstats`). */
export interface JobSample {
  /** When it was taken, epoch s. */
  t: number;
  elapsedMs: number;
  /** Bytes of memory still to send, and in all. */
  remaining: number;
  total: number;
  processed: number;
  iteration: number;
  /** Pages/s, bytes/s, when libvirt says. */
  dirtyRate?: number;
  bps?: number;
  postcopy?: boolean;
}

/** Samples by domain UUID, oldest first: this probe's state between runs. */
export type Samples = Record<string, JobSample[]>;

/**
 * The samples after this run: each job's new sample appended, at most `keep` kept; a job whose
 * elapsed time went back is a new job (its old samples go); domains without a job are dropped.
 */
export function updateSamples(previous: Samples, now: Map<string, JobSample>, keep: number): Samples {
  const out: Samples = {};
  for (const [uuid, s] of now) {
    const old = (previous[uuid] ?? []).filter((p) => p.elapsedMs < s.elapsedMs && p.t < s.t);
    out[uuid] = [...old, s].slice(-Math.max(1, keep));
  }
  return out;
}

export interface JobOptions {
  maxDurationS: number;
  maxIterations: number;
  /** Samples that must show no progress before a job is said not to converge. */
  samples: number;
}

export interface JobView {
  uuid: string;
  name?: string;
  displayName?: string;
  samples: JobSample[];
  /** Nova's record of it (GET /servers/{id}/migrations), when looked up. */
  nova?: NovaMigration;
}

export type Kind = 'slow' | 'stalled' | 'stuck' | 'failed' | 'active';
export interface Finding {
  kind: Kind;
  status: Status;
  line: string;
  /** The instance, and a key that holds across runs and nodes (`lm-probe instance`). */
  uuid: string;
  key: string;
}

const MIB = 1024 * 1024;
export const size = (b: number) => (b >= 1024 * MIB ? `${(b / 1024 / MIB).toFixed(1)} GiB` : b >= MIB ? `${(b / MIB).toFixed(1)} MiB` : `${Math.round(b / 1024)} KiB`);
export const duration = (s: number) => (s >= 7200 ? `${(s / 3600).toFixed(1)} h` : s >= 120 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`);
const who = (i: { uuid: string; name?: string; displayName?: string }) => [i.name, i.displayName && `"${i.displayName}"`, `(${i.uuid})`].filter(Boolean).join(' ');

/** Not converging: iterations above the limit, or memory remaining not lower than `samples` runs ago. */
export function converging(all: JobSample[], o: JobOptions): { converging: boolean; why?: string } {
  const samples = all.filter((s) => s.total > 0); // taken while setting up: nothing to compare yet
  const last = samples[samples.length - 1];
  if (!last) return { converging: true };
  if (last.iteration > o.maxIterations) return { converging: false, why: `${last.iteration} memory iterations (max ${o.maxIterations})` };
  if (samples.length >= o.samples && o.samples >= 2) {
    const first = samples[samples.length - o.samples];
    if (last.remaining >= first.remaining) return { converging: false, why: `memory remaining not decreasing over ${o.samples} samples (${size(first.remaining)} → ${size(last.remaining)} in ${duration(last.t - first.t)})` };
  }
  return { converging: true };
}

export function judgeJob(j: JobView, o: JobOptions): Finding {
  const last = j.samples[j.samples.length - 1];
  const elapsedS = last.elapsedMs / 1000;
  const c = converging(j.samples, o);
  const left = last.total > 0 ? Math.round((100 * last.remaining) / last.total) : 0;
  const progress = last.total === 0 ? 'setting up (no memory sent yet)' : [
    `${left}% of memory left (${size(last.remaining)} of ${size(last.total)})`,
    `${size(last.processed)} processed`,
    ...(last.bps ? [`${size(last.bps)}/s`] : []),
    ...(last.dirtyRate !== undefined ? [`dirty rate ${last.dirtyRate} pages/s`] : []),
    `iteration ${last.iteration}`,
  ].join(', ');
  const n = j.nova;
  const nova = n
    ? `; Nova: migration ${n.id} ${n.status} to ${n.dest ?? '?'}${n.memoryRemaining !== undefined ? `, ${size(n.memoryRemaining)} of memory remaining` : ''}${n.diskRemaining ? `, ${size(n.diskRemaining)} of disk remaining` : ''}`
    : '';
  const server = j.uuid;
  const migration = j.nova ? String(j.nova.id) : '<migration>';
  const overtime = elapsedS > o.maxDurationS;
  let status: Status = overtime ? (elapsedS > 2 * o.maxDurationS ? Status.CRITICAL : Status.WARNING) : Status.OK;
  let remedy = '';
  if (!c.converging) {
    status = worst(status, Status.WARNING);
    remedy = last.postcopy
      ? ` — not converging (${c.why}), already in post-copy: let it finish, or nova live-migration-abort ${server} ${migration}`
      : ` — not converging (${c.why}): nova live-migration-force-complete ${server} ${migration} (pauses the guest to finish), or nova live-migration-abort ${server} ${migration}; for good: live_migration_permit_auto_converge or live_migration_permit_post_copy in nova.conf [libvirt]`;
  } else if (overtime) {
    remedy = ` — still converging: wait, or nova live-migration-force-complete ${server} ${migration} to finish now`;
  }
  const kind: Kind = !c.converging ? 'stalled' : overtime ? 'slow' : 'active';
  return { kind, status, uuid: j.uuid, key: `migration-${kind}`, line: `${who(j)}: outgoing live migration for ${duration(elapsedS)} (max ${duration(o.maxDurationS)}), ${progress}${nova}${remedy}` };
}

/** Nova's migration and resize states. */
const MOVING_STATUS = new Set(['MIGRATING', 'RESIZE', 'VERIFY_RESIZE', 'REVERT_RESIZE']);
const MOVING_TASKS = new Set(['migrating', 'resize_prep', 'resize_migrating', 'resize_migrated', 'resize_finish', 'resize_reverting', 'resize_confirming']);

export function movingInNova(i: Instance): boolean {
  return (i.novaStatus !== undefined && MOVING_STATUS.has(i.novaStatus)) || (typeof i.taskState === 'string' && MOVING_TASKS.has(i.taskState));
}

export interface NovaView {
  /** Servers on this node per Nova, with libvirt's side merged in. */
  instances: Instance[];
  /** UUIDs with an active migration job on this node. */
  jobs: Set<string>;
  /** os-migrations of this node within lookback (undefined: not asked). */
  migrations?: NovaMigration[];
  stuckAfterS: number;
  nowS: number;
}

/** What operators do about a server stuck in a migration or resize state. */
function stuckRemedy(i: Instance, v: NovaView, m?: NovaMigration): string {
  const domain = i.sources.includes('libvirt') && i.state !== 'shutoff';
  if (i.novaStatus === 'VERIFY_RESIZE' || i.taskState === null && i.vmState === 'resized') {
    return domain ? `nova resize-confirm ${i.uuid} (or resize-revert)` : `nova resize-revert ${i.uuid}: no domain here, nothing was copied`;
  }
  if (i.novaStatus === 'MIGRATING' || i.taskState === 'migrating') {
    if (v.jobs.has(i.uuid)) return 'the migration job is still running here: see its line';
    if (!domain) return `the domain already runs on ${m?.dest ?? 'the destination'} (Nova did not record the end, e.g. its token expired): set the host to ${m?.dest ?? 'the destination'}, then nova reset-state --active ${i.uuid}`;
    return `never started (no job here): nova reset-state --active ${i.uuid}, then migrate again`;
  }
  return `nova reset-state --active ${i.uuid}, then check the resize (nova migration-list --instance-uuid ${i.uuid})`;
}

export function judgeNova(v: NovaView): Finding[] {
  const out: Finding[] = [];
  const latest = new Map<string, NovaMigration>();
  for (const m of v.migrations ?? []) if (!latest.has(m.instance) || latest.get(m.instance)!.id < m.id) latest.set(m.instance, m);
  for (const i of v.instances) {
    if (!i.sources.includes('openstack') || !movingInNova(i) || !i.novaUpdated) continue;
    const since = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(i.novaUpdated) ? i.novaUpdated : `${i.novaUpdated}Z`);
    if (!Number.isFinite(since)) continue;
    const forS = v.nowS - since / 1000;
    if (forS <= v.stuckAfterS) continue;
    const status = forS > 2 * v.stuckAfterS ? Status.CRITICAL : Status.WARNING;
    const m = latest.get(i.uuid);
    const state = `${i.novaStatus ?? '?'}${i.taskState ? `/${i.taskState}` : ''}`;
    const mig = m ? ` (migration ${m.id} ${m.type ?? ''} ${m.source ?? '?'} → ${m.dest ?? '?'}, ${m.status})`.replace('  ', ' ') : '';
    out.push({ kind: 'stuck', status, uuid: i.uuid, key: `stuck-in-nova ${state}`, line: `${who(i)}: ${state} in Nova for ${duration(forS)} (stuck after ${duration(v.stuckAfterS)})${mig}: ${stuckRemedy(i, v, m)}` });
  }
  for (const m of v.migrations ?? []) {
    if (!['error', 'failed'].includes(m.status)) continue;
    const i = v.instances.find((x) => x.uuid === m.instance);
    const name = i ? who(i) : m.instance;
    out.push({ kind: 'failed', status: Status.WARNING, uuid: m.instance, key: `migration-failed ${m.id}`, line: `${name}: ${m.type ?? 'migration'} ${m.id} from ${m.source ?? '?'} to ${m.dest ?? '?'} ${m.status} at ${m.updated ?? m.created ?? '?'} (nova migration-list --instance-uuid ${m.instance}; check the instance runs where Nova says)` });
  }
  return out;
}

export interface VerdictInput {
  jobs: Finding[];
  nova: Finding[];
  /** Why a side was not checked ("no OpenStack source", "job statistics not supported ..."). */
  notChecked: string[];
  longestS: number;
}

const rank = (f: Finding) => (f.status === Status.CRITICAL ? 0 : f.status === Status.WARNING ? 1 : 2);

export function verdict(v: VerdictInput): ProbeOutcome {
  const all = [...v.jobs, ...v.nova].sort((a, b) => rank(a) - rank(b));
  const n = (k: Kind) => all.filter((f) => f.kind === k).length;
  const active = v.jobs.length;
  const parts = [
    [n('stalled'), 'not converging'],
    [n('slow'), `over max_duration`],
    [n('stuck'), 'stuck in Nova'],
    [n('failed'), 'failed in Nova'],
  ].filter(([c]) => Number(c) > 0).map(([c, what]) => `${c} ${what}`);
  let summary = `${active} active migration${active === 1 ? '' : 's'}${active ? ` (longest ${duration(v.longestS)})` : ''}`;
  if (parts.length) summary += `: ${parts.join(', ')}`;
  if (v.notChecked.length) summary += `; ${v.notChecked.join('; ')}`;
  const perfdata: Perf[] = [
    { label: 'active', value: active, min: 0 },
    { label: 'longest', value: Math.round(v.longestS), uom: 's', min: 0 },
    { label: 'not_converging', value: n('stalled'), min: 0 },
    { label: 'stuck', value: n('stuck'), min: 0 },
    { label: 'failed', value: n('failed'), min: 0 },
  ];
  const findings = all.map((f): InstanceFinding => ({ instance: f.uuid, key: f.key, status: f.status, text: f.line }));
  return { status: worst(...all.map((f) => f.status)), summary, details: all.map((f) => f.line), findings, perfdata };
}
