/**
 * orphaned-disks and `lm-probe reap-disks` against the lab's real nova instances tree
 * (test/lab/disks.ts: qemu-img-made qcow2 disks over a raw _base, real backing chains) and a
 * test-driver libvirt node listing the instances (shut off ones too). No namespaces needed.
 * One fault at a time; every test heals the tree behind it.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { bareDiskEnv, diskFault, diskHeal, disksDown, disksUnavailableReason, disksUp, instanceDir, type DiskTree } from '../lab/disks.js';
import { writeLibvirtNode, type LabDomainState } from '../lab/libvirt.js';
import { requireLab, requirePart } from '../lab/require.js';
import { acquireLock } from '../../src/lock.js';
import { assertNoStack, lmProbe } from '../support/cli.js';

type Env = ReturnType<typeof bareDiskEnv>;
let env: Env | undefined;
let tree: DiskTree | undefined;
let config = '';
const holders: ChildProcess[] = [];

const HOUR = 3600;
const QUARANTINE = '_lm-probe-quarantine';

/** The node's config: libvirt (test driver) as the only source, the probe on the lab's tree. */
function writeConfig(e: Env, t: DiskTree, probe: Record<string, unknown> = {}, states: Record<number, LabDomainState> = {}): string {
  const uri = writeLibvirtNode(e, { states });
  const file = join(e.dir, 'config.yaml');
  writeFileSync(file, stringify({
    host: `${e.prefix}-node1`, state_dir: join(e.dir, 'state'), lock_dir: join(e.dir, 'lock'),
    inventory: { sources: ['libvirt'], libvirt: { uri }, cache: { path: join(e.dir, 'cache', 'inventory.json') } },
    probes: { 'orphaned-disks': { instances_path: t.root, ...probe } },
  }));
  return file;
}

/** Make a path and everything below it look `s` seconds old (mtime is what the probe reads). */
function age(path: string, s: number): void {
  const when = new Date(Date.now() - s * 1000);
  if (lstatSync(path).isDirectory()) for (const n of readdirSync(path)) age(join(path, n), s);
  utimesSync(path, when, when);
}

/** Every file below a dir with its content hash: "changes nothing" and "byte for byte". */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const s = lstatSync(p);
      if (s.isDirectory()) walk(p);
      else out[p.slice(dir.length)] = s.isSymbolicLink() ? `-> ${readlinkSync(p)}` : createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

const probe = (...extra: string[]) => lmProbe(['orphaned-disks', '--config', config, ...extra]);
const reaper = (...extra: string[]) => lmProbe(['reap-disks', '--config', config, ...extra]);

after(() => {
  for (const h of holders) if (h.exitCode === null && h.signalCode === null) h.kill('SIGKILL'); // by its own pid
  if (tree) disksDown(tree);
  if (env) rmSync(env.dir, { recursive: true, force: true });
});

