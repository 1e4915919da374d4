/**
 * A real KVM live migration (test/lab/kvm.ts): two libvirtd in two namespaces, a diskless
 * 128 MiB guest migrated without --undefinesource, so the source keeps it "shut off
 * (migrated)" (the lab's real domain-left-on-source), and lm-probe's inventory, run against
 * the source libvirtd, reports exactly that.
 *
 * LMP_KVM_FIXTURES=<dir> also records the real virsh outputs into <dir> (that is how
 * test/fixtures/libvirt-kvm/ was made; its README.md is written by hand).
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kvmDefineGuest, kvmDown, kvmMigrate, kvmProcesses, kvmUnavailableReason, kvmUp, virsh, type KvmPair } from '../lab/kvm.js';
import { listNamespaces } from '../lab/netns.js';
import { pidAlive } from '../lab/procs.js';
import { requireLab } from '../lab/require.js';
import { lmProbe } from '../support/cli.js';

let pair: KvmPair | undefined;
after(() => {
  if (pair) kvmDown(pair); // idempotent; also on failure
});

function requireKvm(t: TestContext): boolean {
  const reason = kvmUnavailableReason();
  if (reason === null) return true;
  if (process.env.LMP_REQUIRE_LAB === '1') throw new Error(`KVM lab required (LMP_REQUIRE_LAB=1) but unavailable: ${reason}`);
  t.skip(reason);
  return false;
}

const fixtureDir = process.env.LMP_KVM_FIXTURES;
function fixture(name: string, text: string): void {
  if (!fixtureDir) return;
  mkdirSync(fixtureDir, { recursive: true });
  writeFileSync(join(fixtureDir, name), text);
}

/** `virsh event --all --loop --timeout N` in the background; resolves with what it printed. */
function events(uri: string, seconds: number): { done: Promise<string> } {
  const child = spawn('virsh', ['-c', uri, 'event', '--all', '--loop', '--timeout', String(seconds)], { env: { ...process.env, LC_ALL: 'C' } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const done = new Promise<string>((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), (seconds + 5) * 1000);
    child.on('close', () => {
      clearTimeout(kill);
      resolve(out);
    });
  });
  return { done };
}

const NAME = 'instance-0000kv01';
const UUID = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';

test('KVM: live migration between two libvirtd leaves the domain shut off (migrated) on the source, and inventory says so', { timeout: 90_000 }, async (t) => {
  if (!requireLab(t) || !requireKvm(t)) return;
  const p = (pair = kvmUp());
  const nsBefore = [p.src.ns, p.dst.ns];
  t.diagnostic(`up in ${p.timings?.upMs} ms; ${virsh(p.src.uri, ['version']).trim().split('\n').join('; ')}`);
  assert.notEqual(p.src.hostUuid, p.dst.hostUuid);
  assert.match(virsh(p.src.uri, ['hostname']), new RegExp(`${p.prefix}-src`));
  assert.match(virsh(p.dst.uri, ['hostname']), new RegExp(`${p.prefix}-dst`));

  let t0 = Date.now();
  kvmDefineGuest(p, NAME, UUID);
  t.diagnostic(`define + start in ${Date.now() - t0} ms`);
  assert.equal(virsh(p.src.uri, ['domstate', NAME]).trim(), 'running');
  fixture('dumpxml-running.xml', virsh(p.src.uri, ['dumpxml', NAME]));

  const evSrc = events(p.src.uri, 6);
  const evDst = events(p.dst.uri, 6);
  await new Promise((r) => setTimeout(r, 500)); // let both event loops register
  t0 = Date.now();
  kvmMigrate(p, NAME, { undefineSource: false });
  t.diagnostic(`migrate in ${Date.now() - t0} ms`);

  assert.equal(virsh(p.dst.uri, ['domstate', NAME]).trim(), 'running');
  const srcState = virsh(p.src.uri, ['domstate', '--reason', NAME]);
  assert.equal(srcState.trim(), 'shut off (migrated)');
  fixture('domstate-reason-src.txt', srcState);
  fixture('domstate-reason-dst.txt', virsh(p.dst.uri, ['domstate', '--reason', NAME]));
  fixture('domjobinfo-completed-src.txt', virsh(p.src.uri, ['domjobinfo', '--completed', NAME]));
  fixture('domjobinfo-completed-dst.txt', virsh(p.dst.uri, ['domjobinfo', '--completed', NAME]));
  const listSrc = virsh(p.src.uri, ['-q', 'list', '--all', '--uuid', '--name']);
  const listDst = virsh(p.dst.uri, ['-q', 'list', '--all', '--uuid', '--name']);
  assert.match(listSrc, new RegExp(`${UUID} ${NAME}`));
  assert.match(listDst, new RegExp(`${UUID} ${NAME}`));
  fixture('list-src.txt', listSrc);
  fixture('list-dst.txt', listDst);

  // lm-probe's own inventory against the source libvirtd.
  const labDir = join(p.dir, 'probe');
  mkdirSync(labDir, { recursive: true });
  const configFile = join(labDir, 'config.yaml');
  writeFileSync(
    configFile,
    [
      `host: ${p.prefix}-src`,
      `state_dir: ${labDir}/state`,
      `lock_dir: ${labDir}/lock`,
      'inventory:',
      '  sources: [libvirt]',
      '  libvirt:',
      `    uri: "${p.src.uri}"`,
      '  cache:',
      `    path: ${labDir}/cache/inventory.json`,
      '',
    ].join('\n'),
  );
  const inv = lmProbe(['inventory', '--json', '--config', configFile]);
  assert.equal(inv.code, 0, `lm-probe inventory exited ${inv.code}: ${inv.stderr}`);
  const doc = JSON.parse(inv.stdout) as { instances: { uuid: string; name?: string; displayName?: string; state: string; stateReason?: string }[] };
  const inst = doc.instances.find((i) => i.uuid === UUID);
  assert.ok(inst, `instance ${UUID} not in inventory: ${inv.stdout}`);
  assert.equal(inst.state, 'shutoff');
  assert.equal(inst.stateReason, 'migrated');
  assert.equal(inst.displayName, `lab-kvm-${NAME}`);
  fixture('lm-probe-inventory-src.json', inv.stdout);

  const [es, ed] = await Promise.all([evSrc.done, evDst.done]);
  assert.match(es, /Stopped Migrated/);
  assert.match(ed, /Resumed Migrated/);
  fixture('events-src.txt', es);
  fixture('events-dst.txt', ed);

  const procs = kvmProcesses(p);
  assert.ok(procs.length >= 3, `expected 2 libvirtd + 1 qemu, got ${procs.join(',')}`);
  kvmDown(p);
  pair = undefined;
  assert.deepEqual(procs.filter((x) => pidAlive(x)), []);
  const ns = listNamespaces();
  assert.deepEqual(nsBefore.filter((n) => ns.includes(n)), []);
  assert.equal(existsSync(p.dir), false);
  assert.equal(existsSync(`/tmp/${p.prefix}`), false);
});
