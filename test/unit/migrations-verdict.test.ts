import { test } from 'node:test';
import assert from 'node:assert/strict';
import { converging, judgeJob, judgeNova, updateSamples, verdict, type JobSample, type NovaView } from '../../probes/migrations/verdict.js';
import type { Instance } from '../../src/inventory/types.js';
import { Status } from '../../src/result.js';

const MIB = 1024 * 1024;
const U = 'b3e0b925-1d86-5d08-8ff6-fd3eb2b6f3a9';
const sample = (t: number, remainingMib: number, o: Partial<JobSample> = {}): JobSample => ({ t, elapsedMs: t * 1000, remaining: remainingMib * MIB, total: 1024 * MIB, processed: 100 * MIB, iteration: 2, dirtyRate: 0, ...o });
const OPTS = { maxDurationS: 900, maxIterations: 30, samples: 3 };

test('samples: appended per job, at most `keep`; a new job (elapsed went back) starts afresh; finished jobs dropped', () => {
  let s = updateSamples({}, new Map([[U, sample(60, 900)]]), 3);
  s = updateSamples(s, new Map([[U, sample(120, 800)]]), 3);
  s = updateSamples(s, new Map([[U, sample(180, 700)]]), 3);
  s = updateSamples(s, new Map([[U, sample(240, 600)]]), 3);
  assert.deepEqual(s[U].map((x) => x.t), [120, 180, 240]);
  const restarted = updateSamples(s, new Map([[U, { ...sample(10, 900), t: 300 }]]), 3);
  assert.deepEqual(restarted[U].map((x) => x.t), [300]);
  assert.deepEqual(updateSamples(s, new Map(), 3), {});
});

test('convergence: memory remaining not lower than `samples` runs ago, or too many iterations', () => {
  assert.equal(converging([sample(60, 900), sample(120, 800), sample(180, 700)], OPTS).converging, true);
  assert.equal(converging([sample(60, 900), sample(120, 950)], OPTS).converging, true, 'two samples are not enough to judge');
  const flat = converging([sample(60, 500), sample(120, 300), sample(180, 520)], OPTS);
  assert.deepEqual(flat, { converging: false, why: 'memory remaining not decreasing over 3 samples (500.0 MiB → 520.0 MiB in 2 min)' });
  assert.deepEqual(converging([sample(60, 100, { iteration: 224 })], OPTS), { converging: false, why: '224 memory iterations (max 30)' });
});

test("the operator's story: 224 iterations after 943 s: WARNING (under twice max_duration) with force-complete, abort and the nova.conf options", () => {
  const f = judgeJob({ uuid: U, name: 'instance-00000002', samples: [sample(943, 2048, { iteration: 224, total: 16384 * MIB, processed: 573 * 1024 * MIB, bps: 600 * MIB, dirtyRate: 180000 })] }, OPTS);
  assert.equal(f.status, Status.WARNING, '943 s is over 900 s but under 1800 s');
  assert.equal(f.kind, 'stalled');
  assert.equal(
    f.line,
    `instance-00000002 (${U}): outgoing live migration for 16 min (max 15 min), 13% of memory left (2.0 GiB of 16.0 GiB), 573.0 GiB processed, 600.0 MiB/s, dirty rate 180000 pages/s, iteration 224` +
      ` — not converging (224 memory iterations (max 30)): nova live-migration-force-complete ${U} <migration> (pauses the guest to finish), or nova live-migration-abort ${U} <migration>;` +
      ' for good: live_migration_permit_auto_converge or live_migration_permit_post_copy in nova.conf [libvirt]',
  );
});

test('elapsed: OK under max_duration, WARNING over, CRITICAL over twice; Nova\'s migration id goes into the advice', () => {
  assert.equal(judgeJob({ uuid: U, samples: [sample(100, 10)] }, OPTS).status, Status.OK);
  const slow = judgeJob({ uuid: U, samples: [sample(1000, 10)], nova: { id: 42, instance: U, status: 'running', dest: 'cmp2', memoryRemaining: 10 * MIB, diskRemaining: 0 } }, OPTS);
  assert.equal(slow.status, Status.WARNING);
  assert.match(slow.line, /; Nova: migration 42 running to cmp2, 10\.0 MiB of memory remaining — still converging: wait, or nova live-migration-force-complete b3e0.* 42 to finish now$/);
  assert.equal(judgeJob({ uuid: U, samples: [sample(1801, 10)] }, OPTS).status, Status.CRITICAL);
  const postcopy = judgeJob({ uuid: U, samples: [sample(60, 10, { iteration: 40, postcopy: true })] }, OPTS);
  assert.match(postcopy.line, /already in post-copy: let it finish, or nova live-migration-abort/);
});

const NOW = Date.parse('2026-11-30T12:00:00Z') / 1000;
const server = (n: number, o: Partial<Instance>): Instance => ({
  uuid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, name: `instance-${String(n).padStart(8, '0')}`, state: 'unknown', ports: [], sources: ['openstack'], origin: {}, novaHost: 'cmp1', ...o,
});
const view = (instances: Instance[], o: Partial<NovaView> = {}): NovaView => ({ instances, jobs: new Set(), stuckAfterS: 1800, nowS: NOW, ...o });

