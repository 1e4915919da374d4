/**
 * Operator-facing trace on stderr, in the shape operators already know:
 *   [ DEBUG ] Scanning (icmp) following 4 ips:
 *   [ INFO ] 1 ips are not correctly routed:
 * A probe run gets a recording child logger: it keeps that run's lines (all levels, bounded)
 * for the OCO debug file and is dropped with the run, so a long-lived daemon keeps nothing.
 * Known secret values (from the config) never reach a line: they are replaced by ***.
 */
export type Level = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';

export interface LogOptions {
  debug?: boolean;
  quiet?: boolean;
  /** Where shown lines go; stderr by default. */
  sink?: (line: string) => void;
}

/** A run's trace beyond this many lines is cut (a bad day must not fill memory or the OCO file). */
export const MAX_RECORDED_LINES = 5000;

export class Logger {
  /** The lines this logger recorded (a child's: its run's trace); empty for the root logger. */
  readonly lines: string[] = [];
  private dropped = 0;
  private secrets: string[] = [];

  constructor(private readonly opts: LogOptions = {}, private readonly parent?: Logger, private readonly record = false) {}

  debug(msg: string): void { this.write('DEBUG', msg); }
  info(msg: string): void { this.write('INFO', msg); }
  warn(msg: string): void { this.write('WARNING', msg); }
  error(msg: string): void { this.write('ERROR', msg); }

  get debugEnabled(): boolean { return this.parent ? this.parent.debugEnabled : Boolean(this.opts.debug); }

  /** A logger that records its own lines (one probe run) and shows them through this one. */
  child(): Logger {
    return new Logger(this.opts, this, true);
  }

  /** Values never to print (passwords, tokens): every line is scrubbed of them. */
  redact(values: Iterable<string>): void {
    for (const v of values) if (v && v.length >= 3 && !this.secrets.includes(v)) this.secrets.push(v);
  }

  /** The recorded trace, with a note when it was cut. */
  trace(): string[] {
    return this.dropped ? [...this.lines, `[ WARNING ] ... ${this.dropped} more lines not kept`] : this.lines;
  }

  private scrub(msg: string): string {
    let out = msg;
    for (const s of this.secrets) out = out.split(s).join('***');
    return this.parent ? this.parent.scrub(out) : out;
  }

  private write(level: Level, msg: string, scrubbed = false): void {
    const text = scrubbed ? msg : this.scrub(msg);
    if (this.record) {
      if (this.lines.length < MAX_RECORDED_LINES) this.lines.push(`[ ${level} ] ${text}`);
      else this.dropped++;
    }
    if (this.parent) return this.parent.write(level, text, true);
    if (level === 'DEBUG' && !this.opts.debug) return;
    if (level === 'INFO' && this.opts.quiet) return;
    (this.opts.sink ?? ((l: string) => process.stderr.write(`${l}\n`)))(`[ ${level} ] ${text}`);
  }
}
