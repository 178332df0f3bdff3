/**
 * What a browser, curl or Communicator gets for one request to IIS 7.0: the listener (W3SVC, bindings),
 * the certificate http.sys presents, site and application selection, the application pool, SSL and
 * authentication settings in force, then the file. The wire adapter (HTTP/HTTPS on loopback) answers
 * with `decideRequest` too, so the embedded lab and a real curl see the same thing.
 */
import { fail, ok, type Result } from '../../sim/result.js';
import type { HostCertificate, ServiceState } from '../host/host.events.js';
import type { HttpRequest, IisFailure } from './iis.events.js';
import { failure } from './iis.commands.js';
import { bindingHost, bindingPort, describeBinding, effectiveSettings, eq, normalizeThumbprint, underPath, type IisStore } from './iis.store.js';

// ---------------------------------------------------------------------------------------------------
// Requests

export interface HttpResponse {
  status: number;
  subStatus: number;
  statusText: string;
  headers: Record<string, string | string[]>;
  body: string;
  /** The thumbprint of the certificate the server presented (https). */
  certificateThumbprint?: string;
  /** The account IIS authenticated, when it did. */
  authenticatedAs?: string;
  /** Why, in the words of IIS's detailed error / the failed-request trace. */
  detail?: string;
}

/** What the request decision looks at: the IIS store, the W3SVC state, and the names on the host's certificates. */
export interface RequestView {
  installed: boolean;
  w3svc: ServiceState;
  store: IisStore;
  /** The host's LocalMachine\My certificates; undefined when the lab has no host actor (names not checked). */
  certificates?: readonly HostCertificate[];
  /** The host's clock is more than 5 minutes off the domain's: Kerberos authenticators are rejected (KRB_AP_ERR_SKEW). */
  clockSkewed?: boolean;
}

const IIS_HEADERS = { Server: 'Microsoft-IIS/7.0', 'X-Powered-By': 'ASP.NET' };

function page(title: string, heading: string, text: string): string {
  return `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/><title>${title}</title></head>
<body><div id="header"><h1>Server Error</h1></div>
<div id="content"><fieldset><h2>${heading}</h2><h3>${text}</h3></fieldset></div>
</body>
</html>
`;
}

function errorResponse(status: number, subStatus: number, statusText: string, heading: string, text: string, extra: Partial<HttpResponse> = {}): HttpResponse {
  return {
    status,
    subStatus,
    statusText,
    headers: { 'Content-Type': 'text/html', ...IIS_HEADERS, ...(extra.headers ?? {}) },
    body: page(`${status} - ${statusText}`, heading, text),
    ...(extra.certificateThumbprint ? { certificateThumbprint: extra.certificateThumbprint } : {}),
    ...(extra.detail ? { detail: extra.detail } : {}),
  };
}

const MIME: Record<string, string> = {
  htm: 'text/html',
  html: 'text/html',
  asmx: 'text/html; charset=utf-8',
  png: 'image/png',
  txt: 'text/plain',
  xml: 'text/xml',
  lsabs: 'application/octet-stream',
  dabs: 'application/octet-stream',
  cab: 'application/vnd.ms-cab-compressed',
};

const contentType = (name: string): string => MIME[(name.split('.').pop() ?? '').toLowerCase()] ?? 'application/octet-stream';

function hostMatches(name: string, host: string): boolean {
  const n = name.toLowerCase();
  const h = host.toLowerCase();
  if (n === h) return true;
  if (n.startsWith('*.')) return h.split('.').slice(1).join('.') === n.slice(2) && h.split('.').length === n.split('.').length;
  return false;
}