test('orphaned-disks and reap-disks on the lab disk tree', async (t) => {
  if (!requireLab(t) || !requirePart(t, 'disk tree', disksUnavailableReason())) return;
  env = bareDiskEnv(6);
  tree = disksUp(env);
  const e = env;
  const d = tree;
  config = writeConfig(e, d);
  const heal = () => {
    diskHeal(d, e);
    config = writeConfig(e, d);
  };
  /** A lab orphan (migrated-away instance dir), made to look `s` seconds old. */
  const oldOrphan = (s = 2 * HOUR) => {
    const dir = diskFault(d, e, 'orphan-disk');
    age(dir, s);
    return dir;
  };

  await t.test('healthy tree: OK, every instance counted, no process of its own', () => {
    const r = probe('--json');
    assertNoStack(r);
    const doc = JSON.parse(r.stdout) as { results: { status_text: string; summary: string; perfdata: { label: string; value: number; uom?: string }[] }[]; processes_spawned: number };
    assert.equal(r.code, 0, r.stdout);
    assert.equal(doc.results[0].summary, '6 instance dirs hosted here, no orphans or leftovers, every backing chain intact');
    assert.equal(doc.results[0].perfdata.find((p) => p.label === 'reclaimable')?.uom, 'B');
    const text = probe();
    assert.match(text.stdout, /^ORPHANED-DISKS OK - 6 instance dirs .* \| instances=6;;;0 orphans=0;;;0 leftovers=0;;;0 missing_backing=0;;0;0 reclaimable=0B;;;0 unexpected=0;;;0\n$/);
  });

  await t.test('orphan dir (a migrated-away instance): WARNING naming path, size and age', () => {
    const dir = oldOrphan();
    const r = probe();
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^ORPHANED-DISKS WARNING - 1 orphan: 2\d\d KiB reclaimable \|/);
    const line = r.stdout.split('\n')[1];
    assert.equal(line, `orphan: ${dir} (${line.match(/\((\d+ KiB), /)![1]}, 2 h 0 min old): no instance hosted here; not compared with Nova`);
    assert.match(r.stdout, / orphans=1;;;0 .* reclaimable=\d+B;;;0/);
    heal();
  });

  await t.test('an orphan younger than min_age: WARNING, said to be young', () => {
    diskFault(d, e, 'orphan-disk');
    const r = probe('-c', '0'); // even with a critical threshold: young findings stay WARNING
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /younger than min_age \(3600 s\): WARNING at most/);
    heal();
  });

  await t.test('a shut-off domain still counts as hosted: its dir is no orphan', () => {
    config = writeConfig(e, d, {}, { 2: 'shutoff', 3: 'paused' });
    const r = probe();
    assert.equal(r.code, 0, r.stdout);
    heal();
  });

  await t.test('an instance that just left (shared presence record): its old dir is young, and not reaped', () => {
    assert.equal(probe().code, 0); // the presence record knows instance 1 is here
    const [gone, ...staying] = e.instances;
    age(instanceDir(d, gone.uuid), 2 * HOUR);
    writeLibvirtNode({ dir: e.dir, instances: staying }); // its domain is gone: it left
    const r = probe('-c', '0');
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, new RegExp(`\norphan: ${instanceDir(d, gone.uuid)} \\(.*, 2 h 0 min old\\): no instance hosted here; not compared with Nova; the instance left this node \\d+ s ago; younger than min_age`));
    const reap = reaper('--apply');
    assert.equal(reap.code, 1, reap.stdout);
    assert.match(reap.stdout, new RegExp(`skipped ${instanceDir(d, gone.uuid)}: the instance left this node \\d+ s ago, less than min_age \\(3600 s\\)`));
    assert.ok(existsSync(instanceDir(d, gone.uuid)));
    heal(); // back in libvirt: it arrived again
  });

  await t.test('_resize and _del leftovers: WARNING, each listed', () => {
    const resize = diskFault(d, e, 'resize-leftover');
    const del = diskFault(d, e, 'del-leftover', 2);
    const r = probe();
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^ORPHANED-DISKS WARNING - 2 leftovers: \d+ KiB reclaimable/);
    assert.ok(r.stdout.includes(`leftover: ${resize} (`), r.stdout);
    assert.match(r.stdout, /_resize \(.*\): resize\/cold-migration leftover, no resize in progress; instance hosted here; not compared with Nova/);
    assert.ok(r.stdout.includes(`leftover: ${del} (`), r.stdout);
    assert.match(r.stdout, /_del \(.*\): leftover of an interrupted delete/);
    heal();
  });

  await t.test('missing backing file of a hosted instance: CRITICAL, naming disk and base', () => {
    const disk = diskFault(d, e, 'missing-backing', 3);
    age(join(d.root, e.instances[2].uuid), 2 * HOUR);
    const r = probe();
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stdout, new RegExp(`^ORPHANED-DISKS CRITICAL - 1 disk with a missing backing file: ${disk} \\|.* missing_backing=1;;0;0`));
    assert.match(r.stdout, new RegExp(`\nmissing-backing: ${disk} \\(2 h 0 min old\\): backing file ${d.base}/[0-9a-f]{40} is missing \\(instance-00000003, hosted here: it cannot boot again\\)\n`));
    heal();
  });

  await t.test('a relative backing name resolves against the disk\'s dir', () => {
    // qemu-img rebase -u rewrites only the header: the disk now names ../_base/<sha> relatively.
    const disk = join(instanceDir(d, e.instances[0].uuid), 'disk');
    const base = readdirSync(d.base)[0];
    lmSpawnSync('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-F', 'raw', '-b', `../_base/${base}`, disk]);
    assert.equal(probe().code, 0);
    lmSpawnSync('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-F', 'raw', '-b', `../_base/gone`, disk]);
    age(instanceDir(d, e.instances[0].uuid), 2 * HOUR);
    const r = probe();
    assert.equal(r.code, 2, r.stdout);
    assert.ok(r.stdout.includes(`backing file ${d.base}/gone is missing`), r.stdout);
    heal();
  });

  await t.test('a backing file that is a FIFO (opening it would wait for a writer): UNKNOWN at once, never a hang', () => {
    const fifo = join(e.dir, 'hangs.fifo');
    lmSpawnSync('mkfifo', [fifo]);
    const disk = join(instanceDir(d, e.instances[0].uuid), 'disk');
    try {
      lmSpawnSync('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-F', 'raw', '-b', fifo, disk]);
      const r = lmProbe(['orphaned-disks', '--config', config, '--timeout', '5'], { timeoutMs: 15_000 });
      assertNoStack(r);
      assert.equal(r.code, 3, r.stdout);
      assert.match(r.stdout, /^ORPHANED-DISKS UNKNOWN - 1 backing chain not checked \|/);
      assert.ok(r.stdout.includes(`\nunreadable: ${disk} (`) && r.stdout.includes(`backing chain not checked: ${fifo} is not a regular file or block device (instance-00000001, hosted here)`), r.stdout);
    } finally {
      rmSync(fifo, { force: true });
      heal();
    }
  });

  await t.test('anything else in the instances path is listed, not judged', () => {
    writeFileSync(join(d.root, 'notes.txt'), 'hello');
    const r = probe();
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /\nunexpected: .*\/notes\.txt \(4\.0 KiB, \d+ s old\): unexpected file in the instances path, not judged\n/);
    heal();
  });

  await t.test('shared storage (shared: true): a dir of no instance here is not judged an orphan', () => {
    const dir = oldOrphan();
    config = writeConfig(e, d, { shared: 'true' });
    const r = probe();
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /\(shared storage\)/);
    assert.ok(r.stdout.includes(`not-judged: ${dir} (`), r.stdout);
    assert.match(r.stdout, /instances path is shared storage: may be another node's \(not compared with Nova\)/);
    const reap = reaper('--apply');
    assert.equal(reap.code, 0, reap.stdout);
    assert.match(reap.stdout, /^REAP-DISKS OK - nothing to reap/);
    assert.ok(existsSync(dir), 'never on shared storage without Nova');
    heal();
  });

  await t.test('reaper dry run: says what and why, changes nothing', () => {
    const dir = oldOrphan();
    const before = snapshot(d.root);
    const r = reaper();
    assertNoStack(r);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^REAP-DISKS OK - dry run, nothing changed: 1 of 1 entries would be quarantined \(\d+ KiB to free\)/);
    assert.ok(r.stdout.includes(`would quarantine ${dir} (`), r.stdout);
    assert.match(r.stdout, /: orphan: no instance hosted here; not compared with Nova\n$/);
    assert.deepEqual(snapshot(d.root), before);
    assert.ok(!existsSync(join(d.root, QUARANTINE)));
  });

  await t.test('--apply quarantines (a rename) and journals; --restore puts it back byte for byte', () => {
    const dir = readdirSync(d.root).map((n) => join(d.root, n)).find((p) => !e.instances.some((i) => p.endsWith(i.uuid)) && /[0-9a-f]{12}$/.test(p))!;
    const before = snapshot(dir);
    const r = reaper('--apply');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const day = new Date().toISOString().slice(0, 10);
    const name = dir.slice(d.root.length + 1);
    const to = join(d.root, QUARANTINE, day, name);
    assert.match(r.stdout, /^REAP-DISKS OK - 1 of 1 entries quarantined/);
    assert.ok(r.stdout.includes(`quarantined ${dir} (`) && r.stdout.includes(`-> ${to}`), r.stdout);
    assert.match(r.stderr, /\[ INFO \] quarantined /);
    assert.ok(!existsSync(dir));
    assert.deepEqual(snapshot(to), before);
    const journal = readFileSync(join(d.root, QUARANTINE, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(journal.length, 1);
    assert.equal(journal[0].action, 'quarantine');
    assert.equal(journal[0].from, dir);
    assert.equal(journal[0].to, to);
    assert.ok(journal[0].bytes > 0);
    assert.match(journal[0].why, /^orphan: no instance hosted here/);
    // The probe no longer sees it, and says nothing of the quarantine.
    assert.equal(probe().code, 0);

    const back = reaper('--restore', `${day}/${name}`);
    assert.equal(back.code, 0, back.stdout + back.stderr);
    assert.equal(back.stdout.split('\n')[0], `REAP-DISKS OK - restored ${dir}`);
    assert.deepEqual(snapshot(dir), before);
    assert.equal(readFileSync(join(d.root, QUARANTINE, 'journal.jsonl'), 'utf8').trim().split('\n').length, 2);
    assert.equal(probe().code, 1, 'the orphan is back');
  });

  await t.test('--purge deletes quarantined entries older than quarantine_days, and only those', () => {
    assert.equal(reaper('--apply').code, 0);
    const kept = reaper('--purge');
    assert.equal(kept.code, 0, kept.stdout);
    assert.match(kept.stdout, /^REAP-DISKS OK - nothing in .* older than 7 days/);
    config = writeConfig(e, d, { quarantine_days: 0 });
    const r = reaper('--purge');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^REAP-DISKS OK - 1 of 1 quarantined entries purged, \d+ KiB freed\npurged /);
    const day = readdirSync(join(d.root, QUARANTINE)).find((n) => n !== 'journal.jsonl')!;
    assert.deepEqual(readdirSync(join(d.root, QUARANTINE, day)), []);
    const last = JSON.parse(readFileSync(join(d.root, QUARANTINE, 'journal.jsonl'), 'utf8').trim().split('\n').pop()!);
    assert.equal(last.action, 'purge');
    heal(); // diskHeal removes the (empty) quarantine too: not a lab entry
  });

  await t.test('an action that fails: exit 2, said, the entry left where it was', () => {
    const dir = oldOrphan();
    writeFileSync(join(d.root, QUARANTINE), 'not a directory'); // the quarantine cannot be made
    const r = reaper('--apply');
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stdout, /^REAP-DISKS CRITICAL - 0 of 1 entries quarantined/);
    assert.ok(r.stdout.includes(`failed to quarantine ${dir}: ENOTDIR`), r.stdout);
    assert.match(r.stderr, /\[ ERROR \] failed to quarantine /);
    assert.ok(existsSync(dir));
    rmSync(join(d.root, QUARANTINE));
    heal();
  });

  await t.test('guard: never a dir of a domain libvirt defines here, even shut off', () => {
    const del = diskFault(d, e, 'del-leftover', 2);
    age(del, 2 * HOUR);
    config = writeConfig(e, d, {}, { 2: 'shutoff' });
    const r = reaper('--apply');
    assert.equal(r.code, 1, r.stdout);
    assert.ok(r.stdout.includes(`skipped ${del}: libvirt defines instance-00000002 on this node (shutoff)`), r.stdout);
    assert.ok(existsSync(del));
    heal();
  });

  await t.test('guard: never a file a process holds open (qemu-io holding the disk)', async () => {
    const dir = oldOrphan();
    const disk = join(dir, 'disk');
    const h = spawn('qemu-io', ['-f', 'qcow2', '-c', 'sleep 600000', disk], { stdio: 'ignore' });
    holders.push(h);
    const exited = new Promise((r) => h.once('exit', r));
    try {
      await heldOpen(h.pid!, disk);
      const r = reaper('--apply');
      assert.equal(r.code, 1, r.stdout);
      assert.ok(r.stdout.includes(`skipped ${dir}: held open by pid ${h.pid} (qemu-io): ${disk}`), r.stdout);
      assert.ok(existsSync(disk));
    } finally {
      h.kill('SIGKILL');
      await exited;
    }
    heal();
  });

  await t.test('guard: never younger than min_age', () => {
    const dir = diskFault(d, e, 'orphan-disk');
    const r = reaper('--apply');
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, new RegExp(`skipped ${dir}: younger than min_age \\(\\d+ s < 3600 s\\)`));
    assert.ok(existsSync(dir));
    heal();
  });

  await t.test('guard: never a _resize dir without Nova (a revert may need it)', () => {
    // A _resize of no instance hosted here (its domain gone), old enough.
    const orphan = oldOrphan();
    const resize = `${orphan}_resize`;
    renameSync(orphan, resize);
    const r = reaper('--apply');
    assert.equal(r.code, 1, r.stdout);
    assert.ok(r.stdout.includes(`skipped ${resize}: a _resize dir may await a resize confirmation or revert, and Nova was not compared`), r.stdout);
    assert.ok(existsSync(resize));
    heal();
  });

  await t.test('guard: never through a symlink, never outside instances_path, never Nova\'s own', () => {
    // An instance-named symlink to a dir outside the tree: listed as unexpected, never followed.
    const outside = join(e.dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'precious'), 'keep me');
    const link = join(d.root, '0b0b0b0b-1111-4222-8333-444455556666');
    symlinkSync(outside, link);
    age(outside, 2 * HOUR);
    const nova = snapshot(join(d.root, '_base'));
    const r = reaper('--apply');
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /nothing to reap/);
    assert.equal(readFileSync(join(outside, 'precious'), 'utf8'), 'keep me');
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.match(probe().stdout, /\nunexpected: .*0b0b0b0b-1111-4222-8333-444455556666 \(.*\): unexpected symlink in the instances path, not judged/);
    assert.deepEqual(snapshot(join(d.root, '_base')), nova);
    for (const own of ['_base', 'locks', 'compute_nodes']) assert.ok(existsSync(join(d.root, own)));
    rmSync(outside, { recursive: true });
    heal();
  });

  await t.test('one lock with the probe: a reaper never runs beside it', async () => {
    oldOrphan();
    const lock = await acquireLock(join(e.dir, 'lock'), 'orphaned-disks'); // as a running probe holds it
    assert.ok(lock.acquired);
    try {
      const r = reaper('--apply');
      assert.equal(r.code, 3, r.stdout);
      assert.equal(r.stdout, `REAP-DISKS UNKNOWN - already running (pid ${process.pid}): the orphaned-disks probe or another reaper\n`);
    } finally {
      await lock.release();
    }
    assert.ok(!existsSync(join(d.root, QUARANTINE)));
    heal();
  });

  await t.test('a config naming no readable instances path: UNKNOWN with the reason, no stack', () => {
    config = writeConfig(e, d, { instances_path: join(e.dir, 'nowhere') });
    const r = probe();
    assertNoStack(r);
    assert.equal(r.code, 3);
    assert.match(r.stdout, /^ORPHANED-DISKS UNKNOWN - cannot read instances_path .*\/nowhere: ENOENT/);
    const reap = reaper();
    assert.equal(reap.code, 3);
    assert.match(reap.stdout, /^REAP-DISKS UNKNOWN - cannot read instances_path/);
    heal();
  });
});

/** Wait until pid holds path open (qemu-io opens it right after starting). */
async function heldOpen(pid: number, path: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if (readdirSync(`/proc/${pid}/fd`).some((fd) => readlinkSafe(`/proc/${pid}/fd/${fd}`) === path)) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`pid ${pid} never opened ${path}`);
}

function readlinkSafe(p: string): string {
  try {
    return readlinkSync(p);
  } catch {
    return '';
  }
}

function lmSpawnSync(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
}
