/**
 * Small JSON documents kept between runs, one file per name under a directory of their own
 * (each probe gets state_dir/<probe>/; the shared instance record lives in state_dir/).
 *
 * State is a convenience (grace windows, samples between runs), never a reason to stop a
 * check: a file that cannot be parsed or fails its guard is reported once and rebuilt; a
 * directory that cannot be written (read-only, full) is reported and the run goes on.
 * What went wrong is kept in `problems`; the runner adds it to the probe's long output.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { oneLine } from './errors.js';
import { writeFileAtomic } from './fsutil.js';
import type { Logger } from './log.js';

/** Checks a parsed value; returns it typed, or undefined when it is not what was written. */
export type Guard<T> = (value: unknown) => T | undefined;

export class StateStore {
  /** One line per problem met (corrupt file rebuilt, state not saved); reported by the runner. */
  readonly problems: string[] = [];
  /** Names whose file held something unexpected (and is rebuilt by the next write). */
  readonly corrupt = new Set<string>();

  constructor(readonly dir: string, private readonly log?: Logger) {}

  path(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  /** The stored value, or undefined when there is none yet or it was corrupt (said once). */
  async read<T>(name: string, guard: Guard<T>): Promise<T | undefined> {
    const path = this.path(name);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') this.problem(`state ${path} unreadable (${code ?? oneLine(err)}): starting afresh`);
      return undefined;
    }
    let value: T | undefined;
    try {
      value = guard(JSON.parse(text));
    } catch {
      value = undefined;
    }
    if (value === undefined) this.corrupt.add(name);
    if (value === undefined) this.problem(`state ${path} was corrupt (${text.trim() ? 'unexpected content' : 'empty'}): rebuilt`);
    return value;
  }

  /** Save a value; a failure is a problem to report, not an error. Returns whether it was saved. */
  async write(name: string, value: unknown): Promise<boolean> {
    try {
      await writeFileAtomic(this.path(name), `${JSON.stringify(value)}\n`);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.problem(`state not saved to ${this.dir} (${code ?? oneLine(err)})`);
      return false;
    }
  }

  private problem(line: string): void {
    if (this.problems.includes(line)) return;
    this.problems.push(line);
    this.log?.warn(line);
  }
}

/** Guards for common shapes. */
export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
