/**
 * The pure side of the ICMP scan, on hand-built packets: parsing what a raw socket delivers
 * (IPv4 with its IP header, ICMPv6 without) and deciding whether a packet answers a request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProbeError } from '../../src/errors.js';
import { describeScanStats, icmpScan, inFlightFor, MAX_IN_FLIGHT, parseWorkerOutput, scanBoundMs } from '../../src/host/icmp.js';
import { acceptReply, parseIcmp } from '../../src/host/icmp-packet.js';
import { parseFping } from '../../src/host/fping.js';

const ID = 0x1234;

/** ICMP(v6) header (checksum left 0: the parser does not check it) plus payload. */
function icmp(type: number, id: number, seq: number, payload = Buffer.alloc(8)): Buffer {
  const b = Buffer.alloc(8);
  b[0] = type;
  b.writeUInt16BE(id, 4);
  b.writeUInt16BE(seq, 6);
  return Buffer.concat([b, payload]);
}

/** Error message: type, code, 4 unused bytes, then the quoted packet. */
function icmpError(type: number, quoted: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type, 1, 0, 0, 0, 0, 0, 0]), quoted]);
}

function ipv4(src: string, dst: string, payload: Buffer, options = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(20 + options.length);
  h[0] = 0x40 | (h.length / 4);
  h.writeUInt16BE(h.length + payload.length, 2);
  h[8] = 64;
  h[9] = 1; // ICMP
  Buffer.from(src.split('.').map(Number)).copy(h, 12);
  Buffer.from(dst.split('.').map(Number)).copy(h, 16);
  options.copy(h, 20);
  return Buffer.concat([h, payload]);
}

function ipv6Header(src: string, dst: string, payloadLength: number): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(payloadLength, 4);
  h[6] = 58; // ICMPv6
  h[7] = 64;
  const bytes = (ip: string) => {
    const [head, tail = ''] = ip.split('::');
    const parts = (s: string) => (s ? s.split(':') : []);
    const groups = [...parts(head), ...Array(8 - parts(head).length - parts(tail).length).fill('0'), ...parts(tail)];
    return Buffer.from(groups.flatMap((g) => { const n = parseInt(g, 16); return [n >> 8, n & 0xff]; }));
  };
  bytes(src).copy(h, 8);
  bytes(dst).copy(h, 24);
  return h;
}

test('IPv4 echo reply: type, identifier, sequence', () => {
  const pkt = parseIcmp(ipv4('198.18.0.2', '198.18.0.1', icmp(0, ID, 7)), 4);
  assert.deepEqual(pkt, { kind: 'echo-reply', type: 0, identifier: ID, sequence: 7 });
});

test('IPv4 header length honoured (IHL 6, options that look like an echo reply)', () => {
  const decoy = Buffer.from([0, 0, 0, 0, 0xaa, 0xaa, 0, 99]); // would read as reply id 0xaaaa seq 99 at offset 20
  const withOptions = ipv4('198.18.0.2', '198.18.0.1', icmp(0, ID, 7), decoy.subarray(0, 4));
  assert.equal(withOptions[0] & 0x0f, 6);
  assert.deepEqual(parseIcmp(withOptions, 4), { kind: 'echo-reply', type: 0, identifier: ID, sequence: 7 });
  const longer = ipv4('198.18.0.2', '198.18.0.1', icmp(0, ID, 8), decoy);
  assert.equal(longer[0] & 0x0f, 7);
  assert.equal(parseIcmp(longer, 4)?.sequence, 8);
});

test('IPv4 echo request (our own, looped back) is recognised as such', () => {
  assert.equal(parseIcmp(ipv4('198.18.0.1', '198.18.8.1', icmp(8, ID, 3)), 4)?.kind, 'echo-request');
});

test('IPv4 destination unreachable: identifier, sequence and destination of the quoted request', () => {
  const quoted = ipv4('198.18.0.1', '198.18.0.50', icmp(8, ID, 9));
  const pkt = parseIcmp(ipv4('198.18.0.254', '198.18.0.1', icmpError(3, quoted)), 4);
  assert.deepEqual(pkt, { kind: 'error', type: 3, identifier: ID, sequence: 9, quotedDest: '198.18.0.50' });
});

test('IPv4 error honours the quoted header length too', () => {
  const quoted = ipv4('198.18.0.1', '198.18.0.50', icmp(8, ID, 9), Buffer.alloc(8));
  assert.equal(parseIcmp(ipv4('198.18.0.254', '198.18.0.1', icmpError(11, quoted)), 4)?.sequence, 9);
});

