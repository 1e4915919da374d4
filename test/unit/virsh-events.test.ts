// libvirt lifecycle events as `virsh event --loop --event lifecycle` printed them during a real
// KVM live migration in the lab (test/fixtures/virsh/event-lifecycle.*).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { migrationOf, parseLifecycle } from '../../src/host/virsh-events.js';

const events = (name: string) => readFileSync(new URL(`../../../test/fixtures/virsh/${name}`, import.meta.url), 'utf8')
  .split('\n').filter((l) => l && !l.startsWith('#')).map((l) => parseLifecycle(l)!);

test('source: Suspended then Stopped Migrated; only Stopped Migrated is a departure', () => {
  const e = events('event-lifecycle.migration-source.txt');
  assert.deepEqual(e, [
    { domain: 'instance-00000001', event: 'Suspended', detail: 'Migrated' },
    { domain: 'instance-00000001', event: 'Stopped', detail: 'Migrated' },
  ]);
  assert.deepEqual(e.map((x) => migrationOf(x)?.direction), [undefined, 'left']);
});

test('destination: Started Migrated and Resumed Migrated are arrivals, Defined Added is not', () => {
  const e = events('event-lifecycle.migration-destination.txt');
  assert.deepEqual(e.map((x) => `${x.event} ${x.detail}`), ['Started Migrated', 'Defined Added', 'Resumed Migrated']);
  assert.deepEqual(e.map((x) => migrationOf(x)?.direction), ['arrived', undefined, 'arrived']);
});

test('other lines (virsh\'s own messages, garbage) are not events; odd domain names survive', () => {
  assert.equal(parseLifecycle('event loop timed out'), undefined);
  assert.equal(parseLifecycle(''), undefined);
  assert.deepEqual(parseLifecycle("2026-11-30 13:40:00.123+0000: event 'lifecycle' for domain 'a b': Stopped Destroyed"), { domain: 'a b', event: 'Stopped', detail: 'Destroyed' });
  assert.equal(migrationOf({ domain: 'x', event: 'Stopped', detail: 'Destroyed' }), undefined);
});
