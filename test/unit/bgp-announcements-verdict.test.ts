// bgp-announcements' verdict: pure, on sessions shaped like the parsers' output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BgpSession } from '../../src/host/bgp/index.js';
import { Status } from '../../src/result.js';
import { Presence } from '../../src/presence.js';
import type { Instance } from '../../src/inventory/types.js';
import { formerOwner, verdict, type ExpectedIp, type FormerOwner, type VerdictInput } from '../../probes/bgp-announcements/verdict.js';

const A = 'aaaaaaaa-0000-4000-8000-000000000001';
const B = 'bbbbbbbb-0000-4000-8000-000000000002';
const up = (peer: string, announced: string[], families: BgpSession['families'] = ['ipv4']): BgpSession => ({ peer, state: 'Established', established: true, families, announced });
const exp = (ip: string, uuid = A, graceLeftS = 0): ExpectedIp => ({ ip, uuid, name: `i-${ip}`, graceLeftS });

function run(over: Partial<VerdictInput>) {
  return verdict({
    expected: [exp('198.18.1.2'), exp('198.18.1.3', B)],
    instances: 2,
    sessions: [up('198.18.255.1', ['198.18.1.2/32', '198.18.1.3/32'])],
    inScope: (p) => p.endsWith('/32') || p.endsWith('/128'),
    formerOwner: () => undefined,
    warning: '0',
    critical: '0',
    ...over,
  });
}

test('everything announced, nothing else: OK with the six perfdata', () => {
  const v = run({});
  assert.equal(v.status, Status.OK);
  assert.equal(v.summary, '2 IPs of 2 instances announced to 1 peer, nothing else');
  assert.deepEqual(v.details, []);
  assert.deepEqual(v.perfdata.map((p) => `${p.label}=${p.value}`), ['expected=2', 'announced=2', 'missing=0', 'orphaned=0', 'sessions_established=1', 'sessions=1']);
});

test('a missing IP names the instance and the peers that lack it; an orphan names the prefix', () => {
  const v = run({ sessions: [up('198.18.255.1', ['198.18.1.2/32', '198.18.7.252/32']), up('198.18.255.3', ['198.18.1.2/32', '198.18.1.3/32'])] });
  assert.equal(v.status, Status.CRITICAL);
  assert.equal(v.summary, '1 of 2 IPs not announced: 198.18.1.3; 1 orphaned announcement: 198.18.7.252/32');
  assert.deepEqual(v.details, [
    `198.18.1.3 i-198.18.1.3 (${B}): not announced to 198.18.255.1`,
    '198.18.7.252/32: announced to 198.18.255.1, no instance here owns it',
  ]);
});

test('aggregates and routes out of scope are never orphans', () => {
  const v = run({ sessions: [up('198.18.255.1', ['198.18.1.2/32', '198.18.1.3/32', '198.18.0.0/15', '10.0.0.1/32'])], inScope: (p) => p.startsWith('198.18.') && p.endsWith('/32') });
  assert.equal(v.status, Status.OK);
  assert.equal(v.perfdata.find((p) => p.label === 'announced')?.value, 4);
});

test('a session not Established: CRITICAL naming the peer, its state and since when; the others are still audited', () => {
  const down: BgpSession = { peer: '198.18.255.3', name: 'tor2', state: 'Active', established: false, since: 'since 13:06:54.194', info: 'Socket: Connection refused', families: [] };
  const v = run({ sessions: [up('198.18.255.1', ['198.18.1.2/32']), down] });
  assert.equal(v.status, Status.CRITICAL);
  assert.equal(v.summary, '1 peer not Established: 198.18.255.3 Active; 1 of 2 IPs not announced: 198.18.1.3');
  assert.equal(v.details[0], 'peer 198.18.255.3 (tor2): Active since 13:06:54.194 (Socket: Connection refused): nothing is announced to it');
  assert.equal(v.details[1], `198.18.1.3 i-198.18.1.3 (${B}): not announced to 198.18.255.1`);
});

test('no Established session at all: CRITICAL "no BGP session established"; no peer at all says so', () => {
  const v = run({ sessions: [{ peer: '198.18.255.1', state: 'Idle', established: false, families: ['ipv4'] }] });
  assert.equal(v.status, Status.CRITICAL);
  assert.equal(v.summary, 'no BGP session established');
  assert.deepEqual(v.details, ['peer 198.18.255.1: Idle: nothing is announced to it']);
  assert.equal(run({ sessions: [] }).summary, 'no BGP session established (no BGP peer found)');
});

test('an IPv6 IP is only expected from peers carrying ipv6', () => {
  const v = run({
    expected: [exp('198.18.1.2'), exp('2001:db8::5', B)],
    sessions: [up('198.18.255.1', ['198.18.1.2/32']), up('2001:db8::ff', [], ['ipv6'])],
  });
  assert.equal(v.status, Status.CRITICAL);
  assert.deepEqual(v.details, [`2001:db8::5 i-2001:db8::5 (${B}): not announced to 2001:db8::ff`]);
  assert.equal(run({ expected: [exp('198.18.1.2'), exp('2001:db8::5', B)], sessions: [up('198.18.255.1', ['198.18.1.2/32']), up('2001:db8::ff', ['2001:db8::5/128'], ['ipv6'])] }).status, Status.OK);
});

