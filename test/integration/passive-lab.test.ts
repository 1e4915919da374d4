/**
 * Passive delivery from a lab node to REAL receivers (the lab's monitoring namespace: nagios4
 * through its command pipe and through nsca, icinga2 through its API), checked on the receiver
 * (status.dat, nagios.log, the Icinga API), and to local NRDP and ws_arbiter servers that answer
 * as the real ones (test/support/fake-passive.ts). lm-probe runs in the node namespace, where a
 * compute node's management traffic leaves from (MONITORING.md).
 *
 * The node's result: instance-routed CRITICAL with long output and perfdata (two IPs unrouted);
 * `-w 5 -c 5` makes the same node OK, so two results in a row can be told apart.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { labDown, labUp, type LabEnv } from '../lab/lab.js';
import { icingaClientCert, icingaServiceState, monitoringUnavailableReason, nagiosServiceState, waitNagiosResult, type MonitoringLab } from '../lab/monitoring.js';
import { labUnavailableReason } from '../lab/netns.js';
import { requireLab, requirePart } from '../lab/require.js';
import { lmProbe, lmProbeAsync, variantConfig, type CliRun } from '../support/cli.js';
import { startFakeNrdp, startFakeWsArbiter } from '../support/fake-passive.js';
import { commandFileChannel, expectedOutput, icingaChannel, lmProbeInNode, nagiosLoggedResults, nscaChannel, pluginText, secretFile, type Delivery, type RunDoc } from '../support/passive.js';

const canRun = labUnavailableReason() === null && monitoringUnavailableReason() === null;
/** Each config has a fresh state_dir: no arrival grace, or the fault would only warn. */
const NO_GRACE = { 'instance-routed': { grace: 0 } };
const now = () => Math.floor(Date.now() / 1000);


