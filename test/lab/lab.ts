/**
 * The lab node: a fake compute node made of network namespaces, in the routed model where the
 * node's link namespace holds one tap per instance and a /32 route to each instance through it.
 *
 *   <prefix>-link   tap<port[:11]> 198.18.0.1/32 per instance, "198.18.1.N/32 dev tap..." each
 *   <prefix>-vmN    eth0 (the tap's veth peer) 198.18.1.N/32, default via 198.18.0.1
 *
 * Nothing is added to the root namespace except the namespaces themselves, and no lab namespace
 * has a path out of the lab. See README.md for the full picture.
 */
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GATEWAY_IP, LAB_NET, MAX_INSTANCES, identity } from './identity.js';
import {
  LAB_ROOT, assertPrefix, labDir, labFile, readCurrent, readLabRecord, setCurrent, writeConfig, writeLabFiles,
} from './files.js';
import { LAB_PREFIX, deleteNamespaces, ipBatch, labUnavailableReason, listNamespaces, nsSysctl, uniquePrefix } from './netns.js';
import { ownerAlive, releaseOnExit, teardownOnExit } from './cleanup.js';

export type Fault = 'no-route' | 'drop-icmp' | 'dead';
export const FAULTS: readonly Fault[] = ['no-route', 'drop-icmp', 'dead'];
export const isFault = (v: unknown): v is Fault => FAULTS.includes(v as Fault);

export interface LabInstance {
  index: number;
  uuid: string;
  name: string;
  portId: string;
  mac: string;
  tap: string;
  ip: string;
  ns: string;
  fault: Fault | null;
}

export interface LabEnv {
  prefix: string;
  dir: string;
  linkNs: string;
  instances: LabInstance[];
  inventoryFile: string;
  configFile: string;
  ocoDir: string;
  stateDir: string;
  lockDir: string;
}

export interface LabUpOptions {
  instances: number;
  faults?: Record<number, Fault>;
  prefix?: string;
  /** Keep the lab after this process exits (the CLI's `up`). Default: torn down on exit/SIGINT/SIGTERM. */
  persist?: boolean;
}

const ECHO_IGNORE = 'net.ipv4.icmp_echo_ignore_all';

// ---- ip command lines ------------------------------------------------------------------------

/** Link-namespace side of one instance: the veth pair (peer created straight into the instance's namespace), tap address, route. */
function linkSideLines(i: LabInstance): string[] {
  const tapMac = `fe${i.mac.slice(2)}`;
  const lines = [
    `link add ${i.tap} address ${tapMac} type veth peer name eth0 address ${i.mac} netns ${i.ns}`,
    // No IPv6 link-local addresses: the lab then sends no RS/DAD/MLD chatter at all.
    `link set ${i.tap} addrgenmode none`,
    `link set ${i.tap} up`,
    `address add ${GATEWAY_IP}/32 dev ${i.tap}`,
  ];
  if (i.fault !== 'no-route') lines.push(routeLine('add', i));
  return lines;
}

const routeLine = (verb: 'add' | 'replace' | 'del', i: LabInstance): string => `route ${verb} ${i.ip}/32 dev ${i.tap} scope link`;

/** Instance side; `replace` makes it idempotent for heal. A dead instance keeps eth0 up (so the tap keeps carrier and its route) but has no address. */
function instanceLines(i: LabInstance, verb: 'add' | 'replace'): string[] {
  const lines = ['link set lo up', 'link set eth0 addrgenmode none', 'link set eth0 up'];
  if (i.fault === 'dead') return lines;
  return [...lines, `address ${verb} ${i.ip}/32 dev eth0`, `route ${verb} ${GATEWAY_IP} dev eth0`, `route ${verb} default via ${GATEWAY_IP}`];
}

function newInstance(prefix: string, index: number, fault: Fault | null): LabInstance {
  const id = identity(index);
  return { index, uuid: id.uuid, name: id.name, portId: id.portId, mac: id.mac, tap: id.tap, ip: id.ip, ns: `${prefix}-vm${index}`, fault };
}

