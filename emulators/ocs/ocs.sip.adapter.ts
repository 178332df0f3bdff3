/**
 * The front end's SIP listeners on the wire: TLS (the 5061 listener, presenting the front end's assigned
 * certificate), TCP (5060) and SIP over secure WebSocket (RFC 7118, subprotocol "sip"). Translation and
 * routing only: who may register is `decideRegister` (ocs.registrar.ts); this file maps bytes to SIP
 * messages with sip.js's parser and answers with sip.js's response builder.
 *
 * What a client sees:
 * - REGISTER: an unauthenticated REGISTER is challenged with 401 offering NTLM and Kerberos as OCS 2007
 *   R2 does ([MS-SIPAE] version 4; `ocs.sip.security.ts`, decision 0014): NTLM gets a CHALLENGE, then
 *   the REGISTER with the AUTHENTICATE is verified against the account's AD password and establishes the
 *   connection's security association, after which every request on it must be signed and everything
 *   sent on it is. Kerberos is not available (401, the offers again). With the `digest` lab extension the
 *   401 offers Digest (RFC 2617, realm "SIP Communications Service", the AD password as the secret, the
 *   sAMAccountName as user name) instead, for generic SIP clients. An authenticated REGISTER is then decided by `decideRegister`:
 *   200 (Contact echoed with `;expires=N`), or its 401/403/404/480/503 with its reason phrase, an
 *   `ms-diagnostics: <code>;reason="…";source="<front end>"` (the header is the product's; the codes are
 *   REGISTER_DIAGNOSTICS in ocs.registrar.ts, [U]) and a `Warning: 399 <front end> "<detail>"`. A wrong Digest response, a stale or unknown nonce, or an
 *   unknown account is 401 with a fresh challenge (`stale=true` for a nonce this server no longer holds).
 *   Expires: from the Contact's `expires` or the Expires header, default 3600, at most 3600; 0 (or
 *   `Contact: *` with Expires 0) removes the binding. A binding lives on the connection it registered on:
 *   requests for that user go back over that connection (clients have no server certificate), and the
 *   binding ends when the connection closes or the registration expires (wall clock, `setTimeout`).
 *   A user may be signed in on several endpoints at once (multiple points of presence): each endpoint
 *   (its `+sip.instance`, else its Contact) has a binding of its own; a new request to the user goes to
 *   the endpoint that registered last [U: OCS forks it to them all], a GRUU to its own endpoint; the user
 *   is offline once the last endpoint is gone.
 * - MESSAGE: the sender must have registered its From address on this connection (else 403). The target
 *   (Request-URI) must be a user homed in this deployment's RTC database (else 404 with `ms-diagnostics:
 *   4005;reason="Destination URI either not enabled for SIP or does not exist"`) and registered (else
 *   480). The request is proxied with the Request-URI set to the registered Contact, a Via of this front
 *   end on top and Max-Forwards decremented (483 at 0); the callee's responses come back to the caller by
 *   Via branch. No final response within 32 s (Timer F) gives the caller 408.
 * - A successful REGISTER's 200 also says what an OCS 2007 R2 front end supports, as the product writes it:
 *   `Allow-Events: presence,vnd-microsoft-roaming-contacts,vnd-microsoft-roaming-self,vnd-microsoft-provisioning-v2`
 *   (no spaces) and `Supported: adhoclist`, `Supported: msrtc-event-categories` on lines of their own.
 * - Presence and roaming data (SUBSCRIBE presence, roaming-contacts, roaming-self; SERVICE category
 *   publish and contact-list SOAP; PIDF PUBLISH): `ocs.sip.presence.ts`.
 * - SUBSCRIBE with `Event: vnd-microsoft-provisioning-v2` (in-band provisioning, [MS-SIPREGE] 2.2.2): the
 *   subscriber must have registered its From address on this connection (else 403) and ask for itself
 *   (To = From; delegation is not modelled: 403); `Accept` must list
 *   `application/vnd-microsoft-roaming-provisioning-v2+xml` (else 406, as the spec's SHOULD); a body other
 *   than that type is 415, an unreadable `provisioningGroupList` 400, a user no longer homed 404. The
 *   answer is one plain XML `provisionGroupList` document (ocs.provisioning.ts: ServerConfiguration with
 *   the Address Book / group expansion URLs of the home pool's web farms, meetingPolicy, ucPolicy — the
 *   requested ones). The subscription makes no dialog: 200 with `Expires: 0`,
 *   `Event: vnd-microsoft-provisioning-v2` and `subscription-state: terminated;expires=0`; with
 *   `Supported: ms-piggyback-first-notify` (Communicator, sipe) the document rides in that 200 with
 *   `ms-piggyback-cseq: 1` (the spec's 4.2.2 example), otherwise it follows in a NOTIFY over the same
 *   connection to the request's Contact. `Event: vnd-microsoft-provisioning` (the OCS 2005 package, still
 *   in a real R2 REGISTER's Allow-Events) is not modelled: 489.
 * - INVITE (an IM session: SDP `m=message … sip null`) from a registered user to a homed, registered
 *   one is proxied as MESSAGE is, with this front end in the Record-Route; the ACK, the MESSAGEs and INFOs
 *   within the dialog and its BYE come back to it addressed to the peer's Contact and go out on the
 *   connection that Contact registered on (481 when none does; an ACK is forwarded without an answer).
 *   A REGISTER whose Contact names its `+sip.instance` with `Supported: gruu-10` gets a GRUU in the 200's
 *   Contact (`;gruu="sip:user@domain;opaque=user:epid:<instance>;gruu"`, as OCS gives it); a request sent
 *   to it goes to that user's registration.
 * - OPTIONS: 200 with Allow/Accept/Allow-Events. Any other method: 501 with Allow.
 * - Framing over TLS/TCP by Content-Length (RFC 3261 §18.3); a message above `maxMessageBytes` (64 KiB),
 *   or a header section that never ends within that size, closes the connection. A CRLFCRLF keep-alive
 *   is answered with CRLF (RFC 5626 §4.4.1). A request that sip.js cannot parse, or that lacks Via,
 *   From, To, Call-ID or CSeq, gets 400 when its Via/From/To/Call-ID/CSeq lines can be copied into a
 *   response, otherwise the connection is closed; anything that is not SIP closes the connection. Over
 *   WSS every frame is one message (RFC 7118 §5).
 * - The listeners exist only while the front end's Front-End service (RtcSrv) is Running:
 *   `startSipFrontEnd` rejects if it is not, and closes every listener and connection when it stops.
 * - A certificate the Certificate Wizard assigns while the listeners run is presented on the next TLS
 *   connection (the real service may want a restart [U]). Stream sockets run without Nagle's delay.
 */
import { createHash } from 'node:crypto';
import { authorizationOf, SecurityAssociations, SIP_REALM, type Association, type PendingChallenge } from './ocs.sip.security.js';
import { authParams } from './sip.ntlm.js';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { Core } from 'sip.js';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Lab } from '../../sim/lab.js';
import { ConnectionRoster, type Listening } from '../../sim/wire.js';
import { keyById } from '../ca/keyring.js';
import { hostCertificates, hostService } from '../host/host.client.js';
import { ocsStore } from './ocs.client.js';
import { buildProvisioning, PROVISIONING_CONTENT_TYPE, PROVISIONING_EVENT, requestedProvisionGroups, type ProvisioningFailure } from './ocs.provisioning.js';
import { decideRegister, normalizeSipUri, REGISTER_DIAGNOSTICS } from './ocs.registrar.js';
import { FRONT_END_SERVICE, findPool, findServer, homedUserBySip } from './ocs.store.js';
import { installGrammarCache } from './sip.grammar.js';
import { readContactList } from './ocs.contacts.js';
import { ocsChangeContactList } from './ocs.client.js';
import { adAccountPassword, adFindUser } from '../ad/ad.client.js';
import { ROAMING_CONTACTS_EVENT, ROAMING_SELF_EVENT } from './ocs.presence.js';
import { clearPresenceState, headerTokens, MAX_EXPIRES, newPresenceState, presence, type PresenceState } from './ocs.sip.presence.js';
import { sqlRead } from '../sql/sql.client.js';
import { sqlId } from '../sql/sql.events.js';

