/**
 * Nagios/Naemon/Shinken external command pipe: one PROCESS_SERVICE_CHECK_RESULT line. The pipe
 * is opened non-blocking and never created: no reader (the core is down) is ENXIO at once, a
 * missing pipe is ENOENT; both are retried later, neither can hang the run.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { delivered, retry, type Channel } from './channel.js';
import { pluginText, type PassiveResult } from './message.js';

export interface CommandFileOptions { path: string; max_output: number }

/** `[<epoch>] PROCESS_SERVICE_CHECK_RESULT;<host>;<service>;<rc>;<output>` (newline-terminated). */
export function commandLine(r: PassiveResult, maxOutput: number): string {
  const prefix = `[${Math.floor(r.checkedAt / 1000)}] PROCESS_SERVICE_CHECK_RESULT;${r.host};${r.service};${r.status};`;
  return `${prefix}${pluginText(r, maxOutput - Buffer.byteLength(prefix) - 1, '\\n')}\n`;
}

const WHY: Record<string, string> = {
  ENXIO: 'no process reads the pipe (is the monitoring core running?)',
  ENOENT: 'no such pipe',
  EACCES: 'permission denied',
  EAGAIN: 'the pipe stayed full',
};

export function commandFileChannel(name: string, o: CommandFileOptions): Channel {
  return {
    name,
    target: o.path,
    async send(r, timeoutMs) {
      const line = Buffer.from(commandLine(r, o.max_output));
      let fh;
      try {
        fh = await open(o.path, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_APPEND);
        const until = Date.now() + timeoutMs;
        let off = 0;
        while (off < line.length) {
          try {
            off += (await fh.write(line, off)).bytesWritten;
          } catch (err) {
            // A full pipe (the core is busy): wait a little, within the attempt's time.
            if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > until) throw err;
            await new Promise((res) => setTimeout(res, 20));
          }
        }
        return delivered();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        return retry(`${o.path}: ${code}${WHY[code] ? `: ${WHY[code]}` : ''}`);
      } finally {
        await fh?.close();
      }
    },
  };
}
