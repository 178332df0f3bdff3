/**
 * NTLM for SIP as OCS 2007 R2 speaks it ([MS-SIPAE] 3.2 over [MS-NLMP] connectionless NTLMv2), for the
 * front end and for the lab's Communicator alike: the CHALLENGE and AUTHENTICATE messages, NTLMv2
 * verification against the account's password, the session keys, and the signature of a SIP message
 * (`Authorization: NTLM … crand, cnum, response` from the client; `Authentication-Info: NTLM rspauth,
 * srand, snum` from the server). Decision 0014.
 *
 * As the product and pidgin-sipe have it: the CHALLENGE sets SIGN, DATAGRAM, IDENTIFY and KEY_EXCH with
 * extended session security; only NTLMv2 is accepted; every signature uses the NTLM sequence number 100
 * and a per-message RC4 key MD5(SealKey ‖ seq); the signed text is the message's fields in angle
 * brackets (`signedText`). MD4 (the NT hash) and RC4 are not in Node 20's OpenSSL 3 default provider:
 * they come from js-md4 and crypto-js.
 */
import { createHash, createHmac } from 'node:crypto';
import md4Hash from 'js-md4';
import CryptoJS from 'crypto-js';

export const NTLM = {
  UNICODE: 0x1,
  OEM: 0x2,
  REQUEST_TARGET: 0x4,
  SIGN: 0x10,
  SEAL: 0x20,
  DATAGRAM: 0x40,
  NTLM: 0x200,
  ALWAYS_SIGN: 0x8000,
  TARGET_TYPE_DOMAIN: 0x10000,
  EXTENDED_SESSIONSECURITY: 0x80000,
  IDENTIFY: 0x100000,
  TARGET_INFO: 0x800000,
  VERSION: 0x2000000,
  N128: 0x20000000,
  KEY_EXCH: 0x40000000,
  N56: 0x80000000,
} as const;

/** What OCS 2007 R2 sets in its CHALLENGE (a real server's capture, as pidgin-sipe's tests keep it). */
export const OCS_CHALLENGE_FLAGS = 0xe29882f3;

/** What a connectionless SIP client requires of a CHALLENGE (else "Failed to authenticate to server"). */
export const REQUIRED_FLAGS =
  NTLM.UNICODE | NTLM.NTLM | NTLM.ALWAYS_SIGN | NTLM.EXTENDED_SESSIONSECURITY | NTLM.TARGET_INFO | NTLM.SIGN | NTLM.DATAGRAM | NTLM.IDENTIFY | NTLM.KEY_EXCH;

const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');
/** The NTLM sequence number every SIP signature uses, both ways ([MS-SIPAE]; what clients send). */
const SEQ = Buffer.from([100, 0, 0, 0]);

export const md4 = (data: Uint8Array): Buffer => Buffer.from(md4Hash.arrayBuffer(data));
const md5 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
};
export const hmacMd5 = (key: Uint8Array, ...parts: Uint8Array[]): Buffer => {
  const h = createHmac('md5', key);
  for (const p of parts) h.update(p);
  return h.digest();
};
export function rc4(key: Uint8Array, data: Uint8Array): Buffer {
  const words = (b: Uint8Array) => CryptoJS.enc.Hex.parse(Buffer.from(b).toString('hex'));
  return Buffer.from(CryptoJS.RC4.encrypt(words(data), words(key)).ciphertext.toString(CryptoJS.enc.Hex), 'hex');
}
const utf16 = (s: string): Buffer => Buffer.from(s, 'utf16le');

/** NTOWFv2: the user name upper-cased (ASCII), the domain as the client sent it. */
export function ntowfv2(password: string, user: string, domain: string): Buffer {
  return hmacMd5(md4(utf16(password)), utf16(user.replace(/[a-z]/g, (c) => c.toUpperCase()) + domain));
}

/** The target information of a CHALLENGE: the server's names, as a Windows server gives them. */
export interface TargetInfo {
  nbDomain: string;
  nbComputer: string;
  dnsDomain: string;
  dnsComputer: string;
  dnsTree: string;
}

function avPairs(t: TargetInfo): Buffer {
  const pair = (id: number, value: string) => {
    const v = utf16(value);
    const head = Buffer.alloc(4);
    head.writeUInt16LE(id, 0);
    head.writeUInt16LE(v.length, 2);
    return Buffer.concat([head, v]);
  };
  return Buffer.concat([pair(2, t.nbDomain), pair(1, t.nbComputer), pair(4, t.dnsDomain), pair(3, t.dnsComputer), pair(5, t.dnsTree), Buffer.alloc(4)]);
}

