/**
 * Operator-facing trace on stderr, in the shape operators already know:
 *   [ DEBUG ] Scanning (icmp) following 4 ips:
 *   [ INFO ] 1 ips are not correctly routed:
 * Each probe gets its own child logger that keeps every line it wrote (all levels),
 * so the OCO debug file holds the full trace even when the terminal shows only INFO.
 */
export type Level = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';

export interface LogOptions {
  debug?: boolean;
  quiet?: boolean;
  /** Where shown lines go; stderr by default. */
  sink?: (line: string) => void;
}

export class Logger {
  /** Every line logged through this logger, whatever the level shown. */
  readonly lines: string[] = [];

  constructor(private readonly opts: LogOptions = {}, private readonly parent?: Logger) {}

  debug(msg: string): void { this.write('DEBUG', msg); }
  info(msg: string): void { this.write('INFO', msg); }
  warn(msg: string): void { this.write('WARNING', msg); }
  error(msg: string): void { this.write('ERROR', msg); }

  /** A logger that keeps its own record and shows its lines through this one. */
  child(): Logger {
    return new Logger(this.opts, this);
  }

  private write(level: Level, msg: string): void {
    const line = `[ ${level} ] ${msg}`;
    this.lines.push(line);
    if (this.parent) return this.parent.write(level, msg);
    if (level === 'DEBUG' && !this.opts.debug) return;
    if (level === 'INFO' && this.opts.quiet) return;
    (this.opts.sink ?? ((l: string) => process.stderr.write(`${l}\n`)))(line);
  }
}
