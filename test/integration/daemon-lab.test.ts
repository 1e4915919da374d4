/**
 * `lm-probe daemon` on a 2-node KVM lab cluster with its monitoring namespace: scheduled runs
 * delivered to the lab's nagios, SIGHUP reload (a broken file refused, a good one applied),
 * SIGTERM exits 0, and a REAL live migration (test/lab/migrate.ts) that leaves the instance's
 * OVS port behind on the source, triggering runs on both nodes (libvirt lifecycle events),
 * delivered at once: the leftover is a passive CRITICAL of the source's ovs-ports in nagios.
 * The same cluster shows every passive channel delivering from each of the two nodes.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registry } from '../../probes/registry.js';
import { clusterDown, clusterUp, type Cluster } from '../lab/cluster.js';
import { kvmUnavailableReason, restartLibvirtd, virsh } from '../lab/kvm.js';
import { saveLab, type LabEnv } from '../lab/lab.js';
import { migrate } from '../lab/migrate.js';
import { icingaServiceState, MONITORING_SERVICES, monitoringUnavailableReason, nagiosServiceState, waitNagiosResult, type MonitoringLab } from '../lab/monitoring.js';
import { addOrphanPort, removeOrphanPort } from '../lab/ovs-faults.js';
import { labUnavailableReason } from '../lab/netns.js';
import { requireLab, requirePart } from '../lab/require.js';
import { BIN, variantConfig } from '../support/cli.js';
import { startFakeIn } from '../support/fake-passive.js';
import { commandFileChannel, expectedOutput, icingaChannel, lmProbeInNode, nagiosLoggedResults, nagiosShows, nscaChannel, pluginText, secretFile } from '../support/passive.js';

const canRun = labUnavailableReason() === null && kvmUnavailableReason() === null && monitoringUnavailableReason() === null;
const NEVER = '0 0 1 1 *'; // once a year: only what the test triggers runs
/** Findings at once, no arrival/departure window: a leftover is CRITICAL right after the migration. */
const NO_GRACE = { 'instance-routed': { grace: 0 }, 'openflow-rules': { grace: 0 }, 'ovs-ports': { grace: 0, orphans: 'critical' } };
const nowS = () => Math.floor(Date.now() / 1000);

