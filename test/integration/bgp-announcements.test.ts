/**
 * bgp-announcements against the lab node's real BGP speaker (bird2, FRR, GoBGP in turn, each
 * peering with the lab's bird2 router), with the real bin/lm-probe: healthy, the lab's no-bgp and
 * orphan-bgp faults, the router's session stopped, the daemon hung and stopped, a client printing
 * garbage; then, with bird, grace and the cost at two sizes, and two nodes with `migrate`.
 */
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { addInstance, heal, injectFault, labDown, labUp, type LabEnv } from '../lab/lab.js';
import { clusterDown, clusterUp, type Cluster } from '../lab/cluster.js';
import { migrate } from '../lab/migrate.js';
import { instanceIp6 } from '../lab/identity.js';
import { BGP_DAEMONS, announced, bgpSetV6, bgpUnavailableReason, type BgpDaemon } from '../lab/bgp.js';
import { orphanBgpIp } from '../lab/addons.js';
import { labUnavailableReason, nsExec } from '../lab/netns.js';
import { sleep } from '../lab/procs.js';
import { requireLab, requirePart } from '../lab/require.js';
import { assertInOrder, assertNoStack, lmProbe, variantConfig } from '../support/cli.js';

const canLab = labUnavailableReason() === null;
const can = (d: BgpDaemon) => canLab && bgpUnavailableReason(d) === null;
const need = (t: TestContext, d: BgpDaemon) => requireLab(t) && requirePart(t, d, bgpUnavailableReason(d));
const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const probe = (config: string, args: string[] = [], env?: NodeJS.ProcessEnv) => lmProbe(['bgp-announcements', ...args, '--config', config], { env, timeoutMs: 30_000 });
const json = (config: string) => JSON.parse(probe(config, ['--json']).stdout);
const perf = (doc: { results: { perfdata: { label: string; value: number }[] }[] }, label: string) => doc.results[0].perfdata.find((p) => p.label === label)?.value;

function waitFor(what: string, ok: () => boolean): void {
  const end = Date.now() + 15_000;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    sleep(100);
  }
}

/** The router's side of this node's session (`birdc disable|enable node1`), and whether it is up. */
const router = (lab: LabEnv, verb: string) => nsExec(lab.bgp!.routerNs, 'birdc', ['-s', lab.bgp!.routerSocket, verb, lab.bgp!.routerProto]);
const established = (lab: LabEnv) => /Established/.test(router(lab, 'show protocols').split('\n').slice(2).join('\n'));
/** The speaker's daemon that answers the probe (bird, bgpd, gobgpd): the last PID of node 1's record. */
const speakerPid = (lab: LabEnv) => lab.bgp!.pids[lab.bgp!.pids.length - 1];
const CLIENT: Record<BgpDaemon, string> = { bird: 'birdc', frr: 'vtysh', gobgp: 'gobgp' };
/** `daemon: auto` found neither bird's nor FRR's socket: a GoBGP failure says so first. */
const AUTO: Record<BgpDaemon, string> = { bird: '', frr: '', gobgp: '(no bird socket, no FRR bgpd\\.vty, and GoBGP at 198\\.18\\.255\\.0:50051: )' };