/** Bring up instances whose link namespace already exists: 1 + 1 + N `ip` processes in all. */
function createInstances(env: LabEnv, list: LabInstance[]): void {
  ipBatch(list.map((i) => `netns add ${i.ns}`));
  ipBatch(list.flatMap(linkSideLines), env.linkNs);
  for (const i of list) {
    ipBatch(instanceLines(i, 'add'), i.ns);
    if (i.fault === 'drop-icmp') nsSysctl(i.ns, ECHO_IGNORE, 1);
  }
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
    if (!isFault(f)) throw new Error(`unknown fault ${JSON.stringify(f)} (want ${FAULTS.join(', ')})`);
  }
  const prefix = assertPrefix(opts.prefix ?? uniquePrefix());
  const dir = labDir(prefix);
  if (listNamespaces().some((ns) => ns.startsWith(`${prefix}-`)) || existsDir(dir)) {
    throw new Error(`lab ${prefix} already exists (npm run lab -- down ${prefix})`);
  }

  const env: LabEnv = {
    prefix,
    dir,
    linkNs: `${prefix}-link`,
    instances: Array.from({ length: n }, (_, k) => newInstance(prefix, k + 1, faults[k + 1] ?? null)),
    inventoryFile: join(dir, 'inventory.yaml'),
    configFile: join(dir, 'config.yaml'),
    ocoDir: join(dir, 'oco'),
    stateDir: join(dir, 'state'),
    lockDir: join(dir, 'lock'),
  };
  // Register teardown before creating anything, so a crash half-way still cleans up.
  if (!opts.persist) teardownOnExit(prefix, labDown);
  try {
    for (const d of [env.dir, env.stateDir, env.lockDir, env.ocoDir]) mkdirSync(d, { recursive: true });
    ipBatch([`netns add ${env.linkNs}`]);
    // lo up; no default route; everything in the lab range that has no /32 is unreachable.
    ipBatch(['link set lo up', `route add unreachable ${LAB_NET}`], env.linkNs);
    createInstances(env, env.instances);
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

/** Remove a lab's namespaces (their veths go with them) and its dir. Never throws: it runs in teardown. */
export function labDown(env: LabEnv | string): void {
  const prefix = typeof env === 'string' ? env : env.prefix;
  assertPrefix(prefix);
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

export function injectFault(env: LabEnv, index: number, fault: Fault): void {
  if (!isFault(fault)) throw new Error(`unknown fault ${JSON.stringify(fault)} (want ${FAULTS.join(', ')})`);
  const i = find(env, index);
  if (i.fault === fault) return;
  if (i.fault) heal(env, index); // one fault at a time per instance
  switch (fault) {
    case 'no-route':
      ipBatch([routeLine('del', i)], env.linkNs);
      break;
    case 'drop-icmp':
      nsSysctl(i.ns, ECHO_IGNORE, 1);
      break;
    case 'dead':
      // Removing the last address also drops the instance's routes (the kernel does that), and
      // with no address it answers neither ARP nor ICMP. eth0 stays up, so the tap keeps carrier
      // and its route is present and not "linkdown". Forget the tap's ARP entry for it too.
      ipBatch(['address flush dev eth0'], i.ns);
      ipBatch([`neigh flush dev ${i.tap}`], env.linkNs);
      break;
  }
  i.fault = fault;
  save(env);
}

/** Restore an instance to healthy, whatever state it is in. */
export function heal(env: LabEnv, index: number): void {
  const i = find(env, index);
  const healthy = { ...i, fault: null };
  // Also forget the tap's neighbour entry: one left INCOMPLETE/FAILED by a dead spell would
  // delay the first ping after healing until the next ARP retransmit (about 1 s).
  ipBatch([routeLine('replace', healthy), `neigh flush dev ${i.tap}`], env.linkNs);
  ipBatch(instanceLines(healthy, 'replace'), i.ns);
  nsSysctl(i.ns, ECHO_IGNORE, 0);
  i.fault = null;
  save(env);
}

/** A new instance appears on the node (index = highest + 1); inventory.yaml and lab.json are rewritten. */
export function addInstance(env: LabEnv): LabInstance {
  const index = Math.max(0, ...env.instances.map((i) => i.index)) + 1;
  const inst = newInstance(env.prefix, index, null);
  createInstances(env, [inst]);
  env.instances.push(inst);
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
 * Remove every leftover lab: namespaces and /tmp dirs whose names start with `match` ("lmp").
 * Labs whose owning process is still alive are not leftovers and are kept. Returns what it removed.
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
  deleteNamespaces(namespaces);
  const remaining = new Set(listNamespaces());
  removed.push(...namespaces.filter((ns) => !remaining.has(ns)));
  for (const name of readdirSync(LAB_ROOT)) {
    const path = join(LAB_ROOT, name);
    if (!name.startsWith(match) || !existsDir(path) || live(name)) continue;
    rmSync(path, { recursive: true, force: true });
    removed.push(path);
  }
  const current = readCurrent();
  if (current && !existsDir(labDir(current))) setCurrent(null);
  return removed;
}
