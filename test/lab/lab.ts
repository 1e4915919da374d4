/**
 * The lab node: a fake compute node made of network namespaces and its own Open vSwitch, in the
 * routed model where the node's link namespace reaches every instance through br-int and holds
 * a /32 route to each:
 *
 *   <prefix>-node   the hypervisor: the lab's ovsdb-server + ovs-vswitchd (userspace datapath),
 *                   br-int, one tap<port[:11]> per instance (external_ids as os-vif sets them),
 *                   and to-ns-link, the veth leg of the link namespace
 *   <prefix>-link   "ns-link": to-br-int 198.18.0.1/32, "198.18.1.N/32 dev to-br-int" each
 *   <prefix>-vmN    eth0 (the tap's veth peer) 198.18.1.N/32, default via 198.18.0.1
 *
 * br-int's flows are shaped like the neutron OVS agent's (flows.ts, kept in step by ovs-faults.ts);
 * optionally a BGP speaker and a nova disk tree are wired in (addons.ts).
 *
 * Nothing is added to the root namespace except the namespaces themselves, and no lab namespace
 * has a path out of the lab. See README.md for the full picture.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GATEWAY_IP, GATEWAY_IP6, LAB_NET, LAB_NET6, MAX_INSTANCES, identity, instanceIp6 } from './identity.js';
import {
  LAB_ROOT, PREFIX_RE, assertPrefix, labDir, labFile, readCurrent, readLabRecord, setCurrent, writeConfig, writeLabFiles, type LabRecord,
} from './files.js';
import { LAB_PREFIX, deleteNamespaces, ipBatch, labUnavailableReason, listNamespaces, nsSysctl, uniquePrefix } from './netns.js';
import { BRIDGE, ovsDbOf, plugArgs, plugPorts, startOvs, stopOvs, vsctl, type InstancePort, type OvsPids } from './ovs.js';
import { ownerAlive, releaseOnExit, teardownOnExit } from './cleanup.js';
import {
  ADDON_FAULTS, addonsAddInstance, addonsDown, addonsUp, healAddonFaults, injectAddonFault, isAddonFault,
  type AddonFault, type AddonFaultRecord,
} from './addons.js';
import type { BgpDaemon, BgpLab } from './bgp.js';
import type { DiskTree } from './disks.js';
import { forgetLeftDomain, leftDomain } from './libvirt.js';
import { kvmUnavailableReason, readLibvirtdRecord, startLibvirtd, stopLibvirtd, waitLibvirtd, type KvmNode } from './kvm.js';
import { labMonitoringDown, labMonitoringUp, type MonitoringLab } from './monitoring.js';
import type { MigratedAway } from './migrate.js';
import { isFirewallDriver, FIREWALL_DRIVERS, type FirewallDriver } from './flows.js';
import {
  OVS_ORPHAN_FAULTS, addOrphanPort, isOvsOrphanFault, removeNamespace, removeOrphanPort, replugWithNewOfport, restoreNamespace, syncFlows,
  type OvsOrphanFault,
} from './ovs-faults.js';

/** An instance's network fault: one at a time per instance. */
export type Fault = 'no-route' | 'drop-icmp' | 'dead' | 'no-port' | 'port-error' | 'no-flows' | 'stale-ofport-flow' | 'no-namespace';
export const FAULTS: readonly Fault[] = ['no-route', 'drop-icmp', 'dead', 'no-port', 'port-error', 'no-flows', 'stale-ofport-flow', 'no-namespace'];
/** The network faults labUp builds in while creating an instance; the others are injected once it runs. */
const BUILT_IN_FAULTS: readonly Fault[] = ['no-route', 'drop-icmp', 'dead', 'no-port', 'port-error', 'no-flows'];
export const isFault = (v: unknown): v is Fault => FAULTS.includes(v as Fault);
/** Every fault `injectFault` takes: the instance's network fault, an OVS orphan (ovs-faults.ts), or a BGP/disk fault (addons.ts). */
/** domain-left-on-source N: gone instance N's domain, shut off (libvirt.ts leftDomain); `migrate --leave domain` makes the real one. */
export type LibvirtFault = 'domain-left-on-source';
export type LabFault = Fault | OvsOrphanFault | AddonFault | LibvirtFault;
export const LAB_FAULTS: readonly LabFault[] = [...FAULTS, ...OVS_ORPHAN_FAULTS, ...ADDON_FAULTS, 'domain-left-on-source'];
export const isLabFault = (v: unknown): v is LabFault => isFault(v) || isOvsOrphanFault(v) || isAddonFault(v) || v === 'domain-left-on-source';

