// The libvirt source's parsing, on output recorded from virsh with the test driver (test/fixtures/virsh/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  assertVirshUri, batchCommands, errorLine, parseDomainList, parseDomstate, splitBatchOutput, type VirshDomain,
} from '../../src/host/virsh.js';
import { createLibvirtSource, domainToInstance, tapOfPort } from '../../src/inventory/libvirt.js';

const fixture = (p: string) => readFileSync(new URL(`../../../test/fixtures/virsh/${p}`, import.meta.url), 'utf8');
const NONCE = 'lmpfixture';

const refs = () => parseDomainList(fixture('list.txt'));
const recorded = () => splitBatchOutput(fixture('batch.txt'), '', refs(), NONCE).domains;
const byName = (name: string) => {
  const d = recorded().find((x) => x.name === name);
  assert.ok(d, name);
  return domainToInstance(d);
};

test('virsh list --all --uuid --name: uuid and name per line, names may hold spaces', () => {
  assert.deepEqual(refs(), [
    { uuid: '8dc7c44c-e491-4139-ac5a-1a06dbe1f53f', name: 'instance-00000001' },
    { uuid: '082651cd-2b3c-4d5e-9f6a-7b8c9d0e1f2a', name: 'instance-00000003' },
    { uuid: '11111111-2222-3333-4444-555555555555', name: 'scratch vm' },
    { uuid: '3f0e6a2b-5c7d-4e9f-8a1b-2c3d4e5f6a7b', name: 'instance-00000002' },
  ]);
  assert.deepEqual(parseDomainList(''), [], 'no domains: empty output');
  assert.throws(() => parseDomainList('Segmentation fault\n'), /^ProbeError: virsh: unparseable output: Segmentation fault$/);
});

test('the batch is split per domain at its markers', () => {
  const { domains, vanished } = splitBatchOutput(fixture('batch.txt'), '', refs(), NONCE);
  assert.deepEqual(vanished, []);
  assert.deepEqual(domains.map((d) => [d.name, d.state, d.reason]), [
    ['instance-00000001', 'running', 'unknown'],
    ['instance-00000003', 'paused', 'unknown'],
    ['scratch vm', 'running', 'unknown'],
    ['instance-00000002', 'shut off', 'unknown'],
  ]);
  for (const d of domains) assert.match(d.xml, new RegExp(`^<domain type='test'[^]*<uuid>${d.uuid}</uuid>[^]*</domain>$`));
});

test('the batch command: markers around domstate and dumpxml, UUIDs validated', () => {
  assert.equal(
    batchCommands(['8dc7c44c-e491-4139-ac5a-1a06dbe1f53f'], 'lmpx', 4),
    'echo lmpx.4.state;domstate --reason 8dc7c44c-e491-4139-ac5a-1a06dbe1f53f;echo lmpx.4.xml;dumpxml 8dc7c44c-e491-4139-ac5a-1a06dbe1f53f;echo lmpx.end',
  );
  assert.throws(() => batchCommands(['x;destroy y'], 'lmpx'), /invalid UUID/);
});

test('a domain undefined between the list and the batch is "vanished", not an error', () => {
  const gone = { uuid: '00000000-0000-4000-8000-000000000000', name: 'instance-00000009' };
  const r = splitBatchOutput(fixture('batch-vanished.txt'), fixture('batch-vanished.stderr.txt'), [...refs(), gone], NONCE);
  assert.equal(r.domains.length, 4);
  assert.deepEqual(r.vanished, [gone]);
  // Empty sections without virsh naming the domain (a connection lost mid-batch): an error.
  assert.throws(
    () => splitBatchOutput(fixture('batch-vanished.txt'), 'error: Disconnected from test:///x due to end of file\n', [...refs(), gone], NONCE),
    /^ProbeError: virsh: no state or XML for 00000000-0000-4000-8000-000000000000: Disconnected from test:\/\/\/x due to end of file$/,
  );
});

test('batch output that cannot be split is "unparseable"', () => {
  const batch = fixture('batch.txt');
  const cases = [
    'Segmentation fault',
    '',
    batch.replace('lmpfixture.end\n', ''), // truncated
    batch.replace('lmpfixture.2.xml', 'lmpfixture.3.xml'), // out of order
    batch.replace('running (unknown)', 'running (unknown'),
    batch.replace("<domain type='test' id='3'>", 'garbage'),
    `${batch}trailing\n`,
  ];
  for (const out of cases) assert.throws(() => splitBatchOutput(out, '', refs(), NONCE), /^ProbeError: virsh: unparseable output: /, out.slice(0, 60));
  assert.throws(() => splitBatchOutput(batch, '', refs(), 'lmpother'), /unparseable output/, 'another nonce');
});

