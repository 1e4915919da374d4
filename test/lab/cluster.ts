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
 */
import { labDown, labUp, loadLab, saveLab, type LabEnv, type LabUpOptions } from './lab.js';
import { assertPrefix, readCurrent } from './files.js';
import { addonsBgpUp } from './addons.js';
import { uniquePrefix } from './netns.js';

export interface Cluster {
  /** Node 1's prefix, which names the cluster. */
  prefix: string;
  /** nodes[0] is node 1 (the lab `<prefix>`), nodes[1] node 2 (`<prefix>n2`), if any. */
  nodes: LabEnv[];
}

export interface ClusterUpOptions extends LabUpOptions {
  /** 1 (default: a plain lab) or 2. */
  nodes?: number;
}

/** The lab prefix of node `n` of the cluster `prefix`. */
export const nodePrefix = (prefix: string, n: number): string => (n === 1 ? prefix : `${prefix}n${n}`);

/**
 * Bring up node 1 with the instances (and faults) asked for, then node 2, empty, with the same
 * optional parts (BGP speaker, disks, firewall driver). Torn down on exit unless `persist`.
 */
export function clusterUp(opts: ClusterUpOptions): Cluster {
  const count = opts.nodes ?? 1;
  if (count !== 1 && count !== 2) throw new Error(`nodes must be 1 or 2, got ${count}`);
  const prefix = assertPrefix(opts.prefix ?? uniquePrefix());
  if (count === 2) assertPrefix(nodePrefix(prefix, 2)); // before anything exists
  const node1 = labUp({ ...opts, prefix });
  if (count === 1) return { prefix, nodes: [node1] };
  try {
    const node2 = labUp({
      instances: 0, prefix: nodePrefix(prefix, 2), host: `${prefix}-node2`,
      disks: opts.disks, firewall: opts.firewall, persist: opts.persist,
    });
    node1.otherNodes = [node2.prefix];
    saveLab(node1);
    // Node 2's speaker peers with node 1's router, as both would with their top-of-rack router.
    if (opts.bgp) {
      addonsBgpUp(node2, opts.bgp, node1.bgp!);
      saveLab(node2);
    }
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
