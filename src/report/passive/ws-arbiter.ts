/**
 * Shinken's ws_arbiter module: POST /push_check_result with the form fields `time_stamp`,
 * `host_name`, `service_description`, `return_code`, `output`; Basic auth unless the module is
 * anonymous. Answers: 200 (empty body) taken, 401 no credentials, 403 wrong ones.
 */
import { delivered, retry, type Channel } from './channel.js';
import { basicAuth, endpoint, isOutcome, once, post, statusOutcome, tlsAgent } from './http.js';
import { pluginText, type PassiveResult } from './message.js';

export interface WsArbiterOptions { url: string; username: string; password_file: string; cacert: string; max_output: number }

export const wsArbiterBody = (r: PassiveResult, maxOutput: number) =>
  new URLSearchParams({
    time_stamp: String(Math.floor(r.checkedAt / 1000)),
    host_name: r.host,
    service_description: r.service,
    return_code: String(r.status),
    output: pluginText(r, maxOutput, '\\n'),
  }).toString();

export function wsArbiterChannel(name: string, o: WsArbiterOptions): Channel {
  const agent = once(() => tlsAgent({ cacert: o.cacert }));
  const url = endpoint(o.url, '/push_check_result');
  return {
    name,
    target: url,
    async send(r, timeoutMs) {
      if (!o.url) return retry('report.passive ws_arbiter: no url configured');
      const a = await post(url, wsArbiterBody(r, o.max_output), {
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        auth: await basicAuth(o.username, o.password_file, 'ws_arbiter password file'),
        agent: await agent(),
        timeoutMs,
      });
      if (isOutcome(a)) return a;
      return statusOutcome(a, url) ?? delivered();
    },
  };
}