test('domstate --reason', () => {
  assert.deepEqual(parseDomstate('running (migrated)\n\n'), { state: 'running', reason: 'migrated' });
  assert.deepEqual(parseDomstate('shut off (destroyed)'), { state: 'shut off', reason: 'destroyed' });
  assert.deepEqual(parseDomstate('paused (I/O error)'), { state: 'paused', reason: 'I/O error' });
  assert.deepEqual(parseDomstate('idle'), { state: 'idle', reason: undefined });
});

test('virsh state words map to instance states', () => {
  const [d] = recorded();
  const cases: [string, string][] = [
    ['running', 'running'], ['idle', 'blocked'], ['paused', 'paused'], ['in shutdown', 'shutdown'],
    ['shut off', 'shutoff'], ['crashed', 'crashed'], ['pmsuspended', 'pmsuspended'], ['no state', 'unknown'], ['en marche', 'unknown'],
  ];
  for (const [word, state] of cases) assert.equal(domainToInstance({ ...d, state: word }).state, state, word);
  assert.equal(domainToInstance({ ...d, reason: 'migrated' }).stateReason, 'migrated');
});

test('Nova metadata: name, flavor, project, ports joined with interfaces by tap name', () => {
  const i = byName('instance-00000001');
  assert.equal(i.uuid, '8dc7c44c-e491-4139-ac5a-1a06dbe1f53f');
  assert.equal(i.displayName, 'web & db <1>');
  assert.equal(i.flavor, 'm1.small');
  assert.equal(i.project, '2a6f1c8e4b9d4e7fa1c3b5d7e9f0a2b4');
  assert.equal(i.state, 'running');
  assert.equal(i.stateReason, 'unknown');
  assert.deepEqual(i.disks, ['/var/lib/nova/instances/8dc7c44c-e491-4139-ac5a-1a06dbe1f53f/disk']);
  assert.deepEqual(i.ports, [
    { id: '83a59a9f-d268-4b7f-a43e-1f2ff8d2a028', tap: 'tap83a59a9f-d2', mac: 'fa:16:3e:1f:00:01', ips: ['198.18.1.2', '2001:db8::2'] },
    { id: 'b3e0b925-1c2d-4e5f-8a9b-0c1d2e3f4a5b', ips: ['198.18.1.9'] }, // no interface has its tap
    { id: '', tap: 'tapdeadbeef-00', mac: 'fa:16:3e:aa:bb:cc', ips: [] }, // no nova:port claims it
  ]);
});

test('the nova namespace under another prefix, shut off, a block device disk, a bridge interface', () => {
  const i = byName('instance-00000002');
  assert.equal(i.state, 'shutoff');
  assert.equal(i.displayName, 'batch-worker');
  assert.equal(i.flavor, 'm1.tiny');
  assert.deepEqual(i.ports, [{ id: '44244033-9a8b-4c7d-8e6f-5a4b3c2d1e0f', tap: 'tap44244033-9a', mac: 'fa:16:3e:1f:00:05', ips: ['198.18.1.5'] }]);
  assert.deepEqual(i.disks, ['/dev/disk/by-path/ip-198.18.0.9:3260-iscsi-iqn.2010-10.org.openstack:volume-1-lun-0']);
});

test('older Nova (namespace 1.0, no nova:ports): interfaces become ports of unknown id; an rbd disk', () => {
  const i = byName('instance-00000003');
  assert.equal(i.state, 'paused');
  assert.equal(i.displayName, 'legacy');
  assert.equal(i.project, '9e8d7c6b5a4f4e3d8c2b1a0f9e8d7c6b');
  assert.deepEqual(i.ports, [{ id: '', tap: 'tap51b1af9c-80', mac: 'fa:16:3e:1f:00:03', ips: [] }]);
  assert.deepEqual(i.disks, ['vms/082651cd-2b3c-4d5e-9f6a-7b8c9d0e1f2a_disk']);
});

test('a domain without Nova metadata is still an instance', () => {
  const i = byName('scratch vm');
  // node.xml says <target dev='vnet7'/>: libvirt drops names with its reserved "vnet" prefix
  // and, the domain running, the test driver generated "testnet0".
  assert.deepEqual(
    { ...i },
    { uuid: '11111111-2222-3333-4444-555555555555', name: 'scratch vm', state: 'running', stateReason: 'unknown', disks: [], ports: [{ id: '', tap: 'testnet0', mac: '52:54:00:12:34:56', ips: [] }] },
  );
});

