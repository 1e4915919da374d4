/**
 * `lm-probe daemon` on a 2-node KVM lab cluster with its monitoring namespace: scheduled runs
 * delivered to the lab's nagios, SIGHUP reload (a broken file refused, a good one applied),
 * SIGTERM exits 0, and a REAL live migration (test/lab/migrate.ts) triggering runs on both
 * nodes (libvirt lifecycle events), delivered at once.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { clusterDown, clusterUp, type Cluster } from '../lab/cluster.js';
import { kvmUnavailableReason } from '../lab/kvm.js';
import type { LabEnv } from '../lab/lab.js';
import { migrate } from '../lab/migrate.js';
import { monitoringUnavailableReason, waitNagiosResult, type MonitoringLab } from '../lab/monitoring.js';
import { labUnavailableReason } from '../lab/netns.js';
import { requireLab, requirePart } from '../lab/require.js';
import { BIN, variantConfig } from '../support/cli.js';

const canRun = labUnavailableReason() === null && kvmUnavailableReason() === null && monitoringUnavailableReason() === null;
const NEVER = '0 0 1 1 *'; // once a year: only what the test triggers runs

/** A running daemon, its stderr so far, and a way to wait for a line. */
class DaemonProc {
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  constructor(config: string) {
    this.child = spawn(BIN, ['daemon', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  /** The node's config for the daemon: delivery to nagios' pipe, the given schedule and migration delays. */
  const config = (n: LabEnv, name: string, schedule: string, delays: string[] | null) => variantConfig(n.configFile, name, {
    probes: { 'instance-routed': { schedule, grace: 0 } },
    report: { passive: [{ type: 'command_file', path: m.nagios.commandFile }] },
    daemon: { after_migration: delays ? { enabled: true, delays } : { enabled: false } },
  });
  const start = (cfg: string) => {
    const d = new DaemonProc(cfg);
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
    await d.waitFor(/daemon started \(pid \d+\): instance-routed "\*\/2 \* \* \* \* \*"/, 10_000);
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

  test('a live migration triggers runs on both nodes (first delay), delivered to nagios at once', async (t) => {
    if (!gate(t)) return;
    const [src, dst] = c!.nodes;
    const delay = 2;
    const [dSrc, dDst] = [src, dst].map((n) => start(config(n, 'daemon-migr', NEVER, [String(delay), '600'])));
    for (const d of [dSrc, dDst]) await d.waitFor(/following libvirt lifecycle events/, 15_000);
    const t0 = Date.now();
    const since = Math.floor(t0 / 1000);
    migrate(src, dst, 1);
    const migrated = Date.now();
    await dSrc.waitFor(/domain instance-00000001 left \(Stopped Migrated\): probes run in 2s and 600s/, 10_000);
    await dDst.waitFor(/domain instance-00000001 arrived \((Started|Resumed) Migrated\)/, 10_000);
    // Within the first delay + 10 s of the event, each node has run and delivered.
    for (const [d, n] of [[dSrc, src], [dDst, dst]] as const) {
      await d.waitFor(/passive:command_file: delivered .*instance-routed/, (delay + 10) * 1000 - (Date.now() - migrated));
      const s = waitNagiosResult(m, hostOf(n), 'instance-routed', since, 5000);
      assert.ok(s, `${hostOf(n)}: a result in nagios after the migration`);
      t.diagnostic(`${hostOf(n)}: result in nagios ${Math.round((Date.now() - t0) / 100) / 10}s after the migration started (migration ${Math.round((migrated - t0) / 100) / 10}s)`);
    }
    assert.equal(dDst.stderr.match(/domain instance-00000001 arrived/g)?.length, 1, 'Started and Resumed Migrated: one trigger');
    for (const d of [dSrc, dDst]) {
      d.signal('SIGTERM');
      assert.equal(await d.exited, 0, d.stderr);
    }
  });
});
