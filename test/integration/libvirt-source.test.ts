/**
 * The libvirt inventory source against the real virsh, with libvirt's test driver serving a
 * node file written by the lab helper: no daemon, no namespaces, no root needed.
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProbeError } from '../../src/errors.js';
import { execStats } from '../../src/host/exec.js';
import { createLibvirtSource } from '../../src/inventory/libvirt.js';
import type { SourceInstance } from '../../src/inventory/types.js';
import { identity } from '../lab/identity.js';
import type { LabInstance } from '../lab/lab.js';
import { LAB_PROJECT, labDiskPath, labDisplayName, writeLibvirtNode, type LabDomainState } from '../lab/libvirt.js';
import { findTool, uniquePrefix } from '../lab/netns.js';

const root = join('/tmp', uniquePrefix());
mkdirSync(root, { recursive: true });
after(() => rmSync(root, { recursive: true, force: true }));

function haveVirsh(t: TestContext): boolean {
  if (findTool('virsh')) return true;
  if (process.env.LMP_REQUIRE_LAB === '1') throw new Error('virsh required (LMP_REQUIRE_LAB=1) but not installed (apt-get install libvirt-clients)');
  t.skip('virsh not installed');
  return false;
}

/** A hand-made lab env: only what writeLibvirtNode reads. */
function labEnv(name: string, n: number) {
  const instances: LabInstance[] = Array.from({ length: n }, (_, k) => ({ ...identity(k + 1), ns: `unused-${k + 1}`, fault: null }));
  return { dir: join(root, name), instances };
}

const byUuid = (a: { uuid: string }, b: { uuid: string }) => a.uuid.localeCompare(b.uuid);

function expected(env: ReturnType<typeof labEnv>, states: Record<number, LabDomainState>): SourceInstance[] {
  return env.instances
    .map((i) => ({
      uuid: i.uuid,
      name: i.name,
      state: states[i.index] ?? 'running',
      stateReason: 'unknown', // the test driver has no way to set a reason
      disks: [labDiskPath(env, i)],
      ports: [{ id: i.portId, tap: i.tap, mac: i.mac, ips: [i.ip] }],
      displayName: labDisplayName(i),
      flavor: 'm1.tiny',
      project: LAB_PROJECT,
    }))
    .sort(byUuid);
}

async function gatherCounted(uri: string) {
  const before = execStats.spawned;
  const started = performance.now();
  const result = await createLibvirtSource({ uri }).gather({ timeoutMs: 30_000 });
  return { result, processes: execStats.spawned - before, ms: Math.round(performance.now() - started) };
}

test('50 domains, some paused or shut off: every fact, in 2 virsh processes', async (t) => {
  if (!haveVirsh(t)) return;
  const env = labEnv('fifty', 50);
  const states: Record<number, LabDomainState> = { 2: 'shutoff', 3: 'paused', 50: 'shutoff' };
  const uri = writeLibvirtNode(env, { states });
  assert.equal(uri, `test://${env.dir}/libvirt/node.xml`);
  const { result, processes, ms } = await gatherCounted(uri);
  t.diagnostic(`50 domains: ${processes} processes, ${ms} ms`);
  assert.equal(processes, 2);
  assert.equal(result.notes, undefined);
  const got = [...result.instances].sort(byUuid);
  const want = expected(env, states);
  assert.equal(got.length, 50);
  for (let k = 0; k < want.length; k++) assert.deepEqual({ ...got[k] }, want[k], want[k].name);
  assert.deepEqual(result.instances.filter((i) => i.state !== 'running').map((i) => [i.name, i.state]).sort(), [
    ['instance-00000002', 'shutoff'], ['instance-00000003', 'paused'], ['instance-00000032', 'shutoff'],
  ]);
});

test('500 domains: still 2 processes', async (t) => {
  if (!haveVirsh(t)) return;
  const env = labEnv('fivehundred', 500);
  const { result, processes, ms } = await gatherCounted(writeLibvirtNode(env));
  t.diagnostic(`500 domains: ${processes} processes, ${ms} ms`);
  assert.equal(processes, 2);
  assert.equal(result.instances.length, 500);
});

test('no domains: one process, no instances', async (t) => {
  if (!haveVirsh(t)) return;
  const { result, processes } = await gatherCounted(writeLibvirtNode(labEnv('empty', 0)));
  assert.equal(processes, 1);
  assert.deepEqual(result, { instances: [] });
});

test('a node virsh cannot connect to: ProbeError with one line from virsh', async (t) => {
  if (!haveVirsh(t)) return;
  const uri = `test://${root}/no-such-node.xml`;
  await assert.rejects(createLibvirtSource({ uri }).gather({ timeoutMs: 10_000 }), (err: Error) => {
    assert.ok(err instanceof ProbeError, String(err));
    assert.equal(err.message, `virsh: failed to connect to the hypervisor: XML error: failed to parse xml document '${root}/no-such-node.xml'`);
    return true;
  });
});

test('an invalid URI never reaches virsh', async () => {
  const before = execStats.spawned;
  await assert.rejects(createLibvirtSource({ uri: '--help' }).gather({ timeoutMs: 10_000 }), /^ProbeError: invalid libvirt URI "--help": unexpected characters$/);
  assert.equal(execStats.spawned, before);
});

/** A fake `virsh` first on PATH, for the duration of fn. */
async function withShim<T>(name: string, script: string, fn: () => Promise<T>): Promise<T> {
  const bin = join(root, name);
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'virsh'), `#!/bin/sh\n${script}\n`);
  chmodSync(join(bin, 'virsh'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  try {
    return await fn();
  } finally {
    process.env.PATH = path;
  }
}

test('a virsh printing garbage: "virsh: unparseable output", in the list or in the batch', async () => {
  const gather = () => createLibvirtSource({ uri: 'qemu:///system' }).gather({ timeoutMs: 10_000 });
  await withShim('garbage', `echo 'Segmentation fault'`, () =>
    assert.rejects(gather(), /^ProbeError: virsh: unparseable output: Segmentation fault$/));
  const listOk = `case "$*" in *list*) echo '8dc7c44c-e491-4139-ac5a-1a06dbe1f53f instance-00000001';; *) echo '<html>502 Bad Gateway</html>';; esac`;
  await withShim('garbage-batch', listOk, () =>
    assert.rejects(gather(), /^ProbeError: virsh: unparseable output: <html>502 Bad Gateway<\/html>$/));
});
