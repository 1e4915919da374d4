/**
 * Gather "what is hosted here" from every configured source, once per run. A source that
 * fails is reported as degraded; probes run on what is known. Only when no source can name
 * the instances does requireInstances() end the probe UNKNOWN.
 */
import type { Config } from '../config.js';
import { ProbeError, oneLine } from '../errors.js';
import { readInventoryFile } from './file.js';
import type { Instance, Inventory } from './types.js';

export async function gatherInventory(config: Config): Promise<Inventory> {
  const inv: Inventory = { instances: [], sources: [], findings: [] };
  try {
    const instances = readInventoryFile(config.inventory.file);
    inv.instances = instances;
    inv.sources.push({ source: 'file', ok: true, detail: `${instances.length} instances from ${config.inventory.file}` });
  } catch (err) {
    inv.sources.push({ source: 'file', ok: false, detail: oneLine(err) });
  }
  return inv;
}

/** The instances, or a ProbeError saying why no source could name them. */
export function requireInstances(inv: Inventory): Instance[] {
  if (inv.sources.some((s) => s.ok)) return inv.instances;
  const why = inv.sources.map((s) => `${s.source}: ${s.detail}`).join('; ') || 'no source configured';
  throw new ProbeError(`no inventory: ${why}`);
}
