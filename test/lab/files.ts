/**
 * The files a lab writes into its dir: lab.json (the lab's own record), inventory.yaml and
 * config.yaml (what lm-probe reads); saving also brings libvirt in step (libvirt.ts). Writes go
 * through a temp file and rename, so a reader (a probe run in parallel with addInstance) never
 * sees a half-written file.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import type { LabEnv } from './lab.js';
import type { BgpLab } from './bgp.js';
import { syncLibvirt } from './libvirt.js';

export const LAB_ROOT = '/tmp';
/** The CLI's "current" lab: a file holding its prefix. */
export const CURRENT_FILE = join(LAB_ROOT, 'lmp-lab-current');
/** Prefixes the lab accepts: they become namespace names and a dir under /tmp, and sweep finds them by "lmp". */
export const PREFIX_RE = /^lmp[a-z0-9]{1,16}$/;

export function assertPrefix(prefix: string): string {
  if (!PREFIX_RE.test(prefix)) throw new Error(`invalid lab prefix ${JSON.stringify(prefix)} (want lmp + 1-16 of [a-z0-9])`);
  return prefix;
}

export const labDir = (prefix: string): string => join(LAB_ROOT, assertPrefix(prefix));
export const labFile = (prefix: string): string => join(labDir(prefix), 'lab.json');

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** What lab.json holds: the LabEnv plus the PID whose exit tears the lab down (null: kept). */
export interface LabRecord extends LabEnv {
  ownerPid: number | null;
}

export function writeLabFiles(env: LabEnv, ownerPid: number | null): void {
  const record: LabRecord = { ...env, ownerPid };
  writeAtomic(join(env.dir, 'lab.json'), JSON.stringify(record, null, 2) + '\n');
  writeAtomic(env.inventoryFile, inventoryYaml(env));
  syncLibvirt(env); // the domains libvirt serves (test driver node file, or the node's KVM guests), with their nova metadata
}

/** lm-probe's inventory file format; `ips` as a flow list, as in the documented example. */
export function inventoryYaml(env: LabEnv): string {
  const doc = new YAML.Document({
    instances: env.instances.map((i) => ({
      uuid: i.uuid,
      name: i.name,
      state: 'running',
      ports: [{ id: i.portId, mac: i.mac, tap: i.tap, ips: i.ip6 ? [i.ip, i.ip6] : [i.ip] }],
    })),
  });
  YAML.visit(doc, {
    Pair(_, pair) {
      if (YAML.isScalar(pair.key) && pair.key.value === 'ips' && YAML.isSeq(pair.value)) pair.value.flow = true;
    },
  });
  return doc.toString({ flowCollectionPadding: false });
}

export function writeConfig(env: LabEnv): void {
  const config = {
    host: env.host ?? `${env.prefix}-node1`,
    state_dir: env.stateDir,
    lock_dir: env.lockDir,
    // Like a real node: instances from libvirt (nova metadata) and OVS. The inventory file is
    // there for tests that want it; cache and token stay inside the lab's dir.
    inventory: {
      sources: ['libvirt', 'ovs'],
      libvirt: { uri: env.kvm?.uri ?? `test://${join(env.dir, 'libvirt', 'node.xml')}` },
      openstack: { token_cache: join(env.dir, 'cache', 'token.json') },
      file: env.inventoryFile,
      cache: { path: join(env.dir, 'cache', 'inventory.json') },
    },
    // The lab's own OVS: its db socket, and its rundir (<dir>/ovs) where ovs-ofctl finds br-int.mgmt.
    ovs: { db: env.ovsDb, rundir: join(env.dir, 'ovs') },
    probes: {
      // arping for an IP with no route goes out of the link namespace's one leg into br-int.
      'instance-routed': { ping_namespace: env.linkNs, link_namespace: env.linkNs, arp_interface: env.linkIface, timeout: 500, retries: 1 },
      // The node's BGP speaker (bgp.ts): its control sockets are in the lab dir, GoBGP's API on the lab address in ns-link.
      // A node without one has nothing to audit (`run` would say UNKNOWN "no BGP daemon").
      'bgp-announcements': env.bgp ? bgpProbeConfig(env.bgp) : { enabled: false },
      // vswitchd and the taps live in the node namespace; the link namespace must exist.
      'ovs-ports': { namespace: env.nodeNs, namespaces: [env.linkNs] },
      // The node's nova instances tree (up --disks); a lab without one has nothing to check (off in `run`).
      'orphaned-disks': { enabled: !!env.disks, instances_path: env.disks?.root ?? join(env.dir, 'instances') },
    },
    oco: { dir: env.ocoDir },
    // `lm-probe metrics` writes here, never to the host's node_exporter directory.
    metrics: { textfile: join(env.dir, 'metrics', 'lm-probe.prom'), log: join(env.dir, 'metrics', 'migrations.jsonl') },
  };
  writeAtomic(env.configFile, YAML.stringify(config));
}

/** bgp-announcements' section for a lab's speaker: `daemon: auto` finds it among the three. */
export function bgpProbeConfig(bgp: BgpLab): Record<string, unknown> {
  return {
    namespace: bgp.speakerNs,
    bird_socket: join(bgp.dir, 'bird', 'bird.ctl'),
    frr_vty_dir: join(bgp.dir, 'frr'),
    gobgp_api: `${bgp.speakerAddr}:${bgp.apiPort ?? 50051}`,
  };
}

export function readLabRecord(prefix: string): LabRecord | null {
  const f = labFile(prefix);
  if (!existsSync(f)) return null;
  return JSON.parse(readFileSync(f, 'utf8')) as LabRecord;
}

export function readCurrent(): string | null {
  if (!existsSync(CURRENT_FILE)) return null;
  const p = readFileSync(CURRENT_FILE, 'utf8').trim();
  return PREFIX_RE.test(p) ? p : null;
}

export function setCurrent(prefix: string | null): void {
  if (prefix === null) rmSync(CURRENT_FILE, { force: true });
  else writeAtomic(CURRENT_FILE, prefix + '\n');
}
