/**
 * `lm-probe instance <uuid>`, the pure part: what each probe's run says about one instance, the
 * snapshot `--save` writes, and `--compare`'s judgement of the findings now against a snapshot
 * taken before a migration. What was fine before and is broken now is the migration's fault;
 * what was already broken is said so (WARNING at most); what was not known before keeps its status.
 */
import { oneLine } from './errors.js';
import { STATUS_NAMES, Status, worst, type Finding, type Perf, type Result } from './result.js';

/** One probe's word on the instance. */
export interface ProbeView {
  probe: string;
  /** The probe's own status and summary (about the whole node). */
  probeStatus: Status;
  summary: string;
  /** False: the probe could not check (UNKNOWN, or cut by the deadline): never "fine". */
  checked: boolean;
  /** The instance's findings, and the node-wide ones when it is hosted here. */
  findings: Finding[];
  /** What the probe's coverage alone is worth: UNKNOWN when it could not check, its capped status when the inventory was degraded. */
  coverage: Status;
  /** The instance's status for this probe: its findings' and its coverage's. */
  status: Status;
}

export function viewOf(r: Result, uuid: string, hosted: boolean | undefined): ProbeView {
  const all = r.findings ?? [];
  const findings = all.filter((f) => f.instance === uuid || (f.instance === undefined && hosted !== false));
  // An UNKNOWN explained by a finding (a disk's chain unreadable) is about that finding only.
  const checked = !(r.status === Status.UNKNOWN && !all.some((f) => f.status === Status.UNKNOWN)) && !r.partial;
  // The runner capped an OK because a source failed: the instance may not have been seen.
  const coverage = worst(checked ? Status.OK : Status.UNKNOWN, r.degraded ? r.status : Status.OK);
  return { probe: r.probe, probeStatus: r.status, summary: r.summary, checked, findings, coverage, status: worst(coverage, ...findings.map((f) => f.status)) };
}

// ---- the snapshot ---------------------------------------------------------------------------

export const SNAPSHOT_FORMAT = 'lm-probe-instance';
export const SNAPSHOT_VERSION = 1;

export interface SnapshotProbe {
  status: Status;
  checked: boolean;
  summary: string;
  findings: Omit<Finding, 'instance'>[];
}

export interface Snapshot {
  format: typeof SNAPSHOT_FORMAT;
  version: number;
  uuid: string;
  name?: string;
  host: string;
  hosted: boolean | null;
  time: string;
  probes: Record<string, SnapshotProbe>;
}

export function snapshotOf(s: { uuid: string; name?: string; host: string; hosted: boolean | undefined; time: Date; views: ProbeView[] }): Snapshot {
  return {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    uuid: s.uuid,
    ...(s.name ? { name: s.name } : {}),
    host: s.host,
    hosted: s.hosted ?? null,
    time: s.time.toISOString(),
    probes: Object.fromEntries(s.views.map((v) => [v.probe, {
      status: v.status, checked: v.checked, summary: v.summary,
      findings: v.findings.map((f) => ({ key: f.key, status: f.status, text: f.text })),
    }])),
  };
}

const isStatus = (v: unknown): v is Status => v === 0 || v === 1 || v === 2 || v === 3;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The snapshot in `text`, or an Error with one line naming the file (`where`). */
export function parseSnapshot(text: string, where: string, uuid: string): Snapshot {
  const bad = (why: string) => new Error(`--compare ${where}: ${why}`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw bad(`not JSON (${oneLine(err, 120)})`);
  }
  if (!isObject(v) || v.format !== SNAPSHOT_FORMAT) throw bad('not an lm-probe instance snapshot (lm-probe instance <uuid> --save)');
  if (v.version !== SNAPSHOT_VERSION) throw bad(`snapshot format version ${JSON.stringify(v.version)}, this lm-probe reads version ${SNAPSHOT_VERSION}`);
  if (typeof v.uuid !== 'string' || !isObject(v.probes) || typeof v.host !== 'string' || typeof v.time !== 'string') throw bad('malformed snapshot (uuid, host, time or probes missing)');
  if (v.uuid !== uuid) throw bad(`snapshot of instance ${v.uuid}, not ${uuid}`);
  for (const [name, p] of Object.entries(v.probes)) {
    const ok = isObject(p) && isStatus(p.status) && typeof p.checked === 'boolean' && Array.isArray(p.findings)
      && p.findings.every((f) => isObject(f) && typeof f.key === 'string' && isStatus(f.status) && typeof f.text === 'string');
    if (!ok) throw bad(`malformed snapshot (probe ${JSON.stringify(name).slice(0, 60)})`);
  }
  return v as unknown as Snapshot;
}

