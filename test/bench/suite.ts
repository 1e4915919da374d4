/**
 * The whole suite, `lm-probe run --json` (every enabled probe of probes/registry.ts, so probes
 * added later are measured without touching this file), on a lab node of N instances, healthy
 * and with one fault of each kind; and `lm-probe inventory --json` alone, whose sources say
 * "N instances in X ms". Processes are counted by lm-probe itself (--json processes_spawned,
 * per probe too): per probe they must not grow with N.
 */
import { isAddonFault } from '../lab/addons.js';
import { LAB_FAULTS, labDown, labUp, type LabFault } from '../lab/lab.js';
import { BIN } from '../support/cli.js';
import { alternate, figures, median, timed, type Figures, type Sample } from './measure.js';

export interface ProbeFigures {
  probe: string;
  status: string;
  /** In the suite, side by side: includes waiting for the shared inventory. */
  durationMs: number;
  processes: number;
  /** `lm-probe <probe> --json` alone (healthy labs only): its own figures, inventory included. */
  alone?: Figures;
}
export interface SuiteResult {
  size: number;
  /** The faults injected, one per instance from 1 (none: healthy). */
  faults: LabFault[];
  run: Figures & { processes: number; inventoryProcesses: number; probes: ProbeFigures[] };
  inventory: Figures & { processes: number; sources: { source: string; state: string; detail: string }[] };
}

export interface SuiteBenchOptions {
  sizes: number[];
  rounds: number;
  /** Also with faults (one of each kind the lab has without BGP and disks). */
  faults: boolean;
  /** Build the lab with a BGP speaker (bird) and the nova disk tree, for probes that read them. */
  addons: boolean;
  /** On healthy labs, also time each probe alone (its CPU over the inventory's is its own cost). */
  alone: boolean;
}

/** One fault of each kind the lab can make (BGP and disk faults only with the addons), on instances 1, 2, ... */
export function faultSet(size: number, addons: boolean): Record<number, LabFault> {
  const kinds = LAB_FAULTS.filter((f) => addons || !isAddonFault(f)).slice(0, size);
  return Object.fromEntries(kinds.map((f, i) => [i + 1, f]));
}

interface RunJson { processes_spawned: number; results: { probe: string; status_text: string; duration_ms: number; processes_spawned?: number }[] }
interface InventoryJson { processes_spawned: number; sources: { source: string; state: string; detail: string }[] }

const last = <T>(samples: Sample[]): T => JSON.parse(samples[samples.length - 1].stdout) as T;

export function benchSuite(o: SuiteBenchOptions, log: (line: string) => void): SuiteResult[] {
  const out: SuiteResult[] = [];
  for (const size of o.sizes) {
    for (const faulty of o.faults ? [false, true] : [false]) {
      const faults = faulty ? faultSet(size, o.addons) : {};
      log(`suite: ${size} instances, ${faulty ? `faults ${Object.values(faults).join(',')}` : 'healthy'}: lab up`);
      // The openvswitch firewall driver: the larger of the two flow tables (26 flows per port).
      const lab = labUp({ instances: size, faults, firewall: 'openvswitch', ...(o.addons ? { bgp: 'bird' as const, disks: true } : {}) });
      try {
        const cmd = (sub: string) => () => timed([BIN, sub, '--config', lab.configFile, '--json']);
        const warm = JSON.parse(cmd('run')().stdout) as RunJson; // warm-up: page cache, first-seen presence, inventory cache
        const alone = o.alone && !faulty ? warm.results.map((r) => r.probe) : [];
        log(`suite: ${size} instances: ${o.rounds} round(s)${alone.length ? `, each probe alone too` : ''}`);
        const samples = alternate(['run', 'inventory', ...alone].map((sub) => ({ name: sub, run: cmd(sub) })), o.rounds);
        const runs = samples.get('run')!;
        const inv = samples.get('inventory')!;
        const doc = last<RunJson>(runs);
        const perProbe = (name: string) => runs.map((s) => JSON.parse(s.stdout) as RunJson).map((d) => d.results.find((r) => r.probe === name)!);
        const probes = doc.results.map((r) => ({
          probe: r.probe,
          status: r.status_text,
          durationMs: median(perProbe(r.probe).map((x) => x.duration_ms)),
          processes: Math.max(...perProbe(r.probe).map((x) => x.processes_spawned ?? NaN)),
          ...(alone.includes(r.probe) ? { alone: figures(samples.get(r.probe)!) } : {}),
        }));
        const invDoc = last<InventoryJson>(inv);
        out.push({
          size,
          faults: Object.values(faults),
          run: { ...figures(runs), processes: doc.processes_spawned, inventoryProcesses: doc.processes_spawned - probes.reduce((a, p) => a + p.processes, 0), probes },
          inventory: { ...figures(inv), processes: invDoc.processes_spawned, sources: invDoc.sources },
        });
      } finally {
        labDown(lab);
      }
    }
  }
  return out;
}
