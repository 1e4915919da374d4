/**
 * The node's BGP speaker (bird2, FRR, GoBGP in turn) announcing the instances' /32s to a bird2
 * router, and the two BGP faults, as the router and the speaker itself see them; then a second
 * node's speaker joining the same router, as in a 2-node cluster.
 *
 * LMP_BGP_FIXTURES=<dir> also records the speakers' own views into <dir>/<daemon>/ with a
 * README.md: that is how test/fixtures/bgp/ was made.
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { labDown, labUp, type LabEnv } from '../lab/lab.js';
import {
  BGP_DAEMONS, announced, bgpDown, bgpFault, bgpHeal, bgpUnavailableReason, bgpUp, linkRoutes, routerView, speakerAnnounced, speakerViews,
  type BgpDaemon, type BgpLab,
} from '../lab/bgp.js';
import { pidAlive } from '../lab/procs.js';
import { listNamespaces, nsExec } from '../lab/netns.js';
import { requireLab, requirePart } from '../lab/require.js';

let env: LabEnv | undefined;
let bgp: BgpLab | undefined;
/** A second, empty lab: node 2, whose speaker joins the first lab's router. */
let env2: LabEnv | undefined;
let bgp2: BgpLab | undefined;
after(() => {
  // Also on failure; all are idempotent.
  if (bgp2) bgpDown(bgp2);
  if (bgp) bgpDown(bgp);
  if (env2) labDown(env2);
  if (env) labDown(env);
});

/** The real birdc on the router. */
const routerBirdc = (b: BgpLab, ...args: string[]): string => nsExec(b.routerNs, 'birdc', ['-s', b.routerSocket, ...args]);
const ifaceExists = (ns: string, name: string): boolean => spawnSync('ip', ['-n', ns, 'link', 'show', name], { stdio: 'ignore' }).status === 0;

/** Not an instance of this lab: what a speaker still announces after the instance migrated away. */
const ORPHAN = '198.18.1.200';

/** Gate on the daemon's binaries: skip, or fail under LMP_REQUIRE_LAB=1 (CI). */
function requireDaemon(t: TestContext, daemon: BgpDaemon): boolean {
  return requirePart(t, `BGP lab (${daemon})`, bgpUnavailableReason(daemon));
}

// ---- LMP_BGP_FIXTURES: record the speakers' views ----------------------------------------------

const STATES = {
  healthy: 'the three instance /32s (198.18.1.2, .3, .4) announced',
  'no-bgp': '198.18.1.3/32 (instance 2) not announced; its route is still in the link namespace',
  'orphan-bgp': `${ORPHAN}/32 announced too; no instance has that IP`,
};

const HOW: Record<BgpDaemon, string> = {
  bird: 'The speaker learns the link namespace\'s kernel routes (`protocol kernel` with `learn`). no-bgp is a `reject` for the /32 in the export filter; orphan-bgp a `protocol static` with `route <ip>/32 blackhole`; both applied with `birdc configure`.',
  frr: 'zebra reads the kernel routes, bgpd `redistribute kernel route-map LMP-REDIST`. no-bgp is `ip prefix-list LMP-NO-BGP permit <ip>/32` (denied by the route-map); orphan-bgp a `network <ip>/32` with `no bgp network import-check`; both through vtysh.',
  gobgp: 'Routes are added with `gobgp global rib add -a ipv4 <ip>/32` (no kernel integration). no-bgp is a `gobgp global rib del`; orphan-bgp a `gobgp global rib add` of an IP no instance has.',
};

const fixtures = {
  dir: process.env.LMP_BGP_FIXTURES,
  commands: new Map<string, string>(),
  record(b: BgpLab, state: keyof typeof STATES): void {
    if (!this.dir) return;
    const d = join(this.dir, b.daemon);
    mkdirSync(d, { recursive: true });
    for (const v of speakerViews(b)) {
      const file = `${v.name}.${state}.${v.ext}`;
      writeFileSync(join(d, file), v.output);
      this.commands.set(`${b.daemon}/${file}`, `ip netns exec ${b.speakerNs} ${v.argv.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}`);
    }
  },
  readme(b: BgpLab): void {
    if (!this.dir) return;
    // One row per command: the same command printed each state's file.
    const byCommand = new Map<string, string[]>();
    for (const [f, c] of this.commands) if (f.startsWith(`${b.daemon}/`)) byCommand.set(c, [...(byCommand.get(c) ?? []), f.split('/')[1]]);
    const text = `# ${b.daemon} speaker: what it says it announces

Real output, recorded on ${new Date().toISOString().slice(0, 10)} with **${b.version}** (speaker) and ${b.routerVersion} (router), by
\`LMP_BGP_FIXTURES=test/fixtures/bgp node --test build/test/integration/bgp-lab.test.js\` (test/integration/bgp-lab.test.ts,
lab from test/lab/bgp.ts). Lab \`${b.prefix}\`: 3 instances 198.18.1.2-4, speaker ${b.speakerAddr} AS ${b.speakerAs} in \`${b.speakerNs}\`
(the node's ns-link), router ${b.routerAddr} AS ${b.routerAs} (bird2) in \`${b.routerNs}\`. The paths in the commands are that lab's.

${HOW[b.daemon]}

| state | meaning |
|-------|---------|
${Object.entries(STATES).map(([s, m]) => `| \`${s}\` | ${m} |`).join('\n')}

