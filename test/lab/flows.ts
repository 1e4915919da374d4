/**
 * br-int's OpenFlow tables, shaped like those the neutron OVS agent writes (native of_interface),
 * for either firewall driver, installed with ONE `ovs-ofctl --bundle replace-flows` call:
 *
 *   iptables_hybrid   table 0 `in_port` -> 24 (ARP: `arp_spa=<ip>`) / 25 (`dl_src=<mac>`) -> 60 NORMAL
 *   openvswitch       table 60 `in_port` (egress) and `dl_vlan,dl_dst` (ingress) set reg5=<ofport>,
 *                     reg6=<local vlan>; 71/72/73 egress, 81/82 ingress (conntrack, zone = reg6),
 *                     91-94 accept/drop/NORMAL
 *
 * Both drivers: every flow carries the agent's one cookie; table 0 drops VLAN 4095 and tags what
 * comes in from to-ns-link (the lab's "physical network" port, flat) with the local VLAN, as the
 * agent does for a flat provider network. Ports carry the local VLAN as their OVSDB tag; to-ns-link
 * is native-untagged on it, so the link namespace sees untagged frames as before.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shOut } from './netns.js';
import { BRIDGE, LOCAL_VLAN_TAG, ovsEnv } from './ovs.js';

export type FirewallDriver = 'iptables_hybrid' | 'openvswitch';
export const FIREWALL_DRIVERS: readonly FirewallDriver[] = ['iptables_hybrid', 'openvswitch'];
export const isFirewallDriver = (v: unknown): v is FirewallDriver => FIREWALL_DRIVERS.includes(v as FirewallDriver);

/** The agent's cookie (neutron picks a random one per agent start; the lab's is fixed, for fixtures). */
export const AGENT_COOKIE = '0x6c6d70a9e47c3b21';
/** The network's local VLAN on br-int (the agent's lvid); also every port's OVSDB tag. */
export const LOCAL_VLAN = LOCAL_VLAN_TAG;

/** Neutron's br-int tables (neutron/plugins/ml2/drivers/openvswitch/agent/common/constants.py). */
const T = {
  LOCAL_SWITCHING: 0,
  CANARY: 23,
  ARP_SPOOF: 24,
  MAC_SPOOF: 25,
  TRANSIENT: 60,
  BASE_EGRESS: 71,
  RULES_EGRESS: 72,
  ACCEPT_OR_INGRESS: 73,
  BASE_INGRESS: 81,
  RULES_INGRESS: 82,
  ACCEPTED_EGRESS: 91,
  ACCEPTED_INGRESS: 92,
  DROPPED: 93,
  ACCEPTED_EGRESS_NORMAL: 94,
} as const;

/** What a port's flows are made from. */
export interface FlowPort {
  ofport: number;
  mac: string;
  ip: string;
}

const flow = (table: number, priority: number, match: string, actions: string): string =>
  `cookie=${AGENT_COOKIE},table=${table},priority=${priority}${match ? `,${match}` : ''},actions=${actions}`;

const ZONE = 'zone=NXM_NX_REG6[0..15]';

/** Flows every br-int has, whichever port is plugged. `linkOfport`: to-ns-link, the flat network's uplink. */
function baseFlows(driver: FirewallDriver, linkOfport: number): string[] {
  const common = [
    flow(T.LOCAL_SWITCHING, 65535, 'vlan_tci=0x0fff/0x1fff', 'drop'),
    flow(T.LOCAL_SWITCHING, 3, `in_port=${linkOfport},vlan_tci=0x0000/0x1fff`, `push_vlan:0x8100,set_field:${4096 + LOCAL_VLAN}->vlan_vid,goto_table:${T.TRANSIENT}`),
    flow(T.LOCAL_SWITCHING, 0, '', `goto_table:${T.TRANSIENT}`),
    flow(T.CANARY, 0, '', 'drop'),
    flow(T.ARP_SPOOF, 0, '', 'drop'),
    flow(T.TRANSIENT, 3, '', 'NORMAL'),
  ];
  if (driver === 'iptables_hybrid') return common;
  return [
    ...common,
    ...[T.BASE_EGRESS, T.RULES_EGRESS, T.ACCEPT_OR_INGRESS, T.BASE_INGRESS, T.RULES_INGRESS].map((t) => flow(t, 0, '', 'drop')),
    flow(T.RULES_EGRESS, 50, 'ct_state=+inv+trk', `resubmit(,${T.DROPPED})`),
    flow(T.RULES_INGRESS, 50, 'ct_state=+inv+trk', `resubmit(,${T.DROPPED})`),
    flow(T.ACCEPTED_EGRESS, 1, '', `resubmit(,${T.ACCEPTED_EGRESS_NORMAL})`),
    flow(T.ACCEPTED_INGRESS, 0, '', 'drop'),
    flow(T.DROPPED, 0, '', 'drop'),
    flow(T.ACCEPTED_EGRESS_NORMAL, 1, '', 'NORMAL'),
  ];
}