// ---- the comparison -------------------------------------------------------------------------

/** new: not there before (the migration's fault); before: already broken before; unknown-before: the probe could not say before. */
export type Judgement = 'new' | 'before' | 'unknown-before';

export interface Judged extends Finding {
  probe: string;
  judgement: Judgement;
  /** Its status before, when it was there. */
  was?: Status;
}

export interface Fixed {
  probe: string;
  key: string;
  was: Status;
  text: string;
}

export interface Comparison {
  judged: Judged[];
  fixed: Fixed[];
  /** Exit status: new and not-known findings keep theirs, already broken ones WARNING at most, a probe that cannot check now UNKNOWN. */
  status: Status;
}

const cap = (s: Status, at: Status) => (s === Status.UNKNOWN || s > at ? at : s);

export function compare(views: ProbeView[], before: Snapshot): Comparison {
  const judged: Judged[] = [];
  const fixed: Fixed[] = [];
  for (const v of views) {
    const then = before.probes[v.probe];
    const known = then?.checked === true;
    const was = new Map((then?.findings ?? []).map((f) => [f.key, f]));
    for (const f of v.findings) {
      const old = was.get(f.key);
      // Known before and not fine then: already broken. Fine (or in grace) then, or absent: new.
      const judgement: Judgement = !known ? 'unknown-before' : old && old.status !== Status.OK ? 'before' : 'new';
      const status = judgement === 'before' ? cap(f.status, Status.WARNING) : f.status;
      judged.push({ ...f, probe: v.probe, judgement, status, ...(old ? { was: old.status } : {}) });
    }
    // Gone now, and the probe did check now: fixed (or moved away with the migration).
    if (v.checked && then) {
      const now = new Set(v.findings.map((f) => f.key));
      for (const f of then.findings) if (f.status !== Status.OK && !now.has(f.key)) fixed.push({ probe: v.probe, key: f.key, was: f.status, text: f.text });
    }
  }
  const status = worst(...judged.map((j) => j.status), ...views.map((v) => v.coverage));
  return { judged, fixed, status };
}

// ---- the report -----------------------------------------------------------------------------

