/**
 * Process helpers for the lab's daemons (OVS, BGP speakers, monitoring): synchronous, since
 * the lab's steps are synchronous, and careful never to signal a PID that was reused.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

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

/** "<label> <version>" from a daemon's version output, or "<label> (unknown version)". */
export function versionOf(cmd: string, args: string[], re: RegExp, label: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  const m = re.exec(`${r.stdout ?? ''}${r.stderr ?? ''}`);
  return m ? `${label} ${m[1]}` : `${label} (unknown version)`;
}

/**
 * Start a daemon in the foreground inside a namespace, as a child of this process. `ip netns
 * exec` execs the daemon, so the PID is the daemon's. Output goes to a log file; detached so a
 * Ctrl-C on the terminal reaches only us (our teardown stops the daemons).
 */
export function startDaemon(ns: string, logFile: string, cmd: string, args: string[]): number {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { detached: true, stdio: ['ignore', fd, fd] });
    child.on('error', () => {}); // reported by the readiness polls, with the log
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${cmd} in ${ns}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** Live (non-zombie) processes of a process group, from ps. */
export function groupPids(pgid: number): number[] {
  const out = spawnSync('ps', ['-e', '-o', 'pid=,pgid=,stat='], { encoding: 'utf8' }).stdout ?? '';
  const pids: number[] = [];
  for (const line of out.split('\n')) {
    const [p, g, st] = line.trim().split(/\s+/);
    if (Number(g) === pgid && st && !st.startsWith('Z')) pids.push(Number(p));
  }
  return pids;
}

/**
 * Stop a daemon the lab started: SIGTERM, then SIGKILL if it outlives `timeoutMs`. `isOurs` is
 * checked against its command name first, so a PID reused by something else is never signalled.
 * `group`: signal its whole process group too (daemons with workers: nagios, icinga2).
 */
export function stopPid(pid: number, isOurs: (comm: string) => boolean, opts: { group?: boolean; timeoutMs?: number } = {}): void {
  if (!pid || !pidAlive(pid)) return;
  const c = comm(pid);
  if (c !== null && !isOurs(c)) return;
  const running = () => pidAlive(pid) || (opts.group === true && groupPids(pid).length > 0);
  const sig = (s: NodeJS.Signals): void => {
    for (const target of opts.group ? [-pid, pid] : [pid]) {
      try {
        process.kill(target, s);
      } catch {
        /* gone */
      }
    }
  };
  sig('SIGTERM');
  const end = Date.now() + (opts.timeoutMs ?? 5_000);
  while (pidAlive(pid) && Date.now() < end) sleep(25);
  if (running()) sig('SIGKILL');
  const end2 = Date.now() + 2_000;
  while (running() && Date.now() < end2) sleep(25);
}