/** A CHALLENGE_MESSAGE with this server challenge and target information (no target name, as OCS sends it). */
export function challengeMessage(serverChallenge: Uint8Array, target: TargetInfo, flags = OCS_CHALLENGE_FLAGS): Buffer {
  const info = avPairs(target);
  const head = Buffer.alloc(56);
  SIGNATURE.copy(head, 0);
  head.writeUInt32LE(2, 8);
  head.writeUInt16LE(0, 12);
  head.writeUInt16LE(0, 14);
  head.writeUInt32LE(56, 16);
  head.writeUInt32LE(flags >>> 0, 20);
  Buffer.from(serverChallenge).copy(head, 24);
  head.writeUInt16LE(info.length, 40);
  head.writeUInt16LE(info.length, 42);
  head.writeUInt32LE(56, 44);
  // Version 5.2 build 3790 (Windows Server 2003, as the captured OCS 2007 R2 server said), NTLM revision 15.
  Buffer.from([5, 2, 0xce, 0x0e, 0, 0, 0, 0x0f]).copy(head, 48);
  return Buffer.concat([head, info]);
}

export interface Challenge {
  flags: number;
  serverChallenge: Buffer;
  targetInfo: Buffer;
}

/** Reads a CHALLENGE_MESSAGE; undefined when it is not one. */
export function parseChallenge(b: Buffer): Challenge | undefined {
  if (b.length < 48 || !b.subarray(0, 8).equals(SIGNATURE) || b.readUInt32LE(8) !== 2) return undefined;
  const len = b.readUInt16LE(40);
  const off = b.readUInt32LE(44);
  if (off + len > b.length) return undefined;
  return { flags: b.readUInt32LE(20), serverChallenge: Buffer.from(b.subarray(24, 32)), targetInfo: Buffer.from(b.subarray(off, off + len)) };
}

export interface Authenticate {
  flags: number;
  lm: Buffer;
  nt: Buffer;
  domain: string;
  user: string;
  workstation: string;
  encryptedRandomSessionKey: Buffer;
}

/** Reads an AUTHENTICATE_MESSAGE (every field bounds-checked); undefined when it is not one. */
export function parseAuthenticate(b: Buffer): Authenticate | undefined {
  if (b.length < 64 || !b.subarray(0, 8).equals(SIGNATURE) || b.readUInt32LE(8) !== 3) return undefined;
  const field = (at: number): Buffer | undefined => {
    const len = b.readUInt16LE(at);
    const off = b.readUInt32LE(at + 4);
    return off + len <= b.length ? Buffer.from(b.subarray(off, off + len)) : undefined;
  };
  const [lm, nt, domain, user, workstation, key] = [12, 20, 28, 36, 44, 52].map(field);
  if (!lm || !nt || !domain || !user || !workstation || !key) return undefined;
  const flags = b.readUInt32LE(60);
  const text = (x: Buffer) => (flags & NTLM.UNICODE ? x.toString('utf16le') : x.toString('latin1'));
  return { flags, lm, nt, domain: text(domain), user: text(user), workstation: text(workstation), encryptedRandomSessionKey: key };
}

/** The four keys of a security association ([MS-NLMP] 3.4.5). */
export interface SessionKeys {
  clientSign: Buffer;
  serverSign: Buffer;
  clientSeal: Buffer;
  serverSeal: Buffer;
}

const magic = (s: string) => Buffer.from(`session key to ${s} key magic constant\0`, 'latin1');

export function sessionKeys(exported: Buffer, flags: number): SessionKeys {
  const sealLength = flags & NTLM.N128 ? 16 : flags & NTLM.N56 ? 7 : 5;
  const sealBase = exported.subarray(0, sealLength);
  return {
    clientSign: md5(exported, magic('client-to-server signing')),
    serverSign: md5(exported, magic('server-to-client signing')),
    clientSeal: md5(sealBase, magic('client-to-server sealing')),
    serverSeal: md5(sealBase, magic('server-to-client sealing')),
  };
}

/**
 * Verifies an NTLMv2 AUTHENTICATE against the account's password: the keys of the new association, or
 * undefined when the proof does not match (a wrong password, or not NTLMv2).
 */
export function acceptAuthenticate(a: Authenticate, serverChallenge: Uint8Array, password: string): SessionKeys | undefined {
  if (a.nt.length <= 24) return undefined;
  const key = ntowfv2(password, a.user, a.domain);
  const proof = a.nt.subarray(0, 16);
  const blob = a.nt.subarray(16);
  if (!hmacMd5(key, serverChallenge, blob).equals(proof)) return undefined;
  const sessionBase = hmacMd5(key, proof);
  const exported = a.flags & NTLM.KEY_EXCH && a.encryptedRandomSessionKey.length === 16 ? rc4(sessionBase, a.encryptedRandomSessionKey) : sessionBase;
  return sessionKeys(exported, a.flags);
}

