/**
 * The lab's DNS on the wire: UDP and TCP on one port (RFC 1035 §4.2; TCP framing and pipelining per
 * RFC 7766), dns-packet for the records. Translation only: every answer comes from `dnsQuery`; this file
 * maps bytes to a question and the `DnsQueryResult` (or failure) back to a message.
 *
 * What a client sees, as from a Windows Server 2008 DNS server authoritative for the lab's zones:
 * - AA for authoritative answers, RD echoed, RA never set (recursion is off, see README).
 * - NXDOMAIN and NODATA carry the zone SOA in the authority section (RFC 2308); REFUSED for names in
 *   none of the zones; a type the emulator does not hold (AAAA, MX, TXT ...) at a name in a lab zone is
 *   NODATA after following CNAMEs; AXFR/IXFR are REFUSED (an AD-integrated zone allows no transfers by
 *   default); a class other than IN/ANY is REFUSED.
 * - SRV and NS answers carry the targets' A records in the additional section when the lab holds them
 *   (what the DC locator and Communicator rely on).
 * - `dns.unavailable` (the DNS Server service stopped on every DNS server): nothing is sent, over UDP or
 *   TCP (a TCP connection is accepted but never answered). A stopped Windows DNS server with the
 *   Windows Firewall on (the default) drops the packets, so dig prints "communications error to …:
 *   timed out" and "no servers could be reached", nslookup "DNS request timed out." — not SERVFAIL,
 *   which is what a running server says when it cannot answer.
 * - Malformed input: fewer than 12 bytes, or a message with QR set, is dropped; a non-zero OPCODE is
 *   NOTIMP; QDCOUNT ≠ 1, an unreadable question or a body dns-packet cannot decode is FORMERR; an EDNS
 *   version other than 0 is BADVERS (RFC 6891 §6.1.3). Error replies echo the id, OPCODE and RD.
 * - UDP replies fit 512 bytes, or the EDNS payload size the client advertises (at most 4000, Windows'
 *   MaximumUdpPacketSize default); additional records are dropped first, then TC is set with empty
 *   sections so the client retries over TCP (RFC 2181 §9).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { Lab } from '../../sim/lab.js';
import type { Result } from '../../sim/result.js';
import { ok } from '../../sim/result.js';
import { ConnectionRoster, type ListenOptions, type Listening } from '../../sim/wire.js';
import { dnsOnline, dnsQuery } from './dns.client.js';
import { DNS_ID, type DnsAnswer, type DnsQueryResult, type DnsQueryType, type DnsRcode } from './dns.events.js';

export interface DnsListenOptions extends ListenOptions {
  /** A TCP connection with no traffic for this long is closed (RFC 7766 §6.2.3). Default 10 s. */
  tcpIdleTimeoutMs?: number;
  /** A TCP query must arrive whole within this of the connection or of its first byte. Default 10 s. */
  tcpMessageTimeoutMs?: number;
  /** Called with any exception caught while answering a message (a bug: the client got SERVFAIL). */
  onError?: (error: unknown) => void;
}

export type DnsTransport = 'udp' | 'tcp';

/** Classic DNS payload limit without EDNS (RFC 1035 §4.2.1). */
export const CLASSIC_UDP_LIMIT = 512;
/** The largest UDP reply sent to an EDNS client: Windows DNS Server's MaximumUdpPacketSize default. */
export const MAX_UDP_PAYLOAD = 4000;
/** A TCP length prefix above this is no query this server would read: the connection is closed. */
export const MAX_TCP_QUERY = 4096;
const DEFAULT_TCP_IDLE_MS = 10_000;
/** A TCP query must arrive whole within this of the connection or of its first byte (BIND's tcp-initial-timeout is 30 s). */
const DEFAULT_TCP_MESSAGE_MS = 10_000;
/** A client that does not read its replies loses its connection once this much is queued. */
const MAX_TCP_BACKLOG = 1 << 20;
const MAX_TCP_CONNECTIONS = 256;
const CNAME_CHAIN_LIMIT = 8;

