/**
 * Runs probes under their lock and deadline. Whatever happens inside (a throw, a hang, output
 * that cannot be parsed) comes out as a Result: UNKNOWN with a one-line reason, never a stack.
 * A library, not a CLI: nothing here exits, prints or keeps state between runs, so a daemon can
 * call it a thousand times.
 */
import type { Config } from './config.js';
import { ProbeError, oneLine } from './errors.js';
import { activeCommands, execStats } from './host/exec.js';
import { degradedLines } from './inventory/index.js';
import type { Inventory } from './inventory/types.js';
import { acquireLock } from './lock.js';
import type { Logger } from './log.js';
import type { Presence } from './presence.js';
import type { AnyProbe } from './probe.js';
import { Status, STATUS_NAMES, unknownResult, worst, type ProbeOutcome, type Result } from './result.js';
import { StateStore } from './state.js';
import { join } from 'node:path';

export type { AnyProbe } from './probe.js';

/** What the probes of one run share: the config, the trace, one inventory, one presence record. */
export interface RunShared {
  config: Config;
  log: Logger;
  /** Memoised: the first probe that asks gathers, the others reuse. */
  inventory: () => Promise<Inventory>;
  /** Memoised likewise; `problems` are the shared state's (corrupt, not saved). */
  presence: () => Promise<{ presence: Presence; problems: string[] }>;
  /** Epoch ms by which the whole run must end; a probe's own deadline never passes it. */
  deadline?: number;
}

export interface ProbeRun {
  result: Result;
  /** The probe's own trace (all levels), for the OCO debug file. */
  log: Logger;
  /** Another run holds this probe's lock: nothing was checked, and nothing may be delivered. */
  refused?: boolean;
}

/** After the deadline, how long a probe's work gets to wind down (its processes are being killed). */
const SETTLE_MS = 1500;

