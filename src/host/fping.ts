/**
 * The fping backend of icmpScan: ONE fping process for all targets. It is the fallback when
 * raw sockets are not permitted (Debian's fping carries cap_net_raw).
 */
import { ProbeError, oneLine } from '../errors.js';
import { run } from './exec.js';
import type { IcmpOptions, IcmpReply } from './icmp.js';
import { ipKey } from './validate.js';

/** fping's gap between any two pings (its default, 10 ms, makes 2,000 targets take 20 s). */
const INTERVAL_MS = 1;

export async function fpingScan(ips: string[], opts: IcmpOptions): Promise<IcmpReply[]> {
  const targets = [...new Set(ips)];
  // -B 1: no backoff, every attempt waits timeoutMs; targets on stdin (fping refuses -f to non-root).
  const args = ['-e', '-t', String(opts.timeoutMs), '-r', String(opts.retries), '-B', '1', '-i', String(INTERVAL_MS)];
  const r = await run('fping', args, {
    namespace: opts.namespace,
    signal: opts.signal,
    input: targets.join('\n') + '\n',
    timeoutMs: (opts.retries + 1) * (opts.timeoutMs + targets.length * INTERVAL_MS) + 2000,
    okExitCodes: [1], // some targets unreachable: an answer
  });
  return parseFping(r.stdout, r.stderr, ips);
}

/**
 * stdout: "198.18.0.2 is alive (0.04 ms)" / "198.18.0.50 is unreachable";
 * stderr says why: "ICMP Host Unreachable from 198.18.0.1 for ICMP Echo sent to 198.18.0.50",
 * "198.18.4.1: error while sending ping: Network is unreachable".
 */
export function parseFping(stdout: string, stderr: string, ips: string[]): IcmpReply[] {
  const why = new Map<string, string>();
  for (const line of stderr.split('\n')) {
    let m = /^ICMP (.+?) from (\S+) for ICMP Echo sent to (\S+)/.exec(line);
    if (m) why.set(ipKey(m[3]), `${m[1].toLowerCase()} (from ${m[2]})`);
    else if ((m = /^(\S+): error while sending ping: (.+)$/.exec(line))) why.set(ipKey(m[1]), oneLine(m[2], 120));
  }
  const seen = new Map<string, Omit<IcmpReply, 'ip'>>();
  for (const line of stdout.split('\n')) {
    const m = /^(\S+) is (alive|unreachable)\b/.exec(line);
    if (!m) continue;
    const key = ipKey(m[1]);
    const rtt = /\(([\d.]+) ms\)/.exec(line);
    if (m[2] === 'unreachable') seen.set(key, { alive: false, error: why.get(key) ?? 'timed out' });
    else seen.set(key, rtt ? { alive: true, rttMs: Number(rtt[1]) } : { alive: true });
  }
  return ips.map((ip) => {
    const r = seen.get(ipKey(ip));
    if (!r) throw new ProbeError(`fping: unparseable output: ${oneLine(stdout.split('\n')[0] || stderr.split('\n')[0] || '(none)')}`);
    return { ip, ...r };
  });
}
