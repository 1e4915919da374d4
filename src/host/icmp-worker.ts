/**
 * One ICMP scan in whatever network namespace this process was started in (icmpScan runs it
 * as `ip netns exec <ns> node icmp-worker.js`). Request {ips, opts} as JSON on stdin;
 * answer {replies, stats} or {error} as one JSON line on stdout, exit status 0 either way.
 */
import { ProbeError, oneLine } from '../errors.js';
import { scanHere, type IcmpOptions, type ScanStats } from './icmp.js';

let answered = false;
function answer(msg: object): void {
  if (answered) return;
  answered = true;
  process.stdout.write(JSON.stringify(msg) + '\n'); // synchronous for pipes and files on Linux
}

// The event loop emptied while the scan was still pending: its sockets were lost (collected
// before sending). Say so rather than exit 0 having pinged nothing.
process.on('beforeExit', () => answer({ error: 'icmp worker: scan never finished (event loop emptied, nothing pinged)' }));

async function main(): Promise<void> {
  let input = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) input += chunk;
  const stats: ScanStats = { backend: 'raw', rejected: 0 };
  try {
    const { ips, opts } = JSON.parse(input) as { ips: string[]; opts: IcmpOptions };
    answer({ replies: await scanHere(ips, opts, stats), stats });
  } catch (e) {
    answer({ error: e instanceof ProbeError ? e.message : `icmp worker: ${oneLine(e)}` });
  }
}

void main();
