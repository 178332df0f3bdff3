/**
 * The front end's SIP over WebSocket listener under hostile upgrades: a handshake that offers no `sip`
 * subprotocol, or another one, or `sip`, followed by one malformed frame (invalid UTF-8, a reserved bit
 * set, an unknown opcode, a length no frame may have, an unmasked or oversized control frame). None may
 * end the process (an unhandled 'error' from `ws` did: one packet took every service of a served lab
 * down); the listener serves a well-behaved client afterwards.
 */
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startSipFrontEnd, type SipListening } from '../../emulators/ocs/ocs.sip.adapter.js';
import { buildSeedLab, type SeedLab } from '../support/wire-sip.js';

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

const mask = Buffer.from([1, 2, 3, 4]);
const masked = (payload: Buffer) => Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
/** A client frame: FIN and opcode in the first byte, masked payload. */
const frame = (first: number, payload: Buffer, { masked: isMasked = true, length }: { masked?: boolean; length?: Buffer } = {}) => {
  const len = length ?? Buffer.from([(isMasked ? 0x80 : 0) | payload.length]);
  return Buffer.concat([Buffer.from([first]), len, ...(isMasked ? [mask, masked(payload)] : [payload])]);
};

const FRAMES: Record<string, Buffer> = {
  'invalid UTF-8 in a text frame': frame(0x81, Buffer.from([0xc3, 0x28, 0xff, 0xfe])),
  'RSV1 set without an extension': frame(0xc1, Buffer.from('OPTIONS')),
  'RSV3 set': frame(0x91, Buffer.from('x')),
  'unknown opcode 3': frame(0x83, Buffer.from('x')),
  'unknown control opcode 0xB': frame(0x8b, Buffer.from('x')),
  'a 2^63-byte length': Buffer.concat([Buffer.from([0x81, 0xff]), Buffer.from([0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), mask]),
  'a length above the maximum message size': Buffer.concat([Buffer.from([0x82, 0xff]), Buffer.from([0, 0, 0, 0, 0x10, 0, 0, 0]), mask]),
  'an unmasked client frame': frame(0x81, Buffer.from('OPTIONS'), { masked: false }),
  'a fragmented ping': frame(0x09, Buffer.from('x')),
  'a 126-byte ping': Buffer.concat([Buffer.from([0x89, 0xfe, 0, 126]), mask, masked(Buffer.alloc(126, 0x61))]),
  'a close frame with a 1-byte body': frame(0x88, Buffer.from([3])),
  'a close frame with code 1005': frame(0x88, Buffer.from([0x03, 0xed])),
  'a continuation with nothing to continue': frame(0x80, Buffer.from('x')),
};

const OFFERS: Record<string, string | undefined> = { 'no subprotocol': undefined, 'another subprotocol': 'xmpp', 'sip and another': 'chat, sip', sip: 'sip' };

/** An upgrade written by hand, then the frame; resolves once the server has answered and closed (or 2 s). */
function hostile(port: number, protocol: string | undefined, bad: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const lines = ['GET / HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13'];
      if (protocol !== undefined) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      socket.write(bad);
    });
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    socket.on('error', () => undefined);
    const done = () => resolve(answer.split('\r\n')[0] ?? '');
    socket.on('close', done);
    setTimeout(() => {
      socket.destroy();
      done();
    }, 2000).unref();
  });
}

describe('SIP over WebSocket under hostile upgrades and frames', () => {
  it('survives every offer with every malformed frame, then serves a SIP client', async () => {
    const port = Number(new URL(sip.wss).port);
    const statuses = new Set<string>();
    for (const [, protocol] of Object.entries(OFFERS)) {
      for (const [, bad] of Object.entries(FRAMES)) statuses.add(await hostile(port, protocol, bad));
    }
    expect([...statuses].every((s) => s === '' || /^HTTP\/1\.1 (101|400)/.test(s)), [...statuses].join(' | ')).toBe(true);
    expect(errors).toEqual([]);
    // Still serving: an OPTIONS over a proper `sip` WebSocket gets its answer.
    const ws = new WebSocket(sip.wss, 'sip', { rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const answer = new Promise<string>((resolve) => ws.once('message', (d: Buffer) => resolve(d.toString())));
    const u = env.users[0] as SeedLab['users'][number];
    ws.send(
      [
        'OPTIONS sip:example.com SIP/2.0',
        'Via: SIP/2.0/WSS client.invalid;branch=z9hG4bKwssfuzz1',
        'Max-Forwards: 70',
        `From: <${u.aor}>;tag=wf1`,
        'To: <sip:example.com>',
        'Call-ID: wss-fuzz-1',
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    expect(await answer).toMatch(/^SIP\/2\.0 200 /);
    ws.close();
  }, 90_000);
});
