/**
 * The probes against servers that answer badly: garbage, silence, a connection closed mid-answer, a
 * truncated UDP answer followed by garbage over TCP. Whatever a server sends, a probe resolves with an
 * error the check can report; it never throws, never hangs past its timeout, and closes its connection.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import * as dnsPacket from 'dns-packet';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { WireProbes } from './probes.wire.js';
import { DEFAULT_TOPOLOGY, resolveTopology, type Topology } from './topology.js';

const topology = (() => {
  const r = resolveTopology(DEFAULT_TOPOLOGY);
  if (!r.ok) throw new Error('default topology');
  return r.topology as Topology;
})();

const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

/** A TCP server that answers each connection with `reply(data)` (or nothing), counting open sockets. */
async function tcpServer(reply: (data: Buffer, socket: Socket) => void): Promise<{ port: number; open: () => number }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.on('data', (d) => reply(d, s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, open: () => sockets.size };
}

async function udpServer(reply: (data: Buffer, send: (b: Buffer) => void) => void): Promise<number> {
  const socket: UdpSocket = createSocket('udp4');
  socket.on('message', (m, from) => reply(m, (b) => socket.send(b, from.port, from.address)));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  closers.push(() => socket.close());
  return socket.address().port;
}

const probesAt = (ports: { ldap?: number; dns?: number; tls?: number }) =>
  new WireProbes({
    target: 'hostile',
    topology,
    timeoutMs: 400,
    admin: { name: 'CORP\\Administrator', password: 'x' },
    dialer: {
      async dial(_address, port) {
        const real = port === 389 ? ports.ldap : port === 53 ? ports.dns : port === 443 ? ports.tls : undefined;
        return real ? { ok: true, host: '127.0.0.1', port: real } : { ok: false, error: 'ECONNREFUSED' };
      },
    },
  });

/** A failure of either kind: no answer, or an LDAP error. */
const notOk = (r: object) => 'unreachable' in r || (r as { ok?: boolean }).ok === false;

