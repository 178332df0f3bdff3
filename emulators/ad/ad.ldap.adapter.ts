/**
 * LDAP (RFC 4511, TCP, no TLS) in front of the `ad` actor: a domain controller's port 389 as a client sees
 * it. The adapter only translates bytes into `ad.client` calls and their results back into bytes; every
 * directory behaviour (schema checks, authentication, search evaluation, the rootDSE) stays in the AD
 * machine.
 *
 * Why not `ldapjs.createServer()`: its router passes every bind name through `DN.fromString`, so the
 * `CORP\user` and `user@corp.example.net` forms AD accepts would be answered with invalidDNSyntax (34)
 * before reaching a handler; its parser buffers without a size limit, re-emits parse errors as server
 * 'error' events and lower-cases AddRequest attribute types and objectClass values; and `@ldapjs/filter`'s
 * `parseBer` loops forever on some malformed filters (found by test/wire/ldap.fuzz.test.ts). This file
 * therefore frames and decodes LDAPMessages itself with a small bounds-checked BER reader (`ldap.ber.ts`),
 * turns the BER filter into its RFC 4515 string (strictly validated, nesting capped at 100) and hands that
 * string to the AD machine, which parses it with `@ldapjs/filter`'s string parser as before.
 *
 * AD behaviour followed at the protocol level:
 * - Simple bind with a DN, `NETBIOS\user` or a UPN; an empty name and password is an anonymous bind, and a
 *   name with an empty password is an *unauthenticated* bind, which Windows Server 2008 accepts as
 *   anonymous. A failed bind leaves the connection anonymous (RFC 4511 §4.2.1).
 * - Anonymous connections may read the rootDSE only; anything else gets operationsError (1)
 *   "000004DC … a successful bind must be completed on the connection".
 * - Searches return at most MaxPageSize (1000) entries without paging, then sizeLimitExceeded (4), as the
 *   default LDAP policy does; a smaller client sizeLimit wins.
 * - objectGUID / schemaIDGUID go on the wire as 16 bytes in Microsoft's GUID byte order (first three
 *   fields little-endian), objectSid / msRTCSIP-OriginatorSid as binary SIDs. Equality filters on these
 *   attributes may give the value as escaped bytes (`\01\05…`); they are turned into the string form the
 *   emulator stores.
 * - unicodePwd values may be sent as AD requires (UTF-16LE of the quoted password) or as UTF-8.
 * - Extended operations: WhoAmI (1.3.6.1.4.1.4203.1.11.3) answers `u:NETBIOS\sam`; StartTLS gets
 *   unavailable (52) because this listener has no certificate; any other OID gets protocolError (2).
 * - modifyDN and compare are not emulated: unwillingToPerform (53). A critical control gets
 *   unavailableCriticalExtension (12) (the lab implements none); non-critical controls are ignored.
 * - Framing: a message must be a definite-length SEQUENCE of at most 1 MiB. Anything else (another
 *   protocol, random bytes, an oversized or undecodable message) gets the Notice of Disconnection
 *   (protocolError) and the connection is closed (RFC 4511 §4.1.1, §4.4.1). Other connections are not
 *   affected. A truncated message simply waits for the rest (or for the idle timeout).
 */
import net from 'node:net';
import type { AnyActorRef } from 'xstate';
import type { Lab } from '../../sim/lab.js';
import { ConnectionRoster, giveWay, SLICE_MS, type ListenOptions, type Listening } from '../../sim/wire.js';
import { adAdd, adAuthenticate, adDelete, adModify, adSearchCursor } from './ad.client.js';
import type { FilterTree } from './ad.filter.js';
import type { AdFailure, AdModification, AdResult, AdScope, AdSearchEntry } from './ad.events.js';
import { bytesToGuid, bytesToSid, guidToBytes, sdToBytes, sidToBytes } from './ad.security.js';
import { BerError, BerReader, intBytes, message, octets, tlv, type Tlv } from './ldap.ber.js';

// ---------------------------------------------------------------------------------------------------
// Protocol constants

/** Largest LDAPMessage accepted (AD's MaxReceiveBuffer is 10 MB; the lab needs far less). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** AD's default MaxPageSize: entries returned by a search without the paged-results control. */
export const MAX_PAGE_SIZE = 1000;
/** AD's default MaxConnIdleTime (900 s). */
const IDLE_TIMEOUT_MS = 900_000;
/** AD's default InitRecvTimeout (120 s): the first request must arrive within it; the lab also holds every started message to it. */
export const INIT_RECV_TIMEOUT_MS = 120_000;
/** AD's default MaxConnections (5000): past it, another connection is dropped (the one that has sent least). */
export const MAX_CONNECTIONS = 5000;
/** AD's default MaxQueryDuration (120 s): a search running longer ends with timeLimitExceeded (3). */
export const MAX_QUERY_DURATION_MS = 120_000;
/**
 * Bytes of unfinished messages the listener holds for all its clients together (the lab's line; a DC's
 * is its memory): past it, the connection holding the most is dropped, so slow senders cannot pile up.
 */
