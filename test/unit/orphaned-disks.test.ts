// orphaned-disks: the qcow2 header and mountinfo parsers on recorded fixtures, the verdict
// functions, and every reaper guard on a small tree of real files (no qemu-img needed).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backingChain, parseQcow2Header, readBackingName, resolveBacking } from '../../src/host/qcow2.js';
import { isSharedFs, mountOf, parseMountinfo } from '../../src/host/mountinfo.js';
import { heldUnder, scanOpenFiles } from '../../src/host/open-files.js';
import type { Instance, Inventory } from '../../src/inventory/types.js';
import { Status } from '../../src/result.js';
import { checkGuards, type GuardContext } from '../../probes/orphaned-disks/guards.js';
import { readInstancesTree } from '../../probes/orphaned-disks/tree.js';
import { classify, graded, hostedView, isHosted, judgeTree, novaSays, verdict, type Finding } from '../../probes/orphaned-disks/verdict.js';

const FIXTURES = new URL('../../../test/fixtures/', import.meta.url).pathname;
const fixture = (p: string) => readFileSync(join(FIXTURES, p));
const BASE = '/tmp/lmpfixture/instances/_base/013d08ad561401b30d29231b23439310cd75c38e';
const UUID = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

const scratch = mkdtempSync('/tmp/lmpunit-');
after(() => rmSync(scratch, { recursive: true, force: true }));

test('qcow2 header: backing name offset and size, versions 2 and 3, none, not qcow2', async () => {
  assert.deepEqual(parseQcow2Header(fixture('qemu-img/header-backing-absolute.qcow2')), { qcow2: true, version: 3, backing: { offset: 528, size: 72 } });
  assert.deepEqual(parseQcow2Header(fixture('qemu-img/header-backing-v2.qcow2')), { qcow2: true, version: 2, backing: { offset: 96, size: 72 } });
  assert.deepEqual(parseQcow2Header(fixture('qemu-img/header-no-backing.qcow2')), { qcow2: true, version: 3 });
  assert.deepEqual(parseQcow2Header(fixture('qemu-img/disk.info')), { qcow2: false });
  assert.deepEqual(parseQcow2Header(Buffer.alloc(8)), { qcow2: false }, 'a short file');
  const garbage = Buffer.from(fixture('qemu-img/header-backing-absolute.qcow2'));
  garbage.writeUInt32BE(1 << 20, 16); // a 1 MiB "name"
  assert.throws(() => parseQcow2Header(garbage), /implausible backing file name/);
  assert.equal(await readBackingName(join(FIXTURES, 'qemu-img/header-backing-absolute.qcow2')), BASE);
  assert.equal(await readBackingName(join(FIXTURES, 'qemu-img/header-backing-relative.qcow2')), '../_base/013d08ad561401b30d29231b23439310cd75c38e');
  assert.equal(await readBackingName(join(FIXTURES, 'qemu-img/header-no-backing.qcow2')), null);
});

test('backing names: absolute as they are, relative against the image\'s own dir', () => {
  assert.equal(resolveBacking('/i/u/disk', '/i/_base/x'), '/i/_base/x');
  assert.equal(resolveBacking('/i/u/disk', '../_base/x'), '/i/_base/x');
  assert.equal(resolveBacking('/i/u/disk', 'disk.base'), '/i/u/disk.base');
});

