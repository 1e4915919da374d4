// ovs-ports' verdict on recorded lab output: ovs-vsctl (test/fixtures/ovs/) and `ip -j link`
// (test/fixtures/ip/README-link.md), joined to the lab's instances.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { deviceProblems, verdict, type PortsInput } from '../../probes/ovs-ports/verdict.js';
import { parseLinks } from '../../src/host/iplink.js';
import { parseOvsSnapshot } from '../../src/host/ovs.js';
import { ovsHosting } from '../../src/inventory/ovs.js';
import { Status } from '../../src/result.js';
import { identity } from '../lab/identity.js';
import { labInventory } from '../support/ovs-inventory.js';

const read = (path: string) => readFileSync(new URL(`../../../test/fixtures/${path}`, import.meta.url), 'utf8');
const snapshot = (name: string) => parseOvsSnapshot(read(`ovs/${name}`));
const links = (name: string) => parseLinks(read(`ip/${name}`));
const [vm1, vm2, vm3] = [1, 2, 3].map(identity);

type JudgeOptions = { snap?: string; linkFile?: string; inv?: ReturnType<typeof labInventory> } & Partial<Omit<PortsInput, 'links'>>;

function judge(o: JudgeOptions = {}) {
  const snap = snapshot(o.snap ?? 'list-healthy.txt');
  return verdict({
    hosting: ovsHosting(o.inv ?? labInventory([1, 2, 3]), snap),
    snapshot: snap,
    links: links(o.linkFile ?? 'link-ovs-node.json'),
    integrationBridge: 'br-int',
    bridges: ['br-int'],
    failMode: '',
    missingNamespaces: [],
    orphansCritical: false,
    graceLeftS: () => 0,
    leftRecently: () => undefined,
    ...o,
  });
}

test('healthy: OK, every port wired, perfdata', () => {
  const v = judge();
  assert.equal(v.status, Status.OK);
  assert.equal(v.summary, '3 ports of 3 instances wired on br-int; bridges br-int ok');
  assert.deepEqual(v.details, []);
  assert.deepEqual(v.perfdata.map((p) => `${p.label}=${p.value}`), ['ports=3', 'missing=0', 'errors=0', 'orphans=0', 'bridges=1']);
});

test('no-port: CRITICAL missing, the tap exists but is not plugged', () => {
  const v = judge({ snap: 'list-no-port.txt' });
  assert.equal(v.status, Status.CRITICAL);
  assert.match(v.details[0], new RegExp(`^${vm2.name} \\(${vm2.uuid}\\) port ${vm2.portId} .*no OVS interface with iface-id ${vm2.portId}; device ${vm2.tap} exists \\(up\\) but is not plugged into OVS$`));
  assert.equal(v.perfdata.find((p) => p.label === 'missing')!.value, 1);
});

test('port-error: ofport -1, the error, no link state', () => {
  const v = judge({ snap: 'list-port-error.txt' });
  assert.equal(v.status, Status.CRITICAL);
  assert.match(v.details[0], new RegExp(`${vm3.tap} ofport -1 tag 1: ofport -1; error "could not open network device ${vm3.tap} \\(No such device\\)"; link_state empty$`));
});

test('dead VLAN and a controller that is not connected: CRITICAL; fail_mode other than configured: a line of its own', () => {
  const v = judge({ snap: 'list-dead-vlan.txt', failMode: 'standalone' });
  assert.equal(v.status, Status.CRITICAL);
  assert.ok(v.details.some((d) => d.startsWith(`${vm2.name} (${vm2.uuid})`) && d.endsWith('tag 4095: dead VLAN (tag 4095: the agent could not wire it)')), v.details.join('\n'));
  assert.ok(v.details.includes('bridge br-int: controller tcp:198.18.0.99:6653 not connected'));
  assert.ok(v.details.includes('bridge br-int: fail_mode secure, expected standalone'));
  assert.equal(judge({ snap: 'list-controller.txt', failMode: 'secure' }).details.length, 1, 'secure as configured: only the controller');
});

test('no-namespace: the tap lost its carrier', () => {
  const v = judge({ linkFile: 'link-ovs-node-no-namespace.json' });
  assert.equal(v.status, Status.CRITICAL);
  assert.match(v.details[0], new RegExp(`^${vm1.name} .*device ${vm1.tap} down \\(LOWERLAYERDOWN\\)$`));
});

