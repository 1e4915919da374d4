/**
 * The Prometheus side of lm-probe, pure: the metrics state (each probe's last result, the
 * migrations counted so far) and its text exposition for node_exporter's textfile collector.
 *
 * Migrations come from `virsh domjobinfo --completed` of every domain: the source keeps its
 * outgoing job (on the domain left "shut off (migrated)", or until the next job), the
 * destination its incoming one. A job is counted once: its signature (operation, elapsed,
 * downtime, data) is remembered per domain and direction, so the same completed job read on
 * every run is not counted again, and counters survive restarts (they live in the state).
 */
import { OP_MIGRATION_IN, OP_MIGRATION_OUT, type DomainJobs } from '../host/domjobinfo.js';
import { isRecord } from '../state.js';
import { STATUS_NAMES, type Result } from '../result.js';

export interface Histogram {
  /** Cumulative counts per upper bound (same order as the metric's BUCKETS), then +Inf = count. */
  buckets: number[];
  sum: number;
  count: number;
}

export interface MigrationRecord {
  time: string;
  uuid: string;
  name: string;
  direction: 'in' | 'out';
  result: 'completed' | 'failed';
  elapsed_s: number;
  downtime_s?: number;
  data_bytes?: number;
  iterations?: number;
}

export interface MetricsState {
  /** Each probe's last result (so a run of one probe does not drop the others from the file). */
  probes: Record<string, { status: number; durationS: number; at: number; perfdata: Record<string, number> }>;
  /** `in|completed` → count. */
  totals: Record<string, number>;
  /** Histograms of completed migrations, by metric then direction. */
  histograms: Record<string, Record<string, Histogram>>;
  /** The last counted job per `<uuid>:<in|out>`. */
  seen: Record<string, string>;
}

export const HISTOGRAMS = {
  lm_probe_migration_duration_seconds: { help: 'Elapsed time of completed live migrations.', buckets: [1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600] },
  lm_probe_migration_downtime_seconds: { help: 'Downtime (guest paused) of completed live migrations.', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30] },
  lm_probe_migration_data_bytes: { help: 'Data sent by completed live migrations.', buckets: [2 ** 20, 2 ** 24, 2 ** 28, 2 ** 30, 2 ** 32, 2 ** 34, 2 ** 36, 2 ** 38] },
  lm_probe_migration_iterations: { help: 'Memory iterations of completed live migrations.', buckets: [1, 2, 3, 5, 10, 20, 50, 100, 200] },
} as const;
type HistogramName = keyof typeof HISTOGRAMS;

export const emptyMetrics = (): MetricsState => ({ probes: {}, totals: {}, histograms: {}, seen: {} });

export function guardMetrics(v: unknown): MetricsState | undefined {
  if (!isRecord(v) || !isRecord(v.probes) || !isRecord(v.totals) || !isRecord(v.histograms) || !isRecord(v.seen)) return undefined;
  return v as unknown as MetricsState;
}

/** This run's results into the state (pure: returns a new state). */
export function recordResults(s: MetricsState, results: Result[], nowS: number): MetricsState {
  const probes = { ...s.probes };
  for (const r of results) {
    probes[r.probe] = { status: r.status, durationS: (r.durationMs ?? 0) / 1000, at: Math.round((r.checkedAt ?? nowS * 1000) / 1000), perfdata: Object.fromEntries(r.perfdata.map((p) => [p.label, p.value])) };
  }
  return { ...s, probes };
}

function observe(h: Histogram | undefined, bounds: readonly number[], value: number): Histogram {
  const out = h && h.buckets.length === bounds.length ? { ...h, buckets: [...h.buckets] } : { buckets: bounds.map(() => 0), sum: 0, count: 0 };
  bounds.forEach((b, k) => value <= b && out.buckets[k]++);
  out.sum += value;
  out.count++;
  return out;
}

