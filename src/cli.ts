/**
 * The command line: one command per probe, plus `run`, `list`, `inventory` and `config`.
 * Parses options, loads the config, runs probes through the runner and hands results to the
 * reporters. Exit code: the probe's status (the worst one for `run`).
 */
import { Command } from 'commander';
import pkg from '../package.json' with { type: 'json' };
import { findProbe, registry } from '../probes/registry.js';
import { type Config, configSchema, loadConfig } from './config.js';
import { oneLine } from './errors.js';
import { execStats } from './host/exec.js';
import { gatherInventory } from './inventory/index.js';
import type { Inventory } from './inventory/types.js';
import { Logger } from './log.js';
import { formatJson } from './report/json.js';
import { formatNagios } from './report/nagios.js';
import { writeOco } from './report/oco.js';
import { parseRange, Status, unknownResult, worst, type Result } from './result.js';
import { type AnyProbe, runProbe } from './runner.js';

interface CommonOptions {
  config?: string;
  debug?: boolean;
  quiet?: boolean;
  json?: boolean;
  timeout?: string;
  oco?: boolean;
  warning?: string;
  critical?: string;
}

/** Print and exit once stdout is flushed; never wait for stray handles (a hung child, a socket). */
function finish(text: string, code: number): void {
  process.stdout.write(text, () => process.exit(code));
}

function withCommonOptions(cmd: Command, thresholds: boolean): Command {
  cmd
    .option('--config <file>', 'config file (default /etc/lm-probe/config.yaml; absent = built-in defaults)')
    .option('--debug', 'trace every step on stderr ([ DEBUG ] lines)')
    .option('--quiet', 'no [ INFO ] lines on stderr')
    .option('--json', 'print one JSON document instead of Nagios lines')
    .option('--timeout <seconds>', 'deadline of each probe (default 30, or `timeout` in the config)')
    .option('--oco', 'also write OCO status files (oco.dir)');
  if (thresholds) {
    cmd
      .option('-w, --warning <range>', 'Nagios range: WARNING when the count is outside it')
      .option('-c, --critical <range>', 'Nagios range: CRITICAL when the count is outside it');
  }
  return cmd;
}

/** Load the config and apply command-line overrides; throws a one-line error for the caller to report. */
function configure(opts: CommonOptions): Config {
  const config = loadConfig(opts.config);
  if (opts.timeout !== undefined) {
    const t = Number(opts.timeout);
    if (!Number.isFinite(t) || t <= 0) throw new Error(`--timeout must be a positive number of seconds, got "${opts.timeout}"`);
    config.timeout = t;
  }
  if (opts.oco) config.oco.enabled = true;
  // -w/-c apply to every probe that has thresholds (commander only offers them where they exist).
  for (const section of Object.values(config.probes)) {
    if (!('warning' in section)) continue;
    if (opts.warning !== undefined) section.warning = parseRange(opts.warning).text;
    if (opts.critical !== undefined) section.critical = parseRange(opts.critical).text;
  }
  return config;
}

/** Run the probes `select` picks once the config is known (`run` honours `enabled`). */
async function execute(select: (config: Config) => AnyProbe[], opts: CommonOptions, label: string): Promise<void> {
  const log = new Logger({ debug: opts.debug, quiet: opts.quiet });
  let config: Config;
  let probes: AnyProbe[];
  try {
    config = configure(opts);
    probes = select(config);
  } catch (err) {
    const r = unknownResult(label, oneLine(err, 400));
    return finish(opts.json ? formatJson([r], Status.UNKNOWN, { version: pkg.version }) : formatNagios(r), Status.UNKNOWN);
  }

  let inventory: Promise<Inventory> | undefined;
  const shared = { config, log, inventory: () => (inventory ??= gatherInventory(config, { log })) };
  const results: Result[] = [];
  for (const probe of probes) {
    const { result, log: probeLog } = await runProbe(probe, shared);
    if (config.oco.enabled) writeOco(result, config.oco, probeLog);
    results.push(result);
  }
  const overall = worst(...results.map((r) => r.status));
  const text = opts.json
    ? formatJson(results, overall, { version: pkg.version, host: config.host, processes_spawned: execStats.spawned })
    : results.map(formatNagios).join('');
  finish(text, overall);
}

