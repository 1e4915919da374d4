/**
 * Teardown of the labs this process created, even when a test fails or the run is interrupted:
 * on 'exit' (sync work only, which labDown is) and on SIGINT/SIGTERM. The signal handlers are
 * installed only while a lab is up, and re-raise the signal afterwards, so the process otherwise
 * behaves as it would without them.
 */
const owned = new Map<string, (prefix: string) => void>();

function teardownAll(): void {
  for (const [prefix, down] of [...owned]) {
    try {
      down(prefix);
    } catch (err) {
      process.stderr.write(`lab ${prefix}: teardown failed: ${(err as Error).message}\n`);
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  teardownAll();
  uninstall();
  process.kill(process.pid, signal); // default action (or the remaining handlers) now apply
}

function install(): void {
  process.on('exit', teardownAll);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function uninstall(): void {
  process.off('exit', teardownAll);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

export function teardownOnExit(prefix: string, down: (prefix: string) => void): void {
  if (owned.size === 0) install();
  owned.set(prefix, down);
}

export function releaseOnExit(prefix: string): void {
  if (!owned.delete(prefix)) return;
  if (owned.size === 0) uninstall();
}

/** Is the process that owns a lab still running? (null = a kept lab, owned by nobody.) */
export function ownerAlive(pid: number | null): boolean {
  if (pid === null) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
