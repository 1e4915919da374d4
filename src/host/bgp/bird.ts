/**
 * bird2 through birdc (read-only: `-r`): `show protocols all` for the BGP sessions, then
 * `show route export <protocol>` for each Established one — the routes that pass its export
 * filter, i.e. what the peer receives. Every reply starts with "BIRD x.y ready.": anything else
 * is not bird talking. Constant cost: one process, plus one per audited Established session.
 */
import { ProbeError, oneLine } from '../../errors.js';
import { run } from '../exec.js';
import { canonicalIp } from '../validate.js';
import { canonicalPrefix, wanted, type BgpFamily, type BgpReadOptions, type BgpSession, type BgpView } from './types.js';

const READY = /^BIRD (\S+) ready\.$/;

/** The reply's lines after "BIRD x.y ready." (and birdc -r's "Access restricted"), and bird's version. */
function reply(cmd: string, out: string): { version: string; lines: string[] } {
  const lines = out.split('\n');
  const m = READY.exec(lines[0]?.trim() ?? '');
  if (!m) throw new ProbeError(`${cmd}: unparseable output: ${oneLine(out, 80) || '(empty)'}`);
  return { version: `BIRD ${m[1]}`, lines: lines.slice(1).filter((l) => l.trim() !== '' && l.trim() !== 'Access restricted') };
}

/** The BGP protocols of `birdc show protocols all` (other protocols are skipped). */
export function parseBirdProtocols(out: string): { version: string; sessions: BgpSession[] } {
  const { version, lines } = reply('birdc show protocols all', out);
  const sessions: BgpSession[] = [];
  let cur: BgpSession | undefined;
  let channel: BgpFamily | undefined;
  for (const line of lines) {
    if (/^Name\s+Proto\s+Table\s+State/.test(line)) continue;
    const head = /^(\S+)\s+(\S+)\s+\S+\s+(up|down|start|stop|flush)\s+(.*?)(?:\s{2,}(.*))?\s*$/.exec(line);
    if (head) {
      channel = undefined;
      cur = undefined;
      if (head[2] !== 'BGP') continue;
      cur = { peer: '', name: head[1], state: head[5]?.split(/\s{2,}/)[0] || head[3], established: false, since: head[4] ? `since ${head[4]}` : undefined, families: [] };
      sessions.push(cur);
      continue;
    }
    if (!/^\s/.test(line)) throw new ProbeError(`birdc show protocols all: unexpected line: ${oneLine(line, 80)}`);
    if (!cur) continue;
    const kv = /^\s+([^:]+):\s*(.*?)\s*$/.exec(line);
    const chan = /^\s+Channel (ipv4|ipv6)\s*$/.exec(line);
    if (chan) channel = chan[1] as BgpFamily;
    else if (kv && kv[1] === 'BGP state') cur.state = kv[2];
    else if (kv && kv[1] === 'Neighbor address') cur.peer = canonicalIp(kv[2].replace(/%.*$/, ''));
    else if (kv && kv[1] === 'Last error') cur.info = kv[2];
    else if (kv && kv[1] === 'State' && channel && kv[2] === 'UP') cur.families.push(channel);
  }
  for (const s of sessions) {
    s.established = s.state === 'Established';
    if (!s.peer) throw new ProbeError(`birdc show protocols all: BGP protocol ${s.name} has no neighbor address`);
  }
  return { version, sessions };
}

/** The prefixes of `birdc show route export <protocol>` (one per route line; continuation lines are indented). */
export function parseBirdExport(out: string, proto = '<protocol>'): string[] {
  const cmd = `birdc show route export ${proto}`;
  const { lines } = reply(cmd, out);
  const prefixes = new Set<string>();
  for (const line of lines) {
    if (/^\s/.test(line) || /^Table \S+:$/.test(line)) continue;
    const p = canonicalPrefix(line.split(/\s/)[0]);
    if (!p) throw new ProbeError(`${cmd}: ${oneLine(line, 100)}`);
    prefixes.add(p);
  }
  return [...prefixes];
}

export async function readBird(socket: string, o: BgpReadOptions): Promise<BgpView> {
  const birdc = (args: string[]) =>
    run('birdc', ['-r', '-s', socket, ...args], { namespace: o.namespace, timeoutMs: o.timeoutMs(), signal: o.signal });
  const { version, sessions } = parseBirdProtocols((await birdc(['show', 'protocols', 'all'])).stdout);
  const audited = sessions.filter((s) => wanted(o.peers, s));
  for (const s of audited.filter((x) => x.established)) {
    s.announced = parseBirdExport((await birdc(['show', 'route', 'export', s.name!])).stdout, s.name);
  }
  return { daemon: 'bird', version, sessions: audited };
}
