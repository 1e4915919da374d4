/**
 * The entry point (bin/lm-probe loads its bundle): the only code that exits the process.
 * Prints once stdout is flushed and exits at once: never waits for stray handles. On SIGTERM or
 * SIGINT every command lm-probe started is killed first, so nothing outlives it.
 */
import { runCli } from './cli.js';
import { killAllCommands } from './host/exec.js';

function exitWith(text: string, code: number): void {
  killAllCommands(); // nothing lm-probe started outlives it
  if (!text) return void process.exit(code);
  process.stdout.write(text, () => process.exit(code));
}

// The daemon handles its own signals (SIGHUP reloads, SIGTERM lets the current run finish).
if (process.argv[2] !== 'daemon') {
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(sig, () => {
      exitWith(`LM-PROBE UNKNOWN - stopped by ${sig}\n`, 3);
    });
  }
}

runCli(process.argv).then(
  ({ text, code }) => exitWith(text, code),
  (err: unknown) => exitWith(`LM-PROBE UNKNOWN - ${String((err as Error)?.message ?? err).split('\n')[0]}\n`, 3),
);
