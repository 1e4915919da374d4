/**
 * bgp-announcements: the node's BGP daemon announces exactly the IPs of the instances hosted
 * here, to every peer. Missing (an instance unreachable from outside after a migration) and
 * orphaned (a migrated instance still announced from its old node: traffic split or
 * black-holed) announcements, and sessions that are not Established.
 *
 * Cost is constant whatever the number of instances: one command for the sessions, then one
 * per Established peer (bird; GoBGP: per peer and family) or one for all peers (FRR).
 */
import { BlockList, isIP } from 'node:net';
import { defineProbe } from '../../src/probe.js';
import { canonicalAddress, canonicalPrefix, readBgp, readDetected, sortPrefixes, type BgpSession } from '../../src/host/bgp/index.js';
import { requireInstances } from '../../src/inventory/index.js';
import type { Instance } from '../../src/inventory/types.js';
import { ProbeError } from '../../src/errors.js';
import { list, num, oneOf, range, str } from '../../src/schema.js';
import { describeMissing, describeOrphan, formerOwner, hostPrefix, verdict } from './verdict.js';
import { withinDeadline } from '../../src/host/exec.js';

const options = {
  daemon: oneOf(['auto', 'bird', 'frr', 'gobgp'] as const, 'auto', 'the BGP daemon (auto: bird if its socket is there, else FRR if bgpd.vty is, else GoBGP)'),
  namespace: str('', 'network namespace where the daemon\'s control interface is reachable ("" = here)'),
  bird_socket: str('/run/bird/bird.ctl', 'bird\'s control socket (birdc -s)'),
  frr_vty_dir: str('', 'FRR\'s vty socket directory (vtysh --vty_socket; "" = vtysh\'s default)'),
  gobgp_api: str('127.0.0.1:50051', 'GoBGP\'s gRPC API, address:port (gobgp -u -p)'),
  peers: list([], 'peer addresses or bird protocol names to audit ([] = every BGP peer)'),
  prefixes: list([], 'CIDRs instance IPs come from; host routes outside are not ours ([] = all)'),
  ignore: list([], 'announced CIDRs that are never orphans (the node\'s own loopback, service IPs)'),
  grace: num(120, 's after an instance arrives, or leaves, during which its announcement warns at most', { min: 0 }),
  warning: range('0', 'Nagios range on missing + orphaned announcements (-w)'),
  critical: range('0', 'Nagios range on missing + orphaned announcements (-c)'),
};

/** Instances whose IPs must be announced; a shut-off instance's must be withdrawn. */
const ANNOUNCED_STATES = new Set(['running', 'paused']);

/** A BlockList of CIDRs from the config, or a ProbeError naming the bad entry. */
function cidrs(key: string, entries: string[]): BlockList {
  const b = new BlockList();
  for (const e of entries) {
    const cidr = canonicalPrefix(e);
    if (!cidr) throw new ProbeError(`invalid ${key} entry ${JSON.stringify(e)} (want a CIDR like 198.18.0.0/15)`);
    const [addr, len] = cidr.split('/');
    b.addSubnet(addr, Number(len), isIP(addr) === 6 ? 'ipv6' : 'ipv4');
  }
  return b;
}

const inList = (b: BlockList, ip: string) => b.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4');
const isHostRoute = (prefix: string) => prefix === hostPrefix(prefix.split('/')[0]);

export default defineProbe({
  name: 'bgp-announcements',
  summary: 'the node\'s BGP daemon announces exactly the IPs of the instances hosted here, to every Established peer',
  options,
  tools: ['birdc', 'vtysh', 'gobgp'],
  async run(ctx) {
    const o = ctx.options;
    const log = ctx.log;
    const scope = cidrs('prefixes', o.prefixes);
    const ignored = cidrs('ignore', o.ignore);
    const ours = (ip: string) => o.prefixes.length === 0 || inList(scope, ip);

    const inventory = await ctx.inventory();
    const all = requireInstances(inventory);
    for (const f of inventory.findings) log.debug(`inventory: ${f}`);
    const hosted = all.filter((i) => ANNOUNCED_STATES.has(i.state));
    const presence = await ctx.presence();

    // One entry per IP; the first instance that claims an IP owns it.
    const owners = new Map<string, Instance>();
    const shutOff = new Map<string, Instance>();
    for (const inst of all) {
      for (const ip of inst.ports.flatMap((p) => p.ips).map(canonicalAddress)) {
        if (!ours(ip)) continue;
        const into = ANNOUNCED_STATES.has(inst.state) ? owners : shutOff;
        if (!into.has(ip)) into.set(ip, inst);
      }
    }
    const expected = [...owners].map(([ip, i]) => ({ ip, uuid: i.uuid, name: i.name, graceLeftS: presence.graceLeftS(i.uuid, o.grace) }));
    if (hosted.length < all.length) log.debug(`${all.length - hosted.length} instances neither running nor paused: their IPs must not be announced`);
    log.debug(`Expecting following ${expected.length} ips announced:`);
    log.debug(expected.map((e) => e.ip).join(' '));

    const read = {
      namespace: o.namespace,
      peers: o.peers,
      timeoutMs: () => withinDeadline(10_000, ctx.remainingMs()),
      signal: ctx.signal,
    };
    if (o.daemon !== 'auto') log.debug(`daemon: ${o.daemon} (configured)`);
    const view = o.daemon === 'auto' ? await readDetected(o, read, (l) => log.debug(l)) : await readBgp(o.daemon, o, read);
    log.debug(`${view.version ?? view.daemon}: ${view.sessions.length} BGP sessions${o.peers.length ? ` among peers ${o.peers.join(' ')}` : ''}`);
    for (const s of view.sessions) traceSession(s, log.debug.bind(log));

    const v = verdict({
      expected,
      instances: hosted.length,
      sessions: view.sessions,
      inScope: (prefix) => {
        const ip = prefix.split('/')[0];
        return isHostRoute(prefix) && ours(ip) && !inList(ignored, ip);
      },
      formerOwner: (ip) => formerOwner(ip, { shutOff, presence, graceS: o.grace, host: ctx.config.host }),
      warning: o.warning,
      critical: o.critical,
    });
    if (v.missing.length) log.debug(`${v.missing.length} ips are not announced:`);
    for (const m of v.missing) log.debug(`${describeMissing(m)}!!`);
    if (v.orphans.length) log.debug(`${v.orphans.length} announcements no instance here owns:`);
    for (const x of v.orphans) log.debug(`${describeOrphan(x)}!!`);
    if (!v.missing.length && !v.orphans.length && view.sessions.some((s) => s.established)) log.debug(`all ${expected.length} ips are announced, nothing else`);
    const { missing: _m, orphans: _o, ...outcome } = v;
    return outcome;
  },
});

function traceSession(s: BgpSession, debug: (line: string) => void): void {
  const name = s.name ? ` (${s.name})` : '';
  debug(`peer ${s.peer}${name}: ${s.state}${s.since ? ` ${s.since}` : ''}${s.info ? `, ${s.info}` : ''}; families ${s.families.join(' ') || 'none'}`);
  if (!s.established) return;
  const routes = s.announced ?? [];
  debug(`${s.peer} receives ${routes.length} prefixes:`);
  if (routes.length) debug(sortPrefixes(routes).join(' '));
}
