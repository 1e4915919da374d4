/**
 * ICMP scan, side by side, same targets, same run: lm-probe's scan (the bundled worker, raw and
 * fping backends, exactly as icmpScan starts it: `ip netns exec <ns> node icmp-worker.js`) vs
 * fping at its default interval and at -i1, vs check_icmp as shipped and tuned like fping -i1,
 * inside the lab's ICMP namespaces
 * (test/lab/icmp-targets.ts). Each tool's answer is checked against the truth: an alive IP
 * called dead or a dead one called alive is counted, since a fast scan that loses replies is
 * not faster.
 */
import { fileURLToPath } from 'node:url';
import { anyIp, icmpTargetsDown, icmpTargetsUp, routedDead } from '../lab/icmp-targets.js';
import { alternate, figures, timed, type Figures, type Sample } from './measure.js';

export const CHECK_ICMP = '/usr/lib/nagios/plugins/check_icmp';
const WORKER = fileURLToPath(new URL('../../../dist/host/icmp-worker.js', import.meta.url));

export interface IcmpCase { size: number; deadPct: number }
export interface IcmpRow extends Figures {
  tool: string;
  /** Worst run: expected alive, answered dead (or not at all). */
  aliveCalledDead: number;
  /** Worst run: expected dead, answered alive. */
  deadCalledAlive: number;
  /** This row's median wall and CPU over fping -i1's, same case. */
  wallRatio: number;
  cpuRatio: number;
  note?: string;
}
export interface IcmpResult extends IcmpCase { timeoutMs: number; rows: IcmpRow[] }

export interface IcmpBenchOptions {
  cases: IcmpCase[];
  rounds: number;
  timeoutMs: number;
  /** check_icmp's -t (seconds): it waits that long whenever a target is dead. */
  checkIcmpCapS: number;
}

/** The targets: the dead ones spread evenly through the list (every tenth at 10 %), not at its end. */
export function targetsFor(c: IcmpCase): { ips: string[]; dead: Set<string> } {
  const deadCount = Math.round((c.size * c.deadPct) / 100);
  const alive = anyIp(c.size - deadCount);
  const dead = routedDead(deadCount);
  // Index i is dead when floor(i * deadCount / size) steps up at i + 1: exactly deadCount of them.
  const isDead = (i: number) => Math.floor(((i + 1) * deadCount) / c.size) > Math.floor((i * deadCount) / c.size);
  let a = 0;
  let d = 0;
  const ips = Array.from({ length: c.size }, (_, i) => (isDead(i) ? dead[d++] : alive[a++]));
  return { ips, dead: new Set(dead) };
}

// ---- what each tool says is alive -------------------------------------------------------------

/** The worker's {replies}: the IPs it found alive. */
export function aliveFromWorker(stdout: string): Set<string> {
  const msg = JSON.parse(stdout) as { replies?: { ip: string; alive: boolean }[]; error?: string };
  if (!msg.replies) throw new Error(`icmp worker: ${msg.error ?? 'no replies'}`);
  return new Set(msg.replies.filter((r) => r.alive).map((r) => r.ip));
}

