import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from '../../src/config.js';
import { ProbeError } from '../../src/errors.js';
import { run as exec } from '../../src/host/exec.js';
import { startTime } from '../../src/lock.js';
import { Logger } from '../../src/log.js';
import { defineProbe, type ProbeContext } from '../../src/probe.js';
import { Status, type ProbeOutcome } from '../../src/result.js';
import { createRun } from '../../src/run-context.js';
import { runProbe, runProbes } from '../../src/runner.js';

const dir = mkdtempSync('/tmp/lmp-runner-');
after(() => rmSync(dir, { recursive: true, force: true }));

function shared(timeoutS = 30, deadline?: number) {
  const config = defaultConfig([]);
  config.timeout = timeoutS;
  config.lock_dir = join(dir, 'lock');
  config.state_dir = join(dir, 'state');
  config.inventory.sources = ['file'];
  const lines: string[] = [];
  const log = new Logger({ debug: true, sink: (l) => lines.push(l) });
  return { ...createRun(config, log, { deadline }), lines };
}

const ok: ProbeOutcome = { status: Status.OK, summary: 'ok', details: [], perfdata: [] };
const probe = (name: string, run: (ctx: ProbeContext<Record<string, never>>) => Promise<ProbeOutcome>) =>
  defineProbe({ name, summary: name, options: {}, tools: [], run });
/** Running, not a zombie waiting for its reaper. */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

test('a probe that hangs ends UNKNOWN at its deadline', async () => {
  const started = Date.now();
  const { result } = await runProbe(probe('hang', () => new Promise(() => {})), shared(1));
  assert.equal(result.status, Status.UNKNOWN);
  assert.equal(result.summary, 'timed out after 1s');
  assert.ok(Date.now() - started < 5000);
});

test('at the deadline the probe\'s processes are killed, the reason names the command, and the lock is freed after', async () => {
  const s = shared(1);
  const pidFile = join(dir, 'sleeper.pid');
  // A wrapper whose child hangs: the whole process group must die, not only the wrapper.
  const p = probe('slow-cmd', async (ctx) => {
    await exec('sh', ['-c', `sleep 60 & echo $! > ${pidFile}; wait`], { timeoutMs: 60_000, signal: ctx.signal });
    return ok;
  });
  const { result } = await runProbe(p, s);
  assert.equal(result.summary, 'timed out after 1s waiting for sh');
  const sleeper = Number(readFileSync(pidFile, 'utf8'));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(alive(sleeper), false, 'the hung grandchild was killed');
  assert.equal(existsSync(join(s.config.lock_dir, 'slow-cmd.lock')), false, 'lock released once the work ended');
});

test('a deadline cut keeps what was learned: CRITICAL seen stays CRITICAL', async () => {
  const p = probe('partial', async (ctx) => {
    ctx.partial({ status: Status.CRITICAL, summary: '3 of 800 IPs not routed so far', details: ['198.18.1.9: no route'], perfdata: [] });
    return new Promise(() => {});
  });
  const { result } = await runProbe(p, shared(1));
  assert.equal(result.status, Status.CRITICAL);
  assert.equal(result.summary, '3 of 800 IPs not routed so far (partial: timed out after 1s)');
  assert.deepEqual(result.details, ['198.18.1.9: no route']);
  assert.equal(result.partial, true, 'marked partial (lm-probe instance: this instance may not have been checked)');
});

test('an expected failure keeps its one-line reason', async () => {
  const { result } = await runProbe(probe('fails', async () => { throw new ProbeError('ovs-ofctl not found'); }), shared());
  assert.deepEqual([result.status, result.summary], [Status.UNKNOWN, 'ovs-ofctl not found']);
});

test('a bug becomes one line; its stack only goes to the debug trace', async () => {
  const { result, log } = await runProbe(probe('buggy', async () => { throw new TypeError("Cannot read properties of undefined (reading 'x')\n    at foo (x.js:1:1)"); }), shared());
  assert.equal(result.status, Status.UNKNOWN);
  assert.equal(result.summary, "internal error: Cannot read properties of undefined (reading 'x') at foo (x.js:1:1)");
  assert.ok(log.lines.some((l) => l.startsWith('[ DEBUG ] internal error: TypeError')));
});

test('a throw of a non-Error value is handled too', async () => {
  const { result } = await runProbe(probe('weird', async () => { throw 'just a string'; }), shared());
  assert.deepEqual([result.status, result.summary], [Status.UNKNOWN, 'internal error: just a string']);
});

test('a lock held by a live process: UNKNOWN "already running (pid N)", probe not run, run marked refused', async () => {
  const s = shared();
  let ran = false;
  const p = probe('locked', async () => { ran = true; return ok; });
  await runProbe(p, s); // creates the lock dir
  writeFileSync(join(s.config.lock_dir, 'locked.lock'), `1 ${startTime(1)} abc\n`);
  ran = false;
  const r = await runProbe(p, s);
  assert.deepEqual([r.result.status, r.result.summary, ran, r.refused], [Status.UNKNOWN, 'already running (pid 1)', false, true]);
});

test('state problems reach the long output; each probe has its own state directory', async () => {
  const s = shared();
  writeFileSync(join(dir, 'state-is-a-file'), 'x');
  s.config.state_dir = join(dir, 'state-is-a-file');
  const p = probe('stateful', async (ctx) => {
    await ctx.state.write('samples', { a: 1 });
    return ok;
  });
  const { result } = await runProbe(p, s);
  assert.equal(result.status, Status.OK, 'the check itself still ran');
  assert.match(result.details.join('\n'), /state not saved to .*state-is-a-file\/stateful \(ENOTDIR\)/);
});

test('a degraded inventory never leaves an OK: WARNING by default, with the reason', async () => {
  const s = shared();
  s.config.inventory.file = join(dir, 'no-such-inventory.yaml');
  const p = probe('sees', async (ctx) => { await ctx.inventory(); return ok; });
  const { result } = await runProbe(p, s);
  assert.equal(result.status, Status.WARNING);
  assert.match(result.summary, /inventory degraded \(file failed\)/);
  assert.match(result.details.join('\n'), /^inventory degraded: file: /m);
  assert.equal(result.degraded, true, 'marked: an OK capped, the instances it did not see are not fine');
});

test('run: five slow probes side by side stay inside the overall deadline', async () => {
  const deadline = Date.now() + 2000;
  const s = shared(30, deadline);
  const slow = (n: number) => probe(`slow-${n}`, () => new Promise(() => {}));
  const started = Date.now();
  const runs = await runProbes([1, 2, 3, 4, 5].map(slow), s);
  const took = Date.now() - started;
  assert.ok(took < 2000 + 1500 + 1000, `took ${took} ms`);
  assert.deepEqual(runs.map((r) => r.result.status), Array(5).fill(Status.UNKNOWN));
  assert.ok(runs.every((r) => /^(timed out after|not run: )/.test(r.result.summary)), runs.map((r) => r.result.summary).join(' / '));
});

test('each probe\'s processes are counted apart, side by side: processesSpawned', async () => {
  const spawner = (name: string, n: number) => probe(name, async (ctx) => {
    await Promise.all(Array.from({ length: n }, () => exec('true', [], { timeoutMs: 5000, signal: ctx.signal })));
    return ok;
  });
  const runs = await runProbes([spawner('three', 3), spawner('none', 0), spawner('one', 1)], shared());
  assert.deepEqual(runs.map((r) => [r.result.probe, r.result.processesSpawned]), [['three', 3], ['none', 0], ['one', 1]]);
});
