/**
 * IIS 7.0 of one front end on the wire: HTTPS (and HTTP) on loopback, answering every request with the
 * IIS machine's own decision (`iisRequest` → `decideRequest`). The adapter only translates: bytes and
 * headers in, `HttpRequest` to the machine, `HttpResponse` (status, headers, body) or a refused
 * connection out.
 *
 * Listeners follow the machine's state (the adapter subscribes to the `iis:<host>` and `host:<host>`
 * actors):
 * - the TLS listener exists only while IIS is installed, W3SVC is Running and Default Web Site (or any
 *   site) has an https binding on port 443; it presents the certificate that binding names — the host's
 *   LocalMachine\My entry with that thumbprint (`certPem` + the key ring key `keyId`) — followed by the lab
 *   root when the CA issued it. A binding whose certificate is not in the store keeps the port open but
 *   resets every handshake (http.sys has nothing to present; curl 35). Rebinding swaps the certificate on
 *   the open listener.
 * - the HTTP listener exists only while the same holds for an http binding on port 80.
 * The configured ports (`httpsPort`, `httpPort`) stand for 443 and 80; port 0 picks a free port once, at
 * start, so the same port is reused whenever the binding comes and goes (before the binding a client gets
 * "connection refused", as in the seed before Step 3).
 *
 * Authentication: the decision's credentials come from the Authorization header.
 * - NTLM, as IIS's Windows authentication speaks it over HTTP: connection-oriented ([MS-NLMP] 3.1.5). A
 *   NEGOTIATE (`NTLM` or a raw NTLMSSP token under `Negotiate`) on a URL whose decision is a 401 offering
 *   NTLM gets a 401 with this connection's CHALLENGE; the AUTHENTICATE is verified as NTLMv2 against the
 *   account's password in the lab's AD (and the account must be usable: `adAuthenticate`), and the
 *   connection stays authenticated as that user, as IIS keeps an NTLM connection. A failed one is
 *   anonymous, so the client sees the decision's 401. Challenges come from the lab's seeded ids.
 * - `Negotiate` with the lab's Kerberos stand-in (sim/probes.http.ts, a documented lab extension: there
 *   is no KDC) is the decision's `kerberos`, so http.sys's ticket decryption is decided as configured.
 * - `Basic` over TLS is accepted for tools (curl -u 'CORP\user:pw'); the password is checked with
 *   `adAuthenticate` and a good one becomes `{ user: 'NETBIOS\sam', password }`.
 * - Anything else, and Basic over plain HTTP, is anonymous.
 *
 * Decision failures: `iis.connectionRefused` closes the connection without an answer; a certificate name
 * mismatch means the client chose to go on (curl -k), so the request is decided again under the name the
 * certificate carries, as the real server would simply serve it.
 *
 * Methods: GET and HEAD are decided as such; any other method is decided as GET and a 200 becomes 405
 * (the static file handler's answer), so authentication and SSL errors still come first.
 *
 * Bad input: request line + headers are capped at 16 KiB (HTTP.sys MaxRequestBytes; 431), undecodable
 * URLs get HTTP.sys's 400 "Invalid URL", request bodies over 64 KiB get 413 and the connection closes,
 * unparseable requests get 400 and the connection closes, a TLS handshake with garbage or plain HTTP just
 * fails. The listeners keep serving; an unexpected error in a handler becomes a 500.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { AnyActorRef, Subscription } from 'xstate';
import type { Lab } from '../../sim/lab.js';
import type { Listening } from '../../sim/wire.js';
import { adAccountPassword, adAuthenticate } from '../ad/ad.client.js';
import { acceptAuthenticate, challengeMessage, NTLM, parseAuthenticate } from '../ocs/sip.ntlm.js';
import { KERBEROS_STAND_IN, standInPrincipal } from '../../sim/probes.http.js';
import { caInfo } from '../ca/ca.client.js';
import { keyById } from '../ca/keyring.js';
import { hostCertificates } from '../host/host.client.js';
import type { HostCertificate } from '../host/host.events.js';
import type { Credentials, HttpRequest } from './iis.events.js';
import { iisInstalled, iisRequest, iisStore } from './iis.client.js';
import { w3svcState, type IisContext } from './iis.machine.js';
import type { HttpResponse } from './iis.requests.js';
import { allBindings, normalizeThumbprint, type Binding } from './iis.store.js';

export const MAX_HEADER_BYTES = 16 * 1024;
export const MAX_BODY_BYTES = 64 * 1024;
/** Connections per listener (IIS 7's site limit is unlimited by default; the lab holds a line a laptop can keep). */
export const MAX_CONNECTIONS = 5000;

