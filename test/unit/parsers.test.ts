// Parsers of real tool output, on fixtures recorded from the real tools (see test/fixtures/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseHostRoutes } from '../../src/host/iproute.js';
import { describeStop, parseMtrJson } from '../../src/host/mtr.js';
import { parseArpingRaw } from '../../src/host/arping.js';

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

test('arping -r: a MAC means an answer, nothing means none, anything else is garbage', () => {
  assert.deepEqual(parseArpingRaw(fixture('arping/reply-raw.txt')), { answered: true, mac: '52:dd:3d:f9:f4:02' });
  assert.deepEqual(parseArpingRaw(fixture('arping/timeout-raw.txt')), { answered: false });
  assert.throws(() => parseArpingRaw('ARPING 198.18.1.2\n42 bytes from'), /arping: unparseable output/);
});