export interface LabInstance {
  index: number;
  uuid: string;
  name: string;
  portId: string;
  mac: string;
  /** In the node namespace, on br-int; its veth peer is eth0 in `ns`. */
  tap: string;
  ip: string;
  /** Its IPv6 address (labs made with `ipv6`), else absent. */
  ip6?: string | null;
  ns: string;
  fault: Fault | null;
  /** The port's last known ofport (flows.ts writes its flows with it). */
  ofport?: number | null;
  /** stale-ofport-flow: the ofport before the re-plug, still referenced by flows. */
  staleOfport?: number | null;
}

export interface LabEnv {
  prefix: string;
  dir: string;
  /** The hypervisor namespace: OVS daemons, br-int, the taps. */
  nodeNs: string;
  /** "ns-link": where the /32 routes are and the probes run. */
  linkNs: string;
  /** The link namespace's leg into br-int (holds 198.18.0.1/32; every instance route uses it). */
  linkIface: string;
  /** Its veth peer: an OVS port on br-int, with no external_ids. */
  linkPort: string;
  bridge: string;
  /** The lab's private OVSDB: "unix:/tmp/<prefix>/ovs/db.sock". */
  ovsDb: string;
  ovsPids: OvsPids;
  instances: LabInstance[];
  inventoryFile: string;
  configFile: string;
  ocoDir: string;
  stateDir: string;
  lockDir: string;
  /** br-int's flows follow this neutron firewall driver (flows.ts). */
  firewall?: FirewallDriver;
  /** Active orphan-flows / orphan-port faults (numbered gone ports, identity.ts goneIdentity). */
  ovsOrphans?: { index: number; fault: OvsOrphanFault }[];
  /** The node's BGP speaker and its router (labUp's `bgp`), or null. */
  bgp?: BgpLab | null;
  /** The nova instances tree (labUp's `disks`), or null. */
  disks?: DiskTree | null;
  /** Active BGP and disk faults (the network fault is LabInstance.fault). */
  addonFaults?: AddonFaultRecord[];
  /** The node's name in config.yaml (`host`); default `<prefix>-node1`. */
  host?: string;
  /** Node 1 of a cluster: the other nodes' prefixes (cluster.ts); labDown takes them down too. */
  otherNodes?: string[];
  /** Instances migrated away from this node, with the leftovers each one left here (migrate.ts). */
  migratedAway?: MigratedAway[];
  /** The node's own libvirtd, its instances real KVM guests (`libvirt: 'kvm'`); null: libvirt's test driver. */
  kvm?: KvmNode | null;
  /** Active domain-left-on-source faults (their numbers). */
  leftDomains?: number[];
  /** The monitoring namespace this node sends to (labUp's `monitoring`; MONITORING.md); its `prefix` owns it. */
  monitoring?: MonitoringLab | null;
  /** Every instance also has an IPv6 address (fd6c:6d70::/64, a ULA inside the lab) and a /128 route. */
  ipv6?: boolean;
}

export type LibvirtDriver = 'test' | 'kvm';
export const LIBVIRT_DRIVERS: readonly LibvirtDriver[] = ['test', 'kvm'];
/** KVM guests are real processes (~40 MB of RSS each, 128 MiB of address space): keep them few. */
export const MAX_KVM_INSTANCES = 32;

