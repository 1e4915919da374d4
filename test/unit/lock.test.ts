import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { acquireLock, startTime } from '../../src/lock.js';

const dir = mkdtempSync('/tmp/lmp-lock-');
after(() => rmSync(dir, { recursive: true, force: true }));

test('a second taker in another process is told who holds the lock; release frees it', async () => {
  const first = await acquireLock(dir, 'p1');
  assert.equal(first.acquired, true);
  // pid 1 with its real start time: a live holder.
  writeFileSync(join(dir, 'p2.lock'), `1 ${startTime(1)} abcdef\n`);
  const second = await acquireLock(dir, 'p2');
  assert.deepEqual(second, { acquired: false, pid: 1 });
  if (first.acquired) await first.release();
  assert.equal(existsSync(join(dir, 'p1.lock')), false);
});

test('two takers in one process: the second is refused, and the first release frees it for good', async () => {
  const a = await acquireLock(dir, 'same');
  const b = await acquireLock(dir, 'same');
  assert.equal(a.acquired, true);
  assert.deepEqual(b, { acquired: false, pid: process.pid });
  if (a.acquired) await a.release();
  const c = await acquireLock(dir, 'same');
  assert.equal(c.acquired, true);
  if (c.acquired) await c.release();
});

test('a lock of a dead process is taken over', async () => {
  const child = spawn(process.execPath, ['-e', '0']);
  const deadPid = child.pid!;
  await new Promise((r) => child.on('exit', r));
  writeFileSync(join(dir, 'p3.lock'), `${deadPid} 12345 abcdef\n`);
  const lock = await acquireLock(dir, 'p3');
  assert.equal(lock.acquired, true);
  assert.match(readFileSync(join(dir, 'p3.lock'), 'utf8'), new RegExp(`^${process.pid} `));
  if (lock.acquired) await lock.release();
});

test('a live pid with another start time (pid reused) does not hold the lock', async () => {
  writeFileSync(join(dir, 'reused.lock'), `1 ${Number(startTime(1)) + 777} abcdef\n`);
  const lock = await acquireLock(dir, 'reused');
  assert.equal(lock.acquired, true);
  if (lock.acquired) await lock.release();
});

test('a bare pid ("1"), garbage or an empty file is no lock', async () => {
  for (const content of ['1\n', 'not a pid\n', '']) {
    writeFileSync(join(dir, 'p4.lock'), content);
    const lock = await acquireLock(dir, 'p4');
    assert.equal(lock.acquired, true, JSON.stringify(content));
    if (lock.acquired) await lock.release();
  }
});

test('ten processes racing for a stale lock: exactly one gets it, every round', async () => {
  // Each child loads the lock module, says READY, waits for "go" on stdin, tries once, says
  // WON or LOST, and a winner holds the lock until its stdin closes (after every child answered).
  const script = `
    import(${JSON.stringify(new URL('../../src/lock.js', import.meta.url).href)}).then(async ({ acquireLock }) => {
      process.stdout.write('READY\\n');
      process.stdin.setEncoding('utf8');
      let l;
      for await (const chunk of process.stdin) {
        if (!l && chunk.includes('go')) {
          l = await acquireLock(${JSON.stringify(dir)}, 'race');
          process.stdout.write(l.acquired ? 'WON\\n' : 'LOST\\n');
        }
      }
      if (l?.acquired) await l.release();
    });`;
  for (let round = 0; round < 5; round++) {
    writeFileSync(join(dir, 'race.lock'), '999999 1 dead\n'); // stale
    const children = Array.from({ length: 10 }, () => spawn(process.execPath, ['--input-type=module', '-e', script]));
    const lines = children.map((c) => {
      let out = '';
      return new Promise<string>((resolve) => c.stdout.on('data', (d) => { out += d; if (/(WON|LOST)\n/.test(out)) resolve(out); }))
        .then(() => out);
    });
    await Promise.all(children.map((c) => new Promise((r) => c.stdout.once('data', r))));
    for (const c of children) c.stdin.write('go\n');
    const outs = await Promise.all(lines);
    for (const c of children) c.stdin.end();
    await Promise.all(children.map((c) => new Promise((r) => c.on('exit', r))));
    const won = outs.filter((o) => o.includes('WON')).length;
    assert.equal(won, 1, `round ${round}: ${outs.map((o) => o.trim().replace('READY\n', '')).join(',')}`);
  }
});