| files | command that printed them (as root) |
|-------|-------------------------------------|
${[...byCommand].map(([c, fs]) => `| ${fs.map((f) => `\`${f}\``).join('<br>')} | \`${c}\` |`).join('\n')}
`;
    writeFileSync(join(this.dir, b.daemon, 'README.md'), text);
  },
};

// ---- the test ----------------------------------------------------------------------------------

test('BGP speaker on the node: announced /32s, the no-bgp / orphan-bgp faults and a second node on the same router, per daemon', async (t) => {
  if (!requireLab(t)) return;
  env = labUp({ instances: 3 });
  env2 = labUp({ instances: 0 });
  const [e, e2] = [env, env2];
  const all = e.instances.map((i) => `${i.ip}/32`);
  const victim = `${e.instances[1].ip}/32`;
  assert.ok(!e.instances.some((i) => i.ip === ORPHAN));

  for (const daemon of BGP_DAEMONS) {
    // The steps are synchronous: yield to the event loop between daemons, so Node reaps the
    // stopped daemons and a pending SIGINT/SIGTERM runs the labs' teardown now, not at the end.
    await new Promise((resolve) => setTimeout(resolve, 20));
    await t.test(daemon, (t) => {
      if (!requireDaemon(t, daemon)) return;
      for (const x of [bgp2, bgp]) if (x) bgpDown(x); // a previous daemon's failed subtest
      bgp2 = undefined;
      const b = (bgp = bgpUp(e, daemon));
      t.diagnostic(`${b.version}: session established in ${b.timings.establishedMs} ms, all routes at the router in ${b.timings.routesMs} ms`);

      assert.deepEqual(announced(b), all, 'the router has every instance /32');
      assert.deepEqual(speakerAnnounced(b), all, 'the speaker reports the same');
      fixtures.record(b, 'healthy');

      bgpFault(b, e, 'no-bgp', e.instances[1].ip);
      assert.deepEqual(announced(b), all.filter((p) => p !== victim), 'no-bgp: the router lacks it');
      assert.deepEqual(speakerAnnounced(b), all.filter((p) => p !== victim));
      assert.ok(linkRoutes(e).includes(victim), 'no-bgp: the route stays in the link namespace');
      fixtures.record(b, 'no-bgp');
      bgpHeal(b, e);
      assert.deepEqual(announced(b), all, 'healed');

      bgpFault(b, e, 'orphan-bgp', ORPHAN);
      assert.deepEqual(announced(b), [...all, `${ORPHAN}/32`], 'orphan-bgp: the router has an extra /32');
      assert.deepEqual(speakerAnnounced(b), [...all, `${ORPHAN}/32`]);
      fixtures.record(b, 'orphan-bgp');
      bgpHeal(b, e);
      assert.deepEqual(announced(b), all, 'healed');
      fixtures.readme(b);

      // Node 2 joins the same router: one session per node, named node1 and node2 on the router.
      const b2 = (bgp2 = bgpUp(e2, daemon, b));
      t.diagnostic(`node 2 joined: session established in ${b2.timings.establishedMs} ms`);
      assert.equal(b2.routerNs, b.routerNs);
      assert.deepEqual([b.routerProto, b2.routerProto], ['node1', 'node2']);
      assert.match(routerBirdc(b, 'show', 'protocols', 'node1'), /Established/);
      assert.match(routerBirdc(b, 'show', 'protocols', 'node2'), /Established/);
      assert.deepEqual(routerView(b), Object.fromEntries(all.map((p) => [p, ['node1']])), 'everything from node 1, nothing from node 2');
      // As during a migration: both nodes announce instance 1's /32, then node 1 stops.
      const moving = e.instances[0].ip;
      bgpFault(b2, e2, 'orphan-bgp', moving);
      assert.deepEqual(routerView(b)[`${moving}/32`], ['node1', 'node2'], 'two paths, one per node');
      assert.deepEqual(announced(b2), [`${moving}/32`]);
      assert.deepEqual(announced(b), all, "node 1's view is its own");
      bgpFault(b, e, 'no-bgp', moving);
      assert.deepEqual(routerView(b)[`${moving}/32`], ['node2'], 'only from node 2');
      bgpHeal(b, e);

      // Node 2 leaves: its session, veth and files go; the router and node 1's session stay.
      bgpDown(b2);
      bgp2 = undefined;
      assert.deepEqual(b2.pids.filter(pidAlive), [], "no node 2 daemon left running");
      assert.ok(!existsSync(b2.dir), `${b2.dir} removed`);
      assert.ok(!existsSync(join(b.dir, 'router', 'peers', 'node2.conf')), "node 2's session config removed");
      assert.ok(!ifaceExists(e2.linkNs, b2.speakerIface) && !ifaceExists(b.routerNs, b2.routerProto), "node 2's veth removed");
      assert.doesNotMatch(routerBirdc(b, 'show', 'protocols'), /node2/);
      assert.match(routerBirdc(b, 'show', 'protocols', 'node1'), /Established/);
      assert.deepEqual(routerView(b), Object.fromEntries(all.map((p) => [p, ['node1']])));

      bgpDown(b);
      bgp = undefined;
      assert.deepEqual(b.pids.filter(pidAlive), [], 'no daemon left running');
      assert.ok(!existsSync(b.dir), `${b.dir} removed`);
      assert.ok(!listNamespaces().includes(b.routerNs), 'router namespace removed');
      assert.ok(!ifaceExists(e.linkNs, b.speakerIface), 'veth removed from the link namespace');
      for (const pid of b.pids) for (const d of ['zebra', 'bgpd']) assert.ok(!existsSync(`/var/tmp/frr/${d}.${pid}`), `FRR tmp dir of ${pid} removed`);
    });
  }
});
