// The command line itself: help, version, list, unknown probes. No lab needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
  assert.match(r.stdout, /^bgp-announcements +the node's BGP daemon announces exactly the IPs of the instances hosted here/m);
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

test('config: prints the configuration in effect from the bundle, secrets as ***', () => {
  const dir = mkdtempSync('/tmp/lmp-cfg-');
  try {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, [
      'inventory:',
      '  openstack:',
      '    auth: {auth_url: "http://127.0.0.1:9/v3", username: lmp, password: "s3cret-Pa55", project_name: admin,',
      '           application_credential_secret: "app-s3cret-xyz"}',
      '',
    ].join('\n'));
    const r = lmProbe(['config', '--config', file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^# from ${file}\n`));
    assert.match(r.stdout, /^ {6}password: "\*\*\*"$/m);
    assert.match(r.stdout, /^ {6}application_credential_secret: "\*\*\*"$/m);
    assert.match(r.stdout, /^ {6}username: lmp$/m);
    assert.ok(!r.stdout.includes('s3cret'), r.stdout);
    // Nor in a --debug trace, whatever a component logs (the API here refuses at once).
    const inv = lmProbe(['inventory', '--debug', '--timeout', '4', '--config', file]);
    assert.ok(!(inv.stdout + inv.stderr).includes('s3cret'), inv.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('usage errors: UNKNOWN, exit 3, one line on stdout, nothing on stderr', () => {
  for (const args of [['no-such-probe'], ['instance-routed', '--no-such-option'], [], ['run', '-w', '1'], ['instance-routed', '--timeout', '2147484']]) {
    const r = lmProbe(args);
    assert.equal(r.code, 3, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^LM-PROBE UNKNOWN - .+\n$|^INSTANCE-ROUTED UNKNOWN - .+\n$/, args.join(' '));
    assert.equal(r.stderr, '', args.join(' '));
  }
});
