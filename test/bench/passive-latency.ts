/**
 * `npm run bench:passive`: how long lm-probe takes to hand one result over, per passive channel
 * (the `ms` of each `delivery` record of `lm-probe run --passive --json`), from a lab node to the
 * lab's real receivers (nagios4 through its pipe and through nsca, icinga2's API) and to the
 * NRDP and ws_arbiter stand-ins (test/support/fake-passive.ts), all in the lab's monitoring
 * namespace. Each channel alone, `--rounds` runs (default 20) of instance-routed CRITICAL with long
 * output and perfdata, run in the node namespace. With `report.self_service` each run delivers
 * a second result (the `lm-probe` service, renamed to one the receivers know) on the same
 * channel: the first delivery of a run pays for loading the HTTP client and the TLS handshake,
 * the second shows the warm cost. Prints a markdown table; `--out FILE` also
 * writes the figures as JSON. Speed is shown here, never asserted in tests.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { labDown, labUp } from '../lab/lab.js';
import { variantConfig } from '../support/cli.js';
import { startFakeIn } from '../support/fake-passive.js';
import { commandFileChannel, icingaChannel, lmProbeInNode, nscaChannel, secretFile } from '../support/passive.js';
import { median } from './measure.js';
import { machine } from './report.js';

const { values: a } = parseArgs({ options: { rounds: { type: 'string' }, out: { type: 'string' } } });
const rounds = Number(a.rounds ?? 20);
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

const started = machine();
const lab = labUp({ instances: 3, faults: { 2: 'no-route', 3: 'no-route' }, monitoring: true });
const m = lab.monitoring!;
const nrdp = await startFakeIn(m.ns, m.addr, 'nrdp', ['lmp-token'], { testHook: false });
const ws = await startFakeIn(m.ns, m.addr, 'ws_arbiter', ['lm-probe', 'lmp-pw'], { testHook: false });
const channels: Record<string, Record<string, unknown>> = {
  command_file: commandFileChannel(m),
  nsca: nscaChannel(m),
  icinga2: icingaChannel(m, lab.dir),
  nrdp: { type: 'nrdp', url: `${nrdp.url}/nrdp/`, token_file: secretFile(lab.dir, 'nrdp.token', 'lmp-token') },
  ws_arbiter: { type: 'ws_arbiter', url: ws.url, username: 'lm-probe', password_file: secretFile(lab.dir, 'ws.pw', 'lmp-pw') },
};
const rows: { channel: string; receiver: string; n: number; medianMs: number; maxMs: number; minMs: number; warmMedianMs: number; warmMaxMs: number }[] = [];
try {
  for (const [name, entry] of Object.entries(channels)) {
    const cfg = variantConfig(lab.configFile, `bench-${name}`, { state_dir: join(lab.dir, `state-bench-${name}`), probes: { 'instance-routed': { grace: 0 } }, report: { passive: [entry], self_service: true, service_names: { 'lm-probe': 'ovs-ports' } } });
    const ms: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const ds = lmProbeInNode(lab.nodeNs, ['run', 'instance-routed', '--passive', '--config', cfg]).doc.delivery;
      if (ds.length !== 2 || ds.some((d) => d.outcome !== 'delivered' || d.ms === undefined)) throw new Error(`${name}: not delivered: ${JSON.stringify(ds)}`);
      ms.push(ds[0].ms!);
      warm.push(ds[1].ms!);
    }
    const receiver = {
      command_file: `${m.nagios.version}, its pipe`,
      nsca: `${m.nsca.version} → ${m.nagios.version}`,
      icinga2: `${m.icinga.version} API (TLS, Basic auth)`,
    }[name] ?? 'stand-in (Node http server, plain HTTP)';
    rows.push({ channel: name, receiver, n: ms.length, medianMs: median(ms), maxMs: Math.max(...ms), minMs: Math.min(...ms), warmMedianMs: median(warm), warmMaxMs: Math.max(...warm) });
    log(`${name}: first ${ms.join(' ')} ms; second ${warm.join(' ')} ms`);
  }
} finally {
  nrdp.stop();
  ws.stop();
  labDown(lab);
}
const loadAfter = machine().loadAvg;
const md = [
  `Passive delivery latency, ${rounds} deliveries per channel (${started.date}, ${started.nproc} × ${started.cpu}, load ${started.loadAvg.join(' ')} before, ${loadAfter.join(' ')} after)`,
  '',
  '| channel | receiver | first of a run: median ms | max ms | second in the same run: median ms | max ms |',
  '|---|---|---|---|---|---|',
  ...rows.map((r) => `| \`${r.channel}\` | ${r.receiver} | ${r.medianMs} | ${r.maxMs} | ${r.warmMedianMs} | ${r.warmMaxMs} |`),
  '',
].join('\n');
if (a.out) writeFileSync(a.out, JSON.stringify({ machine: started, loadAfter, rounds, rows }, null, 2) + '\n');
process.stdout.write(md);
