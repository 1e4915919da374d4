// `lm-probe inventory` and the inventory behind every probe, on the lab node: libvirt's test
// driver serving the lab's domains with Nova metadata, the lab's own OVS, and a fake OpenStack
// API speaking the documented Keystone, Nova and Neutron endpoints.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { heal, injectFault, labDown, labUp, type LabEnv } from '../lab/lab.js';
import { writeLibvirtNode } from '../lab/libvirt.js';
import { labUnavailableReason } from '../lab/netns.js';
import { requireLab } from '../lab/require.js';
import { lmProbe, lmProbeAsync, variantConfig } from '../support/cli.js';
import { makeServers, startFakeOpenStack, type FakeOpenStack } from '../support/fake-openstack.js';

const canLab = labUnavailableReason() === null;

interface JsonPort { id: string; tap?: string; mac?: string; ips: string[]; ofport?: number; bridge?: string; sources: string[]; origin: Record<string, string> }
interface JsonInstance { uuid: string; name?: string; displayName?: string; state: string; ports: JsonPort[]; sources: string[]; origin: Record<string, string> }
interface JsonInventory { host: string; instances: JsonInstance[]; sources: { source: string; state: string; detail: string }[]; findings: string[]; cacheAgeS?: number; processes_spawned: number }

const inventory = (config: string, extra: string[] = []) => {
  const r = lmProbe(['inventory', '--json', '--config', config, ...extra]);
  return { code: r.code, doc: JSON.parse(r.stdout || '{}') as JsonInventory, stderr: r.stderr };
};