test('backing chain, read under a root: intact, missing, a qcow2 base in between, a loop', async () => {
  // The recorded headers name /tmp/lmpfixture/...: lay them out under a root of our own.
  const root = join(scratch, 'root');
  const inst = join(root, '/tmp/lmpfixture/instances/u');
  mkdirSync(inst, { recursive: true });
  mkdirSync(join(root, '/tmp/lmpfixture/instances/_base'));
  writeFileSync(join(inst, 'disk'), fixture('qemu-img/header-backing-absolute.qcow2'));
  writeFileSync(join(inst, 'rel'), fixture('qemu-img/header-backing-relative.qcow2'));
  const toFs = (p: string) => join(root, p);
  const host = '/tmp/lmpfixture/instances/u';
  assert.deepEqual(await backingChain(`${host}/disk`, toFs), { links: [{ path: BASE, exists: false }], missing: BASE });
  writeFileSync(toFs(BASE), Buffer.alloc(4096)); // the raw base
  assert.deepEqual(await backingChain(`${host}/disk`, toFs), { links: [{ path: BASE, exists: true }] });
  assert.deepEqual(await backingChain(`${host}/rel`, toFs), { links: [{ path: BASE, exists: true }] });
  // A qcow2 base is followed in turn: one with no backing file ends the chain...
  writeFileSync(toFs(BASE), fixture('qemu-img/header-no-backing.qcow2'));
  assert.deepEqual(await backingChain(`${host}/disk`, toFs), { links: [{ path: BASE, exists: true }] });
  // ...one naming itself (../_base/013d... from _base/) is a loop, reported, not followed forever.
  writeFileSync(toFs(BASE), fixture('qemu-img/header-backing-relative.qcow2'));
  assert.match((await backingChain(`${host}/disk`, toFs)).error ?? '', /loops at/);
  const cache = new Map();
  await backingChain(`${host}/disk`, toFs, cache);
  await backingChain(`${host}/rel`, toFs, cache);
  assert.equal(cache.size, 3, 'the shared base is read once');
  assert.deepEqual(await backingChain(`${host}/gone`, toFs), { links: [] }, 'a disk deleted meanwhile has no chain to judge');
});

test('mountinfo: real lines (escapes, optional fields, bind) and the shared file systems', () => {
  const real = parseMountinfo(fixture('mountinfo/real-tmpfs-bind.txt').toString());
  assert.deepEqual(mountOf(real, '/tmp/lmpmnt/nova instances/x'), { mountPoint: '/tmp/lmpmnt/nova instances', fsType: 'tmpfs', source: 'lmpmnt-tmpfs' });
  assert.equal(mountOf(real, '/tmp/lmpmnt/bind')?.fsType, 'tmpfs');
  assert.equal(mountOf(real, '/var/lib/nova/instances')?.fsType, 'ext4');
  assert.equal(mountOf(real, '/run/netns/x')?.mountPoint, '/run/netns');
  assert.equal(mountOf(real, '/tmp/lmpmnt/nova')?.mountPoint, '/', 'a prefix of a name is not a parent dir');
  const shared = parseMountinfo(fixture('mountinfo/shared-hand-made.txt').toString());
  const typeAt = (p: string) => mountOf(shared, p)!.fsType;
  assert.equal(typeAt('/var/lib/nova/instances'), 'nfs4');
  assert.equal(typeAt('/srv/gluster/nova/x'), 'fuse.glusterfs');
  assert.equal(typeAt('/srv/cephfs'), 'ceph');
  assert.equal(typeAt('/srv/nfs3/a'), 'nfs');
  for (const t of ['nfs4', 'fuse.glusterfs', 'ceph', 'nfs']) assert.ok(isSharedFs(t), t);
  for (const t of ['ext4', 'tmpfs', 'xfs']) assert.ok(!isSharedFs(t), t);
  // A later mount over the same point hides the one below it.
  const over = parseMountinfo(`${fixture('mountinfo/shared-hand-made.txt')}400 312 254:1 / /var/lib/nova/instances rw - ext4 /dev/vdb rw\n`);
  assert.equal(mountOf(over, '/var/lib/nova/instances/u')?.fsType, 'ext4');
  assert.throws(() => parseMountinfo('Segmentation fault\n'), /mountinfo: unparseable line: Segmentation fault/);
  assert.throws(() => parseMountinfo(''), /no mounts/);
});

const inst = (uuid: string, o: Partial<Instance> = {}): Instance => ({ uuid, state: 'running', ports: [], sources: ['libvirt'], origin: {}, ...o });
const inventory = (instances: Instance[], sources: Inventory['sources'] = [{ source: 'libvirt', state: 'ok', detail: '' }]): Inventory => ({ instances, sources, findings: [] });

