/**
 * `lm-probe daemon`: one long-lived process. Each enabled probe runs on its `schedule`
 * (node-cron); the probes due at the same moment share one run (one inventory); a probe still
 * running when it is due again is not started twice. Results go to the reporters at once
 * (passive channels with their spool, OCO). libvirt lifecycle events (`virsh event --loop`)
 * trigger every enabled probe `after_migration.delays` after a domain arrives or leaves by
 * migration. SIGHUP reloads the configuration (a broken one is refused, the old one kept);
 * SIGTERM/SIGINT stop scheduling, let the current runs finish within their deadline, and exit 0.
 *
 * Nothing of a run outlives it (run context, reporters, trace): memory stays flat.
 */
import { enabledProbes, type AnyProbe } from './probe.js';
import { type Config, loadConfig } from './config.js';
import { migrationDelays } from './daemon-config.js';
import { oneLine } from './errors.js';
import type { Watch } from './host/exec.js';
import { migrationOf, watchLifecycle } from './host/virsh-events.js';
import type { Logger } from './log.js';
import { configuredReporters } from './report/index.js';
import { formatNagios } from './report/nagios.js';
import { deliverAll } from './report/reporter.js';
import { createRun } from './run-context.js';
import { runProbes } from './runner.js';

interface CronTask { stop(): void | Promise<void>; destroy(): void | Promise<void> }

export interface DaemonOptions {
  configPath?: string;
  probes: readonly AnyProbe[];
  log: Logger;
  /** Called once running (tests and the unit's readiness wait for it). */
  onReady?: () => void;
}

/** What a daemon counts, for its own trace (and tests). */
export interface DaemonStats { ticks: number; runs: number; skippedOverrun: number; migrations: number; reloads: number }

/** Events of one domain in one direction within this window are one migration, ms. */
const SAME_MIGRATION_MS = 60_000;

/** How long probes that fall due together are gathered into one run, ms. */
const GATHER_MS = 50;

export class Daemon {
  readonly stats: DaemonStats = { ticks: 0, runs: 0, skippedOverrun: 0, migrations: 0, reloads: 0 };
  private config!: Config;
  private tasks: CronTask[] = [];
  private readonly running = new Set<string>();
  private readonly due = new Map<string, string>();
  private gather?: NodeJS.Timeout;
  private readonly inflight = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Deliveries of one tick after another: a channel's spool sees results in order. */
  private delivering: Promise<void> = Promise.resolve();
  private watch?: Watch;
  private watchRestarts = 0;
  private readonly lastTrigger = new Map<string, number>();
  /** Bumped at each (re)start: a watcher of an earlier generation is stopped, its end ignored. */
  private watchGen = 0;
  private stopping = false;
  private stopped!: () => void;
  readonly done = new Promise<void>((resolve) => { this.stopped = resolve; });

  constructor(private readonly opts: DaemonOptions) {}

  /** Load the config and start; throws a one-line reason when the config cannot be used. */
  async start(): Promise<void> {
    const config = this.load();
    await this.apply(config);
    this.opts.log.info(`daemon started (pid ${process.pid}): ${this.describeSchedules()}`);
    this.opts.onReady?.();
  }

  /** SIGHUP: a config that does not load or validate leaves the running one in place. */
  async reload(): Promise<void> {
    let config: Config;
    try {
      config = this.load();
    } catch (err) {
      this.opts.log.error(`reload refused, keeping the previous configuration: ${oneLine(err, 400)}`);
      return;
    }
    await this.apply(config);
    this.stats.reloads++;
    this.opts.log.info(`configuration reloaded from ${config.source || 'built-in defaults'}: ${this.describeSchedules()}`);
  }

  /** SIGTERM: no new runs; the current ones finish (or are cut at their deadline); then done. */
  async stop(why: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.opts.log.info(`${why}: stopping; waiting for ${this.inflight.size} run(s) in progress`);
    await this.clearSchedules();
    for (const t of this.timers) clearTimeout(t);
    if (this.gather) clearTimeout(this.gather);
    this.watch?.stop();
    await Promise.all(this.inflight);
    await this.delivering;
    this.opts.log.info('daemon stopped');
    this.stopped();
  }

  private load(): Config {
    const config = loadConfig(this.opts.configPath, this.opts.probes);
    migrationDelays(config.daemon.after_migration.delays); // refused here, not at the first migration
    return config;
  }

  private enabled(config = this.config): AnyProbe[] {
    return enabledProbes(this.opts.probes, config);
  }

  private async apply(config: Config): Promise<void> {
    const { default: cron } = await import('node-cron');
    const bySchedule = new Map<string, string[]>();
    for (const p of this.enabled(config)) {
      const expr = config.probes[p.name].schedule;
      if (!cron.validate(expr)) throw new Error(`probes.${p.name}.schedule: "${expr}" is not a cron expression`);
      bySchedule.set(expr, [...(bySchedule.get(expr) ?? []), p.name]);
    }
    await this.clearSchedules();
    this.config = config;
    for (const [expr, names] of bySchedule) {
      this.tasks.push(cron.schedule(expr, () => this.markDue(names, `schedule ${expr}`)));
    }
    this.restartWatch();
  }

