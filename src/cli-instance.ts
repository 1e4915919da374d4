/**
 * `lm-probe instance <uuid|name>`: every enabled probe once (one shared run, with `run`'s locks
 * and overall deadline), then what each says about that one instance; `--save` writes a
 * snapshot of it, `--compare` judges the findings now against one (src/instance-view.ts).
 * Registered from cli.ts. Nothing here exits or prints: it resolves to {text, code}.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import pkg from '../package.json' with { type: 'json' };
import { namedProbes, registry } from '../probes/registry.js';
import { configure, secretsOf, type CliOutput } from './cli.js';
import type { Config } from './config.js';
import { oneLine } from './errors.js';
import { execStats } from './host/exec.js';
import { isUuid } from './host/validate.js';
import { writeFileAtomic } from './fsutil.js';
import { compare, instanceJson, instanceResult, parseSnapshot, snapshotOf, viewOf, type Snapshot, type Subject } from './instance-view.js';
import { Logger } from './log.js';
import { enabledProbes, type AnyProbe } from './probe.js';
import { formatNagios } from './report/nagios.js';
import { Status, unknownResult, worst } from './result.js';
import { createRun } from './run-context.js';
import type { RunShared } from './runner.js';
import { runProbes } from './runner.js';

interface InstanceOptions {
  config?: string;
  probes?: string;
  json?: boolean;
  debug?: boolean;
  quiet?: boolean;
  timeout?: string;
  save?: string;
  compare?: string;
}

const fail = (reason: string): CliOutput => ({ text: formatNagios(unknownResult('lm-probe-instance', reason)), code: Status.UNKNOWN });

/** The probes asked for (`--probes a,b`), else every enabled one. */
function selectProbes(config: Config, list?: string): AnyProbe[] {
  if (!list) return enabledProbes(registry, config);
  const names = list.split(',').map((n) => n.trim()).filter(Boolean);
  if (!names.length) throw new Error('unknown probe: (none given) (see lm-probe list)');
  return namedProbes(names);
}

/** The instance named by a UUID or a libvirt name (instance-0000002a), from the inventory or the presence record. */
async function subjectOf(arg: string, shared: RunShared): Promise<Subject> {
  const inv = await shared.inventory();
  const known = (await shared.presence().catch(() => undefined))?.presence.record.instances ?? {};
  const wanted = arg.toLowerCase();
  const uuid = isUuid(arg) ? wanted
    : inv.instances.find((i) => i.name === arg)?.uuid ?? Object.entries(known).find(([, e]) => e.name === arg)?.[0];
  if (!uuid) throw new Error(`no instance named ${JSON.stringify(arg).slice(0, 80)} here nor in the presence record (give its UUID)`);
  const inst = inv.instances.find((i) => i.uuid === uuid);
  const answered = inv.sources.some((s) => s.state === 'ok');
  // Hosted: a domain, Nova or the inventory file says so; an OVS port alone is a leftover (as presence.ts).
  const hosted = inst ? inst.sources.some((s) => s !== 'ovs') : answered ? false : undefined;
  const name = inst?.name ?? known[uuid]?.name;
  return { uuid, ...(name ? { name } : {}), host: shared.config.host, hosted };
}

/** A snapshot is a few KiB; a pipe that never ends (ssh without input) must not hang the check. */
const STDIN_WAIT_MS = 10_000;
const SNAPSHOT_MAX_BYTES = 4 * 1024 * 1024;

function readStdin(waitMs: number, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const end = (err?: Error) => {
      clearTimeout(timer);
      process.stdin.removeAllListeners('data').removeAllListeners('end').removeAllListeners('error');
      process.stdin.pause();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(() => end(new Error(`stdin did not end within ${waitMs / 1000}s`)), waitMs);
    process.stdin.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) end(new Error(`more than ${maxBytes} bytes on stdin`));
      else chunks.push(c);
    });
    process.stdin.on('end', () => end());
    process.stdin.on('error', (err) => end(err));
  });
}

async function readSnapshot(file: string, uuid: string): Promise<Snapshot> {
  const where = file === '-' ? '- (stdin)' : file;
  let text: string;
  try {
    if (file !== '-') text = await readFile(file, 'utf8');
    else if (process.stdin.isTTY) throw new Error('stdin is a terminal, not a snapshot');
    else text = await readStdin(STDIN_WAIT_MS, SNAPSHOT_MAX_BYTES);
  } catch (err) {
    throw new Error(`--compare ${where}: cannot read (${oneLine(err, 160)})`);
  }
  return parseSnapshot(text, where, uuid);
}

