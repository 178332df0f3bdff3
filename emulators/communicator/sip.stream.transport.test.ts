/**
 * The sip.js stream transport: two sip.js UserAgents sign in to the lab's front end over SIP/TLS (5061)
 * and SIP/TCP with Digest and exchange a MESSAGE; then the transport alone against small loopback servers
 * for framing, keep-alive and the ways a connection ends.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Core, Messager, Registerer, RegistererState, TransportState, UserAgent, type Message } from 'sip.js';
import { startSipFrontEnd, type SipListening } from '../ocs/ocs.sip.adapter.js';
import { buildSeedLab, type SeedLab } from '../../test/support/wire-sip.js';
import { StreamTransport, type StreamTransportOptions } from './sip.stream.transport.js';

let env: SeedLab;
let sip: SipListening;
const agents: UserAgent[] = [];
const transports: StreamTransport[] = [];
const servers: Array<{ server: Server; peers: Set<Socket> }> = [];

const loggerFactory = new Core.LoggerFactory();
loggerFactory.builtinEnabled = false;
const logger = loggerFactory.getLogger('test.transport');

beforeAll(async () => {
  env = await buildSeedLab();
  sip = await startSipFrontEnd(env.lab, { digest: true });
}, 60_000);

afterEach(async () => {
  for (const ua of agents.splice(0)) await ua.stop().catch(() => undefined);
  for (const t of transports.splice(0)) await t.dispose().catch(() => undefined);
  for (const { server, peers } of servers.splice(0)) {
    for (const p of peers) p.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

afterAll(async () => {
  await sip?.stop();
  await env?.lab.close();
});

const tick = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `ca` undefined: Node's public roots only, which do not include the lab CA. */
function connectTls(ca: string | undefined): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: sip.tls.host, port: sip.tls.port, ca, servername: 'sip.example.com' });
    s.once('secureConnect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function connectTcp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host, port });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function agent(i: number, transportOptions: StreamTransportOptions, onMessage?: (m: Message) => void): UserAgent {
  const u = env.users[i] as SeedLab['users'][number];
  const ua = new UserAgent({
    uri: UserAgent.makeURI(u.aor),
    authorizationUsername: u.sam,
    authorizationPassword: u.password,
    transportConstructor: StreamTransport,
    transportOptions,
    // sip.js defaults the Contact to `;transport=ws`; the Via transport comes from `protocol`.
    contactParams: { transport: transportOptions.protocol.toLowerCase() },
    logBuiltinEnabled: false,
    ...(onMessage ? { delegate: { onMessage } } : {}),
  });
  agents.push(ua);
  return ua;
}

