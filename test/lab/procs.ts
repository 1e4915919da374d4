/**
 * Process helpers for the lab's daemons (OVS, BGP speakers, monitoring): synchronous, since
 * the lab's steps are synchronous, and careful never to signal a PID that was reused.
 */
import { readFileSync } from 'node:fs';

/** Block this thread for `ms` (the lab's steps are synchronous). */
export const sleep = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Is the process running? A zombie (exited, not yet reaped) counts as gone. */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The process's command name (/proc/<pid>/comm), or null when it is gone. */
export function comm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** The last lines of a log file, for error messages; "" when unreadable. */
export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