export const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;
/** Requests a connection may have waiting behind a running search; past it the connection gets busy (51). */
export const MAX_QUEUED_REQUESTS = 64;
/** Filter work (terms × entries) between the points where a search lets other clients in. */
const SEARCH_SLICE = 2_000;

const OP = {
  bindRequest: 0x60,
  bindResponse: 0x61,
  unbindRequest: 0x42,
  searchRequest: 0x63,
  searchResultEntry: 0x64,
  searchResultDone: 0x65,
  modifyRequest: 0x66,
  modifyResponse: 0x67,
  addRequest: 0x68,
  addResponse: 0x69,
  delRequest: 0x4a,
  delResponse: 0x6b,
  modDnRequest: 0x6c,
  modDnResponse: 0x6d,
  compareRequest: 0x6e,
  compareResponse: 0x6f,
  abandonRequest: 0x50,
  extendedRequest: 0x77,
  extendedResponse: 0x78,
} as const;

/** RFC 4511 §4.1.9 result codes the adapter itself produces (the AD failures carry their own). */
const RC = {
  success: 0,
  operationsError: 1,
  protocolError: 2,
  timeLimitExceeded: 3,
  sizeLimitExceeded: 4,
  busy: 51,
  authMethodNotSupported: 7,
  unavailableCriticalExtension: 12,
  invalidCredentials: 49,
  unavailable: 52,
  unwillingToPerform: 53,
  other: 80,
} as const;

const OID = {
  noticeOfDisconnection: '1.3.6.1.4.1.1466.20036',
  startTls: '1.3.6.1.4.1.1466.20037',
  whoAmI: '1.3.6.1.4.1.4203.1.11.3',
};

/** AD's diagnostics for what the adapter answers itself (DSIDs are representative, as in ad.store.ts). */
const DIAG = {
  bindRequired: '000004DC: LdapErr: DSID-0C0906E8, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v1db1',
  unwilling: '00002035: SvcErr: DSID-031A1254, problem 5003 (WILL_NOT_PERFORM), data 0',
  protocol: '00000057: LdapErr: DSID-0C090E1A, comment: Error decoding ldap message, data 0, v1db1',
  unknownExtended: (oid: string) => `0000203D: LdapErr: DSID-0C090C57, comment: Unknown extended request OID ${oid}, data 0, v1db1`,
  startTls: '00000000: LdapErr: DSID-0C090F78, comment: Error initializing SSL/TLS, data 0, v1db1',
  saslMechanism: (m: string) => `00002027: LdapErr: DSID-0C0904EA, comment: The SASL mechanism ${m} is not supported by this emulated DC, data 0, v1db1`,
  version: '00002027: LdapErr: DSID-0C0904DC, comment: Unsupported LDAP version, data 0, v1db1',
  criticalControl: (oid: string) => `000020EF: LdapErr: DSID-0C09076B, comment: The server does not support the requested critical extension ${oid}, data 0, v1db1`,
  modifyOperation: '00000057: LdapErr: DSID-0C090D8A, comment: Error in attribute conversion operation, data 0, v1db1',
  internal: '000020EF: SvcErr: DSID-03200E24, problem 5012 (DIR_ERROR), data 0',
  // ERROR_DS_TIMELIMIT_EXCEEDED (0x2022) and ERROR_DS_BUSY (0x200E), in AD's diagnostic form (the DSIDs are not known).
  timeLimit: '00002022: LdapErr: comment: The time limit for this request was exceeded, data 0, v1db1',
  busy: '0000200E: LdapErr: comment: The server is busy: too many requests are waiting on this connection, data 0, v1db1',
  tooMany: '0000200E: LdapErr: comment: The server is busy: MaxConnections reached, data 0, v1db1',
  slow: '00000057: LdapErr: comment: The request did not arrive within InitRecvTimeout, data 0, v1db1',
};

// ---------------------------------------------------------------------------------------------------
// Responses

function ldapResult(tag: number, code: number, matchedDN: string, diagnostic: string, ...extra: Buffer[]): Buffer {
  return tlv(tag, tlv(0x0a, intBytes(code)), octets(matchedDN), octets(diagnostic), ...extra);
}

// ---------------------------------------------------------------------------------------------------
// Binary attributes: the emulator stores the string forms AD tools display.

const GUID_ATTRIBUTES = new Set(['objectguid', 'schemaidguid']);
const SID_ATTRIBUTES = new Set(['objectsid', 'msrtcsip-originatorsid']);
export { guidToBytes, bytesToGuid, sidToBytes, bytesToSid } from './ad.security.js';

function wireValue(attribute: string, value: string): Buffer {
  const lower = attribute.toLowerCase();
  if (GUID_ATTRIBUTES.has(lower)) return guidToBytes(value) ?? Buffer.from(value, 'utf8');
  if (SID_ATTRIBUTES.has(lower)) return sidToBytes(value) ?? Buffer.from(value, 'utf8');
  if (lower === 'ntsecuritydescriptor') return sdToBytes(value) ?? Buffer.from(value, 'utf8');
  return Buffer.from(value, 'utf8');
}

