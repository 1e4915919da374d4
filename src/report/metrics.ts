/**
 * The metrics reporter: once every probe of the run delivered, it reads the completed jobs of
 * every libvirt domain (`virsh list` + ONE `virsh domjobinfo --completed` batch), counts the
 * migrations not counted before, and writes the Prometheus textfile atomically (node_exporter's
 * textfile collector reads only `*.prom`, so the temp file is never scraped half-written), plus
 * one JSON line per new migration to `metrics.log`. The state (state_dir/metrics/) keeps the
 * counters across runs and restarts. A failure is logged; it never changes a probe's status.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Config } from '../config.js';
import { oneLine } from '../errors.js';
import { writeFileAtomic } from '../fsutil.js';
import { JobStatsUnsupported, readJobs, type DomainJobs } from '../host/domjobinfo.js';
import { listDomains } from '../host/virsh.js';
import type { Logger } from '../log.js';
import type { Result } from '../result.js';
import { StateStore } from '../state.js';
import { countMigrations, emptyMetrics, formatMetrics, guardMetrics, recordResults } from './prometheus.js';
import type { Reporter } from './reporter.js';

/** Completed jobs of every domain defined on the node (running or left shut off). */
async function completedJobs(uri: string, log: Logger): Promise<DomainJobs[]> {
  try {
    const refs = await listDomains(uri, { timeoutMs: 5000 });
    return await readJobs(uri, refs, { timeoutMs: 10_000, completed: true });
  } catch (err) {
    if (err instanceof JobStatsUnsupported) log.debug(`metrics: no migration statistics: ${oneLine(err)}`);
    else log.warn(`metrics: migrations not read: ${oneLine(err)}`);
    return [];
  }
}

export async function writeMetrics(config: Config, results: Result[], log: Logger, now = new Date()): Promise<void> {
  const m = config.metrics;
  const store = new StateStore(join(config.state_dir, 'metrics'), log);
  const before = (await store.read('metrics', guardMetrics)) ?? emptyMetrics();
  const jobs = config.inventory.sources.includes('libvirt') ? await completedJobs(config.inventory.libvirt.uri, log) : [];
  const { state, counted } = countMigrations(recordResults(before, results, Math.floor(now.getTime() / 1000)), jobs, now);
  for (const c of counted) log.debug(`metrics: counted ${c.direction === 'in' ? 'incoming' : 'outgoing'} migration of ${c.name} (${c.uuid}), ${c.result}: ${c.elapsed_s} s, downtime ${c.downtime_s ?? '?'} s, ${c.data_bytes ?? '?'} bytes, ${c.iterations ?? '?'} iterations`);
  // Counters first: a textfile written from counters that were not saved would count twice.
  if (!(await store.write('metrics', state))) return;
  try {
    await writeFileAtomic(m.textfile, formatMetrics(state));
    log.debug(`metrics: ${m.textfile} written (${Object.keys(state.probes).length} probes, ${counted.length} new migrations)`);
  } catch (err) {
    log.warn(`metrics: ${m.textfile} not written: ${oneLine(err)}`);
  }
  if (m.log && counted.length) {
    try {
      await mkdir(dirname(m.log), { recursive: true });
      await appendFile(m.log, counted.map((c) => `${JSON.stringify(c)}\n`).join(''));
    } catch (err) {
      log.warn(`metrics: ${m.log} not written: ${oneLine(err)}`);
    }
  }
}

export function metricsReporter(config: Config, log: Logger): Reporter {
  return {
    name: 'metrics',
    deliver: async () => {},
    close: async (runs) => writeMetrics(config, runs.filter((r) => !r.refused).map((r) => r.result), log),
  };
}