const until = async (f: () => boolean) => {
  for (let i = 0; i < 100 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
  return f();
};

describe('probes against a server that answers badly', () => {
  it('LDAP: garbage, silence and a closed connection are errors, and the connection is closed', async () => {
    const garbage = await tcpServer((_d, s) => s.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')));
    const r1 = await probesAt({ ldap: garbage.port }).ldapSearch({ base: 'DC=corp,DC=example,DC=net', scope: 'base', attributes: ['1.1'] });
    expect(notOk(r1)).toBe(true);
    expect(await until(() => garbage.open() === 0)).toBe(true);

    const silent = await tcpServer(() => undefined);
    const t0 = Date.now();
    const r2 = await probesAt({ ldap: silent.port }).ldapBind({ name: 'CORP\\Administrator', password: 'x' });
    expect(r2).toMatchObject({ unreachable: true, address: '127.0.10.11:389' });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(await until(() => silent.open() === 0)).toBe(true);

    const hangUp = await tcpServer((_d, s) => s.destroy());
    expect(notOk(await probesAt({ ldap: hangUp.port }).ldapBind({ name: 'a', password: 'b' }))).toBe(true);
  }, 20_000);

  it('LDAP: a server that binds, then sends one entry and goes silent, or garbage twice, ends in a timeout or an error, not a hang or a crash', async () => {
    // Answers the bind (messageId 1) with success, then whatever `after` sends to the search.
    const binding = (after: (s: Socket) => void) =>
      tcpServer((d, s) => {
        if (d[0] === 0x30 && d.includes(0x60)) s.write(Buffer.from([0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00]));
        else after(s);
      });
    const oneEntry = await binding((s) => s.write(Buffer.from([0x30, 0x0d, 0x02, 0x01, 0x02, 0x64, 0x08, 0x04, 0x04, 0x43, 0x4e, 0x3d, 0x78, 0x30, 0x00])));
    const t0 = Date.now();
    expect(await probesAt({ ldap: oneEntry.port }).ldapSearch({ base: '', scope: 'sub', attributes: ['1.1'] })).toMatchObject({ unreachable: true, error: 'timeout' });
    expect(Date.now() - t0).toBeLessThan(3000);
    const twice = await binding((s) => s.write(Buffer.from([0x30, 0x03, 0x02, 0x01, 0xff, 0x30, 0x03, 0x02, 0x01, 0xff])));
    const r = await probesAt({ ldap: twice.port }).ldapSearch({ base: '', scope: 'sub', attributes: ['1.1'] });
    expect(notOk(r)).toBe(true);
    expect(JSON.stringify(r)).not.toMatch(/__ldap|127\.0\.0\.1:\d/);
  }, 20_000);

  it('LDAP: random bytes after a request never throw', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 64 }), async (bytes) => {
        const s = await tcpServer((_d, sock) => sock.end(Buffer.from(bytes)));
        const r = await probesAt({ ldap: s.port }).ldapSearch({ base: '', scope: 'base', attributes: ['1.1'] });
        expect(notOk(r)).toBe(true);
      }),
      { numRuns: 40 },
    );
  }, 60_000);

  it('DNS: garbage, silence, a wrong answer and a truncated answer followed by TCP garbage are handled', async () => {
    const garbage = await udpServer((_m, send) => send(Buffer.from([1, 2, 3])));
    expect(await probesAt({ dns: garbage }).dnsQuery({ name: 'pool01.corp.example.net', type: 'A' })).toMatchObject({ unreachable: true, error: 'timeout' });
    const silent = await udpServer(() => undefined);
    expect(await probesAt({ dns: silent }).dnsQuery({ name: 'x.corp.example.net', type: 'A' })).toMatchObject({ unreachable: true });
    // TC set over UDP, then garbage on TCP at the same port.
    const tc = await tcpServer((_d, s) => s.end(Buffer.from([0, 5, 1, 2, 3, 4, 5])));
    const udp = createSocket('udp4');
    udp.on('message', (m, from) => {
      const q = dnsPacket.decode(m);
      udp.send(dnsPacket.encode({ type: 'response', id: q.id ?? 0, flags: dnsPacket.TRUNCATED_RESPONSE, questions: q.questions ?? [], answers: [] }), from.port, from.address);
    });
    await new Promise<void>((r) => udp.bind(tc.port, '127.0.0.1', r));
    closers.push(() => udp.close());
    // TCP gives garbage: what the truncated UDP answer said stands (no answers), not a timeout.
    expect(await probesAt({ dns: tc.port }).dnsQuery({ name: 'big.corp.example.net', type: 'A' })).toMatchObject({ ok: true, answers: [] });
    // An answer with records of a type the probe does not print as text.
    const odd = await udpServer((m, send) => {
      const q = dnsPacket.decode(m);
      send(dnsPacket.encode({ type: 'response', id: q.id ?? 0, flags: dnsPacket.AUTHORITATIVE_ANSWER, questions: q.questions ?? [], answers: [{ type: 'TXT', name: 'x', data: ['hello'] }] }));
    });
    expect(await probesAt({ dns: odd }).dnsQuery({ name: 'x', type: 'A' })).toMatchObject({ ok: true, rcode: 'NOERROR', answers: [{ type: 'TXT' }] });
  }, 20_000);

  it('TLS: garbage instead of a handshake is a TLS error, silence a timeout, a closed port no answer', async () => {
    const garbage = await tcpServer((_d, s) => s.end(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')));
    expect(await probesAt({ tls: garbage.port }).tlsHandshake({ address: '127.0.10.31', port: 443, servername: 'pool01.corp.example.net' })).toMatchObject({ ok: false, error: expect.stringMatching(/^TLS: /) });
    const silent = await tcpServer(() => undefined);
    expect(await probesAt({ tls: silent.port }).tlsHandshake({ address: '127.0.10.31', port: 443, servername: 'x' })).toMatchObject({ unreachable: true, error: 'timeout' });
    expect(await probesAt({}).tlsHandshake({ address: '127.0.10.31', port: 443, servername: 'x' })).toMatchObject({ unreachable: true, error: 'ECONNREFUSED' });
    expect(await until(() => garbage.open() === 0 && silent.open() === 0)).toBe(true);
  }, 20_000);
});
