/**
 * Every probe lm-probe knows, in `lm-probe list` order. This is the only place a new probe
 * is registered: copy a probe folder, then add it here.
 */
import type { AnyProbe } from '../src/runner.js';
import instanceRouted from './instance-routed/index.js';

export const registry: AnyProbe[] = [instanceRouted];

export function findProbe(name: string): AnyProbe | undefined {
  return registry.find((p) => p.name === name);
}
