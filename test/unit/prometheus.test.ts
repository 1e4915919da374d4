// The Prometheus state and text format, on a real completed migration (test/fixtures/libvirt-kvm/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { splitJobOutput } from '../../src/host/domjobinfo.js';
import { countMigrations, emptyMetrics, formatMetrics, guardMetrics, recordResults } from '../../src/report/prometheus.js';
import { Status, type Result } from '../../src/result.js';

const fixture = (path: string) => readFileSync(new URL(`../../../test/fixtures/${path}`, import.meta.url), 'utf8');
const U2 = { uuid: 'b3e0b925-1d86-5d08-8ff6-fd3eb2b6f3a9', name: 'instance-00000002' };
/** The destination's completed incoming migration: 91.95 s, downtime 21.665 s, 755334 bytes, 4 iterations. */
const incoming = () => splitJobOutput(fixture('libvirt-kvm/jobs-batch-completed-dst.txt'), '', [U2], 'lmpfx', 0, true);
const NOW = new Date('2026-11-30T12:00:00Z');

test('a completed migration is counted once, however many runs read it; a new one counts again', () => {
  const first = countMigrations(emptyMetrics(), incoming(), NOW);
  assert.deepEqual(first.counted, [{ time: '2026-11-30T12:00:00.000Z', uuid: U2.uuid, name: U2.name, direction: 'in', result: 'completed', elapsed_s: 91.95, downtime_s: 21.665, data_bytes: 755334, iterations: 4 }]);
  assert.deepEqual(first.state.totals, { 'in|completed': 1 });
  const again = countMigrations(first.state, incoming(), NOW);
  assert.deepEqual(again.counted, []);
  assert.deepEqual(again.state.totals, { 'in|completed': 1 });
  const next = incoming();
  next[0].completed!.stats.time_elapsed = 700;
  assert.deepEqual(countMigrations(again.state, next, NOW).state.totals, { 'in|completed': 2 });
  // The state survives a JSON round trip (it is what state_dir keeps).
  assert.deepEqual(guardMetrics(JSON.parse(JSON.stringify(again.state))), again.state);
});

test('a failed or cancelled job counts as failed and stays out of the histograms; other jobs are not migrations', () => {
  const jobs = incoming();
  jobs[0].completed!.type = 'cancelled';
  const { state } = countMigrations(emptyMetrics(), jobs, NOW);
  assert.deepEqual(state.totals, { 'in|failed': 1 });
  assert.deepEqual(state.histograms, {});
  const save = incoming();
  save[0].completed!.operation = 2;
  assert.deepEqual(countMigrations(emptyMetrics(), save, NOW).counted, []);
});

test('the text format: probe gauges, the four counters (zeros too), cumulative histogram buckets', () => {
  const results: Result[] = [
    { probe: 'migrations', status: Status.WARNING, summary: '', details: [], perfdata: [{ label: 'active', value: 1 }, { label: 'longest', value: 943, uom: 's' }], durationMs: 412, checkedAt: NOW.getTime() },
  ];
  const s = countMigrations(recordResults(emptyMetrics(), results, NOW.getTime() / 1000), incoming(), NOW).state;
  const text = formatMetrics(s);
  for (const line of [
    '# TYPE lm_probe_status gauge',
    'lm_probe_status{probe="migrations"} 1',
    'lm_probe_duration_seconds{probe="migrations"} 0.412',
    `lm_probe_last_run_timestamp_seconds{probe="migrations"} ${NOW.getTime() / 1000}`,
    'lm_probe_perfdata{probe="migrations",label="longest"} 943',
    '# TYPE lm_probe_migrations_total counter',
    'lm_probe_migrations_total{direction="in",result="completed"} 1',
    'lm_probe_migrations_total{direction="out",result="failed"} 0',
    '# TYPE lm_probe_migration_duration_seconds histogram',
    'lm_probe_migration_duration_seconds_bucket{direction="in",le="60"} 0',
    'lm_probe_migration_duration_seconds_bucket{direction="in",le="120"} 1',
    'lm_probe_migration_duration_seconds_bucket{direction="in",le="+Inf"} 1',
    'lm_probe_migration_duration_seconds_sum{direction="in"} 91.95',
    'lm_probe_migration_downtime_seconds_sum{direction="in"} 21.665',
    'lm_probe_migration_iterations_bucket{direction="in",le="3"} 0',
    'lm_probe_migration_iterations_bucket{direction="in",le="5"} 1',
  ]) assert.ok(text.split('\n').includes(line), `missing: ${line}\n${text}`);
  assert.ok(text.endsWith('\n'));
  assert.equal(text.match(/^# TYPE lm_probe_perfdata /gm)?.length, 1, 'one TYPE per family');
});
