/**
 * `migrate`: move an instance from one lab node to another the way a successful live migration
 * does, and, on request, forget one clean-up step on the source so its leftover is there to find:
 *
 *   step     on the destination                          left on the source with --leave <step>
 *   port     the tap moved into its node namespace and   the OVS port (same external_ids; its
 *            plugged into br-int (same external_ids,     device is gone)
 *            a new ofport)
 *   flows    the port's flows on br-int                  the old ofport's flows
 *   route    /32 dev to-br-int in its link namespace     the /32 route
 *   bgp      its speaker announces the /32               the speaker still announces the /32
 *   disk     the instance dir in its disk tree           the instance dir
 *   domain   the libvirt domain, running                 the domain, shut off (domain-left-on-source)
 *
 * On KVM nodes (`libvirt: 'kvm'`) the domain step is a real live migration between the two
 * libvirtd (virsh migrate --live --persistent, --undefinesource unless --leave domain, so the
 * source then says "shut off (migrated)"); with the test driver the definitions are moved.
 * The instance's own namespace (`<prefix>-vmN`, its "guest") does not move: only its veth
 * peer, the tap, changes node namespace, so the instance keeps its MAC and IP.
 */
import { rmSync } from 'node:fs';
import { saveLab, type LabEnv, type LabInstance } from './lab.js';
import { ipBatch } from './netns.js';
import { BRIDGE, plugArgs, vsctl } from './ovs.js';
import { syncFlows } from './ovs-faults.js';
import { bgpResync } from './addons.js';
import { diskAddInstance, instanceDir } from './disks.js';
import { liveMigrate } from './kvm.js';

export type LeaveStep = 'route' | 'bgp' | 'flows' | 'port' | 'disk' | 'domain';
export const LEAVE_STEPS: readonly LeaveStep[] = ['route', 'bgp', 'flows', 'port', 'disk', 'domain'];
export const isLeaveStep = (v: unknown): v is LeaveStep => LEAVE_STEPS.includes(v as LeaveStep);

/** An instance that left a node, in that node's lab.json: what it was and what it left behind. */
export interface MigratedAway {
  instance: LabInstance;
  /** The destination's lab prefix. */
  to: string;
  /** Its ofport on the source's br-int (the leftover flows use it). */
  ofport: number | null;
  leave: LeaveStep[];
}

/** Addon faults that name something other than a lab instance (they stay on the source). */
const NOT_AN_INSTANCE = new Set(['orphan-bgp', 'orphan-disk']);

/**
 * Move instance `index` from `src` to `dst` (both running labs with the same optional parts),
 * updating both labs' records and files. Returns the instance as `dst` now has it. With BGP,
 * it returns once the shared router has the /32 from `dst` (and, unless --leave bgp/route, no
 * longer from `src`). The instance must be healthy (heal it first).
 */
export function migrate(src: LabEnv, dst: LabEnv, index: number, opts: { leave?: LeaveStep[] } = {}): LabInstance {
  const i = src.instances.find((x) => x.index === index);
  if (!i) throw new Error(`lab ${src.prefix} has no instance ${index}`);
  if (i.fault) throw new Error(`instance ${index} has the fault ${i.fault}; heal it before migrating`);
  const tied = (src.addonFaults ?? []).filter((r) => r.index === index && !NOT_AN_INSTANCE.has(r.fault));
  if (tied.length) throw new Error(`instance ${index} has the faults ${tied.map((r) => r.fault).join(', ')}; heal it before migrating`);
  for (const step of opts.leave ?? []) if (!isLeaveStep(step)) throw new Error(`unknown step ${JSON.stringify(step)} (want ${LEAVE_STEPS.join(', ')})`);
  if (!!src.bgp !== !!dst.bgp || !!src.disks !== !!dst.disks || !!src.kvm !== !!dst.kvm) {
    throw new Error(`labs ${src.prefix} and ${dst.prefix} differ in their BGP/disk/libvirt parts`);
  }
  const leave = new Set(opts.leave ?? []);

  // The guest first, as Nova does (the clean-up steps below are its post-migration): if the
  // live migration fails, nothing else has moved.
  if (src.kvm && dst.kvm) liveMigrate(src.kvm, dst.kvm, i.name, { undefineSource: !leave.has('domain') });

  // The port: unplugged on the source (os-vif's unplug after the migration), the tap moved, then
  // plugged on the destination with the same external_ids. A netns move resets the device
  // (down, IPv6 config), so it is set up again there.
  if (!leave.has('port')) vsctl(src.ovsDb, ['--if-exists', 'del-port', BRIDGE, i.tap]);
  ipBatch([`link set ${i.tap} netns ${dst.nodeNs}`], src.nodeNs);
  ipBatch([`link set ${i.tap} addrgenmode none`, `link set ${i.tap} up`], dst.nodeNs);
  vsctl(dst.ovsDb, plugArgs({ tap: i.tap, portId: i.portId, mac: i.mac, vmUuid: i.uuid }));
  // The guest's gateway is now the destination's link namespace: another MAC.
  ipBatch(['neigh flush dev eth0'], i.ns);

  // The /32 route (the bird/FRR speakers follow it by themselves).
  ipBatch([`route replace ${i.ip}/32 dev ${dst.linkIface} scope link`], dst.linkNs);
  const srcLink = [`neigh flush to ${i.ip} dev ${src.linkIface}`];
  if (!leave.has('route')) srcLink.unshift(`route del ${i.ip}/32 dev ${src.linkIface}`);
  ipBatch(srcLink, src.linkNs);

  // The records: the instance now belongs to dst; src remembers what it left.
  const moved: LabInstance = { ...i, ofport: null, staleOfport: null };
  src.instances = src.instances.filter((x) => x !== i);
  dst.instances.push(moved);
  (src.migratedAway ??= []).push({ instance: { ...i }, to: dst.prefix, ofport: i.ofport ?? null, leave: LEAVE_STEPS.filter((s) => leave.has(s)) });

  syncFlows(dst); // also learns the new ofport
  syncFlows(src); // keeps the old ofport's flows with --leave flows
  if (dst.disks) diskAddInstance(dst.disks, i.uuid); // block migration: a fresh copy on the destination's base
  if (src.disks && !leave.has('disk')) rmSync(instanceDir(src.disks, i.uuid), { recursive: true, force: true });
  bgpResync(dst); // announced from the destination first, then withdrawn from the source
  bgpResync(src);
  saveLab(dst); // lab.json, inventory.yaml, libvirt: the test driver's domain moves (or stays, shut off, with --leave domain)
  saveLab(src);
  return moved;
}