test('names: instance dirs, _resize, _del, Nova\'s own, the quarantine, anything else', () => {
  assert.deepEqual(classify({ name: UUID(1), type: 'dir' }), { kind: 'instance', uuid: UUID(1) });
  assert.deepEqual(classify({ name: `${UUID(1)}_resize`, type: 'dir' }), { kind: 'resize', uuid: UUID(1) });
  assert.deepEqual(classify({ name: `${UUID(1)}_del`, type: 'dir' }), { kind: 'del', uuid: UUID(1) });
  for (const n of ['_base', 'locks', 'compute_nodes', 'snapshots']) assert.equal(classify({ name: n, type: 'dir' }).kind, 'nova');
  assert.equal(classify({ name: '_lm-probe-quarantine', type: 'dir' }).kind, 'quarantine');
  assert.equal(classify({ name: UUID(1), type: 'symlink' }).kind, 'unexpected');
  assert.equal(classify({ name: 'ABCDEF00-0000-4000-8000-00000000000A', type: 'dir' }).kind, 'unexpected', 'nova writes lower case');
  assert.equal(classify({ name: `${UUID(1)}_old`, type: 'dir' }).kind, 'unexpected');
});

test('hosted: libvirt in any state; Nova only when it places the instance here; OVS alone only without libvirt', () => {
  const v = hostedView(inventory([
    inst(UUID(1), { state: 'shutoff' }),
    inst(UUID(2), { sources: ['openstack'], novaHost: 'node1' }),
    inst(UUID(3), { sources: ['openstack'], novaHost: 'node2' }),
    inst(UUID(4), { sources: ['ovs'] }),
  ]), 'node1');
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => isHosted(v, UUID(n))), [true, true, false, false, false]);
  assert.equal(isHosted({ ...v, libvirtAnswered: false }, UUID(4)), true, 'without libvirt, an OVS port is the best evidence there is');
});

test('what Nova says', () => {
  assert.equal(novaSays(undefined), 'not compared with Nova');
  assert.equal(novaSays(inst(UUID(1))), 'not compared with Nova');
  assert.equal(novaSays(inst(UUID(1), { sources: ['openstack'], vmState: 'deleted', novaStatus: 'DELETED' })), 'Nova: instance deleted');
  assert.equal(novaSays(inst(UUID(1), { sources: ['openstack'], novaHost: 'compute-2', novaStatus: 'MIGRATING', taskState: 'migrating' })), 'Nova: instance on compute-2 (status MIGRATING, task_state migrating)');
});

const entry = (name: string, o: { type?: 'dir' | 'file'; bytes?: number; ageS?: number } = {}) =>
  ({ name, path: `/i/${name}`, type: o.type ?? 'dir', bytes: o.bytes ?? 200_704, newestMtimeS: 10_000 - (o.ageS ?? 7200), files: ['disk'] } as const);

