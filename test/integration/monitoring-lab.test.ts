/**
 * The lab's monitoring namespace (test/lab/monitoring.ts, MONITORING.md): nagios4 + nsca + icinga2
 * in `<prefix>-mon`, brought up with a 2-node cluster (`monitoring: true`), one for both nodes,
 * each node sending passive results from its node namespace as its own host.
 *
 * LMP_MON_FIXTURES=<dir> also records the daemons' real answers into <dir> (that is how
 * test/fixtures/monitoring/ was made; its README.md is written by hand).
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  icingaApi, icingaServiceState, icingaSubmit, monitoringEnvFile, monitoringProcesses, monitoringUnavailableReason,
  nagiosServiceState, nagiosSubmit, readMonitoringRecord, sendNsca, statusDatBlock, waitNagiosResult, type MonitoringLab,
} from '../lab/monitoring.js';
import { clusterDown, clusterUp, type Cluster } from '../lab/cluster.js';
import { readLabRecord, readCurrent, setCurrent } from '../lab/files.js';
import { pidAlive } from '../lab/procs.js';
import { listNamespaces, nsExec, nsPing, uniquePrefix } from '../lab/netns.js';
import { fixtureRecorder, requireLab, requirePart } from '../lab/require.js';
import { labCliOk } from '../support/cli.js';

let c: Cluster | undefined;
after(() => {
  if (c) clusterDown(c); // also on failure; idempotent
});

const requireMonitoring = (t: TestContext): boolean => requirePart(t, 'monitoring lab', monitoringUnavailableReason());
const fixture = fixtureRecorder('LMP_MON_FIXTURES');

const now = (): number => Math.floor(Date.now() / 1000);

/** Packets sent out of a namespace's interface (proves which namespace a result left from). */
function txPackets(ns: string, dev: string): number {
  const [link] = JSON.parse(nsExec(ns, 'ip', ['-j', '-s', 'link', 'show', 'dev', dev])) as { stats64: { tx: { packets: number } } }[];
  return link.stats64.tx.packets;
}

/** Nothing of the cluster or its monitoring namespace is left: no namespace, process or dir. */
function assertGone(prefix: string, m: MonitoringLab): void {
  for (const pid of [m.nagios.pid, m.nsca.pid, m.icinga.pid]) assert.equal(pidAlive(pid), false, `pid ${pid} still alive`);
  assert.deepEqual(monitoringProcesses(m), []);
  assert.deepEqual(listNamespaces().filter((ns) => ns.startsWith(prefix)), []);
  for (const d of [`/tmp/${prefix}`, `/tmp/${prefix}n2`]) assert.equal(existsSync(d), false, `${d} left`);
}

