/**
 * Icinga 2 API: POST /v1/actions/process-check-result for one Service, chosen by a filter on
 * host and service names. The result carries its own time (execution_start/end) and a `ttl` so
 * Icinga itself marks the service stale when no newer result follows within report.max_age.
 * A filter that matches nothing is HTTP 500 with no results in icinga2 2.13 (404 when the
 * object is named in the URL): both mean "unknown service", rejected for good.
 */
import { delivered, rejected, retry, type Channel, type Outcome } from './channel.js';
import { basicAuth, endpoint, isOutcome, once, post, statusOutcome, tlsAgent, type HttpAnswer } from './http.js';
import { icingaParts, type PassiveResult } from './message.js';

export interface Icinga2Options {
  url: string; username: string; password_file: string; cacert: string; tls_name: string; cert: string; key_file: string; max_output: number;
}

export function icingaBody(r: PassiveResult, maxOutput: number, maxAgeS: number, now = Date.now()): Record<string, unknown> {
  const { output, perf } = icingaParts(r, maxOutput);
  const ended = r.checkedAt / 1000;
  const body: Record<string, unknown> = {
    type: 'Service',
    filter: 'host.name==host_name && service.name==service_name',
    filter_vars: { host_name: r.host, service_name: r.service },
    exit_status: r.status,
    plugin_output: output,
    performance_data: perf,
    check_source: r.host,
    execution_start: ended,
    execution_end: ended,
  };
  // Fresh for what is left of max_age: a result that is not followed turns stale in Icinga too.
  if (maxAgeS > 0) body.ttl = Math.max(1, Math.round(maxAgeS - (now - r.checkedAt) / 1000));
  return body;
}

export function icingaOutcome(a: HttpAnswer, url: string, r: PassiveResult): Outcome {
  let results: { code?: number; status?: string }[] | undefined;
  try {
    results = (JSON.parse(a.body) as { results?: typeof results }).results;
  } catch { /* not JSON: judged by the status */ }
  if ((a.status === 500 || a.status === 404) && Array.isArray(results) && results.length === 0) {
    return rejected(`${url}: Icinga has no service ${r.host}!${r.service} (HTTP ${a.status})`);
  }
  const byStatus = statusOutcome(a, url);
  if (byStatus) return byStatus;
  const first = results?.[0];
  if (first && first.code !== undefined && first.code !== 200) return rejected(`${url}: ${first.code}: ${first.status ?? ''}`);
  return delivered(first?.status);
}

export function icinga2Channel(name: string, o: Icinga2Options, maxAgeS: number): Channel {
  const agent = once(() => tlsAgent({ cacert: o.cacert, tlsName: o.tls_name, cert: o.cert, keyFile: o.key_file }));
  const url = endpoint(o.url, '/v1/actions/process-check-result');
  return {
    name,
    target: url,
    async send(r, timeoutMs) {
      if (!o.url) return retry('report.passive icinga2: no url configured');
      const a = await post(url, JSON.stringify(icingaBody(r, o.max_output, maxAgeS)), {
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        auth: await basicAuth(o.username, o.password_file, 'Icinga API password file'),
        agent: await agent(),
        timeoutMs,
      });
      return isOutcome(a) ? a : icingaOutcome(a, url, r);
    },
  };
}
