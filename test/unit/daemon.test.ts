// The daemon's scheduling rules with a probe that takes longer than its schedule's period
// (a real node-cron schedule every second, a real config file; no lab needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon.js';
import { Logger } from '../../src/log.js';
import { defineProbe } from '../../src/probe.js';
import { Status } from '../../src/result.js';

/** A config in `dir` for one probe on `schedule`, no inventory source but an empty file, no event watcher. */
function daemonConfig(dir: string, probe: string, schedule: string, extra: string[] = []): string {
  writeFileSync(join(dir, 'inventory.yaml'), 'instances: []\n');
  const config = join(dir, 'config.yaml');
  writeFileSync(config, [
    `state_dir: ${dir}/state`, `lock_dir: ${dir}/lock`,
    `inventory: {sources: [file], file: ${dir}/inventory.yaml, cache: {path: ${dir}/cache.json}}`,
    `probes: {${probe}: {schedule: "${schedule}"}}`,
    'daemon: {after_migration: {enabled: false}}',
    ...extra,
  ].join('\n'));
  return config;
}

test('a probe still running when due again is not started twice; stop() lets the run finish', { timeout: 20_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lmp-daemon-'));
  const seen = { active: 0, maxActive: 0, starts: 0, ends: 0, inventories: 0 };
  const slow = defineProbe({
    name: 'slow',
    summary: 'takes 2.5 s',
    tools: [],
    options: {},
    async run(ctx) {
      seen.starts++;
      seen.maxActive = Math.max(seen.maxActive, ++seen.active);
      await ctx.inventory();
      await new Promise((r) => setTimeout(r, 2500));
      seen.active--;
      seen.ends++;
      return { status: Status.OK, summary: 'slept', details: [], perfdata: [] };
    },
  });
  const lines: string[] = [];
  try {
    const config = daemonConfig(dir, 'slow', '* * * * * *');
    const daemon = new Daemon({ configPath: config, probes: [slow], log: new Logger({ sink: (l) => lines.push(l) }) });
    await daemon.start();
    await new Promise((r) => setTimeout(r, 4200));
    await daemon.stop('test over');
    await daemon.done;
    assert.equal(seen.maxActive, 1, 'never two at once');
    assert.ok(daemon.stats.skippedOverrun >= 1, `skipped ${daemon.stats.skippedOverrun}`);
    assert.ok(lines.some((l) => l === '[ WARNING ] slow: still running from an earlier tick: not started twice'), lines.join('\n'));
    assert.equal(seen.ends, seen.starts, 'the run in progress finished before stop() returned');
    assert.ok(lines.includes('[ INFO ] SLOW OK - slept'));
    assert.equal(lines.at(-1), '[ INFO ] daemon stopped');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('memory stays flat over 1,000 runs (each delivered through a passive channel)', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lmp-daemon-'));
  const quick = defineProbe({
    name: 'quick', summary: 'answers at once', options: {}, tools: [],
    async run(ctx) {
      const inv = await ctx.inventory();
      return { status: Status.WARNING, summary: `${inv.instances.length} instances`, details: ['a finding'], perfdata: [{ label: 'n', value: 1 }] };
    },
  });
  try {
    writeFileSync(join(dir, 'results'), ''); // a regular file: the command_file channel appends to it
    const config = daemonConfig(dir, 'quick', '0 0 1 1 *', [`report: {passive: [{type: command_file, path: ${dir}/results}]}`]);
    const daemon = new Daemon({ configPath: config, probes: [quick], log: new Logger({ quiet: true, sink: () => {} }) });
    await daemon.start();
    const { setFlagsFromString } = await import('node:v8');
    const { runInNewContext } = await import('node:vm');
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const heap = () => { gc(); gc(); return process.memoryUsage().heapUsed; };
    const runs = async (n: number) => {
      for (let i = 0; i < n; i++) {
        daemon.markDue(['quick'], 'test');
        await daemon.idle();
      }
    };
    await runs(100); // warm up: code compiled, lazy modules loaded
    const before = heap();
    await runs(1000);
    const after = heap();
    await daemon.stop('test over');
    assert.equal(daemon.stats.runs, 1100);
    const lines = (await import('node:fs')).readFileSync(join(dir, 'results'), 'utf8').trim().split('\n');
    assert.equal(lines.length, 1100, 'every run delivered');
    t.diagnostic(`heap after 100 runs ${(before / 1048576).toFixed(1)} MB, after 1,100 ${(after / 1048576).toFixed(1)} MB; RSS ${(process.memoryUsage().rss / 1048576).toFixed(1)} MB`);
    assert.ok(after - before < 2 * 1048576, `heap grew ${((after - before) / 1048576).toFixed(2)} MB over 1,000 runs`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
