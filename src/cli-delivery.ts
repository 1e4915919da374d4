/**
 * The delivery part of the command line: `--passive` (deliver to report.passive),
 * `lm-probe spool [--flush]` (what waits per channel; retry it now) and `lm-probe daemon`
 * (src/daemon.ts). Registered from cli.ts.
 */
import type { Command } from 'commander';
import { registry } from '../probes/registry.js';
import type { CliOutput } from './cli.js';
import { loadConfig } from './config.js';
import { oneLine } from './errors.js';
import { Logger } from './log.js';
import { passiveReporters } from './report/passive/index.js';
import type { PassiveReporter } from './report/passive/reporter.js';
import { describe } from './report/passive/spool.js';
import { Status } from './result.js';

export const PASSIVE_OPTION = ['--passive', 'also deliver the results as passive checks (report.passive), spooling what cannot be delivered'] as const;

const age = (ms: number) => (ms < 120_000 ? `${Math.round(ms / 1000)}s` : ms < 7_200_000 ? `${Math.round(ms / 60_000)}m` : `${Math.round(ms / 3_600_000)}h`);

/** One paragraph per channel: what waits, since when, why. */
async function spoolStatus(r: PassiveReporter, now: number): Promise<{ text: string; json: Record<string, unknown>; waiting: number }> {
  const entries = await r.spool.entries();
  const b = await r.spool.backoff();
  const oldest = entries.length ? Math.min(...entries.map((e) => e.result.checkedAt)) : undefined;
  const json = {
    channel: r.channel.name, target: r.channel.target, dir: r.spool.dir, waiting: entries.length,
    oldest_age_s: oldest === undefined ? null : Math.round((now - oldest) / 1000),
    services: Object.fromEntries(entries.reduce((m, e) => m.set(e.result.service, (m.get(e.result.service) ?? 0) + 1), new Map<string, number>())),
    failures: b.failures, last_error: b.lastError || null, next_try: b.nextAt ? new Date(b.nextAt).toISOString() : null,
    broken_files: r.spool.broken,
  };
  const lines = [`${r.channel.name} -> ${r.channel.target}: ${entries.length ? `${entries.length} waiting (${describe(entries)}), oldest ${age(now - oldest!)} old` : 'nothing waits'}`];
  if (b.failures) lines.push(`  ${b.failures} failed run(s) in a row, last: ${b.lastError}; next try ${b.nextAt > now ? `after ${new Date(b.nextAt).toISOString()}` : 'next run'}`);
  for (const f of r.spool.broken) lines.push(`  not a spooled result (left in place): ${f}`);
  return { text: lines.join('\n'), json, waiting: entries.length };
}

export function registerDeliveryCommands(program: Command, done: (out: CliOutput) => void): void {
  program
    .command('daemon')
    .description('run the enabled probes on their schedules (probes.<name>.schedule) and after each live migration, delivering the results as passive checks; SIGHUP reloads, SIGTERM stops')
    .option('--config <file>', 'config file (default /etc/lm-probe/config.yaml)')
    .option('--debug', 'trace every step on stderr')
    .option('--quiet', 'no [ INFO ] lines on stderr')
    .action(async (opts: { config?: string; debug?: boolean; quiet?: boolean }) => {
      const { Daemon } = await import('./daemon.js');
      const daemon = new Daemon({ configPath: opts.config, probes: registry, log: new Logger({ debug: opts.debug, quiet: opts.quiet }) });
      try {
        await daemon.start();
      } catch (err) {
        return done({ text: `${oneLine(err, 400)}\n`, code: Status.UNKNOWN });
      }
      const onHup = () => void daemon.reload();
      process.on('SIGHUP', onHup);
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void daemon.stop(`${sig} received`));
      await daemon.done;
      process.off('SIGHUP', onHup);
      done({ text: '', code: Status.OK });
    });

  program
    .command('spool')
    .description('passive results waiting to be delivered, per channel (exit 0: none wait, 1: some wait); --flush retries them now')
    .option('--config <file>', 'config file (default /etc/lm-probe/config.yaml)')
    .option('--flush', 'retry delivering every waiting result now, ignoring the backoff')
    .option('--json', 'print one JSON document')
    .option('--debug', 'trace every step on stderr')
    .option('--quiet', 'no [ INFO ] lines on stderr')
    .action(async (opts: { config?: string; flush?: boolean; json?: boolean; debug?: boolean; quiet?: boolean }) => {
      const log = new Logger({ debug: opts.debug, quiet: opts.quiet });
      let reporters: PassiveReporter[];
      try {
        reporters = passiveReporters(loadConfig(opts.config, registry), log);
      } catch (err) {
        return done({ text: `${oneLine(err, 400)}\n`, code: Status.UNKNOWN });
      }
      if (!reporters.length) return done({ text: 'no passive channel configured (report.passive)\n', code: Status.OK });
      if (opts.flush) for (const r of reporters) await r.flush(true);
      const now = Date.now();
      const status = await Promise.all(reporters.map((r) => spoolStatus(r, now)));
      const waiting = status.reduce((n, s) => n + s.waiting, 0);
      const code = waiting ? Status.WARNING : Status.OK;
      if (opts.json) {
        const delivery = reporters.flatMap((r) => r.records);
        return done({ text: `${JSON.stringify({ waiting, channels: status.map((s) => s.json), ...(opts.flush ? { delivery, dropped: reporters.flatMap((r) => r.dropped) } : {}) }, null, 2)}\n`, code });
      }
      const flushed = opts.flush ? reporters.flatMap((r) => r.records).map((d) => `${d.outcome} ${d.service} ${d.status} via ${d.channel}${d.reason ? `: ${d.reason}` : ''}`) : [];
      done({ text: `${[...flushed, ...status.map((s) => s.text)].join('\n')}\n`, code });
    });
}
