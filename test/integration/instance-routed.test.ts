// instance-routed against the lab node: real namespaces, veths, routes, ping, mtr and arping.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { addInstance, injectFault, labDown, labUp, type LabEnv } from '../lab/lab.js';
import { requireLab } from '../lab/require.js';
import { labUnavailableReason } from '../lab/netns.js';
import { assertInOrder, assertNoStack, lmProbe, lmProbeAsync, variantConfig } from '../support/cli.js';

// Labs are built only where they can run; requireLab() in each test skips or (in CI) fails.
const canLab = labUnavailableReason() === null;
const ip = (lab: LabEnv, index: number) => lab.instances.find((i) => i.index === index)!.ip;

describe('instance-routed on a healthy lab node', () => {
  let lab: LabEnv | undefined;
  before(() => { if (canLab) lab = labUp({ instances: 4 }); });
  after(() => lab && labDown(lab));

  test('every IP answers: OK, exit 0, perfdata', (t) => {
    if (!requireLab(t)) return;
    const r = lmProbe(['instance-routed', '--config', lab!.configFile]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const [line] = r.stdout.split('\n');
    assert.match(line, /^INSTANCE-ROUTED OK - 4 IPs of 4 instances answer \| ips=4;;;0 replied=4;;;0 filtered=0;;;0 unrouted=0;0;1;0 scan_time=[\d.]+s;;;0$/);
  });

  test('run: one block per probe, exit with the worst status; --quiet hides INFO', (t) => {
    if (!requireLab(t)) return;
    const r = lmProbe(['run', '--quiet', '--config', lab!.configFile]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^INSTANCE-ROUTED OK - /);
    assert.equal(r.stderr, '');
  });

  test('an OCO directory that cannot be written: said on stderr, status unchanged', (t) => {
    if (!requireLab(t)) return;
    const blocker = join(lab!.dir, 'oco-is-a-file');
    writeFileSync(blocker, '');
    const r = lmProbe(['instance-routed', '--oco', '--config', variantConfig(lab!.configFile, 'badoco', { oco: { dir: blocker } })]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^INSTANCE-ROUTED OK - /);
    assert.match(r.stderr, new RegExp(`^\\[ ERROR \\] cannot write oco status to ${blocker}: `, 'm'));
  });

  test('--json prints one document with every field', (t) => {
    if (!requireLab(t)) return;
    const r = lmProbe(['instance-routed', '--json', '--config', lab!.configFile]);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.status, 0);
    assert.equal(doc.results[0].probe, 'instance-routed');
    assert.equal(doc.results[0].perfdata.find((p: { label: string }) => p.label === 'ips').value, 4);
    // virsh list + virsh batch + ovs-vsctl (inventory) + the ICMP worker: the same for 4 or 400 instances.
    assert.equal(doc.processes_spawned, 4);
  });

  test('a concurrent fping never makes a dead IP look alive', async (t) => {
    if (!requireLab(t)) return;
    injectFault(lab!, 4, 'dead');
    // fping hammers every lab IP from the same namespace while lm-probe scans.
    const pinger = spawn('ip', ['netns', 'exec', lab!.linkNs, 'fping', '-l', '-p', '20', '-q', ...lab!.instances.map((i) => i.ip)], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const r = await lmProbeAsync(['instance-routed', '--config', lab!.configFile]).done;
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, new RegExp(`^INSTANCE-ROUTED WARNING - 1 of 4 IPs not routed: ${ip(lab!, 4).replace(/\./g, '\\.')} `));
    } finally {
      pinger.kill('SIGTERM');
    }
  });
});

