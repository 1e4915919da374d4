/**
 * What every BGP daemon adapter (bird.ts, frr.ts, gobgp.ts) returns: the node's BGP sessions and,
 * for each Established one, the prefixes really exported to that peer (its adj-RIB-out), not
 * what the daemon is configured to originate.
 */
import { isIP } from 'node:net';
import { ProbeError, oneLine } from '../../errors.js';
import { canonicalIp } from '../validate.js';

export type BgpDaemonName = 'bird' | 'frr' | 'gobgp';
export type BgpFamily = 'ipv4' | 'ipv6';

export interface BgpSession {
  /** The neighbor's address (canonical form). */
  peer: string;
  /** bird's protocol name for the session. */
  name?: string;
  /** The daemon's word for the state: Established, Active, Connect, Idle, Down... */
  state: string;
  established: boolean;
  /** When the state began, in the daemon's words: "since 13:06:54.194", "for 00:00:02". */
  since?: string;
  /** Why it is down, when the daemon says (bird's "Last error"). */
  info?: string;
  /** Address families the session carries. */
  families: BgpFamily[];
  /** Prefixes ("198.18.1.2/32", "2001:db8::5/128") exported to the peer; read only when Established. */
  announced?: string[];
}

export interface BgpView {
  daemon: BgpDaemonName;
  /** e.g. "BIRD 2.0.12", when the daemon says. */
  version?: string;
  /** Every BGP session the daemon has (after the `peers` filter). */
  sessions: BgpSession[];
}

export interface BgpReadOptions {
  /** Network namespace the control interface is reachable from ("" = here). */
  namespace: string;
  /** Peer addresses or bird protocol names to audit ([] = all). */
  peers: string[];
  /** The limit for the next command (the probe's remaining time, less a margin). */
  timeoutMs: () => number;
  signal?: AbortSignal;
}

/** True when the session is one the operator asked to audit. */
export function wanted(peers: string[], s: Pick<BgpSession, 'peer' | 'name'>): boolean {
  if (peers.length === 0) return true;
  return peers.some((p) => p === s.name || (isIP(p) !== 0 && canonicalIp(p) === s.peer));
}

/**
 * An address in canonical text form (RFC 5952), IPv4-mapped IPv6 in its recommended mixed
 * notation: "::ffff:198.18.1.2" (bird's), not "::ffff:c612:102" (canonicalIp's).
 */
export function canonicalAddress(ip: string): string {
  const c = canonicalIp(ip);
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(c);
  if (!m) return c;
  const [hi, lo] = [parseInt(m[1], 16), parseInt(m[2], 16)];
  return `::ffff:${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/**
 * "198.18.1.2/32" in canonical form, or undefined when it is not a prefix. `len` defaults to the
 * host length (GoBGP and FRR give the address and the length apart in some outputs).
 */
export function canonicalPrefix(text: string): string | undefined {
  const [addr, len, extra] = text.split('/');
  const family = isIP(addr ?? '');
  if (family === 0 || extra !== undefined) return undefined;
  const max = family === 4 ? 32 : 128;
  const n = len === undefined ? max : Number(len);
  if (!/^\d{1,3}$/.test(len ?? String(max)) || n > max) return undefined;
  return `${canonicalAddress(addr)}/${n}`;
}

/** JSON.parse that fails as UNKNOWN naming the command. */
export function parseJson(cmd: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ProbeError(`${cmd}: unparseable output: ${oneLine(text, 80) || '(empty)'}`);
  }
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Sort "a.b.c.d/len" (IPv4 first, by address) and IPv6 prefixes: for traces people read. */
export function sortPrefixes(list: Iterable<string>): string[] {
  const key = (p: string) => {
    const a = p.split('/')[0];
    return isIP(a) === 4 ? a.split('.').reduce((n, o) => n * 256 + Number(o), 0) : Infinity;
  };
  return [...list].sort((a, b) => key(a) - key(b) || (a < b ? -1 : a > b ? 1 : 0));
}
