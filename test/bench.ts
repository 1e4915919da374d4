/**
 * `npm run bench`: is lm-probe cheaper and faster than what an operator already runs, and does
 * it stay so on the biggest node? Everything runs on the lab (root, namespaces), measured with
 * /usr/bin/time -v, commands alternated so the machine's noise cancels out (test/bench/).
 *
 *   npm run bench                  everything: ICMP at 50/500/2000 IPs (all alive, 10 % dead),
 *                                  the suite at 6/100/500 instances (healthy, faults), start-up
 *   npm run bench -- --quick       a ~30-second subset: ICMP at 50 and 500 IPs 10 % dead, suite at 6, start-up
 *   npm run bench -- --only daemon the real daemon, its probes every second, over --daemon-runs ticks
 *                                  (default 1000, ~17 min): RSS and CPU every 100 ticks
 *   options: --only icmp,suite,startup,daemon   --rounds N   --icmp-sizes 50,500   --suite-sizes 6,100
 *            --timeout MS (ICMP, default 1000)   --no-faults   --addons (BGP speaker + disk tree)
 *            --out FILE (default ./bench-results.json; the markdown goes next to it, .md)
 * Speed is shown here, never asserted in tests.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchIcmp, type IcmpCase, type IcmpResult } from './bench/icmp-side-by-side.js';
import { machine, markdown, scaling } from './bench/report.js';
import { benchStartup, type StartupRow } from './bench/startup.js';
import { benchSuite, type SuiteResult } from './bench/suite.js';
import { benchDaemon, daemonMarkdown, type DaemonResult } from './bench/daemon.js';

const { values: a } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    only: { type: 'string' },
    rounds: { type: 'string' },
    'icmp-sizes': { type: 'string' },
    'suite-sizes': { type: 'string' },
    timeout: { type: 'string' },
    'no-faults': { type: 'boolean' },
    addons: { type: 'boolean' },
    out: { type: 'string' },
    'daemon-runs': { type: 'string' },
  },
});
const list = (v: string | undefined, dflt: number[]) => (v ? v.split(',').map(Number).filter((n) => n > 0) : dflt);
const quick = a.quick ?? false;
const only = new Set((a.only ?? 'icmp,suite,startup').split(','));
const timeoutMs = Number(a.timeout ?? 1000);
const rounds = (dflt: number) => Number(a.rounds ?? (quick ? 1 : dflt));
const icmpCases: IcmpCase[] = list(a['icmp-sizes'], quick ? [50, 500] : [50, 500, 2000])
  .flatMap((size) => (quick ? [10] : [0, 10]).map((deadPct) => ({ size, deadPct })));
const out = resolve(a.out ?? 'bench-results.json');
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

const started = machine();
const icmp: IcmpResult[] = only.has('icmp')
  ? benchIcmp({ cases: icmpCases, rounds: rounds(3), timeoutMs, checkIcmpCapS: quick ? 3 : 10 }, log)
  : [];
const suite: SuiteResult[] = only.has('suite')
  ? benchSuite({ sizes: list(a['suite-sizes'], quick ? [6] : [6, 100, 500]), rounds: rounds(3), faults: !quick && !a['no-faults'], addons: a.addons ?? false, alone: !quick }, log)
  : [];
const startup: StartupRow[] = only.has('startup') ? benchStartup(quick ? 5 : Number(a.rounds ?? 15), log) : [];
// Not in the default set: it takes a second per tick.
const daemon: DaemonResult | undefined = only.has('daemon')
  ? await benchDaemon({ runs: Number(a['daemon-runs'] ?? 1000), sample: 100, instances: 6, probes: ['instance-routed', 'ovs-ports'] }, log)
  : undefined;
const loadAfter = machine().loadAvg;
const fit = scaling(suite);

const md = markdown({ machine: started, loadAfter, icmp, suite, startup, scaling: fit }) + (daemon ? `\n${daemonMarkdown(daemon)}` : '');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify({ machine: started, loadAfter, options: { quick, timeoutMs }, icmp, suite, startup, scaling: fit, daemon }, null, 2) + '\n');
writeFileSync(out.replace(/\.json$/, '') + '.md', md);
process.stdout.write(md);
log(`results: ${out} (markdown: ${out.replace(/\.json$/, '')}.md)`);
