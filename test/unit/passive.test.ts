// Passive delivery, pure parts: texts cut at each protocol's limit, the receivers' answers
// classified (recorded from icinga2 and read from the NRDP sources), credential files, the spool
// and the reporter's order / keep / backoff rules (with a scripted channel).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '../../src/log.js';
import { Status, type Result } from '../../src/result.js';
import { delivered, rejected, retry, type Channel, type Outcome } from '../../src/report/passive/channel.js';
import { commandLine } from '../../src/report/passive/command-file.js';
import { readSecretFile } from '../../src/report/passive/credentials.js';
import { icingaBody, icingaOutcome } from '../../src/report/passive/icinga2.js';
import { channelNames } from '../../src/report/passive/index.js';
import { cutMarker, cutUtf8, isStale, pluginText, toPassive, type PassiveResult } from '../../src/report/passive/message.js';
import { nrdpBody, nrdpOutcome } from '../../src/report/passive/nrdp.js';
import { nscaLine } from '../../src/report/passive/nsca.js';
import { PassiveReporter, spoolResult } from '../../src/report/passive/reporter.js';
import { Spool } from '../../src/report/passive/spool.js';
import type { ProbeRun } from '../../src/runner.js';

const fixture = (name: string) => readFileSync(new URL(`../../../test/fixtures/monitoring/${name}`, import.meta.url), 'utf8');
const naming = { host: 'node1', host_name: '', service_names: { 'instance-routed': 'Instances routed' } };
const result = (over: Partial<Result> = {}): Result => ({
  probe: 'instance-routed', status: Status.CRITICAL, summary: '1 IP of 3 instances unrouted', details: ['198.18.0.7 (vm-1): no route', 'ok: 2 others'],
  perfdata: [{ label: 'ips', value: 3, min: 0 }, { label: 'unrouted', value: 1, warn: '0', crit: '1', min: 0 }], checkedAt: 1_700_000_000_000, ...over,
});
const bytes = (s: string) => Buffer.byteLength(s);

test('toPassive: host_name and service_names apply, default the node host and the probe name', () => {
  const p = toPassive(result(), naming);
  assert.equal(p.host, 'node1');
  assert.equal(p.service, 'Instances routed');
  assert.equal(toPassive(result({ probe: 'ovs-ports' }), { ...naming, host_name: 'nova-17' }).service, 'ovs-ports');
  assert.equal(toPassive(result(), { ...naming, host_name: 'nova-17' }).host, 'nova-17');
  assert.equal(toPassive(result({ summary: 'a\tb' }), naming).head, 'INSTANCE-ROUTED CRITICAL - a b', 'no tab reaches NSCA');
});

test('cutUtf8 never cuts inside a character', () => {
  const s = 'aé€😀'.repeat(20); // 1, 2, 3 and 4-byte characters
  for (let max = 0; max <= bytes(s); max++) {
    const cut = cutUtf8(s, max);
    assert.ok(bytes(cut) <= max, `${max}`);
    assert.ok(s.startsWith(cut), `${max}: a prefix`);
    assert.ok(max - bytes(cut) < 4, `${max}: at most one character given up`);
    assert.doesNotMatch(cut, /\uFFFD/);
  }
});

