// ovs-ports and openflow-rules across a live migration between two lab nodes: what
// `migrate --leave flows` and `--leave port` leave on node 1 is reported there (WARNING: leftovers
// of an instance that just left, or orphans), and node 2 is OK.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterDown, clusterUp, type Cluster } from '../lab/cluster.js';
import { FIREWALL_DRIVERS } from '../lab/flows.js';
import type { LabEnv } from '../lab/lab.js';
import { migrate } from '../lab/migrate.js';
import { labUnavailableReason } from '../lab/netns.js';
import { listInterfaces } from '../lab/ovs.js';
import { requireLab } from '../lab/require.js';
import { assertNoStack, lmProbe, variantConfig, type CliRun } from '../support/cli.js';

const canLab = labUnavailableReason() === null;

function probe(node: LabEnv, name: string, config = node.configFile): CliRun {
  const r = lmProbe([name, '--config', config]);
  assertNoStack(r);
  return r;
}

for (const driver of FIREWALL_DRIVERS) {
  describe(`ovs probes across a migration (${driver} firewall)`, () => {
    let cluster: Cluster | undefined;
    before(() => { if (canLab) cluster = clusterUp({ instances: 3, nodes: 2, libvirt: 'test', firewall: driver }); });
    after(() => cluster && clusterDown(cluster));
    const nodes = () => cluster!.nodes;

    /** Both probes OK on both nodes, so each node's presence record knows its instances. */
    function allOk() {
      for (const node of nodes()) for (const name of ['ovs-ports', 'openflow-rules']) assert.equal(probe(node, name).code, 0, `${node.prefix} ${name}`);
    }

    test('--leave flows: node 1 reports the old ofport\'s flows, naming the instance that left; node 2 OK', (t) => {
      if (!requireLab(t)) return;
      allOk();
      const [n1, n2] = nodes();
      const i = n1.instances.find((x) => x.index === 2)!;
      const oldOfport = listInterfaces(n1.ovsDb).find((x) => x.name === i.tap)!.ofport;
      migrate(n1, n2, 2, { leave: ['flows'] });
      const r = probe(n1, 'openflow-rules');
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, new RegExp(`^OPENFLOW-RULES WARNING - \\d+ orphaned flows: `));
      assert.ok(r.stdout.includes(`for ofport ${oldOfport} (no Interface on br-int)`), r.stdout);
      assert.ok(r.stdout.includes(i.mac) && r.stdout.includes(i.ip), r.stdout);
      assert.ok(r.stdout.includes(`left with ${i.name} (${i.uuid}) within the grace window`), r.stdout);
      // Past the grace window, a flow that outputs to the gone port black-holes traffic (openvswitch firewall).
      const late = probe(n1, 'openflow-rules', variantConfig(n1.configFile, 'no-grace', { probes: { 'openflow-rules': { grace: 0 } } }));
      assert.equal(late.code, driver === 'openvswitch' ? 2 : 1, late.stdout);
      assert.equal(probe(n1, 'ovs-ports').code, 0);
      for (const name of ['ovs-ports', 'openflow-rules']) assert.equal(probe(n2, name).code, 0, `node 2 ${name}: ${probe(n2, name).stdout}`);
    });

    test('--leave port: node 1 reports the OVS port of the instance that left; node 2 OK', (t) => {
      if (!requireLab(t)) return;
      const [n1, n2] = nodes();
      const i = n1.instances.find((x) => x.index === 3)!;
      migrate(n1, n2, 3, { leave: ['port'] });
      const r = probe(n1, 'ovs-ports');
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, new RegExp(`^OVS-PORTS WARNING - 1 orphan: orphan: Interface ${i.tap} on br-int \\(iface-id ${i.portId}, vm-uuid ${i.uuid}, MAC ${i.mac}, `));
      // Not "left ... within the grace window": the port still names the instance, so the ovs
      // source still lists it and the shared presence record counts it as here (see the README).
      assert.ok(r.stdout.includes('no instance hosted here has it'), r.stdout);
      for (const name of ['ovs-ports', 'openflow-rules']) {
        const r2 = probe(n2, name);
        assert.equal(r2.code, 0, `node 2 ${name}: ${r2.stdout}`);
      }
    });
  });
}
