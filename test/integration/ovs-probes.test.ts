// ovs-ports and openflow-rules against the lab node's real Open vSwitch, for both firewall
// drivers: healthy, then one fault at a time (each healed before the next), then a stopped
// vswitchd and a missing ovsdb socket; and the processes they spawn at 6 and 50 instances.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { heal, injectFault, labDown, labUp, type LabEnv, type LabFault } from '../lab/lab.js';
import { FIREWALL_DRIVERS, type FirewallDriver } from '../lab/flows.js';
import { goneIdentity } from '../lab/identity.js';
import { ipBatch, labUnavailableReason, shOut } from '../lab/netns.js';
import { listInterfaces, LOCAL_VLAN_TAG, ovsDirOf, ovsEnv, plugArgs, vsctl } from '../lab/ovs.js';
import { requireLab } from '../lab/require.js';
import { assertNoStack, lmProbe, variantConfig, type CliRun } from '../support/cli.js';

const canLab = labUnavailableReason() === null;
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function probe(lab: LabEnv, name: string, extra: string[] = [], config = lab.configFile): CliRun {
  const r = lmProbe([name, '--config', config, ...extra]);
  assertNoStack(r);
  return r;
}

/** Exit code, status line prefix, and every pattern somewhere in the output. */
function expect(r: CliRun, code: number, head: string, ...patterns: (string | RegExp)[]): void {
  assert.equal(r.code, code, r.stdout + r.stderr);
  assert.ok(r.stdout.startsWith(head), r.stdout);
  for (const p of patterns) assert.match(r.stdout, typeof p === 'string' ? new RegExp(esc(p)) : p, r.stdout);
}

function withFault(lab: LabEnv, index: number, fault: LabFault, check: () => void): void {
  injectFault(lab, index, fault);
  try {
    check();
  } finally {
    heal(lab, index);
  }
}

const ofportOf = (lab: LabEnv, tap: string) => listInterfaces(lab.ovsDb).find((i) => i.name === tap)!.ofport;

