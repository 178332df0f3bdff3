/**
 * The operator's IIS vocabulary: bind the pool certificate (seed Step 3, "Configure Web Components
 * Server Certificate"), Windows authentication / kernel mode, application pools; checks on bindings
 * and on what a client gets for a URL.
 */
import { z } from 'zod';
import { defineStep, failed, passed, type StepContext, type StepDefinition } from '../../sim/steps.js';
import type { Topology } from '../../sim/topology.js';
import { iisId, type Credentials, type HttpRequest } from './iis.events.js';
import { iisBindCertificate, iisBindings, iisRequest, iisSetAppPoolState, iisSetWindowsAuthentication, iisWebComponents } from './iis.client.js';
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

export const getCheck = defineStep({
  name: 'iis.get',
  kind: 'check',
  summary: 'GET a URL path on a front end as a client would (anonymous, Kerberos, NTLM or a user) and compare the status',
  params: z.strictObject({
    server,
    path: z.string().startsWith('/'),
    scheme: z.enum(['http', 'https']).default('https'),
    /** The name the client dials (Host header, TLS name check); default the Web Components FQDN of the server's pool. */
    host: z.string().optional(),
    /** "anonymous", "kerberos", "ntlm", or a topology user's sAMAccountName (NTLM with that user's password). */
    as: z.string().default('anonymous'),
    trustsCertificate: z.boolean().default(true),
    expectStatus: z.union([z.number().int().min(100).max(599), z.enum(OUTCOMES)]),
  }),
  refs: { server: 'frontEnd' },
  title: (p, t) => `GET ${p.scheme}://${p.host ?? poolOf(t, p.server)?.fqdn ?? p.server}${p.path} on ${p.server} as ${p.as} → ${String(p.expectStatus)}`,
  emulated: (ctx, p) => {
    const ref = iisRef(ctx, p.server);
    if (!ref) return noIis(p.server);
    let credentials: Credentials;
    const as = p.as.toLowerCase();
    if (as === 'anonymous' || as === 'kerberos' || as === 'ntlm') credentials = as;
    else {
      const admin = ctx.topology.administrator;
      const user = ctx.topology.users.find((u) => u.sam.toLowerCase() === as) ?? (admin.sam.toLowerCase() === as ? { sam: admin.sam, password: admin.password } : undefined);
      if (!user) return failed(`"${p.as}" is neither anonymous/kerberos/ntlm nor a user of the topology; users: ${ctx.topology.users.map((u) => u.sam).join(', ')}`);
      credentials = { user: `${ctx.topology.forest.netbios}\\${user.sam}`, password: user.password };
    }
    const host = (p.host ?? iisWebComponents(ref)?.internalWebFqdn ?? poolOf(ctx.topology, p.server)?.fqdn ?? ctx.topology.hosts.find((h) => h.name === p.server.toLowerCase())?.fqdn ?? p.server).toLowerCase();
    const req: HttpRequest = { scheme: p.scheme, path: p.path, hostHeader: host, credentials, clientTrustsCertificate: p.trustsCertificate };
    const r = iisRequest(ref, req);
    const url = `${p.scheme}://${host}${p.path}`;
    if (!r.ok) {
      const observed = r.failure.kind.replace(/^iis\./, '');
      const details = [`GET ${url} → ${r.failure.message}`, ...(typeof r.failure.reason === 'string' ? [r.failure.reason] : [])];
      return observed === p.expectStatus ? passed(details) : failed(`expected ${String(p.expectStatus)}, got ${observed} (${r.failure.message})`, details);
    }
    const res = r.value;
    const status = `${res.status}${res.subStatus ? `.${res.subStatus}` : ''} ${res.statusText}`;
    const details = [`GET ${url} → ${status}`, ...(res.detail ? [res.detail] : []), ...(res.certificateThumbprint ? [`certificate ${res.certificateThumbprint}`] : [])];
    return res.status === p.expectStatus ? passed(details) : failed(`expected ${String(p.expectStatus)}, got ${status}`, details);
  },
});

export const iisStepList: StepDefinition[] = [bindCertificateStep, setWindowsAuthenticationStep, setAppPoolStateStep, bindingCheck, getCheck];