export interface LabUpOptions {
  instances: number;
  /** Per index, a network fault or a BGP/disk fault (those need `bgp`/`disks`). */
  faults?: Record<number, LabFault>;
  prefix?: string;
  /** Run this BGP speaker in the link namespace, announcing the instances to a router (BGP.md). */
  bgp?: BgpDaemon;
  /** Build the nova instances tree under <dir>/instances (DISKS.md). */
  disks?: boolean;
  /** br-int's flows as neutron's agent writes them for this firewall driver. Default iptables_hybrid. */
  firewall?: FirewallDriver;
  /** Keep the lab after this process exits (the CLI's `up`). Default: torn down on exit/SIGINT/SIGTERM. */
  persist?: boolean;
  /** config.yaml's `host` (cluster.ts names node 2 `<cluster prefix>-node2`). Default `<prefix>-node1`. */
  host?: string;
  /** libvirt's test driver (default), or a real libvirtd with KVM guests (kvm.ts, KVM.md). */
  libvirt?: LibvirtDriver;
  /** KVM: another node's libvirtd dir to copy the qemu capabilities cache from (cluster.ts). */
  kvmCapsFrom?: string;
  /** A monitoring namespace (nagios4, nsca, icinga2) this node sends to (MONITORING.md). */
  monitoring?: boolean;
  /** Dual stack: every instance also gets fd6c:6d70::<N+1>/128 and its /128 route in the link namespace. */
  ipv6?: boolean;
}

const ECHO_IGNORE = 'net.ipv4.icmp_echo_ignore_all';
const ECHO_IGNORE6 = 'net.ipv6.icmp.echo_ignore_all';
const LINK_IFACE = 'to-br-int';
const LINK_PORT = 'to-ns-link';

// ---- ip command lines ------------------------------------------------------------------------

/** Node side of one instance: the tap and its veth peer, created straight into the instance's namespace. */
function tapLines(i: LabInstance): string[] {
  const tapMac = identity(i.index).tapMac;
  return [
    `link add ${i.tap} address ${tapMac} type veth peer name eth0 address ${i.mac} netns ${i.ns}`,
    // No IPv6 link-local addresses: the lab then sends no RS/DAD/MLD chatter at all.
    `link set ${i.tap} addrgenmode none`,
    `link set ${i.tap} up`,
  ];
}

/** The instance's host routes in the link namespace: its /32, and its /128 when it has IPv6. */
const routeLines = (verb: 'add' | 'replace' | 'del', env: LabEnv, i: LabInstance): string[] => [
  `route ${verb} ${i.ip}/32 dev ${env.linkIface} scope link`,
  ...(i.ip6 ? [`route ${verb} ${i.ip6}/128 dev ${env.linkIface}`] : []),
];
/** Forget the link namespace's ARP (and NDP) entries for an instance: one left FAILED would delay the next ping by an ARP retransmit (~1 s). */
const forgetNeighbour = (env: LabEnv, i: LabInstance): string[] => [i.ip, i.ip6].filter(Boolean).map((ip) => `neigh flush to ${ip} dev ${env.linkIface}`);

/** drop-icmp: the instance ignores echo requests, over IPv4 and IPv6 (per-netns sysctls). */
function setEchoIgnore(i: LabInstance, value: 0 | 1): void {
  nsSysctl(i.ns, ECHO_IGNORE, value);
  if (i.ip6) nsSysctl(i.ns, ECHO_IGNORE6, value);
}

/** Instance side; `replace` makes it idempotent for heal. A dead instance keeps eth0 up (so the tap keeps carrier) but has no address. */
function instanceLines(i: LabInstance, verb: 'add' | 'replace'): string[] {
  const lines = ['link set lo up', 'link set eth0 addrgenmode none', 'link set eth0 up'];
  if (i.fault === 'dead') return lines;
  // nodad: the address is usable at once (the lab has no one to collide with but the faults it makes on purpose).
  const v6 = i.ip6 ? [`address ${verb} ${i.ip6}/128 dev eth0 nodad`, `route ${verb} ${GATEWAY_IP6} dev eth0`, `route ${verb} ::/0 via ${GATEWAY_IP6}`] : [];
  return [...lines, `address ${verb} ${i.ip}/32 dev eth0`, `route ${verb} ${GATEWAY_IP} dev eth0`, `route ${verb} default via ${GATEWAY_IP}`, ...v6];
}

