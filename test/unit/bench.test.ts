// The benchmark's parsers and arithmetic (test/bench/), on output recorded from the ICMP targets lab (test/fixtures/bench/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { aliveFromCheckIcmp, aliveFromFping, aliveFromWorker, targetsFor } from '../bench/icmp-side-by-side.js';
import { fitLine, median, parseTimeV } from '../bench/measure.js';

const fixture = (p: string) => readFileSync(new URL(`../../../test/fixtures/bench/${p}`, import.meta.url), 'utf8');
const sorted = (s: Set<string>) => [...s].sort();

test('fping -q -c1: the IPs that answered, not those at 100 % loss or unreachable', () => {
  assert.deepEqual(sorted(aliveFromFping(fixture('fping-c1.stderr.txt'))), ['198.18.8.1', '198.18.8.2']);
});

test('check_icmp: the IPs whose perfdata loss is under 100 %', () => {
  assert.deepEqual(sorted(aliveFromCheckIcmp(fixture('check_icmp.txt'))), ['198.18.8.1', '198.18.8.2']);
});

test('the ICMP worker: alive replies; its error is said', () => {
  const out = JSON.stringify({ replies: [{ ip: '198.18.8.1', alive: true, rttMs: 0.1 }, { ip: '198.18.16.1', alive: false, error: 'timed out' }], stats: {} });
  assert.deepEqual(sorted(aliveFromWorker(out)), ['198.18.8.1']);
  assert.throws(() => aliveFromWorker('{"error":"raw ICMP socket not permitted"}'), /icmp worker: raw ICMP socket not permitted/);
});

test('/usr/bin/time -v: wall (m:ss and h:mm:ss), CPU = user + sys, max RSS', () => {
  assert.deepEqual(parseTimeV(fixture('time-v.txt')), { wallS: 5.89, cpuS: 2.92, maxRssKb: 69520 });
  const long = fixture('time-v.txt').replace('0:05.89', '1:02:03.5');
  assert.equal(parseTimeV(long).wallS, 3723.5);
});

test('targets: exactly the dead share, spread through the list, no IP twice', () => {
  const { ips, dead } = targetsFor({ size: 500, deadPct: 10 });
  assert.equal(ips.length, 500);
  assert.equal(new Set(ips).size, 500);
  assert.equal(dead.size, 50);
  const positions = ips.flatMap((ip, i) => (dead.has(ip) ? [i] : []));
  assert.deepEqual(positions.slice(0, 3), [9, 19, 29]);
  assert.equal(targetsFor({ size: 50, deadPct: 0 }).dead.size, 0);
});

test('median and the least-squares line', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  const { slope, fixed } = fitLine([{ x: 6, y: 0.4 + 6 * 0.003 }, { x: 100, y: 0.4 + 100 * 0.003 }, { x: 500, y: 0.4 + 500 * 0.003 }]);
  assert.ok(Math.abs(slope - 0.003) < 1e-12 && Math.abs(fixed - 0.4) < 1e-12, `${slope} ${fixed}`);
});