test('hybrid plug: qvo on OVS, veth to qvb, qvb and tap in qbr', () => {
  const hybrid = links('link-hybrid.json');
  assert.deepEqual(deviceProblems('qvo39386908-7e', hybrid), []);
  assert.deepEqual(deviceProblems('qvo98c50d99-c5', hybrid), ['tap98c50d99-c5 not in bridge qbr98c50d99-c5']);
  assert.deepEqual(deviceProblems('qvo51b1af9c-80', hybrid), ['device qvo51b1af9c-80 missing', 'device qvb51b1af9c-80 missing', 'device qbr51b1af9c-80 missing', 'device tap51b1af9c-80 missing']);
});

test('kernel devices of no hosted port: one orphan line per port, WARNING', () => {
  const v = judge({ linkFile: 'link-hybrid.json', inv: labInventory([1, 3]), snap: 'list-no-port.txt' });
  const orphan = v.details.filter((d) => d.startsWith('orphan: '));
  assert.deepEqual(orphan, ['orphan: devices qbr98c50d99-c5, qvo98c50d99-c5, qvb98c50d99-c5, tap98c50d99-c5 of no port hosted here (port 98c50d99-c5...)']);
});

test('an interface for an instance only OVS knows is an orphan; orphans: critical makes it CRITICAL', () => {
  const inv = labInventory([1, 2, 3], { ovsOnly: [3] });
  const v = judge({ inv });
  assert.equal(v.status, Status.WARNING);
  assert.match(v.details[0], new RegExp(`^orphan: Interface ${vm3.tap} on br-int \\(iface-id ${vm3.portId}, vm-uuid ${vm3.uuid}, MAC ${vm3.mac}, ofport \\d+\\): no instance hosted here has it; device ${vm3.tap} still exists$`));
  assert.equal(judge({ inv, orphansCritical: true }).status, Status.CRITICAL);
  assert.equal(judge({ inv, leftRecently: () => ({ uuid: vm3.uuid, name: vm3.name, first: 0, last: 1, left: 1, ips: [], macs: [], ports: [vm3.portId] }), orphansCritical: true }).status, Status.WARNING, 'left within the grace window');
});

test('an instance in its grace window warns at most, and says so', () => {
  const v = judge({ snap: 'list-no-port.txt', graceLeftS: (uuid) => (uuid === vm2.uuid ? 60 : 0) });
  assert.equal(v.status, Status.WARNING);
  assert.match(v.details[0], /\[arrived recently: warning only for 60s more\]$/);
});

test('missing namespaces and bridges: CRITICAL', () => {
  const v = judge({ missingNamespaces: ['ns-link'], bridges: ['br-int', 'br-tun'] });
  assert.equal(v.status, Status.CRITICAL);
  assert.deepEqual(v.details, ['bridge br-tun: not in the OVSDB', 'namespace ns-link: missing']);
});

test('findings for `lm-probe instance`: keyed by port id (no ofport), tied to the instance; an orphan to its vm-uuid; bridges and namespaces to every instance', () => {
  const missing = judge({ snap: 'list-no-port.txt' });
  assert.deepEqual(missing.findings!.map((f) => [f.instance, f.key, f.status]), [[vm2.uuid, `port-missing ${vm2.portId}`, Status.CRITICAL]]);
  assert.equal(missing.findings![0].text, missing.details[0]);
  const error = judge({ snap: 'list-port-error.txt' });
  assert.deepEqual(error.findings!.map((f) => [f.instance, f.key]), [[vm3.uuid, `port-not-wired ${vm3.portId}`]]);
  const orphan = judge({ inv: labInventory([1, 2, 3], { ovsOnly: [3] }) });
  assert.deepEqual(orphan.findings!.map((f) => [f.instance, f.key, f.status]), [[vm3.uuid, `port-left ${vm3.portId}`, Status.WARNING]]);
  const node = judge({ missingNamespaces: ['ns-link'], bridges: ['br-int', 'br-tun'] });
  assert.deepEqual(node.findings!.map((f) => [f.instance, f.key]), [[undefined, 'bridge-missing br-tun'], [undefined, 'namespace-missing ns-link']]);
  const devices = judge({ linkFile: 'link-hybrid.json', inv: labInventory([1, 3]), snap: 'list-no-port.txt' });
  assert.ok(devices.details.some((d) => d.startsWith('orphan: devices')) && !devices.findings!.some((f) => f.text.startsWith('orphan: devices')), 'devices of an unknown owner: no finding');
});
