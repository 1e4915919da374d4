/**
 * `node fake-passive-serve.js <nrdp|ws_arbiter> <host> <tokens...|user password>`: one fake
 * receiver of fake-passive.ts in a process of its own, so it can listen inside another network
 * namespace (startFakeIn runs it with `ip netns exec`). stdout: one JSON line `{"listening":
 * <port>}`, then `{"accepted": <check>}` per check taken. SIGTERM stops it.
 */
import { startFakeNrdp, startFakeWsArbiter, type PassiveCheck } from './fake-passive.js';

const [kind, host, ...args] = process.argv.slice(2);
const r = kind === 'nrdp'
  ? await startFakeNrdp(args, { host, standalone: true })
  : await startFakeWsArbiter(args[0], args[1], { host, standalone: true });
const push = r.accepted.push.bind(r.accepted);
r.accepted.push = (...checks: PassiveCheck[]) => {
  for (const accepted of checks) process.stdout.write(`${JSON.stringify({ accepted })}\n`);
  return push(...checks);
};
process.stdout.write(`${JSON.stringify({ listening: r.port })}\n`);
process.on('SIGTERM', () => void r.stop().then(() => process.exit(0)));
