// config/grafana/lm-probe-migrations.json: every query uses metric names lm-probe writes, and
// parses as PromQL (promtool check rules, Debian's prometheus package).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { findTool } from '../lab/netns.js';
import { HISTOGRAMS } from '../../src/report/prometheus.js';

const dashboard = JSON.parse(readFileSync(new URL('../../../config/grafana/lm-probe-migrations.json', import.meta.url), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ title: p.title, expr: t.expr.replace(/\$(instance|region)/g, '.*') })));

test('the dashboard queries only metrics lm-probe writes', () => {
  const known = new Set([
    'lm_probe_status', 'lm_probe_duration_seconds', 'lm_probe_last_run_timestamp_seconds', 'lm_probe_perfdata', 'lm_probe_migrations_total',
    ...Object.keys(HISTOGRAMS).flatMap((h) => [`${h}_bucket`, `${h}_sum`, `${h}_count`]),
  ]);
  const used = new Set(exprs.flatMap((e) => e.expr.match(/lm_probe_[a-z_]+/g) ?? []));
  assert.ok(used.size >= 8);
  for (const m of used) assert.ok(known.has(m), `unknown metric ${m}`);
  for (const t of ['Migrations per day', 'Mean elapsed time per hour', 'Downtime', 'Probe statuses per node']) assert.ok(dashboard.panels.some((p) => p.title.startsWith(t)), t);
});

test('every query is valid PromQL (promtool check rules)', (t) => {
  if (!findTool('promtool')) return t.skip('promtool not installed (apt-get install prometheus)');
  const dir = mkdtempSync(join(tmpdir(), 'lmp-grafana-'));
  try {
    const rules = { groups: [{ name: 'dashboard', rules: exprs.map((e, k) => ({ record: `lm_probe:dashboard_query_${k}`, expr: e.expr })) }] };
    writeFileSync(join(dir, 'rules.yml'), stringify(rules));
    const r = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