describe('instance-routed with faults', () => {
  let lab: LabEnv | undefined;
  before(() => { if (canLab) lab = labUp({ instances: 5, faults: { 2: 'no-route', 3: 'drop-icmp', 4: 'dead' } }); });
  after(() => lab && labDown(lab));

  test('no-route and dead are unrouted (CRITICAL), drop-icmp is alive and filtering; OCO 300', (t) => {
    if (!requireLab(t)) return;
    const r = lmProbe(['instance-routed', '--oco', '--config', lab!.configFile]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], new RegExp(`^INSTANCE-ROUTED CRITICAL - 2 of 5 IPs not routed: ${ip(lab!, 2)}, ${ip(lab!, 4)}; 1 alive but filtering ICMP \\| `.replace(/\./g, '\\.')));
    const noRoute = lab!.instances[1];
    const dead = lab!.instances[3];
    const filtering = lab!.instances[2];
    assert.ok(lines.some((l) => l.startsWith(`${noRoute.ip} ${noRoute.name} (${noRoute.uuid}): no static route in ${lab!.linkNs}; answers ARP on ${lab!.linkIface} from ${noRoute.mac}`)), r.stdout);
    assert.ok(lines.some((l) => l.startsWith(`${dead.ip} ${dead.name} (${dead.uuid}): route via ${lab!.linkIface} present, no hop on the path answers; no ARP reply on ${lab!.linkIface}`)), r.stdout);
    assert.ok(lines.some((l) => l.startsWith(`${filtering.ip} ${filtering.name} (${filtering.uuid}): alive, filters ICMP`)), r.stdout);
    assert.match(lines[0], / unrouted=2;0;1;0 /);
    assert.equal(readFileSync(join(lab!.ocoDir, 'result', 'instance-routed'), 'utf8').trim(), '300');
    const debug = readFileSync(join(lab!.ocoDir, 'result_debug', 'instance-routed'), 'utf8');
    assert.match(debug, /\[ DEBUG \] Scanning \(icmp\) following 5 ips:/, 'the OCO debug file has the full trace even without --debug');
    assert.match(debug, /INSTANCE-ROUTED CRITICAL - /);
  });

  test('one unrouted IP: WARNING, OCO 210, and the operators\' --debug trace', (t) => {
    if (!requireLab(t)) return;
    const cfg = variantConfig(lab!.configFile, 'only-no-route', { probes: { 'instance-routed': { critical: '3' } } });
    // With critical 3, two unrouted still warn; check the trace shape on the no-route IP.
    const r = lmProbe(['instance-routed', '--debug', '--oco', '--config', cfg]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const noRoute = ip(lab!, 2);
    const expected = [
      '[ DEBUG ] Scanning (icmp) following 5 ips:',
      `[ DEBUG ] ${lab!.instances.map((i) => i.ip).join(' ')}`,
      '[ DEBUG ] 3 ips did not reply:',
      `[ DEBUG ] ${[2, 3, 4].map((i) => ip(lab!, i)).join(' ')}`,
      `[ DEBUG ] ${noRoute} does not have static route in ${lab!.linkNs}!!`,
      '[ DEBUG ] Trying again MTR check:',
      '[ INFO ] 2 ips are not correctly routed:',
      '[ INFO ] Set oco status: 210',
      '[ DEBUG ] Write oco status: 210',
    ];
    assertInOrder(r.stderr, expected);
    assert.equal(readFileSync(join(lab!.ocoDir, 'result', 'instance-routed'), 'utf8').trim(), '210');
  });

  test('-w/-c override the configured ranges', (t) => {
    if (!requireLab(t)) return;
    assert.equal(lmProbe(['instance-routed', '-w', '5', '-c', '10', '--config', lab!.configFile]).code, 0);
    const bad = lmProbe(['instance-routed', '-c', '9:1', '--config', lab!.configFile]);
    assert.equal(bad.code, 3);
    assert.match(bad.stdout, /^INSTANCE-ROUTED UNKNOWN - invalid threshold range "9:1"/);
  });

  test('a garbage-printing mtr ends UNKNOWN with a one-line reason, not a crash', (t) => {
    if (!requireLab(t)) return;
    const shim = join(lab!.dir, 'shim-garbage');
    mkdirSync(shim, { recursive: true });
    writeFileSync(join(shim, 'mtr'), '#!/bin/sh\necho "Segmentation fault (core dumped) %%%"\necho "<html>"\n');
    chmodSync(join(shim, 'mtr'), 0o755);
    const r = lmProbe(['instance-routed', '--config', lab!.configFile], { env: { ...process.env, PATH: `${shim}:${process.env.PATH}` } });
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.equal(r.stdout, 'INSTANCE-ROUTED UNKNOWN - mtr: unparseable output: Segmentation fault (core dumped) %%% <html>\n');
    assertNoStack(r);
  });

  test('a hanging mtr is cut by the deadline: UNKNOWN, and the process exits', (t) => {
    if (!requireLab(t)) return;
    const shim = join(lab!.dir, 'shim-hang');
    mkdirSync(shim, { recursive: true });
    writeFileSync(join(shim, 'mtr'), '#!/bin/sh\nexec sleep 300\n');
    chmodSync(join(shim, 'mtr'), 0o755);
    const r = lmProbe(['instance-routed', '--timeout', '4', '--config', lab!.configFile], { env: { ...process.env, PATH: `${shim}:${process.env.PATH}` }, timeoutMs: 20_000 });
    assert.equal(r.code, 3, `exit ${r.code}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^INSTANCE-ROUTED UNKNOWN - (timed out after 4s|mtr timed out after [\d.]+s)\n$/);
  });

  test('a second run while one is running: UNKNOWN "already running (pid N)"', async (t) => {
    if (!requireLab(t)) return;
    const shim = join(lab!.dir, 'shim-slow');
    mkdirSync(shim, { recursive: true });
    writeFileSync(join(shim, 'mtr'), '#!/bin/sh\nsleep 4\nexec /usr/bin/mtr "$@"\n');
    chmodSync(join(shim, 'mtr'), 0o755);
    const first = lmProbeAsync(['instance-routed', '--config', lab!.configFile], { ...process.env, PATH: `${shim}:${process.env.PATH}` });
    const lockFile = join(lab!.lockDir, 'instance-routed.lock');
    for (let i = 0; i < 100 && !existsSync(lockFile); i++) await new Promise((r) => setTimeout(r, 50));
    const second = lmProbe(['instance-routed', '--config', lab!.configFile]);
    assert.equal(second.code, 3);
    assert.equal(second.stdout, `INSTANCE-ROUTED UNKNOWN - already running (pid ${first.pid})\n`);
    const firstRun = await first.done;
    assert.equal(firstRun.code, 2, 'the first run is not disturbed');
    assert.equal(existsSync(lockFile), false, 'the lock is released');
  });

  test('instances that just arrived warn at most (grace)', (t) => {
    if (!requireLab(t)) return;
    lmProbe(['instance-routed', '--config', lab!.configFile]); // first run: records who is here
    const a = addInstance(lab!);
    const b = addInstance(lab!);
    injectFault(lab!, a.index, 'no-route');
    injectFault(lab!, b.index, 'no-route');
    const cfg = variantConfig(lab!.configFile, 'grace', { probes: { 'instance-routed': { warning: '2', critical: '2' } } });
    // The two old faults are within 0..2 (OK); the two newcomers would make 4 (CRITICAL) but are in grace.
    const r = lmProbe(['instance-routed', '--config', cfg]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^INSTANCE-ROUTED WARNING - 4 of 7 IPs not routed: .* \(2 arrived recently\)/);
    assert.match(r.stdout, /arrived recently: warning only for 1[0-2]\ds more/);
  });
});

describe('instance-routed without what it needs', () => {
  let lab: LabEnv | undefined;
  before(() => { if (canLab) lab = labUp({ instances: 1 }); });
  after(() => lab && labDown(lab));

  test('no raw-socket permission: UNKNOWN with that reason', (t) => {
    if (!requireLab(t)) return;
    // An unprivileged user in a fresh, empty network namespace: nothing can leave even by mistake.
    const home = join(lab!.dir, 'nobody');
    mkdirSync(home, { recursive: true });
    chmodSync(lab!.dir, 0o755);
    chmodSync(home, 0o777);
    const cfg = variantConfig(lab!.configFile, 'nobody', {
      state_dir: join(home, 'state'), lock_dir: join(home, 'lock'),
      probes: { 'instance-routed': { ping_namespace: '', link_namespace: '' } },
    });
    chmodSync(cfg, 0o644);
    chmodSync(lab!.inventoryFile, 0o644);
    const r = lmProbe(['instance-routed', '--config', cfg], { prefix: ['unshare', '-n', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'] });
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.equal(r.stdout, 'INSTANCE-ROUTED UNKNOWN - raw ICMP socket not permitted (needs root or CAP_NET_RAW)\n');
  });

  test('a missing namespace is named', (t) => {
    if (!requireLab(t)) return;
    const cfg = variantConfig(lab!.configFile, 'nons', { probes: { 'instance-routed': { ping_namespace: 'lmp-does-not-exist' } } });
    const r = lmProbe(['instance-routed', '--config', cfg]);
    assert.equal(r.code, 3);
    assert.match(r.stdout, /^INSTANCE-ROUTED UNKNOWN - .*network namespace "lmp-does-not-exist" not found/);
  });

  test('inventory file source: missing file is UNKNOWN naming it; empty inventory is OK "no instances"', (t) => {
    if (!requireLab(t)) return;
    const absent = join(lab!.dir, 'absent.yaml');
    const missing = variantConfig(lab!.configFile, 'noinv', { inventory: { sources: ['file'], file: absent, cache: { max_age: 0 } } });
    const r = lmProbe(['instance-routed', '--config', missing]);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, `INSTANCE-ROUTED UNKNOWN - no inventory: file: ${absent} not found\n`);
    writeFileSync(join(lab!.dir, 'empty.yaml'), 'instances: []\n');
    const empty = variantConfig(lab!.configFile, 'emptyinv', { inventory: { sources: ['file'], file: join(lab!.dir, 'empty.yaml') } });
    const e = lmProbe(['instance-routed', '--config', empty]);
    assert.equal(e.code, 0);
    assert.match(e.stdout, /^INSTANCE-ROUTED OK - no instances \| ips=0;;;0\n$/);
  });

  test('a broken config: exit 3 with file and line', (t) => {
    if (!requireLab(t)) return;
    const bad = join(lab!.dir, 'bad.yaml');
    writeFileSync(bad, 'probes:\n  instance-routed:\n    timeout: fast\n');
    const r = lmProbe(['run', '--config', bad]);
    assert.equal(r.code, 3);
    assert.equal(r.stdout, `LM-PROBE UNKNOWN - config error: ${bad}:3: probes.instance-routed.timeout: expected a number, got "fast"\n`);
  });
});