for (const daemon of BGP_DAEMONS) {
  describe(`bgp-announcements with ${daemon}`, () => {
    let lab: LabEnv | undefined;
    before(() => { if (can(daemon)) lab = labUp({ instances: 3, bgp: daemon }); });
    after(() => lab && labDown(lab));
    const instance = (n: number) => lab!.instances.find((i) => i.index === n)!;

    test('healthy: OK, every perfdata, a constant 5 processes (3 inventory + 2 daemon)', (t) => {
      if (!need(t, daemon)) return;
      const r = probe(lab!.configFile);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.stdout, 'BGP-ANNOUNCEMENTS OK - 3 IPs of 3 instances announced to 1 peer, nothing else | expected=3;;;0 announced=3;;;0 missing=0;0;0;0 orphaned=0;0;0;0 sessions_established=1;;;0 sessions=1;;;0\n');
      assert.equal(json(lab!.configFile).processes_spawned, 5);
    });

    test('no-bgp on instance 2: CRITICAL naming its IP and instance', (t) => {
      if (!need(t, daemon)) return;
      injectFault(lab!, 2, 'no-bgp');
      try {
        const r = probe(lab!.configFile);
        const i = instance(2);
        assert.equal(r.code, 2, r.stdout + r.stderr);
        assert.match(r.stdout, new RegExp(`^BGP-ANNOUNCEMENTS CRITICAL - 1 of 3 IPs not announced: ${re(i.ip)} \\| .* missing=1;0;0;0 orphaned=0;0;0;0 `));
        assert.equal(r.stdout.split('\n')[1], `${i.ip} ${i.name} (${i.uuid}): not announced to 198.18.255.1`);
      } finally {
        heal(lab!, 2);
      }
    });

    test('orphan-bgp: CRITICAL naming the prefix no instance here owns', (t) => {
      if (!need(t, daemon)) return;
      injectFault(lab!, 7, 'orphan-bgp');
      try {
        const r = probe(lab!.configFile);
        assert.equal(r.code, 2, r.stdout + r.stderr);
        assert.match(r.stdout, /^BGP-ANNOUNCEMENTS CRITICAL - 1 orphaned announcement: 198\.18\.7\.252\/32 \| expected=3;;;0 announced=4;;;0 missing=0;0;0;0 orphaned=1;0;0;0 /);
        assert.equal(r.stdout.split('\n')[1], `${orphanBgpIp(7)}/32: announced to 198.18.255.1, no instance here owns it`);
        // Announced CIDRs in `ignore` are never orphans.
        assert.equal(probe(variantConfig(lab!.configFile, 'ignore', { probes: { 'bgp-announcements': { ignore: ['198.18.7.0/24'] } } })).code, 0);
      } finally {
        heal(lab!, 7);
      }
    });

    test('the router stops its session: CRITICAL naming the peer, its state and since when', (t) => {
      if (!need(t, daemon)) return;
      router(lab!, 'disable');
      try {
        waitFor('the session to go down', () => !established(lab!));
        sleep(300);
        const r = probe(lab!.configFile);
        assert.equal(r.code, 2, r.stdout + r.stderr);
        assert.match(r.stdout, /^BGP-ANNOUNCEMENTS CRITICAL - no BGP session established \| .* sessions_established=0;;;0 sessions=1;;;0\n/);
        assert.match(r.stdout.split('\n')[1], /^peer 198\.18\.255\.1( \(rtr\))?: (Active|Connect|Idle) (since|for) \S+.*: nothing is announced to it$/);
      } finally {
        router(lab!, 'enable');
        waitFor('the session and the routes to come back', () => established(lab!) && announced(lab!.bgp!).length === 3);
      }
      assert.equal(probe(lab!.configFile).code, 0);
    });

    test(`a ${CLIENT[daemon]} printing garbage: UNKNOWN with a one-line reason naming the command`, (t) => {
      if (!need(t, daemon)) return;
      const shim = join(lab!.dir, 'shim-garbage');
      mkdirSync(shim, { recursive: true });
      writeFileSync(join(shim, CLIENT[daemon]), '#!/bin/sh\necho "Segmentation fault (core dumped) %%%"\necho "<html>"\n');
      chmodSync(join(shim, CLIENT[daemon]), 0o755);
      const r = probe(lab!.configFile, [], { ...process.env, PATH: `${shim}:${process.env.PATH}` });
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`^BGP-ANNOUNCEMENTS UNKNOWN - ${AUTO[daemon]}${CLIENT[daemon]} [^\\n]*: unparseable output: Segmentation fault \\(core dumped\\) %%% <html>\\n$`));
      assertNoStack(r);
    });

    test('the daemon hung (SIGSTOP), then stopped: UNKNOWN within the deadline, naming the command', (t) => {
      if (!need(t, daemon)) return;
      const pid = speakerPid(lab!);
      process.kill(pid, 'SIGSTOP');
      let hung;
      try {
        hung = probe(lab!.configFile, ['--timeout', '4']);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      assert.equal(hung.code, 3, hung.stdout + hung.stderr);
    // gobgp gives up by itself after ~1 s: "context deadline exceeded".
    assert.match(hung.stdout, new RegExp(`^BGP-ANNOUNCEMENTS UNKNOWN - ${AUTO[daemon]}((ip netns exec \\S+ )?${CLIENT[daemon]} timed out after [\\d.]+s|timed out after 4s.*|gobgp neighbor: context deadline exceeded)\\n$`));
      process.kill(pid, 'SIGTERM');
      waitFor('the daemon to exit', () => spawnSync('kill', ['-0', String(pid)]).status !== 0 || /Z/.test(spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).stdout));
      const cfg = variantConfig(lab!.configFile, 'explicit', { probes: { 'bgp-announcements': { daemon } } });
      const gone = probe(cfg, ['--timeout', '4']);
      assert.equal(gone.code, 3, gone.stdout + gone.stderr);
      assert.match(gone.stdout, new RegExp(`^BGP-ANNOUNCEMENTS UNKNOWN - (ip netns exec \\S+ )?${CLIENT[daemon]} (exited|timed out|neighbor: )[^\\n]*\\n$`));
      assertNoStack(gone);
    });
  });
}

