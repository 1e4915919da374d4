import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sanitize, unusableIp } from '../../src/inventory/sanity.js';
import { mergeSources } from '../../src/inventory/merge.js';
import { MAX_INVENTORY_FILE_BYTES, readInventoryFile } from '../../src/inventory/file.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const A = '8dc7c44c-e491-4139-ac5a-1a06dbe1f53f';
const B = 'b3e0b925-0000-4000-8000-000000000002';
const port = (id: string, ips: string[]) => ({ id, mac: 'fa:16:3e:00:00:01', ips });

test('addresses that cannot be an instance\'s are named', () => {
  assert.equal(unusableIp('255.255.255.255'), 'broadcast');
  assert.equal(unusableIp('::ffff:198.18.1.2'), 'IPv4-mapped');
  assert.equal(unusableIp('fe80::1%eth0'), 'has a zone');
  assert.equal(unusableIp('224.0.0.1'), 'multicast');
  assert.equal(unusableIp('127.0.0.1'), 'loopback');
  assert.equal(unusableIp('0.0.0.0'), 'unspecified');
  assert.equal(unusableIp('ff02::1'), 'multicast');
  for (const ok of ['198.18.1.2', '2001:db8::5', 'fd00:198:18::2']) assert.equal(unusableIp(ok), undefined, ok);
});

test('refused IPs, duplicate IPs and duplicate UUIDs are said, and both instances are kept', () => {
  const facts = [{ source: 'file' as const, instances: [
    { uuid: A, name: 'instance-1', state: 'running' as const, ports: [port('p1', ['198.18.1.2', '255.255.255.255'])] },
    { uuid: B, name: 'instance-2', state: 'running' as const, ports: [port('p2', ['198.18.1.2'])] },
    { uuid: A, name: 'instance-1', state: 'running' as const, ports: [port('p3', ['198.18.1.9'])] },
  ] }];
  const merged = mergeSources(facts);
  const problems = sanitize(merged, facts);
  assert.deepEqual(problems.sort(), [
    `IP 198.18.1.2 is claimed by instance-1 (${A}) and instance-2 (${B}): duplicate IP`,
    `file lists instance ${A} more than once: its entries were merged`,
    `instance-1 (${A}): IP 255.255.255.255 refused (broadcast)`,
  ]);
  assert.equal(merged.length, 2, 'both instances kept');
  const ips = merged.flatMap((i) => i.ports.flatMap((p) => p.ips)).sort();
  assert.deepEqual(ips, ['198.18.1.2', '198.18.1.2', '198.18.1.9'], 'the second entry\'s port is not dropped; the broadcast is');
});

test('an inventory file over the size bound is refused before it is parsed', () => {
  const dir = mkdtempSync('/tmp/lmp-invsize-');
  try {
    const file = join(dir, 'huge.yaml');
    writeFileSync(file, `instances: []\n${'#'.repeat(MAX_INVENTORY_FILE_BYTES)}\n`);
    assert.throws(() => readInventoryFile(file), new RegExp(`^ProbeError: ${file} is \\d+ bytes, more than an inventory file can be`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
