/**
 * The one place lm-probe starts processes. Argument arrays only, a timeout always, inside a
 * network namespace when asked; failures come back as ProbeError with a one-line reason
 * that names the command ("mtr not found", "ip timed out after 5s", "ip exited 1: ...").
 */
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

/** How many processes this run has started: the cost that must stay constant per probe. */
export const execStats = { spawned: 0 };

export async function run(cmd: string, args: string[], opts: ExecOptions): Promise<ExecResult> {
  const { execa } = await import('execa');
  let file = cmd;
  let argv = args;
  if (opts.namespace) {
    file = 'ip';
    argv = ['netns', 'exec', assertNamespace(opts.namespace), cmd, ...args];
  }
  execStats.spawned++;
  const r = await execa(file, argv, {
    timeout: opts.timeoutMs,
    cancelSignal: opts.signal,
    forceKillAfterDelay: 1000,
    input: opts.input,
    reject: false,
    stdin: opts.input === undefined ? 'ignore' : 'pipe',
    env: opts.env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const stdout = String(r.stdout ?? '');
  const stderr = String(r.stderr ?? '');
  const code = (r as { code?: string }).code;
  if (code === 'ENOENT') throw new ProbeError(`${file} not found`);
  if (r.timedOut) throw new ProbeError(`${cmd} timed out after ${Math.round(opts.timeoutMs / 100) / 10}s`);
  if (r.isCanceled) throw new ProbeError(`${cmd} cancelled: probe deadline reached`);
  if (opts.namespace) {
    // `ip netns exec` reports its own failures on stderr before the command ever runs.
    if (/Cannot open network namespace/i.test(stderr)) {
      throw new ProbeError(`network namespace "${opts.namespace}" not found`);
    }
    if (/exec of "[^"]*" failed: No such file/i.test(stderr)) throw new ProbeError(`${cmd} not found`);
  }
  const exitCode = r.exitCode ?? (r.signal ? 128 : 1);
  if (exitCode !== 0 && !(opts.okExitCodes ?? []).includes(exitCode)) {
    const why = oneLine(stderr || stdout || r.signal || 'no output', 160);
    throw new ProbeError(`${cmd} exited ${r.signal ? `on ${r.signal}` : exitCode}: ${why}`);
  }
  return { stdout, stderr, exitCode };
}
