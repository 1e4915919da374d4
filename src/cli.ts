/**
 * The command line: one command per probe, plus `run`, `list`, `inventory` and `config`
 * (`instance` is in cli-instance.ts, delivery's commands in cli-delivery.ts).
 * Parses options, loads the config, runs probes through the runner and hands results to the
 * reporters. Nothing here exits: `runCli` resolves to the text to print and the exit code, and
 * src/main.ts (the entry point) prints and exits. Usage errors are UNKNOWN (3) with one line on
 * stdout, as the plugin guidelines ask: a monitoring system reads 1 as WARNING.
 */
import { Command, CommanderError } from 'commander';
import { stringify } from 'yaml';
import pkg from '../package.json' with { type: 'json' };
import { namedProbes, registry } from '../probes/registry.js';
import { PASSIVE_OPTION, registerDeliveryCommands } from './cli-delivery.js';
import { registerInstanceCommand } from './cli-instance.js';
import { type Config, configSchema, loadConfig, redactedConfig } from './config.js';
import { oneLine } from './errors.js';
import { execStats } from './host/exec.js';
import { gatherInventory } from './inventory/index.js';
import { Logger } from './log.js';
import { enabledProbes, type AnyProbe } from './probe.js';
import { configuredReporters } from './report/index.js';
import { deliveryJson } from './report/passive/index.js';
import { formatJson } from './report/json.js';
import { formatNagios } from './report/nagios.js';
import { deliverAll } from './report/reporter.js';
import { parseRange, Status, unknownResult, worst } from './result.js';
import { createRun } from './run-context.js';
import { runProbes } from './runner.js';

export interface CliOutput {
  text: string;
  code: number;
}

interface CommonOptions {
  config?: string;
  debug?: boolean;
  quiet?: boolean;
  json?: boolean;
  timeout?: string;
  oco?: boolean;
  passive?: boolean;
  warning?: string;
  critical?: string;
  /** `lm-probe metrics`: also write the Prometheus textfile. */
  metrics?: boolean;
}

/** The longest --timeout accepted, s (a day; Node's timers cannot go past ~24.8 days anyway). */
const MAX_TIMEOUT_S = 86_400;

function withCommonOptions(cmd: Command, thresholds: boolean): Command {
  cmd
    .option('--config <file>', 'config file (default /etc/lm-probe/config.yaml; absent = built-in defaults)')
    .option('--debug', 'trace every step on stderr ([ DEBUG ] lines)')
    .option('--quiet', 'no [ INFO ] lines on stderr')
    .option('--json', 'print one JSON document instead of Nagios lines')
    .option('--timeout <seconds>', 'deadline of each probe (default 30, or `timeout` in the config)')
    .option('--oco', 'also write OCO status files (oco.dir)')
    .option(...PASSIVE_OPTION);
  if (thresholds) {
    cmd
      .option('-w, --warning <range>', 'Nagios range: WARNING when the count is outside it')
      .option('-c, --critical <range>', 'Nagios range: CRITICAL when the count is outside it');
  }
  return cmd;
}

/** Load the config and apply command-line overrides; throws a one-line error for the caller to report. */
export function configure(opts: CommonOptions, thresholdsFor?: AnyProbe): Config {
  const config = loadConfig(opts.config, registry);
  if (opts.timeout !== undefined) {
    const t = Number(opts.timeout);
    if (!Number.isFinite(t) || t <= 0 || t > MAX_TIMEOUT_S) throw new Error(`--timeout must be a number of seconds from 1 to ${MAX_TIMEOUT_S}, got "${opts.timeout}"`);
    config.timeout = t;
  }
  if (opts.oco) config.oco.enabled = true;
  if (opts.metrics) config.metrics.enabled = true;
  // -w/-c belong to the one probe named on the command line; `run` takes thresholds from the config.
  if (thresholdsFor) {
    const section = config.probes[thresholdsFor.name];
    if (opts.warning !== undefined) section.warning = parseRange(opts.warning).text;
    if (opts.critical !== undefined) section.critical = parseRange(opts.critical).text;
  }
  return config;
}

