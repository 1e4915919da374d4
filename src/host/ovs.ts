/**
 * The node's OVSDB as the OVS probes and the inventory need it, read with ONE ovs-vsctl process:
 *   ovs-vsctl --db=<db> --timeout=<s> --format=json
 *     -- --columns=_uuid,name,type,ofport,error,link_state,external_ids,mac_in_use list Interface
 *     -- --columns=_uuid,name,interfaces,tag list Port
 *     -- --columns=name,ports,fail_mode,controller list Bridge
 *     -- --columns=_uuid,target,is_connected list Controller
 * It prints one JSON document per command, one per line: {"data": [[...row...]], "headings": [...]}.
 * Values are OVSDB JSON: a uuid is ["uuid", "..."], a map ["map", [[k, v], ...]], a set
 * ["set", [...]], except that a set of exactly one element is that bare element.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { ProbeError, oneLine } from '../errors.js';
import { run } from './exec.js';
import { parseFlows, type Flow } from './ovs-flows.js';
import { assertInterface } from './validate.js';

export interface OvsInterface {
  uuid: string;
  name: string;
  /** OpenFlow port number; -1 when vswitchd could not open the device; undefined while not yet assigned. */
  ofport?: number;
  /** Interface.error: why vswitchd could not set it up. */
  error?: string;
  /** "up" / "down". */
  linkState?: string;
  macInUse?: string;
  externalIds: Record<string, string>;
  /** The bridge whose port holds this interface (joined through Port and Bridge). */
  bridge?: string;
  /** The Port row's name (the same as the interface's, except for bonds). */
  port?: string;
  /** Interface.type: "" (a system device), internal, patch, vxlan, ... */
  type?: string;
  /** The Port's local VLAN tag (the Neutron agent's lvid; 4095 = the dead VLAN). */
  tag?: number;
}

/** The Neutron agent's "dead VLAN": a port it could not wire is parked there, and drops everything. */
export const DEAD_VLAN = 4095;

export interface OvsPort {
  name: string;
  bridge?: string;
  tag?: number;
  /** Names of its interfaces. */
  interfaces: string[];
}

export interface OvsBridge {
  name: string;
  failMode?: string;
  controllers: { target: string; connected: boolean }[];
}

/** Everything one ovs-vsctl call read. */
export interface OvsSnapshot {
  interfaces: OvsInterface[];
  ports: OvsPort[];
  bridges: OvsBridge[];
}

/**
 * An OVSDB connection method as ovs-vsctl's --db takes it: unix:<absolute path>, or
 * tcp:/ssl:<host>:<port> (IPv6 hosts in brackets). Never an option, never a list.
 */
const OVS_DB = /^(unix:\/[A-Za-z0-9._\/@+-]*|(tcp|ssl):([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5})$/;

export function assertOvsDb(db: string): string {
  if (!OVS_DB.test(db)) throw new ProbeError(`invalid OVS db: ${JSON.stringify(db)} (want unix:/path, tcp:host:port or ssl:host:port)`);
  return db;
}

export const LIST_ARGS = [
  '--', '--columns=_uuid,name,type,ofport,error,link_state,external_ids,mac_in_use', 'list', 'Interface',
  '--', '--columns=_uuid,name,interfaces,tag', 'list', 'Port',
  '--', '--columns=name,ports,fail_mode,controller', 'list', 'Bridge',
  '--', '--columns=_uuid,target,is_connected', 'list', 'Controller',
];

// ---- pure parsing ------------------------------------------------------------------------------

class Unparseable extends Error {}
const bad = (what: string): never => {
  throw new Unparseable(what);
};

interface Table {
  headings: string[];
  data: unknown[][];
}

/** The elements of an OVSDB set (a single element comes bare). */
function setOf(v: unknown): unknown[] {
  if (Array.isArray(v) && v[0] === 'set') return Array.isArray(v[1]) ? v[1] : bad('set');
  return [v];
}

function uuidOf(v: unknown): string {
  if (Array.isArray(v) && v[0] === 'uuid' && typeof v[1] === 'string') return v[1];
  return bad(`uuid ${JSON.stringify(v)}`);
}

function stringMap(v: unknown): Record<string, string> {
  if (!(Array.isArray(v) && v[0] === 'map' && Array.isArray(v[1]))) return bad('map');
  const out: Record<string, string> = {};
  for (const pair of v[1] as unknown[]) {
    if (!Array.isArray(pair) || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') return bad('map entry');
    out[pair[0]] = pair[1];
  }
  return out;
}

/** An optional string column ([0..1] in the schema): "" or the empty set mean absent. */
function optionalString(v: unknown): string | undefined {
  const [s, ...rest] = setOf(v);
  if (rest.length || (s !== undefined && typeof s !== 'string')) return bad(`string ${JSON.stringify(v)}`);
  return s === '' ? undefined : (s as string | undefined);
}

function optionalInteger(v: unknown): number | undefined {
  const [n, ...rest] = setOf(v);
  if (rest.length || (n !== undefined && !Number.isInteger(n))) return bad(`integer ${JSON.stringify(v)}`);
  return n as number | undefined;
}

/** Split stdout into its JSON documents (ovs-vsctl prints one per line). */
function tables(stdout: string): Table[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      let doc: unknown;
      try {
        doc = JSON.parse(line);
      } catch {
        return bad(line);
      }
      const t = doc as Partial<Table>;
      if (!Array.isArray(t.headings) || !Array.isArray(t.data) || !t.data.every(Array.isArray)) return bad(line);
      return t as Table;
    });
}