test('2-node cluster with monitoring: one monitoring namespace takes passive results from both nodes', { timeout: 180_000 }, async (t) => {
  if (!requireLab(t) || !requireMonitoring(t)) return;
  const prefix = uniquePrefix();
  c = clusterUp({ instances: 1, nodes: 2, prefix, monitoring: true, libvirt: 'test' }); // no need for KVM guests here
  const [node1, node2] = c.nodes;
  const lab = node1.monitoring!;
  assert.ok(lab, 'node 1 has the monitoring namespace');
  t.diagnostic(`monitoring up in ${lab.timings.totalMs} ms (${JSON.stringify(lab.timings)}); ${lab.nagios.version}, ${lab.nsca.version}, ${lab.icinga.version}`);
  const host = `${prefix}-node1`;
  const host2 = `${prefix}-node2`;

  await t.test('recorded: both lab.json, mon/monitoring.json, each node\'s monitoring.env', () => {
    assert.equal(lab.ns, `${prefix}-mon`);
    assert.deepEqual(lab.peers.map((p) => [p.host, p.ns]), [[host, node1.nodeNs], [host2, node2.nodeNs]]);
    for (const n of c!.nodes) assert.deepEqual(readLabRecord(n.prefix)?.monitoring, lab, `${n.prefix}/lab.json`);
    assert.deepEqual(readMonitoringRecord(node1.dir), lab);
    assert.equal(readMonitoringRecord(node2.dir), null, 'node 2 only points at node 1\'s');
    // The env file really says where to send: source it and send with it (from node 2).
    const since = now();
    const sent = spawnSync('sh', ['-c', `. ${monitoringEnvFile(node2)}; printf '%s\\tovs-ports\\t0\\tOK: env file\\n' "$LMP_MON_HOST" | ip netns exec "$LMP_MON_NETNS" send_nsca -H "$LMP_MON_ADDR" -p "$LMP_NSCA_PORT" -c "$LMP_NSCA_CONFIG" -to 5`], { encoding: 'utf8' });
    assert.equal(sent.status, 0, sent.stderr);
    assert.equal(waitNagiosResult(lab, host2, 'ovs-ports', since)?.output, 'OK: env file');
  });

  await t.test('topology: a /31 veth per node, the daemons on the one service address only, no path between the nodes', () => {
    assert.ok(listNamespaces().includes(lab.ns));
    for (const [n, p, addr] of [[node1, lab.peers[0], '198.18.254.0'], [node2, lab.peers[1], '198.18.254.2']] as const) {
      assert.equal(p.ns, n.nodeNs);
      assert.match(nsExec(n.nodeNs, 'ip', ['-j', '-4', 'addr', 'show', 'dev', p.iface]), new RegExp(`"local":"${addr.replace(/\./g, '\\.')}","prefixlen":31`));
      assert.ok(nsPing(n.nodeNs, lab.addr), `${n.nodeNs} reaches ${lab.addr}`);
    }
    assert.equal(nsPing(node1.nodeNs, lab.peers[1].addr), false, 'the mon namespace does not forward between the nodes');
    const listeners = nsExec(lab.ns, 'ss', ['-Htln']).trim().split('\n').map((l) => l.trim().split(/\s+/)[3]).sort();
    assert.deepEqual(listeners, [`${lab.addr}:5665`, `${lab.addr}:5667`]);
    for (const h of [host, host2]) for (const s of lab.services.filter((x) => x !== 'ovs-ports')) {
      assert.equal(nagiosServiceState(lab, h, s)?.lastCheck, 0, `${h} ${s} starts unchecked`);
    }
  });

  await t.test('nagios4: PROCESS_SERVICE_CHECK_RESULT on the command file shows in status.dat', () => {
    const since = now();
    nagiosSubmit(lab, host, 'ovs-ports', 2, 'CRITICAL: 1 port in error|ports=3;;;0 errors=1');
    const s = waitNagiosResult(lab, host, 'ovs-ports', since);
    assert.ok(s, 'result in status.dat');
    assert.equal(s.state, 2);
    assert.equal(s.output, 'CRITICAL: 1 port in error');
    assert.equal(s.perfdata, 'ports=3;;;0 errors=1');
    fixture('status.dat.command-file.ovs-ports.txt', statusDatBlock(lab, host, 'ovs-ports') ?? '');
  });

  await t.test('nsca: send_nsca from each node\'s namespace lands in status.dat under its host', () => {
    for (const [h, p] of [[host, lab.peers[0]], [host2, lab.peers[1]]] as const) {
      const since = now();
      const tx = txPackets(p.ns, p.iface);
      const r = sendNsca(lab, { host: h, service: 'instance-routed', state: 1, output: `WARNING: 1/3 instances not routed on ${h}|routed=2;;;0;3` });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /1 data packet\(s\) sent to host successfully/);
      assert.ok(txPackets(p.ns, p.iface) > tx, `sent out of ${p.ns} ${p.iface}`);
      if (h === host) fixture('send_nsca.right-password.txt', `$ printf '%s\\t%s\\t%s\\t%s\\n' ${h} instance-routed 1 'WARNING: 1/3 instances not routed on ${h}|routed=2;;;0;3' | ${r.argv.join(' ')}\n${r.stdout}${r.stderr}[exit status ${r.status}]\n`);
      const s = waitNagiosResult(lab, h, 'instance-routed', since);
      assert.ok(s, `nsca result of ${h} in status.dat`);
      assert.equal(s.state, 1);
      assert.equal(s.output, `WARNING: 1/3 instances not routed on ${h}`);
      assert.equal(s.perfdata, 'routed=2;;;0;3');
      if (h === host) fixture('status.dat.nsca.instance-routed.txt', statusDatBlock(lab, h, 'instance-routed') ?? '');
    }
  });

  await t.test('nsca: a WRONG password still exits 0, and the result is silently dropped', () => {
    const before = nagiosServiceState(lab, host, 'openflow-rules');
    assert.equal(before?.lastCheck, 0);
    const r = sendNsca(lab, { host, service: 'openflow-rules', state: 2, output: 'CRITICAL: sent with the wrong password' }, { password: 'not-the-password' });
    assert.equal(r.status, 0, 'send_nsca exits 0 although nsca will drop the packet');
    assert.match(r.stdout, /1 data packet\(s\) sent to host successfully/);
    fixture('send_nsca.wrong-password.txt', `$ printf '%s\\t%s\\t%s\\t%s\\n' ${host} openflow-rules 2 'CRITICAL: sent with the wrong password' | ${r.argv.join(' ')}\n${r.stdout}${r.stderr}[exit status ${r.status}]\n`);
    // A good packet sent afterwards is processed after the bad one (nsca --single: one at a time),
    // so once it shows, the bad one has been handled (dropped) too.
    const since = now();
    const ok = sendNsca(lab, { host, service: 'bgp-announcements', state: 0, output: 'OK: 3/3 announced' });
    assert.equal(ok.status, 0);
    assert.ok(waitNagiosResult(lab, host, 'bgp-announcements', since), 'the marker result arrived');
    assert.deepEqual(nagiosServiceState(lab, host, 'openflow-rules'), before, 'the wrong-password result changed nothing');
  });

  await t.test('icinga2: POST /v1/actions/process-check-result from each node\'s namespace changes its host\'s service state', async () => {
    for (const h of [host, host2]) {
      const before = icingaServiceState(lab, h, 'orphaned-disks');
      assert.ok(before);
      assert.equal(before.state, 3, 'a never-checked service is UNKNOWN in icinga2 (it is OK/PENDING in nagios status.dat)');
      assert.ok(before.lastCheck <= 0, `never checked: last_check ${before.lastCheck}`);
      const r = icingaSubmit(lab, h, 'orphaned-disks', { state: 2, output: `CRITICAL: 1 orphaned disk on ${h}`, perfdata: ['orphaned=1;;1;0'] });
      assert.equal(r.code, 200, r.raw);
      assert.match(r.raw, /Successfully processed check result/);
      if (h === host) fixture('icinga2.process-check-result.json', `${r.raw}\n`);
      // The answer comes after the result is processed; poll briefly anyway, so a loaded machine cannot flake this.
      let after = icingaServiceState(lab, h, 'orphaned-disks');
      for (let i = 0; i < 50 && after?.state !== 2; i++) {
        await new Promise((r) => setTimeout(r, 100));
        after = icingaServiceState(lab, h, 'orphaned-disks');
      }
      assert.ok(after);
      assert.equal(after.state, 2);
      assert.equal(after.output, `CRITICAL: 1 orphaned disk on ${h}`);
      assert.match(after.perfdata, /orphaned/);
      assert.ok(after.lastCheck >= now() - 60);
      if (process.env.LMP_MON_FIXTURES && h === host) { // recording only: spare the API calls otherwise
        const name = encodeURIComponent(`${host}!orphaned-disks`);
        fixture('icinga2.objects-services.orphaned-disks.json', `${icingaApi(lab, 'GET', `/v1/objects/services/${name}`).raw}\n`);
        fixture(
          'icinga2.objects-services.attrs.json',
          `${icingaApi(lab, 'GET', `/v1/objects/services?attrs=state&attrs=last_check&attrs=last_check_result`).raw}\n`,
        );
      }
    }
  });

  await t.test('icinga2: a wrong API password is a 401; a result for an unknown service is not a 200', () => {
    const bad = icingaApi({ ...lab, icinga: { ...lab.icinga, password: 'wrong' } }, 'GET', '/v1/objects/services');
    assert.equal(bad.code, 401);
    // With a filter that matches nothing, icinga2 2.13 answers HTTP 500 and {"results":[]}.
    const missing = icingaSubmit(lab, host, 'no-such-probe', { state: 0, output: 'x' });
    assert.notEqual(missing.code, 200, missing.raw);
    assert.doesNotMatch(missing.raw, /Successfully/);
    fixture('icinga2.process-check-result.unknown-service.filter.txt', `HTTP ${missing.code}\n${missing.raw}\n`);
    // Naming the object in the URL instead: 404.
    const byName = icingaApi(lab, 'POST', `/v1/actions/process-check-result?service=${encodeURIComponent(`${host}!no-such-probe`)}`, { exit_status: 0, plugin_output: 'x' });
    assert.equal(byName.code, 404, byName.raw);
    fixture('icinga2.process-check-result.unknown-service.by-name.txt', `HTTP ${byName.code}\n${byName.raw}\n`);
  });

  await t.test('labDown (by prefix, from lab.json and the record) leaves no namespace, process or dir', () => {
    assert.ok([lab.nagios.pid, lab.nsca.pid, lab.icinga.pid].every(pidAlive));
    clusterDown(prefix);
    c = undefined;
    assertGone(prefix, lab);
  });
});

