/**
 * BER as LDAP uses it (X.690 with RFC 4511 §5.1's restrictions: definite lengths only; LDAP's tags all
 * fit in one byte): a bounds-checked reader for what a peer sends, and a writer. Every length is checked
 * against its container, so hostile input fails with a BerError instead of reading past the buffer.
 */

export class BerError extends Error {}

export interface Tlv {
  tag: number;
  start: number;
  end: number;
}

export class BerReader {
  constructor(
    private readonly buf: Buffer,
    private pos = 0,
    private readonly end = buf.length,
  ) {}

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  peek(): number | undefined {
    return this.pos < this.end ? this.buf[this.pos] : undefined;
  }

  tlv(): Tlv {
    if (this.pos >= this.end) throw new BerError('unexpected end of data');
    const tag = this.buf[this.pos++] as number;
    if ((tag & 0x1f) === 0x1f) throw new BerError('multi-byte tags are not used by LDAP');
    if (this.pos >= this.end) throw new BerError('missing length');
    const first = this.buf[this.pos++] as number;
    let length = first;
    if (first & 0x80) {
      const n = first & 0x7f;
      if (n === 0) throw new BerError('indefinite length');
      if (n > 4) throw new BerError('length too long');
      if (this.pos + n > this.end) throw new BerError('truncated length');
      length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + (this.buf[this.pos++] as number);
    }
    const start = this.pos;
    if (start + length > this.end) throw new BerError('value extends beyond its container');
    this.pos = start + length;
    return { tag, start, end: start + length };
  }

  expect(tag: number): Tlv {
    const t = this.tlv();
    if (t.tag !== tag) throw new BerError(`expected tag 0x${tag.toString(16)}, found 0x${t.tag.toString(16)}`);
    return t;
  }

  /** The next element, tag and length included, as a reader of its own (read later); this reader moves past it. */
  element(): BerReader {
    const start = this.pos;
    const t = this.tlv();
    return new BerReader(this.buf, start, t.end);
  }

  sub(t: Tlv): BerReader {
    return new BerReader(this.buf, t.start, t.end);
  }

  bytes(t: Tlv): Buffer {
    return this.buf.subarray(t.start, t.end);
  }

  octets(tag = 0x04): Buffer {
    return this.bytes(this.expect(tag));
  }

  string(tag = 0x04): string {
    return this.octets(tag).toString('utf8');
  }

  integer(tag = 0x02): number {
    const b = this.octets(tag);
    if (b.length === 0 || b.length > 6) throw new BerError('integer out of range');
    let v = 0;
    for (const x of b) v = v * 256 + x;
    return (b[0] as number) & 0x80 ? v - 2 ** (8 * b.length) : v;
  }

  boolean(tag = 0x01): boolean {
    const b = this.octets(tag);
    if (b.length !== 1) throw new BerError('bad boolean');
    return b[0] !== 0;
  }

  done(): void {
    if (!this.atEnd()) throw new BerError('trailing data');
  }
}

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
};

export function intBytes(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  do {
    out.unshift(v & 0xff);
    v = Math.floor(v / 256);
  } while (v > 0);
  if ((out[0] as number) & 0x80) out.unshift(0);
  return Buffer.from(out);
}

export const octets = (v: string | Buffer, tag = 0x04) => tlv(tag, typeof v === 'string' ? Buffer.from(v, 'utf8') : v);
/** The LDAPMessage envelope (RFC 4511 §4.2.1): SEQUENCE { messageID, protocolOp }. */
export const message = (messageId: number, op: Buffer) => tlv(0x30, tlv(0x02, intBytes(messageId)), op);