test('grace: an instance that arrived recently, and an IP whose instance left recently, warn at most', () => {
  const left: FormerOwner = { uuid: B, name: 'i-old', what: 'left this node 30s ago', graceLeftS: 90 };
  const v = run({
    expected: [exp('198.18.1.2'), exp('198.18.1.9', B, 100)],
    sessions: [up('198.18.255.1', ['198.18.1.2/32', '198.18.1.3/32'])],
    formerOwner: (ip) => (ip === '198.18.1.3' ? left : undefined),
  });
  assert.equal(v.status, Status.WARNING);
  assert.equal(v.summary, '1 of 2 IPs not announced: 198.18.1.9 (1 arrived recently); 1 orphaned announcement: 198.18.1.3/32 (1 left recently)');
  assert.deepEqual(v.details, [
    `198.18.1.9 i-198.18.1.9 (${B}): not announced to 198.18.255.1 [arrived recently: warning only for 100s more]`,
    `198.18.1.3/32: announced to 198.18.255.1, instance i-old (${B}) left this node 30s ago [left recently: warning only for 90s more]`,
  ]);
});

test('after its grace, a leftover of an instance that left is CRITICAL and still names it', () => {
  const v = run({ sessions: [up('198.18.255.1', ['198.18.1.2/32', '198.18.1.3/32', '198.18.1.4/32'])], formerOwner: () => ({ uuid: B, what: 'left this node 2h ago', graceLeftS: 0 }) });
  assert.equal(v.status, Status.CRITICAL);
  assert.equal(v.details[0], `198.18.1.4/32: announced to 198.18.255.1, instance (${B}) left this node 2h ago`);
});

test('Nagios ranges on missing + orphaned: -w 0 -c 2 warns at 1, -w 5 -c 5 is OK with 1', () => {
  const one = { sessions: [up('198.18.255.1', ['198.18.1.2/32'])] };
  assert.equal(run({ ...one, warning: '0', critical: '2' }).status, Status.WARNING);
  assert.equal(run({ ...one, warning: '5', critical: '5' }).status, Status.OK);
});

test('former owners: an instance shut off here (with its Nova host), one that left (grace left, then none), or nobody', () => {
  const now = 1_000_000;
  const presence = new Presence({ instances: {
    [B]: { first: 0, last: now - 30, left: now - 30, name: 'i-left', ips: ['198.18.1.3'], macs: [], ports: [] },
    [A]: { first: 0, last: now - 7200, left: now - 7200, name: 'i-old', ips: ['198.18.1.4'], macs: [], ports: [] },
  } }, now);
  const off = { uuid: A, name: 'i-off', state: 'shutoff', novaHost: 'compute-2', ports: [], sources: ['libvirt'], origin: {} } as Instance;
  const known = { shutOff: new Map([['198.18.1.9', off]]), presence, graceS: 120, host: 'compute-1' };
  assert.deepEqual(formerOwner('198.18.1.9', known), { uuid: A, name: 'i-off', what: 'is shutoff here; Nova has it on compute-2 (its IP should be withdrawn)', graceLeftS: 0 });
  assert.deepEqual(formerOwner('198.18.1.3', known), { uuid: B, name: 'i-left', what: 'left this node 30s ago', graceLeftS: 90 });
  assert.deepEqual(formerOwner('198.18.1.4', known), { uuid: A, name: 'i-old', what: 'left this node 2h ago', graceLeftS: 0 });
  assert.equal(formerOwner('198.18.7.252', known), undefined);
});

test('findings for `lm-probe instance`: a missing IP is its instance\'s, an orphan its former owner\'s, a session down every instance\'s; no owner, no finding', () => {
  const down: BgpSession = { peer: '198.18.255.3', state: 'Active', established: false, families: [] };
  const gone: FormerOwner = { uuid: 'cccccccc-0000-4000-8000-000000000003', what: 'left this node 40s ago', graceLeftS: 80 };
  const v = run({
    expected: [exp('198.18.1.2'), exp('198.18.1.3', B, 60)],
    sessions: [up('198.18.255.1', ['198.18.7.9/32', '198.18.7.252/32']), down],
    formerOwner: (ip) => (ip === '198.18.7.9' ? gone : undefined),
  });
  assert.deepEqual(v.findings!.map((f) => [f.instance, f.key, f.status]), [
    [undefined, 'peer-down 198.18.255.3', Status.CRITICAL],
    [A, 'not-announced 198.18.1.2', Status.CRITICAL],
    [B, 'not-announced 198.18.1.3', Status.WARNING],
    [gone.uuid, 'orphan-announced 198.18.7.9/32', Status.WARNING],
  ]);
  for (const f of v.findings!) assert.ok(v.details.includes(f.text), f.text);
  assert.equal(v.details.length, 5, 'the ownerless orphan stays a detail');
  const none = run({ sessions: [] });
  assert.deepEqual(none.findings!.map((f) => [f.instance, f.key]), [[undefined, 'no-bgp-session']]);
  assert.deepEqual(none.details, [], 'details unchanged');
});
