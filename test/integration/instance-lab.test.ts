/**
 * `lm-probe instance <uuid>` against a lab node (bird speaker, disk tree, the test driver), with
 * the real bin/lm-probe: one instance's faults from several probes and none of the others';
 * `--save`, a new fault on the same instance, `--compare` (new, already broken before, fixed);
 * snapshots it must refuse with one line. Then two nodes: --save on the source, migrate,
 * --compare on the destination, and the leftovers on the source tied to the instance that left.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { heal, injectFault, labDown, labUp, loadLab, type LabEnv } from '../lab/lab.js';
import { clusterDown, clusterUp, type Cluster } from '../lab/cluster.js';
import { migrate } from '../lab/migrate.js';
import { bgpUnavailableReason } from '../lab/bgp.js';
import { disksUnavailableReason } from '../lab/disks.js';
import { labUnavailableReason } from '../lab/netns.js';
import { requireLab, requirePart } from '../lab/require.js';
import { assertNoStack, BIN, lmProbe, type CliRun } from '../support/cli.js';

/** labUp only where it can run; need() says why not, per test. */
const canRun = labUnavailableReason() === null && bgpUnavailableReason('bird') === null && disksUnavailableReason() === null;
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function need(t: TestContext): boolean {
  if (!requireLab(t)) return false;
  const reason = bgpUnavailableReason('bird') ?? disksUnavailableReason() ?? (spawnSync('virsh', ['--version']).status === 0 ? null : 'virsh not installed');
  return requirePart(t, 'lab node with bird and disks', reason);
}

