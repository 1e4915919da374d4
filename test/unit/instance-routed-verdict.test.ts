import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, nothingToCheck, verdict, type IpObservation } from '../../probes/instance-routed/verdict.js';
import type { L2Answer } from '../../src/host/neighbours.js';
import { Status } from '../../src/result.js';

const PORT_MAC = 'fa:16:3e:00:00:01';
const OTHER_MAC = 'fa:16:3e:99:00:07';
const inst = { uuid: '8dc7c44c-e491-4139-ac5a-1a06dbe1f53f', name: 'instance-00000001', mac: PORT_MAC };
const obs = (ip: string, o: Partial<IpObservation> = {}): IpObservation => ({ ip, instance: inst, replied: false, graceLeftS: 0, ...o });
const route = { ip: '', dev: 'tapx', table: 'main' };
const arp = (...macs: string[]): L2Answer => ({ protocol: 'arp', iface: 'tapx', macs });
const deadEnd = { trace: { target: 'x', hops: [], reached: false } };
const judge = (observations: IpObservation[], more: { recheckMax?: number; skipped?: Record<string, number> } = {}) =>
  verdict({ observations, instances: 1, warning: '0', critical: '1', linkNamespace: 'ns-link', scanSeconds: 0.5, recheckMax: 10, ...more });

test('classification: replied, filtered (route + own MAC), unrouted (no route even with ARP), recovered, foreign MAC, not re-checked', () => {
  assert.equal(classify(obs('a', { replied: true })), 'replied');
  assert.equal(classify(obs('b', { route, l2: arp(PORT_MAC) })), 'filtered');
  assert.equal(classify(obs('c', { l2: arp(PORT_MAC) })), 'unrouted');
  assert.equal(classify(obs('d', { route, l2: arp(), mtr: deadEnd })), 'unrouted');
  assert.equal(classify(obs('e', { route, mtr: { trace: { target: 'e', hops: [], reached: true } } })), 'recovered');
  assert.equal(classify(obs('f', { route, l2: arp(OTHER_MAC) })), 'foreign-mac');
  assert.equal(classify(obs('g', { route, l2: arp(PORT_MAC, OTHER_MAC) })), 'foreign-mac');
  assert.equal(classify(obs('h', { route, l2: arp(), mtr: { skipped: 'recheck_max' } })), 'unchecked');
  // No port MAC known: nothing to compare with, an answer is the instance's.
  assert.equal(classify(obs('i', { route, l2: arp(OTHER_MAC), instance: { uuid: inst.uuid } })), 'filtered');
});

test('filtering ICMP is OK and said in the details', () => {
  const v = judge([obs('198.18.1.2', { replied: true }), obs('198.18.1.3', { route, l2: arp(PORT_MAC) })]);
  assert.equal(v.status, Status.OK);
  assert.match(v.summary, /^2 IPs of 1 instance answer; 1 alive but filtering ICMP$/);
  assert.match(v.details[0], /198.18.1.3 instance-00000001 .*alive, filters ICMP \(route via tapx; answers ARP on tapx from fa:16:3e:00:00:01\)/);
});

test('one unrouted IP warns, two are critical; the diagnosis is in the details', () => {
  const one = judge([obs('198.18.1.2', { replied: true }), obs('198.18.1.3', { l2: arp(PORT_MAC) })]);
  assert.equal(one.status, Status.WARNING);
  assert.equal(one.summary, '1 of 2 IPs not routed: 198.18.1.3');
  assert.match(one.details[0], /no static route in ns-link; answers ARP on tapx .*its route was lost/);
  const stop = { target: '198.18.1.4', hops: [{ hop: 1, host: '198.18.0.254', lossPct: 0 }], reached: false, lastAnswering: { hop: 1, host: '198.18.0.254', lossPct: 0 } };
  const two = judge([obs('198.18.1.3'), obs('198.18.1.4', { route, mtr: { trace: stop }, l2: arp() })]);
  assert.equal(two.status, Status.CRITICAL);
  assert.match(two.details[1], /route via tapx present, the path stops at 198.18.0.254 \(hop 1\); no ARP reply on tapx/);
  assert.deepEqual(two.perfdata.map((p) => p.label), ['ips', 'replied', 'filtered', 'unrouted', 'scan_time', 'foreign_mac', 'unchecked']);
  assert.equal(two.perfdata[3].value, 2);
});

