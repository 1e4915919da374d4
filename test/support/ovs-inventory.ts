/**
 * The inventory a lab node's instances make (as libvirt reports them), for the OVS probes'
 * verdict tests on recorded fixtures: the lab's deterministic identities, running, one port each.
 */
import type { Instance, Inventory, SourceName } from '../../src/inventory/types.js';
import { identity } from '../lab/identity.js';

export function labInventory(indexes: number[], opts: { ovsOnly?: number[] } = {}): Pick<Inventory, 'instances' | 'sources'> {
  const instances: Instance[] = indexes.map((n) => {
    const id = identity(n);
    const sources: SourceName[] = opts.ovsOnly?.includes(n) ? ['ovs'] : ['libvirt', 'ovs'];
    return {
      uuid: id.uuid, name: id.name, state: 'running', sources, origin: {},
      ports: [{ id: id.portId, mac: id.mac, tap: id.tap, ips: [id.ip], sources, origin: {} }],
    };
  });
  return { instances, sources: [{ source: 'libvirt', state: 'ok', detail: '' }, { source: 'ovs', state: 'ok', detail: '' }] };
}
