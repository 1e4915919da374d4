/**
 * One passive channel as a Reporter, with its spool. A result goes straight to the receiver
 * unless older results of the same service still wait in the spool (order per service is
 * kept) or the channel is backing off after failed runs; what cannot be delivered now is
 * spooled, what is refused for good is reported loudly and dropped. At the end of the run
 * (close), the spool is flushed in check order. Nothing here changes a probe's status.
 */
import { acquireLock } from '../../lock.js';
import type { Logger } from '../../log.js';
import { oneLine } from '../../errors.js';
import { Status, STATUS_NAMES, type Result } from '../../result.js';
import type { ProbeRun } from '../../runner.js';
import type { Reporter } from '../reporter.js';
import { retry, type Channel, type Outcome } from './channel.js';
import { isStale, toPassive, type Naming, type PassiveResult } from './message.js';
import { describe, Spool, type SpoolEntry } from './spool.js';

/** The reason of a failure, or what the receiver said of a delivery. */
const says = (o: Outcome): string | undefined => ('reason' in o ? o.reason : o.detail);

export type DeliveryOutcome = 'delivered' | 'spooled' | 'rejected' | 'stale';

export interface DeliveryRecord {
  channel: string;
  target: string;
  service: string;
  status: string;
  outcome: DeliveryOutcome;
  reason?: string;
  ms?: number;
  /** Sent from the spool (an earlier run's result). */
  spooled_at_check?: string;
}

export interface PassiveSettings extends Naming {
  max_age: number;
  keep: 'latest' | 'all';
  timeoutMs: number;
  /** Also send the `lm-probe` self-service (spool depth, oldest waiting) after each run. */
  selfService?: boolean;
  /** Where the per-channel flush lock lives (two processes never send one spool twice). */
  lockDir?: string;
}

/** The self-service's probe name (its service: service_names['lm-probe'], default the same). */
export const SELF_SERVICE = 'lm-probe';

/** The spool of one channel as a check result: WARNING while results wait, CRITICAL when some were dropped. */
export function spoolResult(channel: string, waiting: PassiveResult[], dropped: string[], now = Date.now()): Result {
  const oldestS = waiting.length ? Math.round((now - Math.min(...waiting.map((w) => w.checkedAt))) / 1000) : 0;
  const status = dropped.length ? Status.CRITICAL : waiting.length ? Status.WARNING : Status.OK;
  const summary = waiting.length ? `${channel}: ${waiting.length} result(s) wait to be delivered, the oldest for ${oldestS}s` : `${channel}: nothing waits to be delivered`;
  return {
    probe: SELF_SERVICE, status, summary: dropped.length ? `${summary}; results were dropped` : summary, details: dropped,
    perfdata: [{ label: 'spooled', value: waiting.length, min: 0 }, { label: 'oldest_age', value: oldestS, uom: 's', min: 0 }], checkedAt: now,
  };
}

export class PassiveReporter implements Reporter {
  readonly name: string;
  readonly records: DeliveryRecord[] = [];
  /** What the spool dropped this run (bounds, keep: latest, stale), one line per reason. */
  readonly dropped: string[] = [];
  private chain: Promise<void> = Promise.resolve();
  private waiting?: Set<string>;
  private failedThisRun = false;

  constructor(readonly channel: Channel, readonly spool: Spool, private readonly settings: PassiveSettings, private readonly log: Logger) {
    this.name = `passive:${channel.name}`;
  }

  /** One at a time: deliveries of one channel never interleave, so the order holds. */
  deliver(run: ProbeRun): Promise<void> {
    this.chain = this.chain.then(() => this.deliverOne(run)).catch((err) => run.log.error(`${this.name}: ${oneLine(err)}`));
    return this.chain;
  }

  async close(): Promise<void> {
    await this.chain;
    try {
      await this.flush(false);
      if (this.settings.selfService) await this.sendSelf();
    } catch (err) {
      this.log.error(`${this.name}: spool ${this.spool.dir}: ${oneLine(err)}`);
    }
  }

  /** The channel's own state, through itself; never spooled (the next run sends a fresh one). */
  private async sendSelf(): Promise<void> {
    if (this.failedThisRun) return;
    const waiting = (await this.spool.entries()).map((e) => e.result);
    const r = toPassive(spoolResult(this.channel.name, waiting, this.dropped), this.settings);
    const out = await this.attempt(r);
    if (out.kind === 'retry') this.log.debug(`${this.name}: ${SELF_SERVICE} self-service not sent (${out.reason})`);
    else this.note(this.log, r, out.kind, says(out), out.ms);
  }

  private async deliverOne(run: ProbeRun): Promise<void> {
    const r = toPassive(run.result, this.settings);
    const log = run.log;
    if (isStale(r, this.settings.max_age)) {
      this.note(log, r, 'stale', `older than report.max_age ${this.settings.max_age}s: not sent`);
      return;
    }
    this.waiting ??= new Set((await this.spool.entries()).map((e) => e.result.service));
    const backoff = await this.spool.backoff();
    if (this.waiting.has(r.service) || this.failedThisRun || Date.now() < backoff.nextAt) {
      const why = this.waiting.has(r.service) ? 'older results of this service wait in the spool'
        : `the channel failed (${backoff.lastError || 'this run'}); next try ${this.failedThisRun ? 'next run' : `after ${new Date(backoff.nextAt).toISOString()}`}`;
      await this.enqueue(log, r, why);
      return;
    }
    const out = await this.attempt(r);
    if (out.kind === 'retry') {
      await this.failed(out.reason);
      await this.enqueue(log, r, out.reason, out.ms);
      return;
    }
    if (out.kind === 'delivered' && backoff.failures) await this.spool.succeeded();
    this.note(log, r, out.kind, says(out), out.ms);
  }

