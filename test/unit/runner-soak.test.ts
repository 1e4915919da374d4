// The runner as a daemon uses it: 1,000 runs in one process, each with a real inventory (file),
// the presence record, per-probe state, a command, a deadline and the OCO reporter. RSS must
// stay flat: nothing may keep lines, listeners, timers or results from one run to the next.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from '../../src/config.js';
import { run as exec } from '../../src/host/exec.js';
import { Logger } from '../../src/log.js';
import { defineProbe } from '../../src/probe.js';
import { ocoReporter } from '../../src/report/oco.js';
import { deliverAll } from '../../src/report/reporter.js';
import { Status } from '../../src/result.js';
import { createRun } from '../../src/run-context.js';
import { runProbes } from '../../src/runner.js';

const dir = mkdtempSync('/tmp/lmp-soak-');
after(() => rmSync(dir, { recursive: true, force: true }));

const probe = defineProbe({
  name: 'soak',
  summary: 'soak',
  options: {},
  tools: ['true'],
  async run(ctx) {
    const inv = await ctx.inventory();
    const presence = await ctx.presence();
    const seen = (await ctx.state.read('runs', (v) => (typeof v === 'number' ? v : undefined))) ?? 0;
    await ctx.state.write('runs', seen + 1);
    await exec('true', [], { timeoutMs: 5000, signal: ctx.signal });
    for (let i = 0; i < 50; i++) ctx.log.debug(`line ${i} of a busy trace`);
    return { status: Status.OK, summary: `${inv.instances.length} instances, ${presence.departed(60).length} departed`, details: [], perfdata: [{ label: 'runs', value: seen + 1 }] };
  },
});

test('1,000 runs in one process keep RSS flat', async (t) => {
  const file = join(dir, 'inventory.yaml');
  writeFileSync(file, `instances:\n${Array.from({ length: 50 }, (_, i) => `  - uuid: 00000000-0000-4000-8000-${String(i).padStart(12, '0')}\n    ports: [{id: p${i}, mac: "fa:16:3e:00:00:${(i % 100).toString(16).padStart(2, '0')}", ips: [198.18.2.${i + 1}]}]`).join('\n')}\n`);
  const config = defaultConfig([]);
  Object.assign(config, { state_dir: join(dir, 'state'), lock_dir: join(dir, 'lock') });
  config.inventory.sources = ['file'];
  config.inventory.file = file;
  config.inventory.cache.path = join(dir, 'cache.json');
  config.oco = { ...config.oco, enabled: true, dir: join(dir, 'oco') };
  const log = new Logger({ sink: () => {} });
  const reporters = [ocoReporter(config.oco)];
  const once = async () => {
    const runs = await runProbes([probe], createRun(config, log, { deadline: Date.now() + 30_000 }), (r) => deliverAll(reporters, r));
    assert.equal(runs[0].result.status, Status.OK, runs[0].result.summary);
  };
  for (let i = 0; i < 100; i++) await once(); // warm-up: JIT, caches, module loads
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 1000; i++) await once();
  gc?.();
  const grown = (process.memoryUsage().rss - before) / 1024 / 1024;
  t.diagnostic(`RSS ${Math.round(before / 1024 / 1024)} MB after 100 runs, +${grown.toFixed(1)} MB after 1,000 more`);
  assert.equal(log.lines.length, 0, 'the root logger keeps nothing');
  assert.ok(grown < 25, `RSS grew ${grown.toFixed(1)} MB over 1,000 runs`);
});
