/**
 * Property-based fuzzing of the AD LDAP adapter: batches of generated LDAP input (valid requests, byte
 * mutations of them, truncations, corrupted lengths, deeply nested filters, oversized headers, random
 * bytes) go over a few concurrent connections. After every batch a fresh connection must still bind and
 * search correctly, and no uncaught exception or unhandled rejection may have happened.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE, bindRequest, exchange, searchRequest, startLdapLab, type LdapLab } from '../support/wire-ldap.js';
import { message, octets, tlv } from '../../emulators/ad/ldap.ber.js';
import net from 'node:net';

const ADMIN_DN = `CN=Administrator,CN=Users,${BASE}`;
const RUNS = Number(process.env.LDAP_FUZZ_RUNS ?? 250);
const CONNECTIONS_PER_RUN = 4;
const MESSAGES_PER_CONNECTION = 12;

let env: LdapLab;
const unexpected: unknown[] = [];
const onUncaught = (e: unknown) => unexpected.push(e);

function corpus(password: string): Buffer[] {
  const attr = (type: string, ...values: Buffer[]) => tlv(0x30, octets(type), tlv(0x31, ...values.map((v) => tlv(0x04, v))));
  const b = (s: string) => Buffer.from(s, 'utf8');
  const fuzzDn = `CN=Fuzz Target,CN=Users,${BASE}`;
  return [
    bindRequest(1, ADMIN_DN, password),
    bindRequest(2, 'CORP\\Administrator', 'wrong'),
    bindRequest(3, '', ''),
    searchRequest(4, '', 0, undefined, ['defaultNamingContext', '+']),
    searchRequest(5, BASE, 2, ['sAMAccountName', 'Administrator'], ['cn', 'objectGUID', 'objectSid']),
    searchRequest(6, `CN=Users,${BASE}`, 1, ['objectClass', 'user'], ['1.1']),
    message(7, tlv(0x68, octets(fuzzDn), tlv(0x30, attr('objectClass', b('user')), attr('sAMAccountName', b('fuzztarget')), attr('description', b('a'), b('b'))))),
    message(8, tlv(0x66, octets(fuzzDn), tlv(0x30, tlv(0x30, tlv(0x0a, Buffer.from([2])), attr('description', b('fuzzed'))), tlv(0x30, tlv(0x0a, Buffer.from([0])), attr('title', b('x')))))),
    message(9, tlv(0x4a, b(fuzzDn))),
    message(10, tlv(0x77, octets('1.3.6.1.4.1.4203.1.11.3', 0x80))),
    message(11, tlv(0x6c, octets(fuzzDn), octets('CN=Other'), tlv(0x01, Buffer.from([0xff])))),
    message(12, tlv(0x6e, octets(fuzzDn), tlv(0x30, octets('cn'), octets('Fuzz Target')))),
    message(13, tlv(0x50, Buffer.from([4]))),
    message(14, tlv(0x63, octets(BASE), tlv(0x0a, Buffer.from([2])), tlv(0x0a, Buffer.from([0])), tlv(0x02, Buffer.from([0])), tlv(0x02, Buffer.from([0])), tlv(0x01, Buffer.from([0])),
      tlv(0xa0, tlv(0xa3, octets('cn'), octets('x')), tlv(0xa1, tlv(0xa4, octets('cn'), tlv(0x30, octets('a', 0x80), octets('b', 0x82))), tlv(0xa2, tlv(0xa5, octets('uSNChanged'), octets('1'))))), tlv(0x30))),
  ];
}

function nestedFilter(depth: number): Buffer {
  let f = octets('objectClass', 0x87);
  for (let i = 0; i < depth; i++) f = tlv(i % 2 ? 0xa2 : 0xa0, f);
  return message(99, tlv(0x63, octets(BASE), tlv(0x0a, Buffer.from([2])), tlv(0x0a, Buffer.from([0])), tlv(0x02, Buffer.from([0])), tlv(0x02, Buffer.from([0])), tlv(0x01, Buffer.from([0])), f, tlv(0x30)));
}

function inputArbitrary(valid: Buffer[]): fc.Arbitrary<Buffer> {
  const base = fc.constantFrom(...valid);
  const bytes = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((a) => Buffer.from(a));
  const mutate = fc.tuple(base, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })).map(([m, edits]) => {
    const out = Buffer.from(m);
    for (const [i, v] of edits) out[i % out.length] = v;
    return out;
  });
  const truncate = fc.tuple(base, fc.nat()).map(([m, n]) => m.subarray(0, n % m.length));
  const insert = fc.tuple(base, fc.nat(), bytes).map(([m, at, extra]) => Buffer.concat([m.subarray(0, at % m.length), extra, m.subarray(at % m.length)]));
  const badLength = fc.tuple(base, fc.constantFrom(0x80, 0x81, 0x84, 0x85, 0xff, 0x00, 0x7f)).map(([m, l]) => Buffer.concat([Buffer.from([0x30, l]), m.subarray(2)]));
  const oversized = fc.integer({ min: 1024 * 1024 + 1, max: 0x7fffffff }).map((n) => Buffer.concat([Buffer.from([0x30, 0x84]), Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff])]));
  const deep = fc.integer({ min: 50, max: 1500 }).map(nestedFilter);
  const wrongProtocol = fc.constantFrom(Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from('\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03'), Buffer.from('OPTIONS sip:x SIP/2.0\r\n'));
  return fc.oneof(
    { arbitrary: base, weight: 3 },
    { arbitrary: mutate, weight: 6 },
    { arbitrary: truncate, weight: 2 },
    { arbitrary: insert, weight: 2 },
    { arbitrary: badLength, weight: 1 },
    { arbitrary: bytes, weight: 2 },
    { arbitrary: oversized, weight: 1 },
    { arbitrary: deep, weight: 1 },
    { arbitrary: wrongProtocol, weight: 1 },
  );
}

/** Writes `inputs` on one connection, half-closes, and waits until the server has closed it too. */
function blast(port: number, inputs: Buffer[]): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => socket.destroy(), 5000);
    socket.on('connect', () => {
      for (const i of inputs) if (!socket.destroyed) socket.write(i);
      socket.end();
    });
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