/** What a browser, curl or Communicator gets for one request to this server. */
export function decideRequest(view: RequestView, req: HttpRequest): Result<HttpResponse, IisFailure> {
  const { store } = view;
  const hostName = (req.hostHeader ?? store.hostFqdn).toLowerCase();
  const defaultPort = req.scheme === 'https' ? 443 : 80;
  const refused = (why: string) =>
    fail(failure('iis.connectionRefused', `curl: (7) Failed to connect to ${hostName} port ${defaultPort}: Connection refused`, { reason: why, host: store.host, port: defaultPort }));

  if (!view.installed) return refused(`IIS is not installed on ${store.host}; nothing listens on port ${defaultPort}`);
  if (view.w3svc !== 'Running') return refused(`World Wide Web Publishing Service (W3SVC) on ${store.host} is ${view.w3svc}`);

  const candidates = store.config.sites.flatMap((site) => site.bindings.filter((b) => b.protocol === req.scheme && bindingPort(b) === defaultPort).map((binding) => ({ site, binding })));
  if (!candidates.length) return refused(`no ${req.scheme} binding on port ${defaultPort} in applicationHost.config`);
  const match = candidates.find((c) => bindingHost(c.binding) !== '' && eq(bindingHost(c.binding), hostName)) ?? candidates.find((c) => bindingHost(c.binding) === '');

  let certificateThumbprint: string | undefined;
  if (req.scheme === 'https') {
    const binding = (match ?? candidates[0])?.binding;
    certificateThumbprint = binding?.certificateHash;
    if (req.clientTrustsCertificate === false) {
      return fail(
        failure('iis.certificateNotTrusted', 'curl: (60) SSL certificate problem: unable to get local issuer certificate', { certificateThumbprint, host: hostName }),
      );
    }
    const cert = view.certificates?.find((c) => certificateThumbprint !== undefined && normalizeThumbprint(c.thumbprint) === certificateThumbprint);
    if (view.certificates && !cert) {
      // http.sys has no certificate to present: the TLS handshake is reset.
      return fail(failure('iis.connectionRefused', `curl: (35) schannel: failed to receive handshake, SSL/TLS connection failed (${hostName}:443)`, { reason: `the certificate bound to ${describeBinding(binding ?? { protocol: 'https', bindingInformation: '*:443:' })} is not in LocalMachine\\My`, certificateThumbprint }));
    }
    if (cert) {
      // RFC 6125 / what curl, OpenSSL and Schannel do: the SAN when there is one, the CN only without it.
      const names = (cert.sans.length ? cert.sans : [cert.subjectCN]).filter((n) => n);
      if (!names.some((n) => hostMatches(n, hostName))) {
        return fail(
          failure('iis.certificateNameMismatch', `curl: (60) SSL: no alternative certificate subject name matches target host name '${hostName}'`, {
            certificateThumbprint,
            presented: names,
            host: hostName,
          }),
        );
      }
    }
  }
  const withCert = certificateThumbprint ? { certificateThumbprint } : {};

  /** http.sys's own 400 page, before any site sees the request. */
  const httpSys400 = (what: 'Hostname' | 'URL') =>
    ok({
      status: 400,
      subStatus: 0,
      statusText: 'Bad Request',
      headers: { 'Content-Type': 'text/html; charset=us-ascii', Server: 'Microsoft-HTTPAPI/2.0' },
      body: `<h2>Bad Request - Invalid ${what}</h2><hr><p>HTTP Error 400. The request ${what === 'URL' ? 'URL' : 'hostname'} is invalid.</p>`,
      ...withCert,
    });

  if (!match) return httpSys400('Hostname');
  const { site } = match;

  let urlPath: string;
  try {
    urlPath = decodeURIComponent((req.path.split('?')[0] ?? '/').replace(/\\/g, '/')) || '/';
  } catch {
    return httpSys400('URL');
  }
  const path = urlPath.startsWith('/') ? urlPath : `/${urlPath}`;
  const app = [...site.applications].sort((a, b) => b.path.length - a.path.length).find((a) => underPath(path, a.path === '/' ? '' : a.path));
  if (!app) return ok(errorResponse(404, 0, 'Not Found', '404 - File or directory not found.', 'The resource you are looking for might have been removed, had its name changed, or is temporarily unavailable.', { certificateThumbprint }));

  const pool = store.config.applicationPools.find((p) => eq(p.name, app.applicationPool));
  if (!pool || pool.state !== 'Started') {
    // http.sys answers for a stopped (or missing) application pool's queue.
    return ok({
      status: 503,
      subStatus: 0,
      statusText: 'Service Unavailable',
      headers: { 'Content-Type': 'text/html; charset=us-ascii', Server: 'Microsoft-HTTPAPI/2.0' },
      body: '<h2>Service Unavailable</h2><hr><p>HTTP Error 503. The service is unavailable.</p>',
      detail: `application pool ${app.applicationPool} is ${pool ? pool.state : 'missing'}`,
      ...withCert,
    });
  }

  const settings = effectiveSettings(store.config, site.name, path);
  if (req.scheme === 'http' && settings.sslFlags.startsWith('Ssl')) {
    return ok(
      errorResponse(403, 4, 'Forbidden', 'HTTP Error 403.4 - Forbidden: SSL required', 'The page you are trying to access is secured with Secure Sockets Layer (SSL).', {
        detail: `sslFlags="${settings.sslFlags}" at ${settings.location}`,
      }),
    );
  }

  const challenge = { 'WWW-Authenticate': ['Negotiate', 'NTLM'] };
  let authenticatedAs: string | undefined;
  const creds = req.credentials ?? 'anonymous';
  if (!settings.anonymousAuthentication.enabled) {
    const win = settings.windowsAuthentication;
    if (!win.enabled) {
      return ok(
        errorResponse(401, 2, 'Unauthorized', '401 - Unauthorized: Access is denied due to server configuration.', 'You are not authorized to view this page due to invalid authentication headers.', {
          ...withCert,
          detail: `no authentication method is enabled at ${settings.location}`,
        }),
      );
    }
    if (creds === 'anonymous') {
      return ok(
        errorResponse(401, 2, 'Unauthorized', '401 - Unauthorized: Access is denied due to invalid credentials.', 'You do not have permission to view this directory or page using the credentials that you supplied.', {
          headers: challenge,
          ...withCert,
          detail: `anonymous authentication is disabled at ${settings.location}; Windows authentication (Negotiate, NTLM) is required`,
        }),
      );
    }
    if (creds === 'kerberos') {
      const domainAccount = pool.identityType === 'SpecificUser';
      if (view.clockSkewed) {
        return ok(
          errorResponse(401, 1, 'Unauthorized', '401 - Unauthorized: Access is denied due to invalid credentials.', 'You do not have permission to view this directory or page using the credentials that you supplied.', {
            headers: { 'WWW-Authenticate': ['Negotiate', 'NTLM'] },
            ...withCert,
            detail: `Kerberos authenticator rejected (KRB_AP_ERR_SKEW): the clock on ${store.host.toUpperCase()} is more than 5 minutes off the client's. There is a time and/or date difference between the client and server.`,
          }),
        );
      }
      if (win.useKernelMode && domainAccount && !win.useAppPoolCredentials) {
        return ok(
          errorResponse(401, 1, 'Unauthorized', '401 - Unauthorized: Access is denied due to invalid credentials.', 'You do not have permission to view this directory or page using the credentials that you supplied.', {
            headers: { 'WWW-Authenticate': ['Negotiate', 'NTLM'] },
            ...withCert,
            detail:
              `Kerberos ticket could not be decrypted (KRB_AP_ERR_MODIFIED): kernel-mode authentication is on at ${settings.location}, so http.sys decrypts the ticket with the ${store.host.toUpperCase()}$ machine account, ` +
              `but application pool ${pool.name} runs as ${pool.userName ?? 'a domain account'} and useAppPoolCredentials is false. Turn kernel-mode authentication off or set useAppPoolCredentials="true".`,
          }),
        );
      }
      authenticatedAs = 'Kerberos';
    } else if (creds === 'ntlm') {
      authenticatedAs = 'NTLM';
    } else {
      authenticatedAs = creds.user;
    }
  }

  const relative = path.slice(app.path === '/' ? 1 : app.path.length).replace(/^\/+/, '');
  const files = store.files[app.path] ?? [];
  const auth = authenticatedAs ? { authenticatedAs } : {};
  if (relative === '') {
    const doc = files.find((f) => ['default.htm', 'default.asp', 'index.htm', 'index.html', 'iisstart.htm', 'default.aspx'].includes(f.name.toLowerCase()));
    if (!doc) {
      return ok(
        errorResponse(403, 14, 'Forbidden', '403 - Forbidden: Access is denied.', 'You do not have permission to view this directory or page using the credentials that you supplied.', {
          ...withCert,
          detail: `HTTP Error 403.14 - Forbidden: a default document is not configured and directory browsing is not enabled for ${settings.location}`,
        }),
      );
    }
    return ok({ status: 200, subStatus: 0, statusText: 'OK', headers: { 'Content-Type': contentType(doc.name), ...IIS_HEADERS }, body: req.method === 'HEAD' ? '' : doc.content, ...withCert, ...auth });
  }
  const file = files.find((f) => eq(f.name, relative));
  if (!file) {
    return ok(
      errorResponse(404, 0, 'Not Found', '404 - File or directory not found.', 'The resource you are looking for might have been removed, had its name changed, or is temporarily unavailable.', {
        ...withCert,
        detail: `${relative} is not in ${app.physicalPath}`,
      }),
    );
  }
  return ok({ status: 200, subStatus: 0, statusText: 'OK', headers: { 'Content-Type': contentType(file.name), ...IIS_HEADERS }, body: req.method === 'HEAD' ? '' : file.content, ...withCert, ...auth });
}
