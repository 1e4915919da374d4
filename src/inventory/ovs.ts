/**
 * Inventory source "ovs": the instances whose ports are plugged into Open vSwitch here, from
 * the external_ids os-vif and Neutron's OVS agent set on each Interface:
 *   iface-id      Neutron port id            attached-mac  the port's (the VM's) MAC
 *   vm-uuid       Nova instance UUID         iface-status  active / inactive
 * libvirt, when it plugs the port itself (<virtualport type='openvswitch'>), sets vm-id
 * instead of vm-uuid. One ovs-vsctl process for the whole node (see host/ovs.ts).
 */
import { readOvsInterfaces, type OvsInterface } from '../host/ovs.js';
import { isInterface, isMac, isUuid } from '../host/validate.js';
import type { InventorySource, SourceInstance, SourcePort, SourceResult } from './types.js';

const vmUuidOf = (i: OvsInterface): string | undefined => i.externalIds['vm-uuid'] ?? i.externalIds['vm-id'];

/** Only the facts OVS has: undefined fields are left out, so the merge sees "unknown", not "empty". */
function portOf(i: OvsInterface, notes: string[]): SourcePort {
  const ids = i.externalIds;
  const mac = ids['attached-mac'];
  if (mac !== undefined && !isMac(mac)) notes.push(`${i.name}: ignored invalid attached-mac ${JSON.stringify(mac)}`);
  if (!isInterface(i.name)) notes.push(`ignored invalid interface name ${JSON.stringify(i.name)}`);
  const port: SourcePort = { id: ids['iface-id'] ?? '' };
  const facts: Omit<SourcePort, 'id'> = {
    mac: mac !== undefined && isMac(mac) ? mac.toLowerCase() : undefined,
    tap: isInterface(i.name) ? i.name : undefined,
    ofport: i.ofport,
    bridge: i.bridge,
    ovsError: i.error,
    linkState: i.linkState,
    ifaceStatus: ids['iface-status'],
  };
  for (const [k, v] of Object.entries(facts)) if (v !== undefined) Object.assign(port, { [k]: v });
  return port;
}

/** Group the interfaces that name a VM into instances (several ports: one instance). */
export function instancesFromInterfaces(interfaces: OvsInterface[]): SourceResult {
  const notes: string[] = [];
  const byUuid = new Map<string, SourceInstance>();
  for (const i of interfaces) {
    const vm = vmUuidOf(i);
    if (vm === undefined) {
      // A Neutron port with no VM (a DHCP or router port, or a VM plugged by something else).
      if (i.externalIds['iface-id'] !== undefined) notes.push(`${i.name} on ${i.bridge ?? 'no bridge'}: Neutron port ${i.externalIds['iface-id']} with no vm-uuid`);
      continue;
    }
    if (!isUuid(vm)) {
      notes.push(`${i.name}: ignored invalid vm-uuid ${JSON.stringify(vm)}`);
      continue;
    }
    const uuid = vm.toLowerCase();
    const inst = byUuid.get(uuid) ?? { uuid, ports: [] };
    byUuid.set(uuid, inst);
    inst.ports.push(portOf(i, notes));
  }
  const byName = (a: SourcePort, b: SourcePort) => (a.tap ?? '').localeCompare(b.tap ?? '') || a.id.localeCompare(b.id);
  const instances = [...byUuid.values()].sort((a, b) => a.uuid.localeCompare(b.uuid));
  for (const inst of instances) inst.ports.sort(byName);
  return notes.length ? { instances, notes } : { instances };
}

export function createOvsSource(cfg: { db: string }): InventorySource {
  return {
    name: 'ovs',
    configured: () => cfg.db !== '',
    gather: async ({ signal, timeoutMs }) => instancesFromInterfaces(await readOvsInterfaces(cfg.db, { timeoutMs, signal })),
  };
}