export function buildProgram(): Command {
  const program = new Command('lm-probe')
    .description('Post-live-migration health checks for OpenStack compute nodes (Nagios plugin compatible).')
    .version(pkg.version, '-V, --version')
    .showHelpAfterError()
    .addHelpText('after', '\nExit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (`run`: the worst of its probes).');

  program
    .command('list')
    .description('list the probes and what each checks')
    .action(() => {
      const width = Math.max(...registry.map((p) => p.name.length));
      finish(registry.map((p) => `${p.name.padEnd(width)}  ${p.summary}\n`).join(''), 0);
    });

  program
    .command('config')
    .description('print the configuration in effect (or, with --example, every key with its default and meaning)')
    .option('--config <file>', 'config file (default /etc/lm-probe/config.yaml)')
    .option('--example', 'print the commented example config')
    .action(async (opts: { config?: string; example?: boolean }) => {
      if (opts.example) {
        const { renderExample } = await import('./config-example.js');
        return finish(renderExample(configSchema()), 0);
      }
      try {
        const { source, ...config } = loadConfig(opts.config);
        const { stringify } = await import('yaml');
        finish(`# from ${source || 'built-in defaults'}\n${stringify(config)}`, 0);
      } catch (err) {
        finish(`${oneLine(err, 400)}\n`, Status.UNKNOWN);
      }
    });

  program
    .command('inventory')
    .description('what is hosted on this node, as the probes see it: instances, ports, IPs, and each source\'s status')
    .option('--config <file>', 'config file (default /etc/lm-probe/config.yaml)')
    .option('--json', 'print the merged inventory as JSON')
    .option('--timeout <seconds>', 'deadline for gathering (default 30)')
    .option('--debug', 'trace each source on stderr')
    .action(async (opts: CommonOptions) => {
      let config: Config;
      try {
        config = configure(opts);
      } catch (err) {
        return finish(`${oneLine(err, 400)}\n`, Status.UNKNOWN);
      }
      const inv = await gatherInventory(config, { log: new Logger({ debug: opts.debug }) });
      const states = inv.sources.filter((s) => s.source !== 'cache').map((s) => s.state);
      // 0: every configured source answered; 1: degraded; 3: nothing could name the instances.
      const code = !states.includes('ok') ? Status.UNKNOWN : states.includes('failed') ? Status.WARNING : Status.OK;
      if (opts.json) return finish(`${JSON.stringify({ host: config.host, ...inv, processes_spawned: execStats.spawned }, null, 2)}\n`, code);
      const { formatInventory } = await import('./report/inventory.js');
      finish(formatInventory(inv), code);
    });

  withCommonOptions(program.command('run').argument('[probes...]', 'probes to run (default: every enabled probe)'), true)
    .description('run several probes; one Nagios block each, exit with the worst status')
    .action(async (names: string[], opts: CommonOptions) => {
      const unknown = names.filter((n) => !findProbe(n));
      if (unknown.length) {
        return finish(formatNagios(unknownResult('lm-probe', `unknown probe: ${unknown.join(', ')} (see lm-probe list)`)), Status.UNKNOWN);
      }
      const named = names.map((n) => findProbe(n)!);
      await execute((config) => (named.length ? named : registry.filter((p) => config.probes[p.name]?.enabled !== false)), opts, 'lm-probe');
    });

  for (const probe of registry) {
    const thresholds = 'warning' in probe.options && 'critical' in probe.options;
    withCommonOptions(program.command(probe.name), thresholds)
      .description(probe.summary)
      .action(async (opts: CommonOptions) => execute(() => [probe], opts, probe.name));
  }
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => finish(formatNagios(unknownResult('lm-probe', oneLine(err))), Status.UNKNOWN));
