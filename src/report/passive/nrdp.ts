/**
 * NRDP (Nagios Remote Data Processor): a form POST of `token`, `cmd=submitcheck` and `json`
 * holding `checkresults`. NRDP answers HTTP 200 whatever happened; the JSON `result.status` says:
 * 0 = processed, -1 with a message ("BAD TOKEN", "NO TOKEN", ...) = refused.
 */
import { delivered, rejected, retry, type Channel, type Outcome } from './channel.js';
import { readSecretFile } from './credentials.js';
import { isOutcome, once, post, statusOutcome, tlsAgent, type HttpAnswer } from './http.js';
import { pluginText, type PassiveResult } from './message.js';

export interface NrdpOptions { url: string; token_file: string; cacert: string; max_output: number }

export function nrdpBody(r: PassiveResult, token: string, maxOutput: number): string {
  const checkresults = [{
    checkresult: { type: 'service' },
    hostname: r.host,
    servicename: r.service,
    state: String(r.status),
    output: pluginText(r, maxOutput, '\n'),
    time: String(Math.floor(r.checkedAt / 1000)),
  }];
  return new URLSearchParams({ token, cmd: 'submitcheck', json: JSON.stringify({ checkresults }) }).toString();
}

/** Token errors are for good; anything else NRDP refuses (its check results dir, its command file) may pass later. */
const FOR_GOOD = new Set(['NO TOKEN', 'BAD TOKEN', 'DENIED TOKEN', 'NO TOKENS', 'NOT AUTHENTICATED', 'BAD_USER', 'HTTPS REQUIRED', 'BAD JSON']);

export function nrdpOutcome(a: HttpAnswer, url: string): Outcome {
  const byStatus = statusOutcome(a, url);
  if (byStatus) return byStatus;
  let result: { status?: unknown; message?: unknown; meta?: { output?: unknown } } | undefined;
  try {
    result = (JSON.parse(a.body) as { result?: typeof result }).result;
  } catch { /* below */ }
  if (!result) return rejected(`${url}: not an NRDP answer: ${a.body.slice(0, 80)}`);
  if (Number(result.status) === 0) return delivered(String(result.meta?.output ?? result.message ?? ''));
  const message = String(result.message ?? 'refused');
  return FOR_GOOD.has(message) ? rejected(`${url}: NRDP: ${message}`) : retry(`${url}: NRDP: ${message}`);
}

export function nrdpChannel(name: string, o: NrdpOptions): Channel {
  const agent = once(() => tlsAgent({ cacert: o.cacert }));
  return {
    name,
    target: o.url,
    async send(r, timeoutMs) {
      if (!o.url || !o.token_file) return retry('report.passive nrdp: url and token_file are required');
      const token = await readSecretFile(o.token_file, 'NRDP token file');
      const a = await post(o.url, nrdpBody(r, token, o.max_output), {
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        agent: await agent(),
        timeoutMs,
      });
      return isOutcome(a) ? a : nrdpOutcome(a, o.url);
    },
  };
}
