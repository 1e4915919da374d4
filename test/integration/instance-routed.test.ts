// instance-routed against the lab node: real namespaces, veths, routes, ping, mtr and arping.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { addInstance, heal, injectFault, labDown, labUp, type LabEnv } from '../lab/lab.js';
import { requireLab } from '../lab/require.js';
import { addImpostor, removeImpostor } from '../lab/impostor.js';
import { labUnavailableReason } from '../lab/netns.js';
import { assertInOrder, assertNoStack, lmProbe, lmProbeAsync, variantConfig } from '../support/cli.js';
import { portableBundle } from '../support/portable.js';

// Labs are built only where they can run; requireLab() in each test skips or (in CI) fails.
const canLab = labUnavailableReason() === null;
const ip = (lab: LabEnv, index: number) => lab.instances.find((i) => i.index === index)!.ip;

/** An environment whose PATH puts a shell-script `tool` (body `script`) first: a tool that misbehaves. */
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/**
 * MTR's diagnosis of a dead instance behind a present route: nothing answers, or (once the link
 * namespace's neighbour entry has FAILED) the link namespace itself answers "host unreachable".
 */
const NO_PATH = '(no hop on the path answers|the path stops at (198\\.18\\.0\\.1|fd6c:6d70::1) \\(hop 1\\))';

