// exec.run shares one 'abort' listener per signal: a probe's commands side by side never trip
// Node's MaxListenersExceededWarning (seen on stderr with 11 re-checks at once).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../../src/host/exec.js';

test('bug 0: 20 commands at once on one probe signal: no MaxListenersExceededWarning, and the abort still reaches them all', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    const ac = new AbortController();
    const fine = await Promise.all(Array.from({ length: 20 }, () => run('true', [], { timeoutMs: 5000, signal: ac.signal })));
    assert.equal(fine.length, 20);
    const hanging = Array.from({ length: 20 }, () => run('sleep', ['30'], { timeoutMs: 20_000, signal: ac.signal }).then(() => 'ended', (e: Error) => e.message));
    setTimeout(() => ac.abort(), 200);
    assert.deepEqual(new Set(await Promise.all(hanging)), new Set(['sleep cancelled: probe deadline reached']));
    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
  } finally {
    process.off('warning', onWarning);
  }
});
