/**
 * instance-placement: Nova, libvirt and Neutron agree on where each instance lives. A domain
 * running here that Nova places elsewhere (a second copy corrupts the disk), a server Nova
 * places here without a domain, a domain a migration left shut off or paused, a port of a
 * hosted instance bound to another host or with a second, inactive binding.
 *
 * Cost: the shared inventory (libvirt, OVS, Nova, Neutron: a constant number of processes and
 * requests), plus lookups bounded by counts: GET /servers/{id} for at most lookup_max domains
 * Nova does not place here, one GET /v2.0/ports?id=... for the ports Neutron does not bind
 * here, and GET /v2.0/ports/{id}/bindings for the ports of at most bindings_max instances that
 * arrived within bindings_window (where migrations leave second bindings). No process of its own.
 */
import { defineProbe } from '../../src/probe.js';
import { requireInstances } from '../../src/inventory/index.js';
import { probeOpenStack, type OpenStackApi } from '../../src/inventory/openstack/api.js';
import { portBindings, portHosts, serverPlace } from '../../src/inventory/openstack/lookups.js';
import type { Instance } from '../../src/inventory/types.js';
import { num } from '../../src/schema.js';
import { isRecord } from '../../src/state.js';
import { activeDomain, leftoverOf, novaPlaces, runsUnplaced, verdict, type Binding, type NovaElsewhere } from './verdict.js';

const options = {
  grace: num(900, 's a domain may stay shut off (migrated) or paused by a migration, and a domain Nova does not place here yet may run, before it is reported', { min: 0 }),
  lookup_max: num(10, 'at most this many domains Nova does not place here are looked up (GET /servers/{id}) to name its host', { min: 0, max: 100, integer: true }),
  bindings_max: num(10, 'the port bindings of at most this many recently arrived instances are checked (GET /v2.0/ports/{id}/bindings)', { min: 0, max: 100, integer: true }),
  bindings_window: num(86400, 's after an instance arrived during which its ports\' bindings are checked for a second, inactive one', { min: 0 }),
};

/** Since when each instance has been in its leftover state (this probe's state). */
type LeftoverRecord = Record<string, { state: string; since: number }>;
const guardLeftover = (v: unknown): LeftoverRecord | undefined =>
  isRecord(v) && Object.values(v).every((e) => isRecord(e) && typeof e.state === 'string' && typeof e.since === 'number') ? (v as LeftoverRecord) : undefined;

export default defineProbe({
  name: 'instance-placement',
  summary: 'Nova, libvirt and Neutron agree on where each instance lives; no domain left behind by a migration',
  options,
  tools: [],
  async run(ctx) {
    const o = ctx.options;
    const log = ctx.log;
    const inventory = await ctx.inventory();
    const instances = requireInstances(inventory);
    for (const f of inventory.findings) log.debug(`inventory: ${f}`);
    const presence = await ctx.presence();
    const nowS = presence.nowS;
    const libvirt = inventory.sources.some((s) => s.source === 'libvirt' && s.state === 'ok');
    const client = probeOpenStack(ctx.config, inventory.sources, (l) => log.debug(l));
    const compared = libvirt && typeof client !== 'string';
    const notCompared = !libvirt ? 'libvirt did not answer' : typeof client === 'string' ? client : undefined;

    // Since when each domain is in its leftover state: kept between runs, reset when it changes
    // (only from what libvirt said this run: a failed libvirt keeps the record as it was).
    const before = (await ctx.state.read('leftover', guardLeftover)) ?? {};
    const leftover: LeftoverRecord = libvirt ? {} : before;
    for (const i of libvirt ? instances : []) {
      const state = leftoverOf(i);
      if (!state) continue;
      leftover[i.uuid] = { state, since: before[i.uuid]?.state === state ? before[i.uuid].since : nowS };
      log.debug(`${i.name ?? i.uuid}: ${state} since ${new Date(leftover[i.uuid].since * 1000).toISOString()}`);
    }
    if (libvirt) await ctx.state.write('leftover', leftover);

    const elsewhere = new Map<string, NovaElsewhere>();
    const hosts = new Map<string, string>();
    const bindings = new Map<string, Binding[]>();
    const host = ctx.config.inventory.openstack.host || ctx.config.host;
    if (compared) {
      const names = (l: Instance[]) => l.map((i) => i.name ?? i.uuid).join(' ') || 'none';
      const domains = instances.filter((i) => i.sources.includes('libvirt'));
      const placed = instances.filter((i) => novaPlaces(i, host));
      log.debug(`libvirt has ${domains.length} domains here, Nova places ${placed.length} servers on ${host}`);
      log.debug(`running here, not placed here by Nova: ${names(domains.filter((i) => i.state === 'running' && !novaPlaces(i, host)))}`);
      log.debug(`placed here by Nova, no domain: ${names(placed.filter((i) => !i.sources.includes('libvirt')))}`);
      const timeoutMs = Math.max(100, ctx.remainingMs() - 500);
      await client.use({ signal: ctx.signal, timeoutMs }, (api) => lookups(api, instances, host, { ...o, graceLeftS: (u) => presence.graceLeftS(u, o.bindings_window) }, { elsewhere, hosts, bindings }, (l) => log.debug(l)));
    } else {
      log.debug(`placement not compared (${notCompared}): only libvirt's states are judged`);
    }

    return verdict({
      host,
      instances,
      libvirt,
      compared,
      notCompared,
      elsewhere,
      portHosts: hosts,
      bindings,
      leftoverSince: Object.fromEntries(Object.entries(leftover).map(([u, e]) => [u, e.since])),
      graceLeftS: (u) => presence.graceLeftS(u, o.grace),
      grace: o.grace,
      nowS,
    });
  },
});

