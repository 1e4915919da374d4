/**
 * The one place lm-probe starts processes. Argument arrays only, a timeout always, inside a
 * network namespace when asked; failures come back as ProbeError with a one-line reason
 * that names the command ("mtr not found", "ip timed out after 5s", "ip exited 1: ...").
 *
 * Every command runs in a process group of its own, and the whole group is killed at its
 * timeout, at the probe's deadline (the signal), on lm-probe's own SIGTERM/SIGINT, and once the
 * command itself has exited: a helper it forked (mtr's mtr-packet, a wrapper script's hung
 * child) can neither hold its output open past the limit nor outlive lm-probe. Each command is
 * also started under coreutils' `timeout`, which kills its group a second after the limit even
 * if lm-probe itself was killed with SIGKILL and could do nothing.
 */
import { basename } from 'node:path';
import { ProbeError, oneLine } from '../errors.js';
import { assertNamespace } from './validate.js';

export interface ExecOptions {
  /** Hard limit for this command, in ms. */
  timeoutMs: number;
  /** Run inside this network namespace ("" or undefined: the current one). */
  namespace?: string;
  /** Cancels the command when the probe's deadline passes. */
  signal?: AbortSignal;
  input?: string;
  /** Exit codes that are answers, not failures (arping exits 1 on "no reply"). */
  okExitCodes?: number[];
  env?: Record<string, string>;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** How many processes this run has started, in all and per probe (by its signal): the cost that must stay constant per probe. */
export const execStats = { spawned: 0, bySignal: new WeakMap<AbortSignal, number>() };

/** Commands running now, by process group, with the signal of the probe that started them. */
const running = new Map<number, { cmd: string; signal?: AbortSignal }>();

/** Names of the commands a probe (its signal) is waiting for now: what a deadline cut names. */
export function activeCommands(signal?: AbortSignal): string[] {
  return [...running.values()].filter((r) => r.signal === signal).map((r) => r.cmd);
}

function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch { /* already gone */ }
}

/** Kill every process group lm-probe started (its own SIGTERM/SIGINT): nothing may outlive it. */
export function killAllCommands(): void {
  for (const pgid of running.keys()) killGroup(pgid, 'SIGKILL');
}

/**
 * One 'abort' listener per signal, whatever the number of commands waiting on it: a probe that
 * runs eleven commands side by side would otherwise trip Node's MaxListenersExceededWarning
 * (on lm-probe's stderr). Returns the function that unregisters `fn`.
 */
const aborters = new WeakMap<AbortSignal, Set<() => void>>();
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  let waiting = aborters.get(signal);
  if (!waiting) {
    const all = new Set<() => void>();
    waiting = all;
    aborters.set(signal, all);
    signal.addEventListener('abort', () => { for (const f of [...all]) f(); }, { once: true });
  }
  waiting.add(fn);
  return () => { waiting.delete(fn); };
}

/** A command's limit inside a probe's deadline: `ms`, but never past the deadline (200 ms kept to report). */
export const withinDeadline = (ms: number, remainingMs: number): number => Math.max(100, Math.min(ms, remainingMs - 200));

const seconds = (ms: number) => `${Math.round(ms / 100) / 10}s`;
/** setTimeout's limit; a longer timeout would fire at once. */
const MAX_TIMER_MS = 2_147_483_647;

