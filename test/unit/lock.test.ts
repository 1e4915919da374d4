import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { acquireLock } from '../../src/lock.js';

const dir = mkdtempSync('/tmp/lmp-lock-');
after(() => rmSync(dir, { recursive: true, force: true }));

test('a second taker is told who holds the lock; release frees it', () => {
  const first = acquireLock(dir, 'p1');
  assert.equal(first.acquired, true);
  // Simulate another live process holding it: pid 1 always exists.
  writeFileSync(join(dir, 'p2.lock'), '1\n');
  const second = acquireLock(dir, 'p2');
  assert.deepEqual(second, { acquired: false, pid: 1 });
  if (first.acquired) first.release();
  assert.equal(existsSync(join(dir, 'p1.lock')), false);
});

test('a stale lock of a dead process is taken over', async () => {
  const child = spawn(process.execPath, ['-e', '0']);
  const deadPid = child.pid!;
  await new Promise((r) => child.on('exit', r));
  writeFileSync(join(dir, 'p3.lock'), `${deadPid}\n`);
  const lock = acquireLock(dir, 'p3');
  assert.equal(lock.acquired, true);
  assert.equal(readFileSync(join(dir, 'p3.lock'), 'utf8').trim(), String(process.pid));
  if (lock.acquired) lock.release();
});

test('garbage in a lock file counts as stale', () => {
  writeFileSync(join(dir, 'p4.lock'), 'not a pid\n');
  const lock = acquireLock(dir, 'p4');
  assert.equal(lock.acquired, true);
  if (lock.acquired) lock.release();
});