describe('lm-probe instance on a lab node: instance 2 without its flows, instance 3 without its route', () => {
  let lab: LabEnv | undefined;
  before(() => { if (canRun) lab = labUp({ instances: 4, bgp: 'bird', disks: true, faults: { 2: 'no-flows', 3: 'no-route' } }); });
  after(() => lab && labDown(lab));
  const vm = (n: number) => lab!.instances.find((i) => i.index === n)!;
  const instance = (args: string[], input?: string): CliRun => {
    const r = lmProbe(['instance', ...args, '--config', lab!.configFile, '--quiet'], input === undefined ? {} : { input });
    assertNoStack(r);
    return r;
  };
  const snapshotFile = () => join(lab!.dir, 'before.json');

  test('its own faults from several probes, none of the other instances\'; by UUID or by name', (t) => {
    if (!need(t)) return;
    const r = instance([vm(3).uuid]);
    assert.equal(r.code, 2, r.stdout);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], new RegExp(`^LM-PROBE-INSTANCE CRITICAL - ${vm(3).uuid} \\(${vm(3).name}\\): hosted on ${esc(lab!.prefix)}-node1; instance-routed CRITICAL, bgp-announcements CRITICAL \\| findings=2;;;0$`));
    assert.match(lines[1], new RegExp(`^instance-routed CRITICAL: ${esc(vm(3).ip)} ${vm(3).name} \\(${vm(3).uuid}\\): no static route in `));
    assert.match(lines[2], new RegExp(`^bgp-announcements CRITICAL: ${esc(vm(3).ip)} ${vm(3).name} \\(${vm(3).uuid}\\): not announced to 198\\.18\\.255\\.1$`));
    assert.ok(lines.includes('openflow-rules: nothing found for it (the probe is CRITICAL about others)'), r.stdout);
    assert.ok(!r.stdout.includes(vm(2).uuid), 'instance 2\'s missing flows are not instance 3\'s');
    assert.equal(lines.length, 8, 'one line per probe that found nothing');

    const byName = instance([vm(2).name, '--json']);
    assert.equal(byName.code, 2, byName.stdout);
    const doc = JSON.parse(byName.stdout) as { uuid: string; hosted: boolean; probes: { probe: string; status: number; findings: { instance: string; key: string }[] }[] };
    assert.equal(doc.uuid, vm(2).uuid);
    assert.equal(doc.hosted, true);
    const found = doc.probes.flatMap((p) => p.findings.map((f) => `${p.probe} ${f.key} ${f.instance}`));
    assert.deepEqual(found, [`openflow-rules flows-missing ${vm(2).portId} ${vm(2).uuid}`]);
    assert.ok(!byName.stdout.includes(`not-routed ${vm(3).ip}`));
  });

  test('--save, then a new fault on it, then --compare: the new one keeps its status, the old one is WARNING; healed: fixed', (t) => {
    if (!need(t)) return;
    const saved = instance([vm(2).uuid, '--save', snapshotFile()]);
    assert.equal(saved.code, 2, saved.stdout);
    const snap = JSON.parse(readFileSync(snapshotFile(), 'utf8'));
    assert.deepEqual([snap.format, snap.version, snap.uuid, snap.host], ['lm-probe-instance', 1, vm(2).uuid, `${lab!.prefix}-node1`]);
    assert.deepEqual(snap.probes['openflow-rules'].findings.map((f: { key: string; status: number }) => [f.key, f.status]), [[`flows-missing ${vm(2).portId}`, 2]]);

    const same = instance([vm(2).uuid, '--compare', snapshotFile()]);
    assert.equal(same.code, 1, same.stdout);
    assert.match(same.stdout, /: 0 new, 1 already broken before, 0 fixed \| findings=1;;;0 new=0;;;0 already_broken=1;;;0 fixed=0;;;0\n/);
    assert.match(same.stdout, new RegExp(`\\nopenflow-rules WARNING already broken before \\(was CRITICAL\\): ${vm(2).name} \\(${vm(2).uuid}\\) port ${vm(2).portId} .*: missing table 0 `));

    injectFault(lab!, 2, 'no-bgp');
    injectFault(lab!, 2, 'resize-leftover');
    try {
      const after = instance([vm(2).uuid, '--compare', '-'], readFileSync(snapshotFile(), 'utf8'));
      assert.equal(after.code, 2, after.stdout);
      const lines = after.stdout.split('\n');
      assert.match(lines[0], /compared with stdin \(.*\): 2 new, 1 already broken before, 0 fixed \|/);
      assert.equal(lines[1], `bgp-announcements CRITICAL new: ${vm(2).ip} ${vm(2).name} (${vm(2).uuid}): not announced to 198.18.255.1`);
      // Then the WARNINGs, in the probes' order.
      assert.match(lines[2], /^openflow-rules WARNING already broken before \(was CRITICAL\): /);
      assert.match(lines[3], new RegExp(`^orphaned-disks WARNING new: leftover: .*/${vm(2).uuid}_resize \\(`));
    } finally {
      heal(lab!, 2);
    }
    const healed = instance([vm(2).uuid, '--compare', snapshotFile()]);
    assert.equal(healed.code, 0, healed.stdout);
    assert.match(healed.stdout, /: 0 new, 0 already broken before, 1 fixed \|/);
    assert.match(healed.stdout, new RegExp(`\\nopenflow-rules fixed \\(was CRITICAL\\): ${vm(2).name} `));
  });

  test('--save -: the snapshot alone on stdout, the exit code still the instance\'s', (t) => {
    if (!need(t)) return;
    const r = instance([vm(3).uuid, '--save', '-']);
    assert.equal(r.code, 2, r.stdout);
    const snap = JSON.parse(r.stdout);
    assert.equal(snap.uuid, vm(3).uuid);
    assert.deepEqual(snap.probes['bgp-announcements'].findings.map((f: { key: string }) => f.key), [`not-announced ${vm(3).ip}`]);
  });

  test('a snapshot it cannot use: UNKNOWN, one line naming the file, no probe run', (t) => {
    if (!need(t)) return;
    const file = (name: string, text: string) => { const p = join(lab!.dir, name); writeFileSync(p, text); return p; };
    const other = JSON.stringify({ ...JSON.parse(readFileSync(snapshotFile(), 'utf8')), uuid: vm(1).uuid });
    const cases: [string[], string | undefined, RegExp][] = [
      [['--compare', file('bad.json', '{"format": "lm-probe-inst')], undefined, /^LM-PROBE-INSTANCE UNKNOWN - --compare \S+bad\.json: not JSON \(/],
      [['--compare', file('other.json', other)], undefined, new RegExp(`^LM-PROBE-INSTANCE UNKNOWN - --compare \\S+other\\.json: snapshot of instance ${vm(1).uuid}, not ${vm(2).uuid}$`)],
      [['--compare', '-'], other.replace('"version":1', '"version":9'), /^LM-PROBE-INSTANCE UNKNOWN - --compare - \(stdin\): snapshot format version 9, this lm-probe reads version 1$/],
      [['--compare', join(lab!.dir, 'absent.json')], undefined, /^LM-PROBE-INSTANCE UNKNOWN - --compare \S+absent\.json: cannot read \(ENOENT/],
    ];
    for (const [args, input, want] of cases) {
      const r = instance([vm(2).uuid, ...args], input);
      assert.equal(r.code, 3, r.stdout);
      assert.equal(r.stdout.trimEnd().split('\n').length, 1, r.stdout);
      assert.match(r.stdout.trimEnd(), want);
    }
  });

  test('--compare - on a stdin that never ends (ssh without input): UNKNOWN after 10 s, not a hang', async (t) => {
    if (!need(t)) return;
    const child = spawn(BIN, ['instance', vm(2).uuid, '--compare', '-', '--config', lab!.configFile, '--quiet'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stdin.destroy();
    assert.equal(code, 3, stdout);
    assert.match(stdout, /^LM-PROBE-INSTANCE UNKNOWN - --compare - \(stdin\): cannot read \(stdin did not end within 10s\)\n$/);
  });
});

describe('two lab nodes: --save on the source, migrate, --compare on the destination', () => {
  let c: Cluster | undefined;
  before(() => { if (canRun) c = clusterUp({ nodes: 2, instances: 2, bgp: 'bird', disks: true, libvirt: 'test' }); });
  after(() => c && clusterDown(c));

  test('clean on arrival, then a fault on node 2 is new; node 1 shows what the instance left there', (t) => {
    if (!need(t)) return;
    const [n1, n2] = c!.nodes;
    const vm = n1.instances[0];
    const run = (node: LabEnv, args: string[], input?: string) => {
      const r = lmProbe(['instance', vm.uuid, '--config', node.configFile, '--quiet', ...args], input === undefined ? {} : { input });
      assertNoStack(r);
      return r;
    };
    const saved = run(n1, ['--save', '-']);
    assert.equal(saved.code, 0, saved.stdout);
    assert.equal(JSON.parse(saved.stdout).host, `${c!.prefix}-node1`);

    migrate(n1, n2, vm.index, { leave: ['flows', 'route'] });
    const clean = run(n2, ['--compare', '-'], saved.stdout);
    assert.equal(clean.code, 0, clean.stdout);
    assert.match(clean.stdout, new RegExp(`^LM-PROBE-INSTANCE OK - ${vm.uuid} \\(${vm.name}\\): hosted on ${esc(c!.prefix)}-node2; compared with stdin \\(${esc(c!.prefix)}-node1, [^)]+\\): 0 new, 0 already broken before, 0 fixed \\|`));

    injectFault(loadLab(n2.prefix), vm.index, 'no-flows'); // node 2's agent did not give it its flows
    const broken = run(n2, ['--compare', '-'], saved.stdout);
    assert.equal(broken.code, 2, broken.stdout);
    assert.match(broken.stdout, /: 1 new, 0 already broken before, 0 fixed \|/);
    assert.match(broken.stdout.split('\n')[1], new RegExp(`^openflow-rules CRITICAL new: ${vm.name} \\(${vm.uuid}\\) port ${vm.portId} .*: missing `));

    const source = run(n1, []);
    assert.equal(source.code, 1, source.stdout);
    const lines = source.stdout.split('\n');
    assert.match(lines[0], new RegExp(`: not hosted on ${esc(c!.prefix)}-node1 \\(its leftovers here, if any\\); bgp-announcements WARNING, openflow-rules WARNING \\|`));
    assert.match(lines[1], new RegExp(`^bgp-announcements WARNING: ${esc(vm.ip)}/32: announced to .*, instance ${vm.name} \\(${vm.uuid}\\) left this node `));
    assert.match(lines[2], new RegExp(`^openflow-rules WARNING: orphaned: \\d+ flows for ofport \\d+ .*left with ${vm.name} \\(${vm.uuid}\\) within the grace window$`));
  });
});
