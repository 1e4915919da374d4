// The BGP daemon parsers (src/host/bgp/), on real output recorded from the lab's bird2, FRR and GoBGP (test/fixtures/bgp/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseBirdExport, parseBirdProtocols } from '../../src/host/bgp/bird.js';
import { parseFrrAdvertised, parseFrrSummary, splitJsonDocuments } from '../../src/host/bgp/frr.js';
import { apiError, parseApi, parseGobgpAdjOut, parseGobgpNeighbors } from '../../src/host/bgp/gobgp.js';
import { canonicalPrefix, wanted } from '../../src/host/bgp/types.js';

const fixture = (p: string) => readFileSync(new URL(`../../../test/fixtures/bgp/${p}`, import.meta.url), 'utf8');
const sorted = (xs: string[]) => [...xs].sort();

test('bird show protocols all: only the BGP protocol, Established, with its neighbor, since and families', () => {
  const { version, sessions } = parseBirdProtocols(fixture('bird/protocols-all.full.txt'));
  assert.equal(version, 'BIRD 2.0.12');
  assert.equal(sessions.length, 1, 'device1 and lmp_kernel are not BGP sessions');
  assert.deepEqual({ ...sessions[0], since: undefined }, { peer: '198.18.255.1', name: 'rtr', state: 'Established', established: true, since: undefined, families: ['ipv4'] });
  assert.match(sessions[0].since!, /^since \d\d:\d\d:\d\d\.\d{3}$/);
});

test('bird: the router\'s session stopped: Active, since when, and the last error; no family up', () => {
  const [s] = parseBirdProtocols(fixture('bird/protocols-all.session-down.txt')).sessions;
  assert.deepEqual(s, { peer: '198.18.255.1', name: 'rtr', state: 'Active', established: false, since: 'since 13:06:54.194', info: 'Socket: Connection refused', families: [] });
});

test('bird: a disabled protocol is Down', () => {
  const [s] = parseBirdProtocols(fixture('bird/protocols-all.disabled.txt')).sessions;
  assert.equal(s.state, 'Down');
  assert.equal(s.established, false);
  assert.equal(s.since, 'since 13:06:56.217');
});

test('bird show route export: prefixes of route lines, with and without "all", blackholes included', () => {
  assert.deepEqual(sorted(parseBirdExport(fixture('bird/export-all.healthy.txt'))), ['198.18.1.2/32', '198.18.1.3/32', '198.18.1.4/32']);
  assert.deepEqual(sorted(parseBirdExport(fixture('bird/export-all.no-bgp.txt'))), ['198.18.1.2/32', '198.18.1.4/32']);
  assert.deepEqual(sorted(parseBirdExport(fixture('bird/export-all.orphan-bgp.txt'))), ['198.18.1.2/32', '198.18.1.200/32', '198.18.1.3/32', '198.18.1.4/32']);
  assert.deepEqual(sorted(parseBirdExport(fixture('bird/export.no-bgp-orphan-bgp.txt'))), ['198.18.1.2/32', '198.18.1.4/32', '198.18.7.252/32']);
});

test('bird: not bird talking, or an error reply, is a one-line ProbeError naming the command', () => {
  assert.throws(() => parseBirdProtocols('Segmentation fault\n<html>'), { name: 'ProbeError', message: 'birdc show protocols all: unparseable output: Segmentation fault <html>' });
  assert.throws(() => parseBirdExport('', 'rtr'), { name: 'ProbeError', message: 'birdc show route export rtr: unparseable output: (empty)' });
  assert.throws(() => parseBirdExport('BIRD 2.0.12 ready.\nNo valid tables\n', 'rtr'), { name: 'ProbeError', message: 'birdc show route export rtr: No valid tables' });
});

test('bird with an ipv6 channel on the IPv4 session: both families, prefixes of both tables', () => {
  const [s] = parseBirdProtocols(fixture('bird/protocols-all.ipv6.txt')).sessions;
  assert.deepEqual(s.families, ['ipv4', 'ipv6']);
  assert.deepEqual(sorted(parseBirdExport(fixture('bird/export.ipv6.txt'))), ['198.18.1.2/32', '198.18.1.3/32', '::ffff:198.18.1.2/128', '::ffff:198.18.1.9/128']);
});

test('FRR show bgp summary json: the peer, its state and for how long', () => {
  assert.deepEqual(parseFrrSummary(fixture('frr/summary.healthy.json')), [{ peer: '198.18.255.1', state: 'Established', established: true, since: 'for 00:00:03', families: ['ipv4'] }]);
  assert.deepEqual(parseFrrSummary(fixture('frr/summary.session-down.json')), [{ peer: '198.18.255.1', state: 'Active', established: false, since: 'for 00:00:02', families: ['ipv4'] }]);
  assert.deepEqual(parseFrrSummary('{}'), [], 'no BGP instance: no session');
  assert.throws(() => parseFrrSummary('% Unknown command'), { name: 'ProbeError', message: /^vtysh show bgp summary json: unparseable output: % Unknown command$/ });
});

