// `lm-probe instance`: what each probe says about one instance, the snapshot, and the before/after
// comparison, on results shaped like the probes' (pure: src/instance-view.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compare, instanceResult, parseSnapshot, snapshotOf, viewOf, type ProbeView, type Snapshot } from '../../src/instance-view.js';
import { formatNagios } from '../../src/report/nagios.js';
import { Status, type Finding, type Result } from '../../src/result.js';

const X = 'b3e0b925-1d86-5d08-8ff6-fd3eb2b6f3a9';
const Y = '082651cd-d0f7-5a2a-a7df-76adb6b18ca8';
const f = (key: string, status: Status, instance: string | null = X): Finding => ({ ...(instance ? { instance } : {}), key, status, text: `${key} text` });
const result = (probe: string, status: Status, findings: Finding[], summary = 'summary'): Result =>
  ({ probe, status, summary, details: findings.map((x) => x.text), findings, perfdata: [] });
const subject = { uuid: X, name: 'instance-00000002', host: 'cmp2', hosted: true };

test('a probe\'s view: only this instance\'s findings, node-wide ones only when it is hosted here', () => {
  const r = result('bgp-announcements', Status.CRITICAL, [f('peer-down 198.18.255.3', Status.CRITICAL, null), f('not-announced 198.18.1.3', Status.CRITICAL), f('not-announced 198.18.1.4', Status.CRITICAL, Y)]);
  const here = viewOf(r, X, true);
  assert.deepEqual(here.findings.map((x) => x.key), ['peer-down 198.18.255.3', 'not-announced 198.18.1.3']);
  assert.equal(here.status, Status.CRITICAL);
  assert.deepEqual(viewOf(r, X, false).findings.map((x) => x.key), ['not-announced 198.18.1.3'], 'gone from this node: its leftovers only');
  const quiet = viewOf(r, '11111111-1111-4111-8111-111111111111', true);
  assert.equal(quiet.checked, true);
  assert.equal(quiet.status, Status.CRITICAL, 'a session down concerns every instance here');
});

test('a probe that could not check is UNKNOWN for the instance, never fine; an UNKNOWN explained by a finding is about that finding', () => {
  const down = viewOf(result('ovs-ports', Status.UNKNOWN, [], 'ovs-vsctl not found'), X, true);
  assert.deepEqual([down.checked, down.status], [false, Status.UNKNOWN]);
  const cut = viewOf({ ...result('instance-routed', Status.CRITICAL, [f('not-routed 198.18.1.9', Status.CRITICAL, Y)], '1 of 6 IPs not routed (partial: timed out after 30s waiting for mtr)'), partial: true }, X, true);
  assert.deepEqual([cut.checked, cut.status], [false, Status.UNKNOWN], 'cut by the deadline: this instance may not have been checked');
  const chain = result('orphaned-disks', Status.UNKNOWN, [f(`disk-unreadable ${Y}/disk`, Status.UNKNOWN, Y)]);
  assert.deepEqual([viewOf(chain, X, true).checked, viewOf(chain, X, true).status], [true, Status.OK]);
  const degraded = viewOf({ ...result('ovs-ports', Status.WARNING, [], '6 ports wired; inventory degraded (openstack failed): WARNING at best'), degraded: true }, X, true);
  assert.equal(degraded.status, Status.WARNING, 'the inventory may have hidden it');
  assert.equal(viewOf(result('ovs-ports', Status.WARNING, [], '6 ports wired; 1 orphan'), X, true).status, Status.OK, 'a WARNING about others is not this instance\'s');
});

const views = (...rs: Result[]): ProbeView[] => rs.map((r) => viewOf(r, X, true));
function snapshot(...rs: Result[]): Snapshot {
  return parseSnapshot(JSON.stringify(snapshotOf({ ...subject, host: 'cmp1', time: new Date(0), views: views(...rs) })), 'before.json', X);
}

test('compare: new keeps its status, already broken before is WARNING at most, not known before keeps its status, fixed is listed', () => {
  const before = snapshot(
    result('openflow-rules', Status.CRITICAL, [f('flows-missing p1', Status.CRITICAL), f('flows-orphaned fa:16:3e:1f:00:02', Status.WARNING)]),
    result('bgp-announcements', Status.OK, []),
    result('instance-placement', Status.OK, [f('domain-leftover shutoff/migrated', Status.OK)]),
    result('ovs-ports', Status.UNKNOWN, [], 'ovs-vsctl not found'),
  );
  const now = views(
    result('openflow-rules', Status.CRITICAL, [f('flows-missing p1', Status.CRITICAL)]),
    result('bgp-announcements', Status.CRITICAL, [f('not-announced 198.18.1.3', Status.CRITICAL)]),
    result('instance-placement', Status.WARNING, [f('domain-leftover shutoff/migrated', Status.WARNING)]),
    result('ovs-ports', Status.CRITICAL, [f('port-missing p1', Status.CRITICAL)]),
  );
  const c = compare(now, before);
  assert.deepEqual(c.judged.map((j) => [j.probe, j.key, j.judgement, j.status, j.was]), [
    ['openflow-rules', 'flows-missing p1', 'before', Status.WARNING, Status.CRITICAL],
    ['bgp-announcements', 'not-announced 198.18.1.3', 'new', Status.CRITICAL, undefined],
    ['instance-placement', 'domain-leftover shutoff/migrated', 'new', Status.WARNING, Status.OK],
    ['ovs-ports', 'port-missing p1', 'unknown-before', Status.CRITICAL, undefined],
  ]);
  assert.deepEqual(c.fixed.map((x) => [x.probe, x.key, x.was]), [['openflow-rules', 'flows-orphaned fa:16:3e:1f:00:02', Status.WARNING]]);
  assert.equal(c.status, Status.CRITICAL);
  const { 'bgp-announcements': _absent, ...older } = before.probes;
  assert.equal(compare(now, { ...before, probes: older }).judged[1].judgement, 'unknown-before', 'a probe absent from the snapshot knew nothing then');
});

