/**
 * The operator's IIS vocabulary: bind the pool certificate (seed Step 3, "Configure Web Components
 * Server Certificate"), Windows authentication / kernel mode, application pools; checks on bindings
 * and on what a client gets for a URL.
 */
import { z } from 'zod';
import { defineCheck, defineStep, failed, passed, type StepContext, type StepDefinition } from '../../sim/steps.js';
import { isUnreachable, unreachableText, type HttpQuery, type HttpResult } from '../../sim/probes.js';
import type { Topology } from '../../sim/topology.js';
import { iisId } from './iis.events.js';
import { iisBindCertificate, iisBindings, iisSetAppPoolState, iisSetWindowsAuthentication } from './iis.client.js';
import { hostCertificates } from './iis.machine.js';
import { chooseCertificate, certificateReference, POOL_CERTIFICATE, thumbprintOf } from '../host/host.certificates.js';
import { DEFAULT_SITE, describeBinding } from './iis.store.js';

const server = z.string().min(1);

function poolOf(topology: Topology, host: string) {
  return topology.pools.find((p) => p.frontEnds.some((fe) => fe.toLowerCase() === host.toLowerCase()));
}

function iisRef(ctx: StepContext, host: string) {
  return ctx.lab.get(iisId(host));
}

const noIis = (host: string) => failed(`the lab has no IIS actor ${iisId(host)} (IIS runs on hosts with the ocsFrontEnd role)`);

export const bindCertificateStep = defineStep({
  name: 'iis.bindCertificate',
  kind: 'action',
  summary: 'IIS Manager → Default Web Site → Bindings: add https with a certificate (the pool certificate by default)',
  params: z.strictObject({
    server,
    /** `pool`, a thumbprint or a subject name of a certificate in the server's LocalMachine\My (host.certificates.ts). */
    certificate: certificateReference(),
    ip: z.string().default('All Unassigned'),
    port: z.number().int().min(1).max(65535).default(443),
    site: z.string().default(DEFAULT_SITE),
  }),
  refs: { server: 'frontEnd' },
  title: (p) => `Bind ${p.certificate === POOL_CERTIFICATE ? 'the pool certificate' : `certificate ${p.certificate}`} to ${p.site} (https, ${p.ip}:${p.port}) on ${p.server}`,
  emulated: (ctx, p) => {
    const ref = iisRef(ctx, p.server);
    if (!ref) return noIis(p.server);
    const pool = poolOf(ctx.topology, p.server);
    const certs = hostCertificates(ctx.lab, p.server);
    let thumbprint: string;
    if (certs) {
      const chosen = chooseCertificate(certs, p.certificate, { server: p.server, ...(pool ? { poolFqdn: pool.fqdn } : {}) });
      if (!chosen.ok) return failed(chosen.message, chosen.choices);
      thumbprint = chosen.certificate.thumbprint;
    } else {
      // No host actor to read LocalMachine\My from: only a thumbprint can be handed to IIS as is.
      const given = thumbprintOf(p.certificate);
      if (!given) return failed(`cannot choose ${p.certificate === POOL_CERTIFICATE ? 'the pool certificate' : `the certificate ${p.certificate}`}: the lab has no host actor host:${p.server} to read LocalMachine\\My from; give a thumbprint instead`);
      thumbprint = given;
    }
    const r = iisBindCertificate(ref, { site: p.site, ip: p.ip, port: p.port, thumbprint });
    if (!r.ok) return failed(r.failure.message);
    return passed([`${p.site}: ${describeBinding(r.value)} certificateHash=${r.value.certificateHash ?? ''} certificateStoreName=${r.value.certificateStoreName ?? ''}`]);
  },
});

export const setWindowsAuthenticationStep = defineStep({
  name: 'iis.setWindowsAuthentication',
  kind: 'action',
  summary: 'Windows Authentication at a location: enabled, kernel-mode authentication, useAppPoolCredentials',
  params: z.strictObject({
    server,
    location: z.string().default(DEFAULT_SITE),
    enabled: z.boolean().optional(),
    useKernelMode: z.boolean().optional(),
    useAppPoolCredentials: z.boolean().optional(),
  }),
  refs: { server: 'frontEnd' },
  title: (p) => {
    const attrs = (['enabled', 'useKernelMode', 'useAppPoolCredentials'] as const).filter((k) => p[k] !== undefined).map((k) => `${k}=${String(p[k])}`);
    return `Set Windows Authentication ${attrs.join(', ') || '(no change)'} at ${p.location} on ${p.server}`;
  },
  emulated: (ctx, p) => {
    const ref = iisRef(ctx, p.server);
    if (!ref) return noIis(p.server);
    const r = iisSetWindowsAuthentication(ref, {
      location: p.location,
      ...(p.enabled !== undefined ? { enabled: p.enabled } : {}),
      ...(p.useKernelMode !== undefined ? { useKernelMode: p.useKernelMode } : {}),
      ...(p.useAppPoolCredentials !== undefined ? { useAppPoolCredentials: p.useAppPoolCredentials } : {}),
    });
    if (!r.ok) return failed(r.failure.message);
    const w = r.value.windowsAuthentication;
    return passed([`${r.value.location}: windowsAuthentication enabled=${w.enabled} useKernelMode=${w.useKernelMode} useAppPoolCredentials=${w.useAppPoolCredentials}`]);
  },
});

