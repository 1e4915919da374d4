/**
 * ovs-ports: every port of an instance hosted here is wired into Open vSwitch (an Interface with
 * the right external_ids, an ofport, no error, link up, a live local VLAN, its kernel devices up
 * as it is plugged), the bridges and namespaces exist, and nothing is plugged for instances that
 * are not here.
 *
 * Cost is constant whatever the number of instances: the inventory's one ovs-vsctl (reused), one
 * `ip -j link`, one connection to vswitchd's management socket (is it alive at all?), one
 * directory read for the namespaces.
 */
import { readdir } from 'node:fs/promises';
import { readLinks } from '../../src/host/iplink.js';
import { vswitchdAnswers } from '../../src/host/ovs.js';
import { withinDeadline } from '../../src/host/exec.js';
import { ovsView } from '../../src/inventory/ovs.js';
import { defineProbe } from '../../src/probe.js';
import { list, num, oneOf, str } from '../../src/schema.js';
import { verdict } from './verdict.js';

const options = {
  namespace: str('', 'network namespace where ovs-vswitchd and the instance devices live ("" = the root namespace)'),
  bridges: list([], 'bridges that must exist, with their controller connected when one is set ([] = ovs.integration_bridge)'),
  fail_mode: oneOf(['any', 'secure', 'standalone'] as const, 'any', 'fail_mode every audited bridge must have'),
  namespaces: list(['ns-link'], 'network namespaces that must exist (the link namespace)'),
  orphans: oneOf(['warning', 'critical'] as const, 'warning', 'status of an Interface or device plugged for no instance hosted here'),
  grace: num(120, 's after an instance arrives (or leaves) during which its findings warn at most', { min: 0 }),
};

/** Namespaces `ip netns` knows are bind mounts under /run/netns: one directory read. */
async function missingNamespaces(names: string[]): Promise<string[]> {
  if (!names.length) return [];
  const present = new Set(await readdir('/run/netns').catch(() => [] as string[]));
  return names.filter((n) => !present.has(n));
}

export default defineProbe({
  name: 'ovs-ports',
  summary: 'every hosted instance port is wired into OVS (interface, ofport, VLAN, devices); nothing is plugged for instances that left',
  options,
  tools: ['ip'],
  async run(ctx) {
    const o = ctx.options;
    const ovs = ctx.config.ovs;
    const { snapshot, hosting, graceLeftS, leftRecently, formerOwner } = await ovsView(ctx, o.grace);
    const bridges = o.bridges.length ? o.bridges : [ovs.integration_bridge];
    const [links, absentNamespaces] = await Promise.all([
      readLinks(o.namespace, { timeoutMs: withinDeadline(5000, ctx.remainingMs()), signal: ctx.signal }),
      missingNamespaces(o.namespaces),
      // The OVSDB says what vswitchd was told; only a live vswitchd makes its ofports and link states true.
      snapshot.bridges.some((b) => b.name === ovs.integration_bridge)
        ? vswitchdAnswers(ovs.rundir, ovs.integration_bridge, { timeoutMs: withinDeadline(3000, ctx.remainingMs()), signal: ctx.signal })
        : undefined,
    ]);
    ctx.log.debug(`expected: ${hosting.ports.length} ports of hosted instances on ${ovs.integration_bridge}; bridges ${bridges.join(', ')}; namespaces ${o.namespaces.join(', ') || 'none'}`);
    ctx.log.debug(`seen: ${snapshot.interfaces.length} OVS interfaces, ${links.size} devices${o.namespace ? ` in ${o.namespace}` : ''}`);
    const v = verdict({
      hosting,
      snapshot,
      links,
      integrationBridge: ovs.integration_bridge,
      bridges,
      failMode: o.fail_mode === 'any' ? '' : o.fail_mode,
      missingNamespaces: absentNamespaces,
      orphansCritical: o.orphans === 'critical',
      graceLeftS,
      leftRecently,
      formerOwner,
    });
    for (const line of v.debug) ctx.log.debug(line);
    const { debug: _debug, ...outcome } = v;
    return outcome;
  },
});
