/**
 * Office Communicator 2007 R2's stack on real sockets: DNS over UDP to the lab's DNS server, TCP through
 * the lab network (the load balancer picks the front end), TLS validated the way the client validates it,
 * and sip.js (with `StreamTransport`, SIP over TLS to 5061) for REGISTER, in-band provisioning, presence
 * and IM; the address book over HTTPS from the URL provisioning gave.
 *
 * The client's clock is the lab's simulated clock: certificate validity is judged at `now()`, so a
 * rehearsal dated 2009 validates certificates issued in 2009. The chain check is X.509 (issuer and
 * signature against the trusted roots, then validity); the name check is Node's own
 * `tls.checkServerIdentity` (subjectAltName DNS names, else the CN) against the name the client dialled.
 *
 * Everything here reports what it saw (lookups, connections, the certificate, SIP responses) so the
 * client machine (`communicator.client.machine.ts`) can keep it for the operator to inspect.
 */
import { createSocket } from 'node:dgram';
import { request as httpRequest } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, createSecureContext, type PeerCertificate, type SecureContext, type TLSSocket } from 'node:tls';
import dnsPacket from 'dns-packet';
import { Core, Inviter, Messager, Registerer, SessionState, type Session, Subscriber, SubscriptionState, UserAgent, type BodyAndContentType, type Invitation, type Message, type Notification, type SessionDescriptionHandler } from 'sip.js';
import { verifyChain } from '../ca/certificate.js';
import type { DialResult, Network } from '../network/lab.network.js';
import { parseProvisioning, PROVISIONING_CONTENT_TYPE, PROVISIONING_EVENT, provisioningRequestBody, type ParsedProvisioning } from '../ocs/ocs.provisioning.js';
import type { Candidate, LookupType, ResolvedRecord, Resolver, ResolverAnswer } from './communicator.discovery.js';
import { StreamTransport } from './sip.stream.transport.js';
import { installGrammarCache } from '../ocs/sip.grammar.js';
import {
  AVAILABILITY_NUMBERS,
  availabilityName,
  BATCH_SUBSCRIBE_TYPE,
  CATEGORY_PUBLISH_TYPE,
  EVENT_CATEGORIES_TYPE,
  parseCategories,
  parseWrongDelta,
  ROAMING_CONTACTS_EVENT,
  ROAMING_CONTACTS_TYPE,
  parseContactList,
  xmlEscape,
  type ContactListView,
} from '../ocs/ocs.presence.js';
import { NtlmClientSecurity } from './communicator.security.js';

// sip.js's grammar answers, remembered (the front end's and the client's parsing share it).
installGrammarCache();

/** Communicator 2007 R2's User-Agent (the build number is [U]; the product token form is [B]). */
export const COMMUNICATOR_USER_AGENT = 'UCCAPI/3.5.6907.0 OC/3.5.6907.0 (Microsoft Office Communicator 2007 R2)';

const DNS_TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 5000;
const SIP_TIMEOUT_MS = 10_000;
const CLOSE_WAIT_MS = 2000;

// ---------------------------------------------------------------------------------------------------
// DNS

/** A resolver that asks a DNS server over UDP (one question, recursion desired), as the client's resolver does. */
export function udpResolver(server: { host: string; port: number }, ids: () => number): Resolver {
  return (name, type) => queryUdp(server, name, type, ids());
}

function queryUdp(server: { host: string; port: number }, name: string, type: LookupType, id: number): Promise<ResolverAnswer> {
  return new Promise((resolve) => {
    const socket = createSocket(server.host.includes(':') ? 'udp6' : 'udp4');
    const done = (a: ResolverAnswer) => {
      clearTimeout(timer);
      socket.close();
      resolve(a);
    };
    const timer = setTimeout(() => done({ rcode: 'TIMEOUT', records: [] }), DNS_TIMEOUT_MS);
    socket.on('error', () => done({ rcode: 'TIMEOUT', records: [] }));
    socket.on('message', (msg) => {
      try {
        const p = dnsPacket.decode(msg);
        if (p.id !== id) return;
        const rcode = ((p as { rcode?: string }).rcode ?? 'NOERROR') as ResolverAnswer['rcode'];
        const records = (p.answers ?? []).flatMap((a): ResolvedRecord[] => {
          if (a.type === 'A') return [{ type: 'A', address: a.data }];
          if (a.type === 'CNAME') return [{ type: 'CNAME', target: a.data }];
          if (a.type === 'SRV') return [{ type: 'SRV', priority: a.data.priority ?? 0, weight: a.data.weight ?? 0, port: a.data.port, target: a.data.target }];
          return [];
        });
        done({ rcode: ['NOERROR', 'NXDOMAIN', 'REFUSED', 'SERVFAIL'].includes(rcode) ? rcode : 'SERVFAIL', records });
      } catch {
        done({ rcode: 'SERVFAIL', records: [] });
      }
    });
    const query = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });
    socket.send(query, server.port, server.host);
  });
}

// ---------------------------------------------------------------------------------------------------
// Connections and TLS

