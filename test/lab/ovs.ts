/**
 * The lab node's own Open vSwitch: a private ovsdb-server and ovs-vswitchd running inside the
 * node namespace, with the userspace ("netdev") datapath, so no kernel module is needed. Every
 * file they use (db, sockets, pid files, logs) is under /tmp/<prefix>/ovs, every ovs-vsctl call
 * names the private db socket, and they are stopped by their recorded PIDs only: the host's own
 * OVS, if it has one, is never touched.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { shOut } from './netns.js';

export const BRIDGE = 'br-int';
/** The network's local VLAN on br-int (the neutron agent's lvid): every port's OVSDB tag. */
export const LOCAL_VLAN_TAG = 1;
const SCHEMA = join(process.env.OVS_PKGDATADIR ?? '/usr/share/openvswitch', 'vswitch.ovsschema');
/** ovs-vsctl gives up after this long instead of waiting forever for a dead vswitchd. */
const VSCTL_TIMEOUT_S = 30;
/** Linux caps one argv string at 128 KiB and the whole argv at ~2 MiB: ports per ovs-vsctl call. */
const PORTS_PER_CALL = 1000;

export interface OvsPids {
  ovsdbServer: number;
  ovsVswitchd: number;
}

/** A port of br-int as os-vif/Neutron's OVS agent plug it for an instance. */
export interface InstancePort {
  tap: string;
  portId: string;
  mac: string;
  vmUuid: string;
}

const DAEMONS = { ovsdbServer: 'ovsdb-server', ovsVswitchd: 'ovs-vswitchd' } as const;

export const ovsDirOf = (labDir: string): string => join(labDir, 'ovs');
export const ovsDbOf = (labDir: string): string => `unix:${join(ovsDirOf(labDir), 'db.sock')}`;
const pidFile = (ovsDir: string, daemon: string): string => join(ovsDir, `${daemon}.pid`);

/** Defaults of every OVS tool pointed into the lab's dir, so none falls back to /var/run/openvswitch. */
export function ovsEnv(ovsDir: string): NodeJS.ProcessEnv {
  return { ...process.env, OVS_RUNDIR: ovsDir, OVS_DBDIR: ovsDir, OVS_LOGDIR: ovsDir, OVS_SYSCONFDIR: ovsDir };
}

/** The lab's OVS dir from its db string; refuses anything that is not a lab's private socket. */
function dirOfDb(db: string): string {
  const m = /^unix:(\/tmp\/lmp[a-z0-9]+\/ovs)\/db\.sock$/.exec(db);
  if (!m) throw new Error(`not a lab OVS db: ${db}`);
  return m[1];
}

/**
 * Run ovs-vsctl against the lab's db. It waits for ovs-vswitchd to apply the change (no
 * --no-wait), and exits 0 even when vswitchd could not set a port up, saying so only on
 * stderr: that is an error here, unless `expectPortError` (the port-error fault).
 */
export function vsctl(db: string, args: string[], expectPortError = false): string {
  const { stdout, stderr } = shOut('ovs-vsctl', [`--db=${db}`, `--timeout=${VSCTL_TIMEOUT_S}`, ...args], { env: ovsEnv(dirOfDb(db)) });
  const bad = /Error detected while setting up[^\n]*/.exec(stderr);
  if (bad && !expectPortError) throw new Error(`ovs-vsctl: ${bad[0]}`);
  return stdout;
}

/** The ovs-vsctl commands that plug one instance port, with the external_ids os-vif sets. */
export function plugArgs(p: InstancePort): string[] {
  return [
    '--', '--may-exist', 'add-port', BRIDGE, p.tap,
    '--', 'set', 'Port', p.tap, `tag=${LOCAL_VLAN_TAG}`,
    '--', 'set', 'Interface', p.tap,
    `external_ids:iface-id=${p.portId}`,
    `external_ids:attached-mac=${p.mac}`,
    `external_ids:vm-uuid=${p.vmUuid}`,
    'external_ids:iface-status=active',
  ];
}

/**
 * The uplink (to-ns-link): the flat network's way out. Native-untagged on the local VLAN, so
 * frames the flows tagged leave it untagged and untagged frames from it belong to that VLAN.
 */
export function uplinkArgs(name: string): string[] {
  return ['--', '--may-exist', 'add-port', BRIDGE, name, '--', 'set', 'Port', name, `tag=${LOCAL_VLAN_TAG}`, 'vlan_mode=native-untagged'];
}

/**
 * Plug ports into br-int with one ovs-vsctl process (one more per 1000 ports, for the argv
 * limit): one transaction, so ovs-vswitchd reconfigures once. `uplinks` get no external_ids.
 */
export function plugPorts(db: string, ports: InstancePort[], uplinks: string[] = []): void {
  const all = [...uplinks.map(uplinkArgs), ...ports.map(plugArgs)];
  for (let k = 0; k < all.length; k += PORTS_PER_CALL) vsctl(db, all.slice(k, k + PORTS_PER_CALL).flat());
}

/**
 * Create the db, start ovsdb-server and ovs-vswitchd inside `nodeNs` (both --detach: the call
 * returns once each daemon is ready and has written its pid file), and create br-int on the
 * userspace datapath. Returns the db socket and the daemons' PIDs.
 */