export interface IisHttpsOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Stands for 443; 0 (default) picks a free port at start. */
  httpsPort?: number;
  /** Stands for 80; 0 (default) picks a free port at start. */
  httpPort?: number;
  /** The front end whose IIS is served (topology host name); default the first `ocsFrontEnd`. */
  server?: string;
}

export interface IisListening extends Listening {
  protocol: 'https';
  /** `https://<host>:<httpsPort>`. */
  url: string;
  /** The port standing for 443 (fixed for the adapter's life). */
  port: number;
  /** The port standing for 80. */
  httpPort: number;
  /** The front end served ("ocsfe01"). */
  server: string;
  /** Whether the TLS / plain listener is open now. */
  httpsListening(): boolean;
  httpListening(): boolean;
  /** The thumbprint of the certificate the TLS listener presents, if any. */
  presentedThumbprint(): string | undefined;
  /** Resolves once the listeners match the machine's state (after a step changed it). */
  settled(): Promise<void>;
}

/** What the listeners should be, read from the machines' snapshots. */
interface Desired {
  https: boolean;
  http: boolean;
  /** The certificate (leaf + chain) and key for the TLS listener; undefined → handshakes are reset. */
  tls?: { thumbprint: string; certPem: string; keyPem: string };
}

const bindingPort = (b: Binding): number => Number(b.bindingInformation.split(':')[1] ?? '0');
const bindingHost = (b: Binding): string => b.bindingInformation.split(':').slice(2).join(':');

/** A free loopback port, found by listening on 0 and closing. */
async function freePort(host: string): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, host, () => resolve());
  });
  const address = s.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Host header → the name dialled (no port, no brackets), or undefined when absent/invalid. */
export function hostName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const h = header.trim();
  const bracket = /^\[([0-9a-f:.]+)\](?::\d+)?$/i.exec(h);
  if (bracket) return bracket[1];
  const m = /^([A-Za-z0-9._-]{1,253})(?::\d{1,5})?$/.exec(h);
  return m?.[1]?.toLowerCase();
}

/** The decision's credentials from an Authorization header (Basic only over TLS, checked against AD). */
export function credentialsFrom(lab: Lab, header: string | undefined, overTls: boolean): Credentials {
  if (!header || !overTls) return 'anonymous';
  const m = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header);
  if (!m?.[1]) return 'anonymous';
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0 || decoded.length > 1024) return 'anonymous';
  const name = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  const r = adAuthenticate(lab.get('ad'), { name, password });
  if (!r.ok) return 'anonymous';
  return { user: `${lab.topology.forest.netbios}\\${r.value.sam}`, password };
}

/** What IIS 7 on Windows Server 2008 sets in an HTTP CHALLENGE (connection-oriented: no DATAGRAM). */
export const HTTP_CHALLENGE_FLAGS = (NTLM.UNICODE | NTLM.REQUEST_TARGET | NTLM.SIGN | NTLM.NTLM | NTLM.ALWAYS_SIGN | NTLM.TARGET_TYPE_DOMAIN | NTLM.EXTENDED_SESSIONSECURITY | NTLM.TARGET_INFO | NTLM.VERSION | NTLM.N128 | NTLM.KEY_EXCH | NTLM.N56) >>> 0;

/** An Authorization header's Windows-authentication token: NTLM's messages, or the lab's Kerberos stand-in. */
export type WindowsToken = { kind: 'negotiate' } | { kind: 'authenticate'; token: Buffer } | { kind: 'kerberos' } | { kind: 'forged' } | undefined;

