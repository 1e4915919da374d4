/**
 * icmpScan against real network namespaces (test/lab/icmp-targets.ts: "<prefix>a" scans,
 * "<prefix>b" answers, AnyIP and dead ranges, all in 198.18.0.0/15).
 * Nothing is ever sent from the root namespace: every scan runs in a, through the worker.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ProbeError } from '../../src/errors.js';
import { icmpScan, NOT_PERMITTED, type IcmpOptions, type IcmpReply } from '../../src/host/icmp.js';
import { anyIp, icmpTargetNames, icmpTargetsDown, icmpTargetsUp, onLinkDead } from '../lab/icmp-targets.js';
import { labUnavailableReason, nsExec, sh, uniquePrefix } from '../lab/netns.js';
import { portableBundle } from '../support/portable.js';

const unavailable = labUnavailableReason();
const required = process.env.LMP_REQUIRE_LAB === '1';
const skip = unavailable && !required ? unavailable : false;
if (unavailable && required) test('ICMP lab is available', () => assert.fail(`LMP_REQUIRE_LAB=1 but ${unavailable}`));

const WORKER = fileURLToPath(new URL('../../src/host/icmp-worker.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url)); // for node_modules (net-ping)
const prefix = uniquePrefix();
const targets = icmpTargetNames(prefix);
const { a: A, b: B } = targets;
const children: ChildProcess[] = [];

const ALIVE = ['198.18.0.1', '198.18.0.2', '198.18.0.3', '198.18.8.1', '198.18.15.254'];
const DEAD = ['198.18.0.50', '198.18.0.51', '198.18.4.1'];
const MIX = [ALIVE[1], DEAD[0], ALIVE[0], DEAD[2], ALIVE[3], DEAD[1], ALIVE[2], ALIVE[4], ALIVE[1]];
const QUICK: IcmpOptions = { namespace: A, timeoutMs: 300, retries: 1 };

after(() => {
  // Also when a test failed; deleting a namespace that was never made is harmless.
  for (const c of children) c.kill('SIGKILL');
  if (skip) return;
  icmpTargetsDown(targets);
});

before(() => {
  if (skip) return;
  icmpTargetsUp(prefix);
});

/** Run the compiled worker directly inside a, to read its stats too. */
function worker(ips: string[], opts: IcmpOptions, nodeArgs: string[] = []): { replies: IcmpReply[]; stats: { backend: string; rejected: number; rcvbuf?: number } } {
  const out = nsExec(A, process.execPath, [...nodeArgs, WORKER], JSON.stringify({ ips, opts }));
  const msg = JSON.parse(out);
  assert.ok(Array.isArray(msg.replies), out.slice(0, 300));
  return msg;
}

const aliveOf = (rs: IcmpReply[]) => rs.map((r) => r.alive);
const countAlive = (rs: IcmpReply[]) => rs.filter((r) => r.alive).length;

test('alive/dead mix, in input order, from inside the namespace', { skip }, async () => {
  const rs = await icmpScan(MIX, QUICK);
  assert.deepEqual(rs.map((r) => r.ip), MIX);
  assert.deepEqual(aliveOf(rs), MIX.map((ip) => ALIVE.includes(ip)));
  for (const r of rs.filter((x) => x.alive)) assert.ok(typeof r.rttMs === 'number' && r.rttMs >= 0 && r.rttMs < 300, JSON.stringify(r));
  assert.equal(rs[1].error, 'timed out');
  assert.equal(rs[3].error, 'Network is unreachable');
});

test('the namespace is really the one scanned from', { skip }, async () => {
  // AnyIP 198.18.8.0/21 exists in a only; b has no route there, so b sends nothing.
  const [fromA] = await icmpScan(['198.18.8.9'], QUICK);
  const [fromB] = await icmpScan(['198.18.8.9'], { ...QUICK, namespace: B });
  assert.equal(fromA.alive, true);
  assert.deepEqual(fromB, { ip: '198.18.8.9', alive: false, error: 'Network is unreachable' });
  await assert.rejects(icmpScan(['198.18.8.9'], { ...QUICK, namespace: `${prefix}zz` }), /network namespace .* not found/);
});

test('2,000 AnyIP targets: all alive, no loss, 4 MiB receive buffer granted', { skip }, (t) => {
  const ips = anyIp(2000);
  const started = performance.now();
  const { replies, stats } = worker(ips, { timeoutMs: 2000, retries: 0 });
  t.diagnostic(`2,000 targets in ${Math.round(performance.now() - started)} ms (incl. node start-up), SO_RCVBUF ${stats.rcvbuf}`);
  assert.equal(countAlive(replies), 2000);
  assert.ok((stats.rcvbuf ?? 0) >= 4 * 1024 * 1024, `rcvbuf ${stats.rcvbuf}`); // the kernel reports double what it grants
});

test('at most maxInFlight pings are outstanding', { skip }, async () => {
  // 20 dead targets, 5 at a time, 300 ms each: four waves, not one.
  const started = performance.now();
  const rs = await icmpScan(onLinkDead(20), { ...QUICK, retries: 0, maxInFlight: 5 });
  const took = performance.now() - started;
  assert.equal(countAlive(rs), 0);
  assert.ok(took >= 4 * 300 - 50, `took ${Math.round(took)} ms`);
});