test('a Nova-generated KVM domain', () => {
  const d: VirshDomain = { uuid: 'C1A7E0F4-3B2D-4C8E-9A6F-5E4D3C2B1A09', name: 'instance-0000002a', state: 'running', reason: 'migrated', xml: fixture('nova-kvm-domain.xml') };
  const notes: string[] = [];
  const i = domainToInstance(d, notes);
  assert.deepEqual(notes, []);
  assert.equal(i.uuid, 'c1a7e0f4-3b2d-4c8e-9a6f-5e4d3c2b1a09');
  assert.equal(i.name, 'instance-0000002a');
  assert.equal(i.displayName, 'billing-api-2');
  assert.equal(i.flavor, 'm1.large');
  assert.equal(i.project, 'd4e5f6a7b8c94d0e8f1a2b3c4d5e6f70');
  assert.equal(i.stateReason, 'migrated');
  assert.deepEqual(i.disks, [
    '/var/lib/nova/instances/c1a7e0f4-3b2d-4c8e-9a6f-5e4d3c2b1a09/disk',
    '/var/lib/nova/instances/c1a7e0f4-3b2d-4c8e-9a6f-5e4d3c2b1a09/disk.config',
  ]);
  assert.deepEqual(i.ports, [
    { id: '5f3c9e21-7a4b-4d6e-8f0a-1b2c3d4e5f60', tap: 'tap5f3c9e21-7a', mac: 'fa:16:3e:4c:9d:21', ips: ['10.20.30.41', 'fd00:20:30::29'] },
    { id: 'a08d4b6c-2e1f-4a3b-9c5d-6e7f8a9b0c1d', tap: 'tapa08d4b6c-2e', mac: 'fa:16:3e:0b:7e:55', ips: ['172.16.5.12'] },
  ]);
  assert.equal(tapOfPort('5f3c9e21-7a4b-4d6e-8f0a-1b2c3d4e5f60'), 'tap5f3c9e21-7a');
});

test('invalid values in the XML are noted and left out; broken XML is unparseable', () => {
  const [d] = recorded();
  const notes: string[] = [];
  const xml = d.xml.replace('address="198.18.1.2"', 'address="198.18.1.300"').replace("<target dev='tapdeadbeef-00'/>", "<target dev='-rf /'/>");
  const i = domainToInstance({ ...d, xml }, notes);
  assert.deepEqual(i.ports[0].ips, ['2001:db8::2']);
  assert.equal(i.ports[2].tap, undefined);
  assert.equal(notes.length, 2);
  assert.match(notes[0], /^libvirt: 8dc7c44c-.*: ignored invalid interface name "-rf \/"$/);
  assert.throws(() => domainToInstance({ ...d, xml: d.xml.replace('</metadata>', '') }), /^ProbeError: virsh: unparseable output: dumpxml 8dc7c44c-e491-4139-ac5a-1a06dbe1f53f: xml: <\/domain> closes <metadata> at line \d+$/);
});

test('connection failures become one line', () => {
  assert.equal(errorLine(fixture('connect-error.stderr.txt')), "failed to connect to the hypervisor: XML error: failed to parse xml document '/tmp/lmpx02/missing.xml'");
});

test('URIs are validated before they reach the command line', () => {
  for (const ok of ['qemu:///system', 'qemu:///session', 'test:///default', 'test:///tmp/lmp1/libvirt/node.xml', 'qemu+unix:///system?socket=/tmp/lmp1/libvirtd/sock/libvirt-sock']) assert.equal(assertVirshUri(ok), ok);
  for (const bad of ['-c', '--help', 'qemu:///system;destroy x', 'qemu:///system x', 'system', '', 'qemu:///$(id)',
    // transports and parameters that make libvirt run a program of the URI's choosing
    'qemu+ext:///system?command=/tmp/x.sh', 'qemu+ssh://localhost/system?command=/tmp/x.sh', 'qemu+ssh://nova@compute-1/system',
    'qemu+unix:///system?socket=/s&command=/tmp/x.sh', 'qemu:///system?netcat=/tmp/nc', 'qemu+tls://compute-2/system?keyfile=/k',
    'qemu+tcp://compute-2/system', 'qemu://compute-2/system', 'qemu:///../etc', 'lxc:///system']) {
    assert.throws(() => assertVirshUri(bad), /^ProbeError: invalid libvirt URI/, bad);
  }
  assert.equal(assertVirshUri('qemu+tls://compute-2/system', true), 'qemu+tls://compute-2/system', 'remote only when allowed');
  assert.equal(createLibvirtSource({ uri: '', allow_remote: false }).configured(), false);
  assert.equal(createLibvirtSource({ uri: 'qemu:///system', allow_remote: false }).configured(), true);
  assert.equal(createLibvirtSource({ uri: 'qemu:///system', allow_remote: false }).name, 'libvirt');
});
