/**
 * orphaned-disks: what a migration, resize or delete left in Nova's instances path on this node
 * (instance dirs of instances not hosted here, `<uuid>_resize`, `<uuid>_del`), and hosted
 * instances whose disks lost their backing file (they will not boot again).
 *
 * Cost is constant in processes: none of its own (only the shared inventory's). The tree is read
 * in-process: one listing, an lstat per entry and per file, and each qcow2 header (20 bytes plus
 * the backing name; a shared base is read once).
 */
import { join } from 'node:path';
import { realpath } from 'node:fs/promises';
import { defineProbe, type ProbeContext } from '../../src/probe.js';
import { ProbeError, oneLine } from '../../src/errors.js';
import { backingChain, underRoot, type HeaderCache } from '../../src/host/qcow2.js';
import { isSharedFs, mountOf, readMountinfo } from '../../src/host/mountinfo.js';
import { requireInstances } from '../../src/inventory/index.js';
import type { Inventory } from '../../src/inventory/types.js';
import type { Logger } from '../../src/log.js';
import type { Presence } from '../../src/presence.js';
import type { Infer, ObjectField } from '../../src/schema.js';
import { num, oneOf, range, str } from '../../src/schema.js';
import { readInstancesTree } from './tree.js';
import { chainFindings, hostedView, isHosted, judgeTree, NOVA_OWN, QUARANTINE_DIR, verdict, type Finding } from './verdict.js';

export const options = {
  instances_path: str('/var/lib/nova/instances', "Nova's instances_path on this node"),
  root: str('/', 'where the host\'s file system is read from (a fixture tree in tests): instances_path, backing files and /proc are read under it'),
  shared: oneOf(['auto', 'true', 'false'] as const, 'auto', 'is instances_path shared storage (other nodes\' instance dirs live there too)? auto: from /proc/self/mountinfo (nfs, nfs4, glusterfs, ceph, ...)'),
  min_age: num(3600, 's: a finding whose newest file is younger (a migration or resize may be in flight) is WARNING at most, and the reaper leaves it alone', { min: 0 }),
  warning: range('0', 'Nagios range on the number of orphans and leftovers (-w)'),
  critical: range('~:', 'Nagios range on the number of orphans and leftovers (-c; ~: = never CRITICAL)'),
  missing_backing: range('0', 'Nagios range on the number of hosted disks with a missing backing file: CRITICAL outside it'),
  quarantine_days: num(7, 'reap-disks --purge deletes quarantined entries older than this many days', { min: 0 }),
};

export type Options = Infer<ObjectField<typeof options>>;

/** Is the instances path on shared storage? `shared: auto` reads mountinfo; the reason goes to the trace. */
export async function sharedStorage(o: Options, log: Logger): Promise<boolean> {
  if (o.shared !== 'auto') {
    log.debug(`shared storage: ${o.shared} (configured)`);
    return o.shared === 'true';
  }
  const file = underRoot(o.root, '/proc/self/mountinfo');
  let mounts;
  try {
    mounts = await readMountinfo(file);
  } catch (err) {
    throw new ProbeError(`cannot tell whether ${o.instances_path} is shared storage: ${oneLine(err)} (set shared: true or false)`);
  }
  // Mount points are host paths: compare with the canonical instances path (symlinks resolved).
  const canonical = o.root === '/' ? await realpath(o.instances_path).catch(() => o.instances_path) : o.instances_path;
  const m = mountOf(mounts, canonical);
  const shared = !!m && isSharedFs(m.fsType);
  log.debug(`shared storage: ${shared ? 'yes' : 'no'}: ${canonical} is on ${m ? `${m.fsType} ${m.source} at ${m.mountPoint}` : 'no mount found'}`);
  return shared;
}

export interface Scan {
  findings: Finding[];
  instances: number;
  shared: boolean;
}

