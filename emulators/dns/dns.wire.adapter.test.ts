import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { Lab } from '../../sim/lab.js';
import type { Listening } from '../../sim/wire.js';
import { hostService, hostStartService, hostStopService } from '../host/host.client.js';
import { dnsOnline } from './dns.client.js';
import { answerDnsMessage, startDnsServer } from './dns.wire.adapter.js';
import { BIG_COUNT, BIG_NAME, LOOPBACK, POOL_VIP, TcpDnsClient, inspect, query, udpExchange, wireDnsLab } from '../../test/support/wire-dns.js';

let lab: Lab;
let server: Listening;
const errors: unknown[] = [];

beforeAll(async () => {
  lab = wireDnsLab();
  server = await startDnsServer(lab, { tcpIdleTimeoutMs: 300, onError: (e) => errors.push(e) });
});
afterAll(async () => {
  await server.stop();
  lab.stop();
  expect(errors).toEqual([]);
});

/** One query over UDP, decoded; fails the test when nothing comes back. */
async function ask(message: Buffer) {
  const reply = await udpExchange(server.port, message);
  if (!reply) throw new Error('no reply over UDP');
  return inspect(reply);
}

const dataOf = (records: dnsPacket.Answer[]) => records.map((r) => ('data' in r ? r.data : undefined));

/** A header with the given flags and counts, followed by `body`. */
function raw(id: number, flags: number, qdcount: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(flags, 2);
  head.writeUInt16BE(qdcount, 4);
  return Buffer.concat([head, body]);
}

