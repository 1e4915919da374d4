/**
 * What the instances path says, judged against what is hosted here: pure functions, unit-tested.
 * Names: `<uuid>` an instance dir, `<uuid>_resize` a resize/cold-migration source kept until it
 * is confirmed, `<uuid>_del` a delete that did not finish; `_base`, `locks`, `compute_nodes`,
 * `snapshots` are Nova's own; anything else is listed, not judged.
 */
import { isUuid } from '../../src/host/validate.js';
import type { BackingChain } from '../../src/host/qcow2.js';
import type { Instance, Inventory } from '../../src/inventory/types.js';
import { alerts, parseRange, Status, worst, type Finding as InstanceFinding, type Perf, type ProbeOutcome } from '../../src/result.js';
import type { TreeEntry } from './tree.js';

/** Nova's own entries in the instances path: never judged, never touched. */
export const NOVA_OWN: ReadonlySet<string> = new Set(['_base', 'locks', 'compute_nodes', 'snapshots']);
/** The reaper's quarantine, inside the instances path (same file system: a move is a rename). */
export const QUARANTINE_DIR = '_lm-probe-quarantine';

export type EntryClass =
  | { kind: 'nova' }
  | { kind: 'quarantine' }
  | { kind: 'unexpected' }
  | { kind: 'instance' | 'resize' | 'del'; uuid: string };

export function classify(e: Pick<TreeEntry, 'name' | 'type'>): EntryClass {
  if (NOVA_OWN.has(e.name)) return { kind: 'nova' };
  if (e.name === QUARANTINE_DIR) return { kind: 'quarantine' };
  const m = /^(.*?)(_resize|_del)?$/.exec(e.name)!;
  if (e.type !== 'dir' || !isUuid(m[1]) || m[1] !== m[1].toLowerCase()) return { kind: 'unexpected' };
  return { kind: m[2] === '_resize' ? 'resize' : m[2] === '_del' ? 'del' : 'instance', uuid: m[1] };
}

/** What the inventory says about who is hosted here. */
export interface HostedView {
  host: string;
  byUuid: Map<string, Instance>;
  /** libvirt answered: an instance libvirt does not define (only an OVS port left, say) is not hosted. */
  libvirtAnswered: boolean;
}

export function hostedView(inv: Inventory, host: string): HostedView {
  return {
    host,
    byUuid: new Map(inv.instances.map((i) => [i.uuid, i])),
    libvirtAnswered: inv.sources.some((s) => s.source === 'libvirt' && s.state === 'ok'),
  };
}

/** Hosted here: libvirt defines it (any state), or the inventory file or Nova places it here. */
export function isHosted(v: HostedView, uuid: string): boolean {
  const i = v.byUuid.get(uuid);
  if (!i) return false;
  if (i.sources.includes('libvirt') || i.sources.includes('file') || i.sources.includes('cache')) return true;
  if (i.sources.includes('openstack')) return !i.novaHost || i.novaHost === v.host;
  return !v.libvirtAnswered; // seen only by OVS: hosted unless libvirt answered without it
}

export const novaKnows = (i: Instance | undefined): i is Instance => !!i && (i.sources.includes('openstack') || i.novaHost !== undefined || i.vmState !== undefined);
export const novaDeleted = (i: Instance | undefined): boolean => novaKnows(i) && (i.vmState === 'deleted' || i.novaStatus === 'DELETED' || i.novaStatus === 'SOFT_DELETED');

/** One phrase: what Nova says about an instance, as far as the inventory knows. */
export function novaSays(i: Instance | undefined): string {
  if (!novaKnows(i)) return 'not compared with Nova';
  if (novaDeleted(i)) return 'Nova: instance deleted';
  const state = [i.novaStatus && `status ${i.novaStatus}`, i.taskState && `task_state ${i.taskState}`].filter(Boolean).join(', ');
  return `Nova: instance on ${i.novaHost ?? 'an unknown host'}${state ? ` (${state})` : ''}`;
}

/** Nova is resizing or cold-migrating it, or waits for the resize to be confirmed: `_resize` is legitimate. */
export const resizeInProgress = (i: Instance | undefined): boolean =>
  !!i && (i.vmState === 'resized' || i.novaStatus === 'VERIFY_RESIZE' || /^resize/.test(i.taskState ?? ''));

export type FindingKind = 'missing-backing' | 'unreadable' | 'orphan' | 'leftover' | 'unexpected' | 'not-judged';

export interface Finding {
  kind: FindingKind;
  path: string;
  uuid?: string;
  bytes: number;
  ageS: number;
  /** Younger than min_age: a migration or resize may be in flight, WARNING at most. */
  young: boolean;
  /** Why it is a finding, and what Nova says. */
  why: string;
}

