/** Runs the real, built bin/lm-probe the way cron or an operator would. */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';

export const BIN = new URL('../../../bin/lm-probe', import.meta.url).pathname;

export interface CliRun { code: number | null; stdout: string; stderr: string }

export function lmProbe(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; prefix?: string[]; bin?: string; input?: string } = {}): CliRun {
  const argv = [...(opts.prefix ?? []), opts.bin ?? BIN, ...args];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 60_000, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Same, without blocking: for runs that must overlap (locks, concurrent pingers). */
export function lmProbeAsync(args: string[], env?: NodeJS.ProcessEnv): { pid: number; done: Promise<CliRun> } {
  const child = spawn(BIN, args, { env: env ?? process.env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<CliRun>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { pid: child.pid!, done };
}

/** A copy of a config file with some keys changed (deep merge), written next to it. */
export function variantConfig(base: string, name: string, change: Record<string, unknown>): string {
  const merge = (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> => {
    const out = { ...a };
    for (const [k, v] of Object.entries(b)) {
      out[k] = v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object' ? merge(a[k] as Record<string, unknown>, v as Record<string, unknown>) : v;
    }
    return out;
  };
  const path = base.replace(/[^/]+$/, `${name}.yaml`);
  writeFileSync(path, stringify(merge(parse(readFileSync(base, 'utf8')), change)));
  return path;
}

/** No JavaScript stack trace may ever reach an operator. */
export function assertNoStack(run: CliRun): void {
  const text = run.stdout + run.stderr;
  if (/\n\s+at .+\(.*:\d+:\d+\)/.test(text) || /Error: .*\n\s+at /.test(text)) {
    throw new Error(`stack trace in output:\n${text}`);
  }
}

/** The lab's own CLI (`npm run lab -- ...`), built next to the tests. */
export const LAB_CLI = new URL('../lab/cli.js', import.meta.url).pathname;

export function labCli(args: string[], timeoutMs = 120_000): CliRun {
  const r = spawnSync(process.execPath, [LAB_CLI, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** labCli that must exit 0; its stdout. */
export function labCliOk(...args: string[]): string {
  const r = labCli(args);
  if (r.code !== 0) throw new Error(`lab ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Every one of `lines` occurs in `text`, in this order (a --debug trace's shape). */
export function assertInOrder(text: string, lines: string[]): void {
  let from = 0;
  for (const line of lines) {
    const at = text.indexOf(line, from);
    if (at < 0) throw new Error(`missing or out of order: ${line}\n---\n${text}`);
    from = at + line.length;
  }
}
