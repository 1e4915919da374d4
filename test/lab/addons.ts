/**
 * The lab's optional parts, wired into labUp/labDown/addInstance: the node's BGP speaker
 * (bgp.ts, BGP.md) and the nova instances tree (disks.ts, DISKS.md), and their faults.
 *
 * Their faults are kept apart from the per-instance network fault (LabInstance.fault): they are
 * independent layers, so an instance may be `dead` and `no-bgp` at once. `env.addonFaults` is
 * the record; heal(index) clears every fault tied to that index, whatever the layer.
 */
import { BGP_DAEMONS, bgpDown, bgpSetFaults, bgpUp, readBgpRecord, type BgpDaemon, type BgpFault, type BgpLab } from './bgp.js';
import { DISK_FAULTS, diskAddInstance, diskFault, diskHeal, disksUp, type DiskFault, type DiskTree } from './disks.js';
import { releaseOnExit } from './cleanup.js';

export type AddonFault = BgpFault | DiskFault;
export const BGP_FAULTS: readonly BgpFault[] = ['no-bgp', 'orphan-bgp'];
export const ADDON_FAULTS: readonly AddonFault[] = [...BGP_FAULTS, ...DISK_FAULTS];
export const isAddonFault = (v: unknown): v is AddonFault => ADDON_FAULTS.includes(v as AddonFault);
export const isBgpDaemon = (v: unknown): v is BgpDaemon => BGP_DAEMONS.includes(v as BgpDaemon);

/**
 * One active addon fault. `index` is a lab instance's index, except for orphan-bgp and
 * orphan-disk, where it numbers something that is *not* on the node (see orphanBgpIp and
 * disks.ts's migrated-away UUIDs).
 */
export interface AddonFaultRecord {
  index: number;
  fault: AddonFault;
}

/** What of a LabEnv this file needs (lab.ts's LabEnv has it all). */
export interface AddonEnv {
  prefix: string;
  dir: string;
  linkNs: string;
  instances: { index: number; ip: string; uuid: string }[];
  bgp?: BgpLab | null;
  disks?: DiskTree | null;
  addonFaults?: AddonFaultRecord[];
  /** Instances migrated away; those whose migration left 'bgp' are still announced from here (migrate.ts). */
  migratedAway?: { instance: { ip: string }; leave: string[] }[];
}

/**
 * orphan-bgp N announces 198.18.N.252/32: instances only ever get .2-.251 of a /24, so this is
 * never an instance's IP, now or after any addInstance.
 */
export function orphanBgpIp(n: number): string {
  if (!Number.isInteger(n) || n < 1 || n > 255) throw new Error(`orphan-bgp index must be 1..255 (it becomes 198.18.<index>.252), got ${n}`);
  return `198.18.${n}.252`;
}

function instanceIp(env: AddonEnv, index: number): string {
  const i = env.instances.find((x) => x.index === index);
  if (!i) throw new Error(`lab ${env.prefix} has no instance ${index}`);
  return i.ip;
}

const isBgp = (f: AddonFault): f is BgpFault => (BGP_FAULTS as readonly string[]).includes(f);

/** The speaker's fault lists that `records` call for. */
function bgpFaultsOf(env: AddonEnv, records: AddonFaultRecord[]): { noBgp: string[]; orphans: string[] } {
  return {
    noBgp: records.filter((r) => r.fault === 'no-bgp').map((r) => instanceIp(env, r.index)),
    orphans: [
      ...records.filter((r) => r.fault === 'orphan-bgp').map((r) => orphanBgpIp(r.index)),
      ...(env.migratedAway ?? []).filter((m) => m.leave.includes('bgp')).map((m) => m.instance.ip),
    ],
  };
}

/**
 * Make the speaker announce what the node has now (its /32 routes, its faults, the announcements
 * a migration left behind); returns once the router has exactly that from this node (a shared
 * router's paths from the other node do not count). For migrate.ts.
 */
export function bgpResync(env: AddonEnv): void {
  if (env.bgp) bgpSetFaults(env.bgp, env, bgpFaultsOf(env, env.addonFaults ?? []));
}

