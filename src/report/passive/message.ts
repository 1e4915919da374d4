/**
 * A probe's result as a passive check result: host, service, status, when it was checked, and
 * its text in the parts every protocol carries differently. Pure code: the rendering of each
 * protocol's text, cut at its byte limit with a marker, never in the middle of a UTF-8 character.
 */
import type { Result, Status } from '../../result.js';
import { nagiosParts } from '../nagios.js';

export interface PassiveResult {
  host: string;
  service: string;
  probe: string;
  status: Status;
  /** Epoch ms the check ended. */
  checkedAt: number;
  head: string;
  perf: string[];
  long: string[];
}

export interface Naming {
  host: string;
  host_name: string;
  service_names: Record<string, string>;
}

export function toPassive(r: Result, naming: Naming, now = Date.now()): PassiveResult {
  const { head, perf, long } = nagiosParts(r);
  return {
    host: naming.host_name || naming.host,
    service: naming.service_names[r.probe] || r.probe,
    probe: r.probe,
    status: r.status,
    checkedAt: r.checkedAt ?? now,
    // Tabs separate NSCA's fields; nothing else in a passive result may hold one.
    head: head.replace(/\t/g, ' '),
    perf: perf.map((p) => p.replace(/\t/g, ' ')),
    long: long.map((l) => l.replace(/\t/g, ' ')),
  };
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** The longest prefix of `s` that fits in `max` bytes and ends on a character boundary. */
export function cutUtf8(s: string, max: number): string {
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= max) return s;
  let end = Math.max(0, max);
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--; // buf[end] continues a character: back off to its start
  return buf.subarray(0, end).toString('utf8');
}

export const cutMarker = (max: number) => `[cut at ${max} bytes]`;

/**
 * Nagios plugin text: `head|perf perf<nl>long<nl>long`, at most `max` bytes. `nl` is "\\n" (the
 * two characters) where the protocol is one line (command file, NSCA, ws_arbiter): Nagios turns
 * it back into a newline. When it does not fit, the status line is kept first, then whole
 * perfdata tokens, then whole long-output lines, and a marker line says it was cut.
 */
export function pluginText(p: Pick<PassiveResult, 'head' | 'perf' | 'long'>, max: number, nl: string): string {
  const full = [p.perf.length ? `${p.head}|${p.perf.join(' ')}` : p.head, ...p.long].join(nl);
  if (bytes(full) <= max) return full;
  const marker = `${nl}${cutMarker(max)}`;
  const budget = max - bytes(marker);
  let text = cutUtf8(p.head, budget);
  let sep = '|';
  for (const tok of p.perf) {
    const next = `${text}${sep}${tok}`;
    if (bytes(next) > budget) break;
    text = next;
    sep = ' ';
  }
  for (const line of p.long) {
    const next = `${text}${nl}${line}`;
    if (bytes(next) > budget) break;
    text = next;
  }
  return `${text}${marker}`;
}

/** Icinga 2 takes perfdata apart: the text (status line, then long output) and the tokens, each bounded. */
export function icingaParts(p: PassiveResult, max: number): { output: string; perf: string[] } {
  const output = pluginText({ head: p.head, perf: [], long: p.long }, max, '\n');
  const perf: string[] = [];
  let used = 0;
  for (const tok of p.perf) {
    if (used + bytes(tok) > max) break;
    perf.push(tok);
    used += bytes(tok);
  }
  return { output, perf };
}

/** A result older than `maxAgeS` (0: no limit) must not be sent as the current state. */
export const isStale = (p: PassiveResult, maxAgeS: number, now = Date.now()) => maxAgeS > 0 && now - p.checkedAt > maxAgeS * 1000;