export interface ConnectionAttempt {
  host: string;
  address: string;
  port: number;
  transport: 'TLS' | 'TCP';
  /** The front end (short name) that accepted the connection. */
  server?: string;
  error?: string;
}

export interface CertificateSeen {
  subject: string;
  sans: string[];
  issuer: string;
  notBefore: string;
  notAfter: string;
}

export interface TlsCheck {
  ok: boolean;
  /** The name the client dialled and checked. */
  host: string;
  server: string;
  certificate?: CertificateSeen;
  /** Why the client rejected it, or why the handshake failed. */
  error?: string;
  /** True when no handshake completed at all (reset, no certificate). */
  handshakeFailed?: boolean;
}

export interface TrustPolicy {
  /** The client's Trusted Root Certification Authorities (PEM). */
  roots: string[];
  /** The client's clock. */
  now: () => number;
}

const derToPem = (der: Buffer): string => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;

const describePeer = (c: PeerCertificate): CertificateSeen => ({
  subject: Object.entries(c.subject ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', '),
  sans: (c.subjectaltname ?? '')
    .split(',')
    .map((s) => s.trim().replace(/^DNS:/, ''))
    .filter((s) => s),
  issuer: Object.entries(c.issuer ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', '),
  notBefore: new Date(c.valid_from).toISOString(),
  notAfter: new Date(c.valid_to).toISOString(),
});

/** The client's certificate decision: a trusted root issued it, it is valid now, and it names the host dialled. */
export function checkCertificate(peer: PeerCertificate, host: string, server: string, trust: TrustPolicy): TlsCheck {
  const certificate = describePeer(peer);
  const base = { host, server, certificate };
  if (!peer.raw) return { ...base, ok: false, error: 'the server presented no certificate' };
  const leafPem = derToPem(peer.raw);
  if (!trust.roots.length) return { ...base, ok: false, error: `the certificate chain ends in ${certificate.issuer}, which is not in the client's Trusted Root Certification Authorities` };
  // The root that issued it decides (expired, not yet valid); "untrusted" only when no root issued it.
  let lastError = '';
  let untrusted = '';
  for (const root of trust.roots) {
    const r = verifyChain(leafPem, root, trust.now());
    if (r.ok) {
      const mismatch = checkServerIdentity(host, peer);
      if (mismatch) return { ...base, ok: false, error: `the certificate names ${[certificate.subject, ...certificate.sans].join(', ')}; none matches ${host}` };
      return { ...base, ok: true };
    }
    if (r.failure.kind === 'certificate.untrusted') untrusted = `the certificate chain ends in ${certificate.issuer}, which is not in the client's Trusted Root Certification Authorities`;
    else lastError = `${r.failure.message} (${r.failure.kind.replace('certificate.', '')}: valid ${certificate.notBefore} to ${certificate.notAfter})`;
  }
  return { ...base, ok: false, error: lastError || untrusted };
}

export interface Connected {
  socket: Socket | TLSSocket;
  candidate: Candidate;
  attempt: ConnectionAttempt;
  tls?: TlsCheck;
  /** Tells the network the connection is closed (the load balancer's table); also done on 'close'. */
  hangUp?: () => void;
}

export type ConnectOutcome = { ok: true; connected: Connected; attempts: ConnectionAttempt[] } | { ok: false; attempts: ConnectionAttempt[]; tls?: TlsCheck };

export function openSocket(route: { host: string; port: number }): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: route.host, port: route.port, noDelay: true });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('the connection attempt timed out'));
    }, CONNECT_TIMEOUT_MS);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new Error(e.code === 'ECONNREFUSED' ? 'connection refused' : e.message));
    });
  });
}

/**
 * One TLS client context for every Communicator of the process: the client judges certificates itself
 * (checkCertificate), so the context holds nothing per client, and `tls.connect` would otherwise build an
 * OpenSSL context per connection: about 20 KiB of resident memory per signed-in client (1,000 loopback
 * connections: 98 KiB each for both ends with a context per connection, 77 KiB with one).
 */
let clientContext: SecureContext | undefined;

/** A TLS handshake over an open socket, naming `servername`; resolves with the peer certificate, whatever it is. */
export function handshake(raw: Socket, servername: string): Promise<{ socket: TLSSocket; peer: PeerCertificate }> {
  return new Promise((resolve, reject) => {
    clientContext ??= createSecureContext();
    const s = tlsConnect({ socket: raw, servername, rejectUnauthorized: false, secureContext: clientContext });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('the TLS handshake timed out'));
    }, CONNECT_TIMEOUT_MS);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      resolve({ socket: s, peer: s.getPeerCertificate(true) });
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      s.destroy();
      reject(new Error(`the TLS handshake failed (${e.message.replace(/^.*?:\s*/, '') || 'reset'})`));
    });
  });
}

/**
 * Ends a connection to a dialled route and tells the network now (the load balancer's table), not when the
 * socket's 'close' comes round, so the next dial sees the table as it is.
 */
export function hangUp(socket: Socket, dialled: DialResult): void {
  socket.destroy();
  if (dialled.ok) dialled.hangUp?.();
}

