// The command line itself: help, version, list, unknown probes. No lab needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { lmProbe } from '../support/cli.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));

test('--version prints the package version', () => {
  const r = lmProbe(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), pkg.version);
});

test('--help lists the commands and the exit codes', () => {
  const r = lmProbe(['--help']);
  assert.equal(r.code, 0);
  for (const word of ['list', 'run', 'instance-routed', 'config', 'Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN']) assert.ok(r.stdout.includes(word), word);
});

test('list: one line per probe with what it checks', () => {
  const r = lmProbe(['list']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^instance-routed +every instance IP hosted here answers ICMP/m);
});

test('run with an unknown probe: UNKNOWN, exit 3', () => {
  const r = lmProbe(['run', 'no-such-probe']);
  assert.equal(r.code, 3);
  assert.equal(r.stdout, 'LM-PROBE UNKNOWN - unknown probe: no-such-probe (see lm-probe list)\n');
});

test('config --example prints the documented example', () => {
  const r = lmProbe(['config', '--example']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, readFileSync(new URL('../../../config/lm-probe.example.yaml', import.meta.url), 'utf8'));
});
