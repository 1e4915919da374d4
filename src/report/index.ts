/** The reporters a run delivers to, wired from the config (the CLI and the daemon share this). */
import type { Config } from '../config.js';
import { Logger } from '../log.js';
import { metricsReporter } from './metrics.js';
import { ocoReporter } from './oco.js';
import type { Reporter } from './reporter.js';

export function configuredReporters(config: Config, log: Logger = new Logger({ quiet: true })): Reporter[] {
  const reporters: Reporter[] = [];
  if (config.oco.enabled) reporters.push(ocoReporter(config.oco));
  if (config.metrics.enabled) reporters.push(metricsReporter(config, log));
  return reporters;
}
