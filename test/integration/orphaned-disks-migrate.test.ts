/**
 * orphaned-disks on a two-node lab (libvirt test driver, OVS, the nova disk tree on each node):
 * the lab's own disk faults (injectFault) and a migration that leaves the instance's dir on the
 * source (`migrate --leave disk`) each give their finding on node 1, and node 2 stays OK.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { clusterDown, clusterUp, type Cluster } from '../lab/cluster.js';
import { disksUnavailableReason, instanceDir } from '../lab/disks.js';
import { heal, injectFault } from '../lab/lab.js';
import { migrate } from '../lab/migrate.js';
import { requireLab, requirePart } from '../lab/require.js';
import { lmProbe } from '../support/cli.js';

let cluster: Cluster | undefined;
after(() => {
  if (cluster) clusterDown(cluster); // idempotent; also on failure
});

const probe = (config: string) => lmProbe(['orphaned-disks', '--config', config]);

test('lab disk faults and migrate --leave disk, seen on the right node', { timeout: 120_000 }, async (t) => {
  if (!requireLab(t) || !requirePart(t, 'disk tree', disksUnavailableReason())) return;
  const c = (cluster = clusterUp({ instances: 3, nodes: 2, disks: true, libvirt: 'test' }));
  const [n1, n2] = c.nodes;

  await t.test('both nodes healthy: OK', () => {
    assert.equal(probe(n1.configFile).code, 0);
    const r = probe(n2.configFile);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^ORPHANED-DISKS OK - 0 instance dirs hosted here/);
  });

  // Fresh faults are younger than min_age: WARNING, each named. (Aged ones: orphaned-disks.test.ts.)
  const cases: [string, Parameters<typeof injectFault>[2], RegExp][] = [
    ['orphan-disk', 'orphan-disk', /\norphan: .*\/instances\/[0-9a-f-]{36} \(\d+ KiB, \d+ s old\): no instance hosted here; not compared with Nova; younger than min_age/],
    ['resize-leftover', 'resize-leftover', /\nleftover: .*_resize \(\d+ KiB, \d+ s old\): resize\/cold-migration leftover/],
    ['del-leftover', 'del-leftover', /\nleftover: .*_del \(\d+ KiB, \d+ s old\): leftover of an interrupted delete/],
    ['missing-backing', 'missing-backing', /\nmissing-backing: .*\/disk \(\d+ s old\): backing file .*_base\/[0-9a-f]{40} is missing \(instance-00000002, hosted here: it cannot boot again\); younger than min_age/],
  ];
  for (const [name, fault, line] of cases) {
    await t.test(`lab fault ${name}: WARNING with its finding`, () => {
      injectFault(n1, 2, fault);
      const r = probe(n1.configFile);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, line);
      assert.equal(r.stdout.trim().split('\n').length, 2, 'exactly one finding');
      heal(n1, 2);
      assert.equal(probe(n1.configFile).code, 0, 'healed');
    });
  }

  await t.test('migrate --leave disk: the source keeps the dir (an orphan), the destination is fine', () => {
    const moved = migrate(n1, n2, 1, { leave: ['disk'] });
    const r1 = probe(n1.configFile);
    assert.equal(r1.code, 1, r1.stdout);
    assert.match(r1.stdout, /^ORPHANED-DISKS WARNING - 1 orphan: \d+ KiB reclaimable \| instances=2;/);
    assert.ok(r1.stdout.includes(`\norphan: ${instanceDir(n1.disks!, moved.uuid)} (`), r1.stdout);
    const r2 = probe(n2.configFile);
    assert.equal(r2.code, 0, r2.stdout);
    assert.match(r2.stdout, /^ORPHANED-DISKS OK - 1 instance dir hosted here/);
    assert.ok(readdirSync(n2.disks!.root).includes(moved.uuid));
    // The reaper sees the same orphan; too young to take.
    const reap = lmProbe(['reap-disks', '--config', n1.configFile]);
    assert.equal(reap.code, 1, reap.stdout);
    assert.ok(reap.stdout.includes(`skipped ${join(n1.disks!.root, moved.uuid)}: younger than min_age`), reap.stdout);
  });
});