test('IPv4 garbage: truncated, not version 4, bad IHL, error quoting a non-echo', () => {
  const good = ipv4('198.18.0.2', '198.18.0.1', icmp(0, ID, 7));
  assert.equal(parseIcmp(good.subarray(0, 27), 4), null);
  assert.equal(parseIcmp(Buffer.alloc(10), 4), null);
  const v6 = Buffer.from(good);
  v6[0] = 0x65;
  assert.equal(parseIcmp(v6, 4), null);
  const badIhl = Buffer.from(good);
  badIhl[0] = 0x44; // 16 bytes: shorter than the minimum
  assert.equal(parseIcmp(badIhl, 4), null);
  const quotedReply = ipv4('198.18.0.1', '198.18.0.50', icmp(0, ID, 9));
  assert.equal(parseIcmp(ipv4('198.18.0.254', '198.18.0.1', icmpError(3, quotedReply)), 4)?.kind, 'other');
  assert.equal(parseIcmp(ipv4('198.18.0.254', '198.18.0.1', icmpError(3, quotedReply.subarray(0, 24))), 4)?.kind, 'other');
});

test('IPv6 echo reply has no IP header in front', () => {
  assert.deepEqual(parseIcmp(icmp(129, ID, 5), 6), { kind: 'echo-reply', type: 129, identifier: ID, sequence: 5 });
  assert.equal(parseIcmp(icmp(128, ID, 5), 6)?.kind, 'echo-request');
  assert.equal(parseIcmp(Buffer.from([129, 0, 0]), 6), null);
});

test('IPv6 destination unreachable: quoted request found after the 40-byte IPv6 header', () => {
  const echo = icmp(128, ID, 11);
  const quoted = Buffer.concat([ipv6Header('2001:db8::1', '2001:db8::50', echo.length), echo]);
  assert.deepEqual(parseIcmp(icmpError(1, quoted), 6), { kind: 'error', type: 1, identifier: ID, sequence: 11, quotedDest: '2001:db8::50' });
  assert.equal(parseIcmp(icmp(135, 0, 0), 6)?.kind, 'other'); // neighbour solicitation and friends
});

test('reply from the target is accepted', () => {
  const pkt = parseIcmp(ipv4('198.18.0.2', '198.18.0.1', icmp(0, ID, 7)), 4);
  assert.equal(acceptReply(pkt, '198.18.0.2', ID, '198.18.0.2'), true);
});

test('reply from another address is rejected', () => {
  // Same identifier and sequence (another session, fping, a spoofer): net-ping alone would accept it.
  const pkt = parseIcmp(ipv4('198.18.8.1', '198.18.0.1', icmp(0, ID, 7)), 4);
  assert.equal(acceptReply(pkt, '198.18.8.1', ID, '198.18.0.50'), false);
  assert.equal(acceptReply(parseIcmp(icmp(129, ID, 7), 6), '::1', ID, '2001:db8::50'), false);
  assert.equal(acceptReply(parseIcmp(icmp(129, ID, 7), 6), '127.0.0.1', ID, '2001:db8::50'), false);
});

test('other identifier, no pending request, our own echo request: rejected', () => {
  const pkt = parseIcmp(ipv4('198.18.0.2', '198.18.0.1', icmp(0, ID, 7)), 4);
  assert.equal(acceptReply(pkt, '198.18.0.2', ID + 1, '198.18.0.2'), false);
  assert.equal(acceptReply(pkt, '198.18.0.2', ID, undefined), false);
  assert.equal(acceptReply(null, '198.18.0.2', ID, '198.18.0.2'), false);
  const request = parseIcmp(ipv4('198.18.8.1', '198.18.8.1', icmp(8, ID, 7)), 4);
  assert.equal(acceptReply(request, '198.18.8.1', ID, '198.18.8.1'), false);
});

test('IPv6 addresses compare in canonical form', () => {
  const pkt = parseIcmp(icmp(129, ID, 7), 6);
  assert.equal(acceptReply(pkt, '2001:db8::1', ID, '2001:DB8:0:0::1'), true);
  assert.equal(acceptReply(pkt, 'fe80::1', ID, 'fe80::1%eth0'), true);
});

test('an error is accepted from a router only when it quotes a request to the target', () => {
  const quoted = ipv4('198.18.0.1', '198.18.0.50', icmp(8, ID, 9));
  const pkt = parseIcmp(ipv4('198.18.0.254', '198.18.0.1', icmpError(3, quoted)), 4);
  assert.equal(acceptReply(pkt, '198.18.0.254', ID, '198.18.0.50'), true);
  assert.equal(acceptReply(pkt, '198.18.0.254', ID, '198.18.0.51'), false);
});

test('scan bound: waves of maxInFlight, every attempt timing out, twice, plus a second', () => {
  assert.equal(scanBoundMs(10, { timeoutMs: 500, retries: 0, maxInFlight: 5 }), 2 * 2 * 500 + 1000);
});

