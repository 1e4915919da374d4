/**
 * The lab's monitoring namespace (test/lab/monitoring.ts): nagios4 + nsca + icinga2 in
 * `<prefix>-mon`, fed with passive results from a peer namespace standing in for the node.
 *
 * LMP_MON_FIXTURES=<dir> also records the daemons' real answers into <dir> (that is how
 * test/fixtures/monitoring/ was made; its README.md is written by hand).
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  icingaApi, icingaServiceState, icingaSubmit, monitoringDown, monitoringProcesses, monitoringUnavailableReason, monitoringUp,
  nagiosServiceState, nagiosSubmit, sendNsca, statusDatBlock, waitNagiosResult, type MonitoringLab,
} from '../lab/monitoring.js';
import { pidAlive } from '../lab/procs.js';
import { deleteNamespaces, ipBatch, listNamespaces, nsExec, uniquePrefix } from '../lab/netns.js';
import { requireLab } from '../lab/require.js';

let m: MonitoringLab | undefined;
let peerNs: string | undefined;
let labDir: string | undefined;
after(() => {
  // Also on failure; all idempotent.
  if (m) monitoringDown(m);
  if (peerNs) deleteNamespaces([peerNs]);
  if (labDir) rmSync(labDir, { recursive: true, force: true });
});

function requireMonitoring(t: TestContext): boolean {
  const reason = monitoringUnavailableReason();
  if (reason === null) return true;
  if (process.env.LMP_REQUIRE_LAB === '1') throw new Error(`monitoring lab required (LMP_REQUIRE_LAB=1) but unavailable: ${reason}`);
  t.skip(reason);
  return false;
}

const fixtureDir = process.env.LMP_MON_FIXTURES;
function fixture(name: string, text: string): void {
  if (!fixtureDir) return;
  mkdirSync(fixtureDir, { recursive: true });
  writeFileSync(join(fixtureDir, name), text);
}

const now = (): number => Math.floor(Date.now() / 1000);

test('monitoring namespace: nagios4, nsca and icinga2 take passive results from the peer namespace', { timeout: 90_000 }, async (t) => {
  if (!requireLab(t) || !requireMonitoring(t)) return;
  const prefix = uniquePrefix();
  labDir = `/tmp/${prefix}`;
  mkdirSync(labDir, { mode: 0o755 });
  peerNs = `${prefix}-node`;
  ipBatch([`netns add ${peerNs}`]);
  ipBatch(['link set lo up'], peerNs);

  const lab = (m = monitoringUp({ prefix, dir: labDir, peerNs }));
  t.diagnostic(`up in ${lab.timings.totalMs} ms (${JSON.stringify(lab.timings)}); ${lab.nagios.version}, ${lab.nsca.version}, ${lab.icinga.version}`);
  const host = lab.host;

  await t.test('topology: a /31 veth to the peer, daemons on the mon address only', () => {
    assert.ok(listNamespaces().includes(lab.ns));
    const peerAddrs = nsExec(peerNs!, 'ip', ['-j', '-4', 'addr', 'show', 'dev', lab.peerIface]);
    assert.match(peerAddrs, /"local":"198\.18\.254\.0","prefixlen":31/);
    const listeners = nsExec(lab.ns, 'ss', ['-Htln']).trim().split('\n').map((l) => l.trim().split(/\s+/)[3]).sort();
    assert.deepEqual(listeners, [`${lab.addr}:5665`, `${lab.addr}:5667`]);
    for (const s of lab.services) assert.equal(nagiosServiceState(lab, host, s)?.lastCheck, 0, `${s} starts unchecked`);
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

  await t.test('nsca: send_nsca from the peer namespace lands in status.dat', () => {
    const since = now();
    const r = sendNsca(lab, { host, service: 'instance-routed', state: 1, output: 'WARNING: 1/3 instances not routed|routed=2;;;0;3' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /1 data packet\(s\) sent to host successfully/);
    fixture('send_nsca.right-password.txt', `$ printf '%s\\t%s\\t%s\\t%s\\n' ${host} instance-routed 1 'WARNING: 1/3 instances not routed|routed=2;;;0;3' | ${r.argv.join(' ')}\n${r.stdout}${r.stderr}[exit status ${r.status}]\n`);
    const s = waitNagiosResult(lab, host, 'instance-routed', since);
    assert.ok(s, 'nsca result in status.dat');
    assert.equal(s.state, 1);
    assert.equal(s.output, 'WARNING: 1/3 instances not routed');
    assert.equal(s.perfdata, 'routed=2;;;0;3');
    fixture('status.dat.nsca.instance-routed.txt', statusDatBlock(lab, host, 'instance-routed') ?? '');
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

  await t.test('icinga2: POST /v1/actions/process-check-result from the peer namespace changes the service state', async () => {
    const before = icingaServiceState(lab, host, 'orphaned-disks');
    assert.ok(before);
    assert.equal(before.state, 3, 'a never-checked service is UNKNOWN in icinga2 (it is OK/PENDING in nagios status.dat)');
    assert.ok(before.lastCheck <= 0, `never checked: last_check ${before.lastCheck}`);
    const r = icingaSubmit(lab, host, 'orphaned-disks', { state: 2, output: 'CRITICAL: 1 orphaned disk', perfdata: ['orphaned=1;;1;0'] });
    assert.equal(r.code, 200, r.raw);
    assert.match(r.raw, /Successfully processed check result/);
    fixture('icinga2.process-check-result.json', `${r.raw}\n`);
    // The answer comes after the result is processed; poll briefly anyway, so a loaded machine cannot flake this.
    let after = icingaServiceState(lab, host, 'orphaned-disks');
    for (let i = 0; i < 50 && after?.state !== 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = icingaServiceState(lab, host, 'orphaned-disks');
    }
    assert.ok(after);
    assert.equal(after.state, 2);
    assert.equal(after.output, 'CRITICAL: 1 orphaned disk');
    assert.match(after.perfdata, /orphaned/);
    assert.ok(after.lastCheck >= now() - 60);
    if (fixtureDir) {
      const name = encodeURIComponent(`${host}!orphaned-disks`);
      fixture('icinga2.objects-services.orphaned-disks.json', `${icingaApi(lab, 'GET', `/v1/objects/services/${name}`).raw}\n`);
      fixture(
        'icinga2.objects-services.attrs.json',
        `${icingaApi(lab, 'GET', `/v1/objects/services?attrs=state&attrs=last_check&attrs=last_check_result`).raw}\n`,
      );
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

  await t.test('monitoringDown leaves no process, namespace, veth or file', () => {
    const pids = [lab.nagios.pid, lab.nsca.pid, lab.icinga.pid];
    assert.ok(pids.every(pidAlive));
    monitoringDown(lab);
    m = undefined;
    for (const pid of pids) assert.equal(pidAlive(pid), false, `pid ${pid} still alive`);
    assert.deepEqual(monitoringProcesses(lab), []);
    assert.equal(listNamespaces().includes(lab.ns), false);
    assert.equal(existsSync(lab.dir), false);
    assert.doesNotMatch(nsExec(peerNs!, 'ip', ['-o', 'link']), new RegExp(lab.peerIface));
    monitoringDown(lab); // idempotent
  });
});
