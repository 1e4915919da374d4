/**
 * One command under /usr/bin/time -v: wall, CPU (user + sys of it and every process it waited
 * for) and max RSS, with its own output kept apart (time writes to a file, not stderr).
 * Commands are run in alternation (A B C A B C ...) so the machine's noise spreads evenly.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface Sample {
  wallS: number;
  cpuS: number;
  maxRssKb: number;
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** Medians of a command's samples (max RSS too: its typical size, not its worst). */
export interface Figures { wallS: number; cpuS: number; maxRssMb: number; runs: number }

const timeDir = mkdtempSync('/tmp/lmp-bench-');
process.on('exit', () => rmSync(timeDir, { recursive: true, force: true }));

/** `Elapsed (wall clock) time (h:mm:ss or m:ss): 0:01.52` and the other -v lines. */
export function parseTimeV(text: string): { wallS: number; cpuS: number; maxRssKb: number } {
  const field = (name: string) => text.split('\n').find((l) => l.trim().startsWith(name))?.split(': ').pop()?.trim() ?? '';
  const wallS = field('Elapsed (wall clock) time').split(':').reduce((acc, part) => acc * 60 + Number(part), 0);
  return {
    wallS,
    cpuS: Number(field('User time (seconds)')) + Number(field('System time (seconds)')),
    maxRssKb: Number(field('Maximum resident set size (kbytes)')),
  };
}

export function timed(argv: string[], opts: { input?: string; timeoutMs?: number; cwd?: string } = {}): Sample {
  const out = join(timeDir, 'time.txt');
  rmSync(out, { force: true });
  const r = spawnSync('/usr/bin/time', ['-v', '-o', out, ...argv], {
    input: opts.input, cwd: opts.cwd, encoding: 'utf8', timeout: opts.timeoutMs ?? 300_000, maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) throw new Error(`${argv[0]}: ${r.error.message}`);
  let text = '';
  try {
    text = readFileSync(out, 'utf8');
  } catch {
    throw new Error(`${argv.slice(0, 4).join(' ')}: no /usr/bin/time output (killed?)`);
  }
  return { ...parseTimeV(text), exitCode: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function figures(samples: Sample[]): Figures {
  return {
    wallS: median(samples.map((s) => s.wallS)),
    cpuS: median(samples.map((s) => s.cpuS)),
    maxRssMb: median(samples.map((s) => s.maxRssKb)) / 1024,
    runs: samples.length,
  };
}

/** Run every command once per round, in the same order each round; samples per command name. */
export function alternate(commands: { name: string; run: () => Sample }[], rounds: number): Map<string, Sample[]> {
  const samples = new Map<string, Sample[]>(commands.map((c) => [c.name, []]));
  for (let i = 0; i < rounds; i++) for (const c of commands) samples.get(c.name)!.push(c.run());
  return samples;
}

/** Least squares y = fixed + slope * x. */
export function fitLine(points: { x: number; y: number }[]): { slope: number; fixed: number } {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  const slope = sxx ? points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0) / sxx : 0;
  return { slope, fixed: my - slope * mx };
}
