/**
 * Many ICMP targets without many instances: two namespaces joined by a veth, "<prefix>a" scans
 * and "<prefix>b" answers. Used by the ICMP tests and the benchmark. All in 198.18.0.0/15:
 *   198.18.0.1          a's own address          198.18.0.2, .3   b's addresses (alive)
 *   198.18.8.0/21       AnyIP in a: a `local` route, every address answers (alive, up to 2,047)
 *   198.18.0.50-.249    on the link, nobody has them (dead: ARP fails, nothing answers)
 *   198.18.16.0/21      routed via b, which does not forward: dropped in silence (dead, up to 2,047)
 *   198.18.4.1          no route in a (dead: "Network is unreachable", nothing sent)
 * Nothing is ever sent from the root namespace: scans run inside a.
 */
import { ipBatch, nsSysctl, sh, shQuiet, uniquePrefix } from './netns.js';

export interface IcmpTargets {
  /** Scan from here. */
  a: string;
  /** Answers for 198.18.0.2 and .3; drops what it is asked to forward. */
  b: string;
}

/** The /21 at 198.18.<third>.0 as addresses from..from+n-1 (offset inside the /21). */
const inSlash21 = (third: number, n: number, from: number): string[] => Array.from({ length: n }, (_, i) => {
  const k = third * 256 + from + i;
  return `198.18.${k >> 8}.${k & 255}`;
});

/** n addresses that answer (AnyIP in a), from 198.18.8.<from>. */
export const anyIp = (n: number, from = 1): string[] => inSlash21(8, n, from);
/** n dead addresses on a's link (ARP fails): at most 200. */
export const onLinkDead = (n: number): string[] => Array.from({ length: n }, (_, i) => `198.18.0.${50 + i}`);
/** n dead addresses routed through b, which drops them: no ARP, no error, only silence. */
export const routedDead = (n: number, from = 1): string[] => inSlash21(16, n, from);

export const icmpTargetNames = (prefix: string): IcmpTargets => ({ a: `${prefix}a`, b: `${prefix}b` });

export function icmpTargetsUp(prefix = uniquePrefix()): IcmpTargets {
  const { a, b } = icmpTargetNames(prefix);
  sh('ip', ['netns', 'add', a]);
  sh('ip', ['netns', 'add', b]);
  ipBatch([`link add ${a}0 netns ${a} type veth peer name ${b}0 netns ${b}`]);
  ipBatch(['link set lo up', `addr add 198.18.0.1/24 dev ${a}0`, `link set ${a}0 up`, 'route add local 198.18.8.0/21 dev lo',
    'route add 198.18.16.0/21 via 198.18.0.2'], a);
  ipBatch(['link set lo up', `addr add 198.18.0.2/24 dev ${b}0`, `addr add 198.18.0.3/24 dev ${b}0`, `link set ${b}0 up`], b);
  nsSysctl(b, 'net.ipv4.ip_forward', 0); // a new namespace's default; said here because "dead" depends on it
  return { a, b };
}

/** Also after a failure; deleting a namespace that was never made is harmless. */
export function icmpTargetsDown(t: IcmpTargets): void {
  shQuiet('ip', ['netns', 'del', t.a]);
  shQuiet('ip', ['netns', 'del', t.b]);
}