export function windowsToken(header: string | undefined): WindowsToken {
  const m = /^(NTLM|Negotiate)\s+([A-Za-z0-9+/]{1,16384}={0,2})\s*$/i.exec(header ?? '');
  if (!m?.[2]) return undefined;
  const token = Buffer.from(m[2], 'base64');
  if (/^negotiate$/i.test(m[1] ?? '') && token.toString('utf8').startsWith(KERBEROS_STAND_IN)) return standInPrincipal(token) !== undefined ? { kind: 'kerberos' } : { kind: 'forged' };
  if (token.length < 12 || token.toString('latin1', 0, 8) !== 'NTLMSSP\0') return undefined;
  const type = token.readUInt32LE(8);
  return type === 1 ? { kind: 'negotiate' } : type === 3 ? { kind: 'authenticate', token } : undefined;
}

/** The URL path of a request target (origin- or absolute-form); undefined when undecodable. */
export function requestPath(target: string | undefined): string | undefined {
  if (!target) return undefined;
  let path = target;
  if (!path.startsWith('/')) {
    const m = /^https?:\/\/[^/]*(\/.*)?$/i.exec(path);
    if (!m) return undefined;
    path = m[1] ?? '/';
  }
  path = path.split('?')[0] ?? '/';
  try {
    decodeURIComponent(path);
  } catch {
    return undefined;
  }
  return path;
}

function leafAndChain(cert: HostCertificate, lab: Lab): string {
  const leaf = cert.certPem.endsWith('\n') ? cert.certPem : `${cert.certPem}\n`;
  const ca = lab.get('ca');
  if (!ca) return leaf;
  try {
    const rootPem = caInfo(ca).certPem;
    const root = new X509Certificate(rootPem);
    if (new X509Certificate(leaf).checkIssued(root)) return `${leaf}${rootPem.endsWith('\n') ? rootPem : `${rootPem}\n`}`;
  } catch {
    return leaf;
  }
  return leaf;
}

/** Whether a decided 401 offers NTLM (Windows authentication is enabled there). */
const offersNtlm = (r: HttpResponse): boolean => [r.headers['WWW-Authenticate'] ?? []].flat().some((h) => /^NTLM\b/i.test(String(h)));

/** How many times each front end's IIS listeners were started in a lab (the NTLM ids stream of each start). */
const starts = new WeakMap<Lab, Map<string, number>>();
function nextStart(lab: Lab, server: string): number {
  const byServer = starts.get(lab) ?? new Map<string, number>();
  starts.set(lab, byServer);
  const n = byServer.get(server) ?? 0;
  byServer.set(server, n + 1);
  return n;
}

const BAD_REQUEST = (text: string, close = true) =>
  `HTTP/1.1 400 Bad Request\r\nContent-Type: text/html; charset=us-ascii\r\nServer: Microsoft-HTTPAPI/2.0\r\n${close ? 'Connection: close\r\n' : ''}Content-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`;