/** Orphans and leftovers are what the reaper may take back: their bytes are reclaimable. */
export const isReclaimable = (f: Finding): boolean => f.kind === 'orphan' || f.kind === 'leftover';

export interface TreeJudgement {
  findings: Finding[];
  /** Hosted instance dirs (their disks' chains are checked). */
  hosted: { uuid: string; entry: TreeEntry }[];
  /** Lines for --debug: what was seen and let pass. */
  notes: string[];
}

export interface JudgeOptions {
  shared: boolean;
  minAgeS: number;
  nowS: number;
  /** Instances that left this node less than min_age ago (the shared presence record): uuid -> seconds ago. */
  leftRecently?: Map<string, number>;
}

/** Every entry of the instances path, judged. Pure. */
export function judgeTree(entries: TreeEntry[], v: HostedView, o: JudgeOptions): TreeJudgement {
  const findings: Finding[] = [];
  const hosted: TreeJudgement['hosted'] = [];
  const notes: string[] = [];
  const base = (e: TreeEntry, kind: FindingKind, why: string, uuid?: string): Finding => {
    const ageS = Math.max(0, Math.round(o.nowS - e.newestMtimeS));
    // Files can be old while the instance only just left (a cold migration): the departure counts too.
    const left = uuid === undefined ? undefined : o.leftRecently?.get(uuid);
    const young = ageS < o.minAgeS || left !== undefined;
    return { kind, path: e.path, ...(uuid ? { uuid } : {}), bytes: e.bytes, ageS, young, why: left === undefined ? why : `${why}; the instance left this node ${formatAge(left)} ago` };
  };
  for (const e of entries) {
    const c = classify(e);
    if (c.kind === 'nova') continue;
    if (c.kind === 'quarantine') {
      notes.push(`${e.path}: the reaper's quarantine (${e.bytes} bytes), not judged`);
      continue;
    }
    if (c.kind === 'unexpected') {
      findings.push(base(e, 'unexpected', `unexpected ${e.type} in the instances path, not judged`));
      continue;
    }
    const inst = v.byUuid.get(c.uuid);
    const here = isHosted(v, c.uuid);
    const nova = novaSays(inst);
    if (c.kind === 'instance') {
      if (here) hosted.push({ uuid: c.uuid, entry: e });
      else if (o.shared && !novaDeleted(inst)) {
        // Shared storage: other nodes' instances live here too. Only Nova can say it is gone.
        findings.push(base(e, 'not-judged', `no instance hosted here, but the instances path is shared storage: ${nova === 'not compared with Nova' ? 'may be another node\'s (not compared with Nova)' : nova}`, c.uuid));
      } else findings.push(base(e, 'orphan', `no instance hosted here; ${nova}`, c.uuid));
      continue;
    }
    if (c.kind === 'resize' && here && resizeInProgress(inst)) {
      notes.push(`${e.path}: resize of a hosted instance in progress or awaiting confirmation (${nova}), OK`);
      continue;
    }
    const what = c.kind === 'resize' ? 'resize/cold-migration leftover, no resize in progress' : 'leftover of an interrupted delete';
    findings.push(base(e, 'leftover', `${what}; instance ${here ? 'hosted here' : 'not hosted here'}; ${nova}`, c.uuid));
  }
  return { findings, hosted, notes };
}

