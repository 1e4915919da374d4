/**
 * openflow-rules: every hosted port has the flows the Neutron OVS agent installs for it (per
 * firewall driver), and no flow names an ofport, MAC, IP or cookie nothing here has; a stale
 * flow that outputs to a port that no longer exists black-holes traffic.
 *
 * Cost is constant whatever the number of instances: the inventory's one ovs-vsctl (reused) and
 * one `ovs-ofctl dump-flows` per audited bridge (the integration bridge, and the tunnel bridge
 * when asked for), each parsed once.
 */
import { dumpFlows } from '../../src/host/ovs.js';
import { withinDeadline } from '../../src/host/exec.js';
import { ovsView } from '../../src/inventory/ovs.js';
import { defineProbe } from '../../src/probe.js';
import { list, num, oneOf, str } from '../../src/schema.js';
import { detectDriver, verdict } from './verdict.js';

const options = {
  firewall_driver: oneOf(['auto', 'iptables_hybrid', 'openvswitch', 'noop'] as const, 'auto', 'which flows each port must have; auto: openvswitch when tables 71-82 are populated, else iptables_hybrid'),
  tunnel_bridge: str('', 'also audit this tunnel bridge (br-tun) when it exists: its unicast table must not send a MAC hosted here to a tunnel ("" = none)'),
  cookies: list([], 'the agent\'s current flow cookies (0x...); a flow with another is a stale leftover ([] = not checked)'),
  grace: num(120, 's after an instance arrives (or leaves) during which its findings warn at most', { min: 0 }),
};

export default defineProbe({
  name: 'openflow-rules',
  summary: 'every hosted port has its OpenFlow rules on the integration bridge; no flow is left for ports, MACs or IPs not here',
  options,
  tools: ['ovs-ofctl'],
  async run(ctx) {
    const o = ctx.options;
    const ovs = ctx.config.ovs;
    const log = ctx.log;
    const bridge = ovs.integration_bridge;
    const { snapshot, hosting, graceLeftS, leftRecently, formerOwner } = await ovsView(ctx, o.grace);
    const dump = (name: string) => dumpFlows(ovs.rundir, name, { timeoutMs: withinDeadline(10_000, ctx.remainingMs()), signal: ctx.signal });
    const { flows, parseSeconds } = await dump(bridge);
    // The tunnel bridge only where it exists (a VLAN- or flat-only node has none): one more dump.
    const tunnelPresent = o.tunnel_bridge !== '' && snapshot.bridges.some((b) => b.name === o.tunnel_bridge);
    if (o.tunnel_bridge && !tunnelPresent) log.debug(`${o.tunnel_bridge}: not in the OVSDB, not audited`);
    const tunnel = tunnelPresent ? { bridge: o.tunnel_bridge, flows: (await dump(o.tunnel_bridge)).flows } : undefined;
    const driver = o.firewall_driver === 'auto' ? detectDriver(flows) : o.firewall_driver;
    log.debug(`expected: flows of ${hosting.ports.length} hosted ports on ${bridge}, firewall driver ${driver}${o.firewall_driver === 'auto' ? ' (auto: from the populated tables)' : ''}`);
    log.debug(`seen: ${flows.length} flows on ${bridge} (parsed in ${Math.round(parseSeconds * 1000)} ms)${tunnel ? `, ${tunnel.flows.length} on ${tunnel.bridge}` : ''}`);
    const v = verdict({
      bridge,
      flows,
      ...(tunnel ? { tunnel } : {}),
      driver,
      hosting,
      snapshot,
      cookies: o.cookies,
      graceLeftS,
      leftRecently,
      formerOwner,
      parseSeconds,
    });
    for (const line of v.debug) log.debug(line);
    const { debug: _debug, ...outcome } = v;
    return outcome;
  },
});