/** RFC 4515 escaping of an assertion value; GUID/SID attributes given as bytes become their string form. */
function assertionValue(attribute: string, raw: Buffer): string {
  const lower = attribute.toLowerCase();
  // ldapjs clients send RFC 4515 escapes ("\\01\\05…") literally instead of the bytes; binary attributes
  // never hold backslashes, so such a value is taken as the bytes it spells.
  const literal = raw.toString('latin1');
  const binary = GUID_ATTRIBUTES.has(lower) || SID_ATTRIBUTES.has(lower);
  const value = binary && /^(?:\\[0-9a-fA-F]{2})+$/.test(literal) ? Buffer.from(literal.replace(/\\/g, ''), 'hex') : raw;
  if (GUID_ATTRIBUTES.has(lower) && value.length === 16) return bytesToGuid(value);
  if (SID_ATTRIBUTES.has(lower)) {
    const sid = bytesToSid(value);
    if (sid !== undefined) return sid;
  }
  const text = value.toString('utf8');
  const exact = Buffer.from(text, 'utf8').equals(value);
  if (!exact) return [...value].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('');
  return text.replace(/[*()\\\u0000-\u001f\u007f]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const ATTRIBUTE_DESCRIPTION = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)*)(?:;[A-Za-z0-9-]+)*$/;
/** Deeper filters are refused (AD's own limit is far lower than anything that could exhaust the stack). */
const MAX_FILTER_DEPTH = 100;

function attributeDescription(text: string): string {
  if (!ATTRIBUTE_DESCRIPTION.test(text)) throw new BerError('bad attribute description in filter');
  return text;
}

/**
 * A BER Filter (RFC 4511 §4.5.1) as the tree the AD machine evaluates, with strict structure checks;
 * assertion values in their RFC 4515 escaped form. Built straight from the BER: a 40,000-term filter is
 * not turned into a half-megabyte string only to be parsed again.
 */
export function filterTreeOf(r: BerReader): FilterTree {
  const steps = filterTreeSteps(r);
  for (;;) {
    const x = steps.next();
    if (x.done) return x.value;
  }
}

/** Filter elements decoded between the points where a large filter lets other clients in. */
const DECODE_SLICE = 200;

/** `filterTreeOf` that gives way every DECODE_SLICE elements (a 40,000-term filter is decoded in slices). */
export function* filterTreeSteps(r: BerReader, depth = 0, count = { n: 0 }): Generator<void, FilterTree, void> {
  if (depth > MAX_FILTER_DEPTH) throw new BerError('filter nested too deeply');
  if (++count.n % DECODE_SLICE === 0) yield;
  const t = r.tlv();
  const body = r.sub(t);
  const simple = (type: string): FilterTree => {
    const attribute = attributeDescription(body.string());
    const value = body.octets();
    body.done();
    return { type, attribute, value: assertionValue(attribute, value) };
  };
  switch (t.tag) {
    case 0xa0:
    case 0xa1: {
      const clauses: FilterTree[] = [];
      while (!body.atEnd()) clauses.push(yield* filterTreeSteps(body, depth + 1, count));
      if (clauses.length === 0) throw new BerError('empty filter set');
      return { type: t.tag === 0xa0 ? 'AndFilter' : 'OrFilter', clauses };
    }
    case 0xa2: {
      const inner = yield* filterTreeSteps(body, depth + 1, count);
      body.done();
      return { type: 'NotFilter', filter: inner };
    }
    case 0xa3:
      return simple('EqualityFilter');
    case 0xa5:
      return simple('GreaterThanEqualsFilter');
    case 0xa6:
      return simple('LessThanEqualsFilter');
    case 0xa8:
      return simple('ApproximateFilter');
    case 0x87:
      return { type: 'PresenceFilter', attribute: attributeDescription(r.bytes(t).toString('utf8')) };
    case 0xa4: {
      const attribute = attributeDescription(body.string());
      const list = body.sub(body.expect(0x30));
      body.done();
      let initial = '';
      const any: string[] = [];
      let final = '';
      let count = 0;
      while (!list.atEnd()) {
        const p = list.tlv();
        const v = assertionValue(attribute, list.bytes(p));
        if (p.tag === 0x80 && count === 0) initial = v;
        else if (p.tag === 0x81 && final === '') any.push(v);
        else if (p.tag === 0x82 && final === '') final = v;
        else throw new BerError('bad substring filter');
        count++;
      }
      if (count === 0) throw new BerError('empty substring filter');
      return { type: 'SubstringFilter', attribute, initial, any, final };
    }
    case 0xa9: {
      let rule = '';
      let type = '';
      if (body.peek() === 0x81) rule = attributeDescription(body.string(0x81));
      if (body.peek() === 0x82) type = attributeDescription(body.string(0x82));
      const value = body.octets(0x83);
      if (body.peek() === 0x84) body.boolean(0x84);
      body.done();
      if (rule === '' && type === '') throw new BerError('extensible match without rule or type');
      return { type: 'ExtensibleFilter', attribute: type, matchingRule: rule, value: assertionValue(type, value) };
    }
    default:
      throw new BerError(`0x${t.tag.toString(16)} is not a filter`);
  }
}