export interface SipListenOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (the default) picks a free port. */
  tlsPort?: number;
  tcpPort?: number;
  wssPort?: number;
  /** The front end (short name or FQDN); default the first front end of the first pool. */
  frontEnd?: string;
  /** Largest SIP message accepted; default 64 KiB. */
  maxMessageBytes?: number;
  /** How long a started message (or a fresh connection's first) may take to arrive whole; default STREAM_MESSAGE_TIMEOUT_MS. */
  messageTimeoutMs?: number;
  /** Stream connections per listener; default MAX_STREAM_CONNECTIONS. */
  maxConnections?: number;
  /** Called with any exception caught while handling input (a bug; the connection survives). */
  onError?: (error: unknown) => void;
  /**
   * Offer Digest (RFC 2617) with the account's AD password instead of NTLM and Kerberos: a lab extension
   * for generic SIP clients (baresip, sip.js), which speak no NTLM. Off by default: OCS offers NTLM and
   * Kerberos only. NTLM that a client starts unasked is still answered. A used nonce is retired.
   */
  digest?: boolean;
  /** How long an NTLM security association lasts (default 8 hours, `ASSOCIATION_LIFETIME_MS`). */
  ntlmLifetimeMs?: number;
}

export interface SipListening extends Listening {
  tls: { host: string; port: number };
  tcp: { host: string; port: number };
  /** `wss://host:port` */
  wss: string;
  /** Registered addresses of record (`sip:user@domain`), sorted. */
  registrations(): string[];
  stop(): Promise<void>;
}

export { SIP_REALM };
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;
const NONCE_LIFETIME_MS = 5 * 60_000;
const TIMER_F_MS = 32_000;
/** The requests within an IM session that this front end routes by the peer's Contact. */
const IN_DIALOG = new Set(['INVITE', 'ACK', 'BYE', 'MESSAGE', 'INFO', 'UPDATE', 'CANCEL']);
const ALLOW = 'Allow: REGISTER, INVITE, ACK, BYE, INFO, MESSAGE, OPTIONS, SUBSCRIBE, PUBLISH, NOTIFY, SERVICE';
/**
 * The event packages this front end serves, written as OCS 2007 R2 writes them: one header, no space after
 * the commas (pidgin-sipe splits the value at commas and does not trim).
 */
const ALLOW_EVENTS = `Allow-Events: presence,${ROAMING_CONTACTS_EVENT},${ROAMING_SELF_EVENT},${PROVISIONING_EVENT}`;
/**
 * A successful REGISTER's extensions, each on a header of its own as the product sends them: `adhoclist`
 * (batched presence subscriptions) and `msrtc-event-categories` (enhanced presence), which tell an OCS
 * 2007 client that it talks to a 2007 server, not a 2005 one.
 */
const REGISTER_SUPPORTED = ['Supported: adhoclist', 'Supported: msrtc-event-categories'];
/** Provisioning failures on the wire [U: the real front end's codes for these are not documented]. */
const PROVISIONING_STATUS: Record<ProvisioningFailure['kind'], number> = { 'ocs.userNotHomed': 404, 'ocs.badProvisioningRequest': 400 };
const REQUIRED_HEADERS = ['via', 'from', 'to', 'call-id', 'cseq'] as const;

type Transport = 'TLS' | 'TCP' | 'WSS';

interface Connection {
  id: number;
  transport: Transport;
  send(raw: string): void;
  close(): void;
  closed: boolean;
  /** AORs registered (authenticated) over this connection. */
  aors: Set<string>;
  /**
   * The NTLM security association established on this connection: its requests are verified, and what
   * is sent on it signed. Once set, it is only ever replaced by a new one: the connection never goes back
   * to unsigned.
   */
  sa?: Association;
  /** The CHALLENGE this connection was sent and has not answered yet (one at a time). */
  challenge?: PendingChallenge;
}

interface Binding {
  aor: string;
  /** Which endpoint of the user: its `+sip.instance`, else its Contact's key. */
  endpoint: string;
  /** Registration order in the pool: the newest endpoint takes new sessions. */
  order: number;
  conn: Connection;
  contact: string;
  contactUri: string;
  /** `user@host:port` of the Contact, lower-case: how an in-dialog request's Request-URI finds it. */
  contactKey: string;
  expiresAt: number;
  timer: NodeJS.Timeout;
}

/** The key of a SIP URI that names an endpoint: `user@host:port`, lower-case. */
const contactKeyOf = (u: { user?: string | undefined; host?: string; port?: number | undefined }) => `${u.user ?? ''}@${u.host ?? ''}:${u.port ?? ''}`.toLowerCase();

interface Pending {
  caller: Connection;
  /** The connection the request was forwarded on. */
  callee: Connection;
  timer: NodeJS.Timeout;
  request: Core.IncomingRequestMessage;
  /** The Request-URI and branch it was forwarded with (an INVITE's non-2xx is ACKed with them). */
  forwarded: { ruri: string; branch: string };
}

/** The diagnostic a request to an address no user has gets (code and text as OCS/Lync send them [B]). */
const NOT_ENABLED_DIAGNOSTIC = (source: string) => `ms-diagnostics: 4005;reason="Destination URI either not enabled for SIP or does not exist";source="${source}"`;

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

installGrammarCache();

const loggerFactory = new Core.LoggerFactory();
loggerFactory.builtinEnabled = false;
const parserLogger = loggerFactory.getLogger('ocs.sip.parser');

/** Parses one framed message; undefined when sip.js cannot read it (it may also throw: caught here). */
export function parseSip(raw: string): Core.IncomingRequestMessage | Core.IncomingResponseMessage | undefined {
  try {
    return Core.Parser.parseMessage(raw, parserLogger);
  } catch {
    return undefined;
  }
}

/** Splits a Digest header value into its parameters (quoted or token values). */
export function digestParams(value: string): Map<string, string> {
  // One linear pass (sip.ntlm.ts): a regex scan of a long run of name characters was quadratic.
  return authParams(/^\s*Digest\s/i.test(value) ? value : `Digest ${value}`);
}

/** The framing result for a stream buffer: a whole message, more bytes needed, or a framing error. */
export type Frame = { kind: 'message'; size: number } | { kind: 'keepalive'; size: number } | { kind: 'more' } | { kind: 'bad'; reason: string };

export function frameSip(buf: Buffer, max: number): Frame {
  if (buf.length >= 4 && buf[0] === 0x0d && buf[1] === 0x0a && buf[2] === 0x0d && buf[3] === 0x0a) return { kind: 'keepalive', size: 4 };
  let start = 0;
  while (start + 1 < buf.length && buf[start] === 0x0d && buf[start + 1] === 0x0a) start += 2;
  if (start > 0) return { kind: 'keepalive', size: start };
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return buf.length > max ? { kind: 'bad', reason: 'header section too large' } : { kind: 'more' };
  const head = buf.subarray(0, end).toString('latin1');
  const cl = /^(?:content-length|l)[ \t]*:[ \t]*(.*)$/im.exec(head);
  let length = 0;
  if (cl) {
    const v = (cl[1] ?? '').trim();
    if (!/^\d{1,9}$/.test(v)) return { kind: 'bad', reason: 'bad Content-Length' };
    length = Number(v);
  }
  const size = end + 4 + length;
  if (size > max) return { kind: 'bad', reason: 'message too large' };
  return buf.length >= size ? { kind: 'message', size } : { kind: 'more' };
}