export function startOvs(nodeNs: string, labDir: string): { db: string; pids: OvsPids } {
  const dir = ovsDirOf(labDir);
  const db = ovsDbOf(labDir);
  const env = ovsEnv(dir);
  mkdirSync(dir, { recursive: true });
  shOut('ovsdb-tool', ['create', join(dir, 'conf.db'), SCHEMA], { env });
  const daemon = (name: string, args: string[]) =>
    shOut('ip', ['netns', 'exec', nodeNs, name, ...args,
      `--pidfile=${pidFile(dir, name)}`, '--detach', '--no-chdir',
      `--log-file=${join(dir, `${name}.log`)}`, `--unixctl=${join(dir, `${name}.ctl`)}`, '-vconsole:off'], { env });
  daemon(DAEMONS.ovsdbServer, [join(dir, 'conf.db'), `--remote=punix:${db.slice('unix:'.length)}`]);
  vsctl(db, ['--no-wait', 'init']);
  daemon(DAEMONS.ovsVswitchd, [db]);
  const pids = readPids(dir);
  if (!pids.ovsdbServer || !pids.ovsVswitchd) throw new Error(`OVS daemons did not write their pid files in ${dir}`);
  // add-br on the default (kernel) datapath would exit 0 and leave a bridge with no datapath:
  // the type goes in the same transaction, and the bridge's own port must have come up.
  vsctl(db, ['add-br', BRIDGE, '--', 'set', 'Bridge', BRIDGE, 'datapath_type=netdev']);
  const [ofport, error] = vsctl(db, ['get', 'Interface', BRIDGE, 'ofport', 'error']).trim().split('\n');
  if (ofport !== '65534' || error !== '[]') throw new Error(`${BRIDGE} did not come up on the netdev datapath (ofport ${ofport}, error ${error}); see ${dir}/ovs-vswitchd.log`);
  return { db, pids: { ovsdbServer: pids.ovsdbServer, ovsVswitchd: pids.ovsVswitchd } };
}

/** The PIDs in the daemons' own pid files (those that exist). */
function readPids(dir: string): Partial<OvsPids> {
  const pids: Partial<OvsPids> = {};
  for (const [key, name] of Object.entries(DAEMONS) as [keyof OvsPids, string][]) {
    const f = pidFile(dir, name);
    if (!existsSync(f)) continue;
    const pid = Number(readFileSync(f, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 1) pids[key] = pid;
  }
  return pids;
}

/** A process's start time (field 22 of /proc/<pid>/stat), or null once it has exited (gone or a zombie). */
function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ...rest] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return state === 'Z' || state === 'X' ? null : rest[18];
  } catch {
    return null;
  }
}

/** Does `pid` run a daemon of this lab (its command line names the lab's OVS dir)? Guards against recycled PIDs. */
function isLabDaemon(pid: number, dir: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((arg) => arg.includes(`${dir}/`));
  } catch {
    return false;
  }
}

const pause = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Stop the lab's daemons: the PIDs recorded in lab.json and those in the pid files, each only
 * if its command line names this lab's OVS dir. SIGTERM, then SIGKILL after 3 s; it returns
 * once they have exited. A process is followed by its PID and start time, since its command
 * line is already empty while it exits. Synchronous (it runs in exit handlers) and never
 * throws. vswitchd goes first, so it is not left reconnecting to a db that is gone.
 */
export function stopOvs(labDir: string, recorded: Partial<OvsPids> = {}): void {
  const dir = ovsDirOf(labDir);
  const fromFiles = existsSync(dir) ? readPids(dir) : {};
  for (const key of ['ovsVswitchd', 'ovsdbServer'] as const) {
    const pids = [...new Set([recorded[key], fromFiles[key]].filter((p): p is number => typeof p === 'number' && p > 1))];
    for (const pid of pids.filter((p) => isLabDaemon(p, dir))) {
      const started = startTimeOf(pid);
      const running = () => started !== null && startTimeOf(pid) === started;
      const signal = (sig: NodeJS.Signals) => {
        try {
          process.kill(pid, sig);
        } catch {
          /* gone meanwhile */
        }
      };
      signal('SIGTERM');
      for (let waited = 0; running() && waited < 3000; waited += 10) pause(10);
      if (running()) signal('SIGKILL');
      for (let waited = 0; running() && waited < 2000; waited += 10) pause(10);
    }
  }
}

/** One Interface row as the lab's checks need it, from the real ovs-vsctl's JSON. */
export interface LabOvsInterface {
  name: string;
  ofport: number | null;
  error: string | null;
  externalIds: Record<string, string>;
}

/**
 * Every Interface of the lab's OVS (one ovs-vsctl). A small decoder of its own, independent of
 * the product's parser (src/host/ovs.ts), so the lab tests can check that parser against it.
 */
export function listInterfaces(db: string): LabOvsInterface[] {
  const doc = JSON.parse(vsctl(db, ['--format=json', '--columns=name,ofport,error,external_ids', 'list', 'Interface'])) as { data: unknown[][] };
  const emptySet = (v: unknown) => Array.isArray(v) && v[0] === 'set';
  return doc.data.map(([name, ofport, error, ids]) => ({
    name: name as string,
    ofport: emptySet(ofport) ? null : (ofport as number),
    error: emptySet(error) ? null : (error as string),
    externalIds: Object.fromEntries((ids as ['map', [string, string][]])[1]),
  }));
}