/** The tap's name while the port-error fault hides it from OVS ("gone" + port[:11], 15 chars). */
const parkedTap = (i: LabInstance): string => `gone${i.portId.slice(0, 11)}`;

const portOf = (i: LabInstance): InstancePort => ({ tap: i.tap, portId: i.portId, mac: i.mac, vmUuid: i.uuid });

function newInstance(prefix: string, index: number, fault: Fault | null, ipv6 = false): LabInstance {
  const id = identity(index);
  return {
    index, uuid: id.uuid, name: id.name, portId: id.portId, mac: id.mac, tap: id.tap, ip: id.ip, ...(ipv6 ? { ip6: instanceIp6(index) } : {}),
    ns: `${prefix}-vm${index}`, fault,
  };
}

/**
 * The port-error fault: OVSDB has the port, but the device it names does not exist, as when a
 * tap vanished under it. The tap is renamed away, then the port is (re)added: vswitchd records
 * error "could not open network device tap... (No such device)" and ofport -1. (Renaming or
 * deleting a device already in the userspace datapath does not do it: vswitchd keeps its port.)
 */
function breakPort(env: LabEnv, i: LabInstance): void {
  ipBatch([`link set ${i.tap} down`, `link set ${i.tap} name ${parkedTap(i)}`], env.nodeNs);
  vsctl(env.ovsDb, ['--if-exists', 'del-port', BRIDGE, i.tap]);
  vsctl(env.ovsDb, plugArgs(portOf(i)), true);
}

/**
 * Bring up instances whose node and link namespaces (and OVS) already exist:
 * 3 + N `ip` processes and one ovs-vsctl for all their ports (plus `extraPorts`, plugged bare).
 */
function createInstances(env: LabEnv, list: LabInstance[], extraPorts: string[] = []): void {
  ipBatch(list.map((i) => `netns add ${i.ns}`));
  ipBatch(list.flatMap(tapLines), env.nodeNs);
  ipBatch(list.filter((i) => i.fault !== 'no-route').flatMap((i) => routeLines('add', env, i)), env.linkNs);
  for (const i of list) {
    ipBatch(instanceLines(i, 'add'), i.ns);
    if (i.fault === 'drop-icmp') setEchoIgnore(i, 1);
  }
  const plugged = list.filter((i) => i.fault !== 'no-port' && i.fault !== 'port-error');
  plugPorts(env.ovsDb, plugged.map(portOf), extraPorts);
  for (const i of list) if (i.fault === 'port-error') breakPort(env, i);
}

/** The node namespace with its OVS and br-int, and the link namespace joined to br-int by a veth pair. */
function createNode(env: LabEnv): void {
  ipBatch([`netns add ${env.nodeNs}`, `netns add ${env.linkNs}`]);
  ipBatch([
    'link set lo up',
    `link add ${env.linkPort} type veth peer name ${env.linkIface} netns ${env.linkNs}`,
    `link set ${env.linkPort} addrgenmode none`,
    `link set ${env.linkPort} up`,
  ], env.nodeNs);
  // lo up; no default route; everything in the lab range that has no /32 is unreachable.
  ipBatch([
    'link set lo up',
    `link set ${env.linkIface} addrgenmode none`,
    `link set ${env.linkIface} up`,
    `address add ${GATEWAY_IP}/32 dev ${env.linkIface}`,
    `route add unreachable ${LAB_NET}`,
    // IPv6 only inside the lab: the ULA gateway address and its own safety net (no default route either).
    ...(env.ipv6 ? [`address add ${GATEWAY_IP6}/128 dev ${env.linkIface} nodad`, `route add unreachable ${LAB_NET6}`] : []),
  ], env.linkNs);
  env.ovsPids = startOvs(env.nodeNs, env.dir).pids;
}

/** Rewrite lab.json, inventory.yaml and the libvirt node file from `env`. */
export function saveLab(env: LabEnv): void {
  save(env);
}

