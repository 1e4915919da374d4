/**
 * The fault matrix: lm-probe on an operator's bad day. Every cell runs the real bin/lm-probe
 * (`run`: every registered probe at once) against a lab node with one thing broken, and asserts
 * what lm-probe promises in every case:
 *   - an exit code 0..3 that is the worst of the probes' statuses;
 *   - each probe's status line is one line, with a reason; no stack trace, and stderr carries
 *     lm-probe's own `[ LEVEL ]` lines only (no Node warnings);
 *   - the run ends inside its deadline (a correctness bound, generous: not a speed test);
 *   - nothing lm-probe started is still running afterwards (every shim's process is tagged);
 *   - where a broken tool was used, the output names it.
 * Cells: each external tool of every probe (and of the inventory) missing, exiting 127,
 * printing garbage, hung, and a wrapper whose child hangs; each inventory source down, slow,
 * refusing; the state, lock and OCO directories missing, read-only, full; SIGTERM and SIGKILL
 * mid-run; ten concurrent runs; hostile config and inventory values. A new probe inherits every
 * cell by declaring its `tools`.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { registry } from '../../probes/registry.js';
import { labDown, labUp, type LabEnv } from '../lab/lab.js';
import { labUnavailableReason } from '../lab/netns.js';
import { requireLab } from '../lab/require.js';
import { BIN, variantConfig } from '../support/cli.js';

const canLab = labUnavailableReason() === null;
/** Deadlines of the matrix runs: short, so hung cells end soon. */
const PROBE_TIMEOUT_S = 6;
const RUN_TIMEOUT_S = 14;
/** Generous bound on a whole run: the run's deadline, the winding down, node start-up. */
const BOUND_MS = (RUN_TIMEOUT_S + 6) * 1000;
const INVENTORY_TOOLS = ['virsh', 'ovs-vsctl'];
const MODES = ['missing', 'exit127', 'garbage', 'hung', 'hung-child'] as const;
type Mode = (typeof MODES)[number];

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  doc?: { status: number; results: { probe: string; status: number; summary: string; details: string[] }[] };
}

let lab: LabEnv | undefined;
let work = '';
let baseConfig = '';
let cellNo = 0;
/** The lab's own verdict (a lost route, a dead instance, one filtering ICMP): what an unbroken run says. */
let baselineCode = -1;
const OCO_CODES = ['200\n', '210\n', '300\n', '300\n'];
const cellCounts = { cells: 0, probeCells: 0, longestMs: 0, longestCell: '' };

/** Processes whose command line carries this cell's tag (every shim process is tagged). */
function tagged(tag: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue; // dead, awaiting its reaper
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes(tag)) pids.push(Number(e));
    } catch { /* gone */ }
  }
  return pids;
}

async function noneLeft(tag: string, withinMs: number): Promise<number[]> {
  const end = Date.now() + withinMs;
  let left = tagged(tag);
  while (left.length && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    left = tagged(tag);
  }
  for (const pid of left) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  return left;
}

/** A shim for `tool` in a directory of its own; the tag marks every process it starts. */
function shimDir(tool: string, mode: Exclude<Mode, 'missing'>, tag: string): string {
  const dir = join(work, `shim-${tag}`);
  mkdirSync(dir, { recursive: true });
  const mark = `touch ${join(dir, 'invoked')}`;
  const body: Record<typeof mode, string> = {
    exit127: `${mark}\necho "${tool}: error while loading shared libraries: libfoo.so.1" >&2\nexit 127`,
    garbage: `${mark}\nprintf '\\x00\\xff<<garbage>> {"report": 7\\n%s\\n' "$(head -c 300 /dev/urandom | base64 -w0)"\nexit 0`,
    hung: `${mark}\nexec -a ${tag} sleep 300`,
    'hung-child': `${mark}\nbash -c 'exec -a ${tag} sleep 300' &\nwait`,
  };
  writeFileSync(join(dir, tool), `#!/bin/bash\n# ${tag}\n${body[mode]}\n`);
  chmodSync(join(dir, tool), 0o755);
  return dir;
}

/** A PATH where `tool` does not exist: links to every other command of the system directories. */
function pathWithout(tool: string): string {
  const dir = join(work, `without-${tool}`);
  if (!existsSync(dir)) {
    mkdirSync(dir);
    for (const sys of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin']) {
      if (!existsSync(sys)) continue;
      for (const e of readdirSync(sys)) {
        if (e === tool || existsSync(join(dir, e))) continue;
        symlinkSync(join(sys, e), join(dir, e));
      }
    }
  }
  return dir;
}

