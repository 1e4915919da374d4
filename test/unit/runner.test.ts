import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig } from '../../src/config.js';
import { ProbeError } from '../../src/errors.js';
import { Logger } from '../../src/log.js';
import { defineProbe } from '../../src/probe.js';
import { Status } from '../../src/result.js';
import { runProbe } from '../../src/runner.js';

const dir = mkdtempSync('/tmp/lmp-runner-');
after(() => rmSync(dir, { recursive: true, force: true }));

function shared(timeoutS = 30) {
  const config = defaultConfig();
  config.timeout = timeoutS;
  config.lock_dir = join(dir, 'lock');
  config.state_dir = join(dir, 'state');
  const lines: string[] = [];
  const log = new Logger({ debug: true, sink: (l) => lines.push(l) });
  return { config, log, lines, inventory: async () => ({ instances: [], sources: [], findings: [] }) };
}

const probe = (name: string, run: () => Promise<never> | Promise<{ status: Status; summary: string; details: string[]; perfdata: [] }>) =>
  defineProbe({ name, summary: name, options: {}, run });

test('a probe that hangs ends UNKNOWN at its deadline', async () => {
  const started = Date.now();
  const { result } = await runProbe(probe('hang', () => new Promise(() => {})), shared(1));
  assert.equal(result.status, Status.UNKNOWN);
  assert.equal(result.summary, 'timed out after 1s');
  assert.ok(Date.now() - started < 5000);
});

test('an expected failure keeps its one-line reason', async () => {
  const { result } = await runProbe(probe('fails', async () => { throw new ProbeError('ovs-ofctl not found'); }), shared());
  assert.deepEqual([result.status, result.summary], [Status.UNKNOWN, 'ovs-ofctl not found']);
});

test('a bug becomes one line; its stack only goes to the debug trace', async () => {
  const s = shared();
  const { result, log } = await runProbe(probe('buggy', async () => { throw new TypeError("Cannot read properties of undefined (reading 'x')\n    at foo (x.js:1:1)"); }), s);
  assert.equal(result.status, Status.UNKNOWN);
  assert.equal(result.summary, "internal error: Cannot read properties of undefined (reading 'x') at foo (x.js:1:1)");
  assert.ok(log.lines.some((l) => l.startsWith('[ DEBUG ] internal error: TypeError')));
});

test('a throw of a non-Error value is handled too', async () => {
  const { result } = await runProbe(probe('weird', async () => { throw 'just a string'; }), shared());
  assert.deepEqual([result.status, result.summary], [Status.UNKNOWN, 'internal error: just a string']);
});

test('a lock held by a live process: UNKNOWN "already running (pid N)", probe not run', async () => {
  const s = shared();
  let ran = false;
  const p = probe('locked', async () => { ran = true; return { status: Status.OK, summary: 'ok', details: [], perfdata: [] }; });
  await runProbe(p, s); // creates the lock dir
  writeFileSync(join(s.config.lock_dir, 'locked.lock'), '1\n'); // pid 1 is always alive
  ran = false;
  const { result } = await runProbe(p, s);
  assert.deepEqual([result.status, result.summary, ran], [Status.UNKNOWN, 'already running (pid 1)', false]);
});