/** iptables_hybrid: ARP and MAC anti-spoofing (the filtering itself is iptables on the qbr bridge). */
function hybridPortFlows(p: FlowPort): string[] {
  return [
    flow(T.LOCAL_SWITCHING, 10, `arp,in_port=${p.ofport}`, `goto_table:${T.ARP_SPOOF}`),
    flow(T.LOCAL_SWITCHING, 9, `in_port=${p.ofport}`, `goto_table:${T.MAC_SPOOF}`),
    flow(T.ARP_SPOOF, 2, `arp,in_port=${p.ofport},arp_spa=${p.ip}`, `goto_table:${T.MAC_SPOOF}`),
    flow(T.MAC_SPOOF, 2, `in_port=${p.ofport},dl_src=${p.mac}`, `goto_table:${T.TRANSIENT}`),
  ];
}

/**
 * openvswitch firewall: one port with the default security group's egress rule (any IPv4) and
 * an ingress rule allowing ICMP (what a monitoring probe needs); everything else is dropped.
 */
function ovsfwPortFlows(p: FlowPort): string[] {
  const x = p.ofport;
  const reg = `reg5=${x}`;
  const setRegs = `set_field:${x}->reg5,set_field:${LOCAL_VLAN}->reg6`;
  const out = `output:${x}`;
  const invalidMark = `ct(commit,${ZONE},exec(set_field:0x1->ct_mark))`;
  return [
    flow(T.TRANSIENT, 100, `in_port=${x}`, `${setRegs},resubmit(,${T.BASE_EGRESS})`),
    flow(T.TRANSIENT, 90, `dl_vlan=${LOCAL_VLAN},dl_dst=${p.mac}`, `${setRegs},strip_vlan,resubmit(,${T.BASE_INGRESS})`),
    // egress: anti-spoofing, then conntrack
    flow(T.BASE_EGRESS, 95, `arp,${reg},in_port=${x},dl_src=${p.mac},arp_spa=${p.ip}`, `resubmit(,${T.ACCEPTED_EGRESS_NORMAL})`),
    flow(T.BASE_EGRESS, 95, `rarp,${reg},in_port=${x},dl_src=${p.mac}`, `resubmit(,${T.ACCEPTED_EGRESS_NORMAL})`),
    flow(T.BASE_EGRESS, 65, `ip,${reg},in_port=${x},dl_src=${p.mac},nw_src=${p.ip}`, `ct(table=${T.RULES_EGRESS},${ZONE})`),
    flow(T.BASE_EGRESS, 10, `${reg},in_port=${x}`, `ct_clear,resubmit(,${T.DROPPED})`),
    flow(T.RULES_EGRESS, 50, `ct_mark=0x1,${reg}`, `resubmit(,${T.DROPPED})`),
    flow(T.RULES_EGRESS, 50, `ct_state=+est-rel+rpl,ct_zone=${LOCAL_VLAN},ct_mark=0,${reg}`, `resubmit(,${T.ACCEPTED_EGRESS_NORMAL})`),
    flow(T.RULES_EGRESS, 50, `ct_state=-new-est+rel-inv,ct_zone=${LOCAL_VLAN},ct_mark=0,${reg}`, `resubmit(,${T.ACCEPTED_EGRESS_NORMAL})`),
    flow(T.RULES_EGRESS, 40, `ct_state=-est,${reg}`, `resubmit(,${T.DROPPED})`),
    flow(T.RULES_EGRESS, 40, `ct_state=+est,ip,${reg}`, invalidMark),
    flow(T.RULES_EGRESS, 70, `ct_state=+est-rel-rpl,ip,${reg}`, `resubmit(,${T.ACCEPT_OR_INGRESS})`), // SG: egress IPv4, any
    flow(T.RULES_EGRESS, 70, `ct_state=+new-est,ip,${reg}`, `resubmit(,${T.ACCEPT_OR_INGRESS})`),
    flow(T.ACCEPT_OR_INGRESS, 100, `reg6=${LOCAL_VLAN},dl_dst=${p.mac}`, `set_field:${x}->reg5,resubmit(,${T.BASE_INGRESS})`),
    flow(T.ACCEPT_OR_INGRESS, 90, `ct_state=+new-est,ip,${reg}`, `ct(commit,${ZONE}),resubmit(,${T.ACCEPTED_EGRESS})`),
    flow(T.ACCEPT_OR_INGRESS, 80, reg, `resubmit(,${T.ACCEPTED_EGRESS_NORMAL})`),
    // ingress
    flow(T.BASE_INGRESS, 100, `arp,${reg}`, out),
    flow(T.BASE_INGRESS, 90, `ct_state=-trk,ip,${reg}`, `ct(table=${T.RULES_INGRESS},${ZONE})`),
    flow(T.BASE_INGRESS, 80, `ct_state=+trk,${reg}`, `resubmit(,${T.RULES_INGRESS})`),
    flow(T.RULES_INGRESS, 50, `ct_mark=0x1,${reg}`, `resubmit(,${T.DROPPED})`),
    flow(T.RULES_INGRESS, 50, `ct_state=+est-rel+rpl,ct_zone=${LOCAL_VLAN},ct_mark=0,${reg}`, out),
    flow(T.RULES_INGRESS, 50, `ct_state=-new-est+rel-inv,ct_zone=${LOCAL_VLAN},ct_mark=0,${reg}`, out),
    flow(T.RULES_INGRESS, 40, `ct_state=-est,${reg}`, `resubmit(,${T.DROPPED})`),
    flow(T.RULES_INGRESS, 40, `ct_state=+est,ip,${reg}`, invalidMark),
    flow(T.RULES_INGRESS, 77, `ct_state=+est-rel-rpl,icmp,${reg}`, out), // SG: ingress ICMP from anywhere
    flow(T.RULES_INGRESS, 77, `ct_state=+new-est,icmp,${reg}`, `ct(commit,${ZONE}),${out},resubmit(,${T.ACCEPTED_INGRESS})`),
  ];
}

