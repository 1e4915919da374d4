/** The configured passive channels (report.passive) as reporters, each with its spool. */
import { join } from 'node:path';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import type { Reporter } from '../reporter.js';
import type { Channel } from './channel.js';
import { commandFileChannel } from './command-file.js';
import { icinga2Channel } from './icinga2.js';
import { nrdpChannel } from './nrdp.js';
import { nscaChannel } from './nsca.js';
import { PassiveReporter } from './reporter.js';
import { Spool } from './spool.js';
import { wsArbiterChannel } from './ws-arbiter.js';

type ChannelConfig = Config['report']['passive'][number];

function makeChannel(name: string, c: ChannelConfig, config: Config): Channel {
  switch (c.type) {
    case 'command_file': return commandFileChannel(name, c);
    case 'nsca': return nscaChannel(name, c);
    case 'nrdp': return nrdpChannel(name, c);
    case 'ws_arbiter': return wsArbiterChannel(name, c);
    case 'icinga2': return icinga2Channel(name, c, config.report.max_age);
  }
}

/** Channel names: the type, numbered when one type is configured more than once (nsca, nsca-2). */
export function channelNames(types: string[]): string[] {
  return types.map((t, i) => {
    const n = types.slice(0, i + 1).filter((x) => x === t).length;
    return n === 1 ? t : `${t}-${n}`;
  });
}

export const spoolDir = (config: Config, channel: string) => join(config.state_dir, 'spool', channel);

export function passiveReporters(config: Config, log: Logger): PassiveReporter[] {
  const names = channelNames(config.report.passive.map((c) => c.type));
  return config.report.passive.map((c, i) => new PassiveReporter(
    makeChannel(names[i], c, config),
    new Spool(spoolDir(config, names[i]), config.report.spool),
    { host: config.host, host_name: config.report.host_name, service_names: config.report.service_names, max_age: config.report.max_age, keep: config.report.spool.keep, timeoutMs: c.timeout * 1000, selfService: config.report.self_service, lockDir: config.lock_dir },
    log,
  ));
}

/** What --json adds: every delivery attempt of this run, and what each spool holds or dropped. */
export async function deliveryJson(reporters: Reporter[]): Promise<Record<string, unknown>> {
  const passive = reporters.filter((r): r is PassiveReporter => r instanceof PassiveReporter);
  if (!passive.length) return {};
  const spool: Record<string, unknown> = {};
  for (const r of passive) {
    const entries = await r.spool.entries().catch(() => []);
    spool[r.channel.name] = { dir: r.spool.dir, waiting: entries.length, dropped: r.dropped };
  }
  return { delivery: passive.flatMap((r) => r.records), spool };
}