export async function run(cmd: string, args: string[], opts: ExecOptions): Promise<ExecResult> {
  const { execa } = await import('execa');
  let file = cmd;
  let argv = args;
  // How the command is named in every message: the whole chain when a namespace is entered,
  // so a hung or failing `ip` is named too.
  const name = opts.namespace ? `ip netns exec ${opts.namespace} ${basename(cmd)}` : basename(cmd);
  if (opts.namespace) {
    file = 'ip';
    argv = ['netns', 'exec', assertNamespace(opts.namespace), cmd, ...args];
  }
  // The backstop: our own timer fires first; `timeout` only acts when lm-probe is gone.
  const backstopS = Math.ceil(Math.min(opts.timeoutMs, MAX_TIMER_MS) / 1000) + 1;
  argv = ['-s', 'KILL', String(backstopS), file, ...argv];
  file = 'timeout';
  if (opts.signal?.aborted) throw new ProbeError(`${name} not started: probe deadline reached`);
  execStats.spawned++;
  if (opts.signal) execStats.bySignal.set(opts.signal, (execStats.bySignal.get(opts.signal) ?? 0) + 1);
  const child = execa(file, argv, {
    detached: true, // its own process group, killed whole
    cleanup: true,
    input: opts.input,
    reject: false,
    stdin: opts.input === undefined ? 'ignore' : 'pipe',
    env: opts.env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const pgid = child.pid;
  let stopped: 'timeout' | 'cancel' | undefined;
  const stop = (why: 'timeout' | 'cancel') => {
    if (stopped || pgid === undefined) return;
    stopped = why;
    killGroup(pgid, 'SIGTERM');
    setTimeout(() => killGroup(pgid, 'SIGKILL'), 300).unref();
  };
  const timer = setTimeout(() => stop('timeout'), Math.min(Math.max(1, opts.timeoutMs), MAX_TIMER_MS));
  const forget = opts.signal ? onAbort(opts.signal, () => stop('cancel')) : undefined;
  if (pgid !== undefined) {
    running.set(pgid, { cmd: name, signal: opts.signal });
    // The command is done: whatever it left behind in its group is a stray (and may hold our pipes).
    child.once('exit', () => killGroup(pgid, 'SIGKILL'));
  }
  let r;
  try {
    r = await child;
  } finally {
    clearTimeout(timer);
    forget?.();
    if (pgid !== undefined) running.delete(pgid);
  }
  const stdout = String(r.stdout ?? '');
  const stderr = String(r.stderr ?? '');
  const code = (r as { code?: string }).code;
  if (code === 'ENOENT') throw new ProbeError(`${file} not found`);
  // `timeout` could not start the command: 127 not found, 126 not executable.
  const failedToRun = /^timeout: failed to run command '([^']*)': (.*)$/m.exec(stderr);
  if (failedToRun && (r.exitCode === 127 || r.exitCode === 126)) {
    throw new ProbeError(r.exitCode === 127 ? `${failedToRun[1]} not found` : `${failedToRun[1]} cannot be run: ${oneLine(failedToRun[2], 80)}`);
  }
  if (stopped === 'timeout') throw new ProbeError(`${name} timed out after ${seconds(opts.timeoutMs)}`);
  if (stopped === 'cancel') throw new ProbeError(`${name} cancelled: probe deadline reached`);
  const exitCode = r.exitCode ?? (r.signal ? 128 : 1);
  if (opts.namespace) {
    // `ip netns exec` reports its own failures on stderr before the command ever runs.
    if (/Cannot open network namespace/i.test(stderr)) {
      throw new ProbeError(`network namespace "${opts.namespace}" not found`);
    }
    if (/exec of "[^"]*" failed: No such file/i.test(stderr)) throw new ProbeError(`${cmd} not found`);
    if (/^(setting the network namespace|mount of \/sys failed|exec of)/im.test(stderr) && exitCode !== 0) {
      throw new ProbeError(`${name}: ${oneLine(stderr, 160)}`);
    }
  }
  if (exitCode === 127 && !stdout && /not found|No such file/i.test(stderr)) throw new ProbeError(`${name} not found (${oneLine(stderr, 100)})`);
  if (exitCode !== 0 && !(opts.okExitCodes ?? []).includes(exitCode)) {
    const why = oneLine(stderr || stdout || r.signal || 'no output', 160);
    throw new ProbeError(`${name} exited ${r.signal ? `on ${r.signal}` : exitCode}: ${why}`);
  }
  return { stdout, stderr, exitCode };
}

/** A long-lived command read line by line (`virsh event --loop`). */
export interface Watch {
  /** Stop it (its whole process group); `onExit` is not called for a stop. */
  stop(): void;
}

/**
 * Start a command that runs until stopped, handing each stdout line to `onLine`; `onExit`
 * says why it ended by itself. Like `run`: its own process group, killed with lm-probe.
 */
export async function watchLines(cmd: string, args: string[], opts: { namespace?: string; onLine: (line: string) => void; onExit: (why: string) => void }): Promise<Watch> {
  const { execa } = await import('execa');
  const [file, argv] = opts.namespace ? ['ip', ['netns', 'exec', assertNamespace(opts.namespace), cmd, ...args]] : [cmd, args];
  execStats.spawned++;
  const child = execa(file, argv, { detached: true, cleanup: true, reject: false, buffer: false, stdin: 'ignore', stderr: 'pipe', encoding: 'utf8' });
  const pgid = child.pid;
  let stopped = false;
  if (pgid !== undefined) running.set(pgid, { cmd });
  let rest = '';
  child.stdout?.on('data', (chunk: Buffer | string) => {
    const lines = (rest + String(chunk)).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) opts.onLine(line);
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer | string) => { stderr = (stderr + String(chunk)).slice(-400); });
  void child.then((r) => {
    if (pgid !== undefined) {
      running.delete(pgid);
      killGroup(pgid, 'SIGKILL');
    }
    if (stopped) return;
    const code = (r as { code?: string }).code;
    opts.onExit(code === 'ENOENT' ? `${file} not found` : `${cmd} exited ${r.signal ? `on ${r.signal}` : r.exitCode}: ${oneLine(stderr || 'no output', 160)}`);
  });
  return {
    stop() {
      stopped = true;
      if (pgid !== undefined) killGroup(pgid, 'SIGTERM');
    },
  };
}