/** Assertions in a filter tree (its work per entry, before grouping). */
export function filterTerms(f: FilterTree): number {
  let n = 1;
  for (const c of f.clauses ?? []) n += filterTerms(c);
  if (f.filter) n += filterTerms(f.filter);
  return n;
}

/** unicodePwd as AD takes it (UTF-16LE of `"password"`), or UTF-8 text from a friendlier client. */
function textValue(attribute: string, value: Buffer): string {
  if (attribute.toLowerCase() === 'unicodepwd' && value.length >= 4 && value.length % 2 === 0) {
    const utf16 = value.toString('utf16le');
    if (utf16.startsWith('"') && utf16.endsWith('"')) return utf16;
  }
  return value.toString('utf8');
}

// ---------------------------------------------------------------------------------------------------
// Requests

interface Control {
  type: string;
  critical: boolean;
}

type Request =
  | { op: 'bind'; version: number; name: string; password?: string; sasl?: string }
  | { op: 'unbind' }
  | { op: 'abandon' }
  | { op: 'search'; base: string; scope: AdScope; sizeLimit: number; timeLimit: number; typesOnly: boolean; filter: BerReader; attributes: string[] }
  | { op: 'modify'; dn: string; changes: AdModification[]; badOperation: boolean }
  | { op: 'add'; dn: string; attributes: Record<string, string[]> }
  | { op: 'delete'; dn: string }
  | { op: 'modifyDn' }
  | { op: 'compare' }
  | { op: 'extended'; name: string };

interface Decoded {
  messageId: number;
  request: Request;
  controls: Control[];
}

const SCOPES: Record<number, AdScope> = { 0: 'base', 1: 'one', 2: 'sub' };
const MODIFY_OPERATIONS: Record<number, AdModification['operation']> = { 0: 'add', 1: 'delete', 2: 'replace' };

function readAttribute(r: BerReader): { type: string; values: Buffer[] } {
  const seq = r.sub(r.expect(0x30));
  const type = seq.string();
  const set = seq.sub(seq.expect(0x31));
  const values: Buffer[] = [];
  while (!set.atEnd()) values.push(set.octets());
  seq.done();
  return { type, values };
}

function decodeRequest(op: Tlv, r: BerReader): Request {
  const body = r.sub(op);
  switch (op.tag) {
    case OP.bindRequest: {
      const version = body.integer();
      const name = body.string();
      const auth = body.tlv();
      if (auth.tag === 0x80) {
        body.done();
        return { op: 'bind', version, name, password: body.bytes(auth).toString('utf8') };
      }
      if (auth.tag === 0xa3) {
        const sasl = body.sub(auth);
        return { op: 'bind', version, name, sasl: sasl.string() };
      }
      throw new BerError(`unknown authentication choice 0x${auth.tag.toString(16)}`);
    }
    case OP.unbindRequest:
      return { op: 'unbind' };
    case OP.abandonRequest:
      return { op: 'abandon' };
    case OP.searchRequest: {
      const base = body.string();
      const scope = SCOPES[body.integer(0x0a)];
      if (!scope) throw new BerError('bad scope');
      body.integer(0x0a); // derefAliases
      const sizeLimit = body.integer();
      const timeLimit = body.integer();
      const typesOnly = body.boolean();
      // Decoded (and checked) when the search runs, in slices (filterTreeSteps).
      const filter = body.element();
      const list = body.sub(body.expect(0x30));
      const attributes: string[] = [];
      while (!list.atEnd()) attributes.push(list.string());
      body.done();
      return { op: 'search', base, scope, sizeLimit, timeLimit, typesOnly, filter, attributes };
    }
    case OP.modifyRequest: {
      const dn = body.string();
      const list = body.sub(body.expect(0x30));
      const changes: AdModification[] = [];
      let badOperation = false;
      while (!list.atEnd()) {
        const change = list.sub(list.expect(0x30));
        const operation = MODIFY_OPERATIONS[change.integer(0x0a)];
        const { type, values } = readAttribute(change);
        change.done();
        if (!operation) badOperation = true;
        else changes.push({ operation, attribute: type, values: values.map((v) => textValue(type, v)) });
      }
      body.done();
      return { op: 'modify', dn, changes, badOperation };
    }
    case OP.addRequest: {
      const dn = body.string();
      const list = body.sub(body.expect(0x30));
      const attributes: Record<string, string[]> = {};
      while (!list.atEnd()) {
        const { type, values } = readAttribute(list);
        attributes[type] = [...(attributes[type] ?? []), ...values.map((v) => textValue(type, v))];
      }
      body.done();
      return { op: 'add', dn, attributes };
    }
    case OP.delRequest:
      return { op: 'delete', dn: r.bytes(op).toString('utf8') };
    case OP.modDnRequest:
      body.string();
      return { op: 'modifyDn' };
    case OP.compareRequest:
      body.string();
      return { op: 'compare' };
    case OP.extendedRequest:
      return { op: 'extended', name: body.string(0x80) };
    default:
      throw new BerError(`0x${op.tag.toString(16)} is not an LDAP request`);
  }
}

