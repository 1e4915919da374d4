/**
 * Gather "what is hosted here" once per run: every configured source in parallel, each
 * failing alone, merged in precedence order. A failed source makes the inventory degraded
 * (the cache stands in when fresh enough); only when no source can name the instances does
 * requireInstances() end a probe UNKNOWN.
 */
import type { Config } from '../config.js';
import { ProbeError, oneLine } from '../errors.js';
import type { Logger } from '../log.js';
import { loadCache, saveCache } from './cache.js';
import { createFileSource } from './file.js';
import { createLibvirtSource } from './libvirt.js';
import { findDisagreements, mergeSources, type SourceFacts } from './merge.js';
import { createOpenStackSource } from './openstack/index.js';
import { createOvsSource } from './ovs.js';
import { sanitize } from './sanity.js';
import type { Instance, InventorySource, Inventory, SourceStatus } from './types.js';

export function configuredSources(config: Config, log?: Logger): InventorySource[] {
  const inv = config.inventory;
  const make: Record<string, () => InventorySource> = {
    libvirt: () => createLibvirtSource(inv.libvirt),
    ovs: () => createOvsSource(config.ovs),
    openstack: () => createOpenStackSource(inv.openstack, config.host, process.env, { debug: log && ((l: string) => log.debug(l)) }),
    file: () => createFileSource(inv.file),
  };
  return inv.sources.map((name) => make[name]());
}

export async function gatherInventory(config: Config, opts: { signal?: AbortSignal; log?: Logger } = {}, sources = configuredSources(config, opts.log)): Promise<Inventory> {
  // At most half the probe's deadline (10 s at most), so a hung source is named ("virsh timed
  // out") while the probe still has time to report, instead of the whole probe timing out.
  const timeoutMs = Math.min(10_000, (config.timeout * 1000) / 2);
  const statuses: SourceStatus[] = [];
  const facts: SourceFacts[] = [];
  let ovsSnapshot: Inventory['ovs'];
  await Promise.all(
    sources.map(async (src, i) => {
      if (!src.configured()) {
        statuses[i] = { source: src.name, state: 'skipped', detail: 'not configured' };
        return;
      }
      const started = Date.now();
      try {
        const { instances, notes, ovs } = await src.gather({ signal: opts.signal, timeoutMs });
        if (ovs) ovsSnapshot = ovs;
        for (const note of notes ?? []) opts.log?.debug(`inventory: ${src.name}: ${note}`);
        facts[i] = { source: src.name, instances };
        statuses[i] = { source: src.name, state: 'ok', detail: `${instances.length} instances in ${Date.now() - started} ms` };
      } catch (err) {
        statuses[i] = { source: src.name, state: 'failed', detail: oneLine(err) };
      }
    }),
  );
  const answered = facts.filter(Boolean); // still in precedence order
  const inventory: Inventory = { instances: [], sources: statuses, findings: [], ...(ovsSnapshot ? { ovs: ovsSnapshot } : {}) };
  const failed = statuses.some((s) => s.state === 'failed');
  const cache = config.inventory.cache;

  let withCache = answered;
  if (failed) {
    const cached = await loadCache(cache.path, config.host, cache.max_age);
    if ('unusable' in cached) {
      statuses.push({ source: 'cache', state: 'skipped', detail: cached.unusable });
    } else {
      withCache = [...answered, { source: 'cache', instances: cached.instances }];
      inventory.cacheAgeS = cached.ageS;
      statuses.push({ source: 'cache', state: 'ok', detail: `${cached.instances.length} instances from ${cached.ageS}s ago, standing in for ${statuses.filter((s) => s.state === 'failed').map((s) => s.source).join(', ')}` });
    }
  }
  for (const st of statuses) opts.log?.debug(`inventory: ${st.source} ${st.state}: ${st.detail}`);
  inventory.instances = mergeSources(withCache);
  inventory.problems = sanitize(inventory.instances, answered);
  inventory.findings = findDisagreements(answered, inventory.instances, config.host);
  if (!failed && answered.length > 0) {
    try {
      await saveCache(cache.path, config.host, inventory.instances);
    } catch {
      // A cache that cannot be written only costs the fallback; the run itself is fine.
    }
  }
  return inventory;
}

/** One line per source that did not answer and per problem in what they said, for a probe's long output. */
export function degradedLines(inv: Inventory): string[] {
  const failed = inv.sources.filter((s) => s.state === 'failed');
  // When a source failed, whether the cache could stand in for it is part of the story.
  const cache = failed.length ? inv.sources.filter((s) => s.source === 'cache' && s.state === 'skipped') : [];
  return [
    ...failed.map((s) => `inventory degraded: ${s.source}: ${s.detail}`),
    ...cache.map((s) => `inventory cache not used: ${s.detail}`),
    ...(inv.problems ?? []).map((p) => `inventory: ${p}`),
  ];
}

/** The instances, or a ProbeError saying why no source could name them. */
export function requireInstances(inv: Inventory): Instance[] {
  if (inv.sources.some((s) => s.state === 'ok')) return inv.instances;
  const failed = inv.sources.filter((s) => s.state === 'failed');
  if (failed.length === 0) throw new ProbeError(`no inventory: no source is configured (${inv.sources.map((s) => s.source).join(', ')}: not configured)`);
  throw new ProbeError(`no inventory: ${failed.map((s) => `${s.source}: ${s.detail}`).join('; ')}`);
}
