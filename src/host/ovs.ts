/**
 * Every OVS Interface on the node, with the bridge it is on, read with ONE ovs-vsctl process:
 *   ovs-vsctl --db=<db> --timeout=<s> --format=json
 *     -- --columns=_uuid,name,ofport,error,link_state,external_ids,mac_in_use list Interface
 *     -- --columns=_uuid,name,interfaces list Port
 *     -- --columns=name,ports list Bridge
 * It prints one JSON document per command, one per line: {"data": [[...row...]], "headings": [...]}.
 * Values are OVSDB JSON: a uuid is ["uuid", "..."], a map ["map", [[k, v], ...]], a set
 * ["set", [...]], except that a set of exactly one element is that bare element.
 */
import { ProbeError, oneLine } from '../errors.js';
import { run } from './exec.js';

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

export const LIST_INTERFACES_ARGS = [
  '--', '--columns=_uuid,name,ofport,error,link_state,external_ids,mac_in_use', 'list', 'Interface',
  '--', '--columns=_uuid,name,interfaces', 'list', 'Port',
  '--', '--columns=name,ports', 'list', 'Bridge',
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

/** The output of the LIST_INTERFACES_ARGS command, joined: each interface with its port and bridge. */
export function parseOvsInterfaces(stdout: string): OvsInterface[] {
  try {
    const docs = tables(stdout);
    if (docs.length !== 3) bad(`${docs.length} JSON documents, expected 3: ${stdout}`);
    const [ifaceT, portT, bridgeT] = docs;
    const bridgeOfPort = new Map<string, string>();
    for (const b of rows(bridgeT, ['name', 'ports'])) {
      for (const p of setOf(b.ports)) bridgeOfPort.set(uuidOf(p), String(b.name));
    }
    const portOfIface = new Map<string, { name: string; bridge?: string }>();
    for (const p of rows(portT, ['_uuid', 'name', 'interfaces'])) {
      const port = { name: String(p.name), bridge: bridgeOfPort.get(uuidOf(p._uuid)) };
      for (const i of setOf(p.interfaces)) portOfIface.set(uuidOf(i), port);
    }
    return rows(ifaceT, ['_uuid', 'name', 'ofport', 'error', 'link_state', 'external_ids', 'mac_in_use']).map((r) => {
      const uuid = uuidOf(r._uuid);
      if (typeof r.name !== 'string') return bad(`name ${JSON.stringify(r.name)}`);
      const port = portOfIface.get(uuid);
      const iface: OvsInterface = { uuid, name: r.name, externalIds: stringMap(r.external_ids) };
      const fields = {
        ofport: optionalInteger(r.ofport),
        error: optionalString(r.error),
        linkState: optionalString(r.link_state),
        macInUse: optionalString(r.mac_in_use),
        bridge: port?.bridge,
        port: port?.name,
      };
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) Object.assign(iface, { [k]: v });
      return iface;
    });
  } catch (err) {
    if (err instanceof Unparseable) throw new ProbeError(`ovs-vsctl: unparseable output: ${oneLine(stdout, 120) || 'empty'}`);
    throw err;
  }
}

// ---- the command -------------------------------------------------------------------------------

/** Every exit status is an answer here: the failure is phrased from ovs-vsctl's own stderr. */
const ANY_EXIT = Array.from({ length: 255 }, (_, k) => k + 1);

/**
 * Read every Interface from the OVSDB at `db`. ovs-vsctl's own --timeout (whole seconds, at
 * least 1) ends it before our hard limit, so a dead or hung ovsdb-server gives its one-line
 * reason ("ovs-vsctl: unix:/run/openvswitch/db.sock: database connection failed (...)").
 */
export async function readOvsInterfaces(db: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<OvsInterface[]> {
  assertOvsDb(db);
  const ownTimeoutS = Math.max(1, Math.floor((opts.timeoutMs - 500) / 1000));
  const r = await run('ovs-vsctl', [`--db=${db}`, `--timeout=${ownTimeoutS}`, '--format=json', ...LIST_INTERFACES_ARGS], {
    timeoutMs: Math.max(opts.timeoutMs, ownTimeoutS * 1000 + 500),
    signal: opts.signal,
    okExitCodes: ANY_EXIT,
    env: { LC_ALL: 'C' },
  });
  if (r.exitCode !== 0) throw new ProbeError(failureReason(r.stderr, db, ownTimeoutS));
  return parseOvsInterfaces(r.stdout);
}

/** ovs-vsctl's last error line, or what its SIGALRM (--timeout) means. */
export function failureReason(stderr: string, db: string, timeoutS: number): string {
  if (/terminating with signal 14|Alarm clock/.test(stderr)) return `ovs-vsctl: ${db}: no answer within ${timeoutS}s (--timeout)`;
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !/The default log directory is/.test(l));
  const line = lines.find((l) => l.startsWith('ovs-vsctl:')) ?? lines[0] ?? 'failed without a message';
  return oneLine(line.startsWith('ovs-vsctl:') ? line : `ovs-vsctl: ${line}`, 200);
}