/** A running daemon, its stderr so far, and a way to wait for a line. */
class DaemonProc {
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  constructor(config: string, extra: string[] = []) {
    this.child = spawn(BIN, ['daemon', '--config', config, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
  }
  signal(sig: NodeJS.Signals): void { this.child.kill(sig); }
  /** Wait for `re` in stderr after `from` (an offset); the matching line, or throws with what was seen. */
  async waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<string> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const line = this.stderr.slice(from).split('\n').find((l) => re.test(l));
      if (line) return line;
      if (Date.now() > end) throw new Error(`no ${re} within ${timeoutMs} ms; stderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('lm-probe daemon on a 2-node KVM cluster', () => {
  let c: Cluster | undefined;
  let m: MonitoringLab;
  const daemons: DaemonProc[] = [];
  const hostOf = (n: LabEnv) => n.host ?? `${n.prefix}-node1`;
  /** The node's config for the daemon: delivery to nagios' pipe, instance-routed on `schedule` (the others never), the migration delays. */
  const config = (n: LabEnv, name: string, schedule: string, delays: string[] | null) => variantConfig(n.configFile, name, {
    probes: Object.fromEntries(registry.map((p) => [p.name, { ...NO_GRACE[p.name as keyof typeof NO_GRACE], schedule: p.name === 'instance-routed' ? schedule : NEVER }])),
    report: { passive: [commandFileChannel(m)] },
    daemon: { after_migration: delays ? { enabled: true, delays } : { enabled: false } },
  });
  const start = (cfg: string, extra: string[] = []) => {
    const d = new DaemonProc(cfg, extra);
    daemons.push(d);
    return d;
  };

  before(() => {
    if (!canRun) return;
    c = clusterUp({ instances: 1, nodes: 2, libvirt: 'kvm', monitoring: true });
    m = c.nodes[0].monitoring!;
  });
  after(async () => {
    for (const d of daemons) d.signal('SIGKILL');
    if (c) clusterDown(c);
  });
  const gate = (t: TestContext) => requireLab(t) && requirePart(t, 'KVM lab', kvmUnavailableReason()) && requirePart(t, 'monitoring lab', monitoringUnavailableReason());

  test('scheduled runs reach nagios; SIGHUP: a broken file is refused, a good one applied; SIGTERM exits 0', async (t) => {
    if (!gate(t)) return;
    const node = c!.nodes[0];
    const cfg = config(node, 'daemon-sched', '*/2 * * * * *', null);
    const d = start(cfg);
    await d.waitFor(/daemon started \(pid \d+\): instance-routed "\*\/2 \* \* \* \* \*", ovs-ports "0 0 1 1 \*"/, 10_000);
    const since = Math.floor(Date.now() / 1000);
    const line = await d.waitFor(/\[ INFO \] INSTANCE-ROUTED \w+ - /, 20_000);
    const status = /INSTANCE-ROUTED (\w+)/.exec(line)![1];
    await d.waitFor(new RegExp(`passive:command_file: delivered .*instance-routed ${status}`), 10_000);
    assert.equal(waitNagiosResult(m, hostOf(node), 'instance-routed', since)?.state, ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'].indexOf(status));

    writeFileSync(cfg, 'probes: [\n');
    d.signal('SIGHUP');
    await d.waitFor(/\[ ERROR \] reload refused, keeping the previous configuration: config error: .*daemon-sched\.yaml:\d+: invalid YAML/, 10_000);
    const mark = d.stderr.length;
    await d.waitFor(/\[ INFO \] INSTANCE-ROUTED \w+ - /, 20_000, mark); // still on the old schedule

    config(node, 'daemon-sched', NEVER, null);
    d.signal('SIGHUP');
    await d.waitFor(/configuration reloaded from .*: instance-routed "0 0 1 1 \*"/, 10_000);
    d.signal('SIGTERM');
    assert.equal(await d.exited, 0, d.stderr);
    assert.match(d.stderr, /SIGTERM received: stopping/);
    assert.match(d.stderr, /daemon stopped\n$/);
  });

  test('every channel delivers from each node: nagios (pipe and nsca), icinga2, NRDP and ws_arbiter show the node\'s host with long output and perfdata', async (t) => {
    if (!gate(t)) return;
    // NRDP and ws_arbiter in the monitoring namespace, where the nodes reach the real receivers.
    const nrdp = await startFakeIn(m.ns, m.addr, 'nrdp', ['lmp-token']);
    const ws = await startFakeIn(m.ns, m.addr, 'ws_arbiter', ['lm-probe', 'lmp-pw']);
    for (const [k, n] of c!.nodes.entries()) {
      const host = hostOf(n);
      addOrphanPort(n, 1); // ovs-ports CRITICAL on each node, with a long-output line
      try {
        const cfg = variantConfig(n.configFile, 'every-channel', {
          state_dir: join(n.dir, 'state-every-channel'),
          probes: NO_GRACE,
          report: {
            passive: [
              commandFileChannel(m),
              nscaChannel(m),
              icingaChannel(m, n.dir),
              { type: 'nrdp', url: `${nrdp.url}/nrdp/`, token_file: secretFile(n.dir, 'nrdp.token', 'lmp-token') },
              { type: 'ws_arbiter', url: ws.url, username: 'lm-probe', password_file: secretFile(n.dir, 'ws.pw', 'lmp-pw') },
            ],
          },
        });
        const since = nowS();
        const logged = nagiosLoggedResults(m, host, 'ovs-ports').length;
        const { doc } = lmProbeInNode(n.nodeNs, ['run', 'ovs-ports', '--passive', '--config', cfg]);
        const r = doc.results[0];
        assert.equal(r.status_text, 'CRITICAL', JSON.stringify(r));
        assert.ok(r.details.length >= 1 && r.perfdata.length >= 1, 'long output and perfdata to carry');
        assert.deepEqual(doc.delivery.map((d) => [d.channel, d.service, d.outcome]).sort(),
          ['command_file', 'icinga2', 'nrdp', 'nsca', 'ws_arbiter'].map((ch) => [ch, 'ovs-ports', 'delivered']), JSON.stringify(doc.delivery));
        const want = expectedOutput(r);
        // nagios: the pipe and nsca both write the command; nagios.log shows both, status.dat the result.
        const s = waitNagiosResult(m, host, 'ovs-ports', since);
        assert.ok(s, `${host}: in status.dat`);
        assert.deepEqual({ state: s.state, output: s.output, perfdata: s.perfdata }, { state: 2, ...nagiosShows(r) });
        for (let i = 0; i < 50 && nagiosLoggedResults(m, host, 'ovs-ports').length < logged + 2; i++) await sleep(100);
        const lines = nagiosLoggedResults(m, host, 'ovs-ports').slice(logged);
        assert.equal(lines.length, 2, `the pipe's and nsca's results in nagios.log:\n${lines.join('\n')}`);
        for (const l of lines) assert.ok(l.endsWith(`;ovs-ports;2;${pluginText(r)}`), l);
        const ic = icingaServiceState(m, host, 'ovs-ports');
        assert.ok(ic && ic.lastCheck >= since - 1, `${host}: icinga2 took it`);
        assert.equal(ic.state, 2);
        assert.equal(ic.output, want.output);
        for (const p of r.perfdata) assert.match(ic.perfdata, new RegExp(`"label":"${p.text.split('=')[0]}"|${p.text.split('=')[0]}=`));
        const expect = { host, service: 'ovs-ports', state: 2, output: pluginText(r) };
        const strip = (x: object) => ({ ...x, time: undefined });
        assert.deepEqual(strip((await nrdp.waitAccepted(k + 1))[k]), strip(expect));
        assert.deepEqual(strip((await ws.waitAccepted(k + 1))[k]), strip(expect));
        t.diagnostic(`${host}: ${doc.delivery.map((d) => `${d.channel} ${d.ms} ms`).join(', ')}`);
      } finally {
        removeOrphanPort(n, 1);
      }
    }
  });

  test('a live migration leaving its OVS port on the source: both daemons run within the first delay + 10 s, nagios shows the source\'s ovs-ports CRITICAL naming the port, the destination clean', async (t) => {
    if (!gate(t)) return;
    const [src, dst] = c!.nodes;
    // The lab plugs the destination's port after the live migration (Nova does it before): a
    // first look 5 s after the event comes once migrate() is done (about 3 s here).
    const delay = 5;
    const [dSrc, dDst] = [src, dst].map((n) => start(config(n, 'daemon-migr', NEVER, [String(delay), '600'])));
    for (const d of [dSrc, dDst]) await d.waitFor(/following libvirt lifecycle events/, 15_000);
    const i = src.instances.find((x) => x.index === 1)!;
    const t0 = Date.now();
    const since = Math.floor(t0 / 1000);
    migrate(src, dst, 1, { leave: ['port'] });
    const migrated = Date.now();
    await dSrc.waitFor(/domain instance-00000001 left \(Stopped Migrated\): probes run in 5s and 600s/, 10_000);
    await dDst.waitFor(/domain instance-00000001 arrived \((Started|Resumed) Migrated\)/, 10_000);
    // The events come after t0: within the first delay + 10 s of t0, each node has run every probe and delivered.
    for (const [d, n] of [[dSrc, src], [dDst, dst]] as const) {
      await d.waitFor(/passive:command_file: delivered .*ovs-ports/, (delay + 10) * 1000 - (Date.now() - t0));
      const s = waitNagiosResult(m, hostOf(n), 'ovs-ports', since, 5000);
      assert.ok(s, `${hostOf(n)}: an ovs-ports result in nagios after the migration`);
      t.diagnostic(`${hostOf(n)}: ovs-ports ${s.state} in nagios ${Math.round((Date.now() - t0) / 100) / 10}s after the migration started (migration ${Math.round((migrated - t0) / 100) / 10}s)`);
    }
    const left = nagiosServiceState(m, hostOf(src), 'ovs-ports')!;
    assert.equal(left.state, 2, left.output);
    assert.match(left.output, new RegExp(`^OVS-PORTS CRITICAL - 1 orphan: orphan: Interface ${i.tap} on br-int \\(iface-id ${i.portId}, vm-uuid ${i.uuid}`));
    assert.match(left.output, /no instance hosted here has it/);
    t.diagnostic(`source daemon:\n${dSrc.stderr.split('\n').filter((l) => /domain |OVS-PORTS|delivered .*ovs-ports/.test(l)).join('\n')}`);
    // The destination: every result delivered since the migration, none CRITICAL, none naming the port as a leftover.
    const dstResults = MONITORING_SERVICES.map((svc) => [svc, nagiosServiceState(m, hostOf(dst), svc)] as const).filter(([, x]) => x && x.lastCheck >= since);
    assert.ok(dstResults.some(([svc]) => svc === 'ovs-ports'));
    for (const [svc, x] of dstResults) {
      assert.notEqual(x!.state, 2, `${hostOf(dst)} ${svc}: ${x!.output}`);
      assert.doesNotMatch(x!.output, new RegExp(`orphan.*${i.tap}`), `${hostOf(dst)} ${svc}`);
    }
    assert.equal(dDst.stderr.match(/domain instance-00000001 arrived/g)?.length, 1, 'Started and Resumed Migrated: one trigger');
    for (const d of [dSrc, dDst]) {
      d.signal('SIGTERM');
      assert.equal(await d.exited, 0, d.stderr);
    }
  });

  // Last: it restarts a libvirtd. Instance 1 now runs on node 2 (the migration above).
  test('libvirtd restarted (a package upgrade): the event watcher ends, is restarted with backoff, and sees the guests\' events again', async (t) => {
    if (!gate(t)) return;
    const node = c!.nodes[1];
    const d = start(config(node, 'daemon-restart', NEVER, ['600']), ['--debug']);
    await d.waitFor(/following libvirt lifecycle events/, 15_000);
    const mark = d.stderr.length;
    node.kvm = restartLibvirtd(node.kvm!);
    saveLab(node); // teardown stops the new libvirtd
    await d.waitFor(/\[ WARNING \] libvirt event watcher ended \(.*\): restarting in 1s/, 15_000, mark);
    await d.waitFor(/following libvirt lifecycle events/, 30_000, mark);
    // An event of the running guest reaches the new watcher (traced, not a migration: no run).
    virsh(node.kvm.uri, ['suspend', 'instance-00000001']);
    virsh(node.kvm.uri, ['resume', 'instance-00000001']);
    await d.waitFor(/libvirt event: domain instance-00000001 Suspended Paused: not a migration/, 10_000, mark);
    await d.waitFor(/libvirt event: domain instance-00000001 Resumed Unpaused: not a migration/, 10_000, mark);
    assert.doesNotMatch(d.stderr.slice(mark), /probes run in/, 'a pause is not a migration');
    t.diagnostic(d.stderr.slice(mark).split('\n').filter((l) => /watcher|following|libvirt event/.test(l)).join('\n'));
    d.signal('SIGTERM');
    assert.equal(await d.exited, 0, d.stderr);
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
