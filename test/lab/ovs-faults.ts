/**
 * br-int's flows kept in step with the lab (syncFlows: one replace-flows for the whole bridge,
 * computed from the lab's state), and the OVS-side faults a live migration can leave:
 *
 *   no-flows           an instance port's flows are missing (the agent never wired it)
 *   stale-ofport-flow  the port was re-plugged with a new ofport; flows for the old one remain
 *   no-namespace       the instance's namespace is gone; its tap and OVS port remain
 *   orphan-flows N     flows for an ofport/MAC of a port that is no longer on the node
 *   orphan-port N      an OVS port whose external_ids vm-uuid names an instance not on this node
 *
 * The first three are instance (network) faults, one at a time like the others; the orphans are
 * numbered (goneIdentity(N)) and recorded in env.ovsOrphans.
 */
import { goneIdentity } from './identity.js';
import { ipBatch } from './netns.js';
import { BRIDGE, listInterfaces, ovsDirOf, vsctl } from './ovs.js';
import { bridgeFlows, inPortFlows, portFlows, replaceFlows, type FirewallDriver } from './flows.js';

export type OvsOrphanFault = 'orphan-flows' | 'orphan-port';
export const OVS_ORPHAN_FAULTS: readonly OvsOrphanFault[] = ['orphan-flows', 'orphan-port'];
export const isOvsOrphanFault = (v: unknown): v is OvsOrphanFault => OVS_ORPHAN_FAULTS.includes(v as OvsOrphanFault);

/** What of a LabEnv this file needs. */
export interface FlowEnv {
  dir: string;
  ovsDb: string;
  nodeNs: string;
  linkPort: string;
  firewall?: FirewallDriver;
  instances: {
    index: number;
    mac: string;
    ip: string;
    tap: string;
    ns: string;
    portId: string;
    fault: string | null;
    /** The port's last known ofport: flows of a deleted or broken port stay, as the agent leaves them. */
    ofport?: number | null;
    /** stale-ofport-flow: the ofport the port had before it was re-plugged. */
    staleOfport?: number | null;
  }[];
  ovsOrphans?: { index: number; fault: OvsOrphanFault }[];
  /** Instances migrated away; those whose migration left 'flows' keep them here (migrate.ts). */
  migratedAway?: { instance: { mac: string; ip: string }; ofport: number | null; leave: string[] }[];
}

/** Recompute every flow of br-int from the lab's state and install them in one bundle. Returns the flow count. */
export function syncFlows(env: FlowEnv): number {
  const driver = env.firewall ?? 'iptables_hybrid';
  const ofports = new Map(listInterfaces(env.ovsDb).map((r) => [r.name, r.ofport ?? -1]));
  const linkOfport = ofports.get(env.linkPort) ?? -1;
  if (linkOfport < 1) throw new Error(`${env.linkPort} has no ofport`);
  const sets: string[][] = [];
  for (const i of env.instances) {
    const now = ofports.get(i.tap) ?? -1;
    if (now > 0) i.ofport = now;
    if (i.fault === 'no-flows' || !i.ofport) continue;
    sets.push(portFlows(driver, { ofport: i.ofport, mac: i.mac, ip: i.ip }));
    if (i.fault === 'stale-ofport-flow' && i.staleOfport) sets.push(inPortFlows(driver, { ofport: i.staleOfport, mac: i.mac, ip: i.ip }));
  }
  for (const o of env.ovsOrphans ?? []) if (o.fault === 'orphan-flows') sets.push(portFlows(driver, goneIdentity(o.index)));
  for (const m of env.migratedAway ?? []) {
    if (m.leave.includes('flows') && m.ofport) sets.push(portFlows(driver, { ofport: m.ofport, mac: m.instance.mac, ip: m.instance.ip }));
  }
  const flows = bridgeFlows(driver, linkOfport, sets);
  replaceFlows(ovsDirOf(env.dir), flows);
  return flows.length;
}

/** The instance's eth0 while its namespace is gone: parked, down, in the node namespace. */
const parkedEth = (i: FlowEnv['instances'][number]): string => `nsgone${i.portId.slice(0, 9)}`;

/**
 * stale-ofport-flow: the port is deleted and re-added with a new ofport (one above every ofport
 * in use); syncFlows then writes the new port's flows and keeps the old ofport's in_port flows.
 */
export function replugWithNewOfport(env: FlowEnv, i: FlowEnv['instances'][number], plug: string[]): void {
  const used = listInterfaces(env.ovsDb).map((r) => r.ofport ?? 0).filter((n) => n < 65000);
  const old = i.ofport ?? null;
  const next = Math.max(0, ...used) + 1;
  vsctl(env.ovsDb, ['--if-exists', 'del-port', BRIDGE, i.tap]);
  vsctl(env.ovsDb, [...plug, '--', 'set', 'Interface', i.tap, `ofport_request=${next}`]);
  i.staleOfport = old;
}

/** no-namespace: eth0 is moved out (parked in the node namespace), then the namespace is deleted. */
export function removeNamespace(env: FlowEnv, i: FlowEnv['instances'][number]): void {
  ipBatch([`link set eth0 netns ${env.nodeNs}`], i.ns);
  ipBatch([`link set eth0 name ${parkedEth(i)}`], env.nodeNs);
  ipBatch([`netns del ${i.ns}`]);
}

/** Undo no-namespace: a new namespace, eth0 moved back in (healNetwork then configures it). */
export function restoreNamespace(env: FlowEnv, i: FlowEnv['instances'][number]): void {
  ipBatch([`netns add ${i.ns}`]);
  ipBatch([`link set ${parkedEth(i)} netns ${i.ns}`], env.nodeNs);
  ipBatch([`link set ${parkedEth(i)} name eth0`], i.ns);
}

/** orphan-port N: an internal port (so it has a device and an ofport) with os-vif's external_ids for a gone instance. */
export function addOrphanPort(env: FlowEnv, n: number): void {
  const g = goneIdentity(n);
  vsctl(env.ovsDb, [
    '--', '--may-exist', 'add-port', BRIDGE, g.tap,
    '--', 'set', 'Interface', g.tap, 'type=internal',
    `external_ids:iface-id=${g.portId}`, `external_ids:attached-mac=${g.mac}`, `external_ids:vm-uuid=${g.uuid}`, 'external_ids:iface-status=active',
  ]);
}

export function removeOrphanPort(env: FlowEnv, n: number): void {
  vsctl(env.ovsDb, ['--if-exists', 'del-port', BRIDGE, goneIdentity(n).tap]);
}