/** Findings from the backing chains of a hosted instance's disks. Pure. */
export function chainFindings(entry: TreeEntry, uuid: string, chains: { disk: string; chain: BackingChain }[], o: { minAgeS: number; nowS: number }, name?: string): Finding[] {
  const ageS = Math.max(0, Math.round(o.nowS - entry.newestMtimeS));
  const who = `${name ? `${name}, ` : ''}hosted here`;
  const out: Finding[] = [];
  for (const { disk, chain } of chains) {
    if (chain.missing) {
      const via = chain.links.length > 1 ? ` (via ${chain.links.slice(0, -1).map((l) => l.path).join(' -> ')})` : '';
      out.push({ kind: 'missing-backing', path: disk, uuid, bytes: 0, ageS, young: ageS < o.minAgeS, why: `backing file ${chain.missing} is missing${via} (${who}: it cannot boot again)` });
    } else if (chain.error) {
      out.push({ kind: 'unreadable', path: disk, uuid, bytes: 0, ageS, young: false, why: `backing chain not checked: ${chain.error} (${who})` });
    }
  }
  return out;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

export function formatAge(s: number): string {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  if (s < 172_800) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** One long-output line. */
export function describe(f: Finding, minAgeS: number): string {
  const size = f.kind === 'missing-backing' || f.kind === 'unreadable' ? '' : `${formatBytes(f.bytes)}, `;
  const young = f.young && (isReclaimable(f) || f.kind === 'missing-backing') ? `; younger than min_age (${minAgeS} s): WARNING at most` : '';
  return `${f.kind}: ${f.path} (${size}${formatAge(f.ageS)} old): ${f.why}${young}`;
}

const ORDER: FindingKind[] = ['missing-backing', 'unreadable', 'orphan', 'leftover', 'unexpected', 'not-judged'];

/**
 * A count against Nagios ranges, with the grace rule: CRITICAL only when the findings older
 * than min_age alone are enough; young ones can make it WARNING at most.
 */
export function graded(all: Finding[], warning: string, critical: string): Status {
  const mature = all.filter((f) => !f.young).length;
  if (critical && alerts(parseRange(critical), mature)) return Status.CRITICAL;
  if (critical && alerts(parseRange(critical), all.length)) return Status.WARNING;
  if (warning && alerts(parseRange(warning), all.length)) return Status.WARNING;
  return Status.OK;
}

/** The first `max` items, then how many more: a summary line stays short on a bad day. */
const listed = (items: string[], max: number): string => (items.length > max ? `${items.slice(0, max).join(', ')} and ${items.length - max} more` : items.join(', '));

/** A finding about one instance's dir or disk, for `lm-probe instance`: graded alone, keyed by the
 *  entry's own name (`disk-leftover <uuid>_resize`), which is the same on every node. */
export function instanceFinding(f: Finding, x: Pick<VerdictInput, 'warning' | 'critical' | 'missingBacking' | 'minAgeS'>): InstanceFinding | undefined {
  if (!f.uuid) return undefined;
  const [name] = f.path.split('/').slice(-1);
  const entry = f.kind === 'missing-backing' || f.kind === 'unreadable' ? `${f.uuid}/${name}` : name;
  const status = isReclaimable(f) ? graded([f], x.warning, x.critical)
    : f.kind === 'missing-backing' ? graded([f], '', x.missingBacking)
    : f.kind === 'unreadable' ? Status.UNKNOWN : Status.OK;
  return { instance: f.uuid, key: `disk-${f.kind} ${entry}`, status, text: describe(f, x.minAgeS) };
}

export interface VerdictInput {
  findings: Finding[];
  instances: number;
  warning: string;
  critical: string;
  missingBacking: string;
  minAgeS: number;
  shared: boolean;
}

export function verdict(x: VerdictInput): ProbeOutcome {
  const of = (k: FindingKind) => x.findings.filter((f) => f.kind === k);
  const orphans = of('orphan');
  const leftovers = of('leftover');
  const missing = of('missing-backing');
  const unreadable = of('unreadable');
  const reclaimable = x.findings.filter(isReclaimable);
  const bytes = reclaimable.reduce((n, f) => n + f.bytes, 0);
  const status = worst(
    graded(reclaimable, x.warning, x.critical),
    graded(missing, '', x.missingBacking),
    unreadable.length ? Status.UNKNOWN : Status.OK,
  );
  const parts = [
    missing.length && `${missing.length} disk${missing.length > 1 ? 's' : ''} with a missing backing file: ${listed(missing.map((f) => f.path), 3)}`,
    unreadable.length && `${unreadable.length} backing chain${unreadable.length > 1 ? 's' : ''} not checked`,
    orphans.length && `${orphans.length} orphan${orphans.length > 1 ? 's' : ''}`,
    leftovers.length && `${leftovers.length} leftover${leftovers.length > 1 ? 's' : ''}`,
  ].filter(Boolean) as string[];
  const where = x.shared ? ' (shared storage)' : '';
  const summary = parts.length
    ? `${parts.join(', ')}${reclaimable.length ? `: ${formatBytes(bytes)} reclaimable` : ''}${where}`
    : `${x.instances} instance dir${x.instances === 1 ? '' : 's'} hosted here, no orphans or leftovers, every backing chain intact${where}`;
  const sorted = [...x.findings].sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind));
  const perfdata: Perf[] = [
    { label: 'instances', value: x.instances, min: 0 },
    { label: 'orphans', value: orphans.length, min: 0 },
    { label: 'leftovers', value: leftovers.length, min: 0 },
    { label: 'missing_backing', value: missing.length, crit: x.missingBacking || undefined, min: 0 },
    { label: 'reclaimable', value: bytes, uom: 'B', min: 0 },
    { label: 'unexpected', value: of('unexpected').length, min: 0 },
  ];
  const findings = sorted.map((f) => instanceFinding(f, x)).filter((f): f is InstanceFinding => f !== undefined);
  return { status, summary, details: sorted.map((f) => describe(f, x.minAgeS)), findings, perfdata };
}