describe('bgp-announcements with bird: the trace, grace, and the cost at two sizes', () => {
  let lab: LabEnv | undefined;
  before(() => { if (can('bird')) lab = labUp({ instances: 3, bgp: 'bird' }); });
  after(() => lab && labDown(lab));

  test('--debug: what was expected, what the peer receives, what is missing and orphaned', (t) => {
    if (!need(t, 'bird')) return;
    injectFault(lab!, 3, 'no-bgp');
    injectFault(lab!, 9, 'orphan-bgp');
    try {
      const r = probe(lab!.configFile, ['--debug']);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      const i3 = lab!.instances[2];
      const expected = [
        '[ DEBUG ] Expecting following 3 ips announced:',
        `[ DEBUG ] ${lab!.instances.map((i) => i.ip).join(' ')}`,
        `[ DEBUG ] daemon: bird (auto: bird socket ${lab!.bgp!.birdSocket} present)`,
        '[ DEBUG ] BIRD 2.',
        '[ DEBUG ] peer 198.18.255.1 (rtr): Established since ',
        '[ DEBUG ] 198.18.255.1 receives 3 prefixes:',
        '[ DEBUG ] 1 ips are not announced:',
        `[ DEBUG ] ${i3.ip} ${i3.name} (${i3.uuid}): not announced to 198.18.255.1!!`,
        '[ DEBUG ] 1 announcements no instance here owns:',
        '[ DEBUG ] 198.18.9.252/32: announced to 198.18.255.1, no instance here owns it!!',
      ];
      assertInOrder(r.stderr, expected);
    } finally {
      heal(lab!, 3);
      heal(lab!, 9);
    }
  });

  test('options: peers by protocol name or address, prefixes, an invalid CIDR', (t) => {
    if (!need(t, 'bird')) return;
    const variant = (name: string, opts: Record<string, unknown>) => probe(variantConfig(lab!.configFile, name, { probes: { 'bgp-announcements': opts } }));
    assert.equal(variant('peer-name', { peers: ['rtr'] }).code, 0);
    assert.equal(variant('peer-addr', { peers: ['198.18.255.1'] }).code, 0);
    const none = variant('peer-none', { peers: ['198.18.255.3'] });
    assert.equal(none.code, 2, none.stdout);
    assert.match(none.stdout, /^BGP-ANNOUNCEMENTS CRITICAL - no BGP session established \(no BGP peer found\) \|/);
    injectFault(lab!, 7, 'orphan-bgp');
    try {
      // Only 198.18.1.0/24 is ours: the instances are expected, 198.18.7.252/32 is someone else's.
      const scoped = variant('prefixes', { prefixes: ['198.18.1.0/24'] });
      assert.equal(scoped.code, 0, scoped.stdout);
      assert.match(scoped.stdout, /^BGP-ANNOUNCEMENTS OK - 3 IPs of 3 instances announced to 1 peer, nothing else \| expected=3;;;0 announced=4;;;0 /);
    } finally {
      heal(lab!, 7);
    }
    const bad = variant('bad-cidr', { ignore: ['198.18.0.0/99'] });
    assert.equal(bad.code, 3);
    assert.equal(bad.stdout, 'BGP-ANNOUNCEMENTS UNKNOWN - invalid ignore entry "198.18.0.0/99" (want a CIDR like 198.18.0.0/15)\n');
  });

  test('instances that just arrived warn at most (grace); the process count does not grow with them', (t) => {
    if (!need(t, 'bird')) return;
    assert.equal(json(lab!.configFile).processes_spawned, 5); // also the first run: records who is here
    const added = [addInstance(lab!), addInstance(lab!), addInstance(lab!), addInstance(lab!)];
    waitFor('the router to have the new /32s', () => announced(lab!.bgp!).length === 7);
    const doc = json(lab!.configFile);
    assert.equal(doc.processes_spawned, 5, 'the same 5 processes for 7 instances as for 3');
    assert.equal(perf(doc, 'expected'), 7);
    assert.equal(doc.status, 0);
    injectFault(lab!, added[0].index, 'no-bgp');
    try {
      const r = probe(lab!.configFile);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, new RegExp(`^BGP-ANNOUNCEMENTS WARNING - 1 of 7 IPs not announced: ${re(added[0].ip)} \\(1 arrived recently\\) \\|`));
      assert.match(r.stdout, /not announced to 198\.18\.255\.1 \[arrived recently: warning only for 1[0-2]\ds more\]/);
      const noGrace = probe(variantConfig(lab!.configFile, 'nograce', { probes: { 'bgp-announcements': { grace: 0 } } }));
      assert.equal(noGrace.code, 2, noGrace.stdout);
    } finally {
      heal(lab!, added[0].index);
    }
  });
});

