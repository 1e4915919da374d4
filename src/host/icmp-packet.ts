/**
 * ICMP packets as a raw socket delivers them, parsed without I/O: what kind of message, which
 * identifier and sequence, and for an error the destination of the request it quotes. And the
 * rule net-ping lacks: a reply only counts when it comes from the address that was pinged.
 */
import { ipKey } from './validate.js';

export interface IcmpPacket {
  kind: 'echo-reply' | 'echo-request' | 'error' | 'other';
  type: number;
  /** Of the echo; for an error, of the echo request it quotes. */
  identifier?: number;
  sequence?: number;
  /** For an error: destination of the quoted request (the error itself comes from a router). */
  quotedDest?: string;
}

const TYPES = {
  4: { reply: 0, request: 8, errors: [3, 4, 5, 11, 12] },
  6: { reply: 129, request: 128, errors: [1, 2, 3, 4] },
} as const;

/** Length of the IPv4 header at `at` (IHL honoured), or -1 when there is none. */
function ipv4HeaderLength(buf: Buffer, at: number): number {
  if (buf.length < at + 20 || buf[at] >> 4 !== 4) return -1;
  const len = (buf[at] & 0x0f) * 4;
  return len >= 20 && buf.length >= at + len ? len : -1;
}

function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return ipKey(groups.join(':'));
}

/** Parse what a raw socket delivers: IPv4 with its IP header, ICMPv6 without one. */
export function parseIcmp(buf: Buffer, family: 4 | 6): IcmpPacket | null {
  const at = family === 4 ? ipv4HeaderLength(buf, 0) : 0;
  if (at < 0 || buf.length < at + 8) return null;
  const t = TYPES[family];
  const type = buf[at];
  if (type === t.reply || type === t.request) {
    const kind = type === t.reply ? 'echo-reply' : 'echo-request';
    return { kind, type, identifier: buf.readUInt16BE(at + 4), sequence: buf.readUInt16BE(at + 6) };
  }
  const other: IcmpPacket = { kind: 'other', type };
  if (!(t.errors as readonly number[]).includes(type)) return other;
  // An error quotes the offending packet: its IP header, then the first 8 bytes of our echo request.
  const q = at + 8;
  let echo: number;
  let quotedDest: string;
  if (family === 4) {
    const len = ipv4HeaderLength(buf, q);
    if (len < 0 || buf[q + 9] !== 1) return other;
    echo = q + len;
    quotedDest = [...buf.subarray(q + 16, q + 20)].join('.');
  } else {
    // Our requests carry no extension headers: next header must be ICMPv6 (58).
    if (buf.length < q + 40 || buf[q] >> 4 !== 6 || buf[q + 6] !== 58) return other;
    echo = q + 40;
    quotedDest = ipv6Text(buf.subarray(q + 24, q + 40));
  }
  if (buf.length < echo + 8 || buf[echo] !== t.request) return other;
  return { kind: 'error', type, identifier: buf.readUInt16BE(echo + 4), sequence: buf.readUInt16BE(echo + 6), quotedDest };
}

/**
 * May this packet answer the request pending under its sequence number (sent to `target`)?
 * net-ping alone says yes whenever identifier and sequence match, whoever sent it.
 */
export function acceptReply(pkt: IcmpPacket | null, source: string, identifier: number, target?: string): boolean {
  if (!pkt || target === undefined || pkt.identifier !== identifier) return false;
  if (pkt.kind === 'echo-reply') return ipKey(source) === ipKey(target);
  if (pkt.kind === 'error') return ipKey(pkt.quotedDest ?? '') === ipKey(target);
  return false;
}