/** Registers and resolves with the 200's Via and Contact. */
async function register(ua: UserAgent): Promise<{ via: string; contact: string }> {
  const reg = new Registerer(ua, { expires: 300 });
  let accepted = { via: '', contact: '' };
  const registered = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`register timeout (${reg.state})`)), 5000);
    reg.stateChange.addListener((s) => {
      if (s === RegistererState.Registered) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await reg.register({
    requestDelegate: { onAccept: (r) => (accepted = { via: r.message.getHeader('via') ?? '', contact: r.message.getHeader('contact') ?? '' }) },
  });
  await registered;
  return accepted;
}

async function signInAndChat(options: (i: number) => StreamTransportOptions): Promise<void> {
  let received!: (text: string) => void;
  const got = new Promise<string>((r) => (received = r));
  const bob = agent(1, options(1), (m) => {
    void m.accept();
    received(`${m.request.from.uri.toString()}: ${m.request.body}`);
  });
  const alice = agent(0, options(0));
  await Promise.all([alice.start(), bob.start()]);
  expect(alice.transport.state).toBe(TransportState.Connected);

  const [aliceReg] = await Promise.all([register(alice), register(bob)]);
  const protocol = options(0).protocol;
  expect(aliceReg.via).toMatch(new RegExp(`^SIP/2\\.0/${protocol} `));
  expect(aliceReg.contact).toContain(`;transport=${protocol.toLowerCase()}`);
  expect(sip.registrations()).toEqual(['sip:ocsuser1@example.com', 'sip:ocsuser2@example.com']);

  let status = 0;
  const accepted = new Promise<void>((resolve) => {
    const to = UserAgent.makeURI('sip:ocsuser2@example.com') as NonNullable<ReturnType<typeof UserAgent.makeURI>>;
    const messager = new Messager(alice, to, `hello over ${protocol}`, 'text/plain');
    void messager.message({ requestDelegate: { onAccept: (r) => ((status = r.message.statusCode ?? 0), resolve()) } });
  });
  expect(await got).toBe(`sip:ocsuser1@example.com: hello over ${protocol}`);
  await accepted;
  expect(status).toBe(200);

  // A graceful stop unregisters over the stream, then closes it.
  await Promise.all([alice.stop(), bob.stop()]);
  expect(alice.transport.state).toBe(TransportState.Disconnected);
  expect(sip.registrations()).toEqual([]);
}

/** A loopback server whose connection handler the test drives. */
async function localServer(onConnection: (peer: Socket) => void): Promise<number> {
  const peers = new Set<Socket>();
  const server = createServer((peer) => {
    peers.add(peer);
    peer.on('close', () => peers.delete(peer));
    peer.on('error', () => undefined);
    peer.resume(); // read (and drop) what the transport sends, so its FIN is seen
    onConnection(peer);
  });
  servers.push({ server, peers });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('server has no address');
  return address.port;
}

function transport(options: Partial<StreamTransportOptions> & Pick<StreamTransportOptions, 'connect'>): StreamTransport {
  const t = new StreamTransport(logger, { protocol: 'TCP', ...options });
  transports.push(t);
  return t;
}

function sipMessage(body: string): string {
  return ['SIP/2.0 200 OK', 'Via: SIP/2.0/TCP a.invalid;branch=z9hG4bK1', 'CSeq: 1 MESSAGE', `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n');
}

describe('sip.js UserAgents over the stream transport', () => {
  it('register ocsuser1 and ocsuser2 over SIP/TLS (5061) and deliver a MESSAGE with its 200', async () => {
    await signInAndChat(() => ({ protocol: 'TLS', connect: () => connectTls(env.caPem) }));
  });

  it('do the same over SIP/TCP', async () => {
    await signInAndChat(() => ({ protocol: 'TCP', connect: () => connectTcp(sip.tcp.host, sip.tcp.port) }));
  });

  it('fail to start when the front end certificate is not trusted, leaving the transport Disconnected', async () => {
    const ua = agent(0, { protocol: 'TLS', connect: () => connectTls(undefined) });
    await expect(ua.start()).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
    expect(ua.transport.state).toBe(TransportState.Disconnected);
  });
});

describe('stream framing (RFC 3261 §18.3)', () => {
  it('reassembles a message split across many TCP chunks, on byte and not character boundaries', async () => {
    const message = sipMessage('héllo ✓ — a body with multi-byte characters');
    const bytes = Buffer.from(message);
    let written!: (peer: Socket) => void;
    const allButLast = new Promise<Socket>((r) => (written = r));
    const port = await localServer((peer) => {
      peer.setNoDelay(true);
      void (async () => {
        for (let i = 0; i < bytes.length - 5; i += 5) {
          peer.write(bytes.subarray(i, Math.min(i + 5, bytes.length - 5)));
          await tick(1);
        }
        written(peer);
      })();
    });
    const t = transport({ connect: () => connectTcp('127.0.0.1', port) });
    const got: string[] = [];
    t.onMessage = (m) => got.push(m);
    await t.connect();
    const peer = await allButLast;
    await tick(20);
    expect(got).toEqual([]);
    peer.write(bytes.subarray(bytes.length - 5));
    await tick(20);
    expect(got).toEqual([message]);
  });

  it('delivers two messages from one chunk and swallows the keep-alive CRLF before them', async () => {
    const first = sipMessage('one');
    const second = sipMessage('two');
    const port = await localServer((peer) => peer.write(`\r\n${first}${second}`));
    const t = transport({ connect: () => connectTcp('127.0.0.1', port) });
    const got: string[] = [];
    t.onMessage = (m) => got.push(m);
    await t.connect();
    await tick(50);
    expect(got).toEqual([first, second]);
  });

  it('closes the connection on a framing error and reports it to onDisconnect', async () => {
    const port = await localServer((peer) => peer.write('SIP/2.0 200 OK\r\nContent-Length: lots\r\n\r\n'));
    const t = transport({ connect: () => connectTcp('127.0.0.1', port) });
    const disconnected = new Promise<Error | undefined>((r) => (t.onDisconnect = r));
    await t.connect();
    const error = await disconnected;
    expect(error?.message).toMatch(/framing error: bad Content-Length/);
    expect(t.state).toBe(TransportState.Disconnected);
  });

  it('refuses a message larger than maxMessageBytes', async () => {
    const port = await localServer((peer) => peer.write(sipMessage('x'.repeat(2000))));
    const t = transport({ connect: () => connectTcp('127.0.0.1', port), maxMessageBytes: 1024 });
    const disconnected = new Promise<Error | undefined>((r) => (t.onDisconnect = r));
    let delivered = 0;
    t.onMessage = () => delivered++;
    await t.connect();
    expect((await disconnected)?.message).toMatch(/message too large/);
    expect(delivered).toBe(0);
  });
});

describe('keep-alive (RFC 5626 §4.4.1)', () => {
  it('pings the front end with CRLFCRLF and swallows its CRLF pongs', async () => {
    const t = transport({ connect: () => connectTcp(sip.tcp.host, sip.tcp.port), keepAliveIntervalMs: 30 });
    let delivered = 0;
    let dropped = false;
    t.onMessage = () => delivered++;
    t.onDisconnect = () => (dropped = true);
    await t.connect();
    await tick(250);
    expect(t.isConnected()).toBe(true);
    expect(dropped).toBe(false);
    expect(delivered).toBe(0);
  });

  it('fails the flow when a ping goes unanswered', async () => {
    const pings: string[] = [];
    const port = await localServer((peer) => peer.on('data', (d: Buffer) => pings.push(d.toString('latin1'))));
    const t = transport({ connect: () => connectTcp('127.0.0.1', port), keepAliveIntervalMs: 30 });
    const disconnected = new Promise<Error | undefined>((r) => (t.onDisconnect = r));
    await t.connect();
    expect((await disconnected)?.message).toMatch(/no pong/);
    expect(pings.join('')).toMatch(/^(\r\n\r\n)+$/);
    expect(t.state).toBe(TransportState.Disconnected);
  });
});

describe('connection lifecycle', () => {
  it('rejects connect() with the caller error and moves back to Disconnected', async () => {
    const refused = new Error('certificate policy said no');
    const t = transport({ connect: () => Promise.reject(refused) });
    const states: TransportState[] = [];
    t.stateChange.addListener((s) => states.push(s));
    await expect(t.connect()).rejects.toBe(refused);
    expect(t.state).toBe(TransportState.Disconnected);
    expect(states).toEqual([TransportState.Connecting, TransportState.Disconnected]);
  });

  it('makes UserAgent.start() reject with the caller error', async () => {
    const ua = agent(0, { protocol: 'TLS', connect: () => Promise.reject(new Error('no route to the pool')) });
    await expect(ua.start()).rejects.toThrow('no route to the pool');
    expect(ua.transport.state).toBe(TransportState.Disconnected);
  });

  it('reports a server-side close to onDisconnect with an Error, in state Disconnected', async () => {
    const port = await localServer((peer) => setTimeout(() => peer.end(), 20));
    const t = transport({ connect: () => connectTcp('127.0.0.1', port) });
    const seen = new Promise<{ error: Error | undefined; state: TransportState }>((r) => (t.onDisconnect = (error) => r({ error, state: t.state })));
    await t.connect();
    const { error, state } = await seen;
    expect(error).toBeInstanceOf(Error);
    expect(error?.message).toMatch(/closed by the peer/);
    expect(state).toBe(TransportState.Disconnected);
  });

  it('disconnects on request: onDisconnect without an error, the socket closed', async () => {
    const port = await localServer(() => undefined);
    let socket: Socket | undefined;
    const t = transport({
      connect: async () => (socket = await connectTcp('127.0.0.1', port)),
    });
    const errors: Array<Error | undefined> = [];
    t.onDisconnect = (e) => errors.push(e);
    await t.connect();
    expect(t.isConnected()).toBe(true);
    await t.disconnect();
    expect(t.state).toBe(TransportState.Disconnected);
    expect(errors).toEqual([undefined]);
    expect(socket?.destroyed).toBe(true);
  });

  it('abandons a connect in progress when disconnected, and destroys the socket when it arrives', async () => {
    const port = await localServer(() => undefined);
    let socket: Socket | undefined;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const t = transport({
      connect: async () => {
        await gate;
        return (socket = await connectTcp('127.0.0.1', port));
      },
    });
    const connecting = t.connect();
    expect(t.state).toBe(TransportState.Connecting);
    await t.disconnect();
    await expect(connecting).rejects.toThrow('Connect aborted.');
    release();
    await tick(50);
    expect(t.state).toBe(TransportState.Disconnected);
    expect(socket?.destroyed).toBe(true);
  });

  it('rejects send() when not connected', async () => {
    const port = await localServer(() => undefined);
    const t = transport({ connect: () => connectTcp('127.0.0.1', port) });
    await expect(t.send('OPTIONS sip:x SIP/2.0\r\n\r\n')).rejects.toThrow(/not connected/);
    await t.connect();
    await expect(t.send('\r\n\r\n')).resolves.toBeUndefined();
    await t.disconnect();
    await expect(t.send('OPTIONS sip:x SIP/2.0\r\n\r\n')).rejects.toThrow(/not connected/);
  });
});