function save(env: LabEnv): void {
  writeLabFiles(env, readLabRecord(env.prefix)?.ownerPid ?? null);
}

function find(env: LabEnv, index: number): LabInstance {
  const i = env.instances.find((x) => x.index === index);
  if (!i) throw new Error(`lab ${env.prefix} has no instance ${index}`);
  return i;
}

// ---- API --------------------------------------------------------------------------------------

export function labUp(opts: LabUpOptions): LabEnv {
  const unavailable = labUnavailableReason();
  if (unavailable) throw new Error(`lab unavailable: ${unavailable}`);
  const n = opts.instances;
  if (!Number.isInteger(n) || n < 0 || n > MAX_INSTANCES) throw new Error(`instances must be 0..${MAX_INSTANCES}, got ${n}`);
  const faults = opts.faults ?? {};
  for (const [k, f] of Object.entries(faults)) {
    if (!(Number(k) >= 1 && Number(k) <= n)) throw new Error(`fault on instance ${k}, but the lab has instances 1..${n}`);
    if (!isLabFault(f)) throw new Error(`unknown fault ${JSON.stringify(f)} (want ${LAB_FAULTS.join(', ')})`);
  }
  const builtIn = (k: number): Fault | null => (BUILT_IN_FAULTS.includes(faults[k] as Fault) ? (faults[k] as Fault) : null);
  const firewall = opts.firewall ?? 'iptables_hybrid';
  if (!isFirewallDriver(firewall)) throw new Error(`unknown firewall driver ${JSON.stringify(firewall)} (want ${FIREWALL_DRIVERS.join(', ')})`);
  const libvirt = opts.libvirt ?? 'test';
  if (!LIBVIRT_DRIVERS.includes(libvirt)) throw new Error(`unknown libvirt driver ${JSON.stringify(libvirt)} (want ${LIBVIRT_DRIVERS.join(', ')})`);
  if (libvirt === 'kvm') {
    const why = kvmUnavailableReason();
    if (why) throw new Error(`--libvirt kvm unavailable: ${why}`);
    if (n > MAX_KVM_INSTANCES) throw new Error(`--libvirt kvm runs a real guest per instance: at most ${MAX_KVM_INSTANCES}, got ${n}`);
  }
  const prefix = assertPrefix(opts.prefix ?? uniquePrefix());
  const dir = labDir(prefix);
  if (listNamespaces().some((ns) => ns.startsWith(`${prefix}-`)) || existsDir(dir)) {
    throw new Error(`lab ${prefix} already exists (npm run lab -- down ${prefix})`);
  }

  const env: LabEnv = {
    prefix,
    dir,
    nodeNs: `${prefix}-node`,
    linkNs: `${prefix}-link`,
    linkIface: LINK_IFACE,
    linkPort: LINK_PORT,
    bridge: BRIDGE,
    ovsDb: ovsDbOf(dir),
    ovsPids: { ovsdbServer: 0, ovsVswitchd: 0 }, // known once the daemons run
    instances: Array.from({ length: n }, (_, k) => newInstance(prefix, k + 1, builtIn(k + 1), opts.ipv6)),
    inventoryFile: join(dir, 'inventory.yaml'),
    configFile: join(dir, 'config.yaml'),
    ocoDir: join(dir, 'oco'),
    stateDir: join(dir, 'state'),
    lockDir: join(dir, 'lock'),
    firewall,
    ovsOrphans: [],
    bgp: null,
    disks: null,
    addonFaults: [],
    kvm: null,
    ...(opts.ipv6 ? { ipv6: true } : {}),
    ...(opts.host ? { host: opts.host } : {}),
  };
  // Register teardown before creating anything, so a crash half-way still cleans up (the
  // daemons' own pid files cover the time before lab.json exists).
  if (!opts.persist) teardownOnExit(prefix, labDown);
  try {
    for (const d of [env.dir, env.stateDir, env.lockDir, env.ocoDir]) mkdirSync(d, { recursive: true });
    createNode(env);
    if (libvirt === 'kvm') {
      env.kvm = startLibvirtd({ ns: env.nodeNs, hostname: env.host ?? `${prefix}-node1`, dir: join(dir, 'libvirtd'), capsFrom: opts.kvmCapsFrom });
    }
    createInstances(env, env.instances, [env.linkPort]);
    syncFlows(env);
    addonsUp(env, { bgp: opts.bgp, disks: opts.disks });
    if (env.kvm) waitLibvirtd(env.kvm); // before the first save defines the guests
    if (opts.monitoring) labMonitoringUp([env]);
    for (const [k, f] of Object.entries(faults)) if (!BUILT_IN_FAULTS.includes(f as Fault)) injectFault(env, Number(k), f);
    writeLabFiles(env, opts.persist ? null : process.pid);
    writeConfig(env);
  } catch (err) {
    labDown(prefix);
    throw err;
  }
  return env;
}

