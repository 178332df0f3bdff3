/**
 * The enterprise CA's web side, as the CA host's IIS serves it over plain HTTP: the `/CertEnroll`
 * publication folder (the CRL and the CA certificate that issued certificates point at in their CDP and AIA)
 * and the `/certsrv` web enrollment pages a browser, curl or a script uses.
 *
 * Translation only: every answer comes from `ca.client.ts` (`caInfo`, `caDatabase` identity URLs,
 * `caCrlPem`, `caSubmitRequest`, `caRetrieve`); nothing here decides anything about certificates.
 *
 * Routes:
 * - `GET /CertEnroll/<CA name>.crl` — the CRL last published, DER, `application/pkix-crl` (the path of the
 *   HTTP URL in the CDP, `caInfo().crlUrl`).
 * - `GET /CertEnroll/<CA host FQDN>_<CA name>.crt` — the CA certificate, DER, `application/pkix-cert` (the
 *   HTTP URL in the AIA).
 * - `GET /certsrv/certnew.cer?ReqID=<n>|CACert&Enc=b64|bin` — an issued (or revoked) certificate, base64
 *   (PEM) or DER; a pending request gets the "Certificate Pending" page, a denied one the "Certificate
 *   Request Denied" page with the CA's disposition (both 200, as the ASP pages answer), an unknown id 404
 *   with CRYPT_E_NOT_FOUND, the CA offline 503 with the RPC error.
 * - `POST /certsrv/certfnsh.asp` (form `Mode=newreq`, `CertRequest=<PEM or bare base64 PKCS#10>`,
 *   `CertAttrib=CertificateTemplate:<name>` lines) — submits; issued → the certificate (PEM), pending → the
 *   "Your Request Id is N" page (200), CA offline → 503, bad request / unknown template → 400. With
 *   `Accept: application/json` every answer is `{ status, requestId?, certPem?, kind?, message? }` with the
 *   same HTTP status.
 *
 * Requester: web enrollment runs as the authenticated user. A `Basic` Authorization header is checked with
 * `adAuthenticate` (wrong password → 401) and the request is recorded for `NETBIOS\sam`; without one the
 * requester is `NT AUTHORITY\ANONYMOUS LOGON` (real certsrv insists on Windows authentication: a gap).
 *
 * Bad input never crashes: headers are capped at 16 KiB (431), form bodies at 64 KiB (413), malformed
 * forms, URLs and methods get 400/404/405, and a handler error becomes a 500 page.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { AnyActorRef } from 'xstate';
import type { Lab } from '../../sim/lab.js';
import type { ListenOptions, Listening } from '../../sim/wire.js';
import { adAuthenticate } from '../ad/ad.client.js';
import { caDatabase, caInfo, caCrlPem, caRetrieve, caSubmitRequest, type CaFailure } from './ca.client.js';

/** Largest accepted form body (a 4096-bit PKCS#10 in base64 is well under 8 KiB). */
export const MAX_FORM_BYTES = 64 * 1024;
/** HTTP.sys MaxRequestBytes default (request line + headers). */
export const MAX_HEADER_BYTES = 16 * 1024;

const SERVER_HEADERS = { Server: 'Microsoft-IIS/7.0', 'X-Powered-By': 'ASP.NET' } as const;
const ANONYMOUS_REQUESTER = 'NT AUTHORITY\\ANONYMOUS LOGON';

/** PEM (any label) → DER bytes. */
export function pemToDer(pem: string): Buffer {
  const b64 = pem.replace(/-----(BEGIN|END)[^-]*-----/g, '').replace(/\s+/g, '');
  return Buffer.from(b64, 'base64');
}