export function decodeMessage(frame: Buffer): Decoded {
  const outer = new BerReader(frame);
  const seq = outer.sub(outer.expect(0x30));
  outer.done();
  const messageId = seq.integer();
  if (messageId < 0) throw new BerError('negative message id');
  const op = seq.tlv();
  const request = decodeRequest(op, seq);
  const controls: Control[] = [];
  if (seq.peek() === 0xa0) {
    const list = seq.sub(seq.expect(0xa0));
    while (!list.atEnd()) {
      const c = list.sub(list.expect(0x30));
      const type = c.string();
      const critical = c.peek() === 0x01 ? c.boolean() : false;
      if (c.peek() === 0x04) c.octets();
      c.done();
      controls.push({ type, critical });
    }
  }
  seq.done();
  return { messageId, request, controls };
}

/** What a request's response looks like, for answering it with an error. */
const RESPONSE_TAG: Partial<Record<Request['op'], number>> = {
  bind: OP.bindResponse,
  search: OP.searchResultDone,
  modify: OP.modifyResponse,
  add: OP.addResponse,
  delete: OP.delResponse,
  modifyDn: OP.modDnResponse,
  compare: OP.compareResponse,
  extended: OP.extendedResponse,
};

// ---------------------------------------------------------------------------------------------------
// Framing

type Frame = { kind: 'more' } | { kind: 'bad'; reason: string } | { kind: 'message'; size: number };

/** Finds the extent of the first LDAPMessage in `buf` without decoding it. */
export function frameLength(buf: Buffer, max = MAX_MESSAGE_BYTES, available = buf.length): Frame {
  if (buf.length === 0) return { kind: 'more' };
  if (buf[0] !== 0x30) return { kind: 'bad', reason: 'not an LDAPMessage' };
  if (buf.length < 2) return { kind: 'more' };
  const first = buf[1] as number;
  let header = 2;
  let size = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0) return { kind: 'bad', reason: 'indefinite length' };
    if (n > 4) return { kind: 'bad', reason: 'length field too long' };
    if (buf.length < 2 + n) return { kind: 'more' };
    size = 0;
    for (let i = 0; i < n; i++) size = size * 256 + (buf[2 + i] as number);
    header = 2 + n;
  }
  if (size > max) return { kind: 'bad', reason: `message of ${size} bytes exceeds ${max}` };
  if (available < header + size) return { kind: 'more' };
  return { kind: 'message', size: header + size };
}

// ---------------------------------------------------------------------------------------------------
// The server

export interface LdapListening extends Listening {
  protocol: 'ldap';
  url: string;
  /** Open client connections (for tests and `serve` diagnostics). */
  connections(): number;
}

interface Session {
  socket: net.Socket;
  /** What has arrived of the next message(s), not yet concatenated (a slow sender costs no copies). */
  chunks: Buffer[];
  buffered: number;
  /** The bound account; undefined while anonymous. */
  account?: { dn: string; sam: string };
  closing: boolean;
  /** A search is running: requests after it wait in `queue`, answered in order. */
  busy: boolean;
  queue: Decoded[];
  /** Whether a whole request has arrived yet (InitRecvTimeout). */
  started: boolean;
  /** The deadline of the message being received (InitRecvTimeout from its first byte). */
  deadline?: NodeJS.Timeout;
  /** Not read for now: the listener's unfinished bytes are over budget and this connection holds most. */
  paused?: boolean;
}

const fromFailure = (f: AdFailure) => ({ code: f.ldapResultCode, matchedDN: f.matchedDN ?? '', diagnostic: f.message });

/** Starts LDAP on `options.host` (127.0.0.1) : `options.port` (0 = a free port) for the lab's AD. */
/** The listener's LDAP policy limits (AD's defaults; tests lower them to see each one hit). */
export interface LdapLimits {
  initRecvTimeoutMs: number;
  maxConnections: number;
  maxQueryDurationMs: number;
  maxBufferedBytes: number;
  maxQueuedRequests: number;
}

export const DEFAULT_LDAP_LIMITS: LdapLimits = {
  initRecvTimeoutMs: INIT_RECV_TIMEOUT_MS,
  maxConnections: MAX_CONNECTIONS,
  maxQueryDurationMs: MAX_QUERY_DURATION_MS,
  maxBufferedBytes: MAX_BUFFERED_BYTES,
  maxQueuedRequests: MAX_QUEUED_REQUESTS,
};