describe('bgp-announcements with bird: IPv6 (an ipv6 channel on the IPv4 session)', () => {
  let lab: LabEnv | undefined;
  before(() => { if (can('bird')) lab = labUp({ instances: 3, bgp: 'bird' }); });
  after(() => lab && labDown(lab));
  // An inventory file gives each instance its lab IPv6 address (fd6c:6d70::/64, the lab's ULA:
  // an IPv4-mapped one would be refused by the inventory); no IPv6 packet is sent, only BGP routes.
  const v6 = (ip: string) => instanceIp6(lab!.instances.find((i) => i.ip === ip)!.index);
  function config(): string {
    const file = join(lab!.dir, 'inventory-v6.yaml');
    const instances = lab!.instances.map((i) => ({ uuid: i.uuid, name: i.name, state: 'running', ports: [{ id: i.portId, mac: i.mac, tap: i.tap, ips: [i.ip, v6(i.ip)] }] }));
    writeFileSync(file, JSON.stringify({ instances })); // YAML is a superset of JSON
    return variantConfig(lab!.configFile, 'v6', { inventory: { sources: ['file'], file } });
  }

  test('every /32 and /128 announced: OK; one /128 withheld and one extra: CRITICAL naming both', (t) => {
    if (!need(t, 'bird')) return;
    const cfg = config();
    bgpSetV6(lab!.bgp!, lab!.instances.map((i) => `${v6(i.ip)}/128`));
    const ok = probe(cfg);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^BGP-ANNOUNCEMENTS OK - 6 IPs of 3 instances announced to 1 peer, nothing else \| expected=6;;;0 announced=6;;;0 /);
    const i2 = lab!.instances[1];
    bgpSetV6(lab!.bgp!, [...lab!.instances.filter((i) => i !== i2).map((i) => `${v6(i.ip)}/128`), 'fd6c:6d70::fc/128']);
    const r = probe(cfg, ['--debug']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`^BGP-ANNOUNCEMENTS CRITICAL - 1 of 6 IPs not announced: ${re(v6(i2.ip))}; 1 orphaned announcement: fd6c:6d70::fc/128 \\|`));
    assert.deepEqual(r.stdout.trimEnd().split('\n').slice(1), [
      `${v6(i2.ip)} ${i2.name} (${i2.uuid}): not announced to 198.18.255.1`,
      'fd6c:6d70::fc/128: announced to 198.18.255.1, no instance here owns it',
    ]);
    assert.match(r.stderr, /\[ DEBUG \] peer 198\.18\.255\.1 \(rtr\): Established since \S+; families ipv4 ipv6\n/);
  });
});