/** Secret values of the config, so no trace line can show them. */
export function secretsOf(config: Config): string[] {
  const a = config.inventory.openstack.auth;
  return [a.password, a.application_credential_secret].filter(Boolean);
}

/** Run the probes `select` picks once the config is known (`run` honours `enabled`). */
async function execute(select: (config: Config) => AnyProbe[], opts: CommonOptions, label: string, single?: AnyProbe): Promise<CliOutput> {
  const log = new Logger({ debug: opts.debug, quiet: opts.quiet });
  let config: Config;
  let probes: AnyProbe[];
  try {
    config = configure(opts, single);
    probes = select(config);
  } catch (err) {
    const r = unknownResult(label, oneLine(err, 400));
    return { text: opts.json ? formatJson([r], Status.UNKNOWN, { version: pkg.version }) : formatNagios(r), code: Status.UNKNOWN };
  }
  log.redact(secretsOf(config));
  // One probe: its own deadline. Several: they run side by side inside the run's overall deadline.
  const deadline = single ? undefined : Date.now() + config.run_timeout * 1000;
  const shared = createRun(config, log, { deadline });
  const reporters = configuredReporters(config, { passive: opts.passive, log });
  const runs = await runProbes(probes, shared, (run) => deliverAll(reporters, run));
  await Promise.all(reporters.map((r) => r.close?.(runs)));
  const results = runs.map((r) => r.result);
  const overall = worst(...results.map((r) => r.status));
  const text = opts.json
    ? formatJson(results, overall, { version: pkg.version, host: config.host, processes_spawned: execStats.spawned, ...(await deliveryJson(reporters)) })
    : results.map(formatNagios).join('');
  return { text, code: overall };
}

