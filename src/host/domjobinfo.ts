/**
 * libvirt's job statistics of many domains in ONE virsh process (per ~1000 domains: one argv
 * string is capped at 128 KiB), the way host/virsh.ts reads states and XML:
 *   virsh -c URI 'echo M;domjobinfo --rawstats U;[echo M;domjobinfo --rawstats --completed --keep-completed --anystats U;]...;echo END'
 * `--rawstats` prints libvirt's typed parameters as they are ("memory_remaining: 89944064"),
 * exact and untranslated, instead of the rounded "89.944 MiB" of the table.
 *
 * virsh goes on after a failing command of a batch and still exits 0; its errors land on
 * stderr, not attributable to a domain. An empty section is therefore "no statistics": the
 * domain stopped or left meanwhile, or it is the destination of an incoming migration
 * (libvirt: "migration statistics are available only on the source host").
 */
import { randomBytes } from 'node:crypto';
import { ProbeError } from '../errors.js';
import { assertUuid } from './validate.js';
import { budget, chunk, endMarker, errorLine, splitSections, virsh, type DomainRef, type VirshOptions } from './virsh.js';

/** virDomainJobType, by number. */
export const JOB_TYPES = ['none', 'bounded', 'unbounded', 'completed', 'failed', 'cancelled'] as const;
export type JobType = (typeof JOB_TYPES)[number];

/** virDomainJobOperation: the two a migration has. */
export const OP_MIGRATION_IN = 4;
export const OP_MIGRATION_OUT = 5;

export interface JobStats {
  type: JobType;
  /** virDomainJobOperation (4 incoming migration, 5 outgoing migration, ...); absent for "none". */
  operation?: number;
  /** libvirt's numbers as given: time_elapsed (ms), downtime (ms), data_processed (bytes), memory_remaining, memory_iteration, memory_dirty_rate (pages/s), memory_bps, ... */
  stats: Record<string, number>;
}

export interface DomainJobs extends DomainRef {
  /** The job now; undefined when virsh gave nothing (see the top of this file). */
  current?: JobStats;
  /** The last completed job (only when asked for). */
  completed?: JobStats;
}

const unparseable = (what: string): never => {
  throw new ProbeError(`virsh: unparseable domjobinfo output: ${what.slice(0, 120)}`);
};

/** `virsh domjobinfo --rawstats`: "Job type: 2", a blank line, then "name: value" lines. */
export function parseRawJobStats(text: string): JobStats {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const head = /^Job type: (\d+)$/.exec(lines[0] ?? '');
  const type = head ? JOB_TYPES[Number(head[1])] : undefined;
  if (!type) return unparseable(lines[0] ?? 'empty');
  const stats: Record<string, number> = {};
  for (const line of lines.slice(1)) {
    const m = /^([a-z_]+): (-?\d+(?:\.\d+)?)$/.exec(line);
    if (!m) return unparseable(line);
    stats[m[1]] = Number(m[2]);
  }
  const { operation, ...rest } = stats;
  return operation === undefined ? { type, stats: rest } : { type, operation, stats: rest };
}

const jobMarker = (nonce: string, i: number) => `${nonce}.${i}.job`;
const doneMarker = (nonce: string, i: number) => `${nonce}.${i}.done`;

/** The batch argument for domains [first, first + uuids.length). */
export function jobBatchCommands(uuids: string[], nonce: string, first = 0, completed = false): string {
  const cmds = uuids.flatMap((u, k) => {
    const i = first + k;
    const now = [`echo ${jobMarker(nonce, i)}`, `domjobinfo --rawstats ${assertUuid(u)}`];
    // --keep-completed: reading must not destroy what operators (and the next run) read too;
    // --anystats: a failed migration's statistics as well.
    return completed ? [...now, `echo ${doneMarker(nonce, i)}`, `domjobinfo --rawstats --completed --keep-completed --anystats ${u}`] : now;
  });
  return [...cmds, `echo ${endMarker(nonce)}`].join(';');
}

/** A driver without job statistics (libvirt's test driver) fails every domain alike: said once. */
const UNSUPPORTED = /not supported by the connection driver|not supported by the daemon/;

/** The driver keeps no job statistics: it has no migrations to judge either. */
export class JobStatsUnsupported extends ProbeError {}

export function splitJobOutput(stdout: string, stderr: string, refs: DomainRef[], nonce: string, first = 0, completed = false): DomainJobs[] {
  const expected = refs.flatMap((_, k) => (completed ? [jobMarker(nonce, first + k), doneMarker(nonce, first + k)] : [jobMarker(nonce, first + k)]));
  const sections = splitSections(stdout, nonce, expected);
  const jobs = refs.map((ref, k) => {
    const now = sections.get(jobMarker(nonce, first + k))!;
    const done = completed ? sections.get(doneMarker(nonce, first + k))! : '';
    return { ...ref, ...(now ? { current: parseRawJobStats(now) } : {}), ...(done ? { completed: parseRawJobStats(done) } : {}) };
  });
  if (jobs.length > 0 && jobs.every((j) => !j.current) && UNSUPPORTED.test(stderr)) throw new JobStatsUnsupported(`virsh domjobinfo: ${errorLine([...new Set(stderr.split('\n'))].join('\n'))}`); // said once, not per domain
  return jobs;
}

/** Job statistics of these domains (the running ones: others have no job). */
export async function readJobs(uri: string, refs: DomainRef[], opts: VirshOptions & { completed?: boolean }): Promise<DomainJobs[]> {
  if (refs.length === 0) return [];
  const left = budget(opts.timeoutMs);
  const nonce = `lmp${randomBytes(6).toString('hex')}`;
  const completed = opts.completed ?? false;
  const jobs: DomainJobs[] = [];
  for (const c of chunk(refs, (uuids, first) => jobBatchCommands(uuids, nonce, first, completed))) {
    const { stdout, stderr } = await virsh(uri, [jobBatchCommands(c.refs.map((r) => r.uuid), nonce, c.first, completed)], left(), opts.signal);
    jobs.push(...splitJobOutput(stdout, stderr, c.refs, nonce, c.first, completed));
  }
  return jobs;
}
