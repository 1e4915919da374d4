/** The reporters a run delivers to, wired from the config (the CLI and the daemon share this). */
import type { Config } from '../config.js';
import { Logger } from '../log.js';
import { metricsReporter } from './metrics.js';
import { ocoReporter } from './oco.js';
import { passiveReporters } from './passive/index.js';
import type { Reporter } from './reporter.js';

/** `passive`: also deliver to report.passive (lm-probe run --passive, the daemon). */
export function configuredReporters(config: Config, opts: { passive?: boolean; log?: Logger } = {}): Reporter[] {
  const reporters: Reporter[] = [];
  if (config.oco.enabled) reporters.push(ocoReporter(config.oco));
  if (config.metrics.enabled) reporters.push(metricsReporter(config, opts.log ?? new Logger({ quiet: true })));
  if (opts.passive && opts.log) reporters.push(...passiveReporters(config, opts.log));
  return reporters;
}