/** Start the parts asked for. Disks first: they need no daemon and fail fast (qemu-img missing). */
export function addonsUp(env: AddonEnv, opts: { bgp?: BgpDaemon; disks?: boolean }): void {
  env.addonFaults ??= [];
  env.disks = opts.disks ? disksUp(env) : null;
  env.bgp = null;
  if (opts.bgp) addonsBgpUp(env, opts.bgp);
}

/**
 * The node's BGP speaker; with `router` (node 1's BgpLab) it peers with that shared router
 * instead of a router of its own (cluster.ts, for node 2). The caller saves the lab.
 */
export function addonsBgpUp(env: AddonEnv, daemon: BgpDaemon, router?: BgpLab): void {
  if (!isBgpDaemon(daemon)) throw new Error(`unknown BGP daemon ${JSON.stringify(daemon)} (want ${BGP_DAEMONS.join(', ')})`);
  env.bgp = bgpUp(env, daemon, router);
  // labDown stops it from now on (also from another process, via lab.json / bgp.json).
  releaseOnExit(`${env.prefix}-bgp`);
}

export function injectAddonFault(env: AddonEnv, index: number, fault: AddonFault): void {
  const records = (env.addonFaults ??= []);
  if (records.some((r) => r.index === index && r.fault === fault)) return;
  if (isBgp(fault)) {
    if (!env.bgp) throw new Error(`lab ${env.prefix} has no BGP speaker (up --bgp bird|frr|gobgp)`);
    const next = [...records, { index, fault }];
    bgpSetFaults(env.bgp, env, bgpFaultsOf(env, next)); // validates the index first
  } else {
    if (!env.disks) throw new Error(`lab ${env.prefix} has no disk tree (up --disks)`);
    if (fault !== 'orphan-disk') instanceIp(env, index); // must be a lab instance
    else if (!Number.isInteger(index) || index < 1) throw new Error(`orphan-disk index must be a positive integer, got ${index}`);
    diskFault(env.disks, env, fault, index);
  }
  records.push({ index, fault });
}

/** Clear the addon faults tied to `index` (every one with 'all'). */
export function healAddonFaults(env: AddonEnv, index: number | 'all'): void {
  const records = env.addonFaults ?? [];
  const cleared = records.filter((r) => index === 'all' || r.index === index);
  if (cleared.length === 0) return;
  const kept = records.filter((r) => !cleared.includes(r));
  if (env.bgp && cleared.some((r) => isBgp(r.fault))) bgpSetFaults(env.bgp, env, bgpFaultsOf(env, kept));
  if (env.disks && cleared.some((r) => !isBgp(r.fault))) {
    // diskHeal restores the healthy tree from the files; the faults that stay are made again (they are deterministic).
    diskHeal(env.disks, env);
    for (const r of kept) if (!isBgp(r.fault)) diskFault(env.disks, env, r.fault as DiskFault, r.index);
  }
  env.addonFaults = kept;
}

/** A new instance: its disk dir, and its /32 announced (GoBGP needs telling; it returns once the router has it). */
export function addonsAddInstance(env: AddonEnv, inst: { uuid: string }): void {
  if (env.disks) diskAddInstance(env.disks, inst.uuid);
  if (env.bgp) bgpSetFaults(env.bgp, env, bgpFaultsOf(env, env.addonFaults ?? []));
}

/**
 * Stop the BGP daemons (by their recorded PIDs: `bgp`, else <dir>/bgp/bgp.json, which bgp.ts
 * writes as soon as the speaker is up). Before the namespaces go: a daemon keeps its namespace
 * alive. The disk tree lives in the lab dir and goes with it. Never throws.
 */
export function addonsDown(dir: string, bgp?: BgpLab | null): void {
  const record = bgp ?? readBgpRecord(dir);
  if (!record) return;
  try {
    bgpDown(record);
  } catch (err) {
    process.stderr.write(`lab ${dir}: BGP teardown failed: ${(err as Error).message}\n`);
  }
}
