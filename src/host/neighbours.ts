/**
 * Who answers, at layer 2, for addresses that did not answer ICMP?
 * IPv4: ONE `arp-scan` per interface for all of its targets (Roy Hills' arp-scan: targets on
 * stdin, every reply printed, a second MAC for the same IP flagged as a duplicate).
 * IPv6: neighbour solicitation with `ndisc6` (no batch tool exists), a few at a time and at most
 * NDP_MAX addresses per run. Every answering MAC is kept: the caller compares them with the port's.
 * A sweep that cannot ask (interface missing, tool failing) is that IP's detail, never a throw.
 */
import { isIP } from 'node:net';
import { ProbeError, oneLine } from '../errors.js';
import { run } from './exec.js';
import { assertInterface, assertIp, ipKey, isMac } from './validate.js';

export interface L2Answer {
  /** 'arp' (IPv4) or 'ndp' (IPv6 neighbour solicitation). */
  protocol: 'arp' | 'ndp';
  /** Where it asked. */
  iface: string;
  /** Every MAC that answered, lower case, in the order seen; empty: no answer. */
  macs: string[];
  /** Why it could not ask (the tool failed, the interface is missing); the answer is then unknown. */
  error?: string;
  /** Why it did not ask (a limit), when it did not. */
  skipped?: string;
}

/** IPv6 addresses solicited per run at most (one ndisc6 each), and how many at a time. */
export const NDP_MAX = 64;
const NDP_PARALLEL = 16;
/** arp-scan processes (one per interface) at a time. */
const ARP_PARALLEL = 8;
/** arp-scan's gap between two requests (ms): 1,000 targets go out in a second. */
const ARP_INTERVAL_MS = 1;
/** Attempts per target (arp-scan's --retry, ndisc6's -r). */
const ATTEMPTS = 2;

const MAC_AT_START = /^([0-9a-f]{2}(?::[0-9a-f]{2}){5})\b/i;

/**
 * `arp-scan --plain --quiet` output: "198.18.1.4\tfa:16:3e:1f:00:03", a duplicate reply adding
 * "\t(DUP: 2)". Every MAC per IP, in order, each once.
 */
export function parseArpScan(stdout: string): Map<string, string[]> {
  const answers = new Map<string, string[]>();
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    const tab = line.indexOf('\t');
    const ip = tab < 0 ? line : line.slice(0, tab);
    const m = MAC_AT_START.exec(tab < 0 ? '' : line.slice(tab + 1));
    if (isIP(ip) !== 4 || !m) throw new ProbeError(`arp-scan: unparseable output: ${oneLine(line, 80)}`);
    const macs = answers.get(ip) ?? [];
    const mac = m[1].toLowerCase();
    if (!macs.includes(mac)) macs.push(mac);
    answers.set(ip, macs);
  }
  return answers;
}

/** `ndisc6 -q -m` output: one MAC per line, upper case (one per node that answered: -m waits for them all). */
export function parseNdisc6(stdout: string): string[] {
  const macs: string[] = [];
  for (const line of stdout.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const mac = line.toLowerCase();
    if (!isMac(mac)) throw new ProbeError(`ndisc6: unparseable output: ${oneLine(line, 80)}`);
    if (!macs.includes(mac)) macs.push(mac);
  }
  return macs;
}

export interface SweepOptions {
  namespace?: string;
  /** Wait for an answer this long (per attempt). */
  waitMs: number;
  /** Hard limit for the whole sweep (the probe's remaining time). */
  budgetMs: number;
  signal?: AbortSignal;
}

