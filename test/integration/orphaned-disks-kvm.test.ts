/**
 * The reaper's open-file guard against a real qemu: a one-node KVM lab (its own libvirtd, real
 * guests) with the nova disk tree. An orphan dir (a migrated-away instance's, so no domain has
 * its UUID: hidden from the inventory) has its qcow2 attached live to a running guest; qemu holds
 * it open, and `reap-disks --apply` refuses it. Once that guest is stopped, the entry is quarantined.
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync, readlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { diskFault, disksUnavailableReason } from '../lab/disks.js';
import { kvmUnavailableReason, qemuPids, virsh } from '../lab/kvm.js';
import { labDown, labUp, type LabEnv } from '../lab/lab.js';
import { requireLab, requirePart } from '../lab/require.js';
import { lmProbe } from '../support/cli.js';

let env: LabEnv | undefined;
after(() => {
  if (env) labDown(env); // stops its libvirtd and guests; also on failure
});

const requireKvm = (t: TestContext): boolean => requirePart(t, 'KVM lab', kvmUnavailableReason()) && requirePart(t, 'disk tree', disksUnavailableReason());

function agedTwoHours(path: string): void {
  const when = new Date(Date.now() - 7_200_000);
  if (lstatSync(path).isDirectory()) for (const n of readdirSync(path)) agedTwoHours(join(path, n));
  utimesSync(path, when, when);
}

/** The qemu process holding `path` open, if any. */
function holderOf(pids: number[], path: string): number | undefined {
  return pids.find((pid) => readdirSync(`/proc/${pid}/fd`).some((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
    } catch {
      return false;
    }
  }));
}

test('reap-disks refuses a disk a running KVM guest holds open, and takes it once the guest stopped', { timeout: 180_000 }, (t) => {
  if (!requireLab(t) || !requireKvm(t)) return;
  const e = (env = labUp({ instances: 2, libvirt: 'kvm', disks: true }));
  const uri = e.kvm!.uri;
  const orphan = diskFault(e.disks!, e, 'orphan-disk');
  const disk = join(orphan, 'disk');
  virsh(uri, ['attach-disk', e.instances[1].name, disk, 'vdb', '--driver', 'qemu', '--subdriver', 'qcow2', '--live']);
  agedTwoHours(orphan); // attaching touches nothing, but be sure the age guard is not what refuses
  const pid = holderOf(qemuPids(e.kvm!), disk);
  assert.ok(pid, 'qemu holds the attached disk open');

  const probe = lmProbe(['orphaned-disks', '--config', e.configFile]);
  assert.equal(probe.code, 1, probe.stdout);
  assert.ok(probe.stdout.includes(`orphan: ${orphan} (`), probe.stdout);

  const r = lmProbe(['reap-disks', '--config', e.configFile, '--apply']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.ok(r.stdout.includes(`skipped ${orphan}: held open by pid ${pid} (qemu-system-x86): ${disk}`), r.stdout);
  assert.ok(existsSync(disk));

  // A guest idling in SeaBIOS never acks a hot-unplug: stop it instead (its domain stays defined, shut off).
  virsh(uri, ['destroy', e.instances[1].name]);
  assert.equal(holderOf(qemuPids(e.kvm!), disk), undefined, 'qemu let go of it');
  const again = lmProbe(['reap-disks', '--config', e.configFile, '--apply']);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /^REAP-DISKS OK - 1 of 1 entries quarantined/);
  assert.ok(!existsSync(orphan));
});
