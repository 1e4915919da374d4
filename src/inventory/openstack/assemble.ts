/**
 * Nova's servers and Neutron's ports as the source's instances. A port whose device_id is no
 * server Nova places here still makes an instance (uuid only): the merge reports that Nova
 * and Neutron disagree about it.
 */
import type { SourceInstance } from '../types.js';
import type { NeutronPort } from './neutron.js';

export function assembleInstances(servers: readonly SourceInstance[], ports: readonly NeutronPort[]): SourceInstance[] {
  const instances = servers.map((s) => ({ ...s, ports: [...s.ports] }));
  const byUuid = new Map(instances.map((i) => [i.uuid, i]));
  for (const { instanceUuid, port } of ports) {
    let instance = byUuid.get(instanceUuid);
    if (!instance) {
      instance = { uuid: instanceUuid, ports: [] };
      byUuid.set(instanceUuid, instance);
      instances.push(instance);
    }
    instance.ports.push(port);
  }
  return instances;
}