function lmProbeAsync(args: string[], opts: { env?: NodeJS.ProcessEnv; prefix?: string[] } = {}) {
  const argv = [...(opts.prefix ?? []), BIN, ...args];
  const started = Date.now();
  const child = spawn(argv[0], argv.slice(1), { env: opts.env ?? process.env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<Outcome>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started })));
  return { child, done };
}

function parse(o: Outcome): Outcome {
  try {
    o.doc = JSON.parse(o.stdout);
  } catch { /* asserted below */ }
  return o;
}

/** Does the output (any probe's status line or details) name this command, as a word? */
function names(o: Outcome, tool: string): boolean {
  const all = o.doc!.results.map((r) => `${r.summary}\n${r.details.join('\n')}`).join('\n');
  return new RegExp(`(^|[^\\w-])${tool.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}([^\\w-]|$)`, 'm').test(all);
}

/** What every cell asserts; `label` names the cell in failures. */
function assertPromises(o: Outcome, label: string, extra: { invokedTool?: string } = {}): void {
  const text = `${label}\n--- stdout\n${o.stdout}\n--- stderr\n${o.stderr}`;
  assert.ok(o.code !== null && o.code >= 0 && o.code <= 3, `exit code ${o.code}: ${text}`);
  assert.ok(o.doc, `--json output parses: ${text}`);
  assert.equal(o.code, o.doc!.status, `exit code is the worst status: ${text}`);
  for (const r of o.doc!.results) {
    assert.ok(r.summary.length > 0 && !r.summary.includes('\n'), `${r.probe}: one-line reason: ${text}`);
    assert.ok(!/\bat .+:\d+:\d+\)/.test(r.summary + r.details.join('\n')), `${r.probe}: no stack: ${text}`);
    assert.ok(!/internal error/.test(r.summary), `${r.probe}: not a bug: ${text}`);
  }
  for (const line of o.stderr.split('\n').filter(Boolean)) {
    assert.match(line, /^\[ (DEBUG|INFO|WARNING|ERROR) \] /, `stderr carries lm-probe's lines only: ${text}`);
  }
  assert.ok(o.ms < BOUND_MS, `ended in ${o.ms} ms, bound ${BOUND_MS}: ${text}`);
  if (extra.invokedTool) {
    assert.ok(names(o, extra.invokedTool), `the output names ${extra.invokedTool}: ${text}`);
  }
  assert.ok(!o.doc!.results.some((r) => r.summary.startsWith('config error:')), `the cell's config is valid: ${text}`);
  cellCounts.cells++;
  cellCounts.probeCells += o.doc!.results.length;
  if (o.ms > cellCounts.longestMs) Object.assign(cellCounts, { longestMs: o.ms, longestCell: label });
}

async function cell(t: TestContext, label: string, opts: { env?: NodeJS.ProcessEnv; prefix?: string[]; config?: string; probe?: string; invokedTool?: string; tag?: string } = {}): Promise<Outcome> {
  const args = [opts.probe ?? 'run', '--json', '--config', opts.config ?? baseConfig];
  const o = parse(await lmProbeAsync(args, opts).done);
  if (opts.tag) {
    const left = await noneLeft(opts.tag, 1500);
    assert.deepEqual(left, [], `${label}: nothing lm-probe started is still running`);
  }
  assertPromises(o, label, { invokedTool: opts.invokedTool });
  t.diagnostic(`${label}: exit ${o.code} in ${o.ms} ms; ${o.doc!.results.map((r) => `${r.probe}=${r.status}`).join(' ')}`);
  return o;
}

const toolsUnderTest = (): string[] => [...new Set([...INVENTORY_TOOLS, ...registry.flatMap((p) => p.tools)])];

