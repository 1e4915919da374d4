/**
 * Deterministic identities for lab instance N (N = 1, 2, ...): the same N always gets the same
 * UUIDs, name, MAC, tap and IP, so test expectations and failures are reproducible.
 */
import { createHash } from 'node:crypto';

/** 198.18.<block>.<2..251>: 250 instances per /24, blocks 198.18.1-255 then 198.19.0-255. */
const PER_BLOCK = 250;
export const MAX_INSTANCES = 511 * PER_BLOCK;
/** The link namespace's address on every tap; the instances' gateway. */
export const GATEWAY_IP = '198.18.0.1';
/** Everything the lab uses; the link namespace routes this to "unreachable" as a safety net. */
export const LAB_NET = '198.18.0.0/15';
/**
 * IPv6 (labUp's `ipv6`): a ULA prefix that exists only inside the lab's namespaces ("lmp" in its
 * global ID), the link namespace's address, and the safety net routed to "unreachable" there.
 */
export const GATEWAY_IP6 = 'fd6c:6d70::1';
export const LAB_NET6 = 'fd6c:6d70::/64';

export interface Identity {
  index: number;
  uuid: string;
  name: string;
  portId: string;
  mac: string;
  /** The host side's MAC: nova's taps carry fe:16:3e:<same last 3 bytes as the port>. */
  tapMac: string;
  tap: string;
  ip: string;
}

function checkIndex(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_INSTANCES) throw new Error(`instance index must be 1..${MAX_INSTANCES}, got ${n}`);
}

/** An RFC 4122 name-based (v5-style, SHA-1) UUID; `head` optionally forces the first 4 bytes. */
function nameUuid(name: string, head?: number): string {
  const b = createHash('sha1').update(`lm-probe-lab/${name}`).digest().subarray(0, 16);
  if (head !== undefined) b.writeUInt32BE(head, 0);
  b[6] = (b[6] & 0x0f) | 0x50;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * A bijection on 32-bit integers (xorshift-multiply steps are each invertible). Port UUIDs start
 * with mix(N), so their first 8 hex digits, and hence the tap names, never collide in a lab.
 */
function mix(n: number): number {
  let x = (n ^ 0x83a59a9f) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** Neutron's device name for a port: "tap" + the first 11 characters of the port id. */
export function tapName(portId: string): string {
  return `tap${portId.slice(0, 11)}`;
}

export function instanceIp(n: number): string {
  checkIndex(n);
  const slot = n - 1;
  const block = 1 + Math.floor(slot / PER_BLOCK);
  const host = 2 + (slot % PER_BLOCK);
  return block <= 255 ? `198.18.${block}.${host}` : `198.19.${block - 256}.${host}`;
}

/** Instance N's IPv6 address: fd6c:6d70::<N + 1>, in canonical form (fd6c:6d70::2 for N = 1). */
export function instanceIp6(n: number): string {
  checkIndex(n);
  const slot = n + 1;
  return `fd6c:6d70::${slot > 0xffff ? `${(slot >> 16).toString(16)}:` : ''}${(slot & 0xffff).toString(16)}`;
}

function macBytes(n: number): string {
  const v = 0x1f0000 + n; // index 1 -> 1f:00:01
  return [16, 8, 0].map((s) => ((v >> s) & 0xff).toString(16).padStart(2, '0')).join(':');
}

export function identity(n: number): Identity {
  checkIndex(n);
  const portId = nameUuid(`port/${n}`, mix(n));
  return {
    index: n,
    uuid: nameUuid(`instance/${n}`),
    name: `instance-${n.toString(16).padStart(8, '0')}`,
    portId,
    mac: `fa:16:3e:${macBytes(n)}`,
    tapMac: `fe:16:3e:${macBytes(n)}`,
    tap: tapName(portId),
    ip: instanceIp(n),
  };
}

/**
 * A port that is *not* on the node (it left with a migrated or deleted instance), numbered N:
 * what orphan-flows and orphan-port leave behind. Its MAC (fa:16:3e:ee:..) and IP (.253 of a
 * /24) are outside every lab instance's range, so addInstance can never collide with one.
 */
export function goneIdentity(n: number): Omit<Identity, 'index' | 'name' | 'tapMac'> & { ofport: number } {
  if (!Number.isInteger(n) || n < 1 || n > 255) throw new Error(`gone port index must be 1..255, got ${n}`);
  const portId = nameUuid(`gone-port/${n}`);
  return {
    uuid: nameUuid(`gone-instance/${n}`),
    portId,
    mac: `fa:16:3e:ee:00:${n.toString(16).padStart(2, '0')}`,
    tap: tapName(portId),
    ip: `198.18.${n}.253`,
    ofport: 50000 + n, // far above the lab's own ofports
  };
}
