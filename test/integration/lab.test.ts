/**
 * The lab node itself, checked with the real tools from inside its link namespace: each fault
 * must look exactly as documented before any probe is tested against it.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { heal, labDown, labUp, type LabEnv, type LabInstance } from '../lab/lab.js';
import { listNamespaces, nsArping, nsPing } from '../lab/netns.js';
import { requireLab } from '../lab/require.js';

let env: LabEnv | undefined;
after(() => {
  if (env) labDown(env); // also on failure; labDown is idempotent
});

/** The link namespace's /32 routes, as `ip -j route` reports them. */
function hostRoutes(linkNs: string): { dst: string; dev?: string; type?: string }[] {
  const r = spawnSync('ip', ['-n', linkNs, '-j', 'route'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { dst: string; dev?: string; type?: string }[];
}

const hasRoute = (e: LabEnv, i: LabInstance): boolean => hostRoutes(e.linkNs).some((r) => r.dst === i.ip && r.dev === i.tap);
const ping = (e: LabEnv, i: LabInstance): boolean => nsPing(e.linkNs, i.ip, 1);
const arping = (e: LabEnv, i: LabInstance): boolean => nsArping(e.linkNs, i.tap, i.ip, 1);

test('lab node: healthy instance and the three faults, as the real tools see them', async (t) => {
  if (!requireLab(t)) return;
  env = labUp({ instances: 4, faults: { 2: 'no-route', 3: 'drop-icmp', 4: 'dead' } });
  const e = env;
  const [ok, noRoute, dropIcmp, dead] = e.instances;

  await t.test('files and routes are in place', () => {
    for (const f of [e.inventoryFile, e.configFile, `${e.dir}/lab.json`]) assert.ok(existsSync(f), f);
    assert.ok(hostRoutes(e.linkNs).some((r) => r.type === 'unreachable' && r.dst === '198.18.0.0/15'));
    assert.ok(!hostRoutes(e.linkNs).some((r) => r.dst === 'default'), 'link namespace must have no default route');
  });
  await t.test('instance 1 is healthy', () => {
    assert.ok(hasRoute(e, ok));
    assert.ok(ping(e, ok), 'ping answered');
    assert.ok(arping(e, ok), 'arping answered');
  });
  await t.test('no-route: no /32 route, no ping, but ARP on its tap answers', () => {
    assert.ok(!hasRoute(e, noRoute));
    assert.ok(!ping(e, noRoute), 'ping must fail');
    assert.ok(arping(e, noRoute), 'arping on the tap must answer');
  });
  await t.test('drop-icmp: route present, no ping, ARP answers', () => {
    assert.ok(hasRoute(e, dropIcmp));
    assert.ok(!ping(e, dropIcmp), 'ping must fail');
    assert.ok(arping(e, dropIcmp), 'arping must answer');
  });
  await t.test('dead: route present, neither ping nor ARP answers', () => {
    assert.ok(hasRoute(e, dead));
    assert.ok(!ping(e, dead), 'ping must fail');
    assert.ok(!arping(e, dead), 'arping must fail');
  });
  await t.test('heal brings a dead instance back', () => {
    heal(e, dead.index);
    assert.equal(dead.fault, null);
    assert.ok(ping(e, dead), 'ping answered after heal');
  });
  await t.test('labDown leaves no namespace and no dir', () => {
    labDown(e);
    assert.deepEqual(listNamespaces().filter((ns) => ns.startsWith(`${e.prefix}-`)), []);
    assert.ok(!existsSync(e.dir), `${e.dir} removed`);
  });
});
