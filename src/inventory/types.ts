/**
 * What is hosted on this node, as the probes see it. Gathered once per run and shared.
 * Every source (inventory file now; libvirt, OVS, OpenStack APIs later) fills the same shape,
 * and each fact remembers which source gave it so disagreements can be reported.
 */
export type SourceName = 'file' | 'libvirt' | 'ovs' | 'openstack' | 'cache';

export type InstanceState = 'running' | 'paused' | 'shutoff' | 'crashed' | 'suspended' | 'unknown';

export interface Port {
  /** Neutron port id. */
  id: string;
  mac?: string;
  /** Tap device on the node, e.g. tap83a59a9f-d2. */
  tap?: string;
  ips: string[];
  ofport?: number;
  bridge?: string;
  sources: SourceName[];
}

export interface Instance {
  /** Nova instance UUID (= libvirt domain UUID). */
  uuid: string;
  /** libvirt domain name, e.g. instance-00000001. */
  name?: string;
  state: InstanceState;
  ports: Port[];
  sources: SourceName[];
}

export interface SourceStatus {
  source: SourceName;
  ok: boolean;
  /** One line: "12 instances" or the reason it failed. */
  detail: string;
}

export interface Inventory {
  instances: Instance[];
  sources: SourceStatus[];
  /** Disagreements between sources, reported by probes; the inventory itself does not judge. */
  findings: string[];
}