/** The whole check, minus the verdict: shared by the probe and the reaper. */
export async function scanInstancesPath(
  o: Options, inventory: Inventory, host: string, log: Logger,
  opts: { presence?: Presence; partial?: (s: Scan) => void; nowS?: number } = {},
): Promise<Scan> {
  const nowS = opts.nowS ?? Date.now() / 1000;
  const presence = opts.presence;
  const shared = await sharedStorage(o, log);
  let entries;
  try {
    entries = await readInstancesTree(o.instances_path, o.root, new Set([...NOVA_OWN, QUARANTINE_DIR]));
  } catch (err) {
    throw new ProbeError(`cannot read instances_path ${o.instances_path}: ${oneLine(err)}`);
  }
  const view = hostedView(inventory, host);
  const leftRecently = new Map((presence?.departed(o.min_age) ?? []).map((d) => [d.uuid, Math.round(nowS - d.left)]));
  const t = judgeTree(entries, view, { shared, minAgeS: o.min_age, nowS, leftRecently });
  const count = (k: string) => t.findings.filter((f) => f.kind === k).length;
  log.debug(`Expected the dirs of the ${view.byUuid.size} instances in the inventory; ${o.instances_path} has ${entries.length} entries:`);
  log.debug(`${t.hosted.length} dirs of instances hosted here, ${count('orphan')} orphaned, ${count('leftover')} leftovers, ${count('unexpected')} unexpected, ${count('not-judged')} not judged (shared storage)`);
  const withDir = new Set(t.hosted.map((h) => h.uuid));
  const absent = [...view.byUuid.keys()].filter((u) => isHosted(view, u) && !withDir.has(u));
  if (absent.length) log.debug(`${absent.length} instances hosted here have no dir in ${o.instances_path} (e.g. volume-backed): ${absent.slice(0, 10).join(' ')}${absent.length > 10 ? ' ...' : ''}`);
  for (const n of t.notes) log.debug(n);

  // What is known before the headers are read (a hung mount may cut the run there).
  opts.partial?.({ findings: t.findings, instances: t.hosted.length, shared });

  // Backing chains of the hosted instances' disks: every qcow2 among their files.
  const cache: HeaderCache = new Map();
  const toFs = (p: string) => underRoot(o.root, p);
  const findings = [...t.findings];
  let disks = 0;
  for (const { uuid, entry } of t.hosted) {
    const candidates = entry.files.filter((f) => f.startsWith('disk') && f !== 'disk.info');
    disks += candidates.length;
    const chains = await Promise.all(candidates.map(async (f) => ({ disk: join(entry.path, f), chain: await backingChain(join(entry.path, f), toFs, cache) })));
    findings.push(...chainFindings(entry, uuid, chains, { minAgeS: o.min_age, nowS }, view.byUuid.get(uuid)?.name));
  }
  log.debug(`${disks} disk files of hosted instances checked, ${cache.size} image headers read, in ${Math.round(Date.now() - nowS * 1000)} ms`);
  return { findings, instances: t.hosted.length, shared };
}

export default defineProbe({
  name: 'orphaned-disks',
  summary: 'no instance dirs, _resize/_del leftovers or missing backing files left in Nova\'s instances path',
  options,
  // None: the tree, the qcow2 headers and mountinfo are read in-process (only the inventory runs virsh).
  tools: [],
  async run(ctx: ProbeContext<Options>) {
    const o = ctx.options;
    const inventory = await ctx.inventory();
    requireInstances(inventory);
    const judge = (scan: Scan) => verdict({ ...scan, warning: o.warning, critical: o.critical, missingBacking: o.missing_backing, minAgeS: o.min_age });
    const host = ctx.config.inventory.openstack.host || ctx.config.host;
    const scan = await scanInstancesPath(o, inventory, host, ctx.log, { presence: await ctx.presence(), partial: (s) => ctx.partial(judge(s)) });
    const outcome = judge(scan);
    if (scan.findings.length) {
      const n = scan.findings.length;
      ctx.log.info(`${n} ${n === 1 ? 'entry' : 'entries'} of ${o.instances_path} ${n === 1 ? 'is' : 'are'} not what Nova should have left:`);
      for (const line of outcome.details) ctx.log.debug(line);
    } else ctx.log.debug(`every entry of ${o.instances_path} belongs to an instance hosted here or to Nova`);
    return outcome;
  },
});
