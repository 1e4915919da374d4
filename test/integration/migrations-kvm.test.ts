/**
 * `migrations` and `instance-placement` against real KVM live migrations between the two lab
 * nodes' libvirtd: a migration slowed on the migration link (throttleMigration) is seen in
 * progress, then over max_duration with the force-complete advice, then, its stream stopped,
 * not converging over the samples kept between runs; aborted, it is gone. `--leave domain`
 * leaves the source domain "shut off (migrated)", which instance-placement reports.
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clusterDown, clusterUp, throttleMigration, type Cluster } from '../lab/cluster.js';
import { kvmUnavailableReason, startLiveMigration, virsh, type KvmNode } from '../lab/kvm.js';
import { migrate } from '../lab/migrate.js';
import { findTool } from '../lab/netns.js';
import { sleep, stopPid } from '../lab/procs.js';
import { requireLab, requirePart } from '../lab/require.js';
import { assertNoStack, lmProbe, lmProbeAsync, variantConfig } from '../support/cli.js';
import { makeServers, startFakeOpenStack } from '../support/fake-openstack.js';

let cluster: Cluster | undefined;
after(() => {
  if (cluster) clusterDown(cluster); // idempotent; also on failure
});

// Nova's side of the same migration; started here so it answers for the whole file.
const fake = await startFakeOpenStack();

const requireKvm = (t: TestContext): boolean => requirePart(t, 'KVM lab', kvmUnavailableReason());

type Doc = { processes_spawned: number; results: { status_text: string; summary: string; details: string[]; perfdata: { label: string; value: number }[] }[] };
function probe(name: string, config: string): Doc['results'][number] & { spawned: number; text: string } {
  const text = lmProbe([name, '--config', config]);
  assertNoStack(text);
  const r = lmProbe([name, '--json', '--config', config]);
  const doc = JSON.parse(r.stdout) as Doc;
  return { ...doc.results[0], spawned: doc.processes_spawned, text: text.stdout };
}

/** Wait until the source's job is an outgoing migration in progress. */
function waitForJob(k: KvmNode, name: string): void {
  for (let k2 = 0; k2 < 100; k2++) {
    if (/^Operation: +Outgoing migration/m.test(virsh(k.uri, ['domjobinfo', name]))) return;
    sleep(100);
  }
  throw new Error(`no migration job for ${name}`);
}