  /** Send what the spool holds, oldest first; stop at the first failure (the receiver is still down). */
  async flush(force: boolean): Promise<void> {
    if (!(await this.spool.any())) return;
    const lock = this.settings.lockDir ? await acquireLock(this.settings.lockDir, `spool-${this.channel.name}`) : undefined;
    if (lock && !lock.acquired) {
      this.log.debug(`${this.name}: lm-probe pid ${lock.pid} is sending this spool: not sent twice`);
      return;
    }
    try {
      await this.flushLocked(force);
    } finally {
      if (lock?.acquired) await lock.release();
    }
  }

  private async flushLocked(force: boolean): Promise<void> {
    const all = await this.spool.entries(); // read again under the lock: another process may have sent some
    if (!all.length) return;
    const backoff = await this.spool.backoff();
    if (!force && (this.failedThisRun || Date.now() < backoff.nextAt)) {
      this.log.debug(`${this.name}: ${all.length} result(s) wait in ${this.spool.dir}; next try ${this.failedThisRun ? 'next run' : `after ${new Date(backoff.nextAt).toISOString()}`}`);
      return;
    }
    const { kept, dropped } = await this.spool.prune(all);
    const toSend: SpoolEntry[] = [];
    const superseded: SpoolEntry[] = [];
    const stale: SpoolEntry[] = [];
    for (const [i, e] of kept.entries()) {
      if (isStale(e.result, this.settings.max_age)) stale.push(e);
      else if (this.settings.keep === 'latest' && kept.slice(i + 1).some((n) => n.result.service === e.result.service)) superseded.push(e);
      else toSend.push(e);
    }
    for (const e of [...stale, ...superseded]) await this.spool.remove(e);
    if (stale.length) dropped.push(`dropped ${stale.length} result(s) older than report.max_age ${this.settings.max_age}s, never sent as current (${describe(stale)})`);
    if (superseded.length) dropped.push(`sent only the newest result per service, dropped ${superseded.length} older one(s) (keep: latest; ${describe(superseded)})`);
    for (const line of dropped) this.log.warn(`${this.name}: spool: ${line}`);
    this.dropped.push(...dropped);

    for (const [i, e] of toSend.entries()) {
      const out = await this.attempt(e.result);
      if (out.kind === 'retry') {
        await this.failed(out.reason);
        this.log.warn(`${this.name}: spool flush stopped: ${out.reason}; ${toSend.length - i} result(s) still wait in ${this.spool.dir}`);
        return;
      }
      await this.spool.remove(e);
      this.note(this.log, e.result, out.kind, says(out), out.ms, true);
    }
    await this.spool.succeeded();
  }

  private async attempt(r: PassiveResult): Promise<Outcome & { ms: number }> {
    const started = Date.now();
    let out: Outcome;
    try {
      out = await this.channel.send(r, this.settings.timeoutMs);
    } catch (err) {
      out = retry(oneLine(err)); // a refused credentials file, a missing CA bundle: fixed by the operator, then sent
    }
    return { ...out, ms: Date.now() - started };
  }

  private async failed(reason: string): Promise<void> {
    if (this.failedThisRun) return;
    this.failedThisRun = true;
    const b = await this.spool.failed(reason);
    this.log.debug(`${this.name}: failure ${b.failures} in a row; next try ${b.nextAt <= Date.now() ? 'next run' : `after ${new Date(b.nextAt).toISOString()}`}`);
  }

  private async enqueue(log: Logger, r: PassiveResult, reason: string, ms?: number): Promise<void> {
    await this.spool.add(r);
    this.waiting?.add(r.service);
    this.note(log, r, 'spooled', reason, ms);
  }

  private note(log: Logger, r: PassiveResult, outcome: DeliveryOutcome, reason?: string, ms?: number, fromSpool = false): void {
    const rec: DeliveryRecord = { channel: this.channel.name, target: this.channel.target, service: r.service, status: STATUS_NAMES[r.status], outcome };
    if (reason) rec.reason = reason;
    if (ms !== undefined) rec.ms = ms;
    if (fromSpool) rec.spooled_at_check = new Date(r.checkedAt).toISOString();
    this.records.push(rec);
    const what = `${r.host}/${r.service} ${STATUS_NAMES[r.status]}${fromSpool ? ` (checked ${rec.spooled_at_check}, from the spool)` : ''}`;
    const took = ms !== undefined ? ` in ${ms} ms` : '';
    if (outcome === 'delivered') log.info(`${this.name}: delivered ${what} to ${this.channel.target}${took}${reason ? `: ${reason}` : ''}`);
    else if (outcome === 'spooled') log.warn(`${this.name}: ${what} not delivered (${reason}): spooled in ${this.spool.dir}`);
    else if (outcome === 'rejected') log.error(`${this.name}: REJECTED ${what}: ${reason}; dropped, not retried`);
    else log.warn(`${this.name}: ${what} ${reason}`);
  }
}
