/** `--json`: one document with every field of every result. */
import { formatPerf, STATUS_NAMES, type Result, type Status } from '../result.js';

export function formatJson(results: Result[], overall: Status, extra: Record<string, unknown>): string {
  return `${JSON.stringify(
    {
      ...extra,
      status: overall,
      status_text: STATUS_NAMES[overall],
      results: results.map((r) => ({
        probe: r.probe,
        status: r.status,
        status_text: STATUS_NAMES[r.status],
        summary: r.summary,
        details: r.details,
        ...(r.findings ? { findings: r.findings } : {}),
        perfdata: r.perfdata.map((p) => ({ ...p, text: formatPerf(p) })),
        duration_ms: r.durationMs,
        processes_spawned: r.processesSpawned,
      })),
    },
    null,
    2,
  )}\n`;
}
