/**
 * migrations: the live migrations on this node and Nova's view of them. Libvirt side: every
 * outgoing migration job (elapsed against max_duration, convergence from samples kept between
 * runs, the remedy). Nova side: servers here stuck in a migration or resize state, migrations
 * from or to this node that failed within lookback.
 *
 * Cost: the shared inventory, ONE `virsh domjobinfo` batch for all running domains, one
 * GET /os-migrations (its pages), and GET /servers/{id}/migrations only for the servers with a
 * job here (at most 10): constant whatever the number of instances.
 */
import { defineProbe } from '../../src/probe.js';
import { oneLine } from '../../src/errors.js';
import { JobStatsUnsupported, OP_MIGRATION_OUT, readJobs, type DomainJobs } from '../../src/host/domjobinfo.js';
import { requireInstances } from '../../src/inventory/index.js';
import { probeOpenStack } from '../../src/inventory/openstack/api.js';
import { nodeMigrations, serverMigrations, type NovaMigration } from '../../src/inventory/openstack/lookups.js';
import type { Instance } from '../../src/inventory/types.js';
import { Status, worst } from '../../src/result.js';
import { num } from '../../src/schema.js';
import { isRecord } from '../../src/state.js';
import { judgeJob, judgeNova, updateSamples, verdict, type JobSample, type Samples } from './verdict.js';
import { withinDeadline } from '../../src/host/exec.js';

const options = {
  max_duration: num(900, 's a live migration may run before WARNING (twice that: CRITICAL)', { min: 1 }),
  max_iterations: num(30, 'memory iterations above which a live migration is not converging', { min: 1, integer: true }),
  samples: num(3, 'runs whose samples must show memory remaining not decreasing before a migration is said not to converge', { min: 2, max: 20, integer: true }),
  stuck_after: num(1800, 's a server may stay in a migration or resize state in Nova before WARNING (twice that: CRITICAL)', { min: 1 }),
  lookback: num(86400, 's of os-migrations history in which a failed migration warns', { min: 0 }),
};

/** Nova's in-progress view is asked for at most this many jobs. */
const NOVA_LOOKUPS_MAX = 10;

const guardSamples = (v: unknown): Samples | undefined =>
  isRecord(v) && Object.values(v).every((l) => Array.isArray(l) && l.every((s) => isRecord(s) && typeof s.t === 'number' && typeof s.elapsedMs === 'number' && typeof s.remaining === 'number'))
    ? (v as Samples)
    : undefined;

/** An outgoing migration job's numbers, or undefined when the domain has none. */
function sampleOf(j: DomainJobs, inst: Instance | undefined, t: number): JobSample | undefined {
  const c = j.current;
  if (!c || (c.type !== 'bounded' && c.type !== 'unbounded') || c.operation !== OP_MIGRATION_OUT) return undefined;
  const s = c.stats;
  return {
    t,
    elapsedMs: s.time_elapsed ?? 0,
    remaining: s.memory_remaining ?? s.data_remaining ?? 0,
    total: s.memory_total ?? s.data_total ?? 0,
    processed: s.memory_processed ?? s.data_processed ?? 0,
    iteration: s.memory_iteration ?? 0,
    ...(s.memory_dirty_rate !== undefined ? { dirtyRate: s.memory_dirty_rate } : {}),
    ...(s.memory_bps !== undefined ? { bps: s.memory_bps } : {}),
    ...(inst?.stateReason === 'post-copy' ? { postcopy: true } : {}),
  };
}