test('judging the tree: orphans, leftovers, a resize awaiting confirmation, shared storage', () => {
  const v = hostedView(inventory([
    inst(UUID(1)),
    inst(UUID(2), { sources: ['libvirt', 'openstack'], novaHost: 'n1', vmState: 'resized', novaStatus: 'VERIFY_RESIZE' }),
    inst(UUID(9), { sources: ['openstack'], novaHost: 'n2', vmState: 'deleted' }),
  ]), 'n1');
  const entries = [
    entry('_base'), entry(UUID(1)), entry(`${UUID(1)}_resize`), entry(`${UUID(2)}_resize`), entry(`${UUID(3)}_del`),
    entry(UUID(4), { ageS: 60 }), entry(UUID(9)), entry('notes.txt', { type: 'file' }), entry('_lm-probe-quarantine'),
  ];
  const t = judgeTree(entries.map((e) => ({ ...e, files: [...e.files] })), v, { shared: false, minAgeS: 3600, nowS: 10_000 });
  assert.deepEqual(t.hosted.map((h) => h.uuid), [UUID(1)]);
  assert.deepEqual(t.findings.map((f) => [f.kind, f.path, f.young]), [
    ['leftover', `/i/${UUID(1)}_resize`, false],
    ['leftover', `/i/${UUID(3)}_del`, false],
    ['orphan', `/i/${UUID(4)}`, true],
    ['orphan', `/i/${UUID(9)}`, false],
    ['unexpected', '/i/notes.txt', false],
  ]);
  assert.match(t.findings[3].why, /Nova: instance deleted$/);
  assert.ok(t.notes.some((n) => n.includes(`${UUID(2)}_resize: resize of a hosted instance in progress or awaiting confirmation`)));
  // An instance that left only just now (the shared presence record): young, whatever its files' age.
  const left = judgeTree([{ ...entry(UUID(4)), files: ['disk'] }], v, { shared: false, minAgeS: 3600, nowS: 10_000, leftRecently: new Map([[UUID(4), 90]]) });
  assert.equal(left.findings[0].young, true);
  assert.match(left.findings[0].why, /; the instance left this node 90 s ago$/);
  // Shared storage: only the one Nova says is deleted is an orphan.
  const s = judgeTree(entries.map((e) => ({ ...e, files: [...e.files] })), v, { shared: true, minAgeS: 3600, nowS: 10_000 });
  assert.deepEqual(s.findings.filter((f) => f.kind === 'orphan').map((f) => f.path), [`/i/${UUID(9)}`]);
  assert.deepEqual(s.findings.filter((f) => f.kind === 'not-judged').map((f) => f.path), [`/i/${UUID(4)}`]);
});

const finding = (kind: Finding['kind'], young = false, bytes = 1024, uuid?: string): Finding => ({ kind, path: `/i/${kind}`, bytes, ageS: young ? 10 : 7200, young, why: 'x', ...(uuid ? { uuid } : {}) });

test('statuses: ranges on counts, min_age caps at WARNING, perfdata with bytes', () => {
  assert.equal(graded([], '0', ''), Status.OK);
  assert.equal(graded([finding('orphan')], '0', ''), Status.WARNING);
  assert.equal(graded([finding('orphan')], '0', '0'), Status.CRITICAL);
  assert.equal(graded([finding('orphan', true)], '0', '0'), Status.WARNING, 'young: WARNING at most');
  assert.equal(graded([finding('orphan')], '1', ''), Status.OK, '-w 1 tolerates one');
  const base = { instances: 6, warning: '0', critical: '', missingBacking: '0', minAgeS: 3600, shared: false };
  assert.equal(verdict({ ...base, findings: [] }).status, Status.OK);
  const crit = verdict({ ...base, findings: [finding('leftover'), finding('missing-backing'), finding('orphan', false, 2048), finding('unexpected')] });
  assert.equal(crit.status, Status.CRITICAL);
  assert.equal(crit.summary, '1 disk with a missing backing file: /i/missing-backing, 1 orphan, 1 leftover: 3.0 KiB reclaimable');
  assert.deepEqual(crit.details.map((l) => l.split(':')[0]), ['missing-backing', 'orphan', 'leftover', 'unexpected'], 'worst first');
  assert.deepEqual(crit.perfdata.find((p) => p.label === 'reclaimable'), { label: 'reclaimable', value: 3072, uom: 'B', min: 0 });
  assert.equal(verdict({ ...base, findings: [finding('missing-backing', true)] }).status, Status.WARNING, 'a young missing backing file: a copy may be in flight');
  assert.equal(verdict({ ...base, findings: [finding('unreadable')] }).status, Status.UNKNOWN);
  assert.equal(verdict({ ...base, findings: [finding('unexpected'), finding('not-judged')] }).status, Status.OK, 'listed, not judged');
});

