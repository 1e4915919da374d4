import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { guardPresence, loadPresence, Presence, updatePresence } from '../../src/presence.js';
import { StateStore } from '../../src/state.js';
import type { Inventory, Instance } from '../../src/inventory/types.js';

const dir = mkdtempSync('/tmp/lmp-presence-');
after(() => rmSync(dir, { recursive: true, force: true }));

const inst = (uuid: string, ip: string): Instance => ({
  uuid, name: `instance-${uuid}`, state: 'running', sources: ['libvirt'], origin: {},
  ports: [{ id: `port-${uuid}`, mac: `fa:16:3e:00:00:0${uuid.length}`, ips: [ip], sources: ['libvirt'], origin: {} }],
});
const inv = (instances: Instance[], failed = false): Inventory => ({
  instances, findings: [], sources: [{ source: 'libvirt', state: failed ? 'failed' : 'ok', detail: '' }],
});

test('the first run knows everything from before; newcomers get grace; it ends', () => {
  const first = updatePresence(undefined, inv([inst('a', '198.18.1.2'), inst('b', '198.18.1.3')]), 1000);
  assert.equal(new Presence(first, 1000).graceLeftS('a', 120), 0);
  const second = updatePresence(first, inv([inst('a', '198.18.1.2'), inst('c', '198.18.1.4')]), 1100);
  assert.equal(new Presence(second, 1100).graceLeftS('c', 120), 120);
  assert.equal(new Presence(second, 1200).graceLeftS('c', 120), 20);
  assert.equal(new Presence(second, 1300).graceLeftS('c', 120), 0);
});

test('a departure is remembered with its IPs, MACs and ports; one that comes back gets grace again', () => {
  const r1 = updatePresence(undefined, inv([inst('a', '198.18.1.2'), inst('b', '198.18.1.3')]), 1000);
  const r2 = updatePresence(r1, inv([inst('a', '198.18.1.2')]), 1100);
  const p = new Presence(r2, 1150);
  assert.deepEqual(p.departed(120).map((d) => [d.uuid, d.left, d.ips]), [['b', 1100, ['198.18.1.3']]]);
  assert.equal(p.leftRecently('198.18.1.3', 120)?.uuid, 'b');
  assert.equal(p.leftRecently('port-b', 120)?.uuid, 'b');
  assert.equal(p.leftRecently('198.18.1.3', 40), undefined, 'outside the window');
  assert.equal(p.graceLeftS('b', 120), 0, 'a departed instance has no arrival grace');
  const r3 = updatePresence(r2, inv([inst('a', '198.18.1.2'), inst('b', '198.18.1.3')]), 1200);
  assert.equal(new Presence(r3, 1200).graceLeftS('b', 120), 120, 'back: grace again');
  assert.equal(r3.instances.b.left, undefined);
});

test('a degraded inventory records no departure: not seeing is not leaving', () => {
  const r1 = updatePresence(undefined, inv([inst('a', '198.18.1.2'), inst('b', '198.18.1.3')]), 1000);
  const r2 = updatePresence(r1, inv([inst('a', '198.18.1.2')], true), 1100);
  assert.equal(r2.instances.b.left, undefined);
  assert.deepEqual(new Presence(r2, 1100).departed(3600), []);
});

test('a first-seen time in the future is clamped to now (no WARNING forever)', () => {
  const future = { instances: { a: { first: 98203957517, last: 98203957517, ips: [], macs: [], ports: [] } } };
  const r = updatePresence(future, inv([inst('a', '198.18.1.2')]), 1000);
  assert.equal(r.instances.a.first, 1000);
  assert.equal(new Presence(r, 1000).graceLeftS('a', 120), 120);
  assert.equal(new Presence(r, 1200).graceLeftS('a', 120), 0);
});

for (const [label, content] of [['{}', '{}'], ['[]', '[]'], ['truncated', '{"instances":{"a":{"first":10'], ['empty', ''], ['wrong types', '{"instances":{"a":{"first":"x","last":1,"ips":[],"macs":[],"ports":[]}}}']]) {
  test(`a corrupt presence file (${label}) is said once, rebuilt, and its instances get grace`, async () => {
    const d = join(dir, `corrupt-${label.replace(/\W/g, '')}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'presence.json'), content);
    const store = new StateStore(d);
    const p = await loadPresence(store, inv([inst('a', '198.18.1.2')]), 5000);
    assert.equal(store.problems.length, 1, store.problems.join('\n'));
    assert.match(store.problems[0], /presence\.json was corrupt .*rebuilt/);
    assert.equal(p.graceLeftS('a', 120), 120, 'grace is not silently lost');
    // Rebuilt: the next run reads it cleanly.
    const again = new StateStore(d);
    await loadPresence(again, inv([inst('a', '198.18.1.2')]), 5010);
    assert.deepEqual(again.problems, []);
  });
}

test('the guard accepts what updatePresence writes', () => {
  const r = updatePresence(undefined, inv([inst('a', '198.18.1.2')]), 1000);
  assert.deepEqual(guardPresence(JSON.parse(JSON.stringify(r))), r);
});

test('a read-only state directory: the record still works for this run, and the problem is said', { skip: process.getuid?.() === 0 ? false : 'needs root to make the case' }, async () => {
  const d = join(dir, 'ro');
  mkdirSync(d);
  chmodSync(d, 0o555);
  // root ignores mode bits: use a path under a file instead, which fails for everyone (ENOTDIR).
  writeFileSync(join(d, '..', 'ro-file'), 'x');
  const store = new StateStore(join(dir, 'ro-file', 'sub'));
  const p = await loadPresence(store, inv([inst('a', '198.18.1.2')]), 1000);
  assert.equal(p.graceLeftS('a', 120), 0);
  assert.equal(store.problems.length, 1);
  assert.match(store.problems[0], /^state not saved to .*ro-file\/sub \(ENOTDIR\)/);
});

test('an instance only OVS still names (its Interface left behind) has left: its leftovers get their grace', () => {
  const r1 = updatePresence(undefined, inv([inst('a', '198.18.1.2'), inst('b', '198.18.1.3')]), 1000);
  const leftover = { ...inst('b', '198.18.1.3'), sources: ['ovs' as const] };
  const r2 = updatePresence(r1, inv([inst('a', '198.18.1.2'), leftover]), 1100);
  assert.equal(r2.instances.b.left, 1100);
  assert.equal(new Presence(r2, 1150).leftRecently('port-b', 120)?.uuid, 'b');
});