/** Rows of a table as objects keyed by heading, checking the expected columns are all there. */
function rows(t: Table, columns: string[]): Record<string, unknown>[] {
  const at = columns.map((c) => t.headings.indexOf(c));
  if (at.includes(-1)) bad(`headings ${t.headings.join(',')}`);
  return t.data.map((row) => Object.fromEntries(columns.map((c, k) => [c, row[at[k]]])));
}

/** The output of the LIST_ARGS command, joined: each interface with its port, tag and bridge. */
export function parseOvsSnapshot(stdout: string): OvsSnapshot {
  try {
    const docs = tables(stdout);
    if (docs.length !== 4) bad(`${docs.length} JSON documents, expected 4: ${stdout}`);
    const [ifaceT, portT, bridgeT, controllerT] = docs;
    const controllerOf = new Map<string, { target: string; connected: boolean }>();
    for (const c of rows(controllerT, ['_uuid', 'target', 'is_connected'])) {
      controllerOf.set(uuidOf(c._uuid), { target: String(c.target), connected: c.is_connected === true });
    }
    const bridgeOfPort = new Map<string, string>();
    const bridges: OvsBridge[] = rows(bridgeT, ['name', 'ports', 'fail_mode', 'controller']).map((b) => {
      for (const p of setOf(b.ports)) bridgeOfPort.set(uuidOf(p), String(b.name));
      const failMode = optionalString(b.fail_mode);
      const controllers = setOf(b.controller).map((c) => controllerOf.get(uuidOf(c)) ?? { target: '?', connected: false });
      return { name: String(b.name), ...(failMode ? { failMode } : {}), controllers };
    });
    const ifaceRows = rows(ifaceT, ['_uuid', 'name', 'type', 'ofport', 'error', 'link_state', 'external_ids', 'mac_in_use']);
    const nameOfIface = new Map(ifaceRows.map((r) => [uuidOf(r._uuid), String(r.name)]));
    const portOfIface = new Map<string, OvsPort>();
    const ports: OvsPort[] = rows(portT, ['_uuid', 'name', 'interfaces', 'tag']).map((p) => {
      const members = setOf(p.interfaces).map(uuidOf);
      const port: OvsPort = { name: String(p.name), interfaces: members.map((u) => nameOfIface.get(u) ?? u) };
      const bridge = bridgeOfPort.get(uuidOf(p._uuid));
      const tag = optionalInteger(p.tag);
      if (bridge !== undefined) port.bridge = bridge;
      if (tag !== undefined) port.tag = tag;
      for (const u of members) portOfIface.set(u, port);
      return port;
    });
    const interfaces = ifaceRows.map((r) => {
      const uuid = uuidOf(r._uuid);
      if (typeof r.name !== 'string') return bad(`name ${JSON.stringify(r.name)}`);
      const port = portOfIface.get(uuid);
      const iface: OvsInterface = { uuid, name: r.name, externalIds: stringMap(r.external_ids) };
      const fields = {
        ofport: optionalInteger(r.ofport),
        error: optionalString(r.error),
        linkState: optionalString(r.link_state),
        macInUse: optionalString(r.mac_in_use),
        type: optionalString(r.type),
        bridge: port?.bridge,
        port: port?.name,
        tag: port?.tag,
      };
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) Object.assign(iface, { [k]: v });
      return iface;
    });
    return { interfaces, ports, bridges };
  } catch (err) {
    if (err instanceof Unparseable) throw new ProbeError(`ovs-vsctl: unparseable output: ${oneLine(stdout, 120) || 'empty'}`);
    throw err;
  }
}

/** Just the interfaces (what the inventory source groups into instances). */
export const parseOvsInterfaces = (stdout: string): OvsInterface[] => parseOvsSnapshot(stdout).interfaces;

// ---- the command -------------------------------------------------------------------------------

/** Every exit status is an answer here: the failure is phrased from the command's own stderr. */
const ANY_EXIT = Array.from({ length: 255 }, (_, k) => k + 1);

/** The OVS tools' own --timeout (whole seconds, at least 1), a little inside our hard limit. */
const ownTimeout = (timeoutMs: number) => Math.max(1, Math.floor((timeoutMs - 500) / 1000));