export interface Subject {
  uuid: string;
  name?: string;
  host: string;
  /** undefined: no inventory source answered. */
  hosted: boolean | undefined;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const rank = (s: Status) => (s === Status.UNKNOWN ? 1.5 : s);
const byStatus = <T extends { status: Status }>(xs: T[]) => [...xs].sort((a, b) => rank(b.status) - rank(a.status));
const scope = (f: Finding) => (f.instance === undefined ? ' (every instance on this node)' : '');
const JUDGED_WORDS: Record<Judgement, (j: Judged) => string> = {
  new: () => ' new',
  before: (j) => ` already broken before (was ${STATUS_NAMES[j.was!]})`,
  'unknown-before': () => ' not known before',
};

function subjectWords(s: Subject): string {
  const where = s.hosted === undefined ? 'hosted here: unknown (no inventory source answered)' : s.hosted ? `hosted on ${s.host}` : `not hosted on ${s.host} (its leftovers here, if any)`;
  return `${s.uuid}${s.name ? ` (${s.name})` : ''}: ${where}`;
}

/** Lines for probes that found nothing about the instance, or could not check. */
function quietLines(views: ProbeView[]): string[] {
  return [
    ...views.filter((v) => !v.checked).map((v) => `${v.probe} UNKNOWN: could not check: ${v.summary}`),
    // An OK probe's summary says what it covered ("placement not compared"); another's is about other instances.
    ...views.filter((v) => v.checked && v.findings.length === 0).map((v) => `${v.probe}: nothing found for it (${v.probeStatus === Status.OK ? `the probe: OK - ${v.summary}` : `the probe is ${STATUS_NAMES[v.probeStatus]} about others`})`),
  ];
}

/** The Nagios-style result of `lm-probe instance` (printed by the reporters' formatNagios). */
export function instanceResult(s: Subject, views: ProbeView[], c?: { comparison: Comparison; where: string; before: Snapshot }): Result {
  const unchecked = views.filter((v) => !v.checked).map((v) => v.probe);
  const parts = [subjectWords(s)];
  const perfdata: Perf[] = [{ label: 'findings', value: views.reduce((n, v) => n + v.findings.filter((f) => f.status !== Status.OK).length, 0), min: 0 }];
  let details: string[];
  let status: Status;
  if (!c) {
    status = worst(...views.map((v) => v.status));
    const found = views.filter((v) => v.findings.some((f) => f.status !== Status.OK));
    parts.push(found.length ? `${found.map((v) => `${v.probe} ${STATUS_NAMES[v.status]}`).join(', ')}` : `nothing wrong found by ${plural(views.length - unchecked.length, 'probe')}`);
    const lines = byStatus(views.flatMap((v) => v.findings.map((f) => ({ status: f.status, line: `${v.probe} ${STATUS_NAMES[f.status]}${scope(f)}: ${f.text}` }))));
    details = [...lines.map((l) => l.line), ...quietLines(views)];
  } else {
    const { judged, fixed } = c.comparison;
    status = c.comparison.status;
    const n = (j: Judgement) => judged.filter((x) => x.judgement === j && x.status !== Status.OK).length;
    parts.push(`compared with ${c.where} (${c.before.host}, ${c.before.time}): ${n('new')} new, ${n('before')} already broken before${n('unknown-before') ? `, ${n('unknown-before')} not known before` : ''}, ${fixed.length} fixed`);
    perfdata.push({ label: 'new', value: n('new'), min: 0 }, { label: 'already_broken', value: n('before'), min: 0 }, { label: 'fixed', value: fixed.length, min: 0 });
    details = [
      ...byStatus(judged).map((j) => `${j.probe} ${STATUS_NAMES[j.status]}${JUDGED_WORDS[j.judgement](j)}${scope(j)}: ${j.text}`),
      ...fixed.map((f) => `${f.probe} fixed (was ${STATUS_NAMES[f.was]}): ${f.text}`),
      ...quietLines(views),
    ];
  }
  if (unchecked.length) parts.push(`${plural(unchecked.length, 'probe')} could not check: ${unchecked.join(', ')}`);
  return { probe: 'lm-probe-instance', status, summary: parts.join('; '), details, perfdata };
}

/** `--json`: every probe's view, and the comparison when asked. */
export function instanceJson(s: Subject, views: ProbeView[], r: Result, c?: { comparison: Comparison; where: string; before: Snapshot }): Record<string, unknown> {
  return {
    uuid: s.uuid,
    ...(s.name ? { name: s.name } : {}),
    host: s.host,
    hosted: s.hosted ?? null,
    status: r.status,
    status_text: STATUS_NAMES[r.status],
    summary: r.summary,
    probes: views.map((v) => ({
      probe: v.probe, status: v.status, status_text: STATUS_NAMES[v.status], checked: v.checked,
      probe_status: v.probeStatus, probe_summary: v.summary,
      findings: c ? c.comparison.judged.filter((j) => j.probe === v.probe) : v.findings,
    })),
    ...(c ? { compared_with: { file: c.where, host: c.before.host, time: c.before.time }, fixed: c.comparison.fixed } : {}),
  };
}