for (const driver of FIREWALL_DRIVERS as readonly FirewallDriver[]) {
  describe(`ovs-ports and openflow-rules on a lab node (${driver} firewall)`, () => {
    let lab: LabEnv | undefined;
    before(() => { if (canLab) lab = labUp({ instances: 6, firewall: driver }); });
    after(() => lab && labDown(lab));
    const vm = (n: number) => lab!.instances.find((i) => i.index === n)!;
    /** A flow that outputs to a missing port only exists with the openvswitch firewall (tables 81/82). */
    const blackHoleCode = driver === 'openvswitch' ? 2 : 1;
    const blackHoleHead = driver === 'openvswitch' ? 'OPENFLOW-RULES CRITICAL' : 'OPENFLOW-RULES WARNING';

    test('healthy: both OK', (t) => {
      if (!requireLab(t)) return;
      expect(probe(lab!, 'ovs-ports'), 0, 'OVS-PORTS OK - 6 ports of 6 instances wired on br-int; bridges br-int ok |', /ports=6;;;0 missing=0;;;0 errors=0;;;0 orphans=0;;;0 bridges=1;;;0$/m);
      expect(probe(lab!, 'openflow-rules'), 0, `OPENFLOW-RULES OK - 6 ports with their ${driver} flows, no orphans (`, /missing=0;;;0 orphaned=0;;;0 parse_time=[\d.]+s;;;0$/m);
    });

    test('firewall_driver set explicitly: the same verdict as auto', (t) => {
      if (!requireLab(t)) return;
      const cfg = variantConfig(lab!.configFile, `fw-${driver}`, { probes: { 'openflow-rules': { firewall_driver: driver } } });
      expect(probe(lab!, 'openflow-rules', [], cfg), 0, 'OPENFLOW-RULES OK - ');
      const other = driver === 'openvswitch' ? 'iptables_hybrid' : 'openvswitch';
      const wrong = variantConfig(lab!.configFile, `fw-wrong-${driver}`, { probes: { 'openflow-rules': { firewall_driver: other } } });
      expect(probe(lab!, 'openflow-rules', [], wrong), 2, 'OPENFLOW-RULES CRITICAL - 6 of 6 ports missing flows');
    });

    test('no-flows: openflow-rules CRITICAL naming the instance, port, ofport, MAC, IP and the missing parts', (t) => {
      if (!requireLab(t)) return;
      withFault(lab!, 2, 'no-flows', () => {
        const i = vm(2);
        const ofport = ofportOf(lab!, i.tap);
        const part = driver === 'openvswitch' ? `table 60 in_port=${ofport}` : `table 0 in_port=${ofport} arp -> 24`;
        expect(probe(lab!, 'openflow-rules'), 2, 'OPENFLOW-RULES CRITICAL - 1 of 6 ports missing flows: ',
          `${i.name} (${i.uuid}) port ${i.portId} ${i.tap} ofport ${ofport} ${i.mac} ${i.ip}: missing ${part}`, /missing=1;;;0/);
        expect(probe(lab!, 'ovs-ports'), 0, 'OVS-PORTS OK');
      });
    });

    test('orphan-flows: openflow-rules names the ofport, MAC and IP of no port here', (t) => {
      if (!requireLab(t)) return;
      const gone = goneIdentity(7);
      withFault(lab!, 7, 'orphan-flows', () => {
        const r = probe(lab!, 'openflow-rules');
        expect(r, blackHoleCode, blackHoleHead, `for ofport ${gone.ofport} (no Interface on br-int)`, gone.mac, gone.ip, /missing=0;;;0/);
        if (driver === 'openvswitch') assert.match(r.stdout, /output to a port that no longer exists: black-holes traffic/);
        expect(probe(lab!, 'ovs-ports'), 0, 'OVS-PORTS OK');
      });
    });

    test('stale-ofport-flow: the old ofport\'s flows are orphans, naming whose MAC they carry', (t) => {
      if (!requireLab(t)) return;
      withFault(lab!, 3, 'stale-ofport-flow', () => {
        const i = lab!.instances.find((x) => x.index === 3)!;
        const stale = i.staleOfport!;
        expect(probe(lab!, 'openflow-rules'), 1, 'OPENFLOW-RULES WARNING - ', `for ofport ${stale} (no Interface on br-int)`, `${i.mac}`, `of ${i.name} (${i.uuid}) port ${i.portId}`, /missing=0;;;0/);
        expect(probe(lab!, 'ovs-ports'), 0, 'OVS-PORTS OK');
      });
    });

    test('no-port: ovs-ports CRITICAL (the tap exists, not plugged); its flows are orphaned', (t) => {
      if (!requireLab(t)) return;
      const i = vm(2);
      const ofport = ofportOf(lab!, i.tap);
      withFault(lab!, 2, 'no-port', () => {
        expect(probe(lab!, 'ovs-ports'), 2, 'OVS-PORTS CRITICAL - 1 of 6 ports not wired: ',
          `${i.name} (${i.uuid}) port ${i.portId} (${i.mac} ${i.ip}) ${i.tap}: no OVS interface with iface-id ${i.portId}; device ${i.tap} exists (up) but is not plugged into OVS`, /missing=1;;;0/);
        expect(probe(lab!, 'openflow-rules'), blackHoleCode, blackHoleHead, `for ofport ${ofport} (no Interface on br-int)`, `${i.name} (${i.uuid}) port ${i.portId}: flows not checked: no OVS interface (see ovs-ports)`);
      });
    });

    test('port-error: ovs-ports CRITICAL with ofport -1 and the error', (t) => {
      if (!requireLab(t)) return;
      const i = vm(3);
      withFault(lab!, 3, 'port-error', () => {
        expect(probe(lab!, 'ovs-ports'), 2, 'OVS-PORTS CRITICAL - 1 of 6 ports not wired: ',
          `${i.name} (${i.uuid}) port ${i.portId} (${i.mac} ${i.ip}) ${i.tap} ofport -1 tag ${LOCAL_VLAN_TAG}: ofport -1; error "could not open network device ${i.tap} (No such device)"; link_state empty`, /errors=1;;;0/);
        assert.match(probe(lab!, 'openflow-rules').stdout, new RegExp(esc(`${i.name} (${i.uuid}) port ${i.portId}: flows not checked: ofport -1 (see ovs-ports)`)));
      });
    });

    test('orphan-port: ovs-ports WARNING naming the interface and the instance it was plugged for', (t) => {
      if (!requireLab(t)) return;
      const gone = goneIdentity(9);
      withFault(lab!, 9, 'orphan-port', () => {
        expect(probe(lab!, 'ovs-ports'), 1, 'OVS-PORTS WARNING - 1 orphan: ',
          `orphan: Interface ${gone.tap} on br-int (iface-id ${gone.portId}, vm-uuid ${gone.uuid}, MAC ${gone.mac}, ofport `, 'no instance hosted here has it', /orphans=1;;;0/);
        const strict = variantConfig(lab!.configFile, 'orphans-critical', { probes: { 'ovs-ports': { orphans: 'critical' } } });
        expect(probe(lab!, 'ovs-ports', [], strict), 2, 'OVS-PORTS CRITICAL - 1 orphan: ');
      });
    });

    test('no-namespace: ovs-ports CRITICAL, the tap has lost its carrier', (t) => {
      if (!requireLab(t)) return;
      const i = vm(4);
      withFault(lab!, 4, 'no-namespace', () => {
        expect(probe(lab!, 'ovs-ports'), 2, 'OVS-PORTS CRITICAL - 1 of 6 ports not wired: ', `${i.name} (${i.uuid}) port ${i.portId}`, `device ${i.tap} down (LOWERLAYERDOWN)`);
      });
    });

    test('dead VLAN (tag 4095): ovs-ports CRITICAL', (t) => {
      if (!requireLab(t)) return;
      const i = vm(5);
      vsctl(lab!.ovsDb, ['set', 'Port', i.tap, 'tag=4095']);
      try {
        expect(probe(lab!, 'ovs-ports'), 2, 'OVS-PORTS CRITICAL - 1 of 6 ports not wired: ', `${i.name} (${i.uuid}) port ${i.portId}`, `tag 4095: dead VLAN (tag 4095: the agent could not wire it)`);
      } finally {
        vsctl(lab!.ovsDb, ['set', 'Port', i.tap, `tag=${LOCAL_VLAN_TAG}`]);
      }
    });

    test('tunnel_bridge: a br-tun unicast flow sending a MAC hosted here to a tunnel is orphaned', (t) => {
      if (!requireLab(t)) return;
      const i = vm(1);
      const cfg = variantConfig(lab!.configFile, 'tunnel', { probes: { 'openflow-rules': { tunnel_bridge: 'br-tun' } } });
      expect(probe(lab!, 'openflow-rules', [], cfg), 0, 'OPENFLOW-RULES OK - ', /flows=\d+/); // no br-tun on this node: not audited
      vsctl(lab!.ovsDb, ['add-br', 'br-tun', '--', 'set', 'Bridge', 'br-tun', 'datapath_type=netdev']);
      try {
        // What l2pop leaves when the instance was on another node (output:1 would be that node's tunnel).
        shOut('ovs-ofctl', ['-O', 'OpenFlow13', 'add-flow', 'br-tun', `table=20,priority=2,dl_vlan=1,dl_dst=${i.mac} actions=strip_vlan,output:1`], { env: ovsEnv(ovsDirOf(lab!.dir)) });
        expect(probe(lab!, 'openflow-rules', [], cfg), 1, 'OPENFLOW-RULES WARNING - 1 orphaned flow: br-tun table 20 sends ', /orphaned=1;;;0/, `orphaned: br-tun table 20 sends ${i.mac} of ${i.name} (${i.uuid}) port ${i.portId}, hosted here, to a tunnel (output:1)`);
      } finally {
        vsctl(lab!.ovsDb, ['--if-exists', 'del-br', 'br-tun']);
      }
    });

    test('a missing namespace and a missing bridge: ovs-ports CRITICAL', (t) => {
      if (!requireLab(t)) return;
      const cfg = variantConfig(lab!.configFile, 'more-parts', { probes: { 'ovs-ports': { namespaces: [lab!.linkNs, `${lab!.prefix}-nons`], bridges: ['br-int', 'br-lmpx'] } } });
      expect(probe(lab!, 'ovs-ports', [], cfg), 2, 'OVS-PORTS CRITICAL - ', `namespace ${lab!.prefix}-nons: missing`, 'bridge br-lmpx: not in the OVSDB');
    });

    test('ovs-vswitchd stopped (SIGSTOP): both UNKNOWN within the deadline, naming what did not answer', (t) => {
      if (!requireLab(t)) return;
      const pid = lab!.ovsPids.ovsVswitchd;
      process.kill(pid, 'SIGSTOP');
      try {
        expect(probe(lab!, 'ovs-ports', ['--timeout', '8']), 3, `OVS-PORTS UNKNOWN - ovs-vswitchd: ${join(lab!.dir, 'ovs', 'br-int.mgmt')}: no OpenFlow hello within 3s (ovs-vswitchd stopped or hung)`);
        expect(probe(lab!, 'openflow-rules', ['--timeout', '8']), 3, 'OPENFLOW-RULES UNKNOWN - ovs-ofctl: br-int: no answer within ');
      } finally {
        process.kill(pid, 'SIGCONT');
      }
    });

    test('ovsdb socket missing: both UNKNOWN naming ovs-vsctl and the socket', (t) => {
      if (!requireLab(t)) return;
      const sock = join(lab!.dir, 'no-such-db.sock');
      const cfg = variantConfig(lab!.configFile, 'no-ovsdb', { ovs: { db: `unix:${sock}` } });
      for (const name of ['ovs-ports', 'openflow-rules']) {
        expect(probe(lab!, name, [], cfg), 3, `${name.toUpperCase()} UNKNOWN - ovs-vsctl: unix:${sock}: database connection failed (No such file or directory)`);
      }
    });
  });
}