export const setAppPoolStateStep = defineStep({
  name: 'iis.setAppPoolState',
  kind: 'action',
  summary: 'Start or stop an application pool (DefaultAppPool, LsGroupExpAppPool)',
  params: z.strictObject({ server, name: z.string().min(1), state: z.enum(['Started', 'Stopped']) }),
  refs: { server: 'frontEnd' },
  title: (p) => `${p.state === 'Started' ? 'Start' : 'Stop'} application pool ${p.name} on ${p.server}`,
  emulated: (ctx, p) => {
    const ref = iisRef(ctx, p.server);
    if (!ref) return noIis(p.server);
    const r = iisSetAppPoolState(ref, { name: p.name, state: p.state });
    return r.ok ? passed([`${r.value.name}: ${r.value.state}`]) : failed(r.failure.message);
  },
});

export const bindingCheck = defineStep({
  name: 'iis.binding',
  kind: 'check',
  summary: 'Whether Default Web Site has a binding for a protocol (and port)',
  params: z.strictObject({ server, protocol: z.enum(['http', 'https']), port: z.number().int().min(1).max(65535).optional(), present: z.boolean().default(true) }),
  refs: { server: 'frontEnd' },
  title: (p) => `${p.server}: ${p.protocol}${p.port ? ` port ${p.port}` : ''} binding ${p.present ? 'present' : 'absent'}`,
  console: (p) => `IIS Manager on ${p.server}: Sites → Default Web Site → Bindings… (${p.protocol}${p.port ? ` port ${p.port}` : ''}); or appcmd list site /config`,
  emulated: (ctx, p) => {
    const ref = iisRef(ctx, p.server);
    if (!ref) return noIis(p.server);
    const bindings = iisBindings(ref);
    const seen = bindings.map((b) => `${b.site}: ${describeBinding(b)}${b.certificateHash ? ` certificateHash=${b.certificateHash}` : ''}`);
    const found = bindings.find((b) => b.protocol === p.protocol && (p.port === undefined || b.bindingInformation.split(':')[1] === String(p.port)));
    const what = `${p.protocol}${p.port ? ` port ${p.port}` : ''} binding`;
    if (p.present && !found) return failed(`expected a ${what}, found none`, seen);
    if (!p.present && found) return failed(`expected no ${what}, found ${describeBinding(found)}`, seen);
    return passed(seen);
  },
});

const OUTCOMES = ['connectionRefused', 'certificateNotTrusted', 'certificateNameMismatch'] as const;

/** What a GET saw: the answer, or where the client stopped (refused, the certificate, no answer). */
export interface GetObservation {
  url: string;
  outcome: 'answered' | 'connectionRefused' | 'certificateNotTrusted' | 'certificateNameMismatch' | 'noAnswer' | 'notObserved';
  status?: number;
  statusText?: string;
  /** The error page's heading ("401 - Unauthorized: Access is denied due to invalid credentials."). */
  heading?: string;
  /** The schemes a 401 offered. */
  offers?: string[];
  /** The certificate presented (https), as IIS and the Certificates snap-in name it. */
  thumbprint?: string;
  detail?: string;
}

/** The first heading of an HTML page (IIS's error pages put the status line in an h2), or its title. */
export function pageHeading(body: Buffer, contentType: string | undefined): string | undefined {
  if (!/html/i.test(contentType ?? '')) return undefined;
  const text = body.subarray(0, 64 * 1024).toString('latin1');
  const m = /<h2>([^<]{1,300})<\/h2>/i.exec(text) ?? /<title>([^<]{1,300})<\/title>/i.exec(text);
  return m?.[1]?.trim();
}