/** fping -q -c1 (on stderr): `198.18.8.1  : xmt/rcv/%loss = 1/1/0%, min/avg/max = ...`. */
export function aliveFromFping(stderr: string): Set<string> {
  const alive = new Set<string>();
  for (const m of stderr.matchAll(/^(\S+)\s+: xmt\/rcv\/%loss = \d+\/(\d+)\//gm)) if (Number(m[2]) > 0) alive.add(m[1]);
  return alive;
}

/** check_icmp's perfdata: `198.18.8.1pl=0%;...` per host. */
export function aliveFromCheckIcmp(stdout: string): Set<string> {
  const alive = new Set<string>();
  for (const m of stdout.matchAll(/(\d+\.\d+\.\d+\.\d+)pl=(\d+)%/g)) if (Number(m[2]) < 100) alive.add(m[1]);
  return alive;
}

interface Tool { name: string; argv: (ips: string[], ns: string) => string[]; input?: (ips: string[]) => string; alive: (s: Sample) => Set<string> }

function tools(o: IcmpBenchOptions): Tool[] {
  const worker = (backend: 'raw' | 'fping'): Tool => ({
    name: `lm-probe (${backend})`,
    argv: (_ips, ns) => ['ip', 'netns', 'exec', ns, process.execPath, WORKER],
    input: (ips) => JSON.stringify({ ips, opts: { timeoutMs: o.timeoutMs, retries: 0, backend } }),
    alive: (s) => aliveFromWorker(s.stdout),
  });
  const fping = (extra: string[]): Tool => ({
    name: ['fping', '-c1', ...extra, `-t${o.timeoutMs}`].join(' '),
    argv: (ips, ns) => ['ip', 'netns', 'exec', ns, 'fping', '-q', '-c1', ...extra, `-t${o.timeoutMs}`, ...ips],
    alive: (s) => aliveFromFping(s.stderr),
  });
  return [
    worker('raw'),
    worker('fping'),
    fping([]),
    fping(['-i1']),
    checkIcmp(o, ['-t', String(o.checkIcmpCapS)]),
    // Tuned as fping -i1 is: 1 ms between packets and targets, and its -t (whole seconds) as the
    // wait for the last reply, since check_icmp waits for its -t whenever a target is dead.
    checkIcmp(o, ['-i', '1', '-I', '1', '-t', String(Math.ceil(o.timeoutMs / 1000))]),
  ];
}

function checkIcmp(o: IcmpBenchOptions, extra: string[]): Tool {
  return {
    name: ['check_icmp', '-n1', ...extra].join(' ').replace(/ -([itI]) /g, ' -$1'),
    // Critical at the timeout and 100 % loss, so its per-host wait matches the others'.
    argv: (ips, ns) => ['ip', 'netns', 'exec', ns, CHECK_ICMP, '-n', '1', ...extra, '-w', `${o.timeoutMs / 2},100%`, '-c', `${o.timeoutMs},100%`, ...ips],
    alive: (s) => aliveFromCheckIcmp(s.stdout),
  };
}

const BASELINE = (name: string) => name.startsWith('fping -c1 -i1');

export function benchIcmp(o: IcmpBenchOptions, log: (line: string) => void): IcmpResult[] {
  const ns = icmpTargetsUp();
  try {
    return o.cases.map((c) => {
      const { ips, dead } = targetsFor(c);
      log(`icmp: ${c.size} IPs, ${c.deadPct}% dead, ${o.rounds} round(s)`);
      const list = tools(o);
      const samples = alternate(list.map((t) => ({ name: t.name, run: () => timed(t.argv(ips, ns.a), { input: t.input?.(ips) }) })), o.rounds);
      const rows = list.map((t) => {
        let aliveCalledDead = 0;
        let deadCalledAlive = 0;
        let note: string | undefined;
        for (const s of samples.get(t.name)!) {
          let alive: Set<string>;
          try {
            alive = t.alive(s);
          } catch (e) {
            note = `${(e as Error).message}${s.stderr.trim() ? `: ${s.stderr.trim().split('\n')[0].slice(0, 120)}` : ''}`;
            alive = new Set();
          }
          aliveCalledDead = Math.max(aliveCalledDead, ips.filter((ip) => !dead.has(ip) && !alive.has(ip)).length);
          deadCalledAlive = Math.max(deadCalledAlive, [...dead].filter((ip) => alive.has(ip)).length);
        }
        const f = figures(samples.get(t.name)!);
        if (t.name.endsWith(`-t${o.checkIcmpCapS}`) && f.wallS >= o.checkIcmpCapS - 0.2) note = `hit its -t ${o.checkIcmpCapS} s`;
        return { tool: t.name, ...f, aliveCalledDead, deadCalledAlive, wallRatio: NaN, cpuRatio: NaN, ...(note ? { note } : {}) };
      });
      const base = rows.find((r) => BASELINE(r.tool))!;
      for (const r of rows) {
        r.wallRatio = r.wallS / base.wallS;
        r.cpuRatio = base.cpuS > 0 ? r.cpuS / base.cpuS : NaN;
      }
      return { ...c, timeoutMs: o.timeoutMs, rows };
    });
  } finally {
    icmpTargetsDown(ns);
  }
}
