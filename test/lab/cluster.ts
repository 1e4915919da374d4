/**
 * Two lab nodes side by side: what a live migration needs. Each node is a whole lab (lab.ts):
 * its own node namespace with OVS and br-int, its own link namespace with the /32 routes, its own
 * libvirt node.xml, disk tree, BGP speaker and config.yaml. Both speakers peer with one router,
 * node 1's `<prefix>-rtr` (BGP.md). Node 1 is the lab
 * `<prefix>` and holds the instances; node 2 is the lab `<prefix>n2` (namespaces
 * `<prefix>n2-node`, `<prefix>n2-link`, ..., dir /tmp/<prefix>n2), empty until `migrate` moves
 * instances to it. Their config.yaml say `host: <prefix>-node1` / `<prefix>-node2`.
 *
 * Node 1's lab.json lists node 2 (`otherNodes`), so labDown(<prefix>) removes both.
 *
 * libvirt: with KVM (the default for two nodes where /dev/kvm works, kvm.ts), each node namespace
 * runs its own libvirtd and the two are joined by the migration link, over which `migrate` sends
 * a real live migration:
 *
 *   <prefix>-node  mig 198.18.253.0/31  ── veth ──  mig 198.18.253.1/31  <prefix>n2-node
 */
import { labDown, labUp, loadLab, saveLab, type LabEnv, type LabUpOptions, type LibvirtDriver } from './lab.js';
import { assertPrefix, readCurrent, writeConfig } from './files.js';
import { addonsBgpUp } from './addons.js';
import { ipBatch, nsExec, uniquePrefix } from './netns.js';
import { kvmUnavailableReason } from './kvm.js';
import { labMonitoringUp } from './monitoring.js';

export interface Cluster {
  /** Node 1's prefix, which names the cluster. */
  prefix: string;
  /** nodes[0] is node 1 (the lab `<prefix>`), nodes[1] node 2 (`<prefix>n2`), if any. */
  nodes: LabEnv[];
}

export interface ClusterUpOptions extends Omit<LabUpOptions, 'libvirt' | 'kvmCapsFrom'> {
  /** 1 (default: a plain lab) or 2. */
  nodes?: number;
  /** 'auto' (the default with two nodes): KVM where it works, else the test driver. One node: 'test'. */
  libvirt?: LibvirtDriver | 'auto';
}

const MIGRATION_IFACE = 'mig';
const MIGRATION_ADDRS = ['198.18.253.0', '198.18.253.1'];

/** The libvirt driver `clusterUp` uses for these options. */
function clusterLibvirt(opts: Pick<ClusterUpOptions, 'nodes' | 'libvirt'>): LibvirtDriver {
  const want = opts.libvirt ?? ((opts.nodes ?? 1) === 2 ? 'auto' : 'test');
  return want === 'auto' ? (kvmUnavailableReason() === null ? 'kvm' : 'test') : want;
}

/** The veth between the two node namespaces that carries the migration stream. */
function linkForMigration(node1: LabEnv, node2: LabEnv): void {
  ipBatch([`link add ${MIGRATION_IFACE} netns ${node1.nodeNs} type veth peer name ${MIGRATION_IFACE} netns ${node2.nodeNs}`]);
  [node1, node2].forEach((n, k) => {
    ipBatch([`link set ${MIGRATION_IFACE} addrgenmode none`, `address add ${MIGRATION_ADDRS[k]}/31 dev ${MIGRATION_IFACE}`, `link set ${MIGRATION_IFACE} up`], n.nodeNs);
    n.kvm!.migrationAddr = MIGRATION_ADDRS[k];
  });
}

/**
 * Slow the migration stream leaving this node to `kbit` kbit/s (a tc token bucket on its end of
 * the migration veth), so a test sees a live migration in progress, or one that does not
 * converge; 0 stops it (the link down: memory remaining stays put; netem is not in every
 * kernel); null lifts both. `virsh migrate-setspeed` cannot do this: its floor is 1 MiB/s, and
 * an idle lab guest sends only ~720 KiB (its zero pages travel as markers), under a second.
 */
export function throttleMigration(node: LabEnv, kbit: number | null): void {
  if (kbit === 0) return ipBatch([`link set ${MIGRATION_IFACE} down`], node.nodeNs);
  if (kbit !== null) return void nsExec(node.nodeNs, 'tc', ['qdisc', 'replace', 'dev', MIGRATION_IFACE, 'root', 'tbf', 'rate', `${kbit}kbit`, 'burst', '4kb', 'latency', '400ms']);
  ipBatch([`link set ${MIGRATION_IFACE} up`], node.nodeNs);
  if (nsExec(node.nodeNs, 'tc', ['qdisc', 'show', 'dev', MIGRATION_IFACE]).includes('tbf')) nsExec(node.nodeNs, 'tc', ['qdisc', 'del', 'dev', MIGRATION_IFACE, 'root']);
}

/** The lab prefix of node `n` of the cluster `prefix`. */
export const nodePrefix = (prefix: string, n: number): string => (n === 1 ? prefix : `${prefix}n${n}`);

/**
 * Bring up node 1 with the instances (and faults) asked for, then node 2, empty, with the same
 * optional parts (BGP speaker, disks, firewall driver, libvirt driver). Torn down on exit unless `persist`.
 */
export function clusterUp(opts: ClusterUpOptions): Cluster {
  const count = opts.nodes ?? 1;
  if (count !== 1 && count !== 2) throw new Error(`nodes must be 1 or 2, got ${count}`);
  const prefix = assertPrefix(opts.prefix ?? uniquePrefix());
  if (count === 2) assertPrefix(nodePrefix(prefix, 2)); // before anything exists
  const libvirt = clusterLibvirt(opts);
  const node1 = labUp({ ...opts, prefix, libvirt, monitoring: opts.monitoring && count === 1 }); // two nodes: one for both, below
  if (count === 1) return { prefix, nodes: [node1] };
  try {
    const node2 = labUp({
      instances: 0, prefix: nodePrefix(prefix, 2), host: `${prefix}-node2`,
      disks: opts.disks, firewall: opts.firewall, persist: opts.persist,
      libvirt, kvmCapsFrom: node1.kvm?.dir,
    });
    node1.otherNodes = [node2.prefix];
    if (libvirt === 'kvm') linkForMigration(node1, node2);
    // One monitoring namespace for both nodes, owned by node 1 (MONITORING.md).
    if (opts.monitoring) labMonitoringUp([node1, node2]);
    // Node 2's speaker peers with node 1's router, as both would with their top-of-rack router.
    if (opts.bgp) {
      addonsBgpUp(node2, opts.bgp, node1.bgp!);
      writeConfig(node2); // with its speaker's bgp-announcements section
    }
    saveLab(node1);
    saveLab(node2);
    return { prefix, nodes: [node1, node2] };
  } catch (err) {
    labDown(prefix);
    throw err;
  }
}

/** A cluster (or a single lab) from its lab.json files; without a prefix, the CLI's current lab. */
export function loadCluster(prefix?: string): Cluster {
  const node1 = loadLab(prefix ?? readCurrent() ?? undefined);
  return { prefix: node1.prefix, nodes: [node1, ...(node1.otherNodes ?? []).map((p) => loadLab(p))] };
}

/** Remove every node of the cluster (labDown follows node 1's otherNodes). Never throws. */
export function clusterDown(c: Cluster | string): void {
  labDown(typeof c === 'string' ? c : c.prefix);
}
