/**
 * FRR through vtysh (it talks to bgpd over its unix sockets; FRR itself runs as user frr):
 * `show bgp summary json` for the sessions, then ONE vtysh with a `-c` per (Established peer,
 * address family): `show bgp <afi> unicast neighbors <peer> advertised-routes json`, the
 * adj-RIB-out. vtysh prints the replies one after the other: concatenated JSON documents.
 */
import { ProbeError, oneLine } from '../../errors.js';
import { run } from '../exec.js';
import { canonicalIp } from '../validate.js';
import { canonicalPrefix, isObject, parseJson, wanted, type BgpFamily, type BgpReadOptions, type BgpSession, type BgpView } from './types.js';

const FAMILIES: Record<string, BgpFamily> = { ipv4Unicast: 'ipv4', ipv6Unicast: 'ipv6' };

/** Split vtysh's concatenated JSON replies ("{...}\n{...}") into documents. */
export function splitJsonDocuments(text: string): string[] {
  const docs: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === '{' || c === '[') {
      if (depth++ === 0) start = i;
    } else if (c === '}' || c === ']') {
      if (--depth === 0) docs.push(text.slice(start, i + 1));
      if (depth < 0) break;
    } else if (depth === 0 && !/\s/.test(c)) {
      throw new ProbeError(`vtysh: unparseable output: ${oneLine(text.slice(i), 80)}`);
    }
  }
  if (depth !== 0) throw new ProbeError(`vtysh: truncated output: ${oneLine(text.slice(-80), 80)}`);
  return docs;
}

/** The sessions of `show bgp summary json`, one per peer with the families it is in. */
export function parseFrrSummary(out: string): BgpSession[] {
  const doc = parseJson('vtysh show bgp summary json', out);
  if (!isObject(doc)) throw new ProbeError(`vtysh show bgp summary json: unexpected output: ${oneLine(out, 80)}`);
  const byPeer = new Map<string, BgpSession>();
  for (const [key, family] of Object.entries(FAMILIES)) {
    const af = doc[key];
    if (!isObject(af) || !isObject(af.peers)) continue;
    for (const [addr, p] of Object.entries(af.peers)) {
      if (!isObject(p) || typeof p.state !== 'string') throw new ProbeError(`vtysh show bgp summary json: peer ${addr} without a state`);
      const peer = canonicalIp(addr);
      const s = byPeer.get(peer) ?? { peer, state: p.state, established: p.state === 'Established', families: [] as BgpFamily[] };
      // peerUptime is the time in the current state (up or down).
      if (typeof p.peerUptime === 'string') s.since = `for ${p.peerUptime}`;
      if (s.established && p.state !== 'Established') Object.assign(s, { state: p.state, established: false });
      s.families.push(family);
      byPeer.set(peer, s);
    }
  }
  return [...byPeer.values()];
}

/** The prefixes of one `... advertised-routes json` reply. */
export function parseFrrAdvertised(doc: unknown, what: string): string[] {
  if (isObject(doc) && typeof doc.warning === 'string') throw new ProbeError(`vtysh ${what}: ${doc.warning}`);
  if (!isObject(doc)) throw new ProbeError(`vtysh ${what}: unexpected output`);
  const routes = doc.advertisedRoutes ?? {};
  if (!isObject(routes)) throw new ProbeError(`vtysh ${what}: advertisedRoutes is not an object`);
  return Object.keys(routes).map((k) => {
    const p = canonicalPrefix(k);
    if (!p) throw new ProbeError(`vtysh ${what}: not a prefix: ${oneLine(k, 60)}`);
    return p;
  });
}

export async function readFrr(vtyDir: string, o: BgpReadOptions): Promise<BgpView> {
  const vtysh = (cmds: string[]) =>
    run('vtysh', [...(vtyDir ? ['--vty_socket', vtyDir] : []), ...cmds.flatMap((c) => ['-c', c])], { namespace: o.namespace, timeoutMs: o.timeoutMs(), signal: o.signal });
  const sessions = parseFrrSummary((await vtysh(['show bgp summary json'])).stdout).filter((s) => wanted(o.peers, s));
  const asks = sessions.filter((s) => s.established).flatMap((s) => s.families.map((f) => ({ s, cmd: `show bgp ${f} unicast neighbors ${s.peer} advertised-routes json` })));
  if (asks.length > 0) {
    const docs = splitJsonDocuments((await vtysh(asks.map((a) => a.cmd))).stdout);
    if (docs.length !== asks.length) throw new ProbeError(`vtysh: ${docs.length} replies to ${asks.length} advertised-routes commands`);
    asks.forEach((a, i) => {
      a.s.announced = [...(a.s.announced ?? []), ...parseFrrAdvertised(parseJson(`vtysh ${a.cmd}`, docs[i]), a.cmd)];
    });
  }
  return { daemon: 'frr', sessions };
}