const QR = 0x8000;
const AA = 0x0400;
const TC = 0x0200;
const RD = 0x0100;

/** RCODEs (RFC 1035 §4.1.1, RFC 6891 for the extended BADVERS). */
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const BADVERS_EXTENDED = 1; // RCODE 16 = extended 1 << 4 | header 0

const WIRE_RCODE: Record<DnsRcode, number> = { NOERROR: RCODE.NOERROR, NXDOMAIN: RCODE.NXDOMAIN, REFUSED: RCODE.REFUSED, SERVFAIL: RCODE.SERVFAIL };

/** QTYPEs the emulator answers; anything else at a lab name is NODATA. */
const QUERY_TYPES = new Map<number, DnsQueryType>([
  [1, 'A'],
  [2, 'NS'],
  [5, 'CNAME'],
  [6, 'SOA'],
  [33, 'SRV'],
  [255, 'ANY'],
]);
const ZONE_TRANSFER_TYPES = new Set([251, 252]); // IXFR, AXFR
const CLASS_IN = 1;
const CLASS_ANY = 255;

/** The question exactly as the client sent it, and the name in the form `dnsQuery` compares. */
interface Question {
  bytes: Buffer;
  name: string;
  type: number;
  klass: number;
}

interface Header {
  id: number;
  opcode: number;
  rd: number;
}

/** One label in presentation form: letters folded to lower case, anything unusual as \DDD (RFC 4343). */
function presentLabel(label: Buffer): string {
  let out = '';
  for (const b of label) {
    if ((b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x5f || b === 0x2a) out += String.fromCharCode(b);
    else if (b >= 0x41 && b <= 0x5a) out += String.fromCharCode(b + 0x20);
    else out += `\\${String(b).padStart(3, '0')}`;
  }
  return out;
}

/**
 * The only question of a query, read straight after the header. A query's question cannot use a
 * compression pointer (there is nothing before it to point to), so labels of 0–63 bytes only.
 */
function readQuestion(message: Buffer): Question | undefined {
  const labels: string[] = [];
  let offset = 12;
  let wireLength = 1;
  for (;;) {
    if (offset >= message.length) return undefined;
    const len = message.readUInt8(offset);
    offset += 1;
    if (len === 0) break;
    if (len > 63 || offset + len > message.length) return undefined;
    wireLength += len + 1;
    if (wireLength > 255) return undefined;
    labels.push(presentLabel(message.subarray(offset, offset + len)));
    offset += len;
  }
  if (offset + 4 > message.length) return undefined;
  return { bytes: message.subarray(12, offset + 4), name: labels.join('.'), type: message.readUInt16BE(offset), klass: message.readUInt16BE(offset + 2) };
}

function flagsOf(h: Header, rcode: number, extra = 0): number {
  return QR | ((h.opcode & 0xf) << 11) | h.rd | extra | (rcode & 0xf);
}

/** A reply with no records: header plus the echoed question, if there is one. Cannot throw. */
function bareReply(h: Header, rcode: number, question: Question | undefined): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(h.id, 0);
  head.writeUInt16BE(flagsOf(h, rcode), 2);
  head.writeUInt16BE(question ? 1 : 0, 4);
  return question ? Buffer.concat([head, question.bytes]) : head;
}

function toWire(a: DnsAnswer): dnsPacket.Answer {
  switch (a.type) {
    case 'A':
    case 'CNAME':
    case 'NS':
      return { type: a.type, name: a.name, ttl: a.ttl, class: 'IN', data: a.data };
    case 'SRV':
      return { type: 'SRV', name: a.name, ttl: a.ttl, class: 'IN', data: { ...a.data } };
    case 'SOA':
      return { type: 'SOA', name: a.name, ttl: a.ttl, class: 'IN', data: { ...a.data } };
  }
}