test('reaper guards, each refusing on real files', async () => {
  const ip = join(scratch, 'instances');
  const outside = join(scratch, 'outside');
  mkdirSync(outside, { recursive: true });
  const old = (p: string) => utimesSync(p, new Date(Date.now() - 7_200_000), new Date(Date.now() - 7_200_000));
  const mkInstance = (name: string) => {
    mkdirSync(join(ip, name), { recursive: true });
    writeFileSync(join(ip, name, 'disk'), 'x');
    old(join(ip, name, 'disk'));
    old(join(ip, name));
  };
  for (const n of [1, 2, 3, 4, 5, 6]) mkInstance(UUID(n));
  mkInstance('_base');
  mkInstance(`${UUID(7)}_resize`);
  mkdirSync(join(ip, UUID(8)));
  writeFileSync(join(ip, UUID(8), 'disk'), 'fresh');
  symlinkSync(outside, join(ip, UUID(9)));
  const g: GuardContext = {
    instancesPath: ip, root: '/', minAgeS: 3600, shared: false,
    view: hostedView(inventory([inst(UUID(2), { state: 'shutoff', name: 'instance-00000002' }), inst(UUID(3), { sources: ['file'] })]), 'n1'),
    inventory: inventory([inst(UUID(2), { state: 'shutoff', name: 'instance-00000002' }), inst(UUID(3), { sources: ['file'] })]),
    open: { holders: new Map([[join(ip, UUID(4), 'disk'), 'pid 42 (qemu-system-x86)']]), unreadable: 0 },
    nowS: () => Date.now() / 1000,
    leftRecently: [],
  };
  const why = async (name: string, change: Partial<GuardContext> = {}) => {
    const r = await checkGuards({ ...g, ...change }, name);
    return 'refused' in r ? r.refused : 'passes';
  };
  assert.equal(await why(UUID(1)), 'passes');
  assert.equal(await why('_base'), "not an instance dir (Nova's own)");
  assert.equal(await why('_lm-probe-quarantine'), "not an instance dir (the reaper's quarantine)");
  assert.equal(await why(UUID(9)), 'a symlink, not a directory (symlinks are never followed)');
  assert.equal(await why(UUID(2)), 'libvirt defines instance-00000002 on this node (shutoff)');
  assert.equal(await why(UUID(3)), 'instance hosted here according to file');
  assert.equal(await why(UUID(4)), `held open by pid 42 (qemu-system-x86): ${join(ip, UUID(4), 'disk')}`);
  assert.match(await why(UUID(8)), /^younger than min_age \(\d+ s < 3600 s\)$/);
  assert.equal(await why(`${UUID(7)}_resize`), 'a _resize dir may await a resize confirmation or revert, and Nova was not compared');
  assert.equal(await why(UUID(5), { shared: true }), 'shared storage, and Nova has not confirmed the instance deleted');
  assert.match(await why(UUID(5), { inventory: inventory([], [{ source: 'libvirt', state: 'failed', detail: 'virsh timed out' }]) }), /^libvirt did not answer \(virsh timed out\)/);
  const withNova = (i: Instance, state: 'ok' | 'failed' = 'ok') => {
    const inv = inventory([i], [{ source: 'libvirt', state: 'ok', detail: '' }, { source: 'openstack', state, detail: 'HTTP 503' }]);
    return { inventory: inv, view: hostedView(inv, 'n1') };
  };
  assert.equal(await why(UUID(5), withNova(inst(UUID(5), { sources: ['openstack'], novaHost: 'n2', taskState: 'migrating' }))), 'Nova task_state migrating: a migration or resize may be in progress');
  assert.match(await why(UUID(5), withNova(inst(UUID(1)), 'failed')), /^Nova did not answer \(HTTP 503\)/);
  assert.equal(await why(UUID(6), { shared: true, ...withNova(inst(UUID(6), { sources: ['openstack'], novaHost: 'n2', vmState: 'deleted' })) }), 'passes', 'shared storage, Nova says deleted');
  assert.equal(await why(UUID(5), { open: { error: 'cannot scan /proc: EACCES' } }), 'cannot tell which files are open: cannot scan /proc: EACCES');
  assert.equal(await why(UUID(5), { open: { holders: new Map(), unreadable: 3 } }), 'cannot tell which files are open: /proc of 3 processes unreadable');
  assert.equal(await why(UUID(10)), 'gone since the scan');
  const departed = { uuid: UUID(5), first: 0, last: 0, left: Date.now() / 1000 - 90, ips: [], macs: [], ports: [] };
  assert.equal(await why(UUID(5), { leftRecently: [departed] }), 'the instance left this node 90 s ago, less than min_age (3600 s)');
  // instances_path itself reached through a symlink: entries still resolve inside it.
  symlinkSync(ip, join(scratch, 'via-link'));
  assert.equal(await why(UUID(1), { instancesPath: join(scratch, 'via-link') }), 'passes');
});