describe('bgp-announcements on two nodes with bird: migrations', () => {
  let cluster: Cluster | undefined;
  before(() => { if (can('bird')) cluster = clusterUp({ nodes: 2, instances: 3, bgp: 'bird', libvirt: 'test' }); });
  after(() => cluster && clusterDown(cluster));
  const cfg = (n: number) => cluster!.nodes[n].configFile;

  test('a clean migration: both nodes OK', (t) => {
    if (!need(t, 'bird')) return;
    assert.equal(probe(cfg(0)).code, 0); // first runs: each node's presence record knows who is here
    assert.equal(probe(cfg(1)).stdout.split(' | ')[0], 'BGP-ANNOUNCEMENTS OK - 0 IPs of 0 instances announced to 1 peer, nothing else');
    migrate(cluster!.nodes[0], cluster!.nodes[1], 2);
    const [one, two] = [probe(cfg(0)), probe(cfg(1))];
    assert.equal(one.code, 0, one.stdout);
    assert.match(one.stdout, /^BGP-ANNOUNCEMENTS OK - 2 IPs of 2 instances announced/);
    assert.equal(two.code, 0, two.stdout);
    assert.match(two.stdout, /^BGP-ANNOUNCEMENTS OK - 1 IP of 1 instance announced/);
  });

  test('migrate --leave bgp: node 1 reports the orphan naming the instance that left (WARNING within grace, CRITICAL after); node 2 OK', (t) => {
    if (!need(t, 'bird')) return;
    const moved = migrate(cluster!.nodes[0], cluster!.nodes[1], 1, { leave: ['bgp'] });
    const one = probe(cfg(0));
    assert.equal(one.code, 1, one.stdout);
    assert.match(one.stdout, new RegExp(`^BGP-ANNOUNCEMENTS WARNING - 1 orphaned announcement: ${re(moved.ip)}/32 \\(1 left recently\\) \\|`));
    assert.match(one.stdout.split('\n')[1], new RegExp(`^${re(moved.ip)}/32: announced to 198\\.18\\.255\\.1, instance ${re(moved.name)} \\(${moved.uuid}\\) left this node \\d+s ago \\[left recently: warning only for \\d+s more\\]$`));
    const after = probe(variantConfig(cfg(0), 'nograce', { probes: { 'bgp-announcements': { grace: 0 } } }));
    assert.equal(after.code, 2, after.stdout);
    assert.match(after.stdout.split('\n')[1], new RegExp(`^${re(moved.ip)}/32: announced to 198\\.18\\.255\\.1, instance ${re(moved.name)} \\(${moved.uuid}\\) left this node \\d+s ago$`));
    const two = probe(cfg(1));
    assert.equal(two.code, 0, two.stdout);
    assert.match(two.stdout, /^BGP-ANNOUNCEMENTS OK - 2 IPs of 2 instances announced/);
  });

  test('migrate --leave bgp,domain: the domain left shut off on node 1 is named as the owner that should have withdrawn', (t) => {
    if (!need(t, 'bird')) return;
    const moved = migrate(cluster!.nodes[0], cluster!.nodes[1], 3, { leave: ['bgp', 'domain'] });
    const one = probe(cfg(0));
    assert.equal(one.code, 2, one.stdout);
    assert.ok(one.stdout.split('\n').includes(`${moved.ip}/32: announced to 198.18.255.1, instance ${moved.name} (${moved.uuid}) is shutoff here (its IP should be withdrawn)`), one.stdout);
    assert.match(probe(cfg(1)).stdout, /^BGP-ANNOUNCEMENTS OK - 3 IPs of 3 instances announced/);
  });
});
