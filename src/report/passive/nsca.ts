/**
 * NSCA through send_nsca: `host<TAB>service<TAB>rc<TAB>output<ETB>` on its stdin. send_nsca's exit
 * status says the packet left, not that it was accepted: with a wrong password it still exits
 * 0 and the server drops the result silently (NSCA's protocol has no answer; README says so).
 */
import { run } from '../../host/exec.js';
import { oneLine } from '../../errors.js';
import { delivered, retry, type Channel } from './channel.js';
import { assertPrivate } from './credentials.js';
import { pluginText, type PassiveResult } from './message.js';

export interface NscaOptions { host: string; port: number; config: string; command: string; max_output: number }

/**
 * send_nsca's input record. Since NSCA 2.9 a record may end with ETB (0x17) instead of a newline,
 * so the output keeps real newlines (long output; nsca escapes them for Nagios). The output is
 * cut to the server's limit, less the final NUL of its buffer.
 */
export const nscaLine = (r: PassiveResult, maxOutput: number) => `${r.host}\t${r.service}\t${r.status}\t${pluginText(r, maxOutput - 1, '\n')}\x17`;

export function nscaChannel(name: string, o: NscaOptions): Channel {
  return {
    name,
    target: `${o.host}:${o.port}`,
    async send(r, timeoutMs) {
      if (!o.host) return retry('report.passive nsca: no host configured');
      if (o.config) await assertPrivate(o.config, 'send_nsca config');
      const timeoutS = Math.max(1, Math.floor(timeoutMs / 1000));
      const args = ['-H', o.host, '-p', String(o.port), '-to', String(timeoutS), ...(o.config ? ['-c', o.config] : [])];
      try {
        const res = await run(o.command, args, { timeoutMs: timeoutMs + 1000, input: nscaLine(r, o.max_output) });
        const said = oneLine(`${res.stdout} ${res.stderr}`);
        return res.exitCode === 0 ? delivered(said) : retry(`${o.command} exited ${res.exitCode}: ${said}`);
      } catch (err) {
        return retry(oneLine(err));
      }
    },
  };
}
