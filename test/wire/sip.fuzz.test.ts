/**
 * Robustness of the front end's SIP listener: 12,000 generated and mutated SIP messages over TCP (seeded
 * PRNG, so a failure replays), in bounded time. The adapter must report no exception, and a REGISTER with
 * Digest must still succeed afterwards, as must a client that stayed connected throughout.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSipFrontEnd, type SipListening } from '../../emulators/ocs/ocs.sip.adapter.js';
import { buildSeedLab, RawSipClient, type SeedLab } from '../support/wire-sip.js';

const MESSAGES = 12_000;
const WORKERS = 32;
const PER_CONNECTION = 4;

let env: SeedLab;
let sip: SipListening;
const errors: unknown[] = [];

beforeAll(async () => {
  env = await buildSeedLab();
  sip = await startSipFrontEnd(env.lab, { digest: true, onError: (e) => errors.push(e) });
}, 60_000);

afterAll(async () => {
  await sip?.stop();
  await env?.lab.close();
});

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const METHODS = ['REGISTER', 'MESSAGE', 'OPTIONS', 'SUBSCRIBE', 'PUBLISH', 'NOTIFY', 'INVITE', 'ACK', 'BYE', 'CANCEL', 'INFO', 'FOO'];
const URIS = ['sip:ocsuser1@example.com', 'sip:ocsuser2@example.com', 'sip:example.com', 'sip:nobody@example.com', 'sips:x@[::1]:5061;transport=tls', 'tel:+15551234', '<>', 'sip:', 'sip:@', 'sip:a@b@c'];
/** An AUTHENTICATE_MESSAGE whose every field says it is `len` bytes at `off` (past the end, overlapping, huge). */
const bogusAuthenticate = (len: number, off: number, flags = 0x62988255) => {
  const b = Buffer.alloc(72);
  Buffer.from('NTLMSSP\0', 'latin1').copy(b);
  b.writeUInt32LE(3, 8);
  for (const at of [12, 20, 28, 36, 44, 52]) {
    b.writeUInt16LE(len & 0xffff, at);
    b.writeUInt32LE(off >>> 0, at + 4);
  }
  b.writeUInt32LE(flags >>> 0, 60);
  return b.toString('base64');
};
const NTLM_AUTH = (rest: string) => `Authorization: NTLM qop="auth", realm="SIP Communications Service", targetname="ocsfe01.corp.example.net", ${rest}`;

const EXTRA = [
  NTLM_AUTH('gssapi-data="", version=4'),
  NTLM_AUTH('opaque="00000000", gssapi-data="TlRMTVNTUAADAAAA", version=4'),
  NTLM_AUTH(`opaque="ABCDEF01", gssapi-data="${bogusAuthenticate(0xffff, 0xfffffff0)}", version=4`),
  NTLM_AUTH(`opaque="ABCDEF01", gssapi-data="${bogusAuthenticate(16, 70)}", version=4, crand="1", cnum="1", response="zz"`),
  NTLM_AUTH(`gssapi-data="${Buffer.alloc(300, 0xff).toString('base64')}"`),
  NTLM_AUTH('gssapi-data="!!!not base64!!!", opaque="'),
  NTLM_AUTH('opaque="1", crand="x", cnum="-1", response="01000000000000000000000064000000"'),
  'Authorization: NTLM',
  // Long runs a backtracking parameter scan took seconds over (one message could stall the lab).
  `Authorization: NTLM ${'a'.repeat(30_000)}`,
  `Authorization: Digest ${'b'.repeat(30_000)}`,
  `P-Asserted-Identity: ${'<'.repeat(20_000)}`,
  'Proxy-Authorization: Kerberos realm="SIP Communications Service", gssapi-data="YII="',
  'Authorization: NTLM gssapi-data=,,,,=',
  'Authorization: Digest username="ocsuser1", realm="SIP Communications Service", nonce="00", uri="sip:example.com", response="00", qop=auth, nc=1, cnonce="x"',
  'Authorization: Digest username=',
  'Authorization: Basic b2NzdXNlcjE6eA==',
  'Expires: 99999999999999999999',
  'Expires: -1',
  'Contact: *',
  'Contact: <sip:a@b;transport=tls>;expires=abc',
  'Event: presence',
  'Event: presence;id=',
  'Max-Forwards: 0',
  'Content-Type: application/pidf+xml',
  `X-Long: ${'A'.repeat(4000)}`,
  'Via: SIP/2.0/TCP h;branch=z9hG4bK1, SIP/2.0/TCP g;branch=z9hG4bK2',
  ' folded continuation line',
  'CSeq: 1 OTHER',
  'Call-ID:',
];