/** Where the client connects from (its address and a source port: the load balancer's affinity key). */
export interface ClientOrigin {
  address: string;
  port: number;
}

/**
 * Tries the candidates in order, each of its addresses in order, until one accepts the connection; with
 * TLS, the first certificate the client rejects ends the attempt (Communicator reports it rather than
 * trying elsewhere).
 */
export async function connectFirst(network: Network, candidates: Candidate[], from: ClientOrigin, trust: TrustPolicy): Promise<ConnectOutcome> {
  const attempts: ConnectionAttempt[] = [];
  for (const candidate of candidates) {
    for (const address of candidate.addresses) {
      const attempt: ConnectionAttempt = { host: candidate.host, address, port: candidate.port, transport: candidate.transport };
      attempts.push(attempt);
      const dialled: DialResult = await network.dial(address, candidate.port, from);
      if (!dialled.ok) {
        attempt.error = dialled.error === 'timeout' ? `no answer from ${address}:${candidate.port}: the connection attempt timed out` : `connection refused by ${address}:${candidate.port}`;
        continue;
      }
      attempt.server = dialled.route.server;
      let raw: Socket;
      try {
        raw = await openSocket(dialled.route);
      } catch (e) {
        dialled.hangUp?.();
        attempt.error = `${(e as Error).message} (${address}:${candidate.port})`;
        delete attempt.server;
        continue;
      }
      if (dialled.hangUp) raw.once('close', dialled.hangUp);
      const release = dialled.hangUp ? { hangUp: dialled.hangUp } : {};
      if (candidate.transport === 'TCP') return { ok: true, attempts, connected: { socket: raw, candidate, attempt, ...release } };
      let secured: { socket: TLSSocket; peer: PeerCertificate };
      try {
        secured = await handshake(raw, candidate.host);
      } catch (e) {
        hangUp(raw, dialled);
        attempt.error = (e as Error).message;
        return { ok: false, attempts, tls: { ok: false, host: candidate.host, server: dialled.route.server, error: (e as Error).message, handshakeFailed: true } };
      }
      const tls = checkCertificate(secured.peer, candidate.host, dialled.route.server, trust);
      if (!tls.ok) {
        hangUp(secured.socket, dialled);
        attempt.error = `certificate rejected: ${tls.error ?? ''}`;
        return { ok: false, attempts, tls };
      }
      return { ok: true, attempts, connected: { socket: secured.socket, candidate, attempt, tls, ...release } };
    }
  }
  return { ok: false, attempts };
}

// ---------------------------------------------------------------------------------------------------
// SIP

/** A SIP final response as the client keeps it. */
export interface SipAnswer {
  status: number;
  reason: string;
  /** `ms-diagnostics` (code and reason), when the server sent one. */
  diagnostics?: string;
  warning?: string;
}

const answerOf = (m: Core.IncomingResponseMessage): SipAnswer => {
  const a: SipAnswer = { status: m.statusCode ?? 0, reason: m.reasonPhrase ?? '' };
  const d = m.getHeader('ms-diagnostics');
  if (d) a.diagnostics = d;
  const w = m.getHeader('warning');
  if (w) a.warning = w;
  return a;
};

export interface InstantMessage {
  from: string;
  to: string;
  contentType: string;
  body: string;
}

/**
 * A contact's presence as Communicator shows it: from enhanced presence (the aggregated availability and
 * the note of a categories NOTIFY), or from a generic client's PIDF (basic status and note).
 */
export interface PresenceView {
  entity: string;
  basic: 'open' | 'closed' | 'unknown';
  /** The availability Communicator shows ("Available", "Busy", ... "Offline"), from the categories. */
  availability?: string;
  note?: string;
  displayName?: string;
}

/** A categories NOTIFY body ([MS-PRES]) as a presence view. */
export function viewOfCategories(body: string): PresenceView | undefined {
  const c = parseCategories(body);
  if (!c) return undefined;
  const availability = c.availability !== undefined ? availabilityName(c.availability) : undefined;
  return {
    entity: c.uri,
    basic: availability === undefined ? 'unknown' : availability === 'Offline' ? 'closed' : 'open',
    ...(availability ? { availability } : {}),
    ...(c.note ? { note: c.note } : {}),
    ...(c.displayName ? { displayName: c.displayName } : {}),
  };
}

/** Communicator's user state instance ([MS-PRES]: 0x20000000, published in the aggregation containers). */
const USER_STATE_INSTANCE = 0x20000000;

