/**
 * What the passive-delivery tests share: lm-probe --json's document, running it in a lab node's
 * namespace (where a compute node's management traffic leaves from), private credential files,
 * the channel entries for the lab's receivers, and what a receiver must show for a result.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MonitoringLab } from '../lab/monitoring.js';
import { assertNoStack, lmProbe, type CliRun } from './cli.js';

export interface Delivery { channel: string; service: string; status: string; outcome: string; reason?: string; ms?: number; spooled_at_check?: string }
export interface RunResult { probe: string; status_text: string; summary: string; details: string[]; perfdata: { text: string }[] }
export interface RunDoc { status: number; results: RunResult[]; delivery: Delivery[]; spool: Record<string, { waiting: number; dropped: string[] }> }

/** A credential file in `dir`, private unless `mode` says otherwise. */
export function secretFile(dir: string, name: string, text: string, mode = 0o600): string {
  const f = join(dir, name);
  writeFileSync(f, `${text}\n`);
  chmodSync(f, mode);
  return f;
}

/** lm-probe --json in the node namespace `ns`: the document (and the run, for its stderr). */
export function lmProbeInNode(ns: string, args: string[]): { doc: RunDoc; run: CliRun } {
  const run = lmProbe([...args, '--json'], { prefix: ['ip', 'netns', 'exec', ns] });
  assertNoStack(run);
  return { doc: JSON.parse(run.stdout) as RunDoc, run };
}

/** report.passive entries for the lab's real receivers (credentials written into `dir`). */
export const commandFileChannel = (m: MonitoringLab) => ({ type: 'command_file', path: m.nagios.commandFile });
export const nscaChannel = (m: MonitoringLab) => ({ type: 'nsca', host: m.addr, port: m.nsca.port, config: m.nsca.configFile });
export const icingaChannel = (m: MonitoringLab, dir: string) => ({
  type: 'icinga2', url: `https://${m.addr}:5665`, username: m.icinga.user, password_file: secretFile(dir, 'icinga.pw', m.icinga.password),
  cacert: m.icinga.caFile ?? '', tls_name: m.icinga.tlsName,
});

/** A result as Nagios shows a passive one: output (status line + long output) and perfdata. */
export function expectedOutput(r: RunResult): { output: string; perfdata: string } {
  return { output: [`${r.probe.toUpperCase()} ${r.status_text} - ${r.summary}`, ...r.details].join('\n'), perfdata: r.perfdata.map((p) => p.text).join(' ') };
}

/**
 * What nagios shows of it (status.dat, the CGIs): Nagios core turns every ';' of the status line
 * into ':' (base/checks.c, for its own file formats); the long output and perfdata keep theirs.
 */
export function nagiosShows(r: RunResult): { output: string; perfdata: string } {
  const { output, perfdata } = expectedOutput(r);
  const [first, ...rest] = output.split('\n');
  return { output: [first.replaceAll(';', ':'), ...rest].join('\n'), perfdata };
}

/** The same as one plugin text, as NRDP and ws_arbiter carry it: `status line|perfdata`, then the long output, newlines escaped. */
export function pluginText(r: RunResult): string {
  const { output, perfdata } = expectedOutput(r);
  const [first, ...rest] = output.split('\n');
  return [`${first}|${perfdata}`, ...rest].join('\\n');
}

/** nagios.log's external commands carrying a passive result for host!service, in order. */
export function nagiosLoggedResults(m: MonitoringLab, host: string, service: string): string[] {
  return readFileSync(join(m.dir, 'nagios', 'nagios.log'), 'utf8').split('\n').filter((l) => l.includes(`EXTERNAL COMMAND: PROCESS_SERVICE_CHECK_RESULT;${host};${service};`));
}
