/**
 * Where results go besides the exit code: every destination (stdout text, OCO files, passive
 * channels, metrics) is a Reporter. The runner hands each probe run over as soon as it ends;
 * a run refused by the lock is never handed over (it checked nothing, and must not overwrite
 * what the run holding the lock will report).
 */
import type { ProbeRun } from '../runner.js';

export interface Reporter {
  readonly name: string;
  /** One probe's run. Must not throw: a reporter that cannot deliver says so in the run's log. */
  deliver(run: ProbeRun): Promise<void>;
  /** Once every run of this invocation was delivered (flush, retry the spool, close sockets). */
  close?(runs: ProbeRun[]): Promise<void>;
}

/** Deliver one run to every reporter, unless it was refused by the lock. */
export async function deliverAll(reporters: Reporter[], run: ProbeRun): Promise<void> {
  if (run.refused) {
    run.log.debug(`${run.result.probe}: refused by the lock: no result files written, nothing delivered`);
    return;
  }
  await Promise.all(reporters.map((r) => r.deliver(run)));
}
