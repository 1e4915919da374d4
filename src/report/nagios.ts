/**
 * Nagios plugin output (monitoring-plugins guidelines): one status line with perfdata after
 * a pipe, then long output, one line per finding, bounded so a bad day cannot flood the core.
 */
import { formatPerf, STATUS_NAMES, type Result } from '../result.js';

export const MAX_DETAIL_LINES = 50;

/** "|" starts perfdata in Nagios: it must never appear in text. */
export const clean = (s: string) => s.replace(/\|/g, '/').replace(/\s*\n\s*/g, ' ').trim();

/** The parts of a plugin's output: status line, perfdata tokens, long-output lines (passive checks reuse them). */
export function nagiosParts(r: Result): { head: string; perf: string[]; long: string[] } {
  const long = r.details.slice(0, MAX_DETAIL_LINES).map(clean);
  if (r.details.length > MAX_DETAIL_LINES) long.push(`... and ${r.details.length - MAX_DETAIL_LINES} more`);
  return { head: `${r.probe.toUpperCase()} ${STATUS_NAMES[r.status]} - ${clean(r.summary)}`, perf: r.perfdata.map(formatPerf), long };
}

export function formatNagios(r: Result): string {
  const { head, perf, long } = nagiosParts(r);
  return `${[perf.length ? `${head} | ${perf.join(' ')}` : head, ...long].join('\n')}\n`;
}