let shims = 0;
function shimPath(lab: LabEnv, tool: string, script: string): NodeJS.ProcessEnv {
  const dir = join(lab.dir, `shim-${tool}-${++shims}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, tool), `#!/bin/sh\n${script}\n`);
  chmodSync(join(dir, tool), 0o755);
  return { ...process.env, PATH: `${dir}:${process.env.PATH}` };
}

describe('instance-routed on a healthy lab node', () => {
  let lab: LabEnv | undefined;
  before(() => { if (canLab) lab = labUp({ instances: 4 }); });
  after(() => lab && labDown(lab));

  test('every IP answers: OK, exit 0, perfdata', (t) => {
    if (!requireLab(t)) return;
    const r = lmProbe(['instance-routed', '--config', lab!.configFile]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const [line] = r.stdout.split('\n');
    assert.match(line, /^INSTANCE-ROUTED OK - 4 IPs of 4 instances answer \| ips=4;;;0 replied=4;;;0 filtered=0;;;0 unrouted=0;0;1;0 scan_time=[\d.]+s;;;0 foreign_mac=0;;;0 unchecked=0;;;0$/);
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
    // One IP filtering ICMP adds `ip route` and one arp-scan: 6, as for 8 of 60 below.
    injectFault(lab!, 3, 'drop-icmp');
    try {
      assert.equal(JSON.parse(lmProbe(['instance-routed', '--json', '--config', lab!.configFile]).stdout).processes_spawned, 6);
    } finally {
      heal(lab!, 3);
    }
  });

  test('a concurrent fping with the SAME identifier never makes a dead IP look alive (its replies are seen and rejected)', async (t) => {
    if (!requireLab(t)) return;
    injectFault(lab!, 4, 'dead');
    try {
      // fping hammers every lab IP from the same namespace while lm-probe scans. fping's ICMP
      // identifier is its pid (`ip netns exec` keeps it): the scan is forced to use the same one,
      // so only the source-address check stands between fping's replies and a false "alive".
      // fping numbers its echoes from 0 (4 targets every 20 ms), so it starts once the scan's
      // requests are out (~0.5 s) and while the dead IP's (3 s) is pending: its first rounds carry
      // the scan's very identifier and sequence numbers, answered by the live instances.
      const pinger = spawn('ip', ['netns', 'exec', lab!.linkNs, 'sh', '-c', 'sleep 1.5; exec fping -l -p 20 -q "$@"', 'sh', ...lab!.instances.map((i) => i.ip)], { stdio: 'ignore' });
      try {
        const cfg = variantConfig(lab!.configFile, 'same-id', { probes: { 'instance-routed': { icmp_identifier: pinger.pid! & 0xffff || 1, timeout: 3000, retries: 0 } } });
        const r = await lmProbeAsync(['instance-routed', '--debug', '--config', cfg]).done;
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stdout, new RegExp(`^INSTANCE-ROUTED WARNING - 1 of 4 IPs not routed: ${ip(lab!, 4).replace(/\./g, '\\.')} `));
        // The collision really happened: the scan saw fping's replies and rejected them (the worker's statistics in the trace).
        const rejected = /(\d+) stray replies rejected/.exec(r.stderr);
        assert.ok(rejected && Number(rejected[1]) > 0, r.stderr);
      } finally {
        pinger.kill('SIGTERM');
      }
    } finally {
      heal(lab!, 4);
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
    assert.ok(lines.some((l) => new RegExp(`^${esc(dead.ip)} ${dead.name} \\(${dead.uuid}\\): route via ${lab!.linkIface} present, ${NO_PATH}; no ARP reply on ${lab!.linkIface}$`).test(l)), r.stdout);
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

  test('a garbage-printing mtr is a detail of the IP it re-checked (one line, no crash), not the probe\'s verdict', (t) => {
    if (!requireLab(t)) return;
    const r = lmProbe(['instance-routed', '--config', lab!.configFile], { env: shimPath(lab!, 'mtr', 'echo "Segmentation fault (core dumped) %%%"\necho "<html>"') });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const dead = lab!.instances[3];
    assert.ok(r.stdout.split('\n').includes(`${dead.ip} ${dead.name} (${dead.uuid}): route via ${lab!.linkIface} present, MTR re-check failed: mtr: unparseable output: Segmentation fault (core dumped) %%% <html>; no ARP reply on ${lab!.linkIface}`), r.stdout);
    assertNoStack(r);
  });

  test('a hanging mtr is stopped before the deadline: a detail of its IP, and the process exits', (t) => {
    if (!requireLab(t)) return;
    const r = lmProbe(['instance-routed', '--timeout', '4', '--config', lab!.configFile], { env: shimPath(lab!, 'mtr', 'exec sleep 300'), timeoutMs: 20_000 });
    assert.equal(r.code, 2, `exit ${r.code}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^INSTANCE-ROUTED CRITICAL - 2 of 5 IPs not routed: /);
    assert.match(r.stdout, / present, MTR re-check failed: (ip netns exec \S+ )?mtr timed out after [\d.]+s; no ARP reply on /);
  });

  test('bug 7: an MTR that outlives the deadline (ignores SIGTERM): the cut reports what was seen, CRITICAL stays CRITICAL', (t) => {
    if (!requireLab(t)) return;
    const r = lmProbe(['instance-routed', '--timeout', '4', '--config', lab!.configFile], { env: shimPath(lab!, 'mtr', 'trap "" TERM\nwhile :; do sleep 1; done'), timeoutMs: 20_000 });
    assert.equal(r.code, 2, `exit ${r.code}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^INSTANCE-ROUTED CRITICAL - 2 of 5 IPs not routed: .* \(partial: timed out after 4s waiting for (ip netns exec \S+ )?mtr\) \| /);
    assert.match(r.stdout, / present, MTR re-check cut by the deadline; no ARP reply on /);
  });

  test('bug 6: a failing layer-2 sweep (arp-scan missing) is a detail of each IP, the MTR still decides', (t) => {
    if (!requireLab(t)) return;
    const r = lmProbe(['instance-routed', '--config', lab!.configFile], { env: shimPath(lab!, 'arp-scan', 'echo "arp-scan: pcap_open_live: No such device" >&2\nexit 1') });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const dead = lab!.instances[3];
    assert.match(r.stdout, new RegExp(`\n${esc(dead.ip)} ${dead.name} \\(${dead.uuid}\\): route via ${lab!.linkIface} present, ${NO_PATH}; ARP on ${lab!.linkIface}: (ip netns exec \\S+ )?arp-scan exited 1: arp-scan: pcap_open_live: No such device\n`));
  });

  test('link_namespace is validated before it reaches `ip -n`', (t) => {
    if (!requireLab(t)) return;
    const cfg = variantConfig(lab!.configFile, 'badlink', { probes: { 'instance-routed': { link_namespace: '-all' } } });
    const r = lmProbe(['instance-routed', '--config', cfg]);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.equal(r.stdout, 'INSTANCE-ROUTED UNKNOWN - invalid network namespace name: "-all"\n');
  });

  test('a second run while one is running: UNKNOWN "already running (pid N)"', async (t) => {
    if (!requireLab(t)) return;
    const first = lmProbeAsync(['instance-routed', '--config', lab!.configFile], shimPath(lab!, 'mtr', 'sleep 4\nexec /usr/bin/mtr "$@"'));
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

describe('instance-routed at scale: a tenth filtering ICMP, more failures than recheck_max (bug 0)', () => {
  let lab: LabEnv | undefined;
  const filtering = [3, 9, 17, 24, 31, 38, 45, 52];
  const dead = [5, 11, 19, 26, 33, 40, 47, 54, 56, 57, 58, 59];
  before(() => { if (canLab) lab = labUp({ instances: 60, faults: Object.fromEntries(filtering.map((k) => [k, 'drop-icmp'])) }); });
  after(() => lab && labDown(lab));

  test('8 of 60 filter ICMP, recheck_max 2: every one answered the ARP sweep, OK, 6 processes, nothing on stderr', (t) => {
    if (!requireLab(t)) return;
    const cfg = variantConfig(lab!.configFile, 'recheck2', { probes: { 'instance-routed': { recheck_max: 2 } } });
    const r = lmProbe(['instance-routed', '--config', cfg]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^INSTANCE-ROUTED OK - 60 IPs of 60 instances answer; 8 alive but filtering ICMP \| .* filtered=8;;;0 unrouted=0;0;1;0 /);
    assert.equal(r.stderr, '');
    assert.equal(JSON.parse(lmProbe(['instance-routed', '--json', '--config', cfg]).stdout).processes_spawned, 6);
  });

  test('12 dead besides: recheck_max of them are traced (unrouted), the rest "not re-checked"; 12 MTRs at once warn nothing on stderr', (t) => {
    if (!requireLab(t)) return;
    for (const k of dead) injectFault(lab!, k, 'dead');
    try {
      const two = lmProbe(['instance-routed', '--config', variantConfig(lab!.configFile, 'recheck2', { probes: { 'instance-routed': { recheck_max: 2 } } })]);
      assert.equal(two.code, 2, two.stdout + two.stderr);
      assert.match(two.stdout, /^INSTANCE-ROUTED CRITICAL - 2 of 60 IPs not routed: 198\.18\.1\.6, 198\.18\.1\.12; 10 answer neither ICMP nor ARP, not re-checked \(recheck_max 2\); 8 alive but filtering ICMP \| .* unrouted=2;0;1;0 .* unchecked=10;;;0\n/);
      assert.match(two.stdout, /\n198\.18\.1\.20 instance-00000013 \(\S+\): no echo reply; no ARP reply on to-br-int \(not re-checked: recheck_max 2 reached\)\n/);
      const all = lmProbe(['instance-routed', '--config', variantConfig(lab!.configFile, 'recheck12', { probes: { 'instance-routed': { recheck_max: 12 } } })]);
      assert.equal(all.code, 2, all.stdout + all.stderr);
      assert.match(all.stdout, /^INSTANCE-ROUTED CRITICAL - 12 of 60 IPs not routed: /);
      assert.equal(all.stderr, '[ INFO ] 12 ips are not correctly routed:\n', 'no MaxListenersExceededWarning: stderr carries lm-probe\'s own lines only');
    } finally {
      for (const k of dead) heal(lab!, k);
    }
  });
});

describe('instance-routed dual stack, and another MAC answering (bugs 4 and 6)', () => {
  let lab: LabEnv | undefined;
  before(() => { if (canLab) lab = labUp({ instances: 3, ipv6: true, faults: { 2: 'drop-icmp', 3: 'dead' } }); });
  after(() => lab && labDown(lab));

  test('IPv6 end to end: ICMPv6 scan, /128 routes read, neighbour solicitation for the silent, MTR for the dead', (t) => {
    if (!requireLab(t)) return;
    const [, filtering, dead] = lab!.instances;
    const r = lmProbe(['instance-routed', '--config', lab!.configFile]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], new RegExp(`^INSTANCE-ROUTED CRITICAL - 2 of 6 IPs not routed: ${dead.ip.replace(/\./g, '\\.')}, ${dead.ip6}; 2 alive but filtering ICMP \\| ips=6;;;0 replied=2;;;0 filtered=2;;;0 unrouted=2;0;1;0 `));
    assert.match(lines[1], new RegExp(`^${esc(dead.ip)} ${dead.name} \\(${dead.uuid}\\): route via to-br-int present, ${NO_PATH}; no ARP reply on to-br-int$`));
    assert.match(lines[2], new RegExp(`^${dead.ip6} ${dead.name} \\(${dead.uuid}\\): route via to-br-int present, ${NO_PATH}; no neighbour solicitation reply on to-br-int$`));
    assert.deepEqual(lines.slice(3), [
      `${filtering.ip} ${filtering.name} (${filtering.uuid}): alive, filters ICMP (route via to-br-int; answers ARP on to-br-int from ${filtering.mac})`,
      `${filtering.ip6} ${filtering.name} (${filtering.uuid}): alive, filters ICMP (route via to-br-int; answers neighbour solicitation on to-br-int from ${filtering.mac})`,
    ]);
  });

  test('a dead instance behind an impostor (duplicate IP / proxy ARP) is a finding, not "alive, filters ICMP"', (t) => {
    if (!requireLab(t)) return;
    const dead = lab!.instances[2];
    const imp = addImpostor(lab!, dead.index);
    try {
      const r = lmProbe(['instance-routed', '--config', lab!.configFile]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^INSTANCE-ROUTED WARNING - 4 of 6 IPs answer; 2 answered by another MAC \(duplicate IP or proxy ARP\); 2 alive but filtering ICMP \| .* foreign_mac=2;;;0 /);
      for (const addr of [dead.ip, dead.ip6]) {
        assert.ok(r.stdout.split('\n').includes(`${addr} ${dead.name} (${dead.uuid}): no echo reply; answered by ${imp.mac} which is not this port's MAC (${dead.mac}) on to-br-int: duplicate IP or proxy ARP`), r.stdout);
      }
    } finally {
      removeImpostor(lab!, imp);
    }
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
    // A readable copy of the bundle: the checkout may lie where uid 65534 cannot go (/root).
    const bundle = portableBundle();
    t.after(() => bundle.remove());
    const r = lmProbe(['instance-routed', '--config', cfg], { bin: bundle.bin, prefix: ['unshare', '-n', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', 'env', '-C', bundle.dir] });
    assert.equal(r.code, 3, r.stdout + r.stderr);
    // (uid 65534 cannot reach the lab's ovsdb either: that source's failure is said after the reason.)
    assert.equal(r.stdout.split('\n')[0], 'INSTANCE-ROUTED UNKNOWN - raw ICMP socket not permitted (needs root or CAP_NET_RAW)');
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

  test('bug 1: libvirt failing and one paused instance: UNKNOWN, never "OK - no instances"', (t) => {
    if (!requireLab(t)) return;
    const inv = join(lab!.dir, 'inventory-paused.yaml'); // not <variant name>.yaml: variantConfig writes that
    const i = lab!.instances[0];
    writeFileSync(inv, `instances:\n  - uuid: ${i.uuid}\n    state: paused\n    ports: [{id: ${i.portId}, mac: "${i.mac}", ips: [${i.ip}]}]\n`);
    const cfg = variantConfig(lab!.configFile, 'paused', { inventory: { sources: ['libvirt', 'file'], file: inv, libvirt: { uri: `test://${join(lab!.dir, 'absent.xml')}` }, cache: { max_age: 0 } } });
    const r = lmProbe(['instance-routed', '--config', cfg]);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    const [line, ...details] = r.stdout.trimEnd().split('\n');
    assert.equal(line, 'INSTANCE-ROUTED UNKNOWN - nothing checked while the inventory is degraded: no IPs to check: 1 instance not checked (1 paused) | ips=0;;;0');
    assert.match(details.join('\n'), /^inventory degraded: libvirt: /m);
  });

  test('bug 1: instances whose state no source gives are scanned like running ones (and --debug says so)', (t) => {
    if (!requireLab(t)) return;
    const inv = join(lab!.dir, 'inventory-unknown-state.yaml');
    const i = lab!.instances[0];
    writeFileSync(inv, `instances:\n  - uuid: ${i.uuid}\n    state: unknown\n    ports: [{id: ${i.portId}, mac: "${i.mac}", ips: [${i.ip}]}]\n`);
    const cfg = variantConfig(lab!.configFile, 'unknown-state', { inventory: { sources: ['file'], file: inv, cache: { max_age: 0 } } });
    const r = lmProbe(['instance-routed', '--debug', '--config', cfg]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^INSTANCE-ROUTED OK - 1 IP of 1 instance answers \| /);
    assert.match(r.stderr, /^\[ DEBUG \] 1 instances in state unknown \(known only to file\): scanned like running ones$/m);
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