/** The publications Communicator sends for an availability and, when given, a personal note. */
export function categoryPublishFor(aor: string, availability: string, note: string | undefined, versions: ReadonlyMap<string, number>): { body: string; keys: string[] } {
  const number = AVAILABILITY_NUMBERS[availability as keyof typeof AVAILABILITY_NUMBERS] ?? AVAILABILITY_NUMBERS.Available;
  const pubs: Array<{ name: string; instance: number; container: number; expireType: string; xml: string }> = [];
  for (const container of [2, 3]) {
    pubs.push({
      name: 'state',
      instance: USER_STATE_INSTANCE,
      container,
      expireType: 'static',
      xml: `<state xmlns="http://schemas.microsoft.com/2006/09/sip/state" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" manual="true" xsi:type="userState"><availability>${number}</availability><endpointLocation></endpointLocation></state>`,
    });
  }
  if (note !== undefined) {
    for (const container of [200, 300, 400]) {
      pubs.push({ name: 'note', instance: 0, container, expireType: 'static', xml: `<note xmlns="http://schemas.microsoft.com/2006/09/sip/note"><body type="personal" uri="">${xmlEscape(note)}</body></note>` });
    }
  }
  const keys = pubs.map((p) => `${p.name}|${p.instance}|${p.container}`);
  const items = pubs.map((p, i) => `<publication categoryName="${p.name}" instance="${p.instance}" container="${p.container}" version="${versions.get(keys[i] as string) ?? 0}" expireType="${p.expireType}">${p.xml}</publication>`);
  return { body: `<publish xmlns="http://schemas.microsoft.com/2006/09/sip/rich-presence"><publications uri="${xmlEscape(aor)}">${items.join('')}</publications></publish>`, keys };
}

/** The batched presence subscription of Communicator for some contacts ([MS-PRES] `batchSub`). */
export function batchSubscribeFor(aor: string, resources: string[]): string {
  const list = resources.map((r) => `<resource uri="${xmlEscape(r)}"/>`).join('');
  return `<batchSub xmlns="http://schemas.microsoft.com/2006/01/sip/batch-subscribe" uri="${xmlEscape(aor)}" name=""><action name="subscribe" id="1"><adhocList>${list}</adhocList><categoryList xmlns="http://schemas.microsoft.com/2006/09/sip/categorylist"><category name="calendarData"/><category name="contactCard"/><category name="note"/><category name="state"/></categoryList></action></batchSub>`;
}

export function parsePidf(body: string): PresenceView {
  const entity = /<presence\b[^>]*\bentity="([^"]{0,512})"/.exec(body)?.[1] ?? '';
  const basic = /<basic>\s*(open|closed)\s*<\/basic>/.exec(body)?.[1];
  const note = /<note(?:\s[^>]{0,200})?>([^<]{0,512})<\/note>/.exec(body)?.[1]?.trim();
  return { entity, basic: basic === 'open' || basic === 'closed' ? basic : 'unknown', ...(note ? { note } : {}) };
}

export interface NtlmClientOptions {
  domain: string;
  workstation: string;
  bytes: (n: number) => Uint8Array;
  now: () => number;
}

export interface SessionOptions {
  /** `sip:user@domain`. */
  aor: string;
  /** Digest user name: the Windows account (sAMAccountName). */
  account: string;
  password: string;
  connected: Connected;
  /**
   * Sign in with NTLM as Communicator does ([MS-SIPAE]; communicator.security.ts) when the front end
   * offers it: the Windows domain and workstation, and where the client's random bytes and time come from.
   * Without it, or against a front end that offers only Digest, sip.js answers a Digest challenge.
   */
  ntlm?: NtlmClientOptions;
  onMessage?: (m: InstantMessage) => void;
  onPresence?: (target: string, view: PresenceView) => void;
  onDisconnect?: (error?: Error) => void;
}

/** Waits for one final response of a core request; a missing answer becomes 408 after `SIP_TIMEOUT_MS`. */
function finalAnswer(send: (delegate: Core.OutgoingRequestDelegate) => void): Promise<{ answer: SipAnswer; message?: Core.IncomingResponseMessage }> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ answer: { status: 408, reason: 'Request Timeout (no answer from the server)' } }), SIP_TIMEOUT_MS);
    const settle = (r: Core.IncomingResponse) => {
      clearTimeout(timer);
      resolve({ answer: answerOf(r.message), message: r.message });
    };
    try {
      send({ onAccept: settle, onReject: settle });
    } catch (e) {
      clearTimeout(timer);
      resolve({ answer: { status: 503, reason: `Service Unavailable (${(e as Error).message})` } });
    }
  });
}

/** The SDP of an IM session as Communicator offers and answers it ([MS-SIPRE] 2.2: `m=message 5060 sip null`). */
export const IM_SESSION_SDP = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=session', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=message 5060 sip null', 'a=accept-types:text/plain text/html text/rtf', ''].join('\r\n');

/** sip.js's session description for an IM session: no media to set up, the same SDP both ways. */
class MessageSessionDescription implements SessionDescriptionHandler {
  close(): void {}
  getDescription(): Promise<BodyAndContentType> {
    return Promise.resolve({ body: IM_SESSION_SDP, contentType: 'application/sdp' });
  }
  hasDescription(contentType: string): boolean {
    return contentType === 'application/sdp';
  }
  setDescription(): Promise<void> {
    return Promise.resolve();
  }
  sendDtmf(): boolean {
    return false;
  }
}

/**
 * One signed-in Communicator: a sip.js UserAgent over the connection `connectFirst` opened. `register()`
 * first; then provisioning, presence and IM.
 */
