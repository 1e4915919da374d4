import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, verdict, type IpObservation } from '../../probes/instance-routed/verdict.js';
import { Status } from '../../src/result.js';

const inst = { uuid: '8dc7c44c-e491-4139-ac5a-1a06dbe1f53f', name: 'instance-00000001' };
const obs = (ip: string, o: Partial<IpObservation> = {}): IpObservation => ({ ip, instance: inst, replied: false, rechecked: true, graceLeftS: 0, ...o });
const route = { ip: '', dev: 'tapx', table: 'main' };
const judge = (observations: IpObservation[]) =>
  verdict({ observations, instances: 1, warning: '0', critical: '1', linkNamespace: 'ns-link', scanSeconds: 0.5 });

test('classification: replied, filtered (route + ARP), unrouted (no route even with ARP), recovered', () => {
  assert.equal(classify(obs('a', { replied: true })), 'replied');
  assert.equal(classify(obs('b', { route, arp: { answered: true, mac: 'fa:16:3e:00:00:01', iface: 'tapx' } })), 'filtered');
  assert.equal(classify(obs('c', { arp: { answered: true, mac: 'fa:16:3e:00:00:01', iface: 'tapx' } })), 'unrouted');
  assert.equal(classify(obs('d', { route, arp: { answered: false, iface: 'tapx' } })), 'unrouted');
  assert.equal(classify(obs('e', { route, mtr: { target: 'e', hops: [], reached: true } })), 'recovered');
});

test('filtering ICMP is OK and said in the details', () => {
  const v = judge([obs('198.18.1.2', { replied: true }), obs('198.18.1.3', { route, arp: { answered: true, mac: 'fa:16:3e:00:00:01', iface: 'tapx' } })]);
  assert.equal(v.status, Status.OK);
  assert.match(v.summary, /^2 IPs of 1 instance answer; 1 alive but filtering ICMP$/);
  assert.match(v.details[0], /198.18.1.3 instance-00000001 .*alive, filters ICMP/);
});

test('one unrouted IP warns, two are critical; the diagnosis is in the details', () => {
  const one = judge([obs('198.18.1.2', { replied: true }), obs('198.18.1.3', { arp: { answered: true, mac: 'fa:16:3e:00:00:01', iface: 'tapx' } })]);
  assert.equal(one.status, Status.WARNING);
  assert.equal(one.summary, '1 of 2 IPs not routed: 198.18.1.3');
  assert.match(one.details[0], /no static route in ns-link; answers ARP on tapx .*its route was lost/);
  const two = judge([obs('198.18.1.3'), obs('198.18.1.4', { route, mtr: { target: '198.18.1.4', hops: [{ hop: 1, host: '198.18.0.254', lossPct: 0 }], reached: false, lastAnswering: { hop: 1, host: '198.18.0.254', lossPct: 0 } }, arp: { answered: false, iface: 'tapx' } })]);
  assert.equal(two.status, Status.CRITICAL);
  assert.match(two.details[1], /route via tapx present, the path stops at 198.18.0.254 \(hop 1\); no ARP reply on tapx/);
  assert.deepEqual(two.perfdata.map((p) => p.label), ['ips', 'replied', 'filtered', 'unrouted', 'scan_time']);
  assert.equal(two.perfdata[3].value, 2);
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