export default defineProbe({
  name: 'migrations',
  summary: 'live migrations on this node converge in time; none stuck or failed in Nova',
  options,
  tools: ['virsh'],
  async run(ctx) {
    const o = ctx.options;
    const log = ctx.log;
    const inventory = await ctx.inventory();
    const instances = requireInstances(inventory);
    const byUuid = new Map(instances.map((i) => [i.uuid, i]));
    const nowS = Math.floor(Date.now() / 1000);
    const notChecked: string[] = [];
    let failedSide: Status = Status.OK;

    // Libvirt side: one batch for every domain that can have a job.
    const libvirt = inventory.sources.some((s) => s.source === 'libvirt' && s.state === 'ok');
    const running = instances.filter((i) => i.sources.includes('libvirt') && ['running', 'paused', 'blocked'].includes(i.state));
    const now = new Map<string, JobSample>();
    if (!libvirt) {
      notChecked.push('libvirt jobs not checked (no libvirt source)');
    } else {
      try {
        const jobs = await readJobs(ctx.config.inventory.libvirt.uri, running.map((i) => ({ uuid: i.uuid, name: i.name ?? i.uuid })), {
          timeoutMs: withinDeadline(10_000, ctx.remainingMs()),
          signal: ctx.signal,
        });
        for (const j of jobs) {
          const s = sampleOf(j, byUuid.get(j.uuid), nowS);
          if (s) now.set(j.uuid, s);
          else if (j.current && j.current.type !== 'none') log.debug(`${j.name}: job ${j.current.type}, operation ${j.current.operation}: not an outgoing migration`);
        }
        log.debug(`domjobinfo of ${running.length} running domains: ${now.size} outgoing migrations`);
      } catch (err) {
        // A driver without job statistics has no migrations; anything else is a failed check.
        const unsupported = err instanceof JobStatsUnsupported;
        if (unsupported) log.debug(oneLine(err));
        else failedSide = Status.UNKNOWN;
        notChecked.push(`libvirt jobs not checked (${unsupported ? 'this libvirt driver keeps no job statistics' : oneLine(err)})`);
      }
    }
    const previous = (await ctx.state.read('samples', guardSamples)) ?? {};
    const samples = updateSamples(previous, now, o.samples);
    if (libvirt && failedSide === Status.OK) await ctx.state.write('samples', samples);

    // Nova side, when the inventory's OpenStack source answered.
    const client = probeOpenStack(ctx.config, inventory.sources, (l) => log.debug(l));
    let migrations: NovaMigration[] | undefined;
    const inProgress = new Map<string, NovaMigration>();
    if (typeof client === 'string') {
      notChecked.push(`Nova not checked (${client})`);
    } else {
      const since = new Date((nowS - o.lookback) * 1000).toISOString();
      await client.use({ signal: ctx.signal, timeoutMs: Math.max(100, ctx.remainingMs() - 300) }, async (api) => {
        const asked = [...now.keys()].slice(0, NOVA_LOOKUPS_MAX);
        const [list, perServer] = await Promise.all([nodeMigrations(api, since), Promise.all(asked.map((u) => serverMigrations(api, u)))]);
        migrations = list;
        perServer.forEach((ms, k) => ms[0] && inProgress.set(asked[k], ms[0]));
      });
      log.debug(`os-migrations of ${ctx.config.host} since ${since}: ${migrations!.length} (${migrations!.filter((m) => ['error', 'failed'].includes(m.status)).length} failed)`);
    }

    const jobOpts = { maxDurationS: o.max_duration, maxIterations: o.max_iterations, samples: o.samples };
    const jobFindings = [...now.keys()].map((uuid) => {
      const inst = byUuid.get(uuid);
      log.debug(`${inst?.name ?? uuid}: samples ${samples[uuid].map((s) => `${s.elapsedMs}ms:${s.remaining}B/it${s.iteration}`).join(' ')}`);
      return judgeJob({ uuid, name: inst?.name, displayName: inst?.displayName, samples: samples[uuid], nova: inProgress.get(uuid) }, jobOpts);
    });
    const novaFindings = judgeNova({ instances, jobs: new Set(now.keys()), migrations, stuckAfterS: o.stuck_after, nowS });
    const longestS = Math.max(0, ...[...now.values()].map((s) => s.elapsedMs / 1000));
    const outcome = verdict({ jobs: jobFindings, nova: novaFindings, notChecked, longestS });
    return { ...outcome, status: worst(outcome.status, failedSide) };
  },
});
