/**
 * fast-check arbitraries for DNS messages a server may receive: well-formed queries (any name, type,
 * class, flags, EDNS), mutations of them, truncations, and random bytes. Queries are built byte by byte
 * so every field can take any value.
 */
import fc from 'fast-check';

const KNOWN_NAMES = [
  'sip.example.com',
  'SIP.Example.Com',
  '_sipinternaltls._tcp.example.com',
  'sipexternal.example.com',
  'big.example.com',
  'nothere.example.com',
  '_tcp.example.com',
  'example.com',
  'dc01.corp.example.net',
  '_ldap._tcp.dc._msdcs.corp.example.net',
  'www.microsoft.com',
  '',
];

export interface QuerySpec {
  id: number;
  flags: number;
  labels: Buffer[];
  type: number;
  klass: number;
  opt?: { size: number; version: number; extendedRcode: number; flags: number; rdata: Buffer };
}

const labelsOf = (name: string): Buffer[] => (name ? name.split('.').map((l) => Buffer.from(l, 'latin1')) : []);

/** Header, one question, and an OPT record when asked; counts as the spec says. */
export function buildQuery(q: QuerySpec): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(q.id, 0);
  head.writeUInt16BE(q.flags, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(q.opt ? 1 : 0, 10);
  const name = Buffer.concat([...q.labels.flatMap((l) => [Buffer.from([l.length]), l]), Buffer.from([0])]);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(q.type, 0);
  tail.writeUInt16BE(q.klass, 2);
  const parts: Buffer[] = [head, name, tail];
  if (q.opt) {
    const opt = Buffer.alloc(11);
    opt.writeUInt8(0, 0);
    opt.writeUInt16BE(41, 1);
    opt.writeUInt16BE(q.opt.size, 3);
    opt.writeUInt8(q.opt.extendedRcode, 5);
    opt.writeUInt8(q.opt.version, 6);
    opt.writeUInt16BE(q.opt.flags, 7);
    opt.writeUInt16BE(q.opt.rdata.length, 9);
    parts.push(opt, q.opt.rdata);
  }
  return Buffer.concat(parts);
}

const label = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('sip', 'example', 'com', 'net', '_tcp', 'corp', 'www', 'x').map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 63 }).map((a) => Buffer.from(a)) },
);

const labels = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...KNOWN_NAMES).map(labelsOf) },
  { weight: 1, arbitrary: fc.array(label, { maxLength: 5 }) },
);

const qtype = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(1, 2, 5, 6, 33, 255, 28, 15, 16, 251, 252, 41) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) });
const qclass = fc.oneof({ weight: 6, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constantFrom(3, 4, 254, 255) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) });
// Random flags keep QR clear: a message with QR set is a response, which a server only drops.
const flags = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(0x0000, 0x0100) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x7fff }) });
const opt = fc.option(
  fc.record({
    size: fc.oneof(fc.constantFrom(0, 512, 1232, 4096, 65535), fc.integer({ min: 0, max: 0xffff })),
    version: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
    extendedRcode: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
    flags: fc.integer({ min: 0, max: 0xffff }),
    rdata: fc.oneof({ weight: 3, arbitrary: fc.constant(Buffer.alloc(0)) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)) }),
  }),
  { nil: undefined },
);

export const wellFormedQuery: fc.Arbitrary<Buffer> = fc
  .record({ id: fc.integer({ min: 0, max: 0xffff }), flags, labels, type: qtype, klass: qclass, opt })
  .map((q) => buildQuery(q));

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'count'; which: number; value: number };

const position = fc.nat({ max: 1024 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: position, value: fc.nat({ max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: position }),
  fc.record({ kind: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('count' as const), which: fc.nat({ max: 3 }), value: fc.oneof(fc.nat({ max: 3 }), fc.nat({ max: 0xffff })) }),
);

function mutate(message: Buffer, m: Mutation): Buffer {
  const out = Buffer.from(message);
  const at = m.kind !== 'count' && out.length ? m.at % out.length : 0;
  switch (m.kind) {
    case 'flip':
      if (out.length) out.writeUInt8(out.readUInt8(at) ^ (1 << m.bit), at);
      return out;
    case 'set':
      if (out.length) out.writeUInt8(m.value, at);
      return out;
    case 'truncate':
      return out.subarray(0, m.at % (out.length + 1));
    case 'insert':
      return Buffer.concat([out.subarray(0, at), Buffer.from(m.bytes), out.subarray(at)]);
    case 'delete':
      return Buffer.concat([out.subarray(0, at), out.subarray(at + m.length)]);
    case 'count':
      if (out.length >= 12) out.writeUInt16BE(m.value, 4 + 2 * m.which);
      return out;
  }
}

export const mutatedQuery: fc.Arbitrary<Buffer> = fc
  .tuple(wellFormedQuery, fc.array(mutation, { minLength: 1, maxLength: 3 }))
  .map(([q, ms]) => ms.reduce(mutate, q));

export const truncatedQuery: fc.Arbitrary<Buffer> = fc.tuple(wellFormedQuery, fc.nat()).map(([q, n]) => q.subarray(0, n % (q.length + 1)));

export const randomBytes: fc.Arbitrary<Buffer> = fc.uint8Array({ maxLength: 700 }).map((a) => Buffer.from(a));

/** What a DNS server on the Internet receives, weighted towards almost-valid queries. */
export const anyDnsMessage: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 4, arbitrary: mutatedQuery },
  { weight: 4, arbitrary: wellFormedQuery },
  { weight: 1, arbitrary: randomBytes },
  { weight: 1, arbitrary: truncatedQuery },
);
