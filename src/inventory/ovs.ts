/**
 * Inventory source "ovs": the instances whose ports are plugged into Open vSwitch here, from
 * the external_ids os-vif and Neutron's OVS agent set on each Interface:
 *   iface-id      Neutron port id            attached-mac  the port's (the VM's) MAC
 *   vm-uuid       Nova instance UUID         iface-status  active / inactive
 * libvirt, when it plugs the port itself (<virtualport type='openvswitch'>), sets vm-id
 * instead of vm-uuid. One ovs-vsctl process for the whole node (see host/ovs.ts).
 */
import { ProbeError } from '../errors.js';
import { withinDeadline } from '../host/exec.js';
import { readOvsSnapshot, type OvsInterface, type OvsSnapshot } from '../host/ovs.js';
import { isInterface, isMac, isUuid } from '../host/validate.js';
import { KEEP_DEPARTED_S, type Departed } from '../presence.js';
import type { ProbeContext } from '../probe.js';
import type { Instance, Inventory, InventorySource, Port, SourceInstance, SourcePort, SourceResult } from './types.js';

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
    gather: async ({ signal, timeoutMs }) => {
      const ovs = await readOvsSnapshot(cfg.db, { timeoutMs, signal });
      // The whole snapshot rides along, so the OVS probes judge the same read (no second ovs-vsctl).
      return { ...instancesFromInterfaces(ovs.interfaces), ovs };
    },
  };
}

// ---- the OVS probes' view: hosted ports joined to their OVS interface --------------------------

/** A port of an instance hosted here, with the OVS Interface that carries its iface-id (if any). */
export interface HostedPort {
  instance: Pick<Instance, 'uuid' | 'name' | 'state'>;
  port: Pick<Port, 'id' | 'mac' | 'tap' | 'ips'>;
  iface?: OvsInterface;
}

/** What hosted here means for the OVS probes, from one inventory and one OVSDB read. */
export interface OvsHosting {
  /** Ports of running (or paused, or state-unknown) hosted instances: the ones checked. */
  ports: HostedPort[];
  /** Every hosted instance, whatever its state (their interfaces are never orphans). */
  instanceUuids: Set<string>;
  portIds: Set<string>;
  /** MAC / IP -> the hosted port that has it (for naming the owner of a flow). */
  owners: Map<string, HostedPort>;
}

const CHECKED_STATES = new Set(['running', 'paused', 'unknown']);
/** Neutron's device names are the kind prefix + the port id cut to 14 characters. */
export const deviceSuffix = (portId: string) => portId.slice(0, 11);

/**
 * The instances hosted here, joined to the OVSDB. An instance only OVS knows (its interface
 * names a vm-uuid no other source has) is not hosted: it is what an orphan looks like. When OVS
 * is the only source that answered, nothing can say otherwise, and all of them are hosted.
 */
export function ovsHosting(inv: Pick<Inventory, 'instances' | 'sources'>, snap: OvsSnapshot): OvsHosting {
  const otherWitness = inv.sources.some((s) => s.state === 'ok' && s.source !== 'ovs');
  const hosted = inv.instances.filter((i) => !otherWitness || i.sources.some((s) => s !== 'ovs'));
  const byIfaceId = new Map<string, OvsInterface>();
  const byName = new Map<string, OvsInterface>();
  for (const i of snap.interfaces) {
    const id = i.externalIds['iface-id'];
    if (id && !byIfaceId.has(id)) byIfaceId.set(id, i);
    byName.set(i.name, i);
  }
  const out: OvsHosting = { ports: [], instanceUuids: new Set(hosted.map((i) => i.uuid)), portIds: new Set(), owners: new Map() };
  for (const inst of hosted) {
    for (const p of inst.ports) {
      if (p.id) out.portIds.add(p.id);
      const suffix = p.id ? deviceSuffix(p.id) : p.tap?.slice(3);
      const iface = (p.id && byIfaceId.get(p.id)) || (p.tap && byName.get(p.tap)) || (suffix ? byName.get(`qvo${suffix}`) : undefined) || undefined;
      const hp: HostedPort = { instance: { uuid: inst.uuid, name: inst.name, state: inst.state }, port: { id: p.id, mac: p.mac, tap: p.tap, ips: p.ips }, ...(iface ? { iface } : {}) };
      for (const key of [p.mac, ...p.ips]) if (key && !out.owners.has(key.toLowerCase())) out.owners.set(key.toLowerCase(), hp);
      if (CHECKED_STATES.has(inst.state)) out.ports.push(hp);
    }
  }
  return out;
}

/** "instance-00000002 (uuid) port <id>": how findings name a hosted port. */
export function portLabel(hp: HostedPort): string {
  const who = hp.instance.name ? `${hp.instance.name} (${hp.instance.uuid})` : hp.instance.uuid;
  return `${who} port ${hp.port.id || hp.port.tap || hp.port.mac}`;
}

/**
 * This run's OVSDB read: the inventory's (the ovs source, one ovs-vsctl for the whole run), or,
 * when the inventory does not use that source, one read of our own. When the ovs source failed,
 * its reason is the answer (a second try would only wait as long again).
 */
export async function ovsSnapshotOf(inv: Inventory, db: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<OvsSnapshot> {
  if (inv.ovs) return inv.ovs;
  const failed = inv.sources.find((s) => s.source === 'ovs' && s.state === 'failed');
  if (failed) throw new ProbeError(failed.detail);
  return readOvsSnapshot(db, opts);
}

/** What the OVS probes start from: the OVSDB, the hosted ports joined to it, and their grace. */
export interface OvsView {
  snapshot: OvsSnapshot;
  hosting: OvsHosting;
  /** Seconds of grace left for an instance that arrived recently. */
  graceLeftS(uuid: string): number;
  /** The instance that had this port id, MAC or IP and left within the grace window. */
  leftRecently(key: string): Departed | undefined;
  /** The instance that had it and left, as long as the presence record remembers (names a leftover's owner). */
  formerOwner(key: string): Departed | undefined;
}

export async function ovsView(ctx: Pick<ProbeContext<unknown>, 'inventory' | 'presence' | 'config' | 'signal' | 'remainingMs'>, graceS: number): Promise<OvsView> {
  const inventory = await ctx.inventory();
  const snapshot = await ovsSnapshotOf(inventory, ctx.config.ovs.db, { timeoutMs: withinDeadline(10_000, ctx.remainingMs()), signal: ctx.signal });
  const presence = await ctx.presence();
  return {
    snapshot,
    hosting: ovsHosting(inventory, snapshot),
    graceLeftS: (uuid) => presence.graceLeftS(uuid, graceS),
    leftRecently: (key) => presence.leftRecently(key, graceS),
    formerOwner: (key) => presence.leftRecently(key, KEEP_DEPARTED_S),
  };
}
