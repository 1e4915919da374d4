/**
 * What is hosted on this node, as the probes see it. Gathered once per run and shared.
 * Every source (libvirt, OVS, the OpenStack APIs, the inventory file, the cache) fills the
 * same shape; the merge joins them on instance UUID and port id, and every fact remembers
 * which source gave it (`origin`), so disagreements can be reported.
 */
import type { OvsSnapshot } from '../host/ovs.js';

export type SourceName = 'libvirt' | 'ovs' | 'openstack' | 'file' | 'cache';
export const SOURCE_NAMES: readonly SourceName[] = ['libvirt', 'ovs', 'openstack', 'file', 'cache'];

/** libvirt's domain states (virsh domstate), plus "unknown" for sources that do not say. */
export type InstanceState = 'running' | 'paused' | 'shutoff' | 'crashed' | 'suspended' | 'blocked' | 'shutdown' | 'pmsuspended' | 'unknown';

export interface Port {
  /** Neutron port id (OVS external_ids:iface-id, nova:port@uuid, Neutron's id). May be "" when no source knows it. */
  id: string;
  mac?: string;
  /** Tap device on the node, e.g. tap83a59a9f-d2. */
  tap?: string;
  ips: string[];
  /** OVS: ofport number (-1 or absent when OVS could not attach it). */
  ofport?: number;
  /** OVS: the bridge the interface is on (br-int). */
  bridge?: string;
  /** OVS: Interface.error, when set. */
  ovsError?: string;
  /** OVS: Interface.link_state ("up" / "down"). */
  linkState?: string;
  /** OVS: external_ids:iface-status ("active" / "inactive"). */
  ifaceStatus?: string;
  /** Neutron: port status (ACTIVE, DOWN, BUILD). */
  status?: string;
  /** Neutron: binding:vif_type (ovs, vhostuser, ...). */
  vifType?: string;
  /** Neutron: binding:profile.migrating_to, while a live migration is under way. */
  migratingTo?: string;
  sources: SourceName[];
  /** Which source gave each field (the first in precedence order that had it). */
  origin: Partial<Record<PortField, SourceName>>;
}
export type PortField = Exclude<keyof Port, 'sources' | 'origin' | 'id'>;

export interface Instance {
  /** Nova instance UUID (= libvirt domain UUID). Lower case. */
  uuid: string;
  /** libvirt domain name, instance-%08x (Nova's OS-EXT-SRV-ATTR:instance_name). */
  name?: string;
  /** The user's name for it: nova:name in libvirt metadata, Nova's server name. */
  displayName?: string;
  state: InstanceState;
  /** libvirt's reason for the state ("migrated", "booted", "user", ...). */
  stateReason?: string;
  /** Nova: OS-EXT-SRV-ATTR:host. */
  novaHost?: string;
  /** Nova: status (ACTIVE, MIGRATING, ...), OS-EXT-STS:vm_state and :task_state. */
  novaStatus?: string;
  vmState?: string;
  taskState?: string | null;
  /** Nova: the server's `updated` (ISO 8601): how long a migration or resize state has lasted. */
  novaUpdated?: string;
  flavor?: string;
  /** Project (tenant) id. */
  project?: string;
  /** Disk source paths from the domain XML. */
  disks?: string[];
  ports: Port[];
  sources: SourceName[];
  origin: Partial<Record<InstanceField, SourceName>>;
}
export type InstanceField = Exclude<keyof Instance, 'sources' | 'origin' | 'uuid' | 'ports'>;

/**
 * What one source returns. Instances carry only the facts that source knows (fields it
 * does not know are left undefined); sources and origin are filled by the merge.
 */
export type SourceInstance = Omit<Instance, 'sources' | 'origin' | 'ports' | 'state'> & {
  state?: InstanceState;
  ports: SourcePort[];
};
export type SourcePort = Omit<Port, 'sources' | 'origin' | 'ips'> & { ips?: string[] };

export interface SourceResult {
  instances: SourceInstance[];
  /** Extra raw facts a source has that are not per instance (e.g. OVS interfaces with no vm-uuid). */
  notes?: string[];
  /** The ovs source: everything its one ovs-vsctl read (Inventory.ovs). */
  ovs?: OvsSnapshot;
}

/** A source of "who lives here". gather() throws ProbeError with a one-line reason on failure. */
export interface InventorySource {
  name: SourceName;
  /** False when the source is not set up on this node (no credentials, no file): skipped, not degraded. */
  configured(): boolean;
  gather(opts: { signal?: AbortSignal; timeoutMs: number }): Promise<SourceResult>;
}

export interface SourceStatus {
  source: SourceName;
  /** ok: it answered; failed: it was tried and failed (degraded); skipped: not configured here. */
  state: 'ok' | 'failed' | 'skipped';
  /** One line: "12 instances in 40 ms" or the reason it failed. */
  detail: string;
}

export interface Inventory {
  instances: Instance[];
  sources: SourceStatus[];
  /** Disagreements between sources, reported by probes; the inventory itself does not judge. */
  findings: string[];
  /** Data no probe should trust (a broadcast "instance IP", a duplicate IP or UUID): removed or merged, and said. */
  problems?: string[];
  /** When the cache stood in for a failed source: its age in seconds. */
  cacheAgeS?: number;
  /** The OVSDB as the ovs source read it this run (absent when that source is not used or failed). */
  ovs?: OvsSnapshot;
}
