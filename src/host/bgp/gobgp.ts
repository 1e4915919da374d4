/**
 * GoBGP through its gRPC API with the gobgp CLI: `neighbor -j` for the sessions, then
 * `neighbor <peer> adj-out -a <family> -j` per Established peer and family (the CLI has no
 * batch mode). The API is TCP, often on an address only reachable inside a namespace.
 */
import { ProbeError, oneLine } from '../../errors.js';
import { run } from '../exec.js';
import { canonicalIp, isIpAddress } from '../validate.js';
import { canonicalPrefix, isObject, parseJson, wanted, type BgpFamily, type BgpReadOptions, type BgpSession, type BgpView } from './types.js';

/** apipb.PeerState.SessionState; some builds print the names instead. */
const STATES = ['Unknown', 'Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established'];
const AFI: Record<number, BgpFamily> = { 1: 'ipv4', 2: 'ipv6' };

function stateName(v: unknown): string | undefined {
  if (typeof v === 'number') return STATES[v];
  if (typeof v !== 'string') return undefined;
  const word = v.replace(/^(BGP_FSM_|SESSION_STATE_)/i, '').toLowerCase();
  return STATES.find((s) => s.toLowerCase() === word);
}

const epochWords = (v: unknown): string | undefined => {
  const s = isObject(v) && typeof v.seconds === 'number' ? v.seconds : undefined;
  return s ? `since ${new Date(s * 1000).toISOString().replace('.000Z', 'Z')}` : undefined;
};

/** The sessions of `gobgp neighbor -j`. */
export function parseGobgpNeighbors(out: string): BgpSession[] {
  const doc = parseJson('gobgp neighbor -j', out.trim() || '[]');
  if (!Array.isArray(doc)) throw new ProbeError(`gobgp neighbor -j: unexpected output: ${oneLine(out, 80)}`);
  return doc.map((n: unknown) => {
    const conf = isObject(n) && isObject(n.conf) ? n.conf : {};
    const st = isObject(n) && isObject(n.state) ? n.state : {};
    const addr = conf.neighbor_address ?? st.neighbor_address;
    const state = stateName(st.session_state ?? 0);
    if (typeof addr !== 'string' || !isIpAddress(addr) || !state) throw new ProbeError(`gobgp neighbor -j: a neighbor without an address or a known state: ${oneLine(JSON.stringify(n), 80)}`);
    const timers = isObject(n) && isObject(n.timers) && isObject(n.timers.state) ? n.timers.state : {};
    const families = (isObject(n) && Array.isArray(n.afi_safis) ? n.afi_safis : [])
      .map((a: unknown) => (isObject(a) && isObject(a.state) && isObject(a.state.family) && a.state.enabled !== false && a.state.family.safi === 1 ? AFI[a.state.family.afi as number] : undefined))
      .filter((f): f is BgpFamily => f !== undefined);
    const established = state === 'Established';
    return { peer: canonicalIp(addr), state, established, since: epochWords(established ? timers.uptime : timers.downtime), families: [...new Set(families)] };
  });
}

/** The prefixes of `gobgp neighbor <peer> adj-out -a <family> -j` (an object keyed by prefix; empty or null when none). */
export function parseGobgpAdjOut(out: string, what = 'adj-out'): string[] {
  const doc = parseJson(`gobgp ${what}`, out.trim() || '{}') ?? {};
  if (!isObject(doc)) throw new ProbeError(`gobgp ${what}: unexpected output: ${oneLine(out, 80)}`);
  if (typeof doc.error === 'string') throw new ProbeError(`gobgp ${what}: ${doc.error}`);
  return Object.keys(doc).map((k) => {
    const p = canonicalPrefix(k);
    if (!p) throw new ProbeError(`gobgp ${what}: not a prefix: ${oneLine(k, 60)}`);
    return p;
  });
}

/** With -j, gobgp says what failed as {"error": "..."} ("context deadline exceeded": nothing answers at the API). */
export function apiError(out: string): string {
  try {
    const doc: unknown = JSON.parse(out.trim());
    if (isObject(doc) && typeof doc.error === 'string') return oneLine(doc.error, 160);
  } catch { /* not JSON: the text itself */ }
  return oneLine(out, 160) || 'exited 1';
}

/** "127.0.0.1:50051", "[::1]:50051" -> host and port. */
export function parseApi(api: string): { host: string; port: string } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(api);
  if (!m || !isIpAddress(m[1])) throw new ProbeError(`invalid gobgp_api ${JSON.stringify(api)} (want address:port)`);
  return { host: m[1], port: m[2] };
}

export async function readGobgp(api: string, o: BgpReadOptions): Promise<BgpView> {
  const { host, port } = parseApi(api);
  const gobgp = async (args: string[]) => {
    const r = await run('gobgp', ['-u', host, '-p', port, ...args], { namespace: o.namespace, timeoutMs: o.timeoutMs(), signal: o.signal, okExitCodes: [1] });
    if (r.exitCode === 1) throw new ProbeError(`gobgp ${args.filter((a) => a !== '-j').join(' ')}: ${apiError(r.stdout + r.stderr)}`);
    return r;
  };
  const sessions = parseGobgpNeighbors((await gobgp(['neighbor', '-j'])).stdout).filter((s) => wanted(o.peers, s));
  for (const s of sessions.filter((x) => x.established)) {
    s.announced = [];
    for (const f of s.families) {
      const args = ['neighbor', s.peer, 'adj-out', '-a', f, '-j'];
      s.announced.push(...parseGobgpAdjOut((await gobgp(args)).stdout, args.slice(0, -1).join(' ')));
    }
  }
  return { daemon: 'gobgp', sessions };
}
