/**
 * Runs one probe under its lock and deadline. Whatever happens inside (a throw, a hang, output
 * that cannot be parsed) comes out as a Result: UNKNOWN with a one-line reason, never a stack.
 */
import type { Config } from './config.js';
import { ProbeError, oneLine } from './errors.js';
import type { Inventory } from './inventory/types.js';
import { acquireLock } from './lock.js';
import type { Logger } from './log.js';
import type { Probe } from './probe.js';
import { Status, unknownResult, type Result } from './result.js';
import { StateStore } from './state.js';

export interface RunShared {
  config: Config;
  log: Logger;
  /** Memoised: the first probe that asks gathers, the others reuse. */
  inventory: () => Promise<Inventory>;
}

export interface ProbeRun {
  result: Result;
  /** The probe's own trace (all levels), for the OCO debug file. */
  log: Logger;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyProbe = Probe<any>;

export async function runProbe(probe: AnyProbe, shared: RunShared): Promise<ProbeRun> {
  const log = shared.log.child();
  const started = Date.now();
  const finish = (r: Result): ProbeRun => ({ result: { ...r, durationMs: Date.now() - started }, log });

  let lock;
  try {
    lock = acquireLock(shared.config.lock_dir, probe.name);
  } catch (err) {
    return finish(unknownResult(probe.name, `cannot take lock in ${shared.config.lock_dir}: ${oneLine(err)}`));
  }
  if (!lock.acquired) {
    return finish(unknownResult(probe.name, `already running (pid ${Number.isNaN(lock.pid) ? '?' : lock.pid})`));
  }

  const timeoutMs = shared.config.timeout * 1000;
  const deadline = started + timeoutMs;
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<Result>((resolve) => {
    timer = setTimeout(() => {
      abort.abort();
      resolve(unknownResult(probe.name, `timed out after ${shared.config.timeout}s`));
    }, timeoutMs);
  });

  const work = (async (): Promise<Result> => {
    const outcome = await probe.run({
      options: shared.config.probes[probe.name],
      config: shared.config,
      log,
      signal: abort.signal,
      remainingMs: () => Math.max(0, deadline - Date.now()),
      inventory: shared.inventory,
      state: new StateStore(shared.config.state_dir),
    });
    return { probe: probe.name, ...outcome };
  })().catch((err: unknown): Result => {
    if (abort.signal.aborted) return unknownResult(probe.name, `timed out after ${shared.config.timeout}s`);
    if (err instanceof ProbeError) return unknownResult(probe.name, oneLine(err));
    // A bug, not an expected failure: keep the stack for --debug, show one line.
    log.debug(`internal error: ${(err as Error)?.stack ?? String(err)}`);
    return unknownResult(probe.name, `internal error: ${oneLine(err)}`);
  });

  try {
    const result = await Promise.race([work, timedOut]);
    if (result.status === Status.UNKNOWN) log.debug(`${probe.name}: ${result.summary}`);
    return finish(result);
  } finally {
    clearTimeout(timer);
    lock.release();
  }
}