describe('ovs-ports on a hybrid-plugged port (qvo on br-int; qvb and the tap in the Linux bridge qbr)', () => {
  let lab: LabEnv | undefined;
  before(() => { if (canLab) lab = labUp({ instances: 2 }); });
  after(() => lab && labDown(lab));

  test('wired as plugged: OK; the tap out of qbr, or qvb down: CRITICAL naming the device', (t) => {
    if (!requireLab(t)) return;
    const i = lab!.instances.find((x) => x.index === 2)!;
    const id = i.tap.slice(3);
    const [qbr, qvb, qvo] = ['qbr', 'qvb', 'qvo'].map((k) => `${k}${id}`);
    // Re-plug instance 2 the way os-vif's hybrid plug does (no IPv6 on the new devices: the lab sends none).
    vsctl(lab!.ovsDb, ['del-port', 'br-int', i.tap]);
    ipBatch([
      `link add ${qbr} type bridge`, `link add ${qvb} type veth peer name ${qvo}`,
      ...[qbr, qvb, qvo].map((d) => `link set ${d} addrgenmode none`),
      `link set ${qvb} master ${qbr}`, `link set ${i.tap} master ${qbr}`,
      ...[qbr, qvb, qvo].map((d) => `link set ${d} up`),
    ], lab!.nodeNs);
    vsctl(lab!.ovsDb, plugArgs({ tap: qvo, portId: i.portId, mac: i.mac, vmUuid: i.uuid }));
    expect(probe(lab!, 'ovs-ports'), 0, 'OVS-PORTS OK - 2 ports of 2 instances wired on br-int');
    ipBatch([`link set ${i.tap} nomaster`], lab!.nodeNs);
    expect(probe(lab!, 'ovs-ports'), 2, 'OVS-PORTS CRITICAL - 1 of 2 ports not wired: ', `${i.name} (${i.uuid}) port ${i.portId} (${i.mac} ${i.ip}) ${qvo} ofport `, `: ${i.tap} not in bridge ${qbr}`);
    ipBatch([`link set ${i.tap} master ${qbr}`, `link set ${qvb} down`], lab!.nodeNs);
    expect(probe(lab!, 'ovs-ports'), 2, 'OVS-PORTS CRITICAL - 1 of 2 ports not wired: ', `device ${qvb} down (DOWN)`);
  });
});

