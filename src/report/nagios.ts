/**
 * Nagios plugin output (monitoring-plugins guidelines): one status line with perfdata after
 * a pipe, then long output, one line per finding, bounded so a bad day cannot flood the core.
 */
import { formatPerf, STATUS_NAMES, type Result } from '../result.js';

export const MAX_DETAIL_LINES = 50;

/** "|" starts perfdata in Nagios: it must never appear in text. */
const clean = (s: string) => s.replace(/\|/g, '/').replace(/\s*\n\s*/g, ' ').trim();

export function formatNagios(r: Result): string {
  const head = `${r.probe.toUpperCase()} ${STATUS_NAMES[r.status]} - ${clean(r.summary)}`;
  const perf = r.perfdata.map(formatPerf).join(' ');
  const lines = [perf ? `${head} | ${perf}` : head];
  const shown = r.details.slice(0, MAX_DETAIL_LINES).map(clean);
  lines.push(...shown);
  if (r.details.length > MAX_DETAIL_LINES) lines.push(`... and ${r.details.length - MAX_DETAIL_LINES} more`);
  return `${lines.join('\n')}\n`;
}
