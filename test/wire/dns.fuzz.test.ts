/**
 * Property fuzz of the lab's DNS adapter: generated, mutated, truncated and random messages, in process
 * and over real UDP and TCP sockets. The server must never throw, must answer exactly what the
 * translation function says (byte for byte, in order), and must go on answering valid queries.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createSocket } from 'node:dgram';
import fc from 'fast-check';
import * as dnsPacket from 'dns-packet';
import type { Lab } from '../../sim/lab.js';
import type { Listening } from '../../sim/wire.js';
import { answerDnsMessage, CLASSIC_UDP_LIMIT, MAX_UDP_PAYLOAD, startDnsServer } from '../../emulators/dns/dns.wire.adapter.js';
import { LOOPBACK, POOL_VIP, TcpDnsClient, inspect, query, udpExchange, wireDnsLab } from '../support/wire-dns.js';
import { anyDnsMessage, randomBytes } from '../support/wire-dns-fuzz.js';

const SEED = 20090101;
const IN_PROCESS_RUNS = 10_000;
const UDP_MESSAGES = 6_000;
const TCP_MESSAGES = 4_000;
/** Datagrams in flight at once: small enough for the default socket buffers (no loss on loopback). */
const UDP_BATCH = 50;
const TCP_BATCH = 250;
const RAW_TCP_STREAMS = 200;

let lab: Lab;
let server: Listening;
const adapterErrors: unknown[] = [];
const processErrors: unknown[] = [];
const onProcessError = (e: unknown) => processErrors.push(e);

beforeAll(async () => {
  process.on('uncaughtException', onProcessError);
  process.on('unhandledRejection', onProcessError);
  lab = wireDnsLab();
  server = await startDnsServer(lab, { tcpIdleTimeoutMs: 2000, onError: (e) => adapterErrors.push(e) });
});

afterAll(async () => {
  await server.stop();
  lab.stop();
  process.off('uncaughtException', onProcessError);
  process.off('unhandledRejection', onProcessError);
});