test('a second net-ping session with the same identifier, answered, does not make dead targets alive', { skip }, async () => {
  const identifier = 4242;
  // Pings 50 AnyIP addresses round after round with sequence numbers restarting each round:
  // the same identifier and sequences as the scan below, with real replies.
  const script = `
    const ping = require('net-ping');
    const s = ping.createSession({ sessionId: ${identifier}, timeout: 200, retries: 0 });
    const targets = ${JSON.stringify(anyIp(50))};
    const end = Date.now() + 2500;
    let replies = 0;
    (function round() {
      if (Date.now() > end) { console.log(replies); s.close(); return; }
      s.nextId = 1;
      let left = targets.length;
      for (const t of targets) s.pingHost(t, (e) => { if (!e) replies++; if (--left === 0) setTimeout(round, 2); });
    })();`;
  const interferer = spawn('ip', ['netns', 'exec', A, process.execPath, '-e', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(interferer);
  let out = '';
  interferer.stdout!.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => interferer.on('exit', resolve));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const { replies, stats } = worker(onLinkDead(50), { timeoutMs: 1000, retries: 0, identifier });
  await exited;
  assert.ok(Number(out) > 0, `interferer got replies: ${out}`);
  assert.equal(countAlive(replies), 0);
  assert.ok(stats.rejected > 0, 'the interference really reached the scan');
});

test('a concurrent fping loop in the same namespace does not make dead targets alive', { skip }, async () => {
  // fping identifies its echoes by its pid: `ip netns exec` and `sh -c exec` keep the pid, so
  // the scan can take the same identifier. fping starts after the scan's requests are out and
  // numbers its echoes from 0, so its first round shares the scan's sequence numbers (2..51).
  const fping = spawn('ip', ['netns', 'exec', A, 'sh', '-c', 'sleep 1.5; exec fping -l -q -p 100 -i 1 "$@"', 'sh', ...anyIp(50)], { stdio: 'ignore' });
  children.push(fping);
  const exited = new Promise((resolve) => fping.on('exit', resolve));
  try {
    const { replies, stats } = worker(onLinkDead(50), { timeoutMs: 3500, retries: 0, identifier: fping.pid! & 0xffff || 1 });
    assert.equal(countAlive(replies), 0);
    assert.ok(stats.rejected > 0, 'fping replies with our identifier and sequences were seen and rejected');
  } finally {
    fping.kill('SIGINT');
    await exited;
  }
});

test('through the worker 10 times in a row: never "nothing pinged"', { skip }, async () => {
  for (let i = 0; i < 10; i++) {
    const rs = await icmpScan(anyIp(100, 100), { ...QUICK, timeoutMs: 1000 });
    assert.equal(countAlive(rs), 100, `run ${i + 1}`);
  }
});

test('garbage collection during the scan loses nothing (sessions strongly held)', { skip }, () => {
  // Collect every millisecond: an unreferenced net-ping session dies before it sends, and the
  // process would exit with nothing pinged. The interval is unref'd so it keeps nothing alive.
  const gc = ['--expose-gc', '--import', 'data:text/javascript,setInterval(()=>globalThis.gc(),1).unref()'];
  // Long timeouts: a loop this busy can sit on a reply past a short one (that is not what this tests).
  for (let i = 0; i < 3; i++) assert.equal(countAlive(worker(anyIp(100), { timeoutMs: 2000, retries: 1 }, gc).replies), 100);
});

test('without CAP_NET_RAW: the exact reason, and auto falls back to fping', { skip }, () => {
  // A fresh, empty namespace (lo down, no routes): nothing can leave it. The bundled worker is
  // copied where uid 65534 can read it (the checkout may lie under /root, mode 0700).
  const bundle = portableBundle();
  // `env -C`: the worker's commands start where uid 65534 may be (not in a checkout under /root).
  const asNobody = (opts: IcmpOptions) => JSON.parse(sh('unshare', ['-n', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
    'env', '-C', bundle.dir, process.execPath, bundle.worker], JSON.stringify({ ips: ['198.18.0.2'], opts })));
  try {
    assert.deepEqual(asNobody({ timeoutMs: 200, retries: 0 }), { error: NOT_PERMITTED });
    assert.equal(NOT_PERMITTED, 'raw ICMP socket not permitted (needs root or CAP_NET_RAW)');
    const auto = asNobody({ timeoutMs: 200, retries: 0, backend: 'auto' });
    assert.equal(auto.stats.backend, 'fping');
    assert.deepEqual(auto.replies, [{ ip: '198.18.0.2', alive: false, error: 'Network is unreachable' }]);
  } finally {
    bundle.remove();
  }
});

test('fping backend gives the same alive/dead answer as raw', { skip }, async () => {
  const raw = await icmpScan(MIX, QUICK);
  const fping = await icmpScan(MIX, { ...QUICK, backend: 'fping' });
  assert.deepEqual(aliveOf(fping), aliveOf(raw));
  assert.deepEqual(fping.map((r) => r.ip), MIX);
  assert.equal(fping[3].error, 'Network is unreachable');
  const many = await icmpScan([...anyIp(300), ...onLinkDead(5)], { ...QUICK, backend: 'fping' });
  assert.equal(countAlive(many), 300);
});

test('probe deadline: the scan is cancelled, as a ProbeError', { skip }, async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 300);
  const started = performance.now();
  await assert.rejects(icmpScan(onLinkDead(10), { ...QUICK, timeoutMs: 5000, signal: ac.signal }),
    (e: Error) => e instanceof ProbeError && /cancelled: probe deadline reached/.test(e.message));
  assert.ok(performance.now() - started < 3000);
});
