/** The reporters a run delivers to, wired from the config (the CLI and the daemon share this). */
import type { Config } from '../config.js';
import { ocoReporter } from './oco.js';
import type { Reporter } from './reporter.js';

export function configuredReporters(config: Config): Reporter[] {
  const reporters: Reporter[] = [];
  if (config.oco.enabled) reporters.push(ocoReporter(config.oco));
  return reporters;
}