/** The HTTP probe's result as a check observes it (sim/probes.http.ts). */
export function observeGet(url: string, r: HttpResult): GetObservation {
  if (isUnreachable(r)) return { url, outcome: /^ECONNREFUSED/.test(r.error) ? 'connectionRefused' : 'noAnswer', detail: unreachableText(r) };
  const thumbprint = r.certificate ? { thumbprint: r.certificate.thumbprint } : {};
  if (!r.ok) return { url, outcome: r.outcome, detail: r.detail, ...thumbprint };
  const heading = pageHeading(r.body, r.contentType);
  return { url, outcome: 'answered', status: r.status, statusText: r.statusText, ...(heading ? { heading } : {}), ...(r.wwwAuthenticate.length ? { offers: r.wwwAuthenticate } : {}), ...thumbprint };
}

export const getCheck = defineCheck({
  name: 'iis.get',
  summary: 'GET a URL path on a front end as a client would (anonymous, Kerberos, NTLM or a user) and compare the status',
  params: z.strictObject({
    server,
    path: z.string().startsWith('/'),
    scheme: z.enum(['http', 'https']).default('https'),
    /** The name the client dials (Host header, TLS name check); default the FQDN of the server's pool. */
    host: z.string().optional(),
    /** "anonymous", "kerberos", "ntlm" (the operator's own account), or a topology user's sAMAccountName (NTLM with that user's password). */
    as: z.string().default('anonymous'),
    trustsCertificate: z.boolean().default(true),
    expectStatus: z.union([z.number().int().min(100).max(599), z.enum(OUTCOMES)]),
  }),
  refs: { server: 'frontEnd' },
  title: (p, t) => `GET ${p.scheme}://${getHost(p, t)}${p.path} on ${p.server} as ${p.as} → ${String(p.expectStatus)}`,
  probe: {
    async observe(probes, p, t): Promise<GetObservation> {
      const host = getHost(p, t);
      const url = `${p.scheme}://${host}${p.path}`;
      const address = t.hosts.find((h) => h.name.toLowerCase() === p.server.toLowerCase())?.ip ?? p.server;
      const as = p.as.toLowerCase();
      let auth: HttpQuery['auth'];
      if (as === 'anonymous' || as === 'kerberos' || as === 'ntlm') auth = as === 'ntlm' ? 'operator' : as;
      else {
        const admin = t.administrator;
        const user = t.users.find((u) => u.sam.toLowerCase() === as) ?? (admin.sam.toLowerCase() === as ? admin : undefined);
        if (!user) return { url, outcome: 'notObserved', detail: `"${p.as}" is neither anonymous/kerberos/ntlm nor a user of the topology; users: ${t.users.map((u) => u.sam).join(', ')}` };
        auth = { user: user.sam, domain: t.forest.netbios, password: user.password };
      }
      const r = await probes.httpRequest({
        address,
        port: p.scheme === 'https' ? 443 : 80,
        scheme: p.scheme,
        host,
        path: p.path,
        auth,
        kerberosPrincipal: `${t.administrator.sam}@${t.forest.fqdn}`,
        trust: p.trustsCertificate ? 'target' : 'none',
      });
      return observeGet(url, r);
    },
    judge(o, p) {
      const seen = o.outcome === 'answered' ? `${o.status ?? 0} ${o.statusText ?? ''}`.trim() : o.outcome;
      const details = [`GET ${o.url} → ${seen}`, ...(o.heading ? [o.heading] : []), ...(o.offers ? [`WWW-Authenticate: ${o.offers.join(', ')}`] : []), ...(o.detail ? [o.detail] : []), ...(o.thumbprint ? [`certificate ${o.thumbprint}`] : [])];
      if (o.outcome === 'notObserved') return { ok: false, notObserved: o.detail ?? 'not observed', details };
      const expected = typeof p.expectStatus === 'number' ? o.outcome === 'answered' && o.status === p.expectStatus : o.outcome === p.expectStatus;
      return expected ? passed(details) : failed(`expected ${String(p.expectStatus)}, got ${seen}${o.heading ? ` (${o.heading})` : o.detail ? ` (${o.detail})` : ''}`, details);
    },
  },
});

/** The name a GET dials: the step's host, else the FQDN of the server's pool (its web farm), else the server's. */
function getHost(p: { host?: string | undefined; server: string }, t: Topology): string {
  return (p.host ?? poolOf(t, p.server)?.fqdn ?? t.hosts.find((h) => h.name.toLowerCase() === p.server.toLowerCase())?.fqdn ?? p.server).toLowerCase();
}

export const iisStepList: StepDefinition[] = [bindCertificateStep, setWindowsAuthenticationStep, setAppPoolStateStep, bindingCheck, getCheck];