describe('fault matrix', () => {
  before(() => {
    if (!canLab) return;
    // Every probe has its part here: a BGP speaker (bird) and a nova disk tree besides OVS and libvirt.
    lab = labUp({ instances: 4, faults: { 2: 'no-route', 3: 'drop-icmp', 4: 'dead' }, bgp: 'bird', disks: true });
    work = join(lab.dir, 'faults');
    mkdirSync(work, { recursive: true });
    baseConfig = variantConfig(lab.configFile, 'matrix', { timeout: PROBE_TIMEOUT_S, run_timeout: RUN_TIMEOUT_S });
  });
  after(() => {
    if (lab) labDown(lab);
    // The size of the matrix, for the issue's note.
    process.stdout.write(`# fault matrix: ${cellCounts.cells} cells, ${cellCounts.probeCells} probe results, longest ${cellCounts.longestMs} ms (${cellCounts.longestCell})\n`);
  });

  test('baseline: the lab as it is (a lost route, a dead instance), every promise held', async (t) => {
    if (!requireLab(t)) return;
    const o = await cell(t, 'baseline');
    const ir = o.doc!.results.find((r) => r.probe === 'instance-routed')!;
    assert.match(ir.summary, /^2 of 4 IPs not routed: 198\.18\.1\.3, 198\.18\.1\.5; 1 alive but filtering ICMP$/, o.stdout);
    baselineCode = o.code!;
  });

  test('each external tool missing, exiting 127, printing garbage, hung, and hung in a child', async (t) => {
    if (!requireLab(t)) return;
    const failures: string[] = [];
    for (const tool of toolsUnderTest()) {
      let invoked = false;
      for (const mode of ['exit127', 'garbage', 'hung', 'hung-child', 'missing'] as const) {
        const tag = `lmpfault-${++cellNo}`;
        let env: NodeJS.ProcessEnv;
        let dir = '';
        if (mode === 'missing') {
          env = { ...process.env, PATH: pathWithout(tool) };
        } else {
          dir = shimDir(tool, mode, tag);
          env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
        }
        try {
          const o = await cell(t, `${tool} ${mode}`, { env, tag, invokedTool: mode === 'missing' ? (invoked ? tool : undefined) : undefined });
          const used = mode !== 'missing' && existsSync(join(dir, 'invoked'));
          if (mode === 'exit127') invoked = used;
          // A tool that was used and failed is named where the operator reads.
          if (used) {
            assert.ok(names(o, tool), `${tool} ${mode}: the output names ${tool}:\n${o.stdout}`);
          }
        } catch (err) {
          failures.push((err as Error).message.split('\n').slice(0, 12).join('\n'));
        }
      }
    }
    assert.deepEqual(failures, [], failures.join('\n\n'));
  });

  test('inventory sources down, slow and refusing', async (t) => {
    if (!requireLab(t)) return;
    const variants: [string, Record<string, unknown>][] = [
      ['libvirt down', { inventory: { libvirt: { uri: `test://${join(work, 'missing-node.xml')}` } } }],
      ['ovs down', { ovs: { db: `unix:${join(work, 'no-db.sock')}` } }],
      ['file missing', { inventory: { sources: ['file'], file: join(work, 'absent.yaml') } }],
      ['every source down', { ovs: { db: `unix:${join(work, 'no-db.sock')}` }, inventory: { sources: ['libvirt', 'ovs'], libvirt: { uri: `test://${join(work, 'missing-node.xml')}` }, cache: { max_age: 0 } } }],
    ];
    // OpenStack: a port that refuses, and a server that accepts and never answers.
    const silent: Server = createServer(() => { /* never answers */ });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentPort = (silent.address() as { port: number }).port;
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const openstack = (port: number) => ({ inventory: { sources: ['libvirt', 'ovs', 'openstack'], openstack: { timeout: 2, auth: { auth_url: `http://127.0.0.1:${port}/v3`, username: 'lmp', password: 'lmp-secret-pw', project_name: 'admin' } } } });
    variants.push(['openstack refusing', openstack(closedPort)], ['openstack silent', openstack(silentPort)]);
    try {
      for (const [label, change] of variants) {
        const o = await cell(t, label, { config: variantConfig(lab!.configFile, `src-${label.replace(/\W+/g, '-')}`, { timeout: PROBE_TIMEOUT_S, run_timeout: RUN_TIMEOUT_S, ...change }) });
        // Nothing can name the instances: no probe may judge (an orphan check would call all orphans).
        if (label === 'every source down') assert.ok(o.doc!.results.every((r) => r.status === 3 && /^no inventory: |ovs-vsctl/.test(r.summary)), o.stdout);
        else assert.ok(o.doc!.results.some((r) => r.details.some((d) => d.startsWith('inventory degraded: ')) || r.status === 3), `${label}: the degradation is said\n${o.stdout}`);
        assert.ok(!o.stdout.includes('lmp-secret-pw') && !o.stderr.includes('lmp-secret-pw'), 'no secret in the output');
      }
    } finally {
      silent.close();
    }
  });

  test('state, lock and OCO directories missing, read-only and full', async (t) => {
    if (!requireLab(t)) return;
    for (const which of ['state_dir', 'lock_dir', 'oco'] as const) {
      for (const how of ['missing', 'read-only', 'full'] as const) {
        const dir = join(work, `dir-${which}-${how}`);
        const change = which === 'oco' ? { oco: { enabled: true, dir } } : { [which]: which === 'lock_dir' ? dir : join(dir, 'state') };
        const cfg = variantConfig(lab!.configFile, `dir-${which}-${how}`, { timeout: PROBE_TIMEOUT_S, run_timeout: RUN_TIMEOUT_S, ...change });
        let prefix: string[] | undefined;
        if (how !== 'missing') {
          mkdirSync(dir, { recursive: true });
          // A private mount namespace: the tmpfs exists for this run only, and goes with it.
          const mount = how === 'read-only' ? 'mount -t tmpfs -o ro,size=64k tmpfs "$0"' : 'mount -t tmpfs -o size=16k tmpfs "$0" && (head -c 1M /dev/zero > "$0/fill" 2>/dev/null; true)';
          prefix = ['unshare', '-m', '--propagation', 'private', 'sh', '-c', `${mount} && exec "$@"`, dir];
        }
        const o = await cell(t, `${which} ${how}`, { config: cfg, prefix });
        const ir = o.doc!.results.find((r) => r.probe === 'instance-routed')!;
        if (which === 'lock_dir' && how !== 'missing') {
          assert.match(ir.summary, /^cannot take lock in .*: (EROFS|ENOSPC)/, o.stdout);
        } else {
          assert.match(ir.summary, /^2 of 4 IPs not routed/, `${which} ${how}: the check itself still ran\n${o.stdout}`);
        }
        if (which === 'state_dir' && how !== 'missing') assert.match(ir.details.join('\n'), /state not saved to .* \((EROFS|ENOSPC)\)/, o.stdout);
        if (which === 'oco' && how !== 'missing') assert.match(o.stderr, /\[ ERROR \] cannot write oco status to .*: (EROFS|ENOSPC)/, o.stderr);
      }
    }
  });

  for (const sig of ['SIGTERM', 'SIGKILL'] as const) {
    test(`${sig} mid-run: nothing left running, and the next run is healthy`, async (t) => {
      if (!requireLab(t)) return;
      const tag = `lmpfault-${++cellNo}`;
      const dir = shimDir('mtr', 'hung-child', tag);
      const env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
      const { child, done } = lmProbeAsync(['run', '--json', '--config', baseConfig], { env });
      const end = Date.now() + 10_000;
      while (!tagged(tag).length && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      assert.ok(tagged(tag).length > 0, 'the hung mtr is running');
      child.kill(sig);
      const o = await done;
      if (sig === 'SIGTERM') {
        assert.equal(o.code, 3);
        assert.equal(o.stdout, 'LM-PROBE UNKNOWN - stopped by SIGTERM\n');
        assert.deepEqual(await noneLeft(tag, 1500), []);
      } else {
        // lm-probe could do nothing: coreutils' timeout, its backstop, ends the command's group.
        assert.deepEqual(await noneLeft(tag, (PROBE_TIMEOUT_S + 3) * 1000), [], 'the backstop killed what lm-probe left');
      }
      const next = await cell(t, `after ${sig}`);
      assert.equal(next.code, baselineCode, next.stdout);
      assert.ok(!next.stdout.includes('already running'), next.stdout);
    });
  }

  test('ten concurrent runs: exactly one runs, the OCO files are the one run\'s', async (t) => {
    if (!requireLab(t)) return;
    const oco = join(work, 'oco-concurrent');
    const cfg = variantConfig(lab!.configFile, 'concurrent', { timeout: PROBE_TIMEOUT_S, oco: { enabled: true, dir: oco } });
    const runs = await Promise.all(Array.from({ length: 10 }, () => lmProbeAsync(['instance-routed', '--json', '--config', cfg]).done));
    const outcomes = runs.map(parse);
    const ran = outcomes.filter((o) => !o.doc?.results[0].summary.startsWith('already running'));
    assert.equal(ran.length, 1, outcomes.map((o) => o.doc?.results[0].summary).join('\n'));
    for (const o of outcomes) assertPromises(o, 'concurrent');
    assert.equal(readFileSync(join(oco, 'result', 'instance-routed'), 'utf8'), OCO_CODES[ran[0].code!], 'the real run\'s code, not a refused run\'s UNKNOWN');
    assert.ok(!readFileSync(join(oco, 'result_debug', 'instance-routed'), 'utf8').includes('already running'));
  });

  test('hostile config and inventory values: refused with a reason, nothing executed', async (t) => {
    if (!requireLab(t)) return;
    const canary = join(work, 'canary');
    const payload = `$(touch ${canary})`;
    const script = join(work, 'evil.sh');
    writeFileSync(script, `#!/bin/sh\ntouch ${canary}\n`);
    chmodSync(script, 0o755);
    const inst = lab!.instances[0];
    const inventoryWith = (field: string, value: string) => {
      const file = join(work, `inv-${field}.yaml`);
      const port: Record<string, unknown> = { id: inst.portId, mac: inst.mac, tap: inst.tap, ips: [inst.ip] };
      const entry: Record<string, unknown> = { uuid: inst.uuid, name: inst.name, ports: [port] };
      if (field === 'uuid') entry.uuid = value;
      else if (field === 'ip') port.ips = [value];
      else port[field] = value;
      writeFileSync(file, JSON.stringify({ instances: [entry] }));
      return { inventory: { sources: ['file'], file } };
    };
    const variants: [string, Record<string, unknown>][] = [
      ['ping_namespace path', { probes: { 'instance-routed': { ping_namespace: '../../../proc/1/ns/net' } } }],
      ['link_namespace path', { probes: { 'instance-routed': { link_namespace: '../../../proc/1/ns/net' } } }],
      ['arp_interface injection', { probes: { 'instance-routed': { arp_interface: payload } } }],
      ['libvirt ext command', { inventory: { libvirt: { uri: `qemu+ext:///system?command=${script}` } } }],
      ['libvirt ssh command', { inventory: { libvirt: { uri: `qemu+ssh://localhost/system?command=${script}` } } }],
      ['ovs db option', { ovs: { db: '--help' } }],
      ['inventory ip', inventoryWith('ip', payload)],
      ['inventory broadcast ip', inventoryWith('ip', '255.255.255.255')],
      ['inventory mapped ip', inventoryWith('ip', '::ffff:198.18.1.2')],
      ['inventory zoned ip', inventoryWith('ip', 'fe80::1%eth0')],
      ['inventory tap', inventoryWith('tap', '-rf')],
      ['inventory mac', inventoryWith('mac', payload)],
      ['inventory uuid', inventoryWith('uuid', '../../etc/passwd')],
    ];
    for (const [label, change] of variants) {
      await cell(t, label, { config: variantConfig(lab!.configFile, `hostile-${label.replace(/\W+/g, '-')}`, { timeout: PROBE_TIMEOUT_S, run_timeout: RUN_TIMEOUT_S, ...change }) });
      assert.equal(existsSync(canary), false, `${label}: nothing executed`);
    }
    rmSync(canary, { force: true });
  });

  test('usage errors are UNKNOWN (3) with one line on stdout', async (t) => {
    if (!requireLab(t)) return;
    for (const args of [['nonexistent-probe'], ['instance-routed', '--no-such-option'], [], ['instance-routed', '--timeout', '2147484'], ['run', '-w', '1']]) {
      const r = spawnSync(BIN, args, { encoding: 'utf8' });
      assert.equal(r.status, 3, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /^[A-Z-]+ UNKNOWN - .+\n$/, args.join(' '));
      assert.equal(r.stderr, '', args.join(' '));
    }
  });

  test('a config or inventory file far too large is refused at once', async (t) => {
    if (!requireLab(t)) return;
    const big = join(work, 'big.yaml');
    writeFileSync(big, `host: x\n${'# padding\n'.repeat(600_000)}`);
    const r = spawnSync(BIN, ['run', '--config', big], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 3);
    assert.match(r.stdout, /^LM-PROBE UNKNOWN - config error: .*big\.yaml: file is \d+ bytes, more than a config can be/);
    const inv = join(work, 'big-inventory.yaml');
    writeFileSync(inv, `instances: []\n${'# padding\n'.repeat(600_000)}`);
    const o = await cell(t, 'huge inventory file', { config: variantConfig(lab!.configFile, 'big-inv', { timeout: PROBE_TIMEOUT_S, run_timeout: RUN_TIMEOUT_S, inventory: { sources: ['file'], file: inv } }) });
    assert.match(o.doc!.results[0].details.join('\n'), /^inventory degraded: file: .*more than an inventory file can be/m, o.stdout);
  });
});