test('Nova: stuck states name what operators do, by case', () => {
  const old = '2026-11-30T11:00:00Z'; // 1 h: twice stuck_after exactly, still WARNING; 4 h: CRITICAL
  const cases = judgeNova(view([
    server(1, { novaStatus: 'VERIFY_RESIZE', vmState: 'resized', taskState: null, novaUpdated: old, sources: ['libvirt', 'openstack'], state: 'running' }),
    server(2, { novaStatus: 'VERIFY_RESIZE', vmState: 'resized', taskState: null, novaUpdated: old }),
    server(3, { novaStatus: 'MIGRATING', taskState: 'migrating', novaUpdated: old, sources: ['libvirt', 'openstack'], state: 'running' }),
    server(4, { novaStatus: 'MIGRATING', taskState: 'migrating', novaUpdated: '2026-11-30T08:00:00.000000' }),
    server(5, { novaStatus: 'MIGRATING', taskState: 'migrating', novaUpdated: '2026-11-30T11:50:00Z' }),
    server(6, { novaStatus: 'ACTIVE', taskState: null, novaUpdated: '2020-01-01T00:00:00Z' }),
  ], { migrations: [{ id: 7, instance: server(4, {}).uuid, status: 'running', type: 'live-migration', source: 'cmp1', dest: 'cmp2' }] }));
  assert.equal(cases.length, 4, cases.map((c) => c.line).join('\n'));
  assert.match(cases[0].line, /^instance-00000001 .*: VERIFY_RESIZE in Nova for 60 min \(stuck after 30 min\): nova resize-confirm \S+ \(or resize-revert\)$/);
  assert.equal(cases[0].status, Status.WARNING);
  assert.match(cases[1].line, /: nova resize-revert \S+: no domain here, nothing was copied$/);
  assert.match(cases[2].line, /MIGRATING\/migrating in Nova for 60 min .*: never started \(no job here\): nova reset-state --active \S+, then migrate again$/);
  assert.match(cases[3].line, /for 4\.0 h .*\(migration 7 live-migration cmp1 → cmp2, running\): the domain already runs on cmp2 .*: set the host to cmp2, then nova reset-state --active/);
  assert.equal(cases[3].status, Status.CRITICAL);
});

test('Nova: os-migrations in error or failed warn, naming the instance and both hosts', () => {
  const f = judgeNova(view([], { migrations: [
    { id: 11, instance: U, status: 'error', type: 'live-migration', source: 'cmp1', dest: 'cmp2', updated: '2026-11-30T10:00:00.000000' },
    { id: 12, instance: U, status: 'completed', type: 'live-migration', source: 'cmp2', dest: 'cmp1' },
  ] }));
  assert.deepEqual(f.map((x) => [x.kind, x.status]), [['failed', Status.WARNING]]);
  assert.equal(f[0].line, `${U}: live-migration 11 from cmp1 to cmp2 error at 2026-11-30T10:00:00.000000 (nova migration-list --instance-uuid ${U}; check the instance runs where Nova says)`);
});

test('the verdict: summary, worst first, perfdata; what was not checked is said', () => {
  const jobs = [judgeJob({ uuid: U, samples: [sample(100, 10)] }, OPTS), judgeJob({ uuid: U, samples: [sample(2000, 10)] }, OPTS)];
  const v = verdict({ jobs, nova: [], notChecked: ['Nova not checked (no OpenStack source)'], longestS: 2000 });
  assert.equal(v.status, Status.CRITICAL);
  assert.equal(v.summary, '2 active migrations (longest 33 min): 1 over max_duration; Nova not checked (no OpenStack source)');
  assert.match(v.details[0], /for 33 min/);
  assert.deepEqual(v.perfdata.map((p) => `${p.label}=${p.value}`), ['active=2', 'longest=2000', 'not_converging=0', 'stuck=0', 'failed=0']);
  assert.equal(verdict({ jobs: [], nova: [], notChecked: [], longestS: 0 }).summary, '0 active migrations');
});

test('a job still setting up (libvirt has no totals yet) says so instead of 0% of 0 KiB', () => {
  const f = judgeJob({ uuid: U, samples: [sample(1, 0, { total: 0, processed: 0, iteration: 0 })] }, OPTS);
  assert.match(f.line, /: outgoing live migration for 1 s \(max 15 min\), setting up \(no memory sent yet\)$/);
  assert.equal(f.status, Status.OK);
});

test('a sample taken while setting up does not count against convergence', () => {
  assert.equal(converging([sample(1, 0, { total: 0 }), sample(60, 900)], { ...OPTS, samples: 2 }).converging, true);
});

test('findings for `lm-probe instance`: jobs, stuck servers and failed migrations tied to their instance; keys without durations', () => {
  const jobs = [judgeJob({ uuid: U, samples: [sample(2000, 10)] }, OPTS)];
  const nova = judgeNova(view([server(4, { novaStatus: 'MIGRATING', taskState: 'migrating', novaUpdated: '2026-11-30T08:00:00Z' })], { migrations: [{ id: 11, instance: U, status: 'error', type: 'live-migration', source: 'cmp1', dest: 'cmp2' }] }));
  const v = verdict({ jobs, nova, notChecked: [], longestS: 2000 });
  assert.deepEqual(v.findings!.map((f) => [f.instance, f.key, f.status]), [
    [U, 'migration-slow', Status.CRITICAL],
    [server(4, {}).uuid, 'stuck-in-nova MIGRATING/migrating', Status.CRITICAL],
    [U, 'migration-failed 11', Status.WARNING],
  ]);
  assert.deepEqual(v.findings!.map((f) => f.text), v.details);
});