/** One arp-scan for every IPv4 target reachable through `iface`. */
export async function arpScan(ips: string[], iface: string, opts: SweepOptions): Promise<Map<string, string[]>> {
  for (const ip of ips) assertIp(ip);
  assertInterface(iface);
  const args = ['--plain', '--quiet', '--numeric', `--interface=${iface}`, `--retry=${ATTEMPTS}`, `--timeout=${opts.waitMs}`,
    `--interval=${ARP_INTERVAL_MS}`, '--file=-'];
  // Every target once per attempt, then the last timeout (arp-scan backs off 1.5x per pass).
  const expected = ATTEMPTS * ips.length * ARP_INTERVAL_MS + opts.waitMs * 2.5 + 1000;
  const { stdout } = await run('arp-scan', args, {
    namespace: opts.namespace, input: ips.join('\n') + '\n', signal: opts.signal, timeoutMs: Math.min(expected, opts.budgetMs),
  });
  return parseArpScan(stdout);
}

/** Neighbour solicitation for one IPv6 address on `iface`; the MACs that answered. */
export async function ndiscSolicit(ip: string, iface: string, opts: SweepOptions): Promise<string[]> {
  if (isIP(assertIp(ip)) !== 6) throw new ProbeError(`ndisc6: not an IPv6 address: ${ip}`);
  assertInterface(iface);
  const args = ['-q', '-m', '-n', '-r', String(ATTEMPTS), '-w', String(opts.waitMs), ip, iface];
  // ndisc6 exits 2 when nobody answered; anything on stderr then is a failure (no such interface...).
  const r = await run('ndisc6', args, {
    namespace: opts.namespace, signal: opts.signal, okExitCodes: [2], timeoutMs: Math.min(ATTEMPTS * opts.waitMs + 1000, opts.budgetMs),
  });
  if (r.exitCode === 2 && r.stderr.trim() && !/no response/i.test(r.stderr)) throw new ProbeError(`ndisc6 on ${iface}: ${oneLine(r.stderr, 120)}`);
  return r.exitCode === 0 ? parseNdisc6(r.stdout) : [];
}

/** Run `jobs` at most `parallel` at a time. */
async function inBatches<T>(jobs: T[], parallel: number, work: (job: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) await work(jobs[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, jobs.length) }, worker));
}

const failure = (e: unknown) => (e instanceof ProbeError ? e.message : oneLine(e));

/**
 * Ask every target at layer 2, each on its interface. One arp-scan per interface (IPv4), one
 * ndisc6 per IPv6 address up to NDP_MAX. Never throws for a failing tool: each IP gets its answer,
 * its error or why it was skipped. Keyed by the IP as given.
 */
export async function neighbourSweep(targets: { ip: string; iface: string }[], opts: SweepOptions): Promise<Map<string, L2Answer>> {
  const answers = new Map<string, L2Answer>();
  const v4 = new Map<string, string[]>(); // iface -> IPs
  const v6: { ip: string; iface: string }[] = [];
  for (const t of targets) {
    if (isIP(t.ip) === 4) v4.set(t.iface, [...(v4.get(t.iface) ?? []), t.ip]);
    else if (v6.length < NDP_MAX) v6.push(t);
    else answers.set(t.ip, { protocol: 'ndp', iface: t.iface, macs: [], skipped: `more than ${NDP_MAX} IPv6 addresses to solicit` });
  }
  const arpJob = async ([iface, ips]: [string, string[]]) => {
    try {
      const seen = await arpScan(ips, iface, opts);
      const byKey = new Map([...seen].map(([ip, macs]) => [ipKey(ip), macs]));
      for (const ip of ips) answers.set(ip, { protocol: 'arp', iface, macs: byKey.get(ipKey(ip)) ?? [] });
    } catch (e) {
      for (const ip of ips) answers.set(ip, { protocol: 'arp', iface, macs: [], error: failure(e) });
    }
  };
  const ndpJob = async ({ ip, iface }: { ip: string; iface: string }) => {
    try {
      answers.set(ip, { protocol: 'ndp', iface, macs: await ndiscSolicit(ip, iface, opts) });
    } catch (e) {
      answers.set(ip, { protocol: 'ndp', iface, macs: [], error: failure(e) });
    }
  };
  await Promise.all([inBatches([...v4], ARP_PARALLEL, arpJob), inBatches(v6, NDP_PARALLEL, ndpJob)]);
  return answers;
}