export class SipSession {
  readonly ua: UserAgent;
  private registerer?: Registerer;
  private readonly subscribers = new Map<string, Subscriber>();
  private socketUsed = false;
  private closed = false;
  private readonly security: NtlmClientSecurity | undefined;
  /** IM sessions, whoever opened them, ended with a BYE at sign-out; the open one with each peer. */
  private readonly imSessions = new Set<Session>();
  private readonly imWith = new Map<string, Session>();
  /** The versions of this user's category instances, as the server last said (SERVICE answers, 409). */
  private readonly versions = new Map<string, number>();

  constructor(private readonly o: SessionOptions) {
    const socket = o.connected.socket;
    const ntlm = o.ntlm;
    this.security = ntlm
      ? new NtlmClientSecurity({ credentials: { user: o.account.replace(/^[^\\]*\\/, ''), domain: ntlm.domain, password: o.password, workstation: ntlm.workstation }, bytes: ntlm.bytes, now: ntlm.now, timeoutMs: SIP_TIMEOUT_MS })
      : undefined;
    const uri = UserAgent.makeURI(o.aor);
    if (!uri) throw new Error(`not a SIP URI: ${o.aor}`);
    this.ua = new UserAgent({
      uri,
      transportConstructor: StreamTransport,
      transportOptions: {
        protocol: o.connected.candidate.transport,
        ...(this.security ? { security: this.security } : {}),
        connect: async () => {
          if (this.socketUsed || socket.destroyed) throw new Error('the connection to the server was lost');
          this.socketUsed = true;
          return socket;
        },
      },
      authorizationUsername: o.account,
      authorizationPassword: o.password,
      contactParams: { transport: o.connected.candidate.transport.toLowerCase() },
      userAgentString: COMMUNICATOR_USER_AGENT,
      logBuiltinEnabled: false,
      logLevel: 'error',
      // An IM session's SDP ([MS-SIPRE]: `m=message … sip null`): no media, nothing to negotiate.
      sessionDescriptionHandlerFactory: () => new MessageSessionDescription(),
      delegate: {
        onMessage: (m: Message) => this.receive(m),
        onInvite: (invitation: Invitation) => this.acceptIm(invitation),
        onDisconnect: (error?: Error) => {
          this.failUnanswered('the connection to the server was lost');
          if (!this.closed) o.onDisconnect?.(error);
        },
      },
    });
  }

  /**
   * An IM session offered to this user (INVITE with `m=message`): accepted, and its messages delivered.
   * The first one rides in the INVITE's `ms-text-format: …;ms-body=<base64>`; the 200 says it was taken
   * (`Supported: ms-text-format`) so the sender does not send it again.
   */
  private acceptIm(invitation: Invitation): void {
    const r = invitation.request;
    const format = r.getHeader('ms-text-format') ?? '';
    const encoded = /;\s*ms-body=([A-Za-z0-9+/=]+)/i.exec(format)?.[1];
    invitation.delegate = { onMessage: (m: Message) => this.receive(m) };
    const peer = r.from?.uri ? `sip:${r.from.uri.user ?? ''}@${r.from.uri.host}`.toLowerCase() : '';
    this.track(peer, invitation);
    invitation.accept({ extraHeaders: encoded ? ['Supported: ms-text-format'] : [] }).catch(() => undefined);
    if (encoded) {
      const from = r.from?.uri ? `sip:${r.from.uri.user ?? ''}@${r.from.uri.host}` : '';
      const contentType = (format.split(';')[0] ?? 'text/plain').trim() || 'text/plain';
      this.o.onMessage?.({ from: from.toLowerCase(), to: this.o.aor, contentType, body: Buffer.from(encoded, 'base64').toString('utf8') });
    }
  }

  private receive(m: Message): void {
    const r = m.request;
    m.accept().catch(() => undefined);
    const from = r.from?.uri ? `sip:${r.from.uri.user ?? ''}@${r.from.uri.host}` : '';
    this.o.onMessage?.({ from: from.toLowerCase(), to: this.o.aor, contentType: r.getHeader('content-type') ?? 'text/plain', body: r.body ?? '' });
  }