test('pluginText: whole when it fits; cut with a marker, status line and whole perfdata tokens first', () => {
  const p = toPassive(result(), naming);
  assert.equal(pluginText(p, 4096, '\\n'), 'INSTANCE-ROUTED CRITICAL - 1 IP of 3 instances unrouted|ips=3;;;0 unrouted=1;0;1;0\\n198.18.0.7 (vm-1): no route\\nok: 2 others');
  const long = toPassive(result({ details: Array.from({ length: 50 }, (_, i) => `line ${i} ${'€'.repeat(30)}`) }), naming);
  for (const max of [128, 200, 512, 1000]) {
    const text = pluginText(long, max, '\\n');
    assert.ok(bytes(text) <= max, `${max}: ${bytes(text)} bytes`);
    assert.ok(text.endsWith(cutMarker(max)), `${max}: marker`);
    assert.ok(text.startsWith('INSTANCE-ROUTED CRITICAL - 1 IP of 3 instances unrouted|ips=3;;;0 unrouted=1;0;1;0'), `${max}: status line and perfdata kept`);
    assert.doesNotMatch(text, /\uFFFD/);
    for (const line of text.split('\\n').slice(1, -1)) assert.match(line, /^line \d+ (€){30}$/, 'long lines are kept whole or not at all');
  }
  // A status line longer than the limit: cut on a character boundary, perfdata dropped whole.
  const huge = pluginText(toPassive(result({ summary: '€'.repeat(400) }), naming), 300, '\n');
  assert.ok(bytes(huge) <= 300);
  assert.doesNotMatch(huge, /\||\uFFFD/);
});

test('command file line: [epoch] PROCESS_SERVICE_CHECK_RESULT, one line, within max_output', () => {
  const p = toPassive(result(), naming);
  assert.equal(commandLine(p, 8192), '[1700000000] PROCESS_SERVICE_CHECK_RESULT;node1;Instances routed;2;INSTANCE-ROUTED CRITICAL - 1 IP of 3 instances unrouted|ips=3;;;0 unrouted=1;0;1;0\\n198.18.0.7 (vm-1): no route\\nok: 2 others\n');
  const line = commandLine(toPassive(result({ details: Array(100).fill('x'.repeat(100)) }), naming), 1024);
  assert.ok(bytes(line) <= 1024);
  assert.equal(line.split('\n').length, 2, 'a single line');
});

test('send_nsca input: tab-separated, ETB-terminated with real newlines, output within the server limit (its buffer keeps a NUL)', () => {
  assert.equal(nscaLine(toPassive(result(), naming), 4096), 'node1\tInstances routed\t2\tINSTANCE-ROUTED CRITICAL - 1 IP of 3 instances unrouted|ips=3;;;0 unrouted=1;0;1;0\n198.18.0.7 (vm-1): no route\nok: 2 others\x17');
  const p = toPassive(result({ details: Array(100).fill('y'.repeat(100)) }), naming);
  const line = nscaLine(p, 512);
  const [host, service, rc, output] = line.replace(/\x17$/, '').split('\t');
  assert.deepEqual([host, service, rc], ['node1', 'Instances routed', '2']);
  assert.ok(bytes(output) <= 511);
  assert.ok(output.endsWith(cutMarker(511)));
});

test('NRDP: the request fields, and its answers (200 whatever happened, result.status says)', () => {
  const form = new URLSearchParams(nrdpBody(toPassive(result(), naming), 's3cret', 8192));
  assert.equal(form.get('token'), 's3cret');
  assert.equal(form.get('cmd'), 'submitcheck');
  const [cr] = JSON.parse(form.get('json')!).checkresults;
  assert.deepEqual(cr.checkresult, { type: 'service' });
  assert.deepEqual([cr.hostname, cr.servicename, cr.state, cr.time], ['node1', 'Instances routed', '2', '1700000000']);
  const url = 'http://nrdp/';
  assert.equal(nrdpOutcome({ status: 200, body: '{"result":{"status":0,"message":"OK","meta":{"output":"1 checks processed"}}}' }, url).kind, 'delivered');
  assert.deepEqual(nrdpOutcome({ status: 200, body: '{"result":{"status":-1,"message":"BAD TOKEN"}}' }, url), rejected('http://nrdp/: NRDP: BAD TOKEN'));
  assert.equal(nrdpOutcome({ status: 200, body: '{"result":{"status":-1,"message":"CANNOT OPEN COMMAND FILE"}}' }, url).kind, 'retry');
  assert.equal(nrdpOutcome({ status: 200, body: 'No command specified or request handler' }, url).kind, 'rejected');
  assert.equal(nrdpOutcome({ status: 503, body: '' }, url).kind, 'retry');
  assert.equal(nrdpOutcome({ status: 401, body: 'Unauthorized' }, url).kind, 'rejected');
});