/** A client's answer to a CHALLENGE: the AUTHENTICATE_MESSAGE and the association's keys. */
export function authenticateMessage(o: {
  challenge: Challenge;
  user: string;
  domain: string;
  workstation: string;
  password: string;
  /** 8 random bytes, 16 random bytes, and the time (ms since the epoch): from the caller's seeded ids and clock. */
  clientChallenge: Uint8Array;
  exportedSessionKey: Uint8Array;
  nowMs: number;
}): { message: Buffer; keys: SessionKeys; flags: number } {
  const { challenge } = o;
  let flags = ((challenge.flags & (REQUIRED_FLAGS | NTLM.N128 | NTLM.N56 | NTLM.VERSION | NTLM.TARGET_TYPE_DOMAIN)) | NTLM.REQUEST_TARGET) >>> 0;
  if (flags & NTLM.N128) flags = (flags & ~NTLM.N56) >>> 0;
  const key = ntowfv2(o.password, o.user, o.domain);
  const time = Buffer.alloc(8);
  time.writeBigUInt64LE(BigInt(o.nowMs) * 10_000n + 116_444_736_000_000_000n);
  const blob = Buffer.concat([Buffer.from([1, 1, 0, 0, 0, 0, 0, 0]), time, Buffer.from(o.clientChallenge), Buffer.alloc(4), challenge.targetInfo, Buffer.alloc(4)]);
  const proof = hmacMd5(key, challenge.serverChallenge, blob);
  const nt = Buffer.concat([proof, blob]);
  const lm = Buffer.concat([hmacMd5(key, challenge.serverChallenge, o.clientChallenge), Buffer.from(o.clientChallenge)]);
  const sessionBase = hmacMd5(key, proof);
  const exported = Buffer.from(o.exportedSessionKey);
  const encrypted = rc4(sessionBase, exported);
  const payload = [utf16(o.domain), utf16(o.user), utf16(o.workstation), lm, nt, encrypted];
  const head = Buffer.alloc(72);
  SIGNATURE.copy(head, 0);
  head.writeUInt32LE(3, 8);
  let offset = 72;
  // Domain, user, workstation, LM, NT, session key in the payload; their fields in the header's order.
  const at = [28, 36, 44, 12, 20, 52];
  payload.forEach((p, i) => {
    const f = at[i] as number;
    head.writeUInt16LE(p.length, f);
    head.writeUInt16LE(p.length, f + 2);
    head.writeUInt32LE(offset, f + 4);
    offset += p.length;
  });
  head.writeUInt32LE(flags, 60);
  // Windows XP SP2's version (5.1.2600), as sipe writes it.
  Buffer.from([5, 1, 0x28, 0x0a, 0, 0, 0, 0x0f]).copy(head, 64);
  return { message: Buffer.concat([head, ...payload]), keys: sessionKeys(exported, flags), flags };
}

/**
 * The 8 bytes of RC4 keystream that seal every checksum of one direction: the key is MD5(SealKey ‖ seq)
 * with the constant seq, and RC4 starts afresh for each message, so the keystream is the same each time.
 * Kept per seal key (the association's own buffer).
 */
const keystreams = new WeakMap<Buffer, Buffer>();
function keystream(sealKey: Buffer): Buffer {
  let k = keystreams.get(sealKey);
  if (!k) {
    k = rc4(md5(sealKey, SEQ), Buffer.alloc(8));
    keystreams.set(sealKey, k);
  }
  return k;
}

/** The signature of a signed text with one side's keys: 32 upper-case hex digits. */
export function sign(text: string, signKey: Buffer, sealKey: Buffer): string {
  const mac = hmacMd5(signKey, SEQ, Buffer.from(text, 'utf8')).subarray(0, 8);
  const stream = keystream(sealKey);
  const checksum = Buffer.from(mac.map((b, i) => b ^ (stream[i] as number)));
  return Buffer.concat([Buffer.from([1, 0, 0, 0]), checksum, SEQ]).toString('hex').toUpperCase();
}

export function verify(text: string, signature: string, signKey: Buffer, sealKey: Buffer): boolean {
  return /^[0-9a-f]{32}$/i.test(signature) && sign(text, signKey, sealKey) === signature.toUpperCase();
}

// ---- the SIP side ------------------------------------------------------------------------------

/**
 * The parameters of an authentication header value (`NTLM realm="…", opaque="…", version=4`, or a
 * Digest one): after the scheme, `name=value` pairs, a quoted value up to its closing quote (a backslash
 * escapes the next character), another up to a comma or space. One pass over the text, whatever it holds.
 */
