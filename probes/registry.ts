/**
 * Every probe lm-probe knows, in `lm-probe list` order. This is the only place a new probe
 * is registered: copy a probe folder, then add it here. The core never imports this file's
 * probes; the CLI hands the registry to it.
 */
import type { AnyProbe } from '../src/probe.js';
import instancePlacement from './instance-placement/index.js';
import instanceRouted from './instance-routed/index.js';
import bgpAnnouncements from './bgp-announcements/index.js';
import migrations from './migrations/index.js';
import openflowRules from './openflow-rules/index.js';
import orphanedDisks from './orphaned-disks/index.js';
import ovsPorts from './ovs-ports/index.js';

export const registry: AnyProbe[] = [instanceRouted, bgpAnnouncements, ovsPorts, openflowRules, orphanedDisks, instancePlacement, migrations];

export function findProbe(name: string): AnyProbe | undefined {
  return registry.find((p) => p.name === name);
}

/** The probes named on the command line; throws one line naming those that do not exist. */
export function namedProbes(names: string[]): AnyProbe[] {
  const unknown = names.filter((n) => !findProbe(n));
  if (unknown.length) throw new Error(`unknown probe: ${unknown.join(', ')} (see lm-probe list)`);
  return names.map((n) => findProbe(n)!);
}