function buildProgram(done: (out: CliOutput) => void, writeOut: (text: string) => void): Command {
  const program = new Command('lm-probe')
    .description('Post-live-migration health checks for OpenStack compute nodes (Nagios plugin compatible).')
    .version(pkg.version, '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut, writeErr: () => {} })
    .addHelpText('after', '\nExit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (`run`: the worst of its probes).');

  program
    .command('list')
    .description('list the probes and what each checks')
    .action(() => {
      const width = Math.max(...registry.map((p) => p.name.length));
      done({ text: registry.map((p) => `${p.name.padEnd(width)}  ${p.summary}\n`).join(''), code: 0 });
    });

  program
    .command('config')
    .description('print the configuration in effect, secrets as *** (or, with --example, every key with its default and meaning)')
    .option('--config <file>', 'config file (default /etc/lm-probe/config.yaml)')
    .option('--example', 'print the commented example config')
    .action(async (opts: { config?: string; example?: boolean }) => {
      if (opts.example) {
        const { renderExample } = await import('./config-example.js');
        return done({ text: renderExample(configSchema(registry)), code: 0 });
      }
      try {
        const config = loadConfig(opts.config, registry);
        done({ text: `# from ${config.source || 'built-in defaults'}\n${stringify(redactedConfig(config, registry))}`, code: 0 });
      } catch (err) {
        done({ text: `${oneLine(err, 400)}\n`, code: Status.UNKNOWN });
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
        return done({ text: `${oneLine(err, 400)}\n`, code: Status.UNKNOWN });
      }
      const log = new Logger({ debug: opts.debug });
      log.redact(secretsOf(config));
      const inv = await gatherInventory(config, { log });
      const states = inv.sources.filter((s) => s.source !== 'cache').map((s) => s.state);
      // 0: every configured source answered; 1: degraded; 3: nothing could name the instances.
      const code = !states.includes('ok') ? Status.UNKNOWN : states.includes('failed') ? Status.WARNING : Status.OK;
      if (opts.json) return done({ text: `${JSON.stringify({ host: config.host, ...inv, processes_spawned: execStats.spawned }, null, 2)}\n`, code });
      const { formatInventory } = await import('./report/inventory.js');
      done({ text: formatInventory(inv), code });
    });

  withCommonOptions(program.command('run').argument('[probes...]', 'probes to run (default: every enabled probe)'), false)
    .description('run several probes side by side; one Nagios block each, exit with the worst status')
    .action(async (names: string[], opts: CommonOptions) => {
      let named: AnyProbe[];
      try {
        named = namedProbes(names);
      } catch (err) {
        return done({ text: formatNagios(unknownResult('lm-probe', oneLine(err, 400))), code: Status.UNKNOWN });
      }
      done(await execute((config) => (named.length ? named : enabledProbes(registry, config)), opts, 'lm-probe'));
    });

  // `run` that also writes the Prometheus textfile and counts migrations (src/report/metrics.ts).
  withCommonOptions(program.command('metrics'), false)
    .description('run every enabled probe, then write the Prometheus textfile (metrics.textfile) with their statuses, perfdata and the migrations counted on this node')
    .action(async (opts: CommonOptions) => done(await execute((config) => enabledProbes(registry, config), { ...opts, metrics: true }, 'lm-probe')));

  // The orphaned-disks probe's opt-in reaper: all of it lives in probes/orphaned-disks/reap.ts.
  program
    .command('reap-disks')
    .description('move what orphaned-disks finds into a quarantine (dry run unless --apply); --purge, --restore')
    .option('--config <file>', 'config file (default /etc/lm-probe/config.yaml)')
    .option('--apply', 'quarantine the orphans and leftovers (default: dry run, nothing changes)')
    .option('--purge', 'delete quarantined entries older than quarantine_days')
    .option('--restore <entry>', 'move a quarantined entry (<day>/<name> or <name>) back')
    .option('--debug', 'trace every step on stderr')
    .option('--quiet', 'no [ INFO ] lines on stderr')
    .action(async (opts: Parameters<typeof import('../probes/orphaned-disks/reap.js').reapDisks>[0]) => {
      const { reapDisks } = await import('../probes/orphaned-disks/reap.js');
      done(await reapDisks(opts, registry));
    });

  registerDeliveryCommands(program, done);
  registerInstanceCommand(program, done);

  for (const probe of registry) {
    const thresholds = 'warning' in probe.options && 'critical' in probe.options;
    withCommonOptions(program.command(probe.name), thresholds)
      .description(probe.summary)
      .action(async (opts: CommonOptions) => done(await execute(() => [probe], opts, probe.name, probe)));
  }
  return program;
}

/** Parse argv and run; resolves to what to print on stdout and the exit code. */
export async function runCli(argv: string[]): Promise<CliOutput> {
  let out: CliOutput | undefined;
  let printed = ''; // --help and --version text, written in pieces
  const program = buildProgram((o) => { out ??= o; }, (text) => { printed += text; });
  const args = argv.slice(2);
  if (args.length === 0) {
    return { text: formatNagios(unknownResult('lm-probe', 'no command given (lm-probe --help; lm-probe list for the probes)')), code: Status.UNKNOWN };
  }
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (out) return out;
    if (err instanceof CommanderError) {
      // --help and --version end through here with exit code 0 and their text already captured.
      if (err.exitCode === 0) return out ?? { text: printed, code: 0 };
      const reason = err.message.replace(/^error: /, '').replace(/\n[\s\S]*/, '');
      return { text: formatNagios(unknownResult('lm-probe', `usage: ${reason} (lm-probe --help)`)), code: Status.UNKNOWN };
    }
    return { text: formatNagios(unknownResult('lm-probe', oneLine(err))), code: Status.UNKNOWN };
  }
  return out ?? { text: formatNagios(unknownResult('lm-probe', 'nothing to do (lm-probe --help)')), code: Status.UNKNOWN };
}
