/**
 * For DNS wire tests: a lab with the automatic sign-in records, dns-packet queries, and UDP/TCP clients
 * that talk only to loopback and always settle (a reply, null on timeout, or the connection's end).
 */
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import * as dnsPacket from 'dns-packet';
import { Lab } from '../../sim/lab.js';
import { defaultTopology } from '../../sim/topology.js';
import { registry } from '../../emulators/index.js';
import { dnsAddRecord } from '../../emulators/dns/dns.client.js';
import type { DnsRecordArgs } from '../../emulators/dns/dns.events.js';

export const LOOPBACK = '127.0.0.1';
/** The pool VIP of the default topology (decision 0004: every lab address is on loopback). */
export const POOL_VIP = '127.0.10.30';
/** Enough A records at one name for a reply above 512 bytes. */
export const BIG_NAME = 'big.example.com';
export const BIG_COUNT = 40;

/**
 * The default lab with what an operator publishes for automatic sign-in (ocs-facts §6): the pool and
 * `sip.example.com` A records, the `_sipinternaltls._tcp` SRV, a CNAME across zones, and a large RRset.
 */
export function wireDnsLab(): Lab {
  const lab = new Lab(defaultTopology(), registry.emulators, { seed: '1' });
  const records: DnsRecordArgs[] = [
    { name: 'pool01.corp.example.net', type: 'A', address: POOL_VIP },
    { name: 'sip.example.com', type: 'A', address: POOL_VIP },
    { name: '_sipinternaltls._tcp.example.com', type: 'SRV', priority: 0, weight: 0, port: 5061, target: 'sip.example.com' },
    { name: 'sipexternal.example.com', type: 'CNAME', target: 'pool01.corp.example.net' },
    ...Array.from({ length: BIG_COUNT }, (_, i): DnsRecordArgs => ({ name: BIG_NAME, type: 'A', address: `127.0.20.${i + 1}` })),
  ];
  for (const r of records) {
    const added = dnsAddRecord(lab.get('dns'), r);
    if (!added.ok && added.failure.kind !== 'dns.recordExists') throw new Error(`wireDnsLab: ${added.failure.message}`);
  }
  return lab;
}

export interface QueryOptions {
  id?: number;
  recursionDesired?: boolean;
  /** Adds an OPT record advertising this UDP payload size. */
  edns?: number;
  ednsVersion?: number;
}

/** dns-packet encodes QTYPE ANY (255) by name, though its types list only record types. */
export type QueryType = dnsPacket.RecordType | 'ANY';

export function query(name: string, type: QueryType, o: QueryOptions = {}): Buffer {
  const additionals: dnsPacket.Answer[] =
    o.edns === undefined ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: o.edns, extendedRcode: 0, ednsVersion: o.ednsVersion ?? 0, flags: 0, flag_do: false, options: [] }];
  return dnsPacket.encode({
    type: 'query',
    id: o.id ?? 0x1234,
    flags: o.recursionDesired === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ type: type as dnsPacket.RecordType, name, class: 'IN' }],
    additionals,
  });
}

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

/** A reply's header fields read from the bytes, and the records decoded by dns-packet. */
export function inspect(reply: Buffer) {
  const flags = reply.readUInt16BE(2);
  const packet = dnsPacket.decode(reply);
  const opt = (packet.additionals ?? []).find((a): a is dnsPacket.OptAnswer => a.type === 'OPT');
  const rcodeValue = ((opt?.extendedRcode ?? 0) << 4) | (flags & 0xf);
  return {
    id: reply.readUInt16BE(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: rcodeValue === 16 ? 'BADVERS' : (RCODE_NAMES[rcodeValue] ?? `RCODE${rcodeValue}`),
    qdcount: reply.readUInt16BE(4),
    questions: packet.questions ?? [],
    answers: packet.answers ?? [],
    authorities: packet.authorities ?? [],
    additionals: (packet.additionals ?? []).filter((a) => a.type !== 'OPT'),
    opt,
  };
}

/** Sends one datagram and waits for one reply; null when none comes within `timeoutMs`. */
export function udpExchange(port: number, message: Buffer, timeoutMs = 1000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    let done = false;
    const finish = (reply: Buffer | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      resolve(reply);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    socket.on('message', (reply) => finish(reply));
    socket.on('error', () => finish(null));
    socket.send(message, port, LOOPBACK);
  });
}

/** A DNS-over-TCP client: framed writes, replies read in order, and whether the server closed. */
export class TcpDnsClient {
  private pending: Buffer = Buffer.alloc(0);
  private readonly frames: Buffer[] = [];
  private readonly waiters: Array<(frame: Buffer | null) => void> = [];
  private ended = false;
  readonly closed: Promise<void>;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= 2 && this.pending.length >= 2 + this.pending.readUInt16BE(0)) {
        const size = this.pending.readUInt16BE(0);
        const frame = this.pending.subarray(2, 2 + size);
        this.pending = this.pending.subarray(2 + size);
        const waiter = this.waiters.shift();
        if (waiter) waiter(frame);
        else this.frames.push(frame);
      }
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.ended = true;
        for (const w of this.waiters.splice(0)) w(null);
        resolve();
      }),
    );
  }

  static connect(port: number): Promise<TcpDnsClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: LOOPBACK, port });
      socket.once('connect', () => resolve(new TcpDnsClient(socket)));
      socket.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.ended;
  }

  /** Writes `message` with its 2-byte length prefix. */
  send(message: Buffer): void {
    const prefix = Buffer.alloc(2);
    prefix.writeUInt16BE(message.length, 0);
    this.socket.write(Buffer.concat([prefix, message]));
  }

  /** Writes bytes as they are (framing is the caller's). */
  sendRaw(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** The next reply; null if the connection closes or nothing comes within `timeoutMs`. */
  reply(timeoutMs = 1000): Promise<Buffer | null> {
    const ready = this.frames.shift();
    if (ready) return Promise.resolve(ready);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      const waiter = (frame: Buffer | null) => {
        clearTimeout(timer);
        resolve(frame);
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(null);
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  close(): Promise<void> {
    this.socket.destroy();
    return this.closed;
  }
}