test('bug 0: IPs beyond recheck_max are "not re-checked" (WARNING), never unrouted; filtering ones answered the sweep', () => {
  // 50 filter ICMP (the sweep heard their own MAC), 3 answer nothing, recheck_max 1: one traced, two not.
  const filtering = Array.from({ length: 50 }, (_, k) => obs(`198.18.2.${k + 2}`, { route, l2: arp(PORT_MAC) }));
  const silent = [
    obs('198.18.3.2', { route, l2: arp(), mtr: { trace: { target: '198.18.3.2', hops: [], reached: true } } }),
    obs('198.18.3.3', { route, l2: arp(), mtr: { skipped: 'recheck_max' } }),
    obs('198.18.3.4', { route, l2: arp(), mtr: { skipped: 'recheck_max' } }),
  ];
  const v = judge([...filtering, ...silent], { recheckMax: 1 });
  assert.equal(v.status, Status.WARNING);
  assert.equal(v.summary, '51 of 53 IPs answer; 2 answer neither ICMP nor ARP, not re-checked (recheck_max 1); 50 alive but filtering ICMP');
  assert.match(v.details[0], /^198\.18\.3\.3 .*: no echo reply; no ARP reply on tapx \(not re-checked: recheck_max 1 reached\)$/);
  assert.equal(v.perfdata.find((p) => p.label === 'unrouted')!.value, 0);
  assert.equal(v.perfdata.find((p) => p.label === 'unchecked')!.value, 2);
});

test('bug 4: another MAC answering is its own finding (WARNING), not "filtering ICMP"', () => {
  const v = judge([obs('198.18.1.2', { replied: true }), obs('198.18.1.3', { route, l2: arp(OTHER_MAC) })]);
  assert.equal(v.status, Status.WARNING);
  assert.equal(v.summary, '1 of 2 IPs answer; 1 answered by another MAC (duplicate IP or proxy ARP)');
  assert.equal(v.details[0], `198.18.1.3 instance-00000001 (${inst.uuid}): no echo reply; answered by ${OTHER_MAC} which is not this port's MAC (${PORT_MAC}) on tapx: duplicate IP or proxy ARP`);
  const both = judge([obs('198.18.1.3', { route, l2: arp(PORT_MAC, OTHER_MAC) })]);
  assert.match(both.details[0], /duplicate IP or proxy ARP; the port answers too$/);
});

test('bug 6: a failed re-check is a detail of that IP, and IPv6 says neighbour solicitation', () => {
  const v = judge([
    obs('198.18.1.3', { route, l2: { protocol: 'arp', iface: 'tapx', macs: [], error: 'arp-scan not found' }, mtr: { error: 'mtr timed out after 3.8s' } }),
    obs('fd6c:6d70::3', { route, l2: { protocol: 'ndp', iface: 'tapx', macs: [PORT_MAC] } }),
  ]);
  assert.equal(v.status, Status.WARNING);
  assert.match(v.details[0], /route via tapx present, MTR re-check failed: mtr timed out after 3\.8s; ARP on tapx: arp-scan not found$/);
  assert.match(v.details[1], /^fd6c:6d70::3 .*alive, filters ICMP \(route via tapx; answers neighbour solicitation on tapx from fa:16:3e:00:00:01\)$/);
});