/** The bounded look-ups that name the other side of a disagreement. */
async function lookups(
  api: OpenStackApi,
  instances: Instance[],
  host: string,
  o: { lookup_max: number; bindings_max: number; graceLeftS: (uuid: string) => number },
  out: { elsewhere: Map<string, NovaElsewhere>; hosts: Map<string, string>; bindings: Map<string, Binding[]> },
  debug: (line: string) => void,
): Promise<void> {
  const unplaced = instances.filter((i) => runsUnplaced(i, host));
  const hosted = instances.filter((i) => activeDomain(i) && novaPlaces(i, host));
  const unbound = hosted.flatMap((i) => i.ports.filter((p) => p.id && !p.sources.includes('openstack')).map((p) => p.id));
  // Newest arrivals first: a second binding is what a recent migration leaves.
  const recent = hosted.filter((i) => o.graceLeftS(i.uuid) > 0).sort((a, b) => o.graceLeftS(b.uuid) - o.graceLeftS(a.uuid)).slice(0, o.bindings_max);
  if (unplaced.length > o.lookup_max) debug(`${unplaced.length - o.lookup_max} domains Nova does not place here are not looked up (lookup_max ${o.lookup_max})`);
  const checked = recent.flatMap((i) => i.ports.filter((p) => p.id && p.sources.includes('openstack')).map((p) => p.id));
  debug(`looking up ${Math.min(unplaced.length, o.lookup_max)} servers in Nova, ${unbound.length} ports not bound here, the bindings of ${checked.length} ports of ${recent.length} recent arrivals`);
  await Promise.all([
    ...unplaced.slice(0, o.lookup_max).map(async (i) => {
      const place = await serverPlace(api, i.uuid);
      out.elsewhere.set(i.uuid, place ?? {});
      debug(`${i.name ?? i.uuid}: runs here; Nova: ${place ? `host ${place.host}, ${place.status}, task ${place.taskState}` : 'no such server'}`);
    }),
    portHosts(api, unbound.slice(0, 100)).then((m) => {
      for (const id of unbound.slice(0, 100)) out.hosts.set(id, m.get(id) ?? '');
    }),
    ...checked.map(async (id) => {
      const b = await portBindings(api, id);
      if (b) out.bindings.set(id, b);
      debug(`port ${id}: ${b ? b.map((x) => `${x.host} ${x.status}`).join(', ') : 'no bindings API'}`);
    }),
  ]);
}