test('icinga2: the request body (ttl = what is left of max_age) and its recorded answers', () => {
  const p = toPassive(result(), naming);
  const body = icingaBody(p, 65536, 600, p.checkedAt + 100_000);
  assert.equal(body.type, 'Service');
  assert.deepEqual(body.filter_vars, { host_name: 'node1', service_name: 'Instances routed' });
  assert.equal(body.exit_status, 2);
  assert.equal(body.plugin_output, 'INSTANCE-ROUTED CRITICAL - 1 IP of 3 instances unrouted\n198.18.0.7 (vm-1): no route\nok: 2 others');
  assert.deepEqual(body.performance_data, ['ips=3;;;0', 'unrouted=1;0;1;0']);
  assert.equal(body.ttl, 500);
  assert.equal(body.execution_end, 1_700_000_000);
  assert.equal(icingaBody(p, 65536, 0).ttl, undefined, 'max_age 0: no ttl');
  const url = 'https://icinga/v1/actions/process-check-result';
  const answer = (file: string) => {
    const text = fixture(file);
    const m = /^HTTP (\d+)\n([\s\S]*)$/.exec(text);
    return m ? { status: Number(m[1]), body: m[2] } : { status: 200, body: text };
  };
  assert.equal(icingaOutcome(answer('icinga2.process-check-result.json'), url, p).kind, 'delivered');
  const unknown = icingaOutcome(answer('icinga2.process-check-result.unknown-service.filter.txt'), url, p);
  assert.deepEqual(unknown, rejected(`${url}: Icinga has no service node1!Instances routed (HTTP 500)`));
  assert.equal(icingaOutcome(answer('icinga2.process-check-result.unknown-service.by-name.txt'), url, p).kind, 'rejected');
  assert.equal(icingaOutcome({ status: 401, body: '<h1>Unauthorized. Please check your user credentials.</h1>' }, url, p).kind, 'rejected');
  assert.equal(icingaOutcome({ status: 503, body: '' }, url, p).kind, 'retry');
});

test('isStale: older than max_age; 0 = no limit', () => {
  const p = toPassive(result(), naming);
  assert.equal(isStale(p, 600, p.checkedAt + 600_000), false);
  assert.equal(isStale(p, 600, p.checkedAt + 600_001), true);
  assert.equal(isStale(p, 0, p.checkedAt + 1e12), false);
});

