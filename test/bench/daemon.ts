/**
 * The daemon over many scheduled runs (`npm run bench -- --only daemon`): the real `lm-probe
 * daemon` on a lab node, its probes scheduled every second (node-cron's seconds field: the
 * accelerated schedule), each result delivered through a command_file channel (a plain file
 * here, so every delivery is counted). Every `sample` ticks: the daemon's RSS (/proc VmRSS)
 * and the CPU it and its children used so far (/proc stat utime+stime+cutime+cstime).
 * Memory must stay flat; CPU per tick is what the daemon costs a hypervisor.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { labDown, labUp } from '../lab/lab.js';
import { BIN, variantConfig } from '../support/cli.js';

export interface DaemonSample { ticks: number; deliveries: number; rssMb: number; cpuS: number; wallS: number }
export interface DaemonResult { instances: number; probes: string[]; samples: DaemonSample[]; skippedOverrun: number }

const EVERY_SECOND = '* * * * * *';
const NEVER = '0 0 1 1 *';
const CLK_TCK = 100;

function procFigures(pid: number): { rssMb: number; cpuS: number } {
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  // Fields after "(comm)": state is field 3; utime, stime, cutime, cstime are fields 14-17.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = [11, 12, 13, 14].reduce((n, i) => n + Number(f[i]), 0);
  return { rssMb: rssKb / 1024, cpuS: ticks / CLK_TCK };
}

export async function benchDaemon(o: { runs: number; sample: number; instances: number; probes: string[] }, log: (line: string) => void): Promise<DaemonResult> {
  const lab = labUp({ instances: o.instances });
  try {
    const results = join(lab.dir, 'delivered');
    writeFileSync(results, '');
    const probes = Object.fromEntries(['instance-routed', 'ovs-ports', 'openflow-rules', 'instance-placement', 'migrations']
      .map((p) => [p, { schedule: o.probes.includes(p) ? EVERY_SECOND : NEVER }]));
    const cfg = variantConfig(lab.configFile, 'bench-daemon', {
      probes, report: { passive: [{ type: 'command_file', path: results }] }, daemon: { after_migration: { enabled: false } },
    });
    const child = spawn(BIN, ['daemon', '--quiet', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const started = Date.now();
    const samples: DaemonSample[] = [];
    const deliveries = () => (existsSync(results) ? readFileSync(results, 'utf8').split('\n').length - 1 : 0);
    let next = 1; // the first sample after the first tick: loaded and warm
    try {
      for (;;) {
        const n = deliveries();
        const ticks = Math.floor(n / o.probes.length);
        if (ticks >= next || ticks >= o.runs) {
          const s = { ticks, deliveries: n, ...procFigures(child.pid!), wallS: (Date.now() - started) / 1000 };
          samples.push(s);
          log(`daemon: ${s.ticks} ticks, ${s.deliveries} deliveries, RSS ${s.rssMb.toFixed(1)} MB, CPU ${s.cpuS.toFixed(1)} s in ${s.wallS.toFixed(0)} s`);
          next = next === 1 ? o.sample : next + o.sample;
          if (ticks >= o.runs) break;
        }
        if (child.exitCode !== null) throw new Error(`the daemon exited: ${stderr}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    const skippedOverrun = (stderr.match(/not started twice/g) ?? []).length;
    return { instances: o.instances, probes: o.probes, samples, skippedOverrun };
  } finally {
    labDown(lab);
  }
}

export function daemonMarkdown(r: DaemonResult): string {
  const rows = r.samples.map((s, i) => {
    const prev = r.samples[i - 1];
    const perTick = prev && s.ticks > prev.ticks ? `${(((s.cpuS - prev.cpuS) / (s.ticks - prev.ticks)) * 1000).toFixed(0)} ms` : '';
    return `| ${s.ticks} | ${s.deliveries} | ${s.rssMb.toFixed(1)} MB | ${s.cpuS.toFixed(1)} s | ${perTick} |`;
  });
  return [
    `### The daemon: ${r.probes.join(' + ')} every second, ${r.instances} instances, each result delivered (command_file)`,
    '',
    '| ticks | deliveries | RSS | CPU so far (daemon + children) | CPU per tick since the row above |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    `Overrun ticks skipped (a probe still running when due again): ${r.skippedOverrun}.`,
    '',
  ].join('\n');
}
