/** Start-up: what lm-probe costs before it does anything, against Node's own floor (`node -e 0`). */
import { BIN } from '../support/cli.js';
import { alternate, figures, type Figures, timed } from './measure.js';

export interface StartupRow extends Figures { command: string; wallRatio: number; cpuRatio: number }

export function benchStartup(rounds: number, log: (line: string) => void): StartupRow[] {
  log(`start-up: ${rounds} alternating rounds`);
  const commands = [
    { name: 'node -e 0', argv: [process.execPath, '-e', '0'] },
    { name: 'lm-probe --version', argv: [BIN, '--version'] },
    { name: 'lm-probe list', argv: [BIN, 'list'] },
  ];
  const samples = alternate(commands.map((c) => ({ name: c.name, run: () => timed(c.argv) })), rounds);
  const base = figures(samples.get('node -e 0')!);
  return commands.map((c) => {
    const f = figures(samples.get(c.name)!);
    return { command: c.name, ...f, wallRatio: f.wallS / base.wallS, cpuRatio: base.cpuS > 0 ? f.cpuS / base.cpuS : NaN };
  });
}