describe('the lab DNS over UDP, as Communicator and dig see it', () => {
  it('listens on loopback for the dns protocol', () => {
    expect(server).toMatchObject({ protocol: 'dns', host: LOOPBACK });
    expect(server.port).toBeGreaterThan(0);
  });

  it('answers sip.example.com A authoritatively, echoing the id, RD and the question as sent', async () => {
    const r = await ask(query('SIP.Example.COM', 'A', { id: 0xbeef }));
    expect(r).toMatchObject({ id: 0xbeef, qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: false, rcode: 'NOERROR', qdcount: 1 });
    expect(r.questions).toEqual([{ name: 'SIP.Example.COM', type: 'A', class: 'IN' }]);
    expect(r.answers).toMatchObject([{ name: 'sip.example.com', type: 'A', class: 'IN', ttl: 3600, data: POOL_VIP }]);
    expect(r.authorities).toEqual([]);
  });

  it('echoes RD clear when the client asks without recursion (dig +norecurse)', async () => {
    expect(await ask(query('sip.example.com', 'A', { recursionDesired: false }))).toMatchObject({ rd: false, ra: false, aa: true });
  });

  it('answers the automatic sign-in SRV with the target A record in the additional section', async () => {
    const r = await ask(query('_sipinternaltls._tcp.example.com', 'SRV'));
    expect(r.rcode).toBe('NOERROR');
    expect(r.answers).toMatchObject([{ type: 'SRV', name: '_sipinternaltls._tcp.example.com', data: { priority: 0, weight: 0, port: 5061, target: 'sip.example.com' } }]);
    expect(r.additionals).toMatchObject([{ type: 'A', name: 'sip.example.com', data: POOL_VIP }]);
  });

  it('follows a CNAME across the lab zones', async () => {
    const r = await ask(query('sipexternal.example.com', 'A'));
    expect(r).toMatchObject({ rcode: 'NOERROR', aa: true });
    expect(r.answers.map((a) => `${a.name} ${a.type}`)).toEqual(['sipexternal.example.com CNAME', 'pool01.corp.example.net A']);
    expect(dataOf(r.answers)).toEqual(['pool01.corp.example.net', POOL_VIP]);
  });

  it('answers NODATA with the zone SOA: a name without that type, an empty non-terminal, a type the lab does not hold', async () => {
    for (const [name, type] of [
      ['sip.example.com', 'SRV'],
      ['_tcp.example.com', 'A'],
      ['sip.example.com', 'AAAA'],
      ['sipexternal.example.com', 'MX'],
    ] as const) {
      const r = await ask(query(name, type));
      expect(r, `${name} ${type}`).toMatchObject({ rcode: 'NOERROR', aa: true, answers: type === 'MX' ? [{ type: 'CNAME' }] : [] });
      expect(r.authorities.map((a) => a.type)).toEqual(['SOA']);
    }
  });

  it('answers NXDOMAIN with the SOA Windows puts on a new zone', async () => {
    const r = await ask(query('nothere.example.com', 'A'));
    expect(r).toMatchObject({ rcode: 'NXDOMAIN', aa: true, answers: [] });
    expect(r.authorities).toMatchObject([
      { type: 'SOA', name: 'example.com', data: { mname: 'dc01.corp.example.net', rname: 'hostmaster.example.com', refresh: 900, retry: 600, expire: 86400, minimum: 3600 } },
    ]);
  });

  it('refuses names outside the lab zones, zone transfers and other classes, without AA', async () => {
    expect(await ask(query('www.microsoft.com', 'A'))).toMatchObject({ rcode: 'REFUSED', aa: false, answers: [], authorities: [] });
    expect(await ask(query('example.com', 'AXFR'))).toMatchObject({ rcode: 'REFUSED', answers: [] });
    const chaos = dnsPacket.encode({ type: 'query', id: 7, questions: [{ name: 'version.bind', type: 'TXT', class: 'CH' }] });
    expect(await ask(chaos)).toMatchObject({ id: 7, rcode: 'REFUSED' });
  });

  it('answers SOA, NS (with glue) and ANY at the zone apex', async () => {
    expect((await ask(query('example.com', 'SOA'))).answers).toMatchObject([{ type: 'SOA', data: { rname: 'hostmaster.example.com' } }]);
    const ns = await ask(query('example.com', 'NS'));
    expect(dataOf(ns.answers)).toEqual(['dc01.corp.example.net', 'dc02.corp.example.net']);
    expect(ns.additionals.map((a) => a.name)).toEqual(['dc01.corp.example.net', 'dc02.corp.example.net']);
    expect((await ask(query('example.com', 'ANY'))).answers.map((a) => a.type)).toEqual(['SOA', 'NS', 'NS']);
  });

  it('answers FORMERR echoing the id when QDCOUNT is not 1 or the message does not decode', async () => {
    const good = query('sip.example.com', 'A', { id: 0x0101 });
    const twoQuestions = dnsPacket.encode({ type: 'query', id: 0x0202, questions: [{ name: 'a.example.com', type: 'A' }, { name: 'b.example.com', type: 'A' }] });
    const noQuestion = raw(0x0303, 0x0100, 0);
    const cutQuestion = good.subarray(0, good.length - 3);
    const withBrokenAnswer = Buffer.from(good);
    withBrokenAnswer.writeUInt16BE(1, 6); // ANCOUNT 1, but no record follows
    withBrokenAnswer.writeUInt16BE(0x0404, 0);
    for (const [message, id] of [
      [twoQuestions, 0x0202],
      [noQuestion, 0x0303],
      [cutQuestion, 0x0101],
      [withBrokenAnswer, 0x0404],
    ] as const) {
      expect(await ask(message), `id ${id}`).toMatchObject({ id, qr: true, rcode: 'FORMERR', answers: [] });
    }
  });

  it('answers NOTIMP to a non-zero OPCODE (a dynamic update, a server status request)', async () => {
    for (const opcode of [2, 5]) {
      const message = query('example.com', 'SOA', { id: 0x5000 + opcode });
      message.writeUInt16BE((opcode << 11) | 0x0100, 2);
      expect(await ask(message)).toMatchObject({ id: 0x5000 + opcode, opcode, rcode: 'NOTIMP', answers: [] });
    }
    const withEdns = query('example.com', 'SOA', { edns: 1232 });
    withEdns.writeUInt16BE(5 << 11, 2);
    expect(await ask(withEdns)).toMatchObject({ rcode: 'NOTIMP', qdcount: 1, opt: { ednsVersion: 0 } }); // RFC 6891 §7
  });

  it('drops garbage shorter than a header and anything that is itself a response', async () => {
    expect(await udpExchange(server.port, Buffer.from([1, 2, 3]), 250)).toBeNull();
    const response = query('sip.example.com', 'A');
    response.writeUInt16BE(0x8100, 2);
    expect(await udpExchange(server.port, response, 250)).toBeNull();
    expect((await ask(query('sip.example.com', 'A'))).rcode).toBe('NOERROR');
  });

  it('sets TC on a reply above 512 bytes without EDNS and honours the EDNS payload size', async () => {
    const classic = await ask(query(BIG_NAME, 'A'));
    expect(classic).toMatchObject({ tc: true, rcode: 'NOERROR', aa: true, answers: [], opt: undefined });
    const small = await ask(query(BIG_NAME, 'A', { edns: 512 }));
    expect(small).toMatchObject({ tc: true, answers: [] });
    const large = await ask(query(BIG_NAME, 'A', { edns: 4096 }));
    expect(large).toMatchObject({ tc: false, opt: { udpPayloadSize: 4000, ednsVersion: 0 } });
    expect(large.answers).toHaveLength(BIG_COUNT);
    expect((await udpExchange(server.port, query(BIG_NAME, 'A', { edns: 4096 })))!.length).toBeLessThanOrEqual(4000);
  });

  it('answers BADVERS to an EDNS version it does not speak', async () => {
    expect(await ask(query('sip.example.com', 'A', { edns: 1232, ednsVersion: 1 }))).toMatchObject({ rcode: 'BADVERS', answers: [] });
  });
});