export async function startLdapServer(lab: Lab, options: ListenOptions & { dc?: string; limits?: Partial<LdapLimits> } = {}): Promise<LdapListening> {
  const host = options.host ?? '127.0.0.1';
  const limits: LdapLimits = { ...DEFAULT_LDAP_LIMITS, ...options.limits };
  /** The domain controller this listener is (default: the PDC emulator): reads and writes go to its replica. */
  const at = options.dc ? { dc: options.dc } : {};
  const sessions = new Set<Session>();
  /** The open connections not yet closing, and who makes room at MaxConnections. */
  const roster = new ConnectionRoster<Session>((x) => x.account !== undefined);
  const ad = (): AnyActorRef | undefined => lab.get('ad');
  const netbios = lab.topology.forest.netbios;

  const send = (s: Session, data: Buffer) => {
    if (!s.closing && !s.socket.destroyed) s.socket.write(data);
  };

  /** Every byte held for the listener's clients together (MAX_BUFFERED_BYTES). */
  let bufferedTotal = 0;
  const drop = (s: Session) => {
    bufferedTotal -= s.buffered;
    s.chunks = [];
    s.buffered = 0;
    s.queue = [];
    if (s.deadline) clearTimeout(s.deadline);
    s.deadline = undefined;
  };

  const disconnect = (s: Session, diagnostic: string, code: number = RC.protocolError) => {
    if (s.closing) return;
    send(s, message(0, ldapResult(OP.extendedResponse, code, '', diagnostic, octets(OID.noticeOfDisconnection, 0x8a))));
    s.closing = true;
    roster.delete(s);
    drop(s);
    s.socket.end(() => s.socket.destroy());
  };

  const reply = (s: Session, id: number, tag: number, code: number, matchedDN = '', diagnostic = '') => send(s, message(id, ldapResult(tag, code, matchedDN, diagnostic)));

  /** Calls the AD client; a thrown error is a bug in the lab, answered as AD answers an internal error. */
  const call = <T>(f: () => AdResult<T>): AdResult<T> => {
    try {
      return f();
    } catch (e) {
      return { ok: false, failure: { kind: 'ad.unavailable', ldapResultCode: RC.other, message: `${DIAG.internal} (${e instanceof Error ? e.message : String(e)})` } };
    }
  };

  const writeResult = (s: Session, id: number, tag: number, r: AdResult<unknown>) => {
    if (r.ok) reply(s, id, tag, RC.success);
    else {
      const f = fromFailure(r.failure);
      reply(s, id, tag, f.code, f.matchedDN, f.diagnostic);
    }
  };

  const searchEntry = (e: AdSearchEntry, typesOnly: boolean): Buffer =>
    tlv(
      OP.searchResultEntry,
      octets(e.dn),
      tlv(0x30, ...Object.entries(e.attributes).map(([name, values]) => tlv(0x30, octets(name), tlv(0x31, ...(typesOnly ? [] : values.map((v) => octets(wireValue(name, v)))))))),
    );

  /**
   * A search that gives way: the AD machine's cursor runs a slice of filter work, then the event loop
   * serves everyone else (DNS, SIP, HTTPS, other LDAP clients) before the next slice. The connection's
   * later requests wait behind it, answered in order. Past the client's timeLimit or MaxQueryDuration
   * the entries found so far are sent and the search ends with timeLimitExceeded (3), as AD ends it.
   */
  const runSearch = (s: Session, id: number, req: Extract<Decoded['request'], { op: 'search' }>) => {
    const out: AdSearchEntry[] = [];
    const limitMs = Math.min(req.timeLimit > 0 ? req.timeLimit * 1000 : Infinity, limits.maxQueryDurationMs);
    const started = performance.now();
    const pageLimit = Math.min(req.sizeLimit > 0 ? req.sizeLimit : MAX_PAGE_SIZE, MAX_PAGE_SIZE);
    const sendEntries = (entries: readonly AdSearchEntry[]) => {
      for (const e of entries.slice(0, pageLimit)) send(s, message(id, searchEntry(e, req.typesOnly)));
    };
    // The filter is decoded, compiled and evaluated in slices: no part of a huge one holds the loop.
    const cursor = (function* (): Generator<void, AdResult<AdSearchEntry[]>, void> {
      const filterTree = yield* filterTreeSteps(req.filter);
      return yield* adSearchCursor(ad(), { base: req.base, scope: req.scope, filterTree, ...(req.attributes.length ? { attributes: req.attributes } : {}), ...at }, lab.clock.now(), out, SEARCH_SLICE);
    })();
    s.busy = true;
    const done = () => {
      s.busy = false;
      pump(s);
    };
    /** One unit of the search (a slice of decoding, compiling or evaluating); true once it has answered. */
    const step = (): boolean => {
      try {
        return unit();
      } catch (e) {
        // A bug in the lab answering the search: the connection is told so and goes on (never stuck busy).
        reply(s, id, OP.searchResultDone, RC.other, '', `${DIAG.internal} (${e instanceof Error ? e.message : String(e)})`);
        done();
        return true;
      }
    };
    const unit = (): boolean => {
      // The client has gone (or the listener stops): the search ends with it.
      if (s.closing || s.socket.destroyed) {
        cursor.return(undefined as never);
        done();
        return true;
      }
      let r: IteratorResult<void, AdResult<AdSearchEntry[]>>;
      try {
        r = cursor.next();
      } catch (e) {
        // A filter that is not well-formed BER ends the connection, as any undecodable message does.
        if (e instanceof BerError) disconnect(s, `${DIAG.protocol} (${e.message})`);
        else reply(s, id, OP.searchResultDone, RC.other, '', `${DIAG.internal} (${e instanceof Error ? e.message : String(e)})`);
        done();
        return true;
      }
      if (r.done) {
        const result = r.value;
        if (!result.ok) writeResult(s, id, OP.searchResultDone, result);
        else {
          sendEntries(result.value);
          reply(s, id, OP.searchResultDone, result.value.length > pageLimit ? RC.sizeLimitExceeded : RC.success);
        }
        done();
        return true;
      }
      if (performance.now() - started > limitMs) {
        cursor.return(undefined as never);
        sendEntries(out);
        reply(s, id, OP.searchResultDone, out.length > pageLimit ? RC.sizeLimitExceeded : RC.timeLimitExceeded, '', out.length > pageLimit ? '' : DIAG.timeLimit);
        done();
        return true;
      }
      return false;
    };
    // A search that finishes in its first slice (nearly all of them) answers at once; a long one takes
    // turns with every other long piece of work (sim/wire.ts).
    const first = performance.now();
    let finished = false;
    while (!finished && performance.now() - first < SLICE_MS) finished = step();
    if (!finished) giveWay({ step });
  };

  /** Answers the connection's waiting requests in order, until one is a search that must give way. */
  const pump = (s: Session) => {
    while (!s.busy && !s.closing && s.queue.length) {
      const d = s.queue.shift() as Decoded;
      try {
        handle(s, d);
      } catch (e) {
        disconnect(s, `${DIAG.internal} (${e instanceof Error ? e.message : String(e)})`);
      }
    }
  };

  const handle = (s: Session, d: Decoded) => {
    const { messageId: id, request: req } = d;
    const responseTag = RESPONSE_TAG[req.op];
    if (responseTag !== undefined) {
      const critical = d.controls.find((c) => c.critical);
      if (critical) return reply(s, id, responseTag, RC.unavailableCriticalExtension, '', DIAG.criticalControl(critical.type));
    }
    const needsBind = (tag: number) => {
      if (s.account) return false;
      reply(s, id, tag, RC.operationsError, '', DIAG.bindRequired);
      return true;
    };
    switch (req.op) {
      case 'bind': {
        s.account = undefined;
        if (req.version !== 3 && req.version !== 2) return reply(s, id, OP.bindResponse, RC.protocolError, '', DIAG.version);
        if (req.sasl !== undefined) return reply(s, id, OP.bindResponse, RC.authMethodNotSupported, '', DIAG.saslMechanism(req.sasl));
        // Anonymous (no name) and unauthenticated (name, no password) binds succeed and stay anonymous.
        if ((req.password ?? '') === '') return reply(s, id, OP.bindResponse, RC.success);
        const r = call(() => adAuthenticate(ad(), { name: req.name, password: req.password ?? '' }));
        if (r.ok) s.account = r.value;
        return writeResult(s, id, OP.bindResponse, r);
      }
      case 'unbind':
        s.closing = true;
        s.socket.end();
        return;
      case 'abandon':
        return;
      case 'search': {
        const rootDse = req.base.trim() === '' && req.scope === 'base';
        if (!rootDse && needsBind(OP.searchResultDone)) return;
        return runSearch(s, id, req);
      }
      case 'add':
        if (needsBind(OP.addResponse)) return;
        return writeResult(s, id, OP.addResponse, call(() => adAdd(ad(), { dn: req.dn, attributes: req.attributes, ...at })));
      case 'modify':
        if (needsBind(OP.modifyResponse)) return;
        if (req.badOperation) return reply(s, id, OP.modifyResponse, RC.protocolError, '', DIAG.modifyOperation);
        return writeResult(s, id, OP.modifyResponse, call(() => adModify(ad(), { dn: req.dn, changes: req.changes, ...at })));
      case 'delete':
        if (needsBind(OP.delResponse)) return;
        return writeResult(s, id, OP.delResponse, call(() => adDelete(ad(), { dn: req.dn, ...at })));
      case 'modifyDn':
        if (needsBind(OP.modDnResponse)) return;
        return reply(s, id, OP.modDnResponse, RC.unwillingToPerform, '', DIAG.unwilling);
      case 'compare':
        if (needsBind(OP.compareResponse)) return;
        return reply(s, id, OP.compareResponse, RC.unwillingToPerform, '', DIAG.unwilling);
      case 'extended': {
        if (req.name === OID.whoAmI) {
          const authzId = s.account ? `u:${netbios}\\${s.account.sam}` : '';
          return send(s, message(id, ldapResult(OP.extendedResponse, RC.success, '', '', octets(authzId, 0x8b))));
        }
        if (req.name === OID.startTls) return send(s, message(id, ldapResult(OP.extendedResponse, RC.unavailable, '', DIAG.startTls, octets(OID.startTls, 0x8a))));
        return reply(s, id, OP.extendedResponse, RC.protocolError, '', DIAG.unknownExtended(req.name));
      }
    }
  };

  const onData = (s: Session, chunk: Buffer) => {
    if (s.closing) return;
    s.chunks.push(chunk);
    s.buffered += chunk.length;
    bufferedTotal += chunk.length;
    // A message started must arrive whole within InitRecvTimeout, however slowly its bytes come.
    s.deadline ??= setTimeout(() => disconnect(s, DIAG.slow), limits.initRecvTimeoutMs);
    while (!s.closing && s.buffered > 0) {
      // The header says how long the message is: bytes are joined only once it has all arrived.
      const head = s.chunks[0] as Buffer;
      const frame = frameLength(head.length >= 6 || s.chunks.length === 1 ? head : Buffer.concat(s.chunks, Math.min(6, s.buffered)), MAX_MESSAGE_BYTES, s.buffered);
      if (frame.kind === 'more') break;
      if (frame.kind === 'bad') return disconnect(s, `${DIAG.protocol} (${frame.reason})`);
      const all = s.chunks.length === 1 ? head : Buffer.concat(s.chunks, s.buffered);
      const bytes = all.subarray(0, frame.size);
      const rest = all.subarray(frame.size);
      bufferedTotal -= frame.size;
      s.chunks = rest.length ? [rest] : [];
      s.buffered = rest.length;
      clearTimeout(s.deadline);
      s.deadline = rest.length ? setTimeout(() => disconnect(s, DIAG.slow), limits.initRecvTimeoutMs) : undefined;
      s.started = true;
      roster.active(s);
      let decoded: Decoded;
      try {
        decoded = decodeMessage(bytes);
      } catch (e) {
        return disconnect(s, `${DIAG.protocol} (${e instanceof Error ? e.message : 'undecodable'})`);
      }
      // Answered as it is decoded: only requests behind a running search wait (and count as queued), and
      // a bad frame later in the same chunk ends the connection after the good ones are answered.
      if (s.queue.length >= limits.maxQueuedRequests) return disconnect(s, DIAG.busy, RC.busy);
      s.queue.push(decoded);
      pump(s);
    }
    // Too many bytes of unfinished messages across the listener: the connections holding more than
    // their share are no longer read (TCP's own flow control holds their bytes on the sender's side)
    // until there is room again; they still have InitRecvTimeout to finish their message. One holding
    // less than its share goes on, so a real client's request in pieces is not held behind a hostile's
    // megabyte. Dropping the hog instead would only have it send it all again.
    if (bufferedTotal > limits.maxBufferedBytes) {
      const holders = [...sessions].filter((x) => !x.closing && x.buffered > 0);
      const share = limits.maxBufferedBytes / Math.max(1, holders.length);
      for (const x of holders) {
        if (x.paused || x.buffered <= share) continue;
        x.paused = true;
        x.socket.pause();
      }
    }
    resumeSome();
  };

  /** What a connection read again may add before it is judged again: one socket read. */
  const READ_ROOM = 64 * 1024;

  /** Reads again from paused connections, smallest first, while the budget has room below three quarters. */
  const resumeSome = () => {
    if (bufferedTotal > (limits.maxBufferedBytes * 3) / 4) return;
    const paused = [...sessions].filter((x) => x.paused && !x.closing).sort((a, b) => a.buffered - b.buffered);
    let room = limits.maxBufferedBytes - bufferedTotal;
    for (const x of paused) {
      if (room < Math.min(READ_ROOM, limits.maxBufferedBytes / 4)) break;
      room -= READ_ROOM;
      x.paused = false;
      x.socket.resume();
    }
  };

  const server = net.createServer((socket) => {
    const s: Session = { socket, chunks: [], buffered: 0, closing: false, busy: false, queue: [], started: false };
    // MaxConnections: the newcomer is served and another connection is dropped, as a DC drops one past
    // the limit: one that has sent no whole request, else the longest-idle unbound one, else the
    // longest-idle (sim/wire.ts).
    if (roster.size >= limits.maxConnections) {
      const victim = roster.victim();
      if (victim) {
        roster.delete(victim);
        disconnect(victim, DIAG.tooMany, RC.busy);
      }
    }
    sessions.add(s);
    roster.add(s);
    socket.setNoDelay(true);
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    // InitRecvTimeout: a connection that never sends a whole request is closed.
    const initial = setTimeout(() => {
      if (!s.started) disconnect(s, DIAG.slow);
    }, limits.initRecvTimeoutMs);
    socket.on('data', (chunk: Buffer) => {
      try {
        onData(s, chunk);
      } catch (e) {
        // Never let one connection take the listener down: answer as a protocol failure and drop it.
        disconnect(s, `${DIAG.internal} (${e instanceof Error ? e.message : String(e)})`);
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      s.closing = true;
      clearTimeout(initial);
      drop(s);
      sessions.delete(s);
      roster.delete(s);
      resumeSome();
    });
  });
  server.on('error', () => undefined);

  await new Promise<void>((resolve, reject) => {
    const fail = (e: Error) => reject(e);
    server.once('error', fail);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', fail);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let stopped: Promise<void> | undefined;

  return {
    protocol: 'ldap',
    host,
    port,
    url: `ldap://${urlHost}:${port}`,
    connections: () => sessions.size,
    stop() {
      stopped ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await Promise.all(
          [...sessions].map(
            (s) =>
              new Promise<void>((resolve) => {
                s.closing = true;
                if (s.socket.closed) return resolve();
                s.socket.once('close', () => resolve());
                s.socket.destroy();
              }),
          ),
        );
        sessions.clear();
        await closed;
      })();
      return stopped;
    },
  };
}