/** Count the completed jobs not counted before; the state after, and one record per new migration. */
export function countMigrations(s: MetricsState, jobs: DomainJobs[], now: Date): { state: MetricsState; counted: MigrationRecord[] } {
  const state: MetricsState = { ...s, totals: { ...s.totals }, histograms: { ...s.histograms }, seen: { ...s.seen } };
  const counted: MigrationRecord[] = [];
  for (const j of jobs) {
    const c = j.completed;
    if (!c || (c.operation !== OP_MIGRATION_IN && c.operation !== OP_MIGRATION_OUT) || c.type === 'none') continue;
    const direction = c.operation === OP_MIGRATION_IN ? 'in' : 'out';
    const st = c.stats;
    const signature = [c.type, st.time_elapsed, st.downtime, st.data_processed, st.memory_iteration].join(':');
    const key = `${j.uuid}:${direction}`;
    if (state.seen[key] === signature) continue;
    state.seen[key] = signature;
    const result = c.type === 'completed' ? 'completed' : 'failed';
    state.totals[`${direction}|${result}`] = (state.totals[`${direction}|${result}`] ?? 0) + 1;
    const rec: MigrationRecord = { time: now.toISOString(), uuid: j.uuid, name: j.name, direction, result, elapsed_s: (st.time_elapsed ?? 0) / 1000 };
    if (st.downtime !== undefined) rec.downtime_s = st.downtime / 1000;
    if (st.data_processed !== undefined) rec.data_bytes = st.data_processed;
    if (st.memory_iteration !== undefined) rec.iterations = st.memory_iteration;
    counted.push(rec);
    if (result !== 'completed') continue;
    const values: [HistogramName, number | undefined][] = [
      ['lm_probe_migration_duration_seconds', rec.elapsed_s],
      ['lm_probe_migration_downtime_seconds', rec.downtime_s],
      ['lm_probe_migration_data_bytes', rec.data_bytes],
      ['lm_probe_migration_iterations', rec.iterations],
    ];
    for (const [name, v] of values) {
      if (v === undefined) continue;
      state.histograms[name] = { ...state.histograms[name], [direction]: observe(state.histograms[name]?.[direction], HISTOGRAMS[name].buckets, v) };
    }
  }
  return { state, counted };
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labels = (l: Record<string, string>) => `{${Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`).join(',')}}`;
const num = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN');

/** The text exposition format (0.0.4): HELP and TYPE once per family, samples sorted. */
export function formatMetrics(s: MetricsState): string {
  const out: string[] = [];
  const family = (name: string, type: 'gauge' | 'counter' | 'histogram', help: string, lines: string[]) => {
    if (lines.length === 0) return;
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
  };
  const probes = Object.entries(s.probes).sort(([a], [b]) => a.localeCompare(b));
  family('lm_probe_status', 'gauge', `Status of the probe's last run (${STATUS_NAMES.map((n, k) => `${k} ${n}`).join(', ')}).`, probes.map(([p, r]) => `lm_probe_status${labels({ probe: p })} ${r.status}`));
  family('lm_probe_duration_seconds', 'gauge', "Duration of the probe's last run.", probes.map(([p, r]) => `lm_probe_duration_seconds${labels({ probe: p })} ${num(r.durationS)}`));
  family('lm_probe_last_run_timestamp_seconds', 'gauge', 'When the probe last ran, Unix time.', probes.map(([p, r]) => `lm_probe_last_run_timestamp_seconds${labels({ probe: p })} ${r.at}`));
  family('lm_probe_perfdata', 'gauge', "The probe's perfdata values of its last run.", probes.flatMap(([p, r]) => Object.entries(r.perfdata).map(([l, v]) => `lm_probe_perfdata${labels({ probe: p, label: l })} ${num(v)}`)));
  // Every combination is written, 0 included, so rate() sees the series from the start.
  const totals = ['in', 'out'].flatMap((d) => ['completed', 'failed'].map((r) => `lm_probe_migrations_total${labels({ direction: d, result: r })} ${s.totals[`${d}|${r}`] ?? 0}`));
  family('lm_probe_migrations_total', 'counter', 'Live migrations seen on this node, by direction and result.', totals);
  for (const [name, spec] of Object.entries(HISTOGRAMS)) {
    const byDir = s.histograms[name] ?? {};
    const lines = Object.keys(byDir).sort().flatMap((d) => {
      const h = byDir[d];
      return [
        ...spec.buckets.map((b, k) => `${name}_bucket${labels({ direction: d, le: String(b) })} ${h.buckets[k]}`),
        `${name}_bucket${labels({ direction: d, le: '+Inf' })} ${h.count}`,
        `${name}_sum${labels({ direction: d })} ${num(h.sum)}`,
        `${name}_count${labels({ direction: d })} ${h.count}`,
      ];
    });
    family(name, 'histogram', spec.help, lines);
  }
  return `${out.join('\n')}\n`;
}