/** What every reply must look like, whatever the request was. */
function checkReply(request: Buffer, reply: Buffer, transport: 'udp' | 'tcp'): void {
  expect(request.length).toBeGreaterThanOrEqual(12);
  expect(reply.readUInt16BE(0)).toBe(request.readUInt16BE(0)); // id echoed
  const req = request.readUInt16BE(2);
  const res = reply.readUInt16BE(2);
  expect(res & 0x8000).toBe(0x8000); // QR
  expect((res >> 11) & 0xf).toBe((req >> 11) & 0xf); // OPCODE echoed
  expect(res & 0x0100).toBe(req & 0x0100); // RD echoed
  expect(res & 0x0080).toBe(0); // RA never
  const r = inspect(reply); // dns-packet decodes every reply
  expect(['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'BADVERS']).toContain(r.rcode);
  if (transport === 'udp') expect(reply.length).toBeLessThanOrEqual(r.opt ? MAX_UDP_PAYLOAD : CLASSIC_UDP_LIMIT);
}

/** The messages of one fuzz run, reproducible from the seed. */
const sample = (n: number, seed: number) => fc.sample(anyDnsMessage, { numRuns: n, seed });

const chunks = <T>(xs: T[], size: number): T[][] => Array.from({ length: Math.ceil(xs.length / size) }, (_, i) => xs.slice(i * size, (i + 1) * size));

/** Sends a batch of datagrams from one socket, then a sentinel query; resolves with the replies before the sentinel's. */
function udpBatch(port: number, messages: Buffer[], sentinel: Buffer, sentinelReply: Buffer): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const replies: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no reply to the sentinel after ${replies.length} replies`));
    }, 5000);
    socket.on('message', (m) => {
      if (!m.equals(sentinelReply)) {
        replies.push(m);
        return;
      }
      clearTimeout(timer);
      socket.close();
      resolve(replies);
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      socket.close();
      reject(e);
    });
    for (const m of messages) socket.send(m, port, LOOPBACK);
    socket.send(sentinel, port, LOOPBACK);
  });
}

const frame = (m: Buffer) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 0xff]), m]);

async function expectLabStillAnswers(): Promise<void> {
  const udp = await udpExchange(server.port, query('sip.example.com', 'A', { id: 4242 }));
  expect(inspect(udp!)).toMatchObject({ id: 4242, rcode: 'NOERROR', aa: true, answers: [{ type: 'A', data: POOL_VIP }] });
  const c = await TcpDnsClient.connect(server.port);
  c.send(query('_sipinternaltls._tcp.example.com', 'SRV', { id: 4343 }));
  const tcp = inspect((await c.reply(2000))!);
  expect(tcp).toMatchObject({ id: 4343, rcode: 'NOERROR', answers: [{ type: 'SRV', data: { port: 5061, target: 'sip.example.com' } }] });
  await c.close();
}

describe('the lab DNS under fuzzing', () => {
  it(`answers ${IN_PROCESS_RUNS} generated messages in process without throwing, with well-formed replies`, () => {
    fc.assert(
      fc.property(anyDnsMessage, fc.constantFrom('udp' as const, 'tcp' as const), (message, transport) => {
        const reply = answerDnsMessage(lab, message, transport, (e) => adapterErrors.push(e));
        if (message.length < 12 || (message.readUInt16BE(2) & 0x8000) !== 0) {
          expect(reply).toBeNull();
          return;
        }
        expect(reply).not.toBeNull();
        checkReply(message, reply!, transport);
      }),
      { numRuns: IN_PROCESS_RUNS, seed: SEED },
    );
    expect(adapterErrors).toEqual([]);
  });

  it(`answers ${UDP_MESSAGES} fuzzed datagrams exactly as the translation says, in order`, async () => {
    const messages = sample(UDP_MESSAGES, SEED + 1);
    let answered = 0;
    for (const [i, batch] of chunks(messages, UDP_BATCH).entries()) {
      const sentinel = query(`zz-sentinel-${i}.example.com`, 'A', { id: i });
      const sentinelReply = answerDnsMessage(lab, sentinel, 'udp')!;
      const replies = await udpBatch(server.port, batch, sentinel, sentinelReply);
      const expected = batch.map((m) => answerDnsMessage(lab, m, 'udp')).filter((r): r is Buffer => r !== null);
      expect(replies.map((r) => r.toString('hex'))).toEqual(expected.map((r) => r.toString('hex')));
      answered += replies.length;
    }
    expect(answered).toBeGreaterThan(UDP_MESSAGES / 2);
    expect(adapterErrors).toEqual([]);
    await expectLabStillAnswers();
  });

  it(`answers ${TCP_MESSAGES} fuzzed framed messages pipelined on TCP connections, in order`, async () => {
    const messages = sample(TCP_MESSAGES, SEED + 2);
    for (const [i, batch] of chunks(messages, TCP_BATCH).entries()) {
      const c = await TcpDnsClient.connect(server.port);
      const sentinel = query(`zz-sentinel-${i}.example.com`, 'A', { id: i });
      const sentinelReply = answerDnsMessage(lab, sentinel, 'tcp')!;
      c.sendRaw(Buffer.concat([...batch.map(frame), frame(sentinel)]));
      const replies: Buffer[] = [];
      for (;;) {
        const r = await c.reply(5000);
        if (!r) throw new Error(`connection ${i}: no reply to the sentinel after ${replies.length} replies`);
        if (r.equals(sentinelReply)) break;
        replies.push(Buffer.from(r));
      }
      const expected = batch.map((m) => answerDnsMessage(lab, m, 'tcp')).filter((r): r is Buffer => r !== null);
      expect(replies.map((r) => r.toString('hex'))).toEqual(expected.map((r) => r.toString('hex')));
      await c.close();
    }
    expect(adapterErrors).toEqual([]);
    await expectLabStillAnswers();
  });

  it(`survives ${RAW_TCP_STREAMS} TCP connections of raw random bytes (bad and oversized length prefixes)`, async () => {
    const streams = fc.sample(randomBytes, { numRuns: RAW_TCP_STREAMS, seed: SEED + 3 });
    for (const group of chunks(streams, 25)) {
      await Promise.all(
        group.map(async (bytes) => {
          const c = await TcpDnsClient.connect(server.port);
          c.sendRaw(bytes);
          await new Promise((r) => setTimeout(r, 5));
          await c.close();
        }),
      );
    }
    // A connection that announces more than a query can hold is closed; the others go on.
    const oversized = await TcpDnsClient.connect(server.port);
    oversized.sendRaw(Buffer.from([0xf0, 0x00, 0, 0]));
    await oversized.closed;
    expect(adapterErrors).toEqual([]);
    await expectLabStillAnswers();
  });

  it('threw nothing anywhere: no adapter error, no uncaught exception, no unhandled rejection', () => {
    expect(adapterErrors).toEqual([]);
    expect(processErrors).toEqual([]);
    expect(dnsPacket.decode(answerDnsMessage(lab, query('sip.example.com', 'A'), 'udp')!).answers).toHaveLength(1);
  });
});