test('compare: only what was broken before is WARNING; a probe that cannot check now is UNKNOWN and fixes nothing', () => {
  const before = snapshot(result('openflow-rules', Status.CRITICAL, [f('flows-missing p1', Status.CRITICAL)]), result('ovs-ports', Status.CRITICAL, [f('port-missing p1', Status.CRITICAL)]));
  const same = compare(views(result('openflow-rules', Status.CRITICAL, [f('flows-missing p1', Status.CRITICAL)]), result('ovs-ports', Status.CRITICAL, [f('port-missing p1', Status.CRITICAL)])), before);
  assert.equal(same.status, Status.WARNING);
  const blind = compare(views(result('openflow-rules', Status.OK, []), result('ovs-ports', Status.UNKNOWN, [], 'ovs-vsctl timed out')), before);
  assert.deepEqual(blind.fixed.map((x) => x.key), ['flows-missing p1'], 'ovs-ports could not look: not "fixed"');
  assert.equal(blind.status, Status.UNKNOWN);
  assert.equal(compare(views(result('openflow-rules', Status.OK, [])), before).status, Status.OK);
});

test('the snapshot: another instance\'s, not JSON, not a snapshot, another version, malformed: one line naming the file', () => {
  const good = JSON.stringify(snapshotOf({ ...subject, time: new Date(0), views: views(result('ovs-ports', Status.OK, [])) }));
  assert.equal(parseSnapshot(good, 'b.json', X).probes['ovs-ports'].checked, true);
  const bad = (text: string, uuid = X) => { try { parseSnapshot(text, 'b.json', uuid); return ''; } catch (e) { return (e as Error).message; } };
  assert.equal(bad(good, Y), `--compare b.json: snapshot of instance ${X}, not ${Y}`);
  assert.match(bad('{"format":'), /^--compare b\.json: not JSON \(/);
  assert.equal(bad('[1,2]'), '--compare b.json: not an lm-probe instance snapshot (lm-probe instance <uuid> --save)');
  assert.equal(bad(good.replace('"version":1', '"version":2')), '--compare b.json: snapshot format version 2, this lm-probe reads version 1');
  assert.equal(bad(good.replace('"checked":true', '"checked":"yes"')), '--compare b.json: malformed snapshot (probe "ovs-ports")');
  assert.equal(bad(JSON.stringify({ format: 'lm-probe-instance', version: 1, uuid: X })), '--compare b.json: malformed snapshot (uuid, host, time or probes missing)');
});

test('the report: one status line with perfdata, findings worst first, then what found nothing and what could not check', () => {
  const vs = views(
    result('ovs-ports', Status.UNKNOWN, [], 'ovs-vsctl not found'),
    result('openflow-rules', Status.WARNING, [f('flows-orphaned fa:16:3e:1f:00:02', Status.WARNING)]),
    result('bgp-announcements', Status.CRITICAL, [f('peer-down 198.18.255.3', Status.CRITICAL, null)]),
    result('orphaned-disks', Status.OK, [], '6 instance dirs hosted here'),
    result('migrations', Status.CRITICAL, [f('migration-slow', Status.CRITICAL, Y)]),
  );
  const r = instanceResult(subject, vs);
  assert.equal(r.status, Status.CRITICAL);
  assert.deepEqual(formatNagios(r).split('\n'), [
    `LM-PROBE-INSTANCE CRITICAL - ${X} (instance-00000002): hosted on cmp2; openflow-rules WARNING, bgp-announcements CRITICAL; 1 probe could not check: ovs-ports | findings=2;;;0`,
    'bgp-announcements CRITICAL (every instance on this node): peer-down 198.18.255.3 text',
    'openflow-rules WARNING: flows-orphaned fa:16:3e:1f:00:02 text',
    'ovs-ports UNKNOWN: could not check: ovs-vsctl not found',
    'orphaned-disks: nothing found for it (the probe: OK - 6 instance dirs hosted here)',
    'migrations: nothing found for it (the probe is CRITICAL about others)',
    '',
  ]);
  const before = snapshot(result('openflow-rules', Status.WARNING, [f('flows-orphaned fa:16:3e:1f:00:02', Status.WARNING)]), result('orphaned-disks', Status.CRITICAL, [f(`disk-leftover ${X}_resize`, Status.CRITICAL)]));
  const compared = instanceResult(subject, vs, { comparison: compare(vs, before), where: 'before.json', before });
  assert.deepEqual(formatNagios(compared).split('\n').slice(0, 5), [
    `LM-PROBE-INSTANCE CRITICAL - ${X} (instance-00000002): hosted on cmp2; compared with before.json (cmp1, 1970-01-01T00:00:00.000Z): 0 new, 1 already broken before, 1 not known before, 1 fixed; 1 probe could not check: ovs-ports | findings=2;;;0 new=0;;;0 already_broken=1;;;0 fixed=1;;;0`,
    'bgp-announcements CRITICAL not known before (every instance on this node): peer-down 198.18.255.3 text',
    'openflow-rules WARNING already broken before (was WARNING): flows-orphaned fa:16:3e:1f:00:02 text',
    `orphaned-disks fixed (was CRITICAL): disk-leftover ${X}_resize text`,
    'ovs-ports UNKNOWN: could not check: ovs-vsctl not found',
  ]);
});
