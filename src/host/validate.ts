/**
 * Everything that reaches a command line from outside (config, inventory, APIs) is checked
 * here first. Commands are argument arrays, so this is not about shell quoting: it keeps a
 * hostile or broken value from becoming an option ("-fooo") or a path ("../../x").
 */
import { isIP } from 'node:net';
import { ProbeError } from '../errors.js';

const NAMESPACE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const INTERFACE = /^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,14}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function check(ok: boolean, what: string, value: unknown): void {
  if (!ok) throw new ProbeError(`invalid ${what}: ${JSON.stringify(value)}`);
}

export const isNamespace = (v: unknown): v is string => typeof v === 'string' && NAMESPACE.test(v) && v !== '.' && v !== '..';
export const isInterface = (v: unknown): v is string => typeof v === 'string' && INTERFACE.test(v);
export const isUuid = (v: unknown): v is string => typeof v === 'string' && UUID.test(v);
export const isMac = (v: unknown): v is string => typeof v === 'string' && MAC.test(v);
export const isIpAddress = (v: unknown): v is string => typeof v === 'string' && isIP(v) !== 0;

export function assertNamespace(v: unknown): string { check(isNamespace(v), 'network namespace name', v); return v as string; }
export function assertInterface(v: unknown): string { check(isInterface(v), 'interface name', v); return v as string; }
export function assertUuid(v: unknown): string { check(isUuid(v), 'UUID', v); return v as string; }
export function assertIp(v: unknown): string { check(isIpAddress(v), 'IP address', v); return v as string; }

/** Canonical text form, so "2001:DB8:0::1" and "2001:db8::1" compare equal. */
export function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

/** Comparable form of an address: canonical, without an IPv6 zone ("fe80::1%eth0"). */
export function ipKey(ip: string): string {
  return canonicalIp(ip.replace(/%.*$/, ''));
}
