/**
 * The result model every probe returns, and the Nagios plugin conventions around it:
 * statuses, threshold ranges, perfdata. Pure code, no I/O.
 */
import { ProbeError } from './errors.js';

export const Status = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
export type Status = (typeof Status)[keyof typeof Status];
export const STATUS_NAMES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;

export interface Perf {
  label: string;
  value: number;
  uom?: '' | 's' | 'ms' | 'us' | '%' | 'B' | 'KB' | 'MB' | 'c';
  warn?: string;
  crit?: string;
  min?: number;
  max?: number;
}

/**
 * One finding of a probe, tied to the instance it concerns, for `lm-probe instance <uuid>` and its
 * before/after comparison. `key` names what is wrong in words that hold across runs and nodes (no
 * ages, host names, ofport numbers): `not-routed 198.18.0.5`, `port-missing <port id>`; the same
 * fault seen before a migration and after it has the same key. `text` is the long-output line.
 * No `instance`: it concerns every instance on this node (a BGP session down, br-int missing).
 */
export interface Finding {
  instance?: string;
  key: string;
  status: Status;
  text: string;
}

export interface Result {
  probe: string;
  status: Status;
  summary: string;
  /** One line per finding, worst first. */
  details: string[];
  /** The details tied to an instance (or to all of them), structured; none for findings about no instance. */
  findings?: Finding[];
  perfdata: Perf[];
  durationMs?: number;
  /** Processes the probe itself started (the shared inventory's are counted in the run's total only). */
  processesSpawned?: number;
  /** When the check ended, epoch ms (passive checks carry it; stale results are not sent as current). */
  checkedAt?: number;
  /** Set by the runner: the deadline cut the check, what it says is what was seen by then. */
  partial?: boolean;
  /** Set by the runner: an OK capped because an inventory source failed (instances may be missing from it). */
  degraded?: boolean;
}

/** What a probe's run() returns; the runner adds the probe name and timing. */
export type ProbeOutcome = Omit<Result, 'probe' | 'durationMs' | 'processesSpawned' | 'checkedAt' | 'partial' | 'degraded'>;

/** Worst of several statuses (the exit code of `run`). Ranked CRITICAL > UNKNOWN > WARNING > OK:
 *  a probe that could not check anything is louder than a warning, but a real fault wins. */
export function worst(...statuses: Status[]): Status {
  const rank = (s: Status) => (s === Status.UNKNOWN ? 1.5 : s);
  return statuses.reduce<Status>((a, b) => (rank(b) > rank(a) ? b : a), Status.OK);
}

/** A Nagios threshold range: `10`, `10:`, `~:10`, `10:20`, `@10:20`. */
export interface Range {
  text: string;
  start: number; // -Infinity for ~
  end: number; // Infinity when open
  inside: boolean; // @: alert when inside
}

const NUM = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/;

export function parseRange(text: string): Range {
  const raw = String(text).trim();
  let body = raw;
  const inside = body.startsWith('@');
  if (inside) body = body.slice(1);
  let startText = '0';
  let endText = body;
  const colon = body.indexOf(':');
  if (colon >= 0) {
    startText = body.slice(0, colon);
    endText = body.slice(colon + 1);
  }
  const bad = () => new ProbeError(`invalid threshold range "${raw}" (use 10, 10:, ~:10, 10:20 or @10:20)`);
  let start: number;
  if (startText === '~') start = -Infinity;
  else if (NUM.test(startText)) start = Number(startText);
  else throw bad();
  let end: number;
  if (endText === '' && colon >= 0) end = Infinity;
  else if (NUM.test(endText)) end = Number(endText);
  else throw bad();
  if (start > end) throw bad();
  return { text: raw, start, end, inside };
}

/** True when the value raises an alert for this range. */
export function alerts(range: Range, value: number): boolean {
  const within = value >= range.start && value <= range.end;
  return range.inside ? within : !within;
}

/** Status of a value against warning and critical ranges (critical wins). */
export function checkThresholds(value: number, warning?: string, critical?: string): Status {
  if (critical !== undefined && critical !== '' && alerts(parseRange(critical), value)) return Status.CRITICAL;
  if (warning !== undefined && warning !== '' && alerts(parseRange(warning), value)) return Status.WARNING;
  return Status.OK;
}

function num(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '';
  return String(Math.round(n * 1000) / 1000);
}

/** `'label'=value[UOM];[warn];[crit];[min];[max]`, trailing empty fields dropped. */
export function formatPerf(p: Perf): string {
  const label = /[\s'=]/.test(p.label) ? `'${p.label.replace(/'/g, "''")}'` : p.label;
  const fields = [`${num(p.value)}${p.uom ?? ''}`, p.warn ?? '', p.crit ?? '', num(p.min), num(p.max)];
  while (fields.length > 1 && fields[fields.length - 1] === '') fields.pop();
  return `${label}=${fields.join(';')}`;
}

export function unknownResult(probe: string, reason: string): Result {
  return { probe, status: Status.UNKNOWN, summary: reason, details: [], perfdata: [] };
}