export async function instanceCommand(arg: string, opts: InstanceOptions): Promise<CliOutput> {
  const log = new Logger({ debug: opts.debug, quiet: opts.quiet });
  let config: Config;
  let probes: AnyProbe[];
  try {
    config = configure(opts);
    probes = selectProbes(config, opts.probes);
  } catch (err) {
    return fail(oneLine(err, 400));
  }
  log.redact(secretsOf(config));
  // As `run`: the probes side by side, inside the run's overall deadline; no reporter delivers.
  const shared = createRun(config, log, { deadline: Date.now() + config.run_timeout * 1000 });
  let subject: Subject;
  let before: Snapshot | undefined;
  try {
    subject = await subjectOf(arg, shared);
    log.debug(`instance ${subject.uuid}${subject.name ? ` (${subject.name})` : ''}: ${subject.hosted === undefined ? 'no inventory source answered' : subject.hosted ? 'hosted here' : 'not hosted here: looking for its leftovers'}`);
    // A snapshot that cannot be used ends it before any probe runs.
    if (opts.compare) before = await readSnapshot(opts.compare, subject.uuid);
    if (before) log.debug(`comparing with the snapshot of ${before.time} on ${before.host}: ${Object.keys(before.probes).length} probes, ${Object.values(before.probes).reduce((n, p) => n + p.findings.length, 0)} findings`);
  } catch (err) {
    return fail(oneLine(err, 400));
  }
  const runs = await runProbes(probes, shared);
  const views = runs.map((r) => viewOf(r.result, subject.uuid, subject.hosted));
  for (const v of views) log.debug(`${v.probe}: ${v.checked ? `${v.findings.length} of its ${(runs.find((r) => r.result.probe === v.probe)!.result.findings ?? []).length} findings about this instance` : `could not check: ${v.summary}`}`);
  const where = opts.compare === '-' ? 'stdin' : opts.compare!;
  const c = before ? { comparison: compare(views, before), where, before } : undefined;
  const result = instanceResult(subject, views, c);

  if (opts.save) {
    const snapshot = `${JSON.stringify(snapshotOf({ ...subject, time: new Date(), views }), null, 2)}\n`;
    if (opts.save === '-') return { text: snapshot, code: result.status };
    try {
      await writeFileAtomic(opts.save, snapshot);
      log.info(`snapshot of ${subject.uuid} saved to ${opts.save}`);
    } catch (err) {
      // Asked for and not written: the before/after step would compare with nothing.
      result.status = worst(result.status, Status.UNKNOWN);
      result.details.unshift(`snapshot not saved to ${opts.save}: ${oneLine(err, 200)}`);
    }
  }
  const text = opts.json
    ? `${JSON.stringify({ version: pkg.version, ...instanceJson(subject, views, result, c), processes_spawned: execStats.spawned }, null, 2)}\n`
    : formatNagios(result);
  return { text, code: result.status };
}

export function registerInstanceCommand(program: Command, done: (out: CliOutput) => void): void {
  program
    .command('instance')
    .argument('<instance>', 'the instance\'s UUID (or its libvirt name, instance-0000002a)')
    .description('every enabled probe\'s findings about one instance (exit: the worst); --save a snapshot before a migration, --compare with it after')
    .option('--config <file>', 'config file (default /etc/lm-probe/config.yaml; absent = built-in defaults)')
    .option('--probes <names>', 'only these probes, comma-separated (default: every enabled probe)')
    .option('--json', 'print one JSON document instead of Nagios lines')
    .option('--debug', 'trace every step on stderr ([ DEBUG ] lines)')
    .option('--quiet', 'no [ INFO ] lines on stderr')
    .option('--timeout <seconds>', 'deadline of each probe (default 30, or `timeout` in the config)')
    .option('--save <file>', 'also write a snapshot of the instance\'s findings to file (- = stdout, instead of the report)')
    .option('--compare <file>', 'judge the findings against a snapshot taken before (- = stdin): new, already broken before, fixed')
    .action(async (arg: string, opts: InstanceOptions) => done(await instanceCommand(arg, opts)));
}