/** Every flow the agent has for one port. */
export function portFlows(driver: FirewallDriver, p: FlowPort): string[] {
  return driver === 'iptables_hybrid' ? hybridPortFlows(p) : ovsfwPortFlows(p);
}

/**
 * The flows that match the port's `in_port` only: what an agent that missed a re-plug leaves
 * behind for the old ofport (stale-ofport-flow). They never collide with the new port's flows.
 */
export function inPortFlows(driver: FirewallDriver, p: FlowPort): string[] {
  return portFlows(driver, p).filter((f) => f.includes(`in_port=${p.ofport},`));
}

export function bridgeFlows(driver: FirewallDriver, linkOfport: number, portSets: string[][]): string[] {
  return [...baseFlows(driver, linkOfport), ...portSets.flat()];
}

/**
 * Replace every flow of br-int with `flows` in one atomic bundle. ovs-ofctl finds the lab's
 * vswitchd through <ovsDir>/br-int.mgmt (OVS_RUNDIR), never the host's.
 */
export function replaceFlows(ovsDir: string, flows: string[]): void {
  const file = join(ovsDir, 'flows.txt');
  writeFileSync(file, flows.join('\n') + '\n');
  shOut('ovs-ofctl', ['-O', 'OpenFlow13', '--bundle', 'replace-flows', BRIDGE, file], { env: ovsEnv(ovsDir) });
}

/** `ovs-ofctl -O OpenFlow13 dump-flows br-int [--names]` against the lab's vswitchd. */
export function dumpFlows(ovsDir: string, opts: { names?: boolean } = {}): string {
  const args = ['-O', 'OpenFlow13', 'dump-flows', BRIDGE, ...(opts.names ? ['--names'] : [])];
  return shOut('ovs-ofctl', args, { env: ovsEnv(ovsDir) }).stdout;
}