export async function runProbe(probe: AnyProbe, shared: RunShared): Promise<ProbeRun> {
  const log = shared.log.child();
  const started = Date.now();
  const abort = new AbortController();
  const finish = (r: Result, refused = false): ProbeRun => {
    const processesSpawned = execStats.bySignal.get(abort.signal) ?? 0;
    const result = { ...r, durationMs: Date.now() - started, processesSpawned, checkedAt: Date.now() };
    if (result.status === Status.UNKNOWN) log.debug(`${probe.name}: ${result.summary}`);
    return refused ? { result, log, refused } : { result, log };
  };
  const timeoutS = shared.config.timeout;
  const deadline = Math.min(started + timeoutS * 1000, shared.deadline ?? Infinity);
  if (deadline - started < 100) return finish(unknownResult(probe.name, 'not run: the run\'s overall deadline was reached'));

  let lock;
  try {
    lock = await acquireLock(shared.config.lock_dir, probe.name);
  } catch (err) {
    return finish(unknownResult(probe.name, `cannot take lock in ${shared.config.lock_dir}: ${oneLine(err)}`));
  }
  if (!lock.acquired) return finish(unknownResult(probe.name, `already running (pid ${lock.pid})`), true);

  const state = new StateStore(join(shared.config.state_dir, probe.name), log);
  const used = { inventory: false, inventoryDone: false, waitingFor: '' };
  let partial: ProbeOutcome | undefined;
  let presenceProblems: string[] = [];

  const work = (async (): Promise<Result> => {
    const outcome = await probe.run({
      options: shared.config.probes[probe.name],
      config: shared.config,
      log,
      signal: abort.signal,
      remainingMs: () => Math.max(0, deadline - Date.now()),
      inventory: async () => {
        used.inventory = true;
        used.waitingFor = 'the inventory';
        try {
          const inv = await shared.inventory();
          used.inventoryDone = true;
          return inv;
        } finally {
          used.waitingFor = '';
        }
      },
      presence: async () => {
        const p = await shared.presence();
        presenceProblems = p.problems;
        return p.presence;
      },
      state,
      partial: (o: ProbeOutcome) => { partial = o; },
    });
    return { probe: probe.name, ...outcome };
  })().catch((err: unknown): Result => {
    if (abort.signal.aborted) return timedOut();
    if (err instanceof ProbeError) return unknownResult(probe.name, oneLine(err));
    // A bug, not an expected failure: keep the stack for --debug, show one line.
    log.debug(`internal error: ${(err as Error)?.stack ?? String(err)}`);
    return unknownResult(probe.name, `internal error: ${oneLine(err)}`);
  });

  /** The deadline's verdict: what was being waited for, and what was learned by then. */
  const cutAt = { what: '' };
  function timedOut(): Result {
    const why = `timed out after ${Math.round((deadline - started) / 100) / 10}s${cutAt.what ? ` waiting for ${cutAt.what}` : ''}`;
    if (!partial) return unknownResult(probe.name, why);
    // What was seen before the cut still counts: a CRITICAL seen is CRITICAL, anything else UNKNOWN.
    const status = partial.status === Status.CRITICAL ? Status.CRITICAL : Status.UNKNOWN;
    return { probe: probe.name, ...partial, status, summary: `${partial.summary} (partial: ${why})`, partial: true };
  }

  let timer: NodeJS.Timeout | undefined;
  const cut = new Promise<Result>((resolve) => {
    timer = setTimeout(() => {
      cutAt.what = used.waitingFor || activeCommands(abort.signal).join(', ');
      abort.abort(); // kills every process the probe started
      resolve(timedOut());
    }, deadline - started);
  });

  // The lock is released only once the work has ended (its processes are killed at the cut).
  const settled = work.finally(() => lock.release());
  let result = await Promise.race([work, cut]);
  clearTimeout(timer);
  if (abort.signal.aborted) await Promise.race([settled, new Promise((r) => setTimeout(r, SETTLE_MS))]);
  else await settled;
  // A command the probe no longer waits for (a sibling of one that failed) ends with the probe.
  if (!abort.signal.aborted && activeCommands(abort.signal).length) abort.abort();

  // Reduced coverage and lost state are worth a line of their own, whatever the probe said.
  const extra = [...state.problems, ...presenceProblems];
  // ("no inventory: ..." already names every source that failed.)
  // Even after a deadline cut: a source that used up half the time is part of the story.
  if (used.inventoryDone && !result.summary.startsWith('no inventory:')) {
    const inv = await shared.inventory();
    extra.push(...degradedLines(inv).filter((l) => !result.details.includes(l)));
    if (!abort.signal.aborted) result = degrade(result, inv, shared.config.inventory.on_degraded);
  }
  if (extra.length) result = { ...result, details: [...result.details, ...extra] };
  return finish(result);
}

/**
 * A source failed and no fresh cache stood in for it: instances may be hidden from the check, so
 * an OK is worth `on_degraded` at best (default WARNING). With the cache standing in, the
 * coverage is that of the last good inventory and the details say so.
 */
function degrade(r: Result, inv: Inventory, onDegraded: 'ok' | 'warning' | 'unknown'): Result {
  const failed = inv.sources.filter((s) => s.state === 'failed').map((s) => s.source);
  if (!failed.length || inv.cacheAgeS !== undefined || r.status !== Status.OK || onDegraded === 'ok') return r;
  const status = onDegraded === 'unknown' ? Status.UNKNOWN : Status.WARNING;
  return { ...r, status, summary: `${r.summary}; inventory degraded (${failed.join(', ')} failed): ${STATUS_NAMES[status]} at best`, degraded: true };
}

/** Up to this many probes of one run at a time (they share the inventory, not much else). */
export const RUN_CONCURRENCY = 4;

/**
 * Every probe given, RUN_CONCURRENCY at a time, inside the run's overall deadline; `onResult`
 * sees each run as soon as it ends (reporters deliver it). Results come back in the given order.
 */
export async function runProbes(probes: AnyProbe[], shared: RunShared, onResult?: (run: ProbeRun) => Promise<void> | void): Promise<ProbeRun[]> {
  const runs: ProbeRun[] = new Array(probes.length);
  let next = 0;
  const worker = async () => {
    while (next < probes.length) {
      const i = next++;
      runs[i] = await runProbe(probes[i], shared);
      await onResult?.(runs[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(RUN_CONCURRENCY, probes.length) }, worker));
  return runs;
}

export const overallStatus = (runs: ProbeRun[]): Status => worst(...runs.map((r) => r.result.status));