test('bug 7: 800 dead IPs share one timeout window (all echoes in flight), far inside the 30 s deadline', () => {
  assert.equal(scanBoundMs(800, { timeoutMs: 1000, retries: 1 }), 2 * 2 * 1000 + 1000); // 64 at a time: 13 waves, 53 s
  assert.equal(scanBoundMs(2000, { timeoutMs: 500, retries: 1 }), 2 * 2 * 500 + 1000);
  // In flight: as many replies as the granted buffer holds (the kernel reports double what it grants).
  assert.equal(inFlightFor(2 * 4 * 1024 * 1024), MAX_IN_FLIGHT);
  assert.equal(inFlightFor(425984), 208); // 4 MiB refused: capped by the default net.core.rmem_max
  assert.equal(inFlightFor(undefined), 64);
});

test('bug 9: the scan statistics reach the trace, and a refused receive buffer is said', () => {
  const granted = describeScanStats({ backend: 'raw', rejected: 3, rcvbuf: 8388608, inFlight: 6 });
  assert.deepEqual(granted, ['icmp: raw sockets, 6 echoes in flight at once, receive buffer 8388608 bytes, 3 stray replies rejected (another pinger\'s, same identifier and sequence)']);
  const refused = describeScanStats({ backend: 'raw', rejected: 0, rcvbuf: 425984, inFlight: 208 });
  assert.equal(refused[1], 'icmp: receive buffer refused: asked 4194304 bytes, granted 212992 (net.core.rmem_max); echoes go in waves of 208');
  assert.deepEqual(describeScanStats({ backend: 'fping', rejected: 0 }), ['icmp: fping backend (one process for every target)']);
});

test('worker output: replies, error, or exactly "unparseable output"', () => {
  const replies = [{ ip: '198.18.0.2', alive: true, rttMs: 0.1 }];
  const stats = { backend: 'raw', rejected: 2, rcvbuf: 8388608, inFlight: 1 };
  assert.deepEqual(parseWorkerOutput(JSON.stringify({ replies, stats }) + '\n', 1), { replies, stats });
  assert.throws(() => parseWorkerOutput('{"error":"raw ICMP socket not permitted (needs root or CAP_NET_RAW)"}', 1),
    (e: Error) => e instanceof ProbeError && e.message === 'raw ICMP socket not permitted (needs root or CAP_NET_RAW)');
  assert.throws(() => parseWorkerOutput('Segmentation fault\nmore', 1),
    (e: Error) => e instanceof ProbeError && e.message === 'icmp worker: unparseable output: Segmentation fault');
  assert.throws(() => parseWorkerOutput(JSON.stringify({ replies }), 2), /icmp worker: unparseable output: /);
});

test('every address is validated before anything is sent', async () => {
  await assert.rejects(icmpScan(['198.18.0.1', '-f'], { timeoutMs: 100, retries: 0 }),
    (e: Error) => e instanceof ProbeError && e.message === 'invalid IP address: "-f"');
  await assert.rejects(icmpScan(['198.18.0.1'], { timeoutMs: 0, retries: 0 }), /invalid icmp options/);
  await assert.rejects(icmpScan(['198.18.0.1'], { timeoutMs: 100, retries: 0, identifier: 65535 }), /invalid icmp options/);
  assert.deepEqual(await icmpScan([], { timeoutMs: 100, retries: 0 }), []);
});

test('fping output: alive with RTT, unreachable with the reason from stderr, same order as asked', () => {
  const stdout = '198.18.0.2 is alive (0.041 ms)\n198.18.8.7 is alive (retry 1) (0.5 ms)\n198.18.0.50 is unreachable\n198.18.4.1 is unreachable\n198.18.0.60 is unreachable\n2001:db8::2 is alive (0.1 ms)\n';
  const stderr = '198.18.4.1: error while sending ping: Network is unreachable\nICMP Host Unreachable from 198.18.0.1 for ICMP Echo sent to 198.18.0.50\n';
  assert.deepEqual(parseFping(stdout, stderr, ['198.18.0.60', '198.18.0.2', '198.18.0.50', '198.18.4.1', '198.18.8.7', '2001:DB8::2', '198.18.0.2']), [
    { ip: '198.18.0.60', alive: false, error: 'timed out' },
    { ip: '198.18.0.2', alive: true, rttMs: 0.041 },
    { ip: '198.18.0.50', alive: false, error: 'host unreachable (from 198.18.0.1)' },
    { ip: '198.18.4.1', alive: false, error: 'Network is unreachable' },
    { ip: '198.18.8.7', alive: true, rttMs: 0.5 },
    { ip: '2001:DB8::2', alive: true, rttMs: 0.1 },
    { ip: '198.18.0.2', alive: true, rttMs: 0.041 },
  ]);
  assert.throws(() => parseFping('fping: something new\n', '', ['198.18.0.2']), /^ProbeError: fping: unparseable output: fping: something new$/);
});
