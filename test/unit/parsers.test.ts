// Parsers of real tool output, on fixtures recorded from the real tools (see test/fixtures/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseHostRoutes } from '../../src/host/iproute.js';
import { describeStop, parseMtrJson } from '../../src/host/mtr.js';
import { parseArpScan, parseNdisc6 } from '../../src/host/neighbours.js';

const fixture = (p: string) => readFileSync(new URL(`../../../test/fixtures/${p}`, import.meta.url), 'utf8');

test('ip -j route show table all: unicast host routes only, with their device', () => {
  const routes = parseHostRoutes(fixture('ip/route-table-all.json'));
  assert.deepEqual([...routes.keys()].sort(), ['198.18.1.2', '198.18.1.9', '198.18.2.5']);
  assert.equal(routes.get('198.18.1.2')?.dev, 'tapx');
  assert.equal(routes.get('198.18.2.5')?.gateway, '198.18.1.2');
  assert.equal(routes.has('198.18.0.1'), false, 'a local route routes nothing to an instance');
  assert.equal(routes.has('127.0.0.1'), false);
});

test('IPv6 /128 routes are found in the same output, in canonical form', () => {
  const routes = parseHostRoutes(fixture('ip/route-table-all-v6.json'));
  assert.equal(routes.get('2001:db8::5')?.dev, 'tapx');
  assert.equal(routes.has('fe80::'), false, 'a /64 is not a host route');
});

test('ip route garbage is an error, not a crash', () => {
  assert.throws(() => parseHostRoutes('Segmentation fault'), /ip route: unparseable output/);
  assert.throws(() => parseHostRoutes('{"a":1}'), /ip route: unexpected output/);
});

test('mtr: reached, stops at a hop, no hop answered', () => {
  const reached = parseMtrJson('198.18.1.2', fixture('mtr/reached.json'));
  assert.equal(reached.reached, true);
  const stops = parseMtrJson('198.18.2.5', fixture('mtr/stops-at-hop1.json'));
  assert.equal(stops.reached, false);
  assert.equal(describeStop(stops), 'the path stops at 198.18.1.2 (hop 1)');
  const none = parseMtrJson('198.18.1.9', fixture('mtr/no-hop-answered.json'));
  assert.equal(describeStop(none), 'no hop on the path answers');
});

test('mtr garbage is a one-line error naming mtr', () => {
  assert.throws(() => parseMtrJson('198.18.1.2', 'Start: 2026-11-21\nHOST: x Loss%'), /^ProbeError: mtr: unparseable output: Start: 2026-11-21 HOST: x Loss%$/);
  assert.throws(() => parseMtrJson('198.18.1.2', '{"report":{}}'), /mtr: unexpected output/);
  assert.throws(() => parseMtrJson('198.18.1.2', '{"report":{"hubs":[{"x":1}]}}'), /mtr: unexpected hop entry/);
});

test('arp-scan --plain --quiet: every MAC per IP (a duplicate IP gives two), the silent absent, garbage named', () => {
  assert.deepEqual(parseArpScan(fixture('arp-scan/two-answer-one-dead.txt')), new Map([['198.18.1.2', ['fa:16:3e:1f:00:01']], ['198.18.1.3', ['fa:16:3e:1f:00:02']]]));
  const dup = parseArpScan(fixture('arp-scan/duplicate.txt'));
  assert.deepEqual(dup.get('198.18.1.3'), ['fa:16:3e:dd:00:02', 'fa:16:3e:1f:00:02']);
  assert.deepEqual(dup.get('198.18.1.4'), ['fa:16:3e:dd:00:03']);
  assert.deepEqual(parseArpScan(''), new Map());
  assert.deepEqual(parseArpScan('198.18.1.3\tfa:16:3e:1f:00:02\t(DUP: 2)\n'), new Map([['198.18.1.3', ['fa:16:3e:1f:00:02']]]));
  assert.throws(() => parseArpScan('Interface: to-br-int, type: EN10MB\n'), /^ProbeError: arp-scan: unparseable output: Interface: to-br-int, type: EN10MB$/);
});

test('ndisc6 -q -m: one MAC per answering node, lower-cased; garbage named', () => {
  assert.deepEqual(parseNdisc6(fixture('ndisc6/reply-quiet.txt')), ['fa:16:3e:1f:00:02']);
  assert.deepEqual(parseNdisc6(fixture('ndisc6/duplicate-quiet.txt')), ['fa:16:3e:dd:00:02', 'fa:16:3e:1f:00:02']);
  assert.deepEqual(parseNdisc6(''), []);
  assert.throws(() => parseNdisc6('Soliciting fd6c:6d70::3 (fd6c:6d70::3) on to-br-int...\n'), /^ProbeError: ndisc6: unparseable output: Soliciting/);
});
