/**
 * The HTTPS probe against servers that misbehave as real ones can: a proxy that closes the connection
 * after its NTLM challenge, a server that dribbles its answer so no single read ever times out, one that
 * never answers. The probe reports each as an observation and never takes the process down.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { httpProbe, type HttpProbeContext } from '../../sim/probes.http.js';
import { challengeMessage } from '../../emulators/ocs/sip.ntlm.js';
import { HTTP_CHALLENGE_FLAGS } from '../../emulators/iis/iis.https.adapter.js';
import type { HttpQuery, HttpResult } from '../../sim/probes.js';

const servers: Server[] = [];
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A raw TCP server on loopback that answers each connection with `onData`. */
async function serve(onData: (socket: Socket, request: string, n: number) => void): Promise<number> {
  let n = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    let buffered = '';
    socket.on('data', (d) => {
      buffered += d.toString('latin1');
      while (buffered.includes('\r\n\r\n')) {
        const end = buffered.indexOf('\r\n\r\n') + 4;
        const request = buffered.slice(0, end);
        buffered = buffered.slice(end);
        onData(socket, request, n++);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return address.port;
}

const context = (port: number, timeoutMs = 2000): HttpProbeContext => ({
  dialed: { ok: true, host: '127.0.0.1', port },
  trust: [],
  timeoutMs,
  bytes: (k) => new Uint8Array(k).fill(7),
  now: () => Date.UTC(2009, 5, 1),
  kerberosStandIn: false,
  unreachable: (error): HttpResult => ({ unreachable: true, address: `127.0.0.1:${port}`, error }),
});

const query = (auth: HttpQuery['auth']): HttpQuery => ({ address: '10.0.0.21', port: 80, scheme: 'http', host: 'pool01.contoso.com', path: '/abs/int/handler/', auth, trust: 'target' });

const challenge = challengeMessage(new Uint8Array(8).fill(1), { nbDomain: 'CONTOSO', nbComputer: 'FE01', dnsDomain: 'contoso.com', dnsComputer: 'fe01.contoso.com', dnsTree: 'contoso.com' }, HTTP_CHALLENGE_FLAGS);

describe('the HTTPS probe against servers that misbehave', () => {
  it('reports a server that closes the connection after its NTLM challenge as no answer, and the process lives on', async () => {
    const port = await serve((socket) => {
      socket.end(`HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM ${challenge.toString('base64')}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    });
    const r = await httpProbe(query({ user: 'ocsuser1', domain: 'CONTOSO', password: 'P@ssw0rd' }), context(port));
    expect(r).toMatchObject({ ok: false, outcome: 'noAnswer' });
    expect('detail' in r && r.detail).toMatch(/closed the connection after its NTLM challenge/);
  });

  it('gives up on a server that dribbles its answer within the whole-exchange deadline, not an idle one', async () => {
    const port = await serve((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n');
      const drip = setInterval(() => (socket.destroyed ? clearInterval(drip) : socket.write('x')), 50);
      socket.on('close', () => clearInterval(drip));
    });
    const started = Date.now();
    const r = await httpProbe(query('anonymous'), context(port, 600));
    expect(r).toMatchObject({ ok: false, outcome: 'noAnswer', detail: 'timeout' });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('answers a plain 200 as the observation', async () => {
    const port = await serve((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok'));
    const r = await httpProbe(query('anonymous'), context(port));
    expect(r).toMatchObject({ ok: true, status: 200, contentType: 'text/plain' });
    expect('body' in r && r.body.toString()).toBe('ok');
  });
});
