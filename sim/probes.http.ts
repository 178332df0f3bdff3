/**
 * The HTTPS probe (decision 0016): one GET (or HEAD) as a client on the operator's workstation sends it,
 * over a connection of its own to a topology address, through the same `Dialer` as the other probes.
 *
 * - TLS: the certificate is checked as curl and Communicator check it — the chain against the probe's
 *   trust anchors (the lab root on the embedded lab, `trust.caFile` on a real target), then the name
 *   dialled against the SAN (the CN only without one). A certificate that fails either is the
 *   observation (`certificateNotTrusted`, `certificateNameMismatch`); no request is sent.
 * - Windows authentication is NTLM over HTTP as IIS 7 speaks it: connection-oriented, NEGOTIATE → 401
 *   with the CHALLENGE → AUTHENTICATE, all on one kept-alive connection ([MS-NLMP] 3.1.5, NTLMv2).
 *   The NTLM messages are the ones the lab's SIP stack already builds and verifies (emulators/ocs/sip.ntlm.ts).
 * - Kerberos needs a ticket from a KDC, which the probes do not ask for; the embedded lab's IIS accepts
 *   the lab's documented stand-in for a ticket (`KERBEROS_STAND_IN`) instead, and a real target reports
 *   such a request as not observed.
 *
 * Observations leave out what changes run to run (ports, dates, nonces); a body is read up to 4 MiB.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { request as httpRequest, Agent, type IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type TLSSocket } from 'node:tls';
import { authenticateMessage, NTLM, parseChallenge } from '../emulators/ocs/sip.ntlm.js';
import { verifyChain } from '../emulators/ca/certificate.js';
import { presented, type HttpQuery, type HttpResult, type PresentedCertificate } from './probes.js';
import type { Dialed } from './probes.wire.js';

export const MAX_PROBE_BODY = 4 * 1024 * 1024;

/**
 * The lab's stand-in for a Kerberos service ticket (a lab extension on the wire, like Digest for SIP):
 * `Authorization: Negotiate <base64 of this prefix, the client's UPN, ":" and a MAC of the UPN>`. Only the
 * embedded lab's probes send it and only the lab's IIS in the same process reads it; it stands for "a
 * domain-joined client presents a valid ticket for HTTP/<the name dialled>", which the IIS emulator then
 * decrypts or fails to, as http.sys would. The MAC's key is drawn once per process and never leaves it,
 * so a client of `ocslab serve` (curl, a browser) cannot forge a ticket: as on a real server, Kerberos
 * from outside needs what the lab has no KDC to issue. The key decides no outcome and is in no trace.
 */
export const KERBEROS_STAND_IN = 'OCSLAB-KERBEROS-STAND-IN:';
const STAND_IN_KEY = randomBytes(32);
const standInMac = (upn: string) => createHmac('sha256', STAND_IN_KEY).update(upn, 'utf8').digest('hex');

/** The Authorization header of the stand-in for `upn` (this process's key). */
export function standInTicket(upn: string): string {
  return `Negotiate ${Buffer.from(`${KERBEROS_STAND_IN}${upn}:${standInMac(upn)}`, 'utf8').toString('base64')}`;
}

/** The UPN a stand-in ticket was made for in this process; undefined for anything else (forged, foreign). */
export function standInPrincipal(token: Buffer): string | undefined {
  const text = token.toString('utf8');
  if (!text.startsWith(KERBEROS_STAND_IN)) return undefined;
  const m = /^(.*):([0-9a-f]{64})$/.exec(text.slice(KERBEROS_STAND_IN.length));
  if (!m?.[1] || !m[2]) return undefined;
  const want = Buffer.from(standInMac(m[1]), 'hex');
  const got = Buffer.from(m[2], 'hex');
  return timingSafeEqual(want, got) ? m[1] : undefined;
}

/** A NEGOTIATE_MESSAGE as an HTTP client sends it first: Unicode, NTLM, NTLMv2 session security, 128-bit. */
export function negotiateMessage(): Buffer {
  const flags = (NTLM.UNICODE | NTLM.OEM | NTLM.REQUEST_TARGET | NTLM.NTLM | NTLM.ALWAYS_SIGN | NTLM.EXTENDED_SESSIONSECURITY | NTLM.N128 | NTLM.N56 | NTLM.KEY_EXCH) >>> 0;
  const b = Buffer.alloc(32);
  b.write('NTLMSSP\0', 0, 'latin1');
  b.writeUInt32LE(1, 8);
  b.writeUInt32LE(flags, 12);
  // Domain and workstation fields empty (length 0, offset 32).
  b.writeUInt32LE(32, 20);
  b.writeUInt32LE(32, 28);
  return b;
}

