import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInventoryFile } from '../../src/inventory/file.js';

const GOOD = `instances:
  - uuid: 8dc7c44c-e491-4139-ac5a-1a06dbe1f53f
    name: instance-00000001
    ports:
      - id: 83a59a9f-d268-4b7f-a43e-1f2ff8d2a028
        mac: FA:16:3E:1F:00:01
        tap: tap83a59a9f-d2
        ips: [198.18.1.2, "2001:DB8:0::1"]
  - uuid: 11111111-2222-3333-4444-555555555555
    state: shutoff
`;

test('the documented format, YAML', () => {
  const [a, b] = parseInventoryFile(GOOD, 'inv.yaml');
  assert.equal(a.name, 'instance-00000001');
  assert.equal(a.state, 'running', 'state defaults to running');
  assert.deepEqual(a.ports[0].ips, ['198.18.1.2', '2001:db8::1']);
  assert.equal(a.ports[0].mac, 'fa:16:3e:1f:00:01');
  assert.equal(b.state, 'shutoff');
  assert.deepEqual(b.ports, []);
});

test('the same format as JSON', () => {
  const json = JSON.stringify({ instances: [{ uuid: '8dc7c44c-e491-4139-ac5a-1a06dbe1f53f', ports: [{ id: 'p', ips: ['198.18.1.2'] }] }] });
  assert.deepEqual(parseInventoryFile(json, 'inv.json')[0].ports[0].ips, ['198.18.1.2']);
});

test('errors name file and line', () => {
  const bad = GOOD.replace('198.18.1.2,', '198.18.1.300,');
  assert.throws(() => parseInventoryFile(bad, 'inv.yaml'), /^ProbeError: inventory error: inv.yaml:8: not an IP address: "198.18.1.300"$/);
  assert.throws(() => parseInventoryFile(GOOD.replace('tap: tap83a59a9f-d2', 'tap: "-rf /"'), 'inv.yaml'), /inv.yaml:7: "tap" is not a valid interface name/);
  assert.throws(() => parseInventoryFile(GOOD.replace('    name:', '    nmae:'), 'inv.yaml'), /inv.yaml:3: unknown key "nmae"/);
  assert.throws(() => parseInventoryFile('instances:\n  - name: x\n', 'inv.yaml'), /inv.yaml:2: instance without "uuid"/);
  assert.throws(() => parseInventoryFile('instances: [\n', 'inv.yaml'), /inv.yaml:\d+: invalid YAML/);
});

test('an empty inventory is no instances, not an error', () => {
  assert.deepEqual(parseInventoryFile('instances: []\n', 'inv.yaml'), []);
  assert.deepEqual(parseInventoryFile('instances:\n', 'inv.yaml'), []);
});
