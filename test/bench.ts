/**
 * `npm run bench`: what one run of a probe costs on the lab node at several sizes, measured
 * with /usr/bin/time -v on the real binary (wall, CPU, max RSS) plus the number of processes
 * lm-probe started. Speed is shown here, never asserted in tests.
 *   npm run bench -- [sizes...]     default: 6 200
 */
import { spawnSync } from 'node:child_process';
import { labDown, labUp, type Fault } from './lab/lab.js';
import { BIN } from './support/cli.js';

interface Sample { wallS: number; cpuS: number; maxRssKb: number; spawned: number; status: string }

/** What `--json` says of the run: probe statuses, or the inventory's sources. */
function summary(doc: { results?: { probe: string; status_text: string }[]; sources?: { source: string; state: string }[] }): string {
  if (doc.results) return doc.results.map((x) => `${x.probe}=${x.status_text}`).join(' ');
  return (doc.sources ?? []).map((x) => `${x.source}=${x.state}`).join(' ');
}

function measure(args: string[]): Sample {
  const r = spawnSync('/usr/bin/time', ['-v', BIN, ...args, '--json'], { encoding: 'utf8', timeout: 120_000 });
  const field = (name: string) => {
    const m = r.stderr.match(new RegExp(`${name}: (.+)`));
    return m ? m[1].trim() : '';
  };
  const [min, sec] = field('Elapsed \\(wall clock\\) time \\(h:mm:ss or m:ss\\)').split(':').map(Number);
  const doc = JSON.parse(r.stdout);
  return {
    wallS: min * 60 + sec,
    cpuS: Number(field('User time \\(seconds\\)')) + Number(field('System time \\(seconds\\)')),
    maxRssKb: Number(field('Maximum resident set size \\(kbytes\\)')),
    spawned: doc.processes_spawned,
    status: summary(doc),
  };
}

function median(args: string[], runs = 3): Sample {
  measure(args); // warm-up: page cache, first-seen state, inventory cache
  const samples = Array.from({ length: runs }, () => measure(args)).sort((a, b) => a.wallS - b.wallS);
  return samples[Math.floor(runs / 2)];
}

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
/** Each lab state with the commands it is measured with: healthy, network faults, OVS faults. */
const scenarios: { faults: Record<number, Fault>; commands: string[] }[] = [
  { faults: {}, commands: ['inventory', 'instance-routed', 'ovs-ports', 'openflow-rules'] },
  { faults: { 2: 'no-route', 3: 'drop-icmp', 4: 'dead' }, commands: ['instance-routed'] },
  { faults: { 2: 'no-flows', 3: 'port-error', 4: 'no-port' }, commands: ['ovs-ports', 'openflow-rules'] },
];
console.log('command          instances  faults  wall_s(median)  cpu_s  max_rss_MB  processes  status');
for (const n of sizes.length ? sizes : [6, 200]) {
  for (const { faults, commands } of scenarios) {
    // The openvswitch firewall: the larger flow table (26 flows per port) of the two drivers.
    const lab = labUp({ instances: n, faults, firewall: 'openvswitch' });
    try {
      for (const cmd of commands) {
        const m = median([cmd, '--config', lab.configFile]);
        const label = String(Object.keys(faults).length);
        console.log(`${cmd.padEnd(15)}  ${String(n).padStart(9)}  ${label.padStart(6)}  ${m.wallS.toFixed(2).padStart(14)}  ${m.cpuS.toFixed(2).padStart(5)}  ${(m.maxRssKb / 1024).toFixed(1).padStart(10)}  ${String(m.spawned).padStart(9)}  ${m.status}`);
      }
    } finally {
      labDown(lab);
    }
  }
}
