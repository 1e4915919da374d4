/**
 * An impostor for instance N: another host on br-int that holds N's IP with another MAC, as a
 * duplicate IP left on a node or a proxy ARP would. It answers ARP (and neighbour solicitation)
 * for the IP, never ICMP echo: a dead instance behind it looks "alive but filtering ICMP" to a
 * probe that does not compare the MAC.
 *
 *   <prefix>-impN   eth0 fa:16:3e:dd:00:NN, N's IP (and IPv6); echo ignored
 *   <prefix>-node   its veth peer impN, on br-int (untagged, like the link namespace's port)
 *
 * labDown removes it with the lab (its namespace has the lab's prefix; OVS goes with the lab).
 */
import type { LabEnv } from './lab.js';
import { ipBatch, nsSysctl } from './netns.js';
import { BRIDGE, uplinkArgs, vsctl } from './ovs.js';

export interface Impostor {
  ns: string;
  mac: string;
  port: string;
}

export function addImpostor(env: LabEnv, index: number): Impostor {
  const inst = env.instances.find((i) => i.index === index);
  if (!inst || index > 255) throw new Error(`lab ${env.prefix} has no instance ${index} (an impostor needs 1..255)`);
  const imp = { ns: `${env.prefix}-imp${index}`, mac: `fa:16:3e:dd:00:${index.toString(16).padStart(2, '0')}`, port: `imp${index}` };
  ipBatch([`netns add ${imp.ns}`]);
  ipBatch([
    `link add ${imp.port} type veth peer name eth0 address ${imp.mac} netns ${imp.ns}`,
    `link set ${imp.port} addrgenmode none`,
    `link set ${imp.port} up`,
  ], env.nodeNs);
  ipBatch([
    'link set lo up', 'link set eth0 addrgenmode none', 'link set eth0 up',
    `address add ${inst.ip}/32 dev eth0`,
    ...(inst.ip6 ? [`address add ${inst.ip6}/128 dev eth0 nodad`] : []),
  ], imp.ns);
  nsSysctl(imp.ns, 'net.ipv4.icmp_echo_ignore_all', 1);
  if (inst.ip6) nsSysctl(imp.ns, 'net.ipv6.icmp.echo_ignore_all', 1);
  vsctl(env.ovsDb, uplinkArgs(imp.port));
  return imp;
}

export function removeImpostor(env: LabEnv, imp: Impostor): void {
  vsctl(env.ovsDb, ['--if-exists', 'del-port', BRIDGE, imp.port]);
  ipBatch([`netns del ${imp.ns}`]);
}
