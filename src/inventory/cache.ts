/**
 * The last good merged inventory on disk. When a source fails, the cache stands in for it
 * (as the lowest-precedence source), with its age reported; past max_age it is not used.
 */
import { readJsonOr, writeFileAtomic } from '../fsutil.js';
import type { Instance, SourceInstance } from './types.js';

interface CacheFile {
  savedAt: number; // epoch ms
  host: string;
  instances: Instance[];
}

export async function saveCache(path: string, host: string, instances: Instance[], now = Date.now()): Promise<void> {
  const doc: CacheFile = { savedAt: now, host, instances };
  await writeFileAtomic(path, `${JSON.stringify(doc)}\n`, 0o600);
}

/** The cached instances and their age, or why the cache cannot be used. */
export async function loadCache(path: string, host: string, maxAgeS: number, now = Date.now()): Promise<{ instances: SourceInstance[]; ageS: number } | { unusable: string }> {
  if (maxAgeS <= 0) return { unusable: 'cache disabled (max_age 0)' };
  const doc = await readJsonOr<CacheFile | null>(path, null);
  if (!doc || !Array.isArray(doc.instances) || typeof doc.savedAt !== 'number') return { unusable: `no cache at ${path}` };
  if (doc.host !== host) return { unusable: `cache at ${path} is for host ${doc.host}` };
  const ageS = Math.round((now - doc.savedAt) / 1000);
  if (ageS > maxAgeS) return { unusable: `cache is ${ageS}s old (max_age ${maxAgeS}s)` };
  // Cached instances go back in as plain facts; the merge gives them 'cache' as their origin.
  const instances = doc.instances.map(({ sources: _s, origin: _o, ports, ...rest }) => ({
    ...rest,
    ports: ports.map(({ sources: _ps, origin: _po, ...p }) => p),
  }));
  return { instances, ageS };
}
