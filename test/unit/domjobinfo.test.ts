// The domjobinfo batch parser on real outputs: KVM nodes of the lab (test/fixtures/libvirt-kvm/)
// and libvirt's test driver (test/fixtures/virsh/), recorded with the nonce "lmpfx".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { JobStatsUnsupported, jobBatchCommands, parseRawJobStats, splitJobOutput } from '../../src/host/domjobinfo.js';

const fixture = (path: string) => readFileSync(new URL(`../../../test/fixtures/${path}`, import.meta.url), 'utf8');
const U1 = { uuid: 'bd5a06fb-3989-5ee1-a655-006c895eb995', name: 'instance-00000001' };
const U2 = { uuid: 'b3e0b925-1d86-5d08-8ff6-fd3eb2b6f3a9', name: 'instance-00000002' };

test('the batch: one echo marker and one domjobinfo per domain (two with --completed), then the end marker', () => {
  assert.equal(jobBatchCommands([U1.uuid], 'lmpfx'), `echo lmpfx.0.job;domjobinfo --rawstats ${U1.uuid};echo lmpfx.end`);
  assert.equal(jobBatchCommands([U2.uuid], 'lmpfx', 1, true), `echo lmpfx.1.job;domjobinfo --rawstats ${U2.uuid};echo lmpfx.1.done;domjobinfo --rawstats --completed --keep-completed --anystats ${U2.uuid};echo lmpfx.end`);
  assert.throws(() => jobBatchCommands(['x;shutdown y'], 'lmpfx'), /UUID/);
});

test('a real outgoing migration in progress (throttled link) beside a domain without a job', () => {
  const jobs = splitJobOutput(fixture('libvirt-kvm/jobs-batch-active-src.txt'), '', [U1, U2], 'lmpfx');
  assert.deepEqual(jobs[0], { ...U1, current: { type: 'none', stats: {} } });
  const j = jobs[1].current!;
  assert.equal(j.type, 'unbounded');
  assert.equal(j.operation, 5);
  assert.equal(j.stats.time_elapsed, 12848);
  assert.equal(j.stats.memory_remaining, 89944064);
  assert.equal(j.stats.memory_total, 134750208);
  assert.equal(j.stats.memory_iteration, 1);
  assert.equal(j.stats.memory_bps, 10851);
});

test('the destination of an incoming migration has no statistics: an empty section, not an error', () => {
  const jobs = splitJobOutput(fixture('libvirt-kvm/jobs-batch-incoming-dst.txt'), fixture('libvirt-kvm/jobs-batch-incoming-dst.stderr.txt'), [U2], 'lmpfx');
  assert.deepEqual(jobs, [U2]);
});

test('--completed on the destination: the finished incoming migration (92 s throttled, 21.7 s downtime)', () => {
  const [j] = splitJobOutput(fixture('libvirt-kvm/jobs-batch-completed-dst.txt'), '', [U2], 'lmpfx', 0, true);
  assert.equal(j.current!.type, 'none');
  assert.deepEqual([j.completed!.type, j.completed!.operation, j.completed!.stats.time_elapsed, j.completed!.stats.downtime, j.completed!.stats.data_processed], ['completed', 4, 91950, 21665, 755334]);
});

test("libvirt's test driver keeps no job statistics: JobStatsUnsupported, one line", () => {
  const stdout = fixture('virsh/jobs-batch-unsupported.txt');
  const stderr = fixture('virsh/jobs-batch-unsupported.stderr.txt');
  assert.throws(() => splitJobOutput(stdout, stderr, [{ uuid: '6695eb01-f6a4-8304-79aa-97f2502e193f', name: 'test' }], 'lmpfx'), (err: Error) => {
    assert.ok(err instanceof JobStatsUnsupported);
    assert.equal(err.message, 'virsh domjobinfo: Optional flags or --rawstats are not supported by the daemon: this function is not supported by the connection driver: virDomainGetJobStats');
    return true;
  });
});

test('garbage is a one-line ProbeError naming domjobinfo', () => {
  assert.throws(() => parseRawJobStats('Job type: 9\n'), /^ProbeError: virsh: unparseable domjobinfo output: Job type: 9$/);
  assert.throws(() => parseRawJobStats('Job type: 2\n\nmemory_remaining: lots\n'), /unparseable domjobinfo output: memory_remaining: lots/);
  assert.throws(() => splitJobOutput('lmpfx.0.job\nJob type: 0\n', '', [U1], 'lmpfx'), /batch markers missing/);
});