/** A 400 built from the raw header lines of a request sip.js could not parse; undefined if they are missing. */
function rawBadRequest(raw: string, reason: string, token: (bytes: number) => string): string | undefined {
  const head = raw.split('\r\n\r\n')[0] ?? '';
  const [startLine = '', ...lines] = head.split('\r\n');
  if (!/^[A-Za-z]+ \S+ SIP\/2\.0$/.test(startLine)) return undefined;
  const pick = (names: string[]) => lines.filter((l) => names.includes((l.split(':')[0] ?? '').trim().toLowerCase()));
  const via = pick(['via', 'v']);
  const from = pick(['from', 'f']);
  const to = pick(['to', 't']);
  const callId = pick(['call-id', 'i']);
  const cseq = pick(['cseq']);
  if (!via.length || from.length !== 1 || to.length !== 1 || callId.length !== 1 || cseq.length !== 1) return undefined;
  const toLine = /;\s*tag=/i.test(to[0] ?? '') ? (to[0] as string) : `${to[0] as string};tag=${token(4)}`;
  const safe = reason.replace(/[\r\n"]/g, ' ');
  return ['SIP/2.0 400 Bad Request', ...via, from[0], toLine, callId[0], cseq[0], `Warning: 399 - "${safe}"`, 'Content-Length: 0', '', ''].join('\r\n');
}

/** Adds or replaces the `expires` parameter of one Contact header value. */
function withExpires(contact: string, expires: number): string {
  const stripped = contact.replace(/;\s*expires\s*=\s*\d+/i, '');
  return `${stripped};expires=${expires}`;
}

/** 65 minutes: longer than the longest registration (3600 s). */
const STREAM_IDLE_MS = 65 * 60_000;
/**
 * A message (or CRLF keep-alive) must arrive whole within this of the connection or of its first byte:
 * a client that sends half a request and waits is closed (Kamailio's tcp_msg_data_timeout is 20 s; OCS
 * publishes none), however slowly the bytes come. Tests lower it.
 */
export const STREAM_MESSAGE_TIMEOUT_MS = 20_000;
/** Connections one listener keeps (a 2007 R2 front end is sized for about 15,000 users); past it the one that has sent least goes. */
export const MAX_STREAM_CONNECTIONS = 20_000;

function listen(server: TcpServer | TlsServer | HttpsServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    });
  });
}

/**
 * Starts the front end's SIP listeners. Rejects when the front end is unknown, has no assigned
 * certificate, or its Front-End service (RtcSrv) is not Running.
 */
/** The registrar state the front ends of one pool share; cleared with the lab. */
interface PoolRegistrar {
  /** Each user's signed-in endpoints (multiple points of presence), by endpoint. */
  bindings: Map<string, Map<string, Binding>>;
  /** The binding each contact key belongs to. */
  byContact: Map<string, Binding>;
  /** The registration order counter. */
  registered: { count: number };
  pending: Map<string, Pending>;
  presence: PresenceState;
}

/** How many times each front end's listeners were started in a lab (the security ids stream of each start). */
const starts = new WeakMap<Lab, Map<string, number>>();
function nextStart(lab: Lab, fqdn: string): number {
  const byFe = starts.get(lab) ?? new Map<string, number>();
  starts.set(lab, byFe);
  const n = byFe.get(fqdn.toLowerCase()) ?? 0;
  byFe.set(fqdn.toLowerCase(), n + 1);
  return n;
}

function poolRegistrar(lab: Lab, pool: string): PoolRegistrar {
  return lab.resource(`sip-registrar:${pool.toLowerCase()}`, () => {
    const r: PoolRegistrar = { bindings: new Map(), byContact: new Map(), registered: { count: 0 }, pending: new Map(), presence: newPresenceState() };
    const close = async () => {
      for (const p of r.pending.values()) clearTimeout(p.timer);
      for (const user of r.bindings.values()) for (const b of user.values()) clearTimeout(b.timer);
      r.pending.clear();
      r.bindings.clear();
      r.byContact.clear();
      clearPresenceState(r.presence);
    };
    return { value: r, close };
  });
}