export function authParams(value: string): Map<string, string> {
  const out = new Map<string, string>();
  const n = value.length;
  let i = 0;
  while (i < n && /\s/.test(value[i] as string)) i++;
  while (i < n && !/\s/.test(value[i] as string)) i++;
  const isName = (c: string) => /[A-Za-z0-9_-]/.test(c);
  while (i < n) {
    while (i < n && /[\s,]/.test(value[i] as string)) i++;
    const start = i;
    while (i < n && isName(value[i] as string)) i++;
    if (i === start) {
      i++;
      continue;
    }
    const name = value.slice(start, i).toLowerCase();
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
    if (value[i] !== '=') continue;
    i++;
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
    let v: string;
    if (value[i] === '"') {
      const from = ++i;
      while (i < n && value[i] !== '"') i += value[i] === '\\' ? 2 : 1;
      v = value.slice(from, Math.min(i, n));
      i++;
    } else {
      const from = i;
      while (i < n && !/[\s,]/.test(value[i] as string)) i++;
      v = value.slice(from, i);
    }
    out.set(name, v);
  }
  return out;
}

/** A raw SIP message's start line and headers (names lower-case, values as on the wire), read without sip.js. */
export interface SipHead {
  start: string;
  /** The first value of a header (full name only), or undefined. */
  header(name: string): string | undefined;
  all(name: string): string[];
}

export function sipHead(raw: string): SipHead {
  const end = raw.indexOf('\r\n\r\n');
  const lines = (end < 0 ? raw : raw.slice(0, end)).split('\r\n');
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).replace(/^\s+/, '')]);
  }
  const all = (name: string) => headers.filter(([n]) => n === name).map(([, v]) => v);
  return { start: lines[0] ?? '', header: (name) => headers.find(([n]) => n === name)?.[1], all };
}

/** The text between the first `<` and the next `>` (linear, whatever the value holds). */
function bracketed(v: string): string | undefined {
  const open = v.indexOf('<');
  if (open < 0) return undefined;
  const close = v.indexOf('>', open + 1);
  return close < 0 ? '' : v.slice(open + 1, close);
}
const uriOf = (v: string) => bracketed(v) ?? (v.split(';')[0] ?? '').trim();
function tagOf(v: string): string {
  const at = v.toLowerCase().indexOf(';tag=');
  if (at < 0) return '';
  const rest = v.slice(at + 5);
  const end = rest.indexOf(';');
  return (end < 0 ? rest : rest.slice(0, end)).trim();
}

/** The fields of the association that a signature covers: who signs, and their random and number. */
export interface SignedFields {
  rand: string;
  num: string;
  realm: string;
  targetname: string;
}

/**
 * The text an NTLM SIP signature covers ([MS-SIPAE] 3.2.5.5, version 3 and 4): protocol, rand, num,
 * realm, target name, Call-ID, CSeq number and method, From URI and tag, To URI and tag, the asserted
 * identity's sip and tel URIs, Expires, and for a response its status code, each in angle brackets, as
 * the message has them on the wire.
 */
export function signedText(raw: string, f: SignedFields): string {
  const message = sipHead(raw);
  const start = message.start;
  // Full header names only, as the clients build the text (a compact `i:` or `f:` is not read).
  const h = (name: string) => message.header(name) ?? '';
  const response = /^SIP\/2\.0\s+(\d{3})/.exec(start);
  const cseq = h('cseq').trim().split(/\s+/);
  const method = response ? (cseq[1] ?? '') : (start.split(' ')[0] ?? '');
  const from = h('from');
  const to = h('to');
  const pai = h('p-asserted-identity') || h('p-preferred-identity');
  let paiSip = '';
  let paiTel = '';
  if (/^\s*tel:/i.test(pai)) paiTel = pai.trim();
  else
    for (const part of pai.split(',')) {
      const uri = bracketed(part) ?? '';
      if (!paiSip && /^sips?:/i.test(uri)) paiSip = uri;
      if (!paiTel && /^tel:/i.test(uri)) paiTel = uri;
    }
  const fields = ['NTLM', f.rand, f.num, f.realm, f.targetname, h('call-id').trim(), cseq[0] ?? '', method, uriOf(from), tagOf(from), uriOf(to), tagOf(to), paiSip, paiTel, h('expires').trim()];
  if (response) fields.push(response[1] ?? '');
  return fields.map((x) => `<${x}>`).join('');
}

/** Adds a header as the last of a raw SIP message's header section. */
export function withHeader(raw: string, header: string): string {
  const end = raw.indexOf('\r\n\r\n');
  return end < 0 ? `${raw}\r\n${header}\r\n\r\n` : `${raw.slice(0, end)}\r\n${header}${raw.slice(end)}`;
}