test('the tree is read without following symlinks; sizes are allocated bytes', async () => {
  const entries = await readInstancesTree(join(scratch, 'instances'), '/', new Set(['_base']));
  const link = entries.find((e) => e.name === UUID(9))!;
  assert.equal(link.type, 'symlink');
  assert.equal(link.files.length, 0);
  const one = entries.find((e) => e.name === UUID(1))!;
  assert.deepEqual(one.files, ['disk']);
  assert.ok(one.bytes >= 4096 && one.bytes % 512 === 0, String(one.bytes));
  assert.ok(Date.now() / 1000 - one.newestMtimeS >= 7199, 'newest mtime inside');
});

test('open files: this process holding a file is found in one /proc scan', async () => {
  const f = join(scratch, 'held');
  writeFileSync(f, 'x');
  const { open } = await import('node:fs/promises');
  const fh = await open(f, 'r');
  try {
    const scan = await scanOpenFiles('/proc');
    assert.equal(heldUnder(scan, scratch)?.holder.startsWith(`pid ${process.pid} (`), true);
    assert.equal(heldUnder(scan, join(scratch, 'instances')), undefined);
  } finally {
    await fh.close();
  }
});

test('the scan hands over what it knows before reading any header (a deadline may cut it there)', async () => {
  const { scanInstancesPath, options } = await import('../../probes/orphaned-disks/index.js');
  const { defaults, obj } = await import('../../src/schema.js');
  const { Logger } = await import('../../src/log.js');
  const o = { ...defaults(obj(options)), instances_path: join(scratch, 'instances'), shared: 'false' as const };
  const seen: number[] = [];
  const scan = await scanInstancesPath(o, inventory([inst(UUID(1))]), 'n1', new Logger({ sink: () => {} }), { partial: (s) => seen.push(s.findings.length) });
  assert.equal(seen.length, 1);
  assert.ok(seen[0] > 0 && seen[0] <= scan.findings.length, `${seen[0]} of ${scan.findings.length}`);
});

test('findings for `lm-probe instance`: tied to the dir\'s instance, keyed by the entry\'s name, each graded alone', () => {
  const base = { instances: 6, warning: '0', critical: '0', missingBacking: '0', minAgeS: 3600, shared: false };
  const at = (kind: Finding['kind'], path: string, uuid: string, young = false): Finding => ({ ...finding(kind, young, 1024, uuid), path });
  const v = verdict({ ...base, findings: [
    at('leftover', `/i/${UUID(1)}_resize`, UUID(1)),
    at('orphan', `/i/${UUID(4)}`, UUID(4), true),
    at('missing-backing', `/i/${UUID(2)}/disk`, UUID(2)),
    { ...finding('unexpected'), path: '/i/notes.txt' },
  ] });
  assert.deepEqual(v.findings!.map((f) => [f.instance, f.key, f.status]), [
    [UUID(2), `disk-missing-backing ${UUID(2)}/disk`, Status.CRITICAL],
    [UUID(4), `disk-orphan ${UUID(4)}`, Status.WARNING],
    [UUID(1), `disk-leftover ${UUID(1)}_resize`, Status.CRITICAL],
  ]);
  assert.deepEqual(v.findings!.map((f) => f.text), v.details.slice(0, 3));
});