export async function startSipFrontEnd(lab: Lab, options: SipListenOptions = {}): Promise<SipListening> {
  const bindHost = options.host ?? '127.0.0.1';
  const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const onError = options.onError ?? (() => undefined);
  const system = { get: (id: string) => lab.get(id) };
  const store = ocsStore(lab.get('ocs'));
  const feName = options.frontEnd ?? lab.topology.pools[0]?.frontEnds[0] ?? '';
  const server = findServer(store, feName);
  if (!server) throw new Error(`startSipFrontEnd: ${feName} is not a front end of this deployment`);
  const hostRef = lab.get(`host:${server.host.toLowerCase()}`);
  const rtcRunning = () => hostService(hostRef, FRONT_END_SERVICE)?.state === 'Running';
  if (!rtcRunning()) throw new Error(`startSipFrontEnd: the ${FRONT_END_SERVICE} service on ${server.fqdn} is not running`);
  const assigned = server.certificate;
  const cert = assigned && hostCertificates(hostRef).find((c) => c.thumbprint === assigned.thumbprint);
  if (!cert) throw new Error(`startSipFrontEnd: ${server.fqdn} has no certificate assigned (run the Certificate Wizard)`);
  const tlsOptions = { key: keyById(cert.keyId).privateKeyPem, cert: cert.certPem };
  const viaHost = server.fqdn;

  // Registrations, presence and requests in flight belong to the pool, not to one front end: every front
  // end of a pool reaches a user signed in through another, as the pool's back end (RTCDyn) lets them.
  const { bindings, byContact, registered, pending, presence: presenceState } = poolRegistrar(lab, server.pool);
  const nonces = new Map<string, number>();
  // Tags, branches and nonces from the lab's seeded generator: a stream of its own for each start of the
  // listeners (a restarted front end does not hand out the tags it gave before).
  const start = nextStart(lab, server.fqdn);
  const tagIds = lab.ids.fork(`sip-tokens:${server.fqdn.toLowerCase()}:${start}`);
  const token = (bytes = 8): string => tagIds.token(bytes);
  const digestOffered = options.digest === true;
  const forest = lab.topology.forest;
  const security = new SecurityAssociations({
    targetname: server.fqdn,
    target: { nbDomain: forest.netbios, nbComputer: server.host.toUpperCase(), dnsDomain: forest.fqdn, dnsComputer: server.fqdn, dnsTree: forest.fqdn },
    // A stream of its own for each start of the listeners: a restarted front end issues new challenges.
    ids: lab.ids.fork(`sip-security:${server.fqdn.toLowerCase()}:${start}`),
    now: () => Date.now(),
    ...(options.ntlmLifetimeMs !== undefined ? { lifetimeMs: options.ntlmLifetimeMs } : {}),
    // The NTLM domain is the forest's NetBIOS or DNS name (or none, with a UPN as the user name).
    password: (user, domain) => (domain === '' || [forest.netbios, forest.fqdn].some((d) => d.toLowerCase() === domain.toLowerCase()) ? accountSecret(user) : undefined),
  });
  const connections = new Set<Connection>();
  let nextConnId = 1;
  let stopped = false;

  const homed = (aor: string): boolean => homedUserBySip(ocsStore(lab.get('ocs')), aor) !== undefined;

  const aorOf = (uri: { user?: string; host?: string } | undefined): string | undefined =>
    uri?.user && uri.host ? normalizeSipUri(`${uri.user}@${uri.host}`) : undefined;

  // ---- responses -------------------------------------------------------------------------------

  const respond = (
    conn: Pick<Connection, 'send'>,
    req: Core.IncomingRequestMessage,
    statusCode: number,
    extra: { reason?: string; headers?: string[]; toTag?: string; body?: { contentType: string; content: string } } = {},
  ) => {
    const r = Core.constructOutgoingResponse(req, {
      statusCode,
      ...(extra.reason ? { reasonPhrase: extra.reason } : {}),
      toTag: extra.toTag ?? req.toTag ?? token(4),
      extraHeaders: ['Server: RTC/3.5', ...(extra.headers ?? [])],
      ...(extra.body ? { body: { contentDisposition: 'render', ...extra.body } } : {}),
    });
    conn.send(r.message);
  };

  const warning = (detail: string) => `Warning: 399 ${viaHost} "${detail.replace(/[\r\n"\\]/g, ' ')}"`;

  const challenge = (stale = false): string => {
    const now = Date.now();
    // Oldest first (a Map keeps insertion order): only the expired ones are looked at.
    for (const [n, at] of nonces) {
      if (now - at <= NONCE_LIFETIME_MS) break;
      nonces.delete(n);
    }
    const nonce = token(16);
    nonces.set(nonce, now);
    return `WWW-Authenticate: Digest realm="${SIP_REALM}", nonce="${nonce}", opaque="${token(4)}", qop="auth", algorithm=MD5${stale ? ', stale=true' : ''}`;
  };

  /**
   * What a 401 offers a client that has to authenticate: NTLM and Kerberos, as OCS does; with the Digest
   * extension on, Digest alone (generic clients such as baresip refuse a 401 with any challenge they
   * cannot read). A client that starts NTLM unasked is still answered with NTLM.
   */
  const offers = (): string[] => (digestOffered ? [challenge()] : security.offers());

  // ---- registrar -------------------------------------------------------------------------------

  /** The user's signed-in endpoints. */
  const endpointsOf = (aor: string): Binding[] => [...(bindings.get(aor)?.values() ?? [])];
  /** The endpoint that takes a new session: the one that registered last [U: OCS forks to them all]. */
  const newest = (aor: string): Binding | undefined => endpointsOf(aor).reduce<Binding | undefined>((best, b) => (b.conn.closed || (best && best.order > b.order) ? best : b), undefined);

  /** Runs work that comes from a timer or a socket event, outside any request: a bug there is reported, and the process goes on. */
  const guarded = (work: () => void): void => {
    try {
      work();
    } catch (error) {
      onError(error);
    }
  };

  /** One endpoint signs out: its binding goes, and what it published with it. */
  const dropEndpoint = (b: Binding) => {
    const user = bindings.get(b.aor);
    if (user?.get(b.endpoint) !== b) return;
    clearTimeout(b.timer);
    user.delete(b.endpoint);
    if (user.size === 0) bindings.delete(b.aor);
    if (byContact.get(b.contactKey) === b) byContact.delete(b.contactKey);
    const connGone = !endpointsOf(b.aor).some((x) => x.conn === b.conn);
    if (connGone) b.conn.aors.delete(b.aor);
    // Another of the user's endpoints with the same contact key routes by it again.
    if (!byContact.has(b.contactKey)) {
      const other = endpointsOf(b.aor).find((x) => x.contactKey === b.contactKey);
      if (other) byContact.set(b.contactKey, other);
    }
    // What the endpoint published goes with it; when it was the last one, watchers see the user offline.
    pres.signedOut(b.aor, b.endpoint, !bindings.has(b.aor), connGone ? b.conn : undefined);
  };

  /** Every endpoint of the user (Contact: *), or those registered over one connection. */
  const dropBinding = (aor: string, conn?: Connection) => {
    for (const b of endpointsOf(aor)) if (!conn || b.conn === conn) dropEndpoint(b);
  };

  /** The account's password, by Digest username (`sam`, `CORP\sam` or `sam@domain`). */
  const accountSecret = (username: string): { sam: string; password: string } | undefined => {
    const sam = username.replace(/^[^\\]*\\/, '').replace(/@.*$/, '');
    const password = sam ? adAccountPassword(lab.get('ad'), sam) : undefined;
    return password === undefined ? undefined : { sam, password };
  };

  const onRegister = (conn: Connection, req: Core.IncomingRequestMessage) => {
    const aor = aorOf(req.to?.uri);
    if (!aor) return respond(conn, req, 400, { headers: [warning('To has no user@host')] });
    const header = req.getHeader('authorization') ?? req.getHeader('proxy-authorization');
    const auth = authorizationOf(header);
    if (auth?.scheme === 'NTLM') return onNtlmRegister(conn, req, aor, auth.params);
    // A connection with an NTLM association authenticates with it, or with a new one: nothing else.
    if (conn.sa) return respond(conn, req, 401, { headers: [...security.offers(), warning('this connection authenticates with NTLM')] });
    if (!auth || auth.scheme !== 'DIGEST' || !digestOffered) {
      // Kerberos is offered, as OCS offers it, but the lab has no KDC: a client that tries it is offered
      // the schemes again and goes on with NTLM (decision 0014).
      const tried = auth && auth.scheme !== 'DIGEST' ? [warning(`${auth.scheme} authentication is not available on this lab front end; use NTLM`)] : [];
      return respond(conn, req, 401, { headers: [...offers(), ...tried] });
    }
    const p = digestParams(header ?? '');
    const nonce = p.get('nonce') ?? '';
    const issued = nonces.get(nonce);
    if (issued === undefined || Date.now() - issued > NONCE_LIFETIME_MS) return respond(conn, req, 401, { headers: [challenge(true)] });
    const username = p.get('username') ?? '';
    const secret = accountSecret(username);
    if (!secret || (p.get('realm') ?? '') !== SIP_REALM) return respond(conn, req, 401, { headers: [challenge(), warning(`authentication of ${username} failed`)] });
    const ha1 = md5(`${username}:${SIP_REALM}:${secret.password}`);
    const ha2 = md5(`REGISTER:${p.get('uri') ?? ''}`);
    const qop = p.get('qop');
    const expected = qop
      ? md5(`${ha1}:${nonce}:${p.get('nc') ?? ''}:${p.get('cnonce') ?? ''}:${qop}:${ha2}`)
      : md5(`${ha1}:${nonce}:${ha2}`);
    if (expected !== (p.get('response') ?? '').toLowerCase()) return respond(conn, req, 401, { headers: [challenge(), warning(`authentication of ${username} failed`)] });
    // A nonce answers one request: the same Authorization again (a replay, from this connection or
    // another) meets a nonce this server no longer holds.
    nonces.delete(nonce);

    register(conn, req, aor, secret);
  };

  /**
   * REGISTER with `Authorization: NTLM`: an empty `gssapi-data` gets a CHALLENGE; an AUTHENTICATE
   * establishes the connection's association (a wrong password is 401 with the schemes again, which
   * Communicator reports as failed credentials); a signed REGISTER (a refresh) is verified against it.
   */
  const onNtlmRegister = (conn: Connection, req: Core.IncomingRequestMessage, aor: string, params: Map<string, string>) => {
    const gssapi = params.get('gssapi-data');
    if (gssapi === '') {
      const c = security.challenge();
      conn.challenge = c.pending;
      return respond(conn, req, 401, { headers: [c.header] });
    }
    if (gssapi !== undefined) {
      const pendingChallenge = conn.challenge;
      conn.challenge = undefined;
      const done = security.complete(req.data, params, pendingChallenge);
      if (!done.ok) return respond(conn, req, 401, { headers: [...security.offers(), warning(`NTLM authentication${done.user ? ` of ${done.user}` : ''} failed: ${done.why}`)] });
      // Another account on this connection: what the previous one registered here goes with its association.
      if (conn.sa && security.accountOf(conn.sa)?.sam.toLowerCase() !== done.account.sam.toLowerCase()) for (const a of [...conn.aors]) dropBinding(a, conn);
      conn.sa = done.association;
      return register(conn, req, aor, done.account);
    }
    const sa = conn.sa;
    // No association here, or a signature that is not its own (or an expired association): authenticate
    // again from the start. The association stays until a new one replaces it.
    if (!sa || !security.verifies(sa, req.data, params)) return respond(conn, req, 401, { headers: security.offers() });
    const account = security.accountOf(sa);
    if (!account) return respond(conn, req, 401, { headers: offers() });
    register(conn, req, aor, account);
  };

  /** An authenticated REGISTER: what the registrar decides, then the binding. */
  const register = (conn: Connection, req: Core.IncomingRequestMessage, aor: string, secret: { sam: string; password: string }) => {
    const outcome = decideRegister(system, { uri: aor, account: secret.sam, password: secret.password, frontEnd: server.fqdn, now: lab.clock.now() });
    if (outcome.status !== 200) {
      const diag = REGISTER_DIAGNOSTICS[outcome.cause];
      const diagnostics = `ms-diagnostics: ${diag.code};reason="${diag.reason}";source="${viaHost}"`;
      return respond(conn, req, outcome.status, { reason: outcome.reason, headers: [...(outcome.status === 401 ? offers() : []), diagnostics, warning(outcome.detail)] });
    }
    const contacts = req.getHeaders('contact');
    const expiresHeader = req.getHeader('expires');
    const headerExpires = expiresHeader !== undefined && /^\d+$/.test(expiresHeader.trim()) ? Number(expiresHeader.trim()) : undefined;
    if (contacts.length === 0) {
      const now = Date.now();
      return respond(conn, req, 200, { headers: endpointsOf(aor).map((b) => `Contact: ${withExpires(b.contact, Math.max(0, Math.round((b.expiresAt - now) / 1000)))}`) });
    }
    if (contacts.some((c) => c.trim() === '*')) {
      dropBinding(aor);
      return respond(conn, req, 200);
    }
    const contact = contacts[0] as string;
    let contactUri: string;
    let contactKey: string;
    let paramExpires: number | undefined;
    try {
      const parsed = req.parseHeader('contact', 0) as { uri: Core.URI; getParam(n: string): string | undefined } | undefined;
      if (!parsed) throw new Error('no contact');
      contactUri = parsed.uri.toString();
      contactKey = contactKeyOf(parsed.uri);
      const e = parsed.getParam('expires');
      paramExpires = e !== undefined && /^\d+$/.test(e) ? Number(e) : undefined;
    } catch {
      return respond(conn, req, 400, { headers: [warning('unreadable Contact')] });
    }
    const expires = Math.min(paramExpires ?? headerExpires ?? MAX_EXPIRES, MAX_EXPIRES);
    // The endpoint: the instance the client names (the same on every connection it opens), else its Contact.
    const instance = /\+sip\.instance="<urn:uuid:([0-9a-f-]+)>"/i.exec(contact)?.[1]?.toLowerCase();
    const endpoint = instance ?? contactKey;
    const previous = bindings.get(aor)?.get(endpoint);
    if (expires === 0) {
      if (previous) dropEndpoint(previous);
      return respond(conn, req, 200);
    }
    const first = !bindings.has(aor);
    if (previous) {
      clearTimeout(previous.timer);
      if (byContact.get(previous.contactKey) === previous) byContact.delete(previous.contactKey);
    }
    const user = bindings.get(aor) ?? new Map<string, Binding>();
    bindings.set(aor, user);
    const binding: Binding = { aor, endpoint, order: previous?.order ?? ++registered.count, conn, contact, contactUri, contactKey, expiresAt: Date.now() + expires * 1000, timer: setTimeout(() => guarded(() => dropEndpoint(binding)), expires * 1000) };
    binding.timer.unref();
    user.set(endpoint, binding);
    byContact.set(contactKey, binding);
    if (previous && previous.conn !== conn && !endpointsOf(aor).some((x) => x.conn === previous.conn)) previous.conn.aors.delete(aor);
    conn.aors.add(aor);
    // An endpoint that names its instance and supports GRUU gets one (as OCS gives it, [MS-SIPRE]): it is
    // the Contact the client puts in its dialogs, and this front end routes it to the registration.
    const gruu = instance && /\bgruu-10\b/i.test(req.getHeaders('supported').join(',')) ? `;gruu="${aor};opaque=user:epid:${instance};gruu"` : '';
    respond(conn, req, 200, { headers: [`Contact: ${withExpires(contact, expires)}${gruu}`, `Expires: ${expires}`, ALLOW_EVENTS, ...REGISTER_SUPPORTED] });
    if (first) pres.notifyWatchers(aor);
  };

  // ---- proxying --------------------------------------------------------------------------------

  const senderAllowed = (conn: Pick<Connection, 'aors'>, req: Core.IncomingRequestMessage): string | undefined => {
    const from = aorOf(req.from?.uri);
    return from && conn.aors.has(from) ? from : undefined;
  };

  /** The binding whose contact a Request-URI names (an in-dialog request, sent to the peer's Contact). */
  const bindingByContact = (ruri: Core.URI | undefined): Binding | undefined => {
    if (!ruri) return undefined;
    // A GRUU this front end gave (`sip:user@domain;opaque=user:epid:…;gruu`): the user's registration.
    if (ruri.hasParam('gruu')) {
      const aor = aorOf(ruri);
      const instance = /^user:epid:([0-9a-f-]+)$/i.exec(ruri.getParam('opaque') ?? '')?.[1]?.toLowerCase();
      // The endpoint the GRUU names, and only that one: gone, the request has nowhere to go.
      if (!aor) return undefined;
      return instance ? bindings.get(aor)?.get(instance) : newest(aor);
    }
    return byContact.get(contactKeyOf(ruri));
  };

  /**
   * INVITE for an IM session ([MS-SIPRE]: SDP `m=message … sip null`) from a registered user to a homed
   * one, proxied to the callee's registration with this front end in the Record-Route, so that the ACK,
   * the MESSAGEs within the dialog and its BYE come back through it.
   */
  const onInvite = (conn: Connection, req: Core.IncomingRequestMessage) => toUser(conn, req, { recordRoute: true });

  /**
   * A request within a dialog this front end record-routed: sent to the peer's Contact, it goes out on
   * the connection that contact registered on. An ACK gets no answer; anything else unknown is 481.
   */
  const onInDialog = (conn: Connection, req: Core.IncomingRequestMessage, b = bindingByContact(req.ruri)): boolean => {
    if (conn.aors.size === 0) {
      if (req.method !== 'ACK') respond(conn, req, 403, { headers: [warning('the sender is not registered on this connection')] });
      return true;
    }
    if (!b || b.conn.closed) {
      if (req.method !== 'ACK') respond(conn, req, 481, { headers: [warning('no such dialog on this front end')] });
      return true;
    }
    proxy(conn, req, b, { recordRoute: req.method === 'INVITE', stateless: req.method === 'ACK' });
    return true;
  };

  const proxy = (conn: Connection, req: Core.IncomingRequestMessage, target: Binding, o: { recordRoute?: boolean; stateless?: boolean } = {}) => {
    const mf = req.getHeader('max-forwards');
    const hops = mf !== undefined && /^\d+$/.test(mf.trim()) ? Number(mf.trim()) : 70;
    if (hops <= 0) return respond(conn, req, 483);
    const branch = `z9hG4bK${token(8)}`;
    const split = req.data.indexOf('\r\n\r\n');
    const head = req.data.slice(0, split < 0 ? req.data.length : split);
    const body = split < 0 ? '' : req.data.slice(split + 4);
    const lines = head.split('\r\n').slice(1);
    let sawMf = false;
    // The caller's credentials (and any signature of its association) are for this front end, not the
    // callee: a proxy consumes them ([MS-SIPAE]; RFC 3261 §22.3).
    // This front end's own Route entry (the dialog's route set names it) is consumed here too.
    const ours = (l: string) => /^route\s*:/i.test(l) && l.toLowerCase().includes(viaHost.toLowerCase());
    const kept = lines.filter((l) => !/^(proxy-)?authorization\s*:/i.test(l) && !ours(l)).map((l) => {
      if (/^max-forwards\s*:/i.test(l)) {
        sawMf = true;
        return `Max-Forwards: ${hops - 1}`;
      }
      return l;
    });
    const out = [
      `${req.method} ${target.contactUri} SIP/2.0`,
      `Via: SIP/2.0/${target.conn.transport === 'WSS' ? 'WSS' : target.conn.transport} ${viaHost};branch=${branch}`,
      ...(sawMf ? [] : [`Max-Forwards: ${hops - 1}`]),
      ...(o.recordRoute ? [`Record-Route: <sip:${viaHost};transport=${conn.transport === 'WSS' ? 'wss' : conn.transport.toLowerCase()};lr>`] : []),
      ...kept,
      '',
      body,
    ].join('\r\n');
    if (o.stateless) {
      target.conn.send(out);
      return;
    }
    const timer = setTimeout(() => {
      const p = pending.get(branch);
      if (!p) return;
      pending.delete(branch);
      if (!p.caller.closed) respond(p.caller, p.request, 408);
    }, TIMER_F_MS);
    timer.unref();
    pending.set(branch, { caller: conn, callee: target.conn, timer, request: req, forwarded: { ruri: target.contactUri, branch } });
    target.conn.send(out);
  };

  const onResponse = (res: Core.IncomingResponseMessage) => {
    const top = res.getHeader('via') ?? '';
    const branch = /;\s*branch=([^;,\s]+)/i.exec(top)?.[1] ?? '';
    const p = pending.get(branch);
    if (!p) {
      pres.notifyAnswered(branch, res.statusCode ?? 0);
      return; // strays end here
    }
    if ((res.statusCode ?? 0) >= 200) {
      clearTimeout(p.timer);
      pending.delete(branch);
    }
    // An INVITE's failure is ACKed hop by hop (RFC 3261 §17.1.1.3): the front end ACKs the callee; the
    // caller's ACK for it ends here.
    if ((res.statusCode ?? 0) >= 300 && p.request.method === 'INVITE' && !p.callee.closed) {
      p.callee.send(
        [
          `ACK ${p.forwarded.ruri} SIP/2.0`,
          `Via: SIP/2.0/${p.callee.transport} ${viaHost};branch=${p.forwarded.branch}`,
          'Max-Forwards: 70',
          `From: ${p.request.getHeader('from') ?? ''}`,
          `To: ${res.getHeader('to') ?? ''}`,
          `Call-ID: ${p.request.callId}`,
          `CSeq: ${p.request.cseq} ACK`,
          'Content-Length: 0',
          '',
          '',
        ].join('\r\n'),
      );
    }
    if (p.caller.closed) return;
    // Remove our Via: the first Via header line, or the first value of a comma-joined line.
    const lines = res.data.split('\r\n');
    const i = lines.findIndex((l, n) => n > 0 && /^(via|v)\s*:/i.test(l));
    if (i < 0) return;
    const line = lines[i] as string;
    const value = line.slice(line.indexOf(':') + 1);
    const comma = value.indexOf(',');
    if (comma >= 0) lines[i] = `Via: ${value.slice(comma + 1).trim()}`;
    else lines.splice(i, 1);
    // The callee's signature is for its own association with this front end: not relayed (the caller's
    // connection signs the response for its association).
    const blank = lines.indexOf('');
    const relayed = lines.filter((l, n) => (blank >= 0 && n >= blank) || !/^(proxy-)?(authorization|authentication-info)\s*:/i.test(l));
    p.caller.send(relayed.join('\r\n'));
  };

  /**
   * A request from a registered user to a user's address of record (a pager MESSAGE, an INVITE): 403 from
   * a connection that has not registered its From, 404 for no user of this deployment, 480 for one not
   * signed in; else proxied to the registration.
   */
  const toUser = (conn: Connection, req: Core.IncomingRequestMessage, o: { recordRoute?: boolean } = {}) => {
    if (!senderAllowed(conn, req)) return respond(conn, req, 403, { headers: [warning('the sender is not registered on this connection')] });
    const target = aorOf(req.ruri);
    if (!target || !homed(target)) return respond(conn, req, 404, { headers: [NOT_ENABLED_DIAGNOSTIC(viaHost), warning(`${target ?? req.ruri?.toString() ?? ''} is not a user of this deployment`)] });
    // A GRUU names one endpoint of the user ([MS-SIPRE]); the address of record, the newest one.
    const b = req.ruri?.hasParam('gruu') ? bindingByContact(req.ruri) : newest(target);
    if (!b || b.conn.closed) return respond(conn, req, 480, { headers: [warning(`${target} is not signed in`)] });
    proxy(conn, req, b, o);
  };

  const onMessage = (conn: Connection, req: Core.IncomingRequestMessage) => toUser(conn, req);

  // ---- presence and roaming data (ocs.sip.presence.ts) ----------------------------------------------

  const pres = presence({
    state: presenceState,
    viaHost,
    now: () => Date.now(),
    after: (ms, run) => {
      const t = setTimeout(() => guarded(run), ms);
      t.unref();
      return () => clearTimeout(t);
    },
    token,
    respond,
    warning,
    homed,
    online: (aor) => bindings.has(aor),
    endpointOf: (conn, aor) => endpointsOf(aor).find((b) => b.conn === conn)?.endpoint ?? aor,
    senderAllowed,
    aorOf,
    contactCard: (aor) => {
      const user = homedUserBySip(ocsStore(lab.get('ocs')), aor);
      const entry = user ? adFindUser(lab.get('ad'), user.sam) : undefined;
      if (!entry) return undefined;
      const one = (n: string) => entry.attributes[n]?.[0];
      const card: { displayName?: string; email?: string; title?: string; company?: string; department?: string } = {};
      for (const [k, a] of [['displayName', 'displayName'], ['email', 'mail'], ['title', 'title'], ['company', 'company'], ['department', 'department']] as const) {
        const v = one(a);
        if (v) card[k] = v;
      }
      return card;
    },
    contactList: (aor) => {
      const store = ocsStore(lab.get('ocs'));
      const user = homedUserBySip(store, aor);
      const pool = user ? findPool(store, user.pool) : undefined;
      if (!pool) return { ok: false, failure: { kind: 'ocs.noSuchUser', message: `${aor} is not homed on a pool of this deployment` } };
      const r = readContactList({ read: (host, database, table) => {
        const rows = sqlRead(lab.get(sqlId(host)), { database, table });
        return rows.ok ? { ok: true, value: rows.value.map((x) => ({ key: x.key, row: x.row as Record<string, unknown> })) } : rows;
      } }, pool.backEnd, aor);
      return r.ok ? r : { ok: false, failure: { kind: 'ocs.backEndUnavailable', message: r.failure.message } };
    },
    changeContactList: (aor, change) => ocsChangeContactList(lab.get('ocs'), { user: aor, change }),
    record: (type, summary, details) => lab.record('ocs', { type, summary, ...details } as never),
  });

  const onSubscribe = (conn: Connection, req: Core.IncomingRequestMessage) => {
    const event = (req.getHeader('event') ?? '').split(';')[0]?.trim().toLowerCase();
    if (event === PROVISIONING_EVENT) return onProvisioning(conn, req);
    if (event === 'presence') return pres.onPresenceSubscribe(conn, req);
    if (event === ROAMING_CONTACTS_EVENT || event === ROAMING_SELF_EVENT) return pres.onRoamingSubscribe(conn, req, event);
    respond(conn, req, 489, { headers: [ALLOW_EVENTS] });
  };

  // ---- in-band provisioning ([MS-SIPREGE] 2.2.2) ------------------------------------------------

  const onProvisioning = (conn: Connection, req: Core.IncomingRequestMessage) => {
    const from = senderAllowed(conn, req);
    if (!from) return respond(conn, req, 403, { headers: [warning('the subscriber is not registered on this connection')] });
    if (aorOf(req.to?.uri) !== from) return respond(conn, req, 403, { headers: [warning('provisioning is given to the subscriber itself only')] });
    if (!headerTokens(req, 'accept').includes(PROVISIONING_CONTENT_TYPE)) {
      return respond(conn, req, 406, { headers: [`Accept: ${PROVISIONING_CONTENT_TYPE}`, warning(`Accept must list ${PROVISIONING_CONTENT_TYPE}`)] });
    }
    const body = req.body ?? '';
    const bodyType = (req.getHeader('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
    if (body.trim() && bodyType !== PROVISIONING_CONTENT_TYPE) {
      return respond(conn, req, 415, { headers: [`Accept: ${PROVISIONING_CONTENT_TYPE}`, warning(`the body must be ${PROVISIONING_CONTENT_TYPE}`)] });
    }
    const refused = (f: ProvisioningFailure) => respond(conn, req, PROVISIONING_STATUS[f.kind], { headers: [warning(f.message)] });
    const requested = requestedProvisionGroups(body);
    if (!requested.ok) return refused(requested.failure);
    const built = buildProvisioning(ocsStore(lab.get('ocs')), from, requested.value);
    if (!built.ok) return refused(built.failure);
    const document = { contentType: built.value.contentType, content: built.value.body };
    const localTag = req.toTag ?? token(4);
    const common = ['Expires: 0', `Contact: <sip:${viaHost};transport=${conn.transport.toLowerCase()}>`, `Event: ${PROVISIONING_EVENT}`, 'subscription-state: terminated;expires=0'];
    if (headerTokens(req, 'supported').includes('ms-piggyback-first-notify')) {
      return respond(conn, req, 200, { toTag: localTag, headers: [...common, 'ms-piggyback-cseq: 1', 'Supported: ms-benotify, ms-piggyback-first-notify'], body: document });
    }
    let contactUri: string;
    try {
      const c = req.parseHeader('contact', 0) as { uri: { toString(): string } } | undefined;
      if (!c) return respond(conn, req, 400, { headers: [warning('SUBSCRIBE without Contact')] });
      contactUri = c.uri.toString();
    } catch {
      return respond(conn, req, 400, { headers: [warning('unreadable Contact')] });
    }
    respond(conn, req, 200, { toTag: localTag, headers: common });
    const notify = [
      `NOTIFY ${contactUri} SIP/2.0`,
      `Via: SIP/2.0/${conn.transport} ${viaHost};branch=z9hG4bK${token(8)}`,
      'Max-Forwards: 70',
      `From: ${(req.getHeader('to') ?? `<${from}>`).replace(/;\s*tag=[^;]*/i, '')};tag=${localTag}`,
      `To: ${req.getHeader('from') ?? `<${from}>`}`,
      `Call-ID: ${req.callId}`,
      'CSeq: 1 NOTIFY',
      `Contact: <sip:${viaHost};transport=${conn.transport.toLowerCase()}>`,
      `Event: ${PROVISIONING_EVENT}`,
      'Subscription-State: terminated;expires=0',
      `Content-Type: ${document.contentType}`,
      `Content-Length: ${Buffer.byteLength(document.content)}`,
      '',
      document.content,
    ];
    conn.send(notify.join('\r\n'));
  };

  // ---- dispatch --------------------------------------------------------------------------------

  /** Handles one framed message. Returns false when the connection must be closed. */
  const handle = (conn: Connection, raw: string): boolean => {
    const msg = parseSip(raw);
    if (!msg) {
      const bad = rawBadRequest(raw, 'unparseable SIP message', token);
      if (bad) {
        conn.send(bad);
        return true;
      }
      return false;
    }
    if (msg instanceof Core.IncomingResponseMessage) {
      onResponse(msg);
      return true;
    }
    if (!(msg instanceof Core.IncomingRequestMessage)) return false;
    const missing = REQUIRED_HEADERS.filter((h) => !msg.hasHeader(h));
    if (missing.length || !msg.from || !msg.to || !msg.callId || !msg.method || !msg.ruri) {
      const bad = rawBadRequest(raw, `missing or unreadable ${missing.join(', ') || 'header'}`, token);
      if (bad) conn.send(bad);
      return bad !== undefined;
    }
    if (!Number.isFinite(msg.cseq) || (msg.getHeader('cseq') ?? '').trim().split(/\s+/)[1] !== msg.method) {
      respond(conn, msg, 400, { headers: [warning('CSeq method does not match the request')] });
      return true;
    }
    // On a connection with an NTLM association, every request but a REGISTER (which authenticates again)
    // must carry the association's signature ([MS-SIPAE] 3.3.5.1): 401 with the schemes; ACK and CANCEL
    // cannot be answered, and are dropped.
    if (conn.sa && msg.method !== 'REGISTER') {
      const auth = authorizationOf(msg.getHeader('authorization') ?? msg.getHeader('proxy-authorization'));
      if (auth?.scheme !== 'NTLM' || !security.verifies(conn.sa, raw, auth.params)) {
        if (msg.method !== 'ACK' && msg.method !== 'CANCEL') respond(conn, msg, 401, { headers: [...offers(), warning('the request is not signed by this connection\'s security association')] });
        return true;
      }
    }
    // Within a dialog (a To tag, sent to a peer's Contact): routed by that contact.
    const peer = msg.toTag && IN_DIALOG.has(msg.method) ? bindingByContact(msg.ruri) : undefined;
    if (peer) return onInDialog(conn, msg, peer);
    switch (msg.method) {
      case 'INVITE':
        onInvite(conn, msg);
        break;
      case 'BYE':
      case 'INFO':
        onInDialog(conn, msg);
        break;
      case 'REGISTER':
        onRegister(conn, msg);
        break;
      case 'MESSAGE':
        onMessage(conn, msg);
        break;
      case 'OPTIONS':
        respond(conn, msg, 200, { headers: [ALLOW, `Accept: application/sdp, text/plain, application/pidf+xml, ${PROVISIONING_CONTENT_TYPE}`, ALLOW_EVENTS] });
        break;
      case 'SUBSCRIBE':
        onSubscribe(conn, msg);
        break;
      case 'PUBLISH':
        pres.onPublish(conn, msg);
        break;
      case 'SERVICE':
        pres.onService(conn, msg);
        break;
      case 'ACK':
        onInDialog(conn, msg);
        break;
      default:
        respond(conn, msg, 501, { headers: [ALLOW] });
    }
    return true;
  };

  /** Once a connection has an NTLM association, everything the front end sends on it is signed. */
  const secure = (conn: Connection) => {
    const send = conn.send;
    // A 401 to a REGISTER is not signed: the client is authenticating afresh, its old keys are no
    // longer the ones it checks with.
    const unsignedAnswer = (raw: string) => raw.startsWith('SIP/2.0 401 ') && /\r\ncseq:[ \t]*\d+[ \t]+REGISTER\r\n/i.test(raw.slice(0, raw.indexOf('\r\n\r\n') + 2));
    conn.send = (raw) => send(conn.sa && /^\S/.test(raw) && !unsignedAnswer(raw) ? security.signed(conn.sa, raw) : raw);
  };

  const safeHandle = (conn: Connection, raw: string): boolean => {
    try {
      return handle(conn, raw);
    } catch (error) {
      onError(error);
      return false;
    }
  };

  const dropConnection = (conn: Connection) => {
    if (conn.closed) return;
    conn.closed = true;
    connections.delete(conn);
    for (const aor of [...conn.aors]) dropBinding(aor, conn);
    // A request forwarded on a connection that is gone gets no answer from it: say so now (RFC 3261
    // §16.7 treats a transport failure as a 408), not when Timer F runs out. The caller may be on
    // another front end of the pool.
    for (const [branch, p] of [...pending]) {
      if (p.callee !== conn) continue;
      clearTimeout(p.timer);
      pending.delete(branch);
      if (!p.caller.closed) respond(p.caller, p.request, 408, { headers: [warning('the callee\'s connection closed before it answered')] });
    }
    pres.connectionClosed(conn);
  };

  // ---- transports ------------------------------------------------------------------------------

  const messageMs = options.messageTimeoutMs ?? STREAM_MESSAGE_TIMEOUT_MS;
  /** Stream connections, and who makes room at the limit (a registered one last: sim/wire.ts). */
  const connOf = new WeakMap<Socket, Connection>();
  const streams = new ConnectionRoster<Socket>((x) => (connOf.get(x)?.aors.size ?? 0) > 0);
  const onStream = (transport: 'TLS' | 'TCP') => (socket: Socket) => {
    if (streams.size >= (options.maxConnections ?? MAX_STREAM_CONNECTIONS)) {
      const victim = streams.victim();
      victim?.destroy();
      if (victim) streams.delete(victim);
    }
    streams.add(socket);
    socket.once('close', () => {
      clearTimeout(deadline);
      streams.delete(socket);
    });
    let deadline: NodeJS.Timeout | undefined = setTimeout(() => socket.destroy(), messageMs);
    let buffer: Buffer = Buffer.alloc(0);
    const conn: Connection = {
      id: nextConnId++,
      transport,
      closed: false,
      aors: new Set(),
      send: (raw) => {
        if (!socket.destroyed && socket.writable) socket.write(raw);
      },
      close: () => socket.destroy(),
    };
    secure(conn);
    connections.add(conn);
    connOf.set(socket, conn);
    // SIP is request/response: no Nagle delay (40 ms against the peer's delayed ACK on every answer).
    socket.setNoDelay(true);
    // A connection with no traffic for longer than the longest registration (plus margin) is closed;
    // clients refresh REGISTER or send CRLF keep-alives well within it.
    socket.setTimeout(STREAM_IDLE_MS, () => socket.destroy());
    socket.on('error', () => guarded(() => dropConnection(conn)));
    socket.on('close', () => guarded(() => dropConnection(conn)));
    socket.on('data', (chunk: Buffer) => {
      if (conn.closed) return;
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
      deadline ??= setTimeout(() => socket.destroy(), messageMs);
      for (;;) {
        const f = frameSip(buffer, max);
        if (f.kind === 'more') return;
        if (f.kind === 'bad') {
          const bad = rawBadRequest(buffer.subarray(0, Math.min(buffer.length, max)).toString('utf8'), f.reason, token);
          if (bad) conn.send(bad);
          socket.end();
          setTimeout(() => socket.destroy(), 200).unref();
          dropConnection(conn);
          return;
        }
        const frame = buffer.subarray(0, f.size);
        buffer = buffer.subarray(f.size);
        clearTimeout(deadline);
        deadline = buffer.length ? setTimeout(() => socket.destroy(), messageMs) : undefined;
        streams.active(socket);
        if (f.kind === 'keepalive') {
          if (f.size === 4) conn.send('\r\n');
          continue;
        }
        if (!safeHandle(conn, frame.toString('utf8'))) {
          socket.destroy();
          dropConnection(conn);
          return;
        }
      }
    });
  };

  const tcpServer = createTcpServer(onStream('TCP'));
  // A TLS handshake that does not finish within the message timeout holds nothing.
  const tlsServer = createTlsServer({ ...tlsOptions, handshakeTimeout: messageMs }, onStream('TLS'));
  tlsServer.on('tlsClientError', () => undefined);
  // After listening, a server error (e.g. EMFILE on accept) must be reported, not crash the process.
  for (const server of [tcpServer, tlsServer]) server.on('error', (e) => onError(e));
  const httpsServer = createHttpsServer(tlsOptions, (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    res.end('SIP over WebSocket only\n');
  });
  httpsServer.on('tlsClientError', () => undefined);
  // The WebSocket upgrade is an HTTP request: its headers come within the message timeout, or never.
  httpsServer.headersTimeout = messageMs;
  httpsServer.requestTimeout = messageMs;
  httpsServer.on('error', (e) => onError(e));
  // RFC 7118: the handshake must offer the `sip` subprotocol; one that does not is refused before it
  // becomes a connection.
  const offersSip = (header: string | string[] | undefined) => String(header ?? '').split(',').some((p) => p.trim() === 'sip');
  const wss = new WebSocketServer({
    server: httpsServer,
    maxPayload: max,
    handleProtocols: (p) => (p.has('sip') ? 'sip' : false),
    verifyClient: (info, done) => {
      if (!offersSip(info.req.headers['sec-websocket-protocol'])) return done(false, 400, 'SIP subprotocol required');
      // As many WebSocket connections as the stream listeners keep: past it, 503 (try another server).
      if (wss.clients.size >= (options.maxConnections ?? MAX_STREAM_CONNECTIONS)) return done(false, 503, 'Service Unavailable');
      done(true);
    },
  });
  wss.on('error', (e) => onError(e));
  wss.on('connection', (ws: WebSocket, req: { socket: Socket }) => {
    // The same idle limit as the stream listeners: a WebSocket that says nothing for longer is closed.
    req.socket.setTimeout(STREAM_IDLE_MS, () => ws.terminate());
    // First of all: a malformed frame is an 'error' on this socket, and one without a listener would end
    // the process (every service of the lab with it).
    ws.on('error', () => {
      ws.terminate();
      dropConnection(conn);
    });
    const conn: Connection = {
      id: nextConnId++,
      transport: 'WSS',
      closed: false,
      aors: new Set(),
      send: (raw) => {
        if (ws.readyState === ws.OPEN) ws.send(raw);
      },
      close: () => ws.terminate(),
    };
    secure(conn);
    connections.add(conn);
    if (ws.protocol !== 'sip') {
      ws.close(1002, 'subprotocol sip required');
      dropConnection(conn);
      return;
    }
    ws.on('close', () => guarded(() => dropConnection(conn)));
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      if (conn.closed) return;
      const raw = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
      if (/^(\r\n)+$/.test(raw)) {
        conn.send('\r\n');
        return;
      }
      if (!safeHandle(conn, raw)) {
        ws.terminate();
        dropConnection(conn);
      }
    });
  });

  const servers: Array<TcpServer | TlsServer | HttpsServer> = [tlsServer, tcpServer, httpsServer];
  const closeAll = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    unwatch();
    const own = new Set(connections);
    for (const c of own) {
      c.close();
      dropConnection(c);
    }
    for (const ws of wss.clients) ws.terminate();
    // What this front end's connections had in the pool's registrar (their bindings and subscriptions
    // went with each connection); the other front ends' stays.
    for (const [branch, p] of [...pending]) {
      if (!own.has(p.caller)) continue;
      clearTimeout(p.timer);
      pending.delete(branch);
    }
    await new Promise<void>((r) => wss.close(() => r()));
    httpsServer.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise<void>((r) => (s.listening ? s.close(() => r()) : r()))));
  };

  // RtcSrv stopping closes the listeners, as the Front-End service's own listeners go away.
  const watchRef = hostRef;
  const sub = watchRef?.subscribe({
    next: () => {
      if (!stopped && !rtcRunning()) void closeAll();
    },
    error: () => undefined,
  });
  // A certificate the Certificate Wizard assigns later is what new TLS connections get [U: the real
  // Front-End service may want a restart to pick it up; the lab serves the assignment at once].
  let presented = cert.thumbprint;
  const certSub = lab.get('ocs')?.subscribe({
    next: () => {
      if (stopped) return;
      const now = findServer(ocsStore(lab.get('ocs')), feName)?.certificate;
      if (!now || now.thumbprint === presented) return;
      const next = hostCertificates(lab.get(`host:${server.host.toLowerCase()}`)).find((c) => c.thumbprint === now.thumbprint);
      if (!next) return;
      try {
        const options = { key: keyById(next.keyId).privateKeyPem, cert: next.certPem };
        tlsServer.setSecureContext(options);
        httpsServer.setSecureContext(options);
        presented = next.thumbprint;
      } catch (error) {
        onError(error);
      }
    },
    error: () => undefined,
  });
  function unwatch(): void {
    sub?.unsubscribe();
    certSub?.unsubscribe();
  }

  let tlsPort: number;
  let tcpPort: number;
  let wssPort: number;
  try {
    tlsPort = await listen(tlsServer, options.tlsPort ?? 0, bindHost);
    tcpPort = await listen(tcpServer, options.tcpPort ?? 0, bindHost);
    wssPort = await listen(httpsServer, options.wssPort ?? 0, bindHost);
  } catch (error) {
    await closeAll();
    throw error;
  }
  const wssUrl = `wss://${bindHost}:${wssPort}`;
  return {
    protocol: 'sip-tls',
    host: bindHost,
    port: tlsPort,
    url: `sip:${bindHost}:${tlsPort};transport=tls`,
    tls: { host: bindHost, port: tlsPort },
    tcp: { host: bindHost, port: tcpPort },
    wss: wssUrl,
    registrations: () => [...bindings.entries()].filter(([, user]) => [...user.values()].some((b) => connections.has(b.conn))).map(([aor]) => aor).sort(),
    stop: closeAll,
  };
}
