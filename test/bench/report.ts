/** The benchmark's output: markdown tables (for the README's Performance section) and the JSON document. */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import type { IcmpResult } from './icmp-side-by-side.js';
import { fitLine } from './measure.js';
import type { StartupRow } from './startup.js';
import type { SuiteResult } from './suite.js';

export interface Machine { nproc: number; cpu: string; loadAvg: number[]; node: string; kernel: string; date: string }

export function machine(): Machine {
  return {
    nproc: cpus().length,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    loadAvg: loadavg().map((x) => Math.round(x * 100) / 100),
    node: process.version,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    date: new Date().toISOString(),
  };
}

/** Per-instance slope and fixed cost of the healthy suite, wall and CPU (least squares over the sizes run). */
export interface Scaling { sizes: number[]; wall: { fixedS: number; perInstanceMs: number }; cpu: { fixedS: number; perInstanceMs: number } }

export function scaling(suite: SuiteResult[]): Scaling | null {
  const healthy = suite.filter((s) => s.faults.length === 0);
  if (healthy.length < 2) return null;
  const fit = (y: (s: SuiteResult) => number) => {
    const { slope, fixed } = fitLine(healthy.map((s) => ({ x: s.size, y: y(s) })));
    return { fixedS: fixed, perInstanceMs: slope * 1000 };
  };
  return { sizes: healthy.map((s) => s.size), wall: fit((s) => s.run.wallS), cpu: fit((s) => s.run.cpuS) };
}

const s2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const s3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '—');
const ratio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '—');
const mb = (x: number) => x.toFixed(0);
const table = (head: string[], rows: (string | number)[][]) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

export function markdown(r: { machine: Machine; loadAfter: number[]; icmp: IcmpResult[]; suite: SuiteResult[]; startup: StartupRow[]; scaling: Scaling | null }): string {
  const m = r.machine;
  const out: string[] = [
    `Machine: ${m.nproc} × ${m.cpu}, load average ${m.loadAvg.join(' ')} at the start, ${r.loadAfter.join(' ')} at the end; Node ${m.node}, Linux ${m.kernel}, ${m.date}.`,
    'Figures are medians of alternating runs; CPU is user + sys of every process (`/usr/bin/time -v`); ratios are to `fping -c1 -i1` on the same targets in the same run.',
  ];
  for (const c of r.icmp) {
    out.push('', `**ICMP scan: ${c.size} IPs, ${c.deadPct} % dead, ${c.timeoutMs} ms timeout, no retries** (${c.rows[0]?.runs ?? 0} runs each)`, '');
    out.push(table(['command', 'wall s', 'CPU s', 'max RSS MB', 'wall / fping -i1', 'CPU / fping -i1', 'alive called dead (worst run)', 'dead called alive (worst run)'],
      c.rows.map((x) => [`\`${x.tool}\`${x.note ? ` (${x.note})` : ''}`, s2(x.wallS), s3(x.cpuS), mb(x.maxRssMb), ratio(x.wallRatio), ratio(x.cpuRatio), x.aliveCalledDead, x.deadCalledAlive])));
  }
  if (r.suite.length) {
    out.push('', '**Whole suite, `lm-probe run --json`** (lab node, libvirt test driver + OVS inventory)', '');
    out.push(table(['instances', 'faults', 'wall s', 'CPU s', 'max RSS MB', 'processes', 'of which inventory', 'statuses'],
      r.suite.map((s) => [s.size, s.faults.length ? s.faults.join(', ') : 'none', s2(s.run.wallS), s2(s.run.cpuS), mb(s.run.maxRssMb), s.run.processes, s.run.inventoryProcesses,
        s.run.probes.map((p) => `${p.probe} ${p.status}`).join(', ')])));
    const names = [...new Set(r.suite.flatMap((s) => s.run.probes.map((p) => p.probe)))];
    const cols = r.suite.map((s) => `${s.size}${s.faults.length ? ` (${s.faults.length} faults)` : ''}`);
    out.push('', '**Per probe: processes spawned (must not grow with N: compare equal fault counts) and duration ms**', '');
    out.push(table(['probe', ...cols.map((c) => `processes @${c}`), ...cols.map((c) => `ms @${c}`)],
      names.map((n) => {
        const at = (s: SuiteResult) => s.run.probes.find((p) => p.probe === n);
        return [n, ...r.suite.map((s) => at(s)?.processes ?? '—'), ...r.suite.map((s) => at(s)?.durationMs ?? '—')];
      })));
    const healthy = r.suite.filter((s) => s.faults.length === 0 && s.run.probes.some((p) => p.alone));
    if (healthy.length) {
      out.push('', '**Each probe alone, healthy: `lm-probe <probe> --json`, CPU s (its own = alone − inventory alone)**', '');
      out.push(table(['probe', ...healthy.map((s) => `CPU @${s.size}`), ...healthy.map((s) => `own @${s.size}`), ...healthy.map((s) => `wall @${s.size}`)],
        names.map((n) => {
          const at = (s: SuiteResult) => s.run.probes.find((p) => p.probe === n)?.alone;
          return [n, ...healthy.map((s) => s2(at(s)?.cpuS ?? NaN)), ...healthy.map((s) => s2((at(s)?.cpuS ?? NaN) - s.inventory.cpuS)), ...healthy.map((s) => s2(at(s)?.wallS ?? NaN))];
        })));
    }
    out.push('', '**Inventory alone, `lm-probe inventory --json`**', '');
    out.push(table(['instances', 'faults', 'wall s', 'CPU s', 'max RSS MB', 'processes', 'sources'],
      r.suite.map((s) => [s.size, s.faults.length ? 'yes' : 'none', s2(s.inventory.wallS), s2(s.inventory.cpuS), mb(s.inventory.maxRssMb), s.inventory.processes,
        s.inventory.sources.map((x) => `${x.source}: ${x.detail}`).join('; ')])));
  }
  if (r.scaling) {
    const f = r.scaling;
    out.push('', `**Scaling, healthy suite, least squares over N = ${f.sizes.join(', ')}**: wall = ${s3(f.wall.fixedS)} s + ${s3(f.wall.perInstanceMs)} ms × N; ` +
      `CPU = ${s3(f.cpu.fixedS)} s + ${s3(f.cpu.perInstanceMs)} ms × N.`);
  }
  if (r.startup.length) {
    out.push('', `**Start-up** (${r.startup[0].runs} alternating runs)`, '');
    out.push(table(['command', 'wall s', 'CPU s', 'max RSS MB', 'wall / node -e 0', 'CPU / node -e 0'],
      r.startup.map((x) => [`\`${x.command}\``, s3(x.wallS), s3(x.cpuS), mb(x.maxRssMb), ratio(x.wallRatio), ratio(x.cpuRatio)])));
  }
  return out.join('\n') + '\n';
}
