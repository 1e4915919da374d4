/**
 * instance-placement and migrations with the OpenStack side: the lab node (libvirt's test
 * driver, its own OVS) and a fake Nova and Neutron serving what operators meet after failed
 * migrations: a server Nova places on another host while it runs here, servers Nova places
 * here without a domain (one arriving), a port bound to the old host, a port with a second,
 * INACTIVE binding, a VERIFY_RESIZE left for hours, failed os-migrations. Then the cost at 6 and
 * 500 instances, a tenth of them wrong: the same processes, bounded requests.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { identity } from '../lab/identity.js';
import { addInstance, labDown, labUp, type LabEnv, type LabInstance } from '../lab/lab.js';
import { writeLibvirtNode } from '../lab/libvirt.js';
import { findTool, labUnavailableReason, uniquePrefix } from '../lab/netns.js';
import { requireLab } from '../lab/require.js';
import { assertNoStack, lmProbeAsync, variantConfig } from '../support/cli.js';
import { makeServers, startFakeOpenStack, type FakeOpenStack } from '../support/fake-openstack.js';

type Result = { status_text: string; summary: string; details: string[]; perfdata: { label: string; value: number }[] };
/** Asynchronously: the fake API lives in this process and must keep answering meanwhile. */
async function probe(name: string, config: string): Promise<Result & { spawned: number; trace: string }> {
  const r = await lmProbeAsync([name, '--json', '--debug', '--config', config]).done;
  assertNoStack(r);
  const doc = JSON.parse(r.stdout) as { processes_spawned: number; results: Result[] };
  return { ...doc.results[0], spawned: doc.processes_spawned, trace: r.stderr };
}
const perf = (r: Result, label: string) => r.perfdata.find((p) => p.label === label)?.value;
const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString().replace('Z', '');
const HOUR = 3600_000;

const auth = (fake: FakeOpenStack, dir: string) => ({
  auth: { auth_url: fake.authUrl, username: 'lm-probe', password: 'correct horse battery staple', project_name: 'admin' },
  token_cache: join(dir, 'token.json'),
});

// Started here, so it lives as long as this file's tests (it stops in the file's after hook).
const fake = await startFakeOpenStack();

