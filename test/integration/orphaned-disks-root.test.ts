/**
 * orphaned-disks end to end on a recorded tree under `root` (node_exporter's --path.rootfs
 * idea): recorded qcow2 headers as disks, a mountinfo where instances_path is NFS, the inventory
 * file as the only source. No lab, no root privileges needed; paths in the output are the host's.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { lmProbe } from '../support/cli.js';

const FIXTURES = new URL('../../../test/fixtures/', import.meta.url).pathname;
const root = mkdtempSync('/tmp/lmproot-');
after(() => rmSync(root, { recursive: true, force: true }));

const IP = '/var/lib/nova/instances';
const U = (n: number) => `5eed0000-0000-4000-8000-00000000000${n}`;
const old = new Date(Date.now() - 7_200_000);

/** A file under root at a host path, copied from a fixture (or empty), two hours old. */
function put(hostPath: string, fixture?: string): void {
  const p = join(root, hostPath);
  mkdirSync(dirname(p), { recursive: true });
  if (fixture) copyFileSync(join(FIXTURES, fixture), p);
  else writeFileSync(p, '');
  utimesSync(p, old, old);
  utimesSync(dirname(p), old, old);
}

function config(probe: Record<string, unknown>): string {
  const file = join(root, 'inventory.yaml');
  writeFileSync(file, stringify({ instances: [{ uuid: U(1), name: 'instance-00000001' }, { uuid: U(2), name: 'instance-00000002' }] }));
  const path = join(root, 'config.yaml');
  writeFileSync(path, stringify({
    host: 'compute-1', state_dir: join(root, 'state'), lock_dir: join(root, 'lock'),
    inventory: { sources: ['file'], file, cache: { path: join(root, 'cache.json') } },
    probes: { 'orphaned-disks': { instances_path: IP, root, ...probe } },
  }));
  return path;
}

test('a recorded tree under root: NFS from mountinfo, backing chains from recorded headers', () => {
  put('/proc/self/mountinfo', 'mountinfo/shared-hand-made.txt'); // nfs4 on /var/lib/nova/instances
  put('/tmp/lmpfixture/instances/_base/013d08ad561401b30d29231b23439310cd75c38e'); // what the absolute header names
  put(`${IP}/${U(1)}/disk`, 'qemu-img/header-backing-absolute.qcow2'); // intact
  put(`${IP}/${U(2)}/disk`, 'qemu-img/header-backing-relative.qcow2'); // ../_base/013d...: not under this instances path
  put(`${IP}/${U(2)}/disk.info`, 'qemu-img/disk.info');
  put(`${IP}/${U(3)}/disk`, 'qemu-img/header-no-backing.qcow2'); // no instance here: another node's, on NFS?
  mkdirSync(join(root, IP, '_base'), { recursive: true });

  const r = lmProbe(['orphaned-disks', '--config', config({}), '--debug']);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.equal(r.stdout.split('\n')[0].split(' | ')[0], `ORPHANED-DISKS CRITICAL - 1 disk with a missing backing file: ${IP}/${U(2)}/disk (shared storage)`);
  assert.ok(r.stdout.includes(`\nmissing-backing: ${IP}/${U(2)}/disk (2 h 0 min old): backing file ${IP}/_base/013d08ad561401b30d29231b23439310cd75c38e is missing (instance-00000002, hosted here: it cannot boot again)\n`), r.stdout);
  assert.ok(r.stdout.includes(`\nnot-judged: ${IP}/${U(3)} (`), r.stdout);
  assert.match(r.stderr, new RegExp(`shared storage: yes: ${IP} is on nfs4 198\\.18\\.250\\.1:/export/nova at ${IP}`));

  const local = lmProbe(['orphaned-disks', '--config', config({ shared: 'false' })]);
  assert.equal(local.code, 2);
  assert.ok(local.stdout.includes(`\norphan: ${IP}/${U(3)} (`), local.stdout);
});