test('bug 7: an MTR re-check cut by the deadline leaves the IP unrouted (a partial CRITICAL stays CRITICAL)', () => {
  const v = judge([obs('198.18.1.3', { route, l2: arp(), mtr: { skipped: 'deadline' } }), obs('198.18.1.4', { route, l2: arp(), mtr: { skipped: 'deadline' } })]);
  assert.equal(v.status, Status.CRITICAL);
  assert.match(v.details[0], /route via tapx present, MTR re-check cut by the deadline; no ARP reply on tapx$/);
});

test('bug 1: instances not checked are counted in the summary; nothing to check with a degraded inventory is UNKNOWN', () => {
  const v = judge([obs('198.18.1.2', { replied: true })], { skipped: { paused: 1, 'with no known IP': 2 } });
  assert.equal(v.summary, '1 IP of 1 instance answers; 3 instances not checked (1 paused, 2 with no known IP)');
  assert.deepEqual(nothingToCheck({ instances: 0, skipped: {}, degraded: false }), { status: Status.OK, summary: 'no instances', details: [], perfdata: [{ label: 'ips', value: 0, min: 0 }] });
  const paused = nothingToCheck({ instances: 1, skipped: { paused: 1 }, degraded: true });
  assert.equal(paused.status, Status.UNKNOWN);
  assert.equal(paused.summary, 'nothing checked while the inventory is degraded: no IPs to check: 1 instance not checked (1 paused)');
  assert.equal(nothingToCheck({ instances: 2, skipped: { shutoff: 2 }, degraded: false }).summary, 'no IPs to check: 2 instances not checked (2 shutoff)');
  assert.equal(nothingToCheck({ instances: 0, skipped: {}, degraded: true }).status, Status.UNKNOWN);
});

test('instances in their grace window warn at most', () => {
  const v = judge([obs('198.18.1.3', { graceLeftS: 60 }), obs('198.18.1.4', { graceLeftS: 30 }), obs('198.18.1.5', { graceLeftS: 10 })]);
  assert.equal(v.status, Status.WARNING);
  assert.match(v.summary, /3 arrived recently/);
  assert.match(v.details[0], /arrived recently: warning only for 60s more/);
});

test('an instance without a name is labelled by IP and UUID alone', () => {
  const v = judge([obs('198.18.1.3', { instance: { uuid: inst.uuid } })]);
  assert.match(v.details[0], new RegExp(`^198\\.18\\.1\\.3 \\(${inst.uuid}\\): no static route in ns-link`));
});

test('the summary speaks English for one IP of one instance', () => {
  assert.equal(judge([obs('198.18.1.2', { replied: true })]).summary, '1 IP of 1 instance answers');
});

test('findings for `lm-probe instance`: each IP tied to its instance, keyed by IP; unrouted CRITICAL (WARNING in grace) whatever the count ranges', () => {
  const other = { uuid: '11111111-2222-4333-8444-555555555555', name: 'instance-00000009', mac: OTHER_MAC };
  const v = judge([
    obs('198.18.1.2', { replied: true }),
    obs('198.18.1.3', { l2: arp(PORT_MAC) }),
    obs('198.18.1.4', { route, l2: arp(PORT_MAC), instance: other, graceLeftS: 30 }),
    obs('198.18.1.5', { route, l2: arp(PORT_MAC) }),
    obs('198.18.1.6', { l2: arp(), instance: other, graceLeftS: 30 }),
  ]);
  assert.equal(v.status, Status.WARNING, 'one settled unrouted IP: the node-wide range says WARNING');
  assert.deepEqual(v.findings!.map((f) => [f.instance, f.key, f.status]), [
    [inst.uuid, 'not-routed 198.18.1.3', Status.CRITICAL],
    [other.uuid, 'not-routed 198.18.1.6', Status.WARNING],
    [other.uuid, 'foreign-mac 198.18.1.4', Status.WARNING],
    [inst.uuid, 'filters-icmp 198.18.1.5', Status.OK],
  ]);
  assert.deepEqual(v.findings!.map((f) => f.text), v.details, 'the same lines, in the same order');
});