/** What certfnsh.asp gets in `CertRequest`: PEM with either header, or bare base64 → "CERTIFICATE REQUEST" PEM. */
export function normalizeCsr(text: string): string | undefined {
  const body = text
    .replace(/-----BEGIN (NEW )?CERTIFICATE REQUEST-----/, '')
    .replace(/-----END (NEW )?CERTIFICATE REQUEST-----/, '')
    .replace(/\s+/g, '');
  if (!body || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return undefined;
  const lines = body.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE REQUEST-----\n${lines.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

/** `CertificateTemplate:WebServer` among the CertAttrib lines (separated by CR/LF), or undefined. */
export function templateFromAttrib(attrib: string): string | undefined {
  for (const line of attrib.split(/[\r\n]+/)) {
    const m = /^\s*CertificateTemplate\s*:\s*(\S+)\s*$/i.exec(line);
    if (m?.[1]) return m[1];
  }
  return undefined;
}

function htmlPage(title: string, body: string): string {
  return `<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><title>Microsoft Active Directory Certificate Services</title></head>
<body><font face="Arial" size="-1"><b>Microsoft</b> Active Directory Certificate Services</font>
<p><b>${title}</b></p>
${body}
</body></html>
`;
}

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);

const pendingPage = (caName: string, requestId: number) =>
  htmlPage(
    'Certificate Pending',
    `<p>Your certificate request has been received. However, you must wait for an administrator to issue the certificate you requested.</p>\n<p>Your Request Id is ${requestId}.</p>\n<p>Please return to this web site in a day or two to retrieve your certificate.</p>\n<p>Note: You must return with this web browser within 10 days to retrieve your certificate.</p>\n<!-- ${escapeHtml(caName)} -->`,
  );

const deniedPage = (message: string) =>
  htmlPage('Certificate Request Denied', `<p>Your certificate request was denied.</p>\n<p>Contact your administrator for further information.</p>\n<p>The disposition message is "${escapeHtml(message)}".</p>`);

const errorPage = (message: string) =>
  htmlPage('Error', `<p>An unexpected error has occurred:</p>\n<p>${escapeHtml(message)}</p>`);

const notFoundPage = () =>
  '<!DOCTYPE html><html><head><title>404 - File or directory not found.</title></head><body><h2>404 - File or directory not found.</h2><h3>The resource you are looking for might have been removed, had its name changed, or is temporarily unavailable.</h3></body></html>\n';

/** HTTP status for a CA failure. */
function statusFor(f: CaFailure): number {
  switch (f.kind) {
    case 'ca.unavailable':
      return 503;
    case 'ca.noSuchRequest':
      return 404;
    case 'ca.denied':
      return 200;
    default:
      return 400;
  }
}

const wantsJson = (req: Request): boolean => /application\/json/i.test(String(req.headers.accept ?? ''));

function send(res: Response, status: number, contentType: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.status(status).set({ ...SERVER_HEADERS, 'Content-Type': contentType, ...extra }).send(body);
}

function sendFailure(req: Request, res: Response, f: CaFailure): void {
  const status = statusFor(f);
  if (wantsJson(req)) {
    const requestId = typeof f.requestId === 'number' ? { requestId: f.requestId } : {};
    res.status(status).set(SERVER_HEADERS).json({ status: f.kind === 'ca.denied' ? 'denied' : 'failed', kind: f.kind, message: f.message, ...requestId });
    return;
  }
  if (f.kind === 'ca.denied') return send(res, status, 'text/html; charset=utf-8', deniedPage(f.message));
  if (f.kind === 'ca.unavailable') return send(res, status, 'text/plain; charset=utf-8', `${f.message}\r\n`);
  send(res, status, 'text/html; charset=utf-8', errorPage(f.message));
}

/** The lower-cased URL path of an http:// URL, decoded; undefined if none. */
function httpPath(urls: readonly string[]): string | undefined {
  for (const u of urls) {
    if (!/^http:\/\//i.test(u)) continue;
    try {
      return decodeURIComponent(new URL(u).pathname).toLowerCase();
    } catch {
      continue;
    }
  }
  return undefined;
}

export interface CaHttpListening extends Listening {
  protocol: 'http';
  url: string;
  /** The URL path of the CRL (from the CDP), e.g. `/CertEnroll/corp-DC01-CA.crl`. */
  crlPath: string;
  /** The URL path of the CA certificate (from the AIA), e.g. `/CertEnroll/dc01.corp.example.net_corp-DC01-CA.crt`. */
  caCertPath: string;
}

/** Builds the express application serving the lab's CA (no socket). */
export function caHttpApp(lab: Lab): express.Express {
  const ca = (): AnyActorRef | undefined => lab.get('ca');
  const netbios = lab.topology.forest.netbios;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');

  /** Requester from an optional Basic header: a name, 'anonymous', or undefined for bad credentials. */
  const requester = (req: Request): string | undefined => {
    const header = String(req.headers.authorization ?? '');
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (!m?.[1]) return ANONYMOUS_REQUESTER;
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return undefined;
    const r = adAuthenticate(lab.get('ad'), { name: decoded.slice(0, colon), password: decoded.slice(colon + 1) });
    return r.ok ? `${netbios}\\${r.value.sam}` : undefined;
  };

  app.get(/^\/certenroll\/[^/]+$/i, (req, res) => {
    const info = caInfo(ca());
    let path: string;
    try {
      path = decodeURIComponent(req.path).toLowerCase();
    } catch {
      return send(res, 400, 'text/html', errorPage('Bad Request - Invalid URL'));
    }
    if (path === httpPath([info.crlUrl])) return send(res, 200, 'application/pkix-crl', pemToDer(caCrlPem(ca())));
    if (path === httpPath(caDatabase(ca()).identity.aia)) return send(res, 200, 'application/pkix-cert', pemToDer(info.certPem));
    send(res, 404, 'text/html', notFoundPage());
  });

  app.get(/^\/certsrv\/certnew\.(cer|p7b)$/i, (req, res) => {
    const q = req.query as Record<string, unknown>;
    const reqId = typeof q.ReqID === 'string' ? q.ReqID : '';
    const enc = typeof q.Enc === 'string' && /^bin$/i.test(q.Enc) ? 'bin' : 'b64';
    const deliver = (certPem: string) =>
      enc === 'bin'
        ? send(res, 200, 'application/pkix-cert', pemToDer(certPem), { 'Content-Disposition': 'attachment; filename="certnew.cer"' })
        : send(res, 200, 'application/pkix-cert', certPem, { 'Content-Disposition': 'attachment; filename="certnew.cer"' });
    if (/^cacert$/i.test(reqId)) return deliver(caInfo(ca()).certPem);
    if (!/^\d{1,9}$/.test(reqId)) {
      return sendFailure(req, res, { kind: 'ca.badRequest', message: `ReqID must be a request id or CACert, got "${reqId.slice(0, 40)}".` });
    }
    const r = caRetrieve(ca(), { requestId: Number(reqId) });
    if (!r.ok) return sendFailure(req, res, r.failure);
    const v = r.value;
    if (wantsJson(req)) {
      res.status(200).set(SERVER_HEADERS).json(v.status === 'pending' ? { status: v.status, requestId: v.requestId } : { status: v.status, requestId: v.requestId, certPem: v.certPem });
      return;
    }
    if (v.status === 'pending') return send(res, 200, 'text/html; charset=utf-8', pendingPage(caInfo(ca()).name, v.requestId));
    deliver(v.certPem);
  });

  app.post(
    /^\/certsrv\/certfnsh\.asp$/i,
    express.urlencoded({ extended: false, limit: MAX_FORM_BYTES, parameterLimit: 32, type: () => true }),
    (req, res) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const field = (name: string): string => {
        const v = body[name];
        return typeof v === 'string' ? v : '';
      };
      if (field('Mode') && !/^newreq$/i.test(field('Mode'))) {
        return sendFailure(req, res, { kind: 'ca.badRequest', message: `Unsupported Mode "${field('Mode').slice(0, 40)}": only newreq is handled.` });
      }
      const csrPem = normalizeCsr(field('CertRequest'));
      if (!csrPem) return sendFailure(req, res, { kind: 'ca.badRequest', message: 'The CertRequest field does not hold a base64 PKCS #10 certificate request.' });
      const who = requester(req);
      if (who === undefined) {
        res.status(401).set({ ...SERVER_HEADERS, 'WWW-Authenticate': ['Negotiate', 'NTLM'], 'Content-Type': 'text/html' }).send(errorPage('401 - Unauthorized: Access is denied due to invalid credentials.'));
        return;
      }
      const template = templateFromAttrib(field('CertAttrib')) ?? '';
      const r = caSubmitRequest(ca(), { csrPem, template, requester: who });
      if (!r.ok) return sendFailure(req, res, r.failure);
      const v = r.value;
      if (wantsJson(req)) {
        res.status(200).set(SERVER_HEADERS).json(v.status === 'issued' ? { status: v.status, requestId: v.requestId, certPem: v.certPem } : { status: v.status, requestId: v.requestId });
        return;
      }
      if (v.status === 'pending') return send(res, 200, 'text/html; charset=utf-8', pendingPage(caInfo(ca()).name, v.requestId));
      send(res, 200, 'application/pkix-cert', v.certPem, { 'Content-Disposition': 'attachment; filename="certnew.cer"' });
    },
  );

  app.all(/^\/(certenroll|certsrv)\//i, (req, res) => {
    if (req.method === 'GET' || req.method === 'HEAD') return send(res, 404, 'text/html', notFoundPage());
    send(res, 405, 'text/html', errorPage(`405 - HTTP verb used to access this page is not allowed (${req.method.slice(0, 16)}).`), { Allow: 'GET, HEAD, POST' });
  });
  app.use((_req: Request, res: Response) => send(res, 404, 'text/html', notFoundPage()));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500;
    const safe = status >= 400 && status < 600 ? status : 500;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    send(res, safe, 'text/html', errorPage(safe === 413 ? 'The request is too large.' : safe === 500 ? 'Internal server error.' : 'Bad request.'));
  });
  return app;
}

/** Starts the CA's HTTP endpoints on loopback (default 127.0.0.1, port 0 = a free port). */
export async function startCaHttp(lab: Lab, options: ListenOptions = {}): Promise<CaHttpListening> {
  const host = options.host ?? '127.0.0.1';
  const app = caHttpApp(lab);
  const server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 30_000, headersTimeout: 15_000, keepAliveTimeout: 5_000 }, app);
  // As IIS's own listener in front of /certsrv and /CertEnroll: at most this many connections at once.
  server.maxConnections = 5000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable && !socket.destroyed) {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/html; charset=us-ascii\r\nServer: Microsoft-HTTPAPI/2.0\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => undefined);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const info = caInfo(lab.get('ca'));
  const crlPath = new URL(info.crlUrl).pathname;
  const aia = caDatabase(lab.get('ca')).identity.aia.find((u) => /^http:\/\//i.test(u));
  const caCertPath = aia ? new URL(aia).pathname : `/CertEnroll/${info.hostFqdn}_${info.name}.crt`;
  return {
    protocol: 'http',
    host,
    port,
    url: `http://${host}:${port}`,
    crlPath,
    caCertPath,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