  /**
   * Starts the user agent on the open connection and REGISTERs: with NTLM, the handshake's two legs on
   * the REGISTER's own Call-ID first, then sip.js's REGISTER carries the AUTHENTICATE; otherwise sip.js
   * answers a Digest challenge.
   */
  async register(expires = 3600): Promise<SipAnswer> {
    await this.ua.start();
    const registerer = new Registerer(this.ua, { expires, extraHeaders: [] });
    this.registerer = registerer;
    if (this.security && this.o.ntlm) {
      const request = (registerer as unknown as { request: Core.OutgoingRequestMessage }).request;
      const bytes = this.o.ntlm.bytes;
      const transport = this.o.connected.candidate.transport;
      const viaHost = this.ua.configuration.viaHost;
      const contact = `Contact: <${this.ua.contact.uri.toString()}>`;
      // Each leg is the REGISTER sip.js will send, one CSeq further on, with its own branch.
      const leg = (authorization?: string) => {
        request.cseq += 1;
        request.setHeader('cseq', `${request.cseq} REGISTER`);
        const [start, ...rest] = request.toString().split('\r\n');
        const via = `Via: SIP/2.0/${transport} ${viaHost};branch=z9hG4bK${Buffer.from(bytes(8)).toString('hex')}`;
        return [start, via, contact, ...(authorization ? [authorization] : []), ...rest].join('\r\n');
      };
      this.security.attach((raw) => (this.ua.transport as unknown as { send(raw: string): Promise<void> }).send(raw));
      const shook = await this.security.handshake(request.callId, leg);
      if (!shook.ntlm && !shook.answer) return { status: 408, reason: 'Request Timeout (no answer from the server)' };
    }
    const { answer } = await finalAnswer((d) => {
      registerer.register({ requestDelegate: { onAccept: d.onAccept, onReject: d.onReject } }).catch(() => undefined);
    });
    return answer;
  }

  /** REGISTERs again on the same registration, as its refresh timer does; resolves with the answer. */
  async refresh(): Promise<SipAnswer> {
    const registerer = this.registerer;
    if (!registerer) return { status: 503, reason: 'Service Unavailable (not registered)' };
    return (
      await finalAnswer((d) => {
        registerer.register({ requestDelegate: { onAccept: d.onAccept, onReject: d.onReject } }).catch(() => undefined);
      })
    ).answer;
  }

  /** In-band provisioning: SUBSCRIBE `vnd-microsoft-provisioning-v2`, the configuration in the 200. */
  async provision(): Promise<{ answer: SipAnswer; provisioning?: ParsedProvisioning }> {
    const core = this.ua.userAgentCore;
    const aor = UserAgent.makeURI(this.o.aor) as Core.URI;
    const body = provisioningRequestBody();
    const message = core.makeOutgoingRequestMessage(
      'SUBSCRIBE',
      aor,
      aor,
      aor,
      {},
      [`Event: ${PROVISIONING_EVENT}`, `Accept: ${PROVISIONING_CONTENT_TYPE}`, 'Supported: com.microsoft.autoextend', 'Supported: ms-benotify', 'Supported: ms-piggyback-first-notify', 'Expires: 0', `Contact: <${this.ua.contact.uri.toString()}>`],
      { contentDisposition: 'render', contentType: PROVISIONING_CONTENT_TYPE, content: body },
    );
    const { answer, message: response } = await finalAnswer((d) => core.request(message, d));
    if (answer.status !== 200 || !response) return { answer };
    return { answer, provisioning: parseProvisioning(response.body ?? '', response.getHeader('content-type') ?? '') };
  }

  /**
   * Publishes the user's availability (and a note, when given) as Communicator does: SERVICE with the
   * categories ([MS-PRES]: the user state in the aggregation containers 2 and 3, the note in 200/300/400).
   * A 409 WrongDelta (versions this client did not know) is answered once more with the server's versions.
   */
  async publishPresence(availability: string, note?: string): Promise<SipAnswer> {
    const core = this.ua.userAgentCore;
    const aor = UserAgent.makeURI(this.o.aor) as Core.URI;
    for (let attempt = 0; ; attempt++) {
      const { body, keys } = categoryPublishFor(this.o.aor, availability, note, this.versions);
      const message = core.makeOutgoingRequestMessage('SERVICE', aor, aor, aor, {}, [`Contact: <${this.ua.contact.uri.toString()}>`], { contentDisposition: 'render', contentType: CATEGORY_PUBLISH_TYPE, content: body });
      const { answer, message: response } = await finalAnswer((d) => core.request(message, d));
      if (answer.status === 200) {
        for (const k of keys) this.versions.set(k, (this.versions.get(k) ?? 0) + 1);
        return answer;
      }
      const current = answer.status === 409 && attempt === 0 ? parseWrongDelta(response?.body ?? '') : undefined;
      if (!current) return answer;
      for (const op of current) {
        const k = keys[op.index - 1];
        if (k) this.versions.set(k, op.curVersion);
      }
    }
  }

  /**
   * Adds a contact to the default group ("Other Contacts") as Communicator's "Add a Contact" does: SERVICE
   * with the SOAP `setContact` ([MS-SIP] 3.6); the front end stores it on the user's home back end.
   */
  async addContact(contact: string, deltaNum: number): Promise<SipAnswer> {
    const core = this.ua.userAgentCore;
    const aor = UserAgent.makeURI(this.o.aor) as Core.URI;
    const uri = contact.toLowerCase();
    const soap = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip"><s:Body><m:setContact><m:displayName></m:displayName><m:groups>1</m:groups><m:subscribed>true</m:subscribed><m:URI>${xmlEscape(uri)}</m:URI><m:externalURI /><m:deltaNum>${deltaNum}</m:deltaNum></m:setContact></s:Body></s:Envelope>`;
    const message = core.makeOutgoingRequestMessage('SERVICE', aor, aor, aor, {}, [`Contact: <${this.ua.contact.uri.toString()}>`], { contentDisposition: 'render', contentType: 'application/SOAP+xml', content: soap });
    return (await finalAnswer((d) => core.request(message, d))).answer;
  }