function generate(rnd: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const method = pick(METHODS);
  const uri = pick(URIS);
  const body = rnd() < 0.3 ? 'x'.repeat(Math.floor(rnd() * 200)) : '';
  const headers = [
    `Via: SIP/2.0/TCP fuzz.invalid;branch=z9hG4bK${Math.floor(rnd() * 1e9)}`,
    'Max-Forwards: 70',
    `From: <${pick(URIS)}>;tag=${Math.floor(rnd() * 1e6)}`,
    `To: <${pick(URIS)}>${rnd() < 0.2 ? ';tag=t' : ''}`,
    `Call-ID: fuzz${Math.floor(rnd() * 1e9)}`,
    `CSeq: ${Math.floor(rnd() * 100)} ${rnd() < 0.9 ? method : pick(METHODS)}`,
    `Contact: <sip:fuzz@fuzz.invalid;transport=tcp>`,
  ];
  for (let n = Math.floor(rnd() * 3); n > 0; n--) headers.splice(Math.floor(rnd() * headers.length), 0, pick(EXTRA));
  if (rnd() < 0.2) headers.splice(Math.floor(rnd() * headers.length), 1);
  const start = rnd() < 0.15 ? `SIP/2.0 ${Math.floor(rnd() * 700)} Whatever` : `${method} ${uri} SIP/2.0`;
  const cl = rnd() < 0.9 ? Buffer.byteLength(body) : Math.floor(rnd() * 300);
  let text = [start, ...headers, `Content-Length: ${cl}`, '', body].join('\r\n');
  // Byte-level mutations on a share of them.
  const r = rnd();
  if (r < 0.15) {
    const bytes = Buffer.from(text);
    for (let n = 1 + Math.floor(rnd() * 8); n > 0; n--) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
    text = bytes.toString('latin1');
  } else if (r < 0.22) {
    text = text.slice(0, Math.floor(rnd() * text.length)) + '\r\n\r\n';
  } else if (r < 0.26) {
    text = Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256))).toString('latin1') + '\r\n\r\n';
  } else if (r < 0.28) {
    text = '\r\n\r\n';
  }
  return text;
}

let answered = 0;

function sendBatch(port: number, batch: string[]): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = connect({ host: '127.0.0.1', port }, () => {
      for (const m of batch) if (!s.destroyed) s.write(Buffer.from(m, 'latin1'));
      s.end();
    });
    s.on('data', (d: Buffer) => void (answered += d.toString('latin1').split('SIP/2.0 ').length - 1));
    s.on('error', async () => resolve());
    s.on('close', () => resolve());
    setTimeout(() => {
      s.destroy();
      resolve();
    }, 3000).unref();
  });
}

describe('SIP over TCP under fuzzing', () => {
  it(`survives ${MESSAGES} generated and mutated messages, then still registers`, async () => {
    const steady = await RawSipClient.tcp(sip.tcp.port);
    const u = env.users[0] as SeedLab['users'][number];
    expect((await steady.register(u.aor, u.sam, u.password)).status).toBe(200);

    const started = Date.now();
    let sent = 0;
    await Promise.all(
      Array.from({ length: WORKERS }, async (_, w) => {
        const rnd = prng(0x5e1 + w);
        while (sent < MESSAGES) {
          const batch = Array.from({ length: PER_CONNECTION }, () => generate(rnd));
          sent += batch.length;
          await sendBatch(sip.tcp.port, batch);
        }
      }),
    );
    const elapsed = Date.now() - started;
    expect(sent).toBeGreaterThanOrEqual(MESSAGES);
    expect(elapsed).toBeLessThan(60_000);
    expect(errors).toEqual([]);
    // Many were answered (400, 401, 403, 404, 489, 501 ...), not merely dropped with the connection.
    expect(answered).toBeGreaterThan(MESSAGES / 6);

    // The connection that stayed up is still served, and a new client can register.
    const b = steady.request('OPTIONS', 'sip:example.com', { from: u.aor, to: 'sip:example.com' });
    expect((await steady.next((m) => (m.header('via') ?? '').includes(b))).status).toBe(200);
    const fresh = await RawSipClient.tcp(sip.tcp.port);
    const v = env.users[1] as SeedLab['users'][number];
    expect((await fresh.register(v.aor, v.sam, v.password)).status).toBe(200);
    expect(sip.registrations()).toEqual([u.aor, v.aor].sort());
    steady.close();
    fresh.close();
  }, 90_000);
});