test('credential files: refused when others may read them, the error names the file and mode', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lmp-cred-'));
  try {
    const f = join(dir, 'token');
    writeFileSync(f, 's3cret\n');
    chmodSync(f, 0o644);
    await assert.rejects(readSecretFile(f, 'NRDP token file'), new RegExp(`NRDP token file ${f} is readable or writable by others \\(mode 0644\\): refused`));
    chmodSync(f, 0o640);
    assert.equal(await readSecretFile(f, 'NRDP token file'), 's3cret');
    await assert.rejects(readSecretFile(join(dir, 'none'), 'x'), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('channel names: the type, numbered when repeated', () => {
  assert.deepEqual(channelNames(['nsca', 'icinga2', 'nsca', 'nsca']), ['nsca', 'icinga2', 'nsca-2', 'nsca-3']);
});

/** Recent check times (the spool drops results older than spool.max_age). */
const T0 = Date.now() - 60_000;

/** A channel that answers from a script and records what it was sent. */
function scripted(answers: Outcome[]): Channel & { sent: PassiveResult[] } {
  const sent: PassiveResult[] = [];
  return { name: 'test', target: 'script', sent, async send(r) { sent.push(r); return answers.shift() ?? delivered(); } };
}

function setup(keep: 'latest' | 'all', answers: Outcome[], limits = { max_entries: 100, max_age: 86400, backoff_max: 1800 }) {
  const dir = mkdtempSync(join(tmpdir(), 'lmp-spool-'));
  const channel = scripted(answers);
  const spool = new Spool(dir, limits);
  const log = new Logger({ quiet: true, sink: () => {} });
  const reporter = () => new PassiveReporter(channel, spool, { ...naming, max_age: 0, keep, timeoutMs: 1000 }, log);
  const run = (r: Partial<Result>): ProbeRun => ({ result: result(r), log: log.child() });
  return { dir, channel, spool, reporter, run, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('reporter: receiver down -> spooled; back -> delivered in check order, nothing lost, no duplicate (keep: all)', async () => {
  const s = setup('all', [retry('down')]);
  try {
    const r1 = s.reporter();
    await r1.deliver(s.run({ summary: 'first', checkedAt: T0 + 1000 }));
    await r1.deliver(s.run({ summary: 'second', checkedAt: T0 + 2000 }));
    await r1.close();
    assert.deepEqual(r1.records.map((r) => r.outcome), ['spooled', 'spooled']);
    assert.equal(s.channel.sent.length, 1, 'after one failure the run stops trying');
    assert.equal((await s.spool.entries()).length, 2);
    // Next run: the new result waits behind the spooled ones, then all go out oldest first.
    const r2 = s.reporter();
    await r2.deliver(s.run({ summary: 'third', checkedAt: T0 + 3000 }));
    await r2.close();
    assert.deepEqual(s.channel.sent.slice(1).map((p) => p.head), ['first', 'second', 'third'].map((x) => `INSTANCE-ROUTED CRITICAL - ${x}`));
    assert.deepEqual(await s.spool.entries(), []);
    assert.deepEqual(await s.spool.backoff(), { failures: 0, nextAt: 0, lastError: '', since: 0 });
  } finally { s.done(); }
});

test('reporter: keep: latest sends only the newest per service and says what it dropped', async () => {
  const s = setup('latest', [retry('down')]);
  try {
    const r1 = s.reporter();
    for (const [i, probe] of ['instance-routed', 'ovs-ports', 'instance-routed', 'instance-routed'].entries()) await r1.deliver(s.run({ probe, summary: `#${i}`, checkedAt: T0 + 1000 + i }));
    await r1.close();
    const r2 = s.reporter();
    await r2.close();
    assert.deepEqual(s.channel.sent.slice(1).map((p) => `${p.service} ${p.head}`), ['OVS-PORTS CRITICAL - #1', 'INSTANCE-ROUTED CRITICAL - #3'].map((h, i) => `${['ovs-ports', 'Instances routed'][i]} ${h}`));
    assert.deepEqual(r2.dropped, ['sent only the newest result per service, dropped 2 older one(s) (keep: latest; 2 of Instances routed)']);
  } finally { s.done(); }
});

test('reporter: a rejection is reported and dropped, never retried; a later result still goes', async () => {
  const s = setup('all', [rejected('HTTP 403')]);
  try {
    const r = s.reporter();
    await r.deliver(s.run({ checkedAt: T0 + 1000 }));
    await r.deliver(s.run({ checkedAt: T0 + 2000 }));
    await r.close();
    assert.deepEqual(r.records.map((x) => [x.outcome, x.reason]), [['rejected', 'HTTP 403'], ['delivered', undefined]]);
    assert.deepEqual(await s.spool.entries(), []);
  } finally { s.done(); }
});

test('spool bounds: max_entries drops the oldest, max_age the too old, and says so', async () => {
  const s = setup('all', [], { max_entries: 2, max_age: 3600, backoff_max: 1800 });
  try {
    const now = Date.now();
    for (const at of [now - 7200_000, now - 3, now - 2, now - 1]) await s.spool.add(toPassive(result({ checkedAt: at }), naming));
    const { kept, dropped } = await s.spool.prune(await s.spool.entries(), now);
    assert.deepEqual(kept.map((e) => e.result.checkedAt), [now - 2, now - 1]);
    assert.deepEqual(dropped, [
      'dropped 1 result(s) older than spool.max_age 3600s (1 of Instances routed)',
      'dropped the 1 oldest result(s) over spool.max_entries 2 (1 of Instances routed)',
    ]);
    assert.equal((await s.spool.entries()).length, 2, 'the files are gone too');
  } finally { s.done(); }
});

test('backoff: next run, then 1, 2, 4 minutes... up to backoff_max; a success resets it', async () => {
  const s = setup('all', [], { max_entries: 10, max_age: 3600, backoff_max: 180 });
  try {
    const waits = [];
    for (let i = 0; i < 5; i++) waits.push(((await s.spool.failed('down', 0)).nextAt) / 1000);
    assert.deepEqual(waits, [0, 60, 120, 180, 180]);
    await s.spool.succeeded();
    assert.equal((await s.spool.backoff()).failures, 0);
  } finally { s.done(); }
});

test('reporter: a result older than report.max_age is never sent as current, and says so', async () => {
  const s = setup('all', []);
  try {
    const r = new PassiveReporter(s.channel, s.spool, { ...naming, max_age: 600, keep: 'all', timeoutMs: 1000 }, new Logger({ quiet: true, sink: () => {} }));
    await r.deliver(s.run({ checkedAt: Date.now() - 601_000 }));
    await r.close();
    assert.deepEqual(r.records.map((x) => [x.outcome, x.reason]), [['stale', 'older than report.max_age 600s: not sent']]);
    assert.equal(s.channel.sent.length, 0);
    assert.deepEqual(await s.spool.entries(), []);
  } finally { s.done(); }
});

test('self-service: the channel\'s spool as a result, sent through it after the run', async () => {
  const now = Date.now();
  const waiting = [toPassive(result({ checkedAt: now - 90_000 }), naming), toPassive(result({ checkedAt: now - 30_000 }), naming)];
  const r = spoolResult('nsca', waiting, [], now);
  assert.deepEqual([r.probe, r.status, r.summary], ['lm-probe', Status.WARNING, 'nsca: 2 result(s) wait to be delivered, the oldest for 90s']);
  assert.deepEqual(r.perfdata.map((p) => [p.label, p.value]), [['spooled', 2], ['oldest_age', 90]]);
  assert.equal(spoolResult('nsca', [], [], now).status, Status.OK);
  assert.equal(spoolResult('nsca', [], ['dropped 3 result(s) older than spool.max_age 86400s (3 of x)'], now).status, Status.CRITICAL);
  const s = setup('all', []);
  try {
    const rep = new PassiveReporter(s.channel, s.spool, { ...naming, max_age: 600, keep: 'all', timeoutMs: 1000, selfService: true }, new Logger({ quiet: true, sink: () => {} }));
    await rep.deliver(s.run({ checkedAt: Date.now() }));
    await rep.close();
    assert.deepEqual(s.channel.sent.map((p) => [p.service, p.head]), [['Instances routed', 'INSTANCE-ROUTED CRITICAL - 1 IP of 3 instances unrouted'], ['lm-probe', 'LM-PROBE OK - test: nothing waits to be delivered']]);
  } finally { s.done(); }
});

test('two flushes of one spool at once (cron and `spool --flush`): each result is sent once', async () => {
  const s = setup('all', []);
  const lockDir = join(s.dir, 'locks');
  try {
    for (let i = 0; i < 3; i++) await s.spool.add(toPassive(result({ summary: `#${i}`, checkedAt: T0 + i }), naming));
    const slow: Channel & { sent: PassiveResult[] } = { ...s.channel, async send(r) { s.channel.sent.push(r); await new Promise((res) => setTimeout(res, 30)); return delivered(); } };
    const log = new Logger({ quiet: true, sink: () => {} });
    const make = () => new PassiveReporter(slow, s.spool, { ...naming, max_age: 0, keep: 'all', timeoutMs: 1000, lockDir }, log);
    await Promise.all([make().flush(true), make().flush(true)]);
    assert.deepEqual(s.channel.sent.map((p) => p.head), ['#0', '#1', '#2'].map((x) => `INSTANCE-ROUTED CRITICAL - ${x}`));
    assert.deepEqual(await s.spool.entries(), []);
  } finally { s.done(); }
});