  /**
   * The contact list on the server (SUBSCRIBE `vnd-microsoft-roaming-contacts`, the list in the 200), as
   * Communicator gets it at sign-in.
   */
  async contactList(): Promise<{ answer: SipAnswer; list?: ContactListView }> {
    const core = this.ua.userAgentCore;
    const aor = UserAgent.makeURI(this.o.aor) as Core.URI;
    const message = core.makeOutgoingRequestMessage(
      'SUBSCRIBE',
      aor,
      aor,
      aor,
      {},
      [`Event: ${ROAMING_CONTACTS_EVENT}`, `Accept: ${ROAMING_CONTACTS_TYPE}`, 'Supported: com.microsoft.autoextend', 'Supported: ms-piggyback-first-notify', 'Expires: 0', `Contact: <${this.ua.contact.uri.toString()}>`],
    );
    const { answer, message: response } = await finalAnswer((d) => core.request(message, d));
    if (answer.status !== 200 || !response) return { answer };
    const list = parseContactList(response.body ?? '');
    return list ? { answer, list } : { answer };
  }

  /** SUBSCRIBE to a contact's presence; every NOTIFY goes to `onPresence`. Resolves on the SUBSCRIBE's answer. */
  async subscribePresence(target: string): Promise<SipAnswer> {
    const uri = UserAgent.makeURI(target);
    if (!uri) return { status: 400, reason: `not a SIP URI: ${target}` };
    const key = target.toLowerCase();
    if (this.subscribers.has(key)) return { status: 200, reason: 'OK' };
    // Enhanced presence, as Communicator subscribes: a batched subscription to its own address naming the
    // contact and the categories wanted; a categories NOTIFY comes back for it.
    const self = UserAgent.makeURI(this.o.aor) as Core.URI;
    const sub = new Subscriber(this.ua, self, 'presence', {
      expires: 3600,
      extraHeaders: ['Require: adhoclist, categoryList', 'Supported: eventlist', `Accept: ${EVENT_CATEGORIES_TYPE}, application/pidf+xml`],
      contentType: BATCH_SUBSCRIBE_TYPE,
      body: batchSubscribeFor(this.o.aor, [key]),
    });
    sub.delegate = {
      onNotify: (n: Notification) => {
        n.accept().catch(() => undefined);
        const body = n.request.body ?? '';
        const type = (n.request.getHeader('content-type') ?? '').toLowerCase();
        const view = type.includes(EVENT_CATEGORIES_TYPE) ? viewOfCategories(body) : parsePidf(body);
        if (view) this.o.onPresence?.((view.entity || key).toLowerCase(), view);
      },
    };
    this.subscribers.set(key, sub);
    // sip.js reports the subscription's fate as states: Subscribed once the first NOTIFY says active.
    return new Promise<SipAnswer>((resolve) => {
      const timer = setTimeout(() => resolve({ status: 408, reason: 'Request Timeout (no NOTIFY from the server)' }), SIP_TIMEOUT_MS);
      sub.stateChange.addListener((s) => {
        if (s === SubscriptionState.Subscribed) {
          clearTimeout(timer);
          resolve({ status: 200, reason: 'OK' });
        } else if (s === SubscriptionState.Terminated) {
          clearTimeout(timer);
          this.subscribers.delete(key);
          resolve({ status: 481, reason: 'Subscription terminated by the server' });
        }
      });
      sub.subscribe().catch(() => undefined);
    });
  }

  /** Sends an IM (pager-mode MESSAGE) and resolves with the final response: 200 when delivered. */
  /**
   * Sends an IM as Communicator does: within the IM session with that user when there is one (a MESSAGE
   * in the dialog), else by opening one — INVITE with `m=message`, the text in its `ms-text-format`
   * (sent again as a MESSAGE when the 200 does not say `Supported: ms-text-format`). A peer that cannot
   * hold IM sessions (a generic SIP client answering 404, 415, 488, 501 or 606 itself, without the front
   * end's ms-diagnostics) gets a pager-mode MESSAGE. Resolves with
   * the answer that decided: 200 when delivered.
   */
  async sendIm(target: string, text: string): Promise<SipAnswer> {
    const uri = UserAgent.makeURI(target);
    if (!uri) return { status: 400, reason: `not a SIP URI: ${target}` };
    const key = `sip:${uri.user ?? ''}@${uri.host}`.toLowerCase();
    const open = this.imWith.get(key);
    if (open && open.state === SessionState.Established) {
      const within = await this.messageIn(open, text);
      if (within.status >= 200 && within.status < 300) return within;
      // The session is gone on the other side (the peer signed in elsewhere, or left): end it, open another.
      this.imWith.delete(key);
      open.bye().catch(() => undefined);
    }
    const inviter = new Inviter(this.ua, uri, {
      extraHeaders: [`ms-text-format: text/plain; charset=UTF-8;ms-body=${Buffer.from(text, 'utf8').toString('base64')}`, 'Supported: ms-text-format'],
    });
    inviter.delegate = { onMessage: (m: Message) => this.receive(m) };
    const { answer, message } = await finalAnswer((d) => {
      inviter.invite({ requestDelegate: { onAccept: d.onAccept, onReject: d.onReject } }).catch(() => undefined);
    });
    if (answer.status >= 200 && answer.status < 300) {
      this.track(key, inviter);
      const taken = (message?.getHeaders('supported') ?? []).some((v) => /\bms-text-format\b/i.test(v));
      return taken ? answer : this.messageIn(inviter, text);
    }
    // The peer (not the front end, whose refusals carry ms-diagnostics) cannot hold the session.
    if ([404, 415, 488, 501, 606].includes(answer.status) && !message?.hasHeader('ms-diagnostics')) return this.pager(uri, text);
    return answer;
  }