describe('instance-placement and migrations with Nova and Neutron', () => {
  let lab: LabEnv | undefined;
  let cfg: string;
  let host: string;
  before(async () => {
    if (labUnavailableReason() !== null) return; // each test says so
    lab = labUp({ instances: 6 });
    host = `${lab.prefix}-node1`;
    const { servers, ports } = makeServers(10, host);
    const other = `${lab.prefix}-node2`;
    servers[1].host = other; // instance 2 runs here, Nova places it there
    ports[2].host = other; // instance 3's port is still bound to the old host
    // Instance 7 is on the other node until it migrates here (the second test).
    servers[6].host = other;
    ports[6].host = other;
    Object.assign(servers[8], { status: 'RESIZE', taskState: 'resize_migrating', updated: new Date().toISOString() }); // 9: arriving
    Object.assign(servers[9], { status: 'VERIFY_RESIZE', vmState: 'resized', updated: new Date(Date.now() - 2 * HOUR).toISOString() }); // 10
    const migrations = [
      { id: 1, instanceUuid: servers[4].id, source: other, dest: host, status: 'error', updatedAt: iso(HOUR) },
      { id: 2, instanceUuid: servers[3].id, source: other, dest: host, status: 'completed', updatedAt: iso(HOUR) },
      { id: 3, instanceUuid: servers[5].id, source: host, dest: other, status: 'error', updatedAt: iso(72 * HOUR) },
      { id: 4, instanceUuid: servers[9].id, source: other, dest: host, status: 'finished', type: 'resize' as const, updatedAt: iso(2 * HOUR) },
    ];
    Object.assign(fake, { servers, ports, migrations });
    cfg = variantConfig(lab.configFile, 'with-openstack', { inventory: { sources: ['libvirt', 'ovs', 'openstack'], openstack: auth(fake, lab.dir) } });
  });
  after(() => {
    if (lab) labDown(lab);
  });

  test('placement: elsewhere and missing are CRITICAL, the arriving one is not, the port bound to the old host warns', async (t) => {
    if (!requireLab(t)) return;
    fake.reset();
    const r = await probe('instance-placement', cfg);
    const [i2, i3] = [lab!.instances[1], lab!.instances[2]];
    assert.equal(r.status_text, 'CRITICAL', r.details.join('\n'));
    assert.equal(r.summary, '1 running here but not placed here by Nova, 2 placed here by Nova without a domain, 1 port binding problem');
    assert.deepEqual([perf(r, 'domains'), perf(r, 'elsewhere'), perf(r, 'missing'), perf(r, 'ports')], [6, 1, 2, 1]);
    assert.ok(r.details.includes(`${i2.name} "lab-vm-2" (${i2.uuid}): running here, but Nova places it on ${lab!.prefix}-node2 (ACTIVE) (find which copy Nova runs before stopping one: two copies corrupt its disk)`), r.details.join('\n'));
    assert.ok(r.details.some((d) => d.startsWith(`port ${i3.portId} of ${i3.name} "lab-vm-3" (${i3.uuid}): bound to ${lab!.prefix}-node2 in Neutron, not ${host}`)), r.details.join('\n'));
    assert.ok(r.details.some((d) => d.includes(identity(9).uuid) && d.endsWith(`(RESIZE, task resize_migrating), but libvirt has no such domain: arriving`)));
    assert.deepEqual(r.details.slice(0, 3).map((d) => /no such domain \(nova reset-state|Nova places it on/.test(d)), [true, true, true], 'CRITICAL first');
    // Requests: the two lists, one server lookup, one ports?id= lookup; no bindings (no recent arrival).
    assert.equal(fake.requests.filter((q) => q.service === 'nova' && q.path.endsWith(`/servers/${i2.uuid}`)).length, 1);
    assert.equal(fake.requests.filter((q) => q.service === 'neutron' && q.query.id === i3.portId).length, 1);
    assert.equal(fake.requests.filter((q) => q.path.endsWith('/bindings')).length, 0);
  });

  test('placement: an instance that arrives with a second, INACTIVE port binding warns about it', async (t) => {
    if (!requireLab(t)) return;
    await probe('instance-placement', cfg); // the presence record knows every instance from before
    // It migrates here: its domain appears, Nova and Neutron move it, the old binding stays.
    const i7: LabInstance = addInstance(lab!);
    fake.servers[6].host = host;
    Object.assign(fake.ports[6], { host, bindings: [{ host, status: 'ACTIVE' }, { host: `${lab!.prefix}-node2`, status: 'INACTIVE' }] });
    fake.reset();
    const r = await probe('instance-placement', cfg);
    assert.ok(r.details.includes(`port ${i7.portId} of ${i7.name} "lab-vm-7" (${i7.uuid}): a second binding to ${lab!.prefix}-node2 is left, INACTIVE (DELETE /v2.0/ports/${i7.portId}/bindings/${lab!.prefix}-node2)`), r.trace);
    assert.equal(perf(r, 'missing'), 2);
    assert.equal(fake.requests.filter((q) => q.path.endsWith('/bindings')).length, 1, 'only the new arrival\'s port');
  });

  test('migrations: VERIFY_RESIZE for 2 h with no domain is CRITICAL (resize-revert), a failed migration warns, compute 2.80', async (t) => {
    if (!requireLab(t)) return;
    fake.reset();
    const r = await probe('migrations', cfg);
    const s10 = identity(10);
    assert.equal(r.status_text, 'CRITICAL', r.details.join('\n'));
    assert.equal(r.summary, '0 active migrations: 1 stuck in Nova, 1 failed in Nova; libvirt jobs not checked (this libvirt driver keeps no job statistics)');
    assert.match(r.details[0], new RegExp(`^${s10.name} "lab-vm-10" \\(${s10.uuid}\\): VERIFY_RESIZE in Nova for 2\\.0 h \\(stuck after 30 min\\) \\(migration 4 resize ${lab!.prefix}-node2 → ${host}, finished\\): nova resize-revert ${s10.uuid}: no domain here, nothing was copied$`));
    const i5 = lab!.instances[4];
    assert.equal(r.details[1], `${i5.name} "lab-vm-5" (${i5.uuid}): live-migration 1 from ${lab!.prefix}-node2 to ${host} error at ${fake.migrations[0].updatedAt} (nova migration-list --instance-uuid ${i5.uuid}; check the instance runs where Nova says)`);
    assert.equal(r.details.length, 2, 'the error 3 days ago is outside lookback');
    const list = fake.requests.filter((q) => q.path.endsWith('/os-migrations'));
    assert.equal(list.length, 1);
    assert.equal(list[0].apiVersion, 'compute 2.80');
    assert.equal(list[0].query.host, host);
    assert.ok(list[0].query['changes-since']);
  });
});

describe('the cost at 6 and 500 instances, a tenth of them wrong', () => {
  const root = join('/tmp', uniquePrefix());
  after(() => rmSync(root, { recursive: true, force: true }));

  /** A node of n test-driver domains and a fake Nova placing every tenth elsewhere. */
  async function node(n: number): Promise<{ fake: FakeOpenStack; config: string }> {
    const dir = join(root, `n${n}`);
    mkdirSync(dir, { recursive: true });
    const instances = Array.from({ length: n }, (_, k) => ({ ...identity(k + 1), ns: 'unused', fault: null }));
    const uri = writeLibvirtNode({ dir, instances });
    const { servers, ports } = makeServers(n, 'cmp1');
    servers.forEach((s, k) => k % 10 === 0 && (s.host = 'cmp2'));
    const fake = await startFakeOpenStack({ servers, ports });
    const config = join(dir, 'config.yaml');
    writeFileSync(config, stringify({
      host: 'cmp1', state_dir: join(dir, 'state'), lock_dir: join(dir, 'lock'),
      inventory: { sources: ['libvirt', 'openstack'], libvirt: { uri }, openstack: auth(fake, dir), cache: { path: join(dir, 'inventory.json') } },
    }));
    return { fake, config };
  }

  test('instance-placement: 2 processes; 1 lookup per wrong domain up to lookup_max; migrations: 3 processes', async (t) => {
    if (!requireLab(t)) return;
    for (const n of [6, 500]) {
      const { fake, config } = await node(n);
      const p = await probe('instance-placement', config);
      assert.equal(p.status_text, 'CRITICAL');
      assert.equal(perf(p, 'elsewhere'), n / 10 > 1 ? 50 : 1);
      assert.equal(p.spawned, 2, 'virsh list + one virsh batch');
      assert.equal(fake.requests.filter((q) => /\/servers\/[0-9a-f-]{36}$/.test(q.path)).length, Math.min(10, Math.ceil(n / 10)));
      const m = await probe('migrations', config);
      assert.equal(m.status_text, 'OK', m.summary);
      assert.equal(m.spawned, 3, 'the inventory + ONE virsh domjobinfo batch');
      t.diagnostic(`${n} instances: instance-placement ${p.spawned} processes, migrations ${m.spawned}; ${fake.requests.length} HTTP requests in all`);
    }
  });

  test('a virsh domjobinfo that hangs: migrations is UNKNOWN naming it, within its deadline; Nova is still checked', async (t) => {
    if (!requireLab(t)) return;
    const { config } = await node(6);
    const shim = join(root, 'shim-domjobinfo-hang');
    mkdirSync(shim, { recursive: true });
    writeFileSync(join(shim, 'virsh'), `#!/bin/sh\ncase "$*" in *domjobinfo*) exec sleep 300;; esac\nexec ${findTool('virsh')} "$@"\n`, { mode: 0o755 });
    const started = Date.now();
    const r = await lmProbeAsync(['migrations', '--timeout', '8', '--config', config], { ...process.env, PATH: `${shim}:${process.env.PATH}` }).done;
    assert.ok(Date.now() - started < 20_000, 'bounded by the deadline');
    assertNoStack(r);
    assert.equal(r.code, 3, r.stdout);
    assert.match(r.stdout, /^MIGRATIONS UNKNOWN - 0 active migrations; libvirt jobs not checked \(virsh timed out after [\d.]+s\) \|/);
  });
});