async function probe(): Promise<boolean> {
  const { responses } = await exchange(env.server.port, [bindRequest(1, 'CORP\\Administrator', env.adminPassword), searchRequest(2, ADMIN_DN, 0, undefined, ['sAMAccountName'])], (r) => r.length === 3);
  const [bind, entry, done] = responses;
  return bind?.resultCode === 0 && entry?.tag === 0x64 && entry.bytes.includes(Buffer.from('Administrator')) && done?.resultCode === 0;
}

describe('LDAP adapter under fuzzed input', () => {
  beforeAll(async () => {
    process.on('uncaughtException', onUncaught);
    process.on('unhandledRejection', onUncaught);
    env = await startLdapLab('fuzz');
  });
  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
    await env?.stop();
  });

  it(`survives ${RUNS * CONNECTIONS_PER_RUN * MESSAGES_PER_CONNECTION} generated messages and keeps answering`, async () => {
    const started = performance.now();
    let sent = 0;
    const batch = fc.array(fc.array(inputArbitrary(corpus(env.adminPassword)), { minLength: MESSAGES_PER_CONNECTION, maxLength: MESSAGES_PER_CONNECTION }), {
      minLength: CONNECTIONS_PER_RUN,
      maxLength: CONNECTIONS_PER_RUN,
    });
    await fc.assert(
      fc.asyncProperty(batch, async (connections) => {
        await Promise.all(connections.map((inputs) => blast(env.server.port, inputs)));
        sent += connections.reduce((n, c) => n + c.length, 0);
        return probe();
      }),
      { numRuns: RUNS, seed: 20090706, endOnFailure: true },
    );
    const seconds = (performance.now() - started) / 1000;
    expect(sent).toBeGreaterThanOrEqual(10_000);
    expect(unexpected).toEqual([]);
    expect(await probe()).toBe(true);
    for (let i = 0; i < 100 && env.server.connections() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(env.server.connections()).toBe(0);
    console.info(`ldap fuzz: ${sent} messages over ${RUNS * CONNECTIONS_PER_RUN} connections in ${seconds.toFixed(1)} s`);
  }, 60_000);
});
