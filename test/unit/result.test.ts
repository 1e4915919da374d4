import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alerts, checkThresholds, formatPerf, parseRange, Status, worst } from '../../src/result.js';
import { formatNagios, MAX_DETAIL_LINES } from '../../src/report/nagios.js';

test('range "10" alerts outside 0..10', () => {
  const r = parseRange('10');
  assert.deepEqual([alerts(r, -1), alerts(r, 0), alerts(r, 10), alerts(r, 11)], [true, false, false, true]);
});

test('range "10:" alerts below 10 only', () => {
  const r = parseRange('10:');
  assert.deepEqual([alerts(r, 9), alerts(r, 10), alerts(r, 1e9)], [true, false, false]);
});

test('range "~:10" alerts above 10 only', () => {
  const r = parseRange('~:10');
  assert.deepEqual([alerts(r, -1e9), alerts(r, 10), alerts(r, 10.5)], [false, false, true]);
});

test('range "10:20" alerts outside, "@10:20" inside', () => {
  const out = parseRange('10:20');
  const inside = parseRange('@10:20');
  assert.deepEqual([alerts(out, 9), alerts(out, 15), alerts(out, 21)], [true, false, true]);
  assert.deepEqual([alerts(inside, 9), alerts(inside, 10), alerts(inside, 20), alerts(inside, 21)], [false, true, true, false]);
});

test('invalid ranges are refused with a readable reason', () => {
  for (const bad of ['', 'abc', '20:10', '1:2:3', '@', '~']) {
    assert.throws(() => parseRange(bad), /invalid threshold range/, bad);
  }
});

test('instance-routed defaults: 0 unrouted OK, 1 WARNING, 2 CRITICAL', () => {
  assert.equal(checkThresholds(0, '0', '1'), Status.OK);
  assert.equal(checkThresholds(1, '0', '1'), Status.WARNING);
  assert.equal(checkThresholds(2, '0', '1'), Status.CRITICAL);
});

test('worst ranks CRITICAL > UNKNOWN > WARNING > OK', () => {
  assert.equal(worst(Status.OK, Status.WARNING), Status.WARNING);
  assert.equal(worst(Status.WARNING, Status.UNKNOWN), Status.UNKNOWN);
  assert.equal(worst(Status.UNKNOWN, Status.CRITICAL), Status.CRITICAL);
  assert.equal(worst(), Status.OK);
});

test('perfdata follows label=value[uom];warn;crit;min;max with trailing empties dropped', () => {
  assert.equal(formatPerf({ label: 'ips', value: 4, min: 0 }), 'ips=4;;;0');
  assert.equal(formatPerf({ label: 'unrouted', value: 1, warn: '0', crit: '1', min: 0 }), 'unrouted=1;0;1;0');
  assert.equal(formatPerf({ label: 'scan_time', value: 0.12345, uom: 's' }), 'scan_time=0.123s');
  assert.equal(formatPerf({ label: 'two words', value: 1 }), "'two words'=1");
});

test('nagios output: status line with perfdata, bounded long output, no pipe in text', () => {
  const details = Array.from({ length: 60 }, (_, i) => `finding ${i} a|b`);
  const text = formatNagios({ probe: 'instance-routed', status: Status.CRITICAL, summary: 'bad | worse', details, perfdata: [{ label: 'ips', value: 4, min: 0 }] });
  const lines = text.trimEnd().split('\n');
  assert.equal(lines[0], 'INSTANCE-ROUTED CRITICAL - bad / worse | ips=4;;;0');
  assert.equal(lines.length, 1 + MAX_DETAIL_LINES + 1);
  assert.equal(lines[1], 'finding 0 a/b');
  assert.equal(lines.at(-1), '... and 10 more');
});