describe('ovs-ports and openflow-rules: processes spawned do not grow with instances', () => {
  test('without the ovs inventory source, each probe reads the OVSDB itself (one ovs-vsctl)', (t) => {
    if (!requireLab(t)) return;
    const lab = labUp({ instances: 3 });
    try {
      const cfg = variantConfig(lab.configFile, 'no-ovs-source', { inventory: { sources: ['libvirt'] } });
      const r = lmProbe(['ovs-ports', '--json', '--config', cfg]);
      const doc = JSON.parse(r.stdout);
      assert.equal(doc.results[0].status, 0, r.stdout);
      assert.equal(doc.processes_spawned, 4, 'virsh list + virsh batch + ovs-vsctl + ip -j link');
    } finally {
      labDown(lab);
    }
  });

  const spawned: Record<number, number> = {};
  for (const n of [6, 50]) {
    test(`${n} instances`, (t) => {
      if (!requireLab(t)) return;
      const lab = labUp({ instances: n, firewall: 'openvswitch' });
      try {
        const r = lmProbe(['run', 'ovs-ports', 'openflow-rules', '--json', '--config', lab.configFile]);
        const doc = JSON.parse(r.stdout);
        assert.deepEqual(doc.results.map((x: { status: number }) => x.status), [0, 0], r.stdout);
        spawned[n] = doc.processes_spawned;
      } finally {
        labDown(lab);
      }
      // virsh list + virsh batch + ovs-vsctl (the inventory's, shared) + ip -j link + ovs-ofctl dump-flows
      assert.equal(spawned[n], 5);
    });
  }
});
