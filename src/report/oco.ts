/**
 * OCO status files: the code in <dir>/result/<probe>, the full debug trace in
 * <dir>/result_debug/<probe>, both atomic. The debug file is written first so a reader
 * that sees a new code always finds the trace that explains it.
 */
import { join } from 'node:path';
import type { Config } from '../config.js';
import { oneLine } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import type { Logger } from '../log.js';
import { STATUS_NAMES, type Result } from '../result.js';
import { formatNagios } from './nagios.js';
import type { Reporter } from './reporter.js';

export function ocoCode(r: Result, codes: Config['oco']['codes']): number {
  const key = STATUS_NAMES[r.status].toLowerCase() as keyof typeof codes;
  return codes[key];
}

/** Returns false (after logging why) when the files could not be written. */
export async function writeOco(r: Result, oco: Config['oco'], log: Logger): Promise<boolean> {
  const code = ocoCode(r, oco.codes);
  log.info(`Set oco status: ${code}`);
  log.debug(`Write oco status: ${code}`);
  try {
    const trace = [...log.trace(), '', formatNagios(r)].join('\n');
    await writeFileAtomic(join(oco.dir, 'result_debug', r.probe), trace);
    await writeFileAtomic(join(oco.dir, 'result', r.probe), `${code}\n`);
    return true;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    log.error(`cannot write oco status to ${oco.dir}: ${e.code ? `${e.code}: ` : ''}${oneLine(err)}`);
    return false;
  }
}

export function ocoReporter(oco: Config['oco']): Reporter {
  return { name: 'oco', deliver: async (run) => { await writeOco(run.result, oco, run.log); } };
}