test('KVM: a slow migration in progress, over max_duration, not converging, aborted; a domain left shut off (migrated)', { timeout: 180_000 }, async (t) => {
  if (!requireLab(t) || !requireKvm(t)) return;
  const c = (cluster = clusterUp({ instances: 2, nodes: 2, libvirt: 'kvm' }));
  const [n1, n2] = c.nodes;
  const k1 = n1.kvm as KvmNode;
  const [i1] = n1.instances;
  // Samples 1 s apart see a throttled stream move in steps: judge convergence over 20 samples
  // (never, here) until the stream is stopped, then over 2 (cron runs are minutes apart).
  const cfg = variantConfig(n1.configFile, 'migrations', { probes: { migrations: { max_duration: 2, samples: 20 }, 'instance-placement': { grace: 0 } } });
  const cfgTwoSamples = variantConfig(n1.configFile, 'migrations-2', { probes: { migrations: { max_duration: 2, samples: 2 } } });

  const quiet = probe('migrations', cfg);
  assert.equal(quiet.status_text, 'OK');
  assert.equal(quiet.summary, '0 active migrations; Nova not checked (no OpenStack source)');
  const baseline = quiet.spawned;
  assert.equal(baseline, 4, 'the inventory (virsh list, virsh batch, ovs-vsctl) and ONE virsh domjobinfo batch');

  throttleMigration(n1, 80);
  const job = startLiveMigration(k1, n2.kvm!, i1.name);
  try {
    waitForJob(k1, i1.name);
    const early = probe('migrations', cfg);
    assert.match(early.summary, /^1 active migration \(longest \d+ s\)/);
    assert.match(early.details[0], new RegExp(`^${i1.name} "lab-vm-1" \\(${i1.uuid}\\): outgoing live migration for \\d+ s \\(max 2 s\\), (setting up|\\d+% of memory left \\([\\d.]+ [KM]iB of 128\\.5 MiB\\), [\\d.]+ [KM]iB processed)`));
    assert.equal(early.spawned, baseline, 'the same processes with a migration in progress');

    sleep(4500); // over twice max_duration
    const late = probe('migrations', cfg);
    assert.equal(late.status_text, 'CRITICAL', late.text);
    assert.match(late.details[0], new RegExp(`still converging: wait, or nova live-migration-force-complete ${i1.uuid} <migration> to finish now$`));
    t.diagnostic(late.text.trim());

    // With Nova: its record of the migration beside libvirt's view, and its id in the advice.
    const [h1, h2] = [`${n1.prefix}-node1`, n2.host!];
    const { servers, ports } = makeServers(2, h1);
    Object.assign(servers[0], { status: 'MIGRATING', taskState: 'migrating', updated: new Date().toISOString() });
    Object.assign(fake, { servers, ports, migrations: [{ id: 42, instanceUuid: i1.uuid, source: h1, dest: h2, status: 'running', memory: { total: 134750208, processed: 180000, remaining: 104857600 } }] });
    const novaCfg = variantConfig(cfg, 'migrations-nova', {
      inventory: { sources: ['libvirt', 'ovs', 'openstack'], openstack: { auth: { auth_url: fake.authUrl, username: 'lm-probe', password: 'correct horse battery staple', project_name: 'admin' }, token_cache: join(n1.dir, 'token.json') } },
    });
    const withNova = await lmProbeAsync(['migrations', '--config', novaCfg]).done;
    assert.match(withNova.stdout, new RegExp(`; Nova: migration 42 running to ${h2}, 100\\.0 MiB of memory remaining — still converging: wait, or nova live-migration-force-complete ${i1.uuid} 42 to finish now$`, 'm'), withNova.stdout);
    assert.equal(fake.requests.filter((q) => q.path.endsWith(`/servers/${i1.uuid}/migrations`) && q.apiVersion === 'compute 2.80').length, 1);
    t.diagnostic(withNova.stdout.trim());

    // The stream stopped: memory remaining stays put over 2 samples.
    throttleMigration(n1, 0);
    sleep(1500);
    probe('migrations', cfgTwoSamples);
    sleep(1500);
    const stalled = probe('migrations', cfgTwoSamples);
    assert.match(stalled.summary, /^1 active migration \(longest \d+ s\): 1 not converging; Nova not checked \(no OpenStack source\)$/);
    assert.match(stalled.details[0], /not converging \(memory remaining not decreasing over 2 samples \([\d.]+ MiB → [\d.]+ MiB in \d+ s\)\): nova live-migration-force-complete .* \(pauses the guest to finish\), or nova live-migration-abort .*live_migration_permit_auto_converge or live_migration_permit_post_copy/);
    assert.equal(stalled.perfdata.find((p) => p.label === 'not_converging')?.value, 1);
    t.diagnostic(stalled.text.trim());
  } finally {
    virsh(k1.uri, ['domjobabort', i1.name]);
    await job.done;
    throttleMigration(n1, null);
  }
  assert.equal(virsh(k1.uri, ['domstate', i1.name]).trim(), 'running', 'the aborted migration leaves it running here');
  const after = probe('migrations', cfg);
  assert.equal(after.status_text, 'OK');
  assert.equal(after.summary, '0 active migrations; Nova not checked (no OpenStack source)');

  // A real migration that leaves the source domain behind.
  assert.equal(probe('instance-placement', cfg).status_text, 'OK');
  migrate(n1, n2, 1, { leave: ['domain'] });
  const done = virsh(k1.uri, ['domjobinfo', '--completed', '--keep-completed', i1.name]);
  t.diagnostic(`the lab migration, domjobinfo --completed on the source:\n${done.trim()}`);
  const left = probe('instance-placement', cfg);
  assert.equal(left.status_text, 'WARNING', left.text);
  assert.equal(left.summary, '1 left by a migration; placement not compared (no OpenStack source)');
  assert.match(left.details[0], new RegExp(`^${i1.name} "lab-vm-1" \\(${i1.uuid}\\): shut off \\(migrated\\): the source copy of a finished migration, for \\d+ s \\(virsh undefine it once the destination runs it\\)$`));
  assert.equal(left.spawned, 3, 'instance-placement spawns nothing beyond the inventory');
  const dst = probe('instance-placement', n2.configFile);
  assert.equal(dst.status_text, 'OK', dst.text);

  // `lm-probe metrics` on both nodes: the migration counted once on each side, with its real numbers.
  for (const [node, direction] of [[n1, 'out'], [n2, 'in']] as const) {
    const textfile = join(node.dir, 'metrics', 'lm-probe.prom');
    const jsonl = join(node.dir, 'metrics', 'migrations.jsonl');
    const mcfg = variantConfig(node.configFile, 'with-metrics', { metrics: { textfile, log: jsonl } });
    for (let run = 0; run < 2; run++) assertNoStack(lmProbe(['metrics', '--config', mcfg]));
    const text = readFileSync(textfile, 'utf8');
    assert.match(text, new RegExp(`^lm_probe_migrations_total\\{direction="${direction}",result="completed"\\} 1$`, 'm'), text);
    assert.match(text, /^lm_probe_status\{probe="migrations"\} 0$/m);
    assert.match(text, /^lm_probe_perfdata\{probe="instance-placement",label="domains"\} \d+$/m);
    const lines = readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 1, 'counted once over two runs');
    assert.deepEqual([lines[0].uuid, lines[0].direction, lines[0].result], [i1.uuid, direction, 'completed']);
    const sum = (name: string) => Number(new RegExp(`^${name}_sum\\{direction="${direction}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    t.diagnostic(`metrics on ${node.prefix} (${direction}): duration ${sum('lm_probe_migration_duration_seconds')} s, downtime ${sum('lm_probe_migration_downtime_seconds')} s, ${sum('lm_probe_migration_data_bytes')} bytes, ${sum('lm_probe_migration_iterations')} iterations`);
    assert.equal(sum('lm_probe_migration_duration_seconds'), lines[0].elapsed_s);
    if (findTool('promtool')) {
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);
    } else if (process.env.LMP_REQUIRE_LAB === '1') assert.fail('promtool required (apt-get install prometheus)');
  }

  // node_exporter's textfile collector serves node 1's file; node 2 scrapes it over the migration link.
  if (!findTool('prometheus-node-exporter')) {
    if (process.env.LMP_REQUIRE_LAB === '1') assert.fail('prometheus-node-exporter required');
    return;
  }
  const listen = `${n1.kvm!.migrationAddr}:9100`;
  const exporter = spawn('ip', ['netns', 'exec', n1.nodeNs, 'prometheus-node-exporter', `--web.listen-address=${listen}`, '--collector.disable-defaults', '--collector.textfile', `--collector.textfile.directory=${join(n1.dir, 'metrics')}`], { stdio: 'ignore' });
  try {
    let scraped = '';
    for (let k = 0; k < 50 && !scraped.includes('lm_probe_'); k++) {
      sleep(100);
      scraped = spawnSync('ip', ['netns', 'exec', n2.nodeNs, 'curl', '-sf', '--max-time', '2', `http://${listen}/metrics`], { encoding: 'utf8' }).stdout ?? '';
    }
    assert.match(scraped, /^lm_probe_migrations_total\{direction="out",result="completed"\} 1$/m, scraped.slice(0, 2000));
    assert.match(scraped, /^lm_probe_migration_downtime_seconds_count\{direction="out"\} 1$/m);
    assert.match(scraped, /^node_textfile_scrape_error 0$/m, 'the textfile collector read the file without error');
  } finally {
    stopPid(exporter.pid!, (comm) => comm.startsWith('prometheus-node') || comm === 'ip');
  }
});