function responseOpt(extendedRcode: number): dnsPacket.OptAnswer {
  return { type: 'OPT', name: '.', udpPayloadSize: MAX_UDP_PAYLOAD, extendedRcode, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
}

interface Sections {
  answers: DnsAnswer[];
  authority: DnsAnswer[];
  additional: DnsAnswer[];
}

/** Encodes the records with dns-packet and puts the client's question bytes back in front of them. */
function encodeReply(h: Header, rcode: number, flags: number, question: Question | undefined, s: Sections, opt: dnsPacket.OptAnswer | undefined): Buffer {
  const body = dnsPacket.encode({
    type: 'response',
    id: h.id,
    flags: flagsOf(h, rcode, flags),
    questions: [],
    answers: s.answers.map(toWire),
    authorities: s.authority.map(toWire),
    additionals: [...s.additional.map(toWire), ...(opt ? [opt] : [])],
  });
  if (!question) return body;
  const head = Buffer.from(body.subarray(0, 12));
  head.writeUInt16BE(1, 4);
  return Buffer.concat([head, question.bytes, body.subarray(12)]);
}

/** A type the emulator does not hold: follow CNAMEs as RFC 1034 §4.3.2 says, then NODATA/NXDOMAIN/REFUSED. */
function resolveOtherType(lab: Lab, name: string): Result<DnsQueryResult> {
  const chain: DnsAnswer[] = [];
  let current = name;
  for (let hop = 0; hop <= CNAME_CHAIN_LIMIT; hop++) {
    const r = dnsQuery(lab.get(DNS_ID), { name: current, type: 'CNAME' });
    if (!r.ok) return r;
    const cname = r.value.rcode === 'NOERROR' ? r.value.answers.find((a) => a.type === 'CNAME') : undefined;
    if (!cname) {
      if (hop > 0 && r.value.rcode === 'REFUSED') return ok({ rcode: 'NOERROR', authoritative: true, answers: chain, authority: [] });
      return ok({ ...r.value, answers: chain });
    }
    chain.push(cname);
    current = cname.type === 'CNAME' ? cname.data : current;
  }
  return ok({ rcode: 'SERVFAIL', authoritative: true, answers: chain, authority: [] });
}

/** The A records of SRV and NS targets the lab holds, for the additional section. */
function additionalFor(lab: Lab, answers: DnsAnswer[]): DnsAnswer[] {
  const targets: string[] = [];
  for (const a of answers) {
    const t = a.type === 'SRV' ? a.data.target : a.type === 'NS' ? a.data : undefined;
    if (t !== undefined && !targets.includes(t)) targets.push(t);
  }
  const out: DnsAnswer[] = [];
  for (const t of targets) {
    const r = dnsQuery(lab.get(DNS_ID), { name: t, type: 'A' });
    if (r.ok && r.value.rcode === 'NOERROR') out.push(...r.value.answers.filter((a) => a.type === 'A' && !answers.some((x) => x.text === a.text)));
  }
  return out;
}

function respond(lab: Lab, message: Buffer, transport: DnsTransport): Buffer | null {
  if (message.length < 12) return null;
  const flags = message.readUInt16BE(2);
  if (flags & QR) return null; // never answer a response (no reflection loops)
  if (!dnsOnline(lab.get(DNS_ID))) return null; // a stopped server sends nothing, not even FORMERR
  const h: Header = { id: message.readUInt16BE(0), opcode: (flags >> 11) & 0xf, rd: flags & RD };
  const question = message.readUInt16BE(4) === 1 ? readQuestion(message) : undefined;
  let decoded: dnsPacket.DecodedPacket | undefined;
  try {
    decoded = dnsPacket.decode(message);
  } catch {
    decoded = undefined;
  }
  const opts = (decoded?.additionals ?? []).filter((a): a is dnsPacket.OptAnswer => a.type === 'OPT');
  const opt = opts[0];
  // RFC 6891 §6.1.1: more than one OPT, or one not owned by the root, is FORMERR (and gets no OPT back).
  if (opts.length > 1 || (opt && opt.name !== '.')) return bareReply(h, RCODE.FORMERR, question);
  // §7: a request with an OPT gets one back, whatever the RCODE.
  const replyOpt = opt ? responseOpt(0) : undefined;
  const none: Sections = { answers: [], authority: [], additional: [] };
  if (h.opcode !== 0) return encodeReply(h, RCODE.NOTIMP, 0, question, none, replyOpt);
  if (!question || !decoded) return encodeReply(h, RCODE.FORMERR, 0, question, none, replyOpt);
  if (opt && opt.ednsVersion !== 0) return encodeReply(h, RCODE.NOERROR, 0, question, none, responseOpt(BADVERS_EXTENDED));

  if ((question.klass !== CLASS_IN && question.klass !== CLASS_ANY) || ZONE_TRANSFER_TYPES.has(question.type)) {
    return encodeReply(h, RCODE.REFUSED, 0, question, none, replyOpt);
  }
  const queryType = QUERY_TYPES.get(question.type);
  const result = queryType ? dnsQuery(lab.get(DNS_ID), { name: question.name, type: queryType }) : resolveOtherType(lab, question.name);
  if (!result.ok) {
    if (result.failure.kind === 'dns.unavailable') return null; // a stopped server sends nothing
    return encodeReply(h, RCODE.SERVFAIL, 0, question, none, replyOpt);
  }
  const r = result.value;
  const rcode = WIRE_RCODE[r.rcode];
  const aa = r.authoritative ? AA : 0;
  const full: Sections = { answers: r.answers, authority: r.authority, additional: additionalFor(lab, r.answers) };

  const limit = transport === 'tcp' ? 0xffff : opt ? Math.min(Math.max(opt.udpPayloadSize, CLASSIC_UDP_LIMIT), MAX_UDP_PAYLOAD) : CLASSIC_UDP_LIMIT;
  const reply = encodeReply(h, rcode, aa, question, full, replyOpt);
  if (reply.length <= limit) return reply;
  const withoutAdditional = encodeReply(h, rcode, aa, question, { ...full, additional: [] }, replyOpt);
  if (withoutAdditional.length <= limit) return withoutAdditional;
  return encodeReply(h, rcode, aa | TC, question, none, replyOpt);
}

/**
 * The reply the lab's DNS server sends to one message received over `transport`, or null when it sends
 * nothing. Never throws: an unexpected exception is reported to `onError` and answered SERVFAIL.
 */
export function answerDnsMessage(lab: Lab, message: Buffer, transport: DnsTransport, onError?: (error: unknown) => void): Buffer | null {
  try {
    return respond(lab, message, transport);
  } catch (error) {
    onError?.(error);
    if (message.length < 12) return null;
    const flags = message.readUInt16BE(2);
    return bareReply({ id: message.readUInt16BE(0), opcode: (flags >> 11) & 0xf, rd: flags & RD }, RCODE.SERVFAIL, undefined);
  }
}

function bindUdp(host: string, port: number): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    const failed = (error: Error) => {
      socket.close();
      reject(error);
    };
    socket.once('error', failed);
    socket.bind(port, host, () => {
      socket.off('error', failed);
      resolve(socket);
    });
  });
}