describe('inventory on the lab node', () => {
  let lab: LabEnv | undefined;
  let fake: FakeOpenStack | undefined;
  before(async () => {
    if (!canLab) return;
    lab = labUp({ instances: 6 });
  });
  after(async () => {
    await fake?.close();
    if (lab) labDown(lab);
  });

  test('libvirt + OVS: matches what the lab built, instance by instance, in 3 processes', (t) => {
    if (!requireLab(t)) return;
    const { code, doc } = inventory(lab!.configFile);
    assert.equal(code, 0, JSON.stringify(doc.sources));
    assert.deepEqual(doc.sources.map((s) => [s.source, s.state]), [['libvirt', 'ok'], ['ovs', 'ok']]);
    assert.equal(doc.instances.length, lab!.instances.length);
    for (const li of lab!.instances) {
      const inst = doc.instances.find((i) => i.uuid === li.uuid);
      assert.ok(inst, `instance ${li.uuid} missing`);
      assert.equal(inst.name, li.name);
      assert.equal(inst.state, 'running');
      assert.deepEqual(inst.sources, ['libvirt', 'ovs']);
      assert.equal(inst.ports.length, 1);
      const [p] = inst.ports;
      assert.deepEqual([p.id, p.tap, p.mac, p.ips], [li.portId, li.tap, li.mac, [li.ip]]);
      assert.equal(p.origin.ips, 'libvirt', 'IPs come from the nova:ports metadata');
      assert.ok(p.ofport! > 0, `ofport of ${li.tap}: ${p.ofport}`);
      assert.equal(p.origin.ofport, 'ovs');
      assert.equal(p.bridge, 'br-int');
    }
    assert.deepEqual(doc.findings, []);
    assert.equal(doc.processes_spawned, 3, 'virsh list + one virsh batch + one ovs-vsctl');
  });

  test('the table shows one row per port and each source', (t) => {
    if (!requireLab(t)) return;
    const r = lmProbe(['inventory', '--config', lab!.configFile]);
    assert.equal(r.code, 0);
    const li = lab!.instances[0];
    assert.match(r.stdout, /^INSTANCE +NAME +STATE +PORT +IPS +TAP +OFPORT +SOURCES$/m);
    assert.match(r.stdout, new RegExp(`^${li.uuid} +${li.name} +running +${li.portId.slice(0, 8)} +${li.ip.replace(/\./g, '\\.')} +${li.tap} +\\d+ +libvirt,ovs$`, 'm'));
    assert.match(r.stdout, /^ {2}libvirt +ok +6 instances in \d+ ms$/m);
  });

  test('a dead ovsdb: degraded, the cache stands in, instance-routed still runs and says so', (t) => {
    if (!requireLab(t)) return;
    assert.equal(inventory(lab!.configFile).code, 0); // a good run writes the cache
    const cfg = variantConfig(lab!.configFile, 'dead-ovsdb', { ovs: { db: `unix:${join(lab!.dir, 'no-such-db.sock')}` } });
    const { code, doc } = inventory(cfg);
    assert.equal(code, 1);
    const ovs = doc.sources.find((s) => s.source === 'ovs')!;
    assert.equal(ovs.state, 'failed');
    assert.match(ovs.detail, /^ovs-vsctl: .*no-such-db\.sock/);
    assert.ok(!ovs.detail.includes('\n'));
    const cache = doc.sources.find((s) => s.source === 'cache')!;
    assert.match(cache.detail, /^6 instances from \d+s ago, standing in for ovs$/);
    const p = doc.instances[0].ports[0];
    assert.equal(p.origin.ofport, 'cache', 'OVS facts come from the cache');
    const probe = lmProbe(['instance-routed', '--config', cfg]);
    assert.equal(probe.code, 0, probe.stdout);
    assert.match(probe.stdout, /^inventory degraded: ovs: ovs-vsctl: /m);
  });

  test('libvirt down and only a stale cache: instance-routed ends UNKNOWN with the reason, never OK', (t) => {
    if (!requireLab(t)) return;
    assert.equal(inventory(lab!.configFile).code, 0); // a good run writes the cache...
    const cfg = variantConfig(lab!.configFile, 'stale-cache', { inventory: { libvirt: { uri: `test://${join(lab!.dir, 'gone.xml')}` }, cache: { max_age: 60 } } });
    const cachePath = join(lab!.dir, 'cache', 'inventory.json');
    const doc = JSON.parse(readFileSync(cachePath, 'utf8'));
    writeFileSync(cachePath, JSON.stringify({ ...doc, savedAt: Date.now() - 3_600_000 })); // ...an hour ago
    const r = lmProbe(['instance-routed', '--config', cfg]);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    const [line, ...details] = r.stdout.trimEnd().split('\n');
    // OVS still names the instances, but not their IPs: nothing can be checked, and it says why.
    assert.match(line, /^INSTANCE-ROUTED UNKNOWN - nothing checked while the inventory is degraded: /);
    assert.ok(details.some((d) => /^inventory degraded: libvirt: virsh: failed to connect to the hypervisor/.test(d)), r.stdout);
    assert.ok(details.includes('inventory cache not used: cache is 3600s old (max_age 60s)'), r.stdout);
  });

  test('a hanging virsh is named, and the probe still reports in time', (t) => {
    if (!requireLab(t)) return;
    assert.equal(inventory(lab!.configFile).code, 0); // fresh cache
    const shim = join(lab!.dir, 'shim-virsh-hang');
    mkdirSync(shim, { recursive: true });
    writeFileSync(join(shim, 'virsh'), '#!/bin/sh\nexec sleep 300\n');
    chmodSync(join(shim, 'virsh'), 0o755);
    const started = Date.now();
    const r = lmProbe(['instance-routed', '--timeout', '6', '--config', lab!.configFile], { env: { ...process.env, PATH: `${shim}:${process.env.PATH}` }, timeoutMs: 30_000 });
    assert.ok(Date.now() - started < 15_000, 'bounded by the deadline');
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^inventory degraded: libvirt: virsh timed out after 3s$/m);
  });

  test('no source can name the instances: UNKNOWN naming each', (t) => {
    if (!requireLab(t)) return;
    const cfg = variantConfig(lab!.configFile, 'nothing', {
      inventory: { libvirt: { uri: `test://${join(lab!.dir, 'missing-node.xml')}` }, cache: { max_age: 0 } },
      ovs: { db: `unix:${join(lab!.dir, 'no-such-db.sock')}` },
    });
    assert.equal(inventory(cfg).code, 3);
    const r = lmProbe(['instance-routed', '--config', cfg]);
    assert.equal(r.code, 3);
    assert.match(r.stdout, /^INSTANCE-ROUTED UNKNOWN - no inventory: libvirt: virsh: .*; ovs: ovs-vsctl: .*\n$/);
  });

  test('a shut-off domain is not scanned', (t) => {
    if (!requireLab(t)) return;
    const shutoff = lab!.instances[1];
    injectFault(lab!, shutoff.index, 'dead'); // (rewrites the lab's files: states come after)
    writeLibvirtNode(lab!, { states: { [shutoff.index]: 'shutoff' } });
    try {
      const { doc } = inventory(lab!.configFile);
      assert.equal(doc.instances.find((i) => i.uuid === shutoff.uuid)!.state, 'shutoff');
      const r = lmProbe(['instance-routed', '--config', lab!.configFile]);
      assert.equal(r.code, 0, r.stdout);
      assert.match(r.stdout, /^INSTANCE-ROUTED OK - 5 IPs of 5 instances answer/);
    } finally {
      heal(lab!, shutoff.index);
      writeLibvirtNode(lab!);
    }
  });

  test('Nova and Neutron join in; their disagreements become findings', async (t) => {
    if (!requireLab(t)) return;
    const host = `${lab!.prefix}-node1`;
    const { servers, ports } = makeServers(7, host); // one server more than libvirt has
    fake = await startFakeOpenStack({ servers, ports });
    const cfg = variantConfig(lab!.configFile, 'with-openstack', {
      inventory: {
        sources: ['libvirt', 'ovs', 'openstack'],
        openstack: {
          auth: { auth_url: fake.authUrl, username: 'lm-probe', password: 'correct horse battery staple', project_name: 'admin' },
          token_cache: join(lab!.dir, 'token.json'),
        },
      },
    });
    // Asynchronously: the fake API lives in this process and must keep answering meanwhile.
    const run = await lmProbeAsync(['inventory', '--json', '--config', cfg]).done;
    const doc = JSON.parse(run.stdout) as JsonInventory;
    assert.equal(run.code, 0, JSON.stringify(doc.sources));
    assert.equal(doc.sources.find((s) => s.source === 'openstack')!.state, 'ok');
    assert.equal(fake.count('nova'), 1);
    assert.equal(fake.count('neutron'), 1);
    const first = doc.instances.find((i) => i.uuid === lab!.instances[0].uuid)!;
    assert.deepEqual(first.sources, ['libvirt', 'ovs', 'openstack']);
    assert.equal(first.displayName, 'lab-vm-1');
    const extra = servers[6];
    assert.ok(doc.findings.includes(`${extra.instanceName} (${extra.id}): Nova places it on ${host}, but libvirt has no such domain`), doc.findings.join('\n'));
    assert.ok(doc.findings.some((f) => f.startsWith(`port ${ports[6].id} of `) && f.endsWith('but no OVS interface')), doc.findings.join('\n'));
    assert.ok(existsSync(join(lab!.dir, 'token.json')));
  });
});