test('CLI: up --nodes 2 --monitoring, status shows it, down removes it', { timeout: 180_000 }, (t) => {
  if (!requireLab(t) || !requireMonitoring(t)) return;
  const prefix = uniquePrefix();
  const previous = readCurrent(); // `up` makes this lab the CLI's current one; restored below
  const cli = labCliOk;
  let m: MonitoringLab | null = null;
  try {
    cli('up', '1', '--nodes', '2', '--monitoring', '--libvirt', 'test', '--prefix', prefix);
    m = readMonitoringRecord(`/tmp/${prefix}`);
    assert.ok(m && [m.nagios.pid, m.nsca.pid, m.icinga.pid].every(pidAlive), 'the daemons outlive `up`');
    const out = cli('status', prefix);
    assert.match(out, /nsca 198\.18\.254\.254:5667 /);
    assert.match(out, /icinga2 API https:\/\/198\.18\.254\.254:5665 /);
    assert.match(out, new RegExp(`status\\.dat /tmp/${prefix}/mon/nagios/status\\.dat`));
    assert.match(out, new RegExp(`this node: host ${prefix}-node2 sends from ${prefix}n2-node to-mon 198\\.18\\.254\\.2/31`));
    assert.doesNotMatch(out, /NOT RUNNING/);
  } finally {
    cli('down', prefix);
    setCurrent(previous);
  }
  assert.ok(m);
  assertGone(prefix, m);
});