test('FRR advertised-routes json: the adj-RIB-out prefixes; two -c replies split; a warning is an error', () => {
  const one = (state: string) => sorted(parseFrrAdvertised(JSON.parse(fixture(`frr/advertised-routes.${state}.json`)), 'x'));
  assert.deepEqual(one('healthy'), ['198.18.1.2/32', '198.18.1.3/32', '198.18.1.4/32']);
  assert.deepEqual(one('no-bgp'), ['198.18.1.2/32', '198.18.1.4/32']);
  assert.deepEqual(one('orphan-bgp'), ['198.18.1.2/32', '198.18.1.200/32', '198.18.1.3/32', '198.18.1.4/32']);
  const docs = splitJsonDocuments(fixture('frr/advertised-routes.two-commands.json'));
  assert.equal(docs.length, 2);
  assert.equal(parseFrrAdvertised(JSON.parse(docs[0]), 'v4').length, 3);
  assert.throws(() => parseFrrAdvertised(JSON.parse(docs[1]), 'show bgp ipv6 ...'), { message: 'vtysh show bgp ipv6 ...: No such neighbor or address family' });
  assert.deepEqual(splitJsonDocuments('{"a":"}{"}\n[1]'), ['{"a":"}{"}', '[1]'], 'braces inside strings do not count');
  assert.throws(() => splitJsonDocuments('{"a":1}\nExiting: failed to connect'), { name: 'ProbeError', message: 'vtysh: unparseable output: Exiting: failed to connect' });
  assert.throws(() => splitJsonDocuments('{"a":{'), { name: 'ProbeError', message: /^vtysh: truncated output/ });
});

test('GoBGP neighbor -j: numeric session state, families from afi_safis, since from uptime / downtime', () => {
  assert.deepEqual(parseGobgpNeighbors(fixture('gobgp/neighbor.healthy.json')), [{ peer: '198.18.255.1', state: 'Established', established: true, since: 'since 2026-11-30T13:07:00Z', families: ['ipv4'] }]);
  assert.deepEqual(parseGobgpNeighbors(fixture('gobgp/neighbor.session-down.json')), [{ peer: '198.18.255.1', state: 'Idle', established: false, since: 'since 2026-11-30T13:07:11Z', families: ['ipv4'] }]);
  assert.deepEqual(parseGobgpNeighbors(''), [], 'no neighbor configured');
  assert.throws(() => parseGobgpNeighbors('[{"conf":{}}]'), { name: 'ProbeError', message: /^gobgp neighbor -j: a neighbor without an address/ });
});

test('GoBGP adj-out -j: prefixes as keys; empty is none; an error object is an error', () => {
  const one = (state: string) => sorted(parseGobgpAdjOut(fixture(`gobgp/adj-out.${state}.json`)));
  assert.deepEqual(one('healthy'), ['198.18.1.2/32', '198.18.1.3/32', '198.18.1.4/32']);
  assert.deepEqual(one('no-bgp'), ['198.18.1.2/32', '198.18.1.4/32']);
  assert.deepEqual(one('orphan-bgp'), ['198.18.1.2/32', '198.18.1.200/32', '198.18.1.3/32', '198.18.1.4/32']);
  assert.deepEqual(one('empty'), []);
  assert.deepEqual(parseGobgpAdjOut('null'), []);
  assert.throws(() => parseGobgpAdjOut('{"error":"neighbor 198.18.255.1\'s BGP session is not established"}', 'neighbor 198.18.255.1 adj-out'), { message: "gobgp neighbor 198.18.255.1 adj-out: neighbor 198.18.255.1's BGP session is not established" });
  assert.equal(apiError('{"error":"context deadline exceeded"}\n'), 'context deadline exceeded');
  assert.equal(apiError('rpc error: code = Unavailable'), 'rpc error: code = Unavailable');
  assert.deepEqual(parseApi('[::1]:50051'), { host: '::1', port: '50051' });
  assert.throws(() => parseApi('localhost'), { message: 'invalid gobgp_api "localhost" (want address:port)' });
});

test('prefixes are canonical (IPv6 too); peers match by address or bird protocol name', () => {
  assert.equal(canonicalPrefix('2001:DB8:0::5/128'), '2001:db8::5/128');
  assert.equal(canonicalPrefix('198.18.1.2'), '198.18.1.2/32');
  assert.equal(canonicalPrefix('::FFFF:c612:102/128'), '::ffff:198.18.1.2/128', 'IPv4-mapped: mixed notation, as bird prints it');
  assert.equal(canonicalPrefix('198.18.1.2/33'), undefined);
  assert.equal(canonicalPrefix('Table'), undefined);
  assert.equal(wanted([], { peer: '198.18.255.1' }), true);
  assert.equal(wanted(['rtr'], { peer: '198.18.255.1', name: 'rtr' }), true);
  assert.equal(wanted(['2001:DB8::1'], { peer: '2001:db8::1' }), true);
  assert.equal(wanted(['198.18.255.3'], { peer: '198.18.255.1', name: 'rtr' }), false);
});