describe('passive delivery to the lab\'s receivers', () => {
  let lab: LabEnv | undefined;
  let m: MonitoringLab;
  let host: string;
  const secret = (name: string, text: string, mode = 0o600) => secretFile(lab!.dir, name, text, mode);
  /** The lab's config with report: set; its own state_dir per name so spools do not mix. */
  const config = (name: string, report: Record<string, unknown>) =>
    variantConfig(lab!.configFile, name, { state_dir: join(lab!.dir, `state-${name}`), report, probes: NO_GRACE });
  /** lm-probe in the node namespace, --json: the document (and the run, for its stderr). */
  const inNode = (args: string[]) => lmProbeInNode(lab!.nodeNs, args);
  const icinga = () => icingaChannel(m, lab!.dir);
  const expected = (doc: RunDoc) => expectedOutput(doc.results[0]);

  before(() => {
    if (!canRun) return;
    lab = labUp({ instances: 3, faults: { 2: 'no-route', 3: 'no-route' }, monitoring: true });
    m = lab.monitoring!;
    host = lab.host ?? `${lab.prefix}-node1`;
  });
  after(() => lab && labDown(lab));

  const gate = (t: Parameters<typeof requireLab>[0]) => requireLab(t) && requirePart(t, 'monitoring lab', monitoringUnavailableReason());

  test('command_file: the result is in nagios status.dat with its long output and perfdata', (t) => {
    if (!gate(t)) return;
    const since = now();
    const { doc, run } = inNode(['run', 'instance-routed', '--passive', '--config', config('cmdfile', { passive: [commandFileChannel(m)] })]);
    assert.equal(run.code, 2, `delivery never changes the exit code: ${JSON.stringify(doc.results)}`);
    assert.deepEqual(doc.delivery.map((d) => [d.channel, d.service, d.status, d.outcome]), [['command_file', 'instance-routed', 'CRITICAL', 'delivered']]);
    const s = waitNagiosResult(m, host, 'instance-routed', since);
    assert.ok(s, 'in status.dat');
    assert.equal(s.state, 2);
    assert.deepEqual({ output: s.output, perfdata: s.perfdata }, expected(doc));
    assert.ok(doc.results[0].details.length >= 1, 'there was long output to carry');
    t.diagnostic(`command_file: ${doc.delivery[0].ms} ms`);
  });

  test('nsca: through send_nsca and nsca 2.10 into nagios, under service_names', (t) => {
    if (!gate(t)) return;
    const since = now();
    const { doc } = inNode(['run', 'instance-routed', '--passive', '--config', config('nsca', {
      service_names: { 'instance-routed': 'openflow-rules' },
      passive: [nscaChannel(m)],
    })]);
    assert.deepEqual(doc.delivery.map((d) => [d.channel, d.service, d.outcome]), [['nsca', 'openflow-rules', 'delivered']]);
    const s = waitNagiosResult(m, host, 'openflow-rules', since);
    assert.ok(s, 'in status.dat');
    assert.equal(s.state, 2);
    assert.deepEqual({ output: s.output, perfdata: s.perfdata }, expected(doc));
    t.diagnostic(`nsca: ${doc.delivery[0].ms} ms`);
  });

  test('nsca with a wrong password: send_nsca succeeds, nsca drops the result silently (documented), nagios unchanged', (t) => {
    if (!gate(t)) return;
    const before = nagiosServiceState(m, host, 'orphaned-disks');
    const wrong = secret('send_nsca.wrong.cfg', readFileSync(m.nsca.configFile, 'utf8').replace(/^password=.*$/m, 'password=not-the-password'));
    const { doc } = inNode(['run', 'instance-routed', '--passive', '--config', config('nsca-wrong', {
      service_names: { 'instance-routed': 'orphaned-disks' },
      passive: [{ type: 'nsca', host: m.addr, port: m.nsca.port, config: wrong }],
    })]);
    assert.deepEqual(doc.delivery.map((d) => [d.channel, d.outcome, d.reason]), [['nsca', 'delivered', '1 data packet(s) sent to host successfully.']]);
    // A right-password marker sent after it is processed after it (nsca --single): once it shows, the bad one was handled.
    const since = now();
    inNode(['run', 'instance-routed', '--passive', '--config', config('nsca-marker', { service_names: { 'instance-routed': 'ovs-ports' }, passive: [{ type: 'nsca', host: m.addr, port: m.nsca.port, config: m.nsca.configFile }] })]);
    assert.ok(waitNagiosResult(m, host, 'ovs-ports', since), 'the marker arrived');
    assert.deepEqual(nagiosServiceState(m, host, 'orphaned-disks'), before, 'the wrong-password result changed nothing');
  });

  test('icinga2: the API object has the state, output, perfdata and check source', (t) => {
    if (!gate(t)) return;
    const { doc } = inNode(['run', 'instance-routed', '--passive', '--config', config('icinga', { service_names: { 'instance-routed': 'orphaned-disks' }, passive: [icinga()] })]);
    assert.deepEqual(doc.delivery.map((d) => [d.channel, d.service, d.outcome]), [['icinga2', 'orphaned-disks', 'delivered']]);
    const s = icingaServiceState(m, host, 'orphaned-disks');
    assert.ok(s);
    assert.equal(s.state, 2);
    assert.equal(s.output, expected(doc).output);
    for (const p of doc.results[0].perfdata) assert.match(s.perfdata, new RegExp(p.text.split('=')[0]));
    assert.ok(s.lastCheck >= now() - 60);
    t.diagnostic(`icinga2: ${doc.delivery[0].ms} ms`);
  });

  test('icinga2: an unknown service and a wrong password are rejected loudly, not spooled', (t) => {
    if (!gate(t)) return;
    const unknown = inNode(['run', 'instance-routed', '--passive', '--config', config('icinga-unknown', { service_names: { 'instance-routed': 'no-such-service' }, passive: [icinga()] })]);
    assert.equal(unknown.doc.delivery[0].outcome, 'rejected');
    assert.match(unknown.doc.delivery[0].reason!, new RegExp(`Icinga has no service ${host}!no-such-service`));
    assert.match(unknown.run.stderr, /\[ ERROR \] passive:icinga2: REJECTED .*no-such-service.*; dropped, not retried/);
    assert.equal(unknown.doc.spool.icinga2.waiting, 0);
    const wrong = inNode(['run', 'instance-routed', '--passive', '--config', config('icinga-wrong', { passive: [{ ...icinga(), password_file: secret('wrong.pw', 'wrong') }] })]);
    assert.equal(wrong.doc.delivery[0].outcome, 'rejected');
    assert.match(wrong.doc.delivery[0].reason!, /HTTP 401/);
    assert.equal(wrong.run.code, 2, 'still the probe\'s status');
  });

  test('icinga2 with a client certificate (no user name): delivered; a certificate the CA did not sign is rejected for good; a key others can read is refused, naming it', (t) => {
    if (!gate(t)) return;
    const byCert = (c: { cert: string; key: string }) => ({ ...icinga(), username: '', password_file: '', cert: c.cert, key_file: c.key });
    const signed = icingaClientCert(m, 'signed', { signed: true });
    const since = now();
    const { doc } = inNode(['run', 'instance-routed', '--passive', '--config', config('icinga-cert', { service_names: { 'instance-routed': 'openflow-rules' }, passive: [byCert(signed)] })]);
    assert.deepEqual(doc.delivery.map((d) => [d.channel, d.service, d.outcome]), [['icinga2', 'openflow-rules', 'delivered']], JSON.stringify(doc.delivery));
    const s = icingaServiceState(m, host, 'openflow-rules');
    assert.ok(s && s.lastCheck >= since - 1, 'the API object took the result');
    assert.equal(s.state, 2);
    assert.equal(s.output, expected(doc).output);

    // Same CN, not signed by the lab CA: icinga2 takes the TLS connection but does not trust the
    // certificate, so the request is anonymous: 401, which no retry fixes (the operator must).
    const before = icingaServiceState(m, host, 'bgp-announcements');
    const rogue = inNode(['run', 'instance-routed', '--passive', '--config', config('icinga-rogue', { service_names: { 'instance-routed': 'bgp-announcements' }, passive: [byCert(icingaClientCert(m, 'rogue', { signed: false }))] })]);
    assert.deepEqual(rogue.doc.delivery.map((d) => d.outcome), ['rejected'], JSON.stringify(rogue.doc.delivery));
    assert.match(rogue.doc.delivery[0].reason!, /HTTP 401/);
    assert.match(rogue.run.stderr, /\[ ERROR \] passive:icinga2: REJECTED .*HTTP 401.*; dropped, not retried/);
    assert.equal(rogue.doc.spool.icinga2.waiting, 0);
    assert.deepEqual(icingaServiceState(m, host, 'bgp-announcements'), before, 'nothing reached the object');

    chmodSync(signed.key, 0o644);
    const open = inNode(['run', 'instance-routed', '--passive', '--config', config('icinga-cert-open', { passive: [byCert(signed)] })]);
    assert.equal(open.doc.delivery[0].outcome, 'spooled', 'kept until the operator fixes the mode');
    assert.match(open.doc.delivery[0].reason!, new RegExp(`client key file ${signed.key} is readable or writable by others \\(mode 0644\\)`));
    assert.match(open.run.stderr, new RegExp(`${signed.key} is readable or writable by others`));
  });

  test('a password file others can read is refused, naming the file; the result waits in the spool', (t) => {
    if (!gate(t)) return;
    const pw = secret('open.pw', m.icinga.password, 0o644);
    const { doc, run } = inNode(['run', 'instance-routed', '--passive', '--config', config('icinga-open', { passive: [{ ...icinga(), password_file: pw }] })]);
    assert.equal(doc.delivery[0].outcome, 'spooled');
    assert.match(doc.delivery[0].reason!, new RegExp(`Icinga API password file ${pw} is readable or writable by others \\(mode 0644\\)`));
    assert.match(run.stderr, /readable or writable by others/);
  });

  test('receiver down (nagios pipe gone), keep: all: both results spooled, then delivered in order, once each', (t) => {
    if (!gate(t)) return;
    const cfg = config('down', { spool: { keep: 'all' }, passive: [{ type: 'command_file', path: m.nagios.commandFile }] });
    const away = `${m.nagios.commandFile}.away`;
    const passiveLines = () => nagiosLoggedResults(m, host, 'bgp-announcements');
    const before = passiveLines().length;
    renameSync(m.nagios.commandFile, away);
    try {
      const names = { service_names: { 'instance-routed': 'bgp-announcements' } };
      const c = variantConfig(cfg, 'down2', { report: names });
      const first = inNode(['instance-routed', '--passive', '--config', c]); // CRITICAL
      const second = inNode(['instance-routed', '--passive', '-w', '5', '-c', '5', '--config', c]); // the same node, judged OK
      assert.deepEqual([first.doc.status, second.doc.status], [2, 0]);
      assert.equal(first.doc.delivery[0].outcome, 'spooled');
      assert.match(first.doc.delivery[0].reason!, /ENOENT/);
      assert.equal(second.doc.delivery[0].outcome, 'spooled');
      assert.equal(second.doc.spool.command_file.waiting, 2);
      const listed = lmProbe(['spool', '--config', c]);
      assert.equal(listed.code, 1, 'something waits');
      assert.match(listed.stdout, /command_file -> .*: 2 waiting \(2 of bgp-announcements\)/);
    } finally {
      renameSync(away, m.nagios.commandFile);
    }
    const c = join(lab!.dir, 'down2.yaml');
    const flushed = lmProbe(['spool', '--flush', '--json', '--config', c]);
    assert.equal(flushed.code, 0, flushed.stdout + flushed.stderr);
    const out = JSON.parse(flushed.stdout) as { waiting: number; delivery: Delivery[] };
    assert.equal(out.waiting, 0);
    assert.deepEqual(out.delivery.map((d) => [d.status, d.outcome]), [['CRITICAL', 'delivered'], ['OK', 'delivered']]);
    assert.equal(lmProbe(['spool', '--flush', '--config', c]).code, 0, 'nothing left: a second flush sends nothing');
    const s = waitNagiosResult(m, host, 'bgp-announcements', 0);
    for (let i = 0; i < 50 && passiveLines().length < before + 2; i++) spinWait(100);
    const lines = passiveLines().slice(before);
    assert.equal(lines.length, 2, `exactly two results reached nagios:\n${lines.join('\n')}`);
    assert.match(lines[0], /;2;INSTANCE-ROUTED CRITICAL - /);
    assert.match(lines[1], /;0;INSTANCE-ROUTED OK - /);
    assert.equal(nagiosServiceState(m, host, 'bgp-announcements')?.state ?? s?.state, 0, 'the newest is the current state');
  });

  test('slow receiver (icinga2 stopped): timeout, spooled; running again: the spool is flushed at the next run', (t) => {
    if (!gate(t)) return;
    const cfg = config('slow', { service_names: { 'instance-routed': 'ovs-ports' }, passive: [{ ...icinga(), timeout: 2 }] });
    process.kill(-m.icinga.pid, 'SIGSTOP'); // the group: icinga2's umbrella and its worker
    let first: RunDoc;
    try {
      first = inNode(['run', 'instance-routed', '--passive', '--config', cfg]).doc;
    } finally {
      process.kill(-m.icinga.pid, 'SIGCONT');
    }
    assert.equal(first.delivery[0].outcome, 'spooled');
    assert.match(first.delivery[0].reason!, /no answer within 2s/);
    const { doc } = inNode(['instance-routed', '--passive', '-w', '5', '-c', '5', '--config', cfg]);
    // keep: latest (the default): only the newest result goes, the older one is counted.
    assert.deepEqual(doc.delivery.map((d) => [d.status, d.outcome]), [['OK', 'spooled'], ['OK', 'delivered']]);
    assert.deepEqual(doc.spool.icinga2.dropped, ['sent only the newest result per service, dropped 1 older one(s) (keep: latest; 1 of ovs-ports)']);
    assert.equal(doc.spool.icinga2.waiting, 0);
    assert.equal(icingaServiceState(m, host, 'ovs-ports')?.state, 0);
  });

  test('NRDP (local server answering as NRDP does): delivered; a bad token is rejected', async (t) => {
    if (!gate(t)) return;
    const nrdp = await startFakeNrdp(['good-token']);
    const cfg = (token: string) => variantConfig(lab!.configFile, `nrdp-${token}`, { state_dir: join(lab!.dir, `state-nrdp-${token}`), probes: NO_GRACE, report: { passive: [{ type: 'nrdp', url: `${nrdp.url}/nrdp/`, token_file: secret(`${token}.token`, token) }] } });
    const ok = await lmProbeAwait(['run', 'instance-routed', '--passive', '--json', '--config', cfg('good-token')]);
    const doc = JSON.parse(ok.stdout) as RunDoc;
    assert.deepEqual(doc.delivery.map((d) => [d.outcome, d.reason]), [['delivered', '1 checks processed']]);
    assert.equal(nrdp.accepted.length, 1);
    assert.deepEqual({ ...nrdp.accepted[0], time: undefined }, { host, service: 'instance-routed', state: 2, output: pluginText(doc.results[0]), time: undefined });
    const bad = JSON.parse((await lmProbeAwait(['run', 'instance-routed', '--passive', '--json', '--config', cfg('bad-token')])).stdout) as RunDoc;
    assert.deepEqual(bad.delivery.map((d) => [d.outcome, d.reason]), [['rejected', `${nrdp.url}/nrdp/: NRDP: BAD TOKEN`]]);
    assert.equal(nrdp.accepted.length, 1);
    t.diagnostic(`nrdp: ${doc.delivery[0].ms} ms`);
  });

  test('ws_arbiter (local server answering as the module does): delivered with Basic auth; 403 wrong, 401 none; down then back', async (t) => {
    if (!gate(t)) return;
    const ws = await startFakeWsArbiter('lm-probe', 'pw');
    const cfg = (name: string, entry: Record<string, unknown>) => variantConfig(lab!.configFile, `ws-${name}`, { state_dir: join(lab!.dir, `state-ws-${name}`), probes: NO_GRACE, report: { spool: { keep: 'all' }, passive: [{ type: 'ws_arbiter', url: ws.url, ...entry }] } });
    const run = async (c: string, extra: string[] = []) => JSON.parse((await lmProbeAwait(['instance-routed', '--passive', '--json', ...extra, '--config', c])).stdout) as RunDoc;
    const good = cfg('good', { username: 'lm-probe', password_file: secret('ws.pw', 'pw') });
    const doc = await run(good);
    assert.deepEqual(doc.delivery.map((d) => [d.outcome, d.reason]), [['delivered', undefined]]);
    assert.equal(ws.accepted.length, 1);
    assert.equal(ws.accepted[0].host, host);
    assert.equal(ws.accepted[0].state, 2);
    assert.ok(Math.abs(ws.accepted[0].time! - now()) < 120, 'time_stamp is the check time');
    assert.match(ws.accepted[0].output, /^INSTANCE-ROUTED CRITICAL - .*\|ips=.*\\n/);
    t.diagnostic(`ws_arbiter: ${doc.delivery[0].ms} ms`);
    assert.match((await run(cfg('wrong', { username: 'lm-probe', password_file: secret('ws-wrong.pw', 'nope') }))).delivery[0].reason!, /HTTP 403: Authentication denied/);
    assert.match((await run(cfg('none', {}))).delivery[0].reason!, /HTTP 401: Authentication required/);
    // Down, then back: both results of the outage arrive, in order, once.
    await ws.stop();
    const a = await run(good);
    const b = await run(good, ['-w', '5', '-c', '5']);
    assert.deepEqual([a.delivery[0].outcome, b.delivery[0].outcome], ['spooled', 'spooled']);
    assert.match(a.delivery[0].reason!, /ECONNREFUSED/);
    await ws.start();
    const flushed = await lmProbeAwait(['spool', '--flush', '--config', good]);
    assert.equal(flushed.code, 0, flushed.stdout + flushed.stderr);
    assert.deepEqual(ws.accepted.slice(1).map((x) => x.state), [2, 0]);
    assert.equal((await lmProbeAwait(['spool', '--flush', '--config', good])).code, 0);
    assert.equal(ws.accepted.length, 3, 'no duplicate');
  });

  test('the spool is bounded: max_entries drops the oldest and says so', (t) => {
    if (!gate(t)) return;
    const c = variantConfig(lab!.configFile, 'full', { state_dir: join(lab!.dir, 'state-full'), report: { spool: { keep: 'all', max_entries: 2 }, passive: [{ type: 'command_file', path: join(lab!.dir, 'no-such-pipe') }] } });
    for (let i = 0; i < 3; i++) lmProbe(['instance-routed', '--passive', '--config', c]);
    assert.ok(!existsSync(join(lab!.dir, 'no-such-pipe')), 'the pipe is never created');
    const flushed = lmProbe(['spool', '--flush', '--json', '--config', c]);
    const out = JSON.parse(flushed.stdout) as { waiting: number; dropped: string[] };
    assert.deepEqual(out.dropped, ['dropped the 1 oldest result(s) over spool.max_entries 2 (1 of instance-routed)']);
    assert.equal(out.waiting, 2);
  });
});

/** lm-probe without blocking this process: the local receivers answer from its event loop. */
const lmProbeAwait = async (args: string[]): Promise<CliRun> => lmProbeAsync(args).done;

function spinWait(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