export async function startIisHttps(lab: Lab, options: IisHttpsOptions = {}): Promise<IisListening> {
  const host = options.host ?? '127.0.0.1';
  const serverName = (options.server ?? lab.topology.hosts.find((h) => h.roles.includes('ocsFrontEnd'))?.name ?? '').toLowerCase();
  if (!serverName) throw new Error('startIisHttps: the topology has no ocsFrontEnd host');
  const iisId = `iis:${serverName}`;
  const iis = (): AnyActorRef | undefined => lab.get(iisId);
  if (!iis()) throw new Error(`startIisHttps: lab has no actor "${iisId}"`);
  const hostRef = (): AnyActorRef | undefined => lab.get(`host:${serverName}`);
  const httpsPort = options.httpsPort || (await freePort(host));
  const httpPort = options.httpPort || (await freePort(host));

  function desired(): Desired {
    const ref = iis();
    if (!ref || !iisInstalled(ref)) return { https: false, http: false };
    const ctx = (ref.getSnapshot() as { context: IisContext }).context;
    const running = w3svcState(ctx.w3svc) === 'Running';
    if (!running) return { https: false, http: false };
    const bindings = allBindings(iisStore(ref));
    const tlsBindings = bindings.filter((b) => b.protocol === 'https' && bindingPort(b) === 443);
    const http = bindings.some((b) => b.protocol === 'http' && bindingPort(b) === 80);
    if (!tlsBindings.length) return { https: false, http };
    const binding = tlsBindings.find((b) => bindingHost(b) === '') ?? tlsBindings[0];
    const thumbprint = binding?.certificateHash ? normalizeThumbprint(binding.certificateHash) : '';
    const cert = hostCertificates(hostRef()).find((c) => normalizeThumbprint(c.thumbprint) === thumbprint);
    if (!cert) return { https: true, http };
    try {
      return { https: true, http, tls: { thumbprint, certPem: leafAndChain(cert, lab), keyPem: keyById(cert.keyId).privateKeyPem } };
    } catch {
      return { https: true, http };
    }
  }

  // NTLM is connection-oriented: the CHALLENGE a connection was sent, and whom it authenticated.
  const ntlmIds = lab.ids.fork(`iis-ntlm:${serverName}:${nextStart(lab, serverName)}`);
  const challenges = new WeakMap<net.Socket, Buffer>();
  const authenticated = new WeakMap<net.Socket, Credentials>();
  const forest = lab.topology.forest;
  const ntlmTarget = {
    nbDomain: forest.netbios,
    nbComputer: serverName.toUpperCase(),
    dnsDomain: forest.fqdn,
    dnsComputer: lab.topology.hosts.find((h) => h.name.toLowerCase() === serverName)?.fqdn ?? serverName,
    dnsTree: forest.fqdn,
  };

  /** An AUTHENTICATE against the connection's CHALLENGE: the account it proves, if the account may sign in. */
  function ntlmAccount(socket: net.Socket, token: Buffer): Credentials | undefined {
    const challenge = challenges.get(socket);
    challenges.delete(socket);
    const a = challenge ? parseAuthenticate(token) : undefined;
    if (!challenge || !a) return undefined;
    const inForest = a.domain === '' || [forest.netbios, forest.fqdn].some((d) => d.toLowerCase() === a.domain.toLowerCase());
    const sam = a.domain === '' ? (a.user.split('@')[0] ?? '') : a.user;
    const password = inForest ? adAccountPassword(lab.get('ad'), sam) : undefined;
    if (password === undefined || !acceptAuthenticate(a, challenge, password)) return undefined;
    const r = adAuthenticate(lab.get('ad'), { name: `${forest.netbios}\\${sam}`, password });
    if (!r.ok) return undefined;
    const credentials = { user: `${forest.netbios}\\${r.value.sam}`, password };
    authenticated.set(socket, credentials);
    return credentials;
  }

  let current: Desired['tls'];
  let stopped = false;

  const handler = (scheme: 'http' | 'https') => (req: http.IncomingMessage, res: http.ServerResponse) => {
    try {
      serve(scheme, req, res);
    } catch {
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'text/html', Server: 'Microsoft-IIS/7.0', Connection: 'close' });
        res.end('<h2>500 - Internal server error.</h2>');
      } else res.destroy();
    }
  };

  function serve(scheme: 'http' | 'https', req: http.IncomingMessage, res: http.ServerResponse): void {
    const length = Number(req.headers['content-length'] ?? '0');
    if ((Number.isFinite(length) && length > MAX_BODY_BYTES) || !Number.isFinite(length)) {
      res.writeHead(413, { 'Content-Type': 'text/html', Server: 'Microsoft-IIS/7.0', Connection: 'close' });
      res.end('<h2>413 - Request Entity Too Large</h2>');
      return;
    }
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > MAX_BODY_BYTES) req.socket.destroy();
    });
    req.on('error', () => undefined);
    const path = requestPath(req.url);
    if (path === undefined) {
      res.writeHead(400, { 'Content-Type': 'text/html; charset=us-ascii', Server: 'Microsoft-HTTPAPI/2.0', Connection: 'close' });
      res.end('<h2>Bad Request - Invalid URL</h2><hr><p>HTTP Error 400. The request URL is invalid.</p>');
      return;
    }
    const method = req.method === 'HEAD' ? 'HEAD' : 'GET';
    const hostHeader = hostName(req.headers.host);
    const token = windowsToken(req.headers.authorization);
    const socket = req.socket;
    let credentials: Credentials = authenticated.get(socket) ?? credentialsFrom(lab, req.headers.authorization, scheme === 'https');
    if (token?.kind === 'kerberos') credentials = 'kerberos';
    // A stand-in not made by this process's probes is no ticket: anonymous, answered 401 as a bad one is.
    else if (token?.kind === 'forged') credentials = 'anonymous';
    else if (token?.kind === 'authenticate') credentials = ntlmAccount(socket, token.token) ?? 'anonymous';
    const ask = (hostHeaderName: string | undefined) => {
      const r: HttpRequest = { scheme, path, credentials, clientTrustsCertificate: true, method, ...(hostHeaderName ? { hostHeader: hostHeaderName } : {}) };
      return iisRequest(iis(), r);
    };
    let decided = ask(hostHeader);
    if (!decided.ok && decided.failure.kind === 'iis.certificateNameMismatch') {
      const presented = decided.failure.presented;
      const name = Array.isArray(presented) && typeof presented[0] === 'string' ? presented[0] : undefined;
      if (name) decided = ask(name);
    }
    if (token?.kind === 'negotiate' && decided.ok && decided.value.status === 401 && offersNtlm(decided.value)) {
      // The handshake's second leg: this connection's CHALLENGE, on the 401 the URL gives anyone unauthenticated.
      const challenge = Buffer.from(ntlmIds.bytes(8));
      challenges.set(socket, challenge);
      write(res, method, { ...decided.value, headers: { ...decided.value.headers, 'WWW-Authenticate': `NTLM ${challengeMessage(challenge, ntlmTarget, HTTP_CHALLENGE_FLAGS).toString('base64')}` } });
      return;
    }
    if (!decided.ok) {
      // connectionRefused (W3SVC stopped, binding gone, certificate missing) or anything unexpected: no answer.
      res.socket?.destroy();
      return;
    }
    write(res, req.method ?? 'GET', decided.value);
  }

  function write(res: http.ServerResponse, method: string, answer: HttpResponse): void {
    if (method !== 'GET' && method !== 'HEAD' && answer.status === 200) {
      const body = '<h2>405 - HTTP verb used to access this page is not allowed.</h2>';
      res.writeHead(405, 'Method Not Allowed', { 'Content-Type': 'text/html', Server: 'Microsoft-IIS/7.0', 'X-Powered-By': 'ASP.NET', Allow: 'GET, HEAD, OPTIONS, TRACE', 'Content-Length': String(Buffer.byteLength(body)) });
      res.end(body);
      return;
    }
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(answer.headers)) headers[k] = v;
    const body = Buffer.from(answer.body, 'utf8');
    headers['Content-Length'] = String(body.length);
    res.writeHead(answer.status, answer.statusText, headers);
    res.end(method === 'HEAD' ? undefined : body);
  }

  const serverOptions = { maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 30_000, headersTimeout: 15_000, keepAliveTimeout: 5_000 };
  const onClientError = (err: NodeJS.ErrnoException, socket: net.Socket) => {
    if (socket.writable && !socket.destroyed && (err.code === 'HPE_HEADER_OVERFLOW' || err.code?.startsWith('HPE_'))) {
      socket.end(err.code === 'HPE_HEADER_OVERFLOW' ? 'HTTP/1.1 431 Request Header Fields Too Large\r\nServer: Microsoft-HTTPAPI/2.0\r\nConnection: close\r\nContent-Length: 0\r\n\r\n' : BAD_REQUEST('<h2>Bad Request</h2><hr><p>HTTP Error 400. The request is badly formed.</p>'));
    }
    socket.destroy();
  };

  // http.sys's own lines: a TLS handshake within 15 s (as the header wait), at most MAX_CONNECTIONS at once.
  const tlsServer = https.createServer({ ...serverOptions, minVersion: 'TLSv1.2', handshakeTimeout: 15_000 }, handler('https'));
  tlsServer.maxConnections = MAX_CONNECTIONS;
  tlsServer.on('clientError', onClientError);
  tlsServer.on('tlsClientError', (_err, socket) => socket.destroy());
  tlsServer.on('error', () => undefined);
  // With no certificate for the binding, http.sys resets the handshake.
  tlsServer.prependListener('connection', (socket: net.Socket) => {
    socket.on('error', () => undefined);
    if (!current) socket.destroy();
  });
  const plainServer = http.createServer(serverOptions, handler('http'));
  plainServer.maxConnections = MAX_CONNECTIONS;
  plainServer.on('clientError', onClientError);
  plainServer.on('error', () => undefined);
  plainServer.on('connection', (socket: net.Socket) => socket.on('error', () => undefined));

  let tlsOpen = false;
  let plainOpen = false;

  /** The error of the last listen that failed (a port in use); the first reconcile reports it to the caller. */
  let listenError: (Error & { code?: string; port?: number }) | undefined;
  const listen = (s: net.Server, port: number) =>
    new Promise<boolean>((resolve) => {
      const onError = (e: Error & { code?: string }) => {
        listenError = Object.assign(e, { port });
        resolve(false);
      };
      s.once('error', onError);
      s.listen(port, host, () => {
        s.off('error', onError);
        resolve(true);
      });
    });
  const close = (s: http.Server) =>
    new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });

  async function reconcile(): Promise<void> {
    if (stopped) return;
    const want = desired();
    if (want.tls && (want.tls.thumbprint !== current?.thumbprint || want.tls.certPem !== (current?.certPem ?? ''))) {
      tlsServer.setSecureContext({ cert: want.tls.certPem, key: want.tls.keyPem, minVersion: 'TLSv1.2' });
    }
    current = want.tls;
    if (want.https && !tlsOpen) tlsOpen = await listen(tlsServer, httpsPort);
    else if (!want.https && tlsOpen) {
      tlsOpen = false;
      await close(tlsServer);
    }
    if (want.http && !plainOpen) plainOpen = await listen(plainServer, httpPort);
    else if (!want.http && plainOpen) {
      plainOpen = false;
      await close(plainServer);
    }
  }

  // Serialize reconciliations: each change queues one more pass after the running one.
  let chain: Promise<void> = Promise.resolve();
  let queued = false;
  const schedule = () => {
    if (queued || stopped) return chain;
    queued = true;
    chain = chain.then(() => {
      queued = false;
      return reconcile();
    }).catch(() => undefined);
    return chain;
  };

  const subscriptions: Subscription[] = [];
  const follow = (ref: AnyActorRef | undefined) => {
    if (ref) subscriptions.push(ref.subscribe({ next: () => void schedule(), error: () => undefined }));
  };
  follow(iis());
  follow(hostRef());
  await schedule();
  if (listenError) {
    // Starting must not advertise a port another process holds.
    stopped = true;
    for (const sub of subscriptions) sub.unsubscribe();
    await Promise.all([tlsOpen ? close(tlsServer) : undefined, plainOpen ? close(plainServer) : undefined]);
    throw listenError;
  }

  return {
    protocol: 'https',
    host,
    port: httpsPort,
    httpPort,
    url: `https://${host}:${httpsPort}`,
    server: serverName,
    httpsListening: () => tlsOpen,
    httpListening: () => plainOpen,
    presentedThumbprint: () => (tlsOpen ? current?.thumbprint : undefined),
    settled: async () => {
      await schedule();
      await chain;
    },
    async stop() {
      stopped = true;
      for (const s of subscriptions.splice(0)) s.unsubscribe();
      await chain;
      if (tlsOpen) await close(tlsServer);
      if (plainOpen) await close(plainServer);
      tlsOpen = false;
      plainOpen = false;
    },
  };
}