  private async clearSchedules(): Promise<void> {
    const tasks = this.tasks;
    this.tasks = [];
    for (const t of tasks) await t.destroy();
  }

  private describeSchedules(): string {
    const probes = this.enabled();
    const watching = this.config.daemon.after_migration.enabled ? `; after a migration: +${this.config.daemon.after_migration.delays.join('s, +')}s` : '';
    return `${probes.map((p) => `${p.name} "${this.config.probes[p.name].schedule}"`).join(', ') || 'no probe enabled'}${watching}`;
  }

  /** Resolves once no run is pending or in progress (tests; a tick may start meanwhile). */
  async idle(): Promise<void> {
    while (this.gather || this.inflight.size) {
      await new Promise((r) => setTimeout(r, GATHER_MS));
      await Promise.all(this.inflight);
    }
  }

  /** Probes falling due within GATHER_MS of each other share one run. */
  markDue(names: string[], why: string): void {
    if (this.stopping) return;
    for (const n of names) if (!this.due.has(n)) this.due.set(n, why);
    this.gather ??= setTimeout(() => {
      this.gather = undefined;
      const p = this.tick().finally(() => this.inflight.delete(p));
      this.inflight.add(p);
    }, GATHER_MS);
  }

  private async tick(): Promise<void> {
    const log = this.opts.log;
    const due = [...this.due];
    this.due.clear();
    const overrun = due.filter(([n]) => this.running.has(n));
    for (const [n] of overrun) log.warn(`${n}: still running from an earlier tick: not started twice`);
    this.stats.skippedOverrun += overrun.length;
    const probes = this.opts.probes.filter((p) => due.some(([n]) => n === p.name) && !this.running.has(p.name));
    if (!probes.length) return;
    this.stats.ticks++;
    const config = this.config;
    for (const p of probes) this.running.add(p.name);
    log.debug(`tick: ${due.map(([n, why]) => `${n} (${why})`).join(', ')}`);
    try {
      const shared = createRun(config, log, { deadline: Date.now() + config.run_timeout * 1000 });
      const runs = await runProbes(probes, shared);
      this.stats.runs += runs.length;
      for (const r of runs) log.info(formatNagios(r.result).split('\n')[0]);
      this.delivering = this.delivering.then(async () => {
        const reporters = configuredReporters(config, { passive: true, log });
        for (const r of runs) await deliverAll(reporters, r);
        await Promise.all(reporters.map((r) => r.close?.(runs)));
      }).catch((err) => log.error(`delivery: ${oneLine(err)}`));
      await this.delivering;
    } finally {
      for (const p of probes) this.running.delete(p.name);
    }
  }

  /** (Re)start the lifecycle watcher as the config says; a watcher that dies is restarted with backoff. */
  private restartWatch(): void {
    this.watch?.stop();
    this.watch = undefined;
    const gen = ++this.watchGen;
    const am = this.config.daemon.after_migration;
    if (!am.enabled || this.stopping) return;
    const uri = this.config.inventory.libvirt.uri;
    const delays = migrationDelays(am.delays);
    const startedAt = Date.now();
    watchLifecycle(uri, (e) => {
      const m = migrationOf(e);
      if (!m) {
        this.opts.log.debug(`libvirt event: domain ${e.domain} ${e.event} ${e.detail}: not a migration`);
        return;
      }
      // The destination sees "Started Migrated" then "Resumed Migrated": one migration, one trigger.
      const key = `${m.domain} ${m.direction}`;
      if (Date.now() - (this.lastTrigger.get(key) ?? 0) < SAME_MIGRATION_MS) return;
      this.lastTrigger.set(key, Date.now());
      if (this.lastTrigger.size > 1000) this.lastTrigger.clear(); // bounded: a daemon lives long
      this.stats.migrations++;
      this.watchRestarts = 0;
      this.opts.log.info(`domain ${m.domain} ${m.direction} (${m.event} ${m.detail}): probes run in ${delays.join('s and ')}s`);
      for (const d of delays) {
        const t = setTimeout(() => {
          this.timers.delete(t);
          this.markDue(this.enabled().map((p) => p.name), `${m.domain} ${m.direction} ${d}s ago`);
        }, d * 1000);
        this.timers.add(t);
      }
    }, (why) => {
      if (this.stopping || gen !== this.watchGen) return;
      // A watcher that ran a while was fine: start the backoff afresh.
      if (Date.now() - startedAt > 60_000) this.watchRestarts = 0;
      const waitS = Math.min(this.config.daemon.restart_max, 2 ** this.watchRestarts++);
      this.opts.log.warn(`libvirt event watcher ended (${why}): restarting in ${waitS}s`);
      const t = setTimeout(() => { this.timers.delete(t); this.restartWatch(); }, waitS * 1000);
      this.timers.add(t);
    }).then((w) => {
      if (this.stopping || gen !== this.watchGen) return w.stop();
      this.watch = w;
      this.opts.log.info(`following libvirt lifecycle events (virsh -c ${uri} event --loop)`);
    }, (err) => this.opts.log.error(`libvirt event watcher: ${oneLine(err)}`));
  }
}