/** Read a lab's lab.json; without a prefix, the CLI's current lab. */
export function loadLab(prefix?: string): LabEnv {
  const p = prefix ?? readCurrent();
  if (!p) throw new Error('no current lab (run: npm run lab -- up)');
  const rec = readLabRecord(p);
  if (!rec) throw new Error(`no lab.json for ${p} (${labFile(p)})`);
  const { ownerPid: _owner, ...env } = rec;
  return env;
}

/** A field of the lab's lab.json; undefined when it is missing or unreadable (teardown must not throw). */
function recorded<K extends keyof LabRecord>(prefix: string, key: K): LabRecord[K] | undefined {
  try {
    return readLabRecord(prefix)?.[key];
  } catch {
    return undefined;
  }
}

/** A cluster's other nodes as node 1's lab.json recorded them. */
const recordedOtherNodes = (prefix: string): string[] => (recorded(prefix, 'otherNodes') ?? []).filter((p) => PREFIX_RE.test(p) && p !== prefix);
/** The OVS daemons' PIDs (none if unknown). */
const recordedPids = (prefix: string): Partial<OvsPids> => recorded(prefix, 'ovsPids') ?? {};
/** The BGP record (addonsDown falls back to <dir>/bgp/bgp.json). */
const recordedBgp = (prefix: string): BgpLab | null => recorded(prefix, 'bgp') ?? null;
/** The node's libvirtd: lab.json's record, else the one it wrote when it started. */
const recordedLibvirtd = (prefix: string): KvmNode | null => recorded(prefix, 'kvm') ?? readLibvirtdRecord(join(labDir(prefix), 'libvirtd'));

/**
 * Stop the lab's BGP, monitoring, libvirtd (and its guests) and OVS daemons (by their recorded
 * PIDs), then remove its namespaces (the veths and br-int go with them) and its dir. Never
 * throws: it runs in teardown.
 */
export function labDown(env: LabEnv | string): void {
  const prefix = typeof env === 'string' ? env : env.prefix;
  assertPrefix(prefix);
  // A cluster's other nodes first (their taps may hold veths of this node's instance namespaces).
  for (const other of typeof env === 'string' ? recordedOtherNodes(prefix) : (env.otherNodes ?? [])) labDown(other);
  // The daemons first: a namespace lives on while a process is inside it.
  addonsDown(labDir(prefix), typeof env === 'string' ? recordedBgp(prefix) : env.bgp);
  const kvm = typeof env === 'string' ? recordedLibvirtd(prefix) : (env.kvm ?? recordedLibvirtd(prefix));
  if (kvm) stopLibvirtd(kvm);
  labMonitoringDown(prefix, labDir(prefix), typeof env === 'string' ? null : env.monitoring);
  stopOvs(labDir(prefix), typeof env === 'string' ? recordedPids(prefix) : env.ovsPids);
  const mine = () => listNamespaces().filter((ns) => ns.startsWith(`${prefix}-`));
  deleteNamespaces(mine());
  const left = mine();
  if (left.length) deleteNamespaces(left);
  rmSync(labDir(prefix), { recursive: true, force: true });
  if (readCurrent() === prefix) setCurrent(null);
  releaseOnExit(prefix);
  const still = mine();
  if (still.length) process.stderr.write(`lab ${prefix}: could not remove namespaces ${still.join(' ')}\n`);
}