  /** A pager-mode MESSAGE (out of any dialog), for a peer that holds no IM sessions. */
  private async pager(uri: Core.URI, text: string): Promise<SipAnswer> {
    const messager = new Messager(this.ua, uri, text, 'text/plain');
    return (
      await finalAnswer((d) => {
        messager.message({ requestDelegate: { onAccept: d.onAccept, onReject: d.onReject } }).catch(() => undefined);
      })
    ).answer;
  }

  /** A MESSAGE within an IM session. */
  private async messageIn(session: Session, text: string): Promise<SipAnswer> {
    return (
      await finalAnswer((d) => {
        session
          .message({ requestDelegate: { onAccept: d.onAccept, onReject: d.onReject }, requestOptions: { body: { contentDisposition: 'render', contentType: 'text/plain', content: text } } })
          .catch(() => undefined);
      })
    ).answer;
  }

  /** Keeps an IM session with a peer (either side opened it) until it ends. */
  private track(peer: string, session: Session): void {
    this.imWith.set(peer, session);
    this.imSessions.add(session);
    session.stateChange.addListener((state) => {
      if (state !== SessionState.Terminated) return;
      this.imSessions.delete(session);
      if (this.imWith.get(peer) === session) this.imWith.delete(peer);
    });
  }

  /** Signs out: unsubscribe, unregister (Expires 0), close the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Each goodbye (unsubscribe, unregister) waits for its answer, but never longer than a SIP timeout.
    const bounded = (p: Promise<unknown>) => Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, CLOSE_WAIT_MS).unref())]);
    // unsubscribe() sends the SUBSCRIBE with Expires 0 without waiting: sip.js 0.21's dispose() waits for
    // an onTerminated its dialog never raises on a terminating NOTIFY (only Timer N, 32 s, ends it).
    for (const session of [...this.imSessions]) if (session.state === SessionState.Established) await bounded(session.bye());
    this.imSessions.clear();
    this.imWith.clear();
    for (const s of this.subscribers.values()) await bounded(s.unsubscribe());
    this.subscribers.clear();
    if (this.registerer) await bounded(this.registerer.dispose());
    // A goodbye still unanswered now never will be: end it before the user agent stops (which drops its
    // transaction silently), or the Registerer keeps its refresh and expiry timers for an hour.
    this.failUnanswered('signing out');
    await bounded(this.ua.stop());
    this.o.connected.socket.destroy();
    // Now, not when the socket's 'close' event comes round: the next client's dial sees the table as it is.
    this.o.connected.hangUp?.();
  }

  /**
   * Ends every request still waiting for its answer with the 503 that sip.js gives a request it could not
   * send (RFC 3261 §8.1.3.1: a transport failure is a 503). Over TCP and TLS the answer can only come back
   * on the same connection (RFC 3261 §18.2.2), so once that connection is lost, or the client is leaving,
   * nothing will answer them; and sip.js ends a registration (clears its wall-clock refresh and expiry
   * timers) only when a REGISTER is answered.
   */
  private failUnanswered(reason: string): void {
    for (const uac of [...this.ua.userAgentCore.userAgentClients.values()]) {
      const response = new Core.IncomingResponseMessage();
      response.statusCode = 503;
      response.reasonPhrase = `Service Unavailable (${reason})`;
      uac.transaction.receiveResponse(response);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// HTTPS (the address book)

export interface HttpsAnswer {
  status: number;
  statusText: string;
  body: string;
}

/** One HTTPS GET over an open, validated TLS socket, with Basic credentials (see the IIS adapter). */
export function httpsGet(socket: TLSSocket, host: string, path: string, credentials: { user: string; password: string }): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    // The socket is already TLS (validated by the caller): plain HTTP/1.1 framing over it.
    const req = httpRequest(
      {
        host,
        path,
        method: 'GET',
        createConnection: () => socket,
        headers: { host, authorization: `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`, 'user-agent': COMMUNICATOR_USER_AGENT, connection: 'close' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(CONNECT_TIMEOUT_MS, () => req.destroy(new Error('the request timed out')));
    req.on('error', reject);
    req.end();
  });
}