/**
 * Read the Interfaces, Ports, Bridges and Controllers from the OVSDB at `db`. ovs-vsctl's own --timeout (whole seconds, at
 * least 1) ends it before our hard limit, so a dead or hung ovsdb-server gives its one-line
 * reason ("ovs-vsctl: unix:/run/openvswitch/db.sock: database connection failed (...)").
 */
export async function readOvsSnapshot(db: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<OvsSnapshot> {
  assertOvsDb(db);
  const ownTimeoutS = ownTimeout(opts.timeoutMs);
  const r = await run('ovs-vsctl', [`--db=${db}`, `--timeout=${ownTimeoutS}`, '--format=json', ...LIST_ARGS], {
    timeoutMs: Math.max(opts.timeoutMs, ownTimeoutS * 1000 + 500),
    signal: opts.signal,
    okExitCodes: ANY_EXIT,
    env: { LC_ALL: 'C' },
  });
  if (r.exitCode !== 0) throw new ProbeError(failureReason(r.stderr, db, ownTimeoutS));
  return parseOvsSnapshot(r.stdout);
}

/** The tool's last error line, or what its SIGALRM (--timeout) means. */
export function failureReason(stderr: string, target: string, timeoutS: number, cmd = 'ovs-vsctl'): string {
  if (/terminating with signal 14|Alarm clock/.test(stderr)) return `${cmd}: ${target}: no answer within ${timeoutS}s (--timeout)`;
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/The default log directory is/.test(l));
  const line = lines.find((l) => l.startsWith(`${cmd}:`)) ?? lines[0] ?? 'failed without a message';
  return oneLine(line.startsWith(`${cmd}:`) ? line : `${cmd}: ${line}`, 200);
}

// ---- ovs-vswitchd: flows, and whether it answers at all --------------------------------------

const RUNDIR = /^\/[A-Za-z0-9._\/@+-]*$/;

/** vswitchd's OpenFlow management socket of a bridge: <rundir>/<bridge>.mgmt. */
export function mgmtSocket(rundir: string, bridge: string): string {
  if (!RUNDIR.test(rundir) || rundir.split('/').includes('..')) throw new ProbeError(`invalid OVS rundir: ${JSON.stringify(rundir)}`);
  return join(rundir, `${assertInterface(bridge)}.mgmt`);
}

/**
 * Every flow of a bridge, from ONE `ovs-ofctl -O OpenFlow13 --no-stats dump-flows` through its
 * management socket (ofport numbers, never names: a stale numeric ofport must stay visible).
 */
export async function dumpFlows(rundir: string, bridge: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<{ flows: Flow[]; parseSeconds: number }> {
  const target = `unix:${mgmtSocket(rundir, bridge)}`;
  const ownTimeoutS = ownTimeout(opts.timeoutMs);
  const r = await run('ovs-ofctl', [`--timeout=${ownTimeoutS}`, '-O', 'OpenFlow13', '--no-stats', 'dump-flows', target], {
    timeoutMs: Math.max(opts.timeoutMs, ownTimeoutS * 1000 + 500),
    signal: opts.signal,
    okExitCodes: ANY_EXIT,
    env: { LC_ALL: 'C' },
  });
  if (r.exitCode !== 0) throw new ProbeError(failureReason(r.stderr, bridge, ownTimeoutS, 'ovs-ofctl'));
  const started = process.hrtime.bigint();
  const flows = parseFlows(r.stdout);
  return { flows, parseSeconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/**
 * Does ovs-vswitchd answer on a bridge's management socket? A switch greets every OpenFlow
 * connection with OFPT_HELLO at once; a stopped or hung vswitchd does not, and then the OVSDB's
 * ofports and link states are stale. No process: one unix-socket connection.
 */
export function vswitchdAnswers(rundir: string, bridge: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
  const path = mgmtSocket(rundir, bridge);
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    const fail = (why: string) => {
      cleanup();
      reject(new ProbeError(`ovs-vswitchd: ${path}: ${why}`));
    };
    const timer = setTimeout(() => fail(`no OpenFlow hello within ${Math.round(opts.timeoutMs / 100) / 10}s (ovs-vswitchd stopped or hung)`), opts.timeoutMs);
    const onAbort = () => fail('cancelled: probe deadline reached');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    function cleanup() {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      sock.destroy();
    }
    sock.once('error', (err: NodeJS.ErrnoException) => fail(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? `${err.code}: ovs-vswitchd is not running (or has no bridge ${bridge})` : oneLine(err)));
    sock.once('data', (buf: Buffer) => {
      // ofp_header: version, type (0 = HELLO), length, xid.
      if (buf.length >= 8 && buf[1] === 0) {
        cleanup();
        resolve();
      } else fail(`not an OpenFlow hello: ${buf.subarray(0, 8).toString('hex')}`);
    });
  });
}