export function injectFault(env: LabEnv, index: number, fault: LabFault): void {
  if (!isLabFault(fault)) throw new Error(`unknown fault ${JSON.stringify(fault)} (want ${LAB_FAULTS.join(', ')})`);
  if (isAddonFault(fault)) {
    injectAddonFault(env, index, fault);
    save(env);
    return;
  }
  if (fault === 'domain-left-on-source') {
    leftDomain(index); // validates the number
    if (!(env.leftDomains ??= []).includes(index)) env.leftDomains.push(index);
    save(env); // defines it (libvirt.ts syncLibvirt)
    return;
  }
  if (isOvsOrphanFault(fault)) {
    const orphans = (env.ovsOrphans ??= []);
    if (orphans.some((o) => o.index === index && o.fault === fault)) return;
    if (fault === 'orphan-port') addOrphanPort(env, index);
    orphans.push({ index, fault });
    syncFlows(env);
    save(env);
    return;
  }
  const i = find(env, index);
  if (i.fault === fault) return;
  if (i.fault) healNetwork(env, i); // one network fault at a time per instance
  switch (fault) {
    case 'no-route':
      ipBatch(routeLines('del', env, i), env.linkNs);
      break;
    case 'drop-icmp':
      setEchoIgnore(i, 1);
      break;
    case 'dead':
      // Removing the last address also drops the instance's routes (the kernel does that), and
      // with no address it answers neither ARP nor ICMP. eth0 stays up, so the tap keeps carrier.
      ipBatch(['address flush dev eth0'], i.ns);
      ipBatch(forgetNeighbour(env, i), env.linkNs);
      break;
    case 'no-port':
      // The tap stays, up, in the node namespace; only its OVS port is gone.
      vsctl(env.ovsDb, ['del-port', BRIDGE, i.tap]);
      break;
    case 'port-error':
      breakPort(env, i);
      break;
    case 'no-flows':
      break; // syncFlows leaves the port out
    case 'stale-ofport-flow':
      replugWithNewOfport(env, i, plugArgs(portOf(i)));
      break;
    case 'no-namespace':
      removeNamespace(env, i);
      break;
  }
  i.fault = fault;
  syncFlows(env);
  save(env);
}

/**
 * Restore an instance to healthy, whatever state it is in, and clear every BGP/disk fault tied
 * to `index` (for orphan-bgp/orphan-disk, the index they were injected with).
 */
export function heal(env: LabEnv, index: number): void {
  const i = env.instances.find((x) => x.index === index);
  const numbered = [...(env.addonFaults ?? []), ...(env.ovsOrphans ?? []), ...(env.leftDomains ?? []).map((n) => ({ index: n }))];
  if (!i && !numbered.some((r) => r.index === index)) throw new Error(`lab ${env.prefix} has no instance ${index} and no fault with that index`);
  healAddonFaults(env, index);
  healOvsOrphans(env, index);
  healLeftDomains(env, index);
  if (i) healNetwork(env, i);
  syncFlows(env);
  save(env); // also when `index` only named an orphan
}

/** Undo the instance's network fault (idempotent: re-applies the healthy state). */
function healNetwork(env: LabEnv, i: LabInstance): void {
  const healthy = { ...i, fault: null };
  if (i.fault === 'no-namespace') restoreNamespace(env, i);
  if (i.fault === 'port-error') ipBatch([`link set ${parkedTap(i)} name ${i.tap}`, `link set ${i.tap} up`], env.nodeNs);
  ipBatch([...routeLines('replace', env, healthy), ...forgetNeighbour(env, i)], env.linkNs);
  ipBatch(instanceLines(healthy, 'replace'), i.ns);
  setEchoIgnore(i, 0);
  // Idempotent: re-plugs a deleted port, and the reconfiguration it causes makes vswitchd
  // retry (and now open) a port that was in error. ovs-vsctl returns once that is done.
  vsctl(env.ovsDb, plugArgs(portOf(i)));
  i.fault = null;
  i.staleOfport = null; // the port keeps its new ofport; syncFlows drops the old one's flows
}