describe('the lab DNS over TCP', () => {
  it('answers several pipelined queries on one connection, in order, and the full large RRset', async () => {
    const c = await TcpDnsClient.connect(server.port);
    const frames = [query('sip.example.com', 'A', { id: 1 }), query('_sipinternaltls._tcp.example.com', 'SRV', { id: 2 }), query(BIG_NAME, 'A', { id: 3 })];
    c.sendRaw(Buffer.concat(frames.map((f) => Buffer.concat([Buffer.from([f.length >> 8, f.length & 0xff]), f]))));
    const replies = [await c.reply(), await c.reply(), await c.reply()].map((r) => inspect(r!));
    expect(replies.map((r) => r.id)).toEqual([1, 2, 3]);
    expect(replies[2]).toMatchObject({ tc: false });
    expect(replies[2]!.answers).toHaveLength(BIG_COUNT);
    await c.close();
  });

  it('reassembles a query that arrives one byte at a time', async () => {
    const c = await TcpDnsClient.connect(server.port);
    const q = query('sip.example.com', 'A', { id: 9 });
    const framed = Buffer.concat([Buffer.from([0, q.length]), q]);
    for (const byte of framed) {
      c.sendRaw(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    expect(inspect((await c.reply())!)).toMatchObject({ id: 9, rcode: 'NOERROR' });
    await c.close();
  });

  it('closes a connection that announces an oversized message, and keeps serving the others', async () => {
    const other = await TcpDnsClient.connect(server.port);
    const bad = await TcpDnsClient.connect(server.port);
    bad.sendRaw(Buffer.from([0xff, 0xff, 1, 2, 3]));
    await bad.closed;
    other.send(query('sip.example.com', 'A', { id: 44 }));
    expect(inspect((await other.reply())!)).toMatchObject({ id: 44, rcode: 'NOERROR' });
    await other.close();
  });

  it('closes an idle connection after the idle timeout', async () => {
    const c = await TcpDnsClient.connect(server.port);
    c.send(query('sip.example.com', 'A'));
    expect(await c.reply()).not.toBeNull();
    const started = Date.now();
    await c.closed;
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
  });
});

describe('the lab DNS when the DNS Server service is stopped on every DC', () => {
  it('sends nothing, over UDP or TCP, as a stopped Windows DNS behind its firewall; answers again once one DC runs it', async () => {
    const own = wireDnsLab();
    const dns = await startDnsServer(own, { tcpIdleTimeoutMs: 2000 });
    try {
      for (const h of ['dc01', 'dc02']) expect(hostStopService(own.get(`host:${h}`), { name: 'DNS' }).ok).toBe(true);
      own.waitFor(() => ['dc01', 'dc02'].every((h) => hostService(own.get(`host:${h}`), 'DNS')?.state === 'Stopped'), 60_000);
      expect(dnsOnline(own.get('dns'))).toBe(false);
      expect(await udpExchange(dns.port, query('sip.example.com', 'A'), 300)).toBeNull();
      const update = query('example.com', 'SOA');
      update.writeUInt16BE(5 << 11, 2);
      expect(await udpExchange(dns.port, update, 200)).toBeNull(); // not even NOTIMP
      const c = await TcpDnsClient.connect(dns.port);
      c.send(query('sip.example.com', 'A'));
      expect(await c.reply(300)).toBeNull();
      expect(hostStartService(own.get('host:dc01'), { name: 'DNS' }).ok).toBe(true);
      expect(own.waitFor(() => dnsOnline(own.get('dns')), 60_000).satisfied).toBe(true);
      c.send(query('sip.example.com', 'A', { id: 77 }));
      expect(inspect((await c.reply())!)).toMatchObject({ id: 77, rcode: 'NOERROR' });
      await c.close();
      expect(inspect((await udpExchange(dns.port, query('sip.example.com', 'A')))!).rcode).toBe('NOERROR');
    } finally {
      await dns.stop();
      own.stop();
    }
  });
});

describe('stop()', () => {
  it('closes the UDP socket, the TCP listener and every open connection', async () => {
    const own = wireDnsLab();
    const dns = await startDnsServer(own);
    const open = await TcpDnsClient.connect(dns.port);
    await dns.stop();
    await open.closed;
    await expect(new Promise((resolve, reject) => connect({ host: LOOPBACK, port: dns.port }).on('connect', resolve).on('error', reject))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const rebound = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      rebound.once('error', reject);
      rebound.bind(dns.port, LOOPBACK, () => resolve());
    });
    rebound.close();
    await dns.stop(); // a second stop is harmless
    own.stop();
  });
});

describe('answerDnsMessage', () => {
  it('answers the same bytes the sockets carry, and nothing for a runt', () => {
    expect(answerDnsMessage(lab, Buffer.alloc(5), 'udp')).toBeNull();
    expect(inspect(answerDnsMessage(lab, query('sip.example.com', 'A'), 'tcp')!).answers).toHaveLength(1);
  });
});