function listenTcp(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (error: Error) => reject(error);
    server.once('error', failed);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', failed);
      resolve();
    });
  });
}

/** UDP first (port 0 picks one), then TCP on the same number; with port 0, retry if TCP finds it taken. */
async function bindBoth(host: string, port: number, tcp: Server): Promise<UdpSocket> {
  for (let attempt = 0; ; attempt++) {
    const udp = await bindUdp(host, port);
    try {
      await listenTcp(tcp, host, udp.address().port);
      return udp;
    } catch (error) {
      udp.close();
      const inUse = (error as NodeJS.ErrnoException).code === 'EADDRINUSE';
      if (port !== 0 || !inUse || attempt >= 9) throw error;
    }
  }
}

/**
 * Serves the lab's DNS on UDP and TCP on one port of `host` (default 127.0.0.1). Resolves once both
 * listen; `stop()` closes both sockets and every TCP connection.
 */
export async function startDnsServer(lab: Lab, options: DnsListenOptions = {}): Promise<Listening> {
  if (!lab.get(DNS_ID)) throw new Error(`startDnsServer: the lab has no "${DNS_ID}" actor`);
  const host = options.host ?? '127.0.0.1';
  const idleMs = options.tcpIdleTimeoutMs ?? DEFAULT_TCP_IDLE_MS;
  const answer = (message: Buffer, transport: DnsTransport) => answerDnsMessage(lab, message, transport, options.onError);
  /** Open TCP connections, and who makes room at the limit (sim/wire.ts). */
  const connections = new ConnectionRoster<Socket>();
  let closed = false;
  const messageMs = options.tcpMessageTimeoutMs ?? DEFAULT_TCP_MESSAGE_MS;

  const tcp = createServer({ noDelay: true }, (socket) => {
    if (closed) {
      socket.destroy();
      return;
    }
    // At the limit, the connection that has gone longest without a whole query makes room: clients
    // that dribble bytes to hold every slot are the first to go, and a real dig +tcp still gets in.
    if (connections.size >= MAX_TCP_CONNECTIONS) {
      const victim = connections.victim();
      if (victim) {
        connections.delete(victim);
        victim.destroy();
      }
    }
    connections.add(socket);
    socket.setTimeout(idleMs, () => socket.destroy());
    socket.on('error', () => socket.destroy()); // resets and the like: this connection only
    socket.on('close', () => {
      clearTimeout(deadline);
      connections.delete(socket);
    });
    // A query must arrive whole within the message timeout of the connection or of its first byte,
    // however slowly the bytes come (the idle timeout alone is reset by every byte).
    let deadline: NodeJS.Timeout | undefined = setTimeout(() => socket.destroy(), messageMs);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      deadline ??= setTimeout(() => socket.destroy(), messageMs);
      while (pending.length >= 2) {
        const size = pending.readUInt16BE(0);
        if (size > MAX_TCP_QUERY) {
          socket.destroy();
          return;
        }
        if (pending.length < 2 + size) break;
        const message = pending.subarray(2, 2 + size);
        pending = pending.subarray(2 + size);
        clearTimeout(deadline);
        deadline = pending.length ? setTimeout(() => socket.destroy(), messageMs) : undefined;
        connections.active(socket);
        const reply = answer(message, 'tcp');
        if (!reply || socket.destroyed) continue;
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(reply.length, 0);
        socket.write(Buffer.concat([prefix, reply]));
        if (socket.writableLength > MAX_TCP_BACKLOG) {
          socket.destroy();
          return;
        }
      }
    });
  });
  tcp.on('error', () => undefined); // after listen: nothing a client can cause; keep serving

  const udp = await bindBoth(host, options.port ?? 0, tcp);
  udp.on('error', () => undefined);
  udp.on('message', (message, peer) => {
    const reply = answer(message, 'udp');
    if (!reply || closed) return;
    try {
      udp.send(reply, peer.port, peer.address, () => undefined);
    } catch {
      // a peer address node cannot send to (port 0): nothing to answer
    }
  });

  const port = udp.address().port;
  let stopping: Promise<void> | undefined;
  return {
    protocol: 'dns',
    host,
    port,
    stop() {
      stopping ??= (async () => {
        closed = true;
        for (const socket of connections.keys()) socket.destroy();
        await Promise.all([new Promise<void>((resolve) => tcp.close(() => resolve())), new Promise<void>((resolve) => udp.close(() => resolve()))]);
      })();
      return stopping;
    },
  };
}