export interface HttpProbeContext {
  dialed: Extract<Dialed, { ok: true }>;
  /** PEM trust anchors; an empty list trusts nothing. */
  trust: string[];
  timeoutMs: number;
  /** Where randomness and time come from (the lab's seeded ids and clock on the embedded lab). */
  bytes(n: number): Uint8Array;
  now(): number;
  /** Whether the Kerberos stand-in may be sent (the embedded lab only). */
  kerberosStandIn: boolean;
  /** The unreachable result for this address, with what the socket said. */
  unreachable(error: string): HttpResult;
}


const NO_ANSWER = /^E(CONNREFUSED|CONNRESET|HOSTUNREACH|NETUNREACH|TIMEDOUT|PIPE)$/;

/** Opens the connection (TLS for https) and judges the certificate, or says why there is none. */
function open(q: HttpQuery, c: HttpProbeContext): Promise<{ socket: Socket; certificate?: PresentedCertificate } | HttpResult> {
  const { dialed } = c;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: { socket: Socket; certificate?: PresentedCertificate } | HttpResult, socket?: Socket) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!('socket' in r)) socket?.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish(c.unreachable('timeout'), socket), c.timeoutMs);
    let socket: Socket;
    if (q.scheme === 'http') {
      socket = netConnect({ host: dialed.host, port: dialed.port });
      socket.once('connect', () => finish({ socket }));
      socket.once('error', (e: NodeJS.ErrnoException) => finish(c.unreachable(e.code ?? 'error'), socket));
      return;
    }
    const tlsSocket: TLSSocket = tlsConnect({ host: dialed.host, port: dialed.port, servername: q.host, rejectUnauthorized: false, ...(c.trust.length ? { ca: c.trust } : {}) });
    socket = tlsSocket;
    tlsSocket.once('secureConnect', () => {
      const peer = tlsSocket.getPeerCertificate(false);
      if (!peer?.raw) return finish({ ok: false, outcome: 'connectionRefused', detail: 'the server presented no certificate' }, tlsSocket);
      const certificate = presented(peer);
      // The chain against the anchors, at the client's time (the lab's clock on the embedded lab).
      const leaf = `-----BEGIN CERTIFICATE-----\n${peer.raw.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
      let why = c.trust.length ? '' : 'the client trusts no certification authority here';
      let trusted = false;
      for (const root of c.trust) {
        const r = verifyChain(leaf, root, c.now());
        if (r.ok) {
          trusted = true;
          break;
        }
        why = r.failure.kind === 'certificate.untrusted' && why ? why : r.failure.message;
      }
      if (!trusted) return finish({ ok: false, outcome: 'certificateNotTrusted', detail: `SSL certificate problem: ${why} (issuer ${certificate.issuerCN})`, certificate }, tlsSocket);
      const name = checkServerIdentity(q.host, peer);
      if (name) return finish({ ok: false, outcome: 'certificateNameMismatch', detail: `no alternative certificate subject name matches target host name '${q.host}' (the certificate names ${certificate.sans.join(', ') || certificate.subjectCN})`, certificate }, tlsSocket);
      finish({ socket: tlsSocket, certificate });
    });
    tlsSocket.once('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? 'error';
      // Refused before TLS began is no answer; a handshake the server resets (http.sys with no certificate to present) is refused too.
      if (NO_ANSWER.test(code) && code !== 'ECONNRESET') return finish(c.unreachable(code), tlsSocket);
      finish({ ok: false, outcome: 'connectionRefused', detail: `the TLS handshake failed (${code === 'ECONNRESET' ? 'the server reset it' : code})` }, tlsSocket);
    });
    tlsSocket.once('close', () => finish({ ok: false, outcome: 'connectionRefused', detail: 'the server closed the connection during the TLS handshake' }, tlsSocket));
  });
}

interface Answer {
  status: number;
  statusText: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** One request on the kept connection (the agent hands out only this socket). */
function exchange(agent: Agent, q: HttpQuery, authorization: string | undefined, timeoutMs: number): Promise<Answer | { error: string }> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: Answer | { error: string }) => {
      if (done) return;
      done = true;
      resolve(r);
    };
    const req = httpRequest(
      {
        agent,
        method: q.method ?? 'GET',
        path: q.path,
        headers: { host: q.host, 'user-agent': 'ocslab-probe', accept: '*/*', ...(authorization ? { authorization } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size > MAX_PROBE_BODY) {
            req.destroy();
            finish({ error: `the body is larger than ${MAX_PROBE_BODY} bytes` });
            return;
          }
          chunks.push(d);
        });
        res.on('end', () => finish({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', (e: NodeJS.ErrnoException) => finish({ error: e.code ?? e.message }));
        res.on('aborted', () => finish({ error: 'the server closed the connection mid-answer' }));
      },
    );
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      finish({ error: 'timeout' });
    });
    req.on('error', (e: NodeJS.ErrnoException) => finish({ error: e.code === 'ECONNRESET' || e.message === 'socket hang up' ? 'the server closed the connection without an answer' : (e.code ?? e.message) }));
    req.end();
  });
}

const schemes = (headers: IncomingMessage['headers']): string[] => {
  const v = headers['www-authenticate'];
  return (Array.isArray(v) ? v : v ? [v] : []).map((x) => x.split(/\s+/)[0] ?? '').filter(Boolean);
};

/** The NTLM CHALLENGE a 401 carries (`WWW-Authenticate: NTLM <base64>`), if any. */
function challengeOf(headers: IncomingMessage['headers']): Buffer | undefined {
  const v = headers['www-authenticate'];
  for (const h of Array.isArray(v) ? v : v ? [v] : []) {
    const m = /^(?:NTLM|Negotiate)\s+([A-Za-z0-9+/]+={0,2})$/i.exec(h.trim());
    if (m?.[1]) return Buffer.from(m[1], 'base64');
  }
  return undefined;
}

/** The GET itself, on a dialled address: the observation a check judges. */
export async function httpProbe(q: HttpQuery, c: HttpProbeContext): Promise<HttpResult> {
  if (q.auth === 'kerberos' && !c.kerberosStandIn) {
    return { ok: false, outcome: 'notObserved', detail: 'a Kerberos request needs a ticket from the domain\'s KDC, which the replay does not ask for; try it from a domain-joined client (Internet Explorer, or curl --negotiate after kinit)' };
  }
  const started = performance.now();
  const opened = await open(q, c);
  if (!('socket' in opened)) return opened;
  const { socket, certificate } = opened;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  // Every request of this probe goes over the connection just checked; a second one would not be, so a
  // request the agent would put on a new connection fails as that request's error (never a throw: the
  // agent asks from a socket's close handler, where a throw would take the process down).
  let handedOut = false;
  (agent as unknown as { createConnection: (o: unknown, cb: (e: Error | null, s?: Socket) => void) => Socket | undefined }).createConnection = (_o, cb) => {
    if (!handedOut) {
      handedOut = true;
      return socket;
    }
    process.nextTick(() => cb(new Error(CLOSED_AFTER_CHALLENGE)));
    return undefined;
  };
  const withCert = certificate ? { certificate } : {};
  // One deadline for the whole exchange: a server that dribbles a byte at a time never goes idle.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<HttpResult>((resolve) => {
    timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, outcome: 'noAnswer', detail: 'timeout', ...withCert });
    }, Math.max(1, c.timeoutMs - (performance.now() - started)));
  });
  try {
    return await Promise.race([deadline, requests(agent, socket, q, c, withCert)]);
  } finally {
    clearTimeout(timer);
    agent.destroy();
    socket.destroy();
  }
}

const CLOSED_AFTER_CHALLENGE = 'the server closed the connection after its NTLM challenge (NTLM over HTTP answers on the connection that carried the challenge; something in front of IIS is closing it)';

async function requests(agent: Agent, socket: Socket, q: HttpQuery, c: HttpProbeContext, withCert: { certificate?: PresentedCertificate }): Promise<HttpResult> {
  let authorization: string | undefined;
  if (q.auth === 'kerberos') authorization = standInTicket(q.kerberosPrincipal ?? '');
  else if (typeof q.auth === 'object') authorization = `NTLM ${negotiateMessage().toString('base64')}`;
  let a = await exchange(agent, q, authorization, c.timeoutMs);
  if ('error' in a) return { ok: false, outcome: 'noAnswer', detail: a.error, ...withCert };
  if (typeof q.auth === 'object' && a.status === 401) {
    const raw = challengeOf(a.headers);
    const challenge = raw ? parseChallenge(raw) : undefined;
    if (challenge) {
      if (socket.destroyed || /\bclose\b/i.test(String(a.headers.connection ?? ''))) return { ok: false, outcome: 'noAnswer', detail: CLOSED_AFTER_CHALLENGE, ...withCert };
      const { message } = authenticateMessage({
        challenge,
        user: q.auth.user,
        domain: q.auth.domain,
        workstation: 'OCSLAB-PROBE',
        password: q.auth.password,
        clientChallenge: c.bytes(8),
        exportedSessionKey: c.bytes(16),
        nowMs: c.now(),
      });
      a = await exchange(agent, q, `NTLM ${message.toString('base64')}`, c.timeoutMs);
      if ('error' in a) return { ok: false, outcome: 'noAnswer', detail: a.error, ...withCert };
    }
  }
  const contentType = a.headers['content-type'];
  return {
    ok: true,
    status: a.status,
    statusText: a.statusText,
    wwwAuthenticate: schemes(a.headers),
    ...(typeof contentType === 'string' ? { contentType } : {}),
    body: a.body,
    ...withCert,
  };
}