/** Remove the orphan ports and flows numbered `index` (all with 'all'). */
function healOvsOrphans(env: LabEnv, index: number | 'all'): void {
  const orphans = env.ovsOrphans ?? [];
  for (const o of orphans) if ((index === 'all' || o.index === index) && o.fault === 'orphan-port') removeOrphanPort(env, o.index);
  env.ovsOrphans = orphans.filter((o) => index !== 'all' && o.index !== index);
}

/** Undefine the domain-left-on-source domains numbered `index` (all with 'all'). */
function healLeftDomains(env: LabEnv, index: number | 'all'): void {
  const left = env.leftDomains ?? [];
  for (const n of left) if (index === 'all' || n === index) forgetLeftDomain(env, n);
  env.leftDomains = left.filter((n) => index !== 'all' && n !== index);
}

/** Heal every instance and clear every BGP/disk fault. */
export function healAll(env: LabEnv): void {
  healAddonFaults(env, 'all');
  healOvsOrphans(env, 'all');
  healLeftDomains(env, 'all');
  for (const i of env.instances) if (i.fault) healNetwork(env, i);
  syncFlows(env);
  save(env);
}

/** A new instance appears on the node (index = highest + 1); inventory.yaml and lab.json are rewritten. */
export function addInstance(env: LabEnv): LabInstance {
  // Indexes of instances that migrated away stay taken: their namespaces still exist.
  const index = Math.max(0, ...env.instances.map((i) => i.index), ...(env.migratedAway ?? []).map((m) => m.instance.index)) + 1;
  const inst = newInstance(env.prefix, index, null, env.ipv6);
  createInstances(env, [inst]);
  env.instances.push(inst);
  syncFlows(env);
  addonsAddInstance(env, inst);
  save(env);
  return inst;
}

function existsDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Remove every leftover lab: OVS daemons, namespaces and /tmp dirs whose names start with
 * `match` ("lmp"). Labs whose owning process is still alive are not leftovers and are kept.
 * Returns what it removed.
 */
export function sweep(match: string = LAB_PREFIX): string[] {
  if (!match.startsWith(LAB_PREFIX)) throw new Error(`sweep only removes ${LAB_PREFIX}* names`);
  const ownerOf = (name: string) => name.split('-')[0];
  const live = (prefix: string) => {
    try {
      return ownerAlive(readLabRecord(prefix)?.ownerPid ?? null);
    } catch {
      return false; // not a lab prefix, or unreadable lab.json: a leftover
    }
  };
  const removed: string[] = [];
  const namespaces = listNamespaces().filter((ns) => ns.startsWith(match) && !live(ownerOf(ns)));
  const dirs = readdirSync(LAB_ROOT).filter((name) => name.startsWith(match) && existsDir(join(LAB_ROOT, name)) && !live(name));
  // Daemons first: they keep their namespace alive and write into their dir.
  for (const prefix of new Set([...namespaces.map(ownerOf), ...dirs])) {
    if (!PREFIX_RE.test(prefix)) continue;
    addonsDown(labDir(prefix), recordedBgp(prefix));
    const kvm = recordedLibvirtd(prefix);
    if (kvm) stopLibvirtd(kvm);
    labMonitoringDown(prefix, labDir(prefix));
    stopOvs(labDir(prefix), recordedPids(prefix));
  }
  deleteNamespaces(namespaces);
  const remaining = new Set(listNamespaces());
  removed.push(...namespaces.filter((ns) => !remaining.has(ns)));
  for (const name of dirs) {
    const path = join(LAB_ROOT, name);
    rmSync(path, { recursive: true, force: true });
    removed.push(path);
  }
  const current = readCurrent();
  if (current && !existsDir(labDir(current))) setCurrent(null);
  return removed;
}
