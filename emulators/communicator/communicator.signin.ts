/**
 * Communicator's sign-in as the lab can check it: discovery over the lab's DNS, a TCP connection through
 * the load balancer, TLS validation of the certificate the front end presents (chain to a trusted root,
 * the name dialled in the subject or SAN, validity at the simulated time), then the front end's
 * registrar decision. Every failure becomes the message Communicator shows (ocs-facts §6); the result
 * keeps the trace (which lookup, which connection, which SIP response) for the operator to dig into.
 *
 * Also the address book download: HTTPS GET of the internal Address Book URL of the user's home pool.
 */
import { verifyChain } from '../ca/certificate.js';
import { caInfo } from '../ca/ca.client.js';
import { dnsQuery } from '../dns/dns.client.js';
import { hlbConnect, hlbDisconnect } from '../hlb/hlb.client.js';
import { hostCertificates, hostService } from '../host/host.client.js';
import { hostId, type HostCertificate } from '../host/host.events.js';
import { iisBindings, iisRequest } from '../iis/iis.client.js';
import { iisId } from '../iis/iis.events.js';
import { ocsServer, ocsStore } from '../ocs/ocs.client.js';
import { decideRegister, type RegisterOutcome } from '../ocs/ocs.registrar.js';
import type { ActorLookup } from '../ocs/ocs.ports.js';
import { FRONT_END_SERVICE } from '../ocs/ocs.store.js';
import type { Topology } from '../../sim/topology.js';
import { discover, discoveryLines, type Candidate, type DiscoveryResult, type ResolvedRecord, type Resolver } from './communicator.discovery.js';
import { registerMessageKind, signInFailure, type SignInFailure } from './communicator.errors.js';
import type { ClientSettings } from './communicator.events.js';

export interface ClientEnv {
  system: ActorLookup;
  topology: Topology;
  /** Simulated time, for certificate validity. */
  now(): number;
}

/** The lab's DNS as Communicator's resolver sees it (no server answering = TIMEOUT). */
export function dnsResolver(system: ActorLookup): Resolver {
  return (name, type) => {
    const ref = system.get('dns');
    if (!ref) return { rcode: 'TIMEOUT', records: [] };
    const r = dnsQuery(ref, { name, type });
    if (!r.ok) return { rcode: 'TIMEOUT', records: [] };
    const records: ResolvedRecord[] = r.value.answers.flatMap((a): ResolvedRecord[] => {
      if (a.type === 'A') return [{ type: 'A', address: a.data }];
      if (a.type === 'CNAME') return [{ type: 'CNAME', target: a.data }];
      if (a.type === 'SRV') return [{ type: 'SRV', priority: a.data.priority, weight: a.data.weight, port: a.data.port, target: a.data.target }];
      return [];
    });
    return { rcode: r.value.rcode, records };
  };
}

export interface ConnectionAttempt {
  host: string;
  address: string;
  port: number;
  transport: 'TLS' | 'TCP';
  /** The front end (short name) that accepted the connection. */
  server?: string;
  error?: string;
}

export interface TlsOutcome {
  ok: boolean;
  host: string;
  server: string;
  subject?: string;
  sans?: string[];
  notAfter?: string;
  issuer?: string;
  error?: string;
}

export interface SignInRequest {
  /** The Windows account the user is logged on with (sAMAccountName). */
  user: string;
  signInAddress: string;
  password: string;
  settings: ClientSettings;
  /** The client's address and source port (deterministic, per user). */
  clientAddress: string;
  clientPort: number;
}

export interface SignInResult {
  ok: boolean;
  signInAddress: string;
  discovery: DiscoveryResult;
  attempts: ConnectionAttempt[];
  tls?: TlsOutcome;
  register?: RegisterOutcome;
  /** The front end the client registered with. */
  frontEnd?: string;
  failure?: SignInFailure;
}

const lc = (s: string) => s.toLowerCase();

function nameMatches(name: string, host: string): boolean {
  const n = lc(name);
  const h = lc(host);
  if (n === h) return true;
  return n.startsWith('*.') && h.split('.').slice(1).join('.') === n.slice(2);
}

/** Opens a TCP connection to an address: through the load balancer for a pool VIP, directly to a front end's own address. */
export function connectTo(env: ClientEnv, address: string, port: number, client: { address: string; port: number }): { server: string } | { error: string } {
  const pool = env.topology.pools.find((p) => p.vip === address);
  if (pool) {
    const args = { pool: pool.name, clientAddress: client.address, clientPort: client.port, port };
    const r = hlbConnect(env.system.get('hlb'), args);
    if (!r.ok) return { error: r.failure.message };
    hlbDisconnect(env.system.get('hlb'), args);
    return { server: r.value.server.split('.')[0] ?? r.value.server };
  }
  const host = env.topology.hosts.find((h) => h.ip === address);
  if (!host) return { error: `No answer from ${address}:${port}: the connection attempt timed out` };
  const service = port === 443 || port === 80 ? 'W3SVC' : FRONT_END_SERVICE;
  const state = hostService(env.system.get(hostId(host.name)), service)?.state;
  return state === 'Running' ? { server: host.name } : { error: `Connection refused (RST from ${address}:${port}): nothing listens on ${host.name}` };
}

/** Validates the certificate a server presents for the name the client dialled. */
export function validateCertificate(env: ClientEnv, cert: HostCertificate | undefined, dialled: string, server: string, trustLabCa: boolean): TlsOutcome {
  if (!cert) return { ok: false, host: dialled, server, error: `${server} presented no certificate: the TLS handshake was reset` };
  const base = { host: dialled, server, subject: cert.subject, sans: cert.sans, notAfter: cert.notAfter, issuer: cert.issuer };
  const ca = env.system.get('ca');
  if (!trustLabCa || !ca) return { ...base, ok: false, error: `The certificate chain ends in ${cert.issuer}, which is not in the client's Trusted Root Certification Authorities` };
  const chain = verifyChain(cert.certPem, caInfo(ca).certPem, env.now());
  if (!chain.ok) return { ...base, ok: false, error: chain.failure.message };
  const names = [cert.subjectCN, ...cert.sans].filter((n) => n);
  if (!names.some((n) => nameMatches(n, dialled))) return { ...base, ok: false, error: `The certificate names ${names.join(', ')}; none matches ${dialled}` };
  return { ...base, ok: true };
}

/** The certificate the OCS front end presents on 5061: the one the Certificate Wizard assigned. */
export function frontEndCertificate(env: ClientEnv, server: string): HostCertificate | undefined {
  const ocs = env.system.get('ocs');
  const assigned = ocs ? ocsServer(ocs, server)?.certificate : undefined;
  if (!assigned) return undefined;
  return hostCertificates(env.system.get(hostId(server))).find((c) => lc(c.thumbprint) === lc(assigned.thumbprint));
}

/** Signs a user in, as Communicator does, and says where it stopped if it did not. */
export function signIn(env: ClientEnv, req: SignInRequest): SignInResult {
  const settings = req.settings;
  const discovery = discover(req.signInAddress, dnsResolver(env.system), {
    allowTcp: settings.allowTcp || settings.manual?.transport === 'TCP',
    aFallbacks: settings.aFallbacks,
    ...(settings.manual ? { manual: settings.manual } : {}),
  });
  const base = { signInAddress: req.signInAddress, discovery };
  const attempts: ConnectionAttempt[] = [];
  if (!discovery.candidates.length) {
    return { ...base, ok: false, attempts, failure: signInFailure('discovery', 'unavailable', `no login server found for ${discovery.sipDomain || req.signInAddress}`) };
  }
  let connected: { candidate: Candidate; server: string } | undefined;
  for (const candidate of discovery.candidates) {
    for (const address of candidate.addresses) {
      const c = connectTo(env, address, candidate.port, { address: req.clientAddress, port: req.clientPort });
      const attempt: ConnectionAttempt = { host: candidate.host, address, port: candidate.port, transport: candidate.transport };
      if ('error' in c) attempt.error = c.error;
      else attempt.server = c.server;
      attempts.push(attempt);
      if ('server' in c) {
        connected = { candidate, server: c.server };
        break;
      }
    }
    if (connected) break;
  }
  if (!connected) {
    const last = attempts[attempts.length - 1];
    return { ...base, ok: false, attempts, failure: signInFailure('connect', 'unavailable', last?.error ?? 'no connection') };
  }
  const { candidate, server } = connected;
  let tls: TlsOutcome | undefined;
  if (candidate.transport === 'TLS') {
    tls = validateCertificate(env, frontEndCertificate(env, server), candidate.host, server, settings.trustLabCa);
    if (!tls.ok) {
      // No certificate at all: the handshake never completes, which the client reports as an unreachable server.
      const kind = tls.subject === undefined ? 'unavailable' : 'certificate';
      return { ...base, ok: false, attempts, tls, failure: signInFailure('tls', kind, tls.error ?? 'TLS failed') };
    }
  }
  const register = decideRegister(env.system, { uri: req.signInAddress, account: req.user, password: req.password, frontEnd: server });
  if (register.status !== 200) {
    return { ...base, ok: false, attempts, ...(tls ? { tls } : {}), register, failure: signInFailure('register', registerMessageKind(register), `SIP/2.0 ${register.status} ${register.reason}`) };
  }
  return { ...base, ok: true, attempts, ...(tls ? { tls } : {}), register, frontEnd: server };
}

/** What the report shows of a sign-in: the lookups, the connections, the certificate, the SIP response. */
export function signInLines(r: SignInResult): string[] {
  const lines = [`Sign-in address: ${r.signInAddress}`, ...discoveryLines(r.discovery)];
  for (const a of r.attempts) lines.push(`Connect ${a.host} (${a.address}:${a.port} ${a.transport}): ${a.error ?? `connected, served by ${a.server ?? '?'}`}`);
  if (r.tls) {
    const what = r.tls.subject ? `${r.tls.subject}; SAN ${r.tls.sans?.join(', ') || '(none)'}; issuer ${r.tls.issuer ?? '?'}; valid to ${r.tls.notAfter ?? '?'}` : 'no certificate';
    lines.push(`TLS certificate from ${r.tls.server} for ${r.tls.host}: ${what}${r.tls.ok ? '' : ` — ${r.tls.error ?? 'rejected'}`}`);
  }
  if (r.register) lines.push(`REGISTER ${r.register.status === 200 ? r.register.user.sipAddress : `sip:${r.signInAddress.replace(/^sip:/i, '').toLowerCase()}`}: SIP/2.0 ${r.register.status} ${r.register.reason}`);
  lines.push(r.ok ? `Signed in to ${r.register?.status === 200 ? r.register.user.pool : '?'} (${r.frontEnd ?? '?'})` : `Communicator: ${r.failure?.message ?? ''}`);
  return lines;
}

// ---------------------------------------------------------------------------------------------------
// Address book

export const ADDRESS_BOOK_PATH = '/Abs/Int/Handler/';

export interface AddressBookResult {
  ok: boolean;
  url: string;
  lines: string[];
  /** Communicator's message when it failed (the HTTPS failure itself is silent, ocs-facts §6). */
  message?: string;
}

/** Communicator's address book download: HTTPS GET of the internal Address Book URL of the user's home pool. */
export function downloadAddressBook(env: ClientEnv, user: string, settings: ClientSettings, client: { address: string; port: number }): AddressBookResult {
  const store = env.system.get('ocs') ? ocsStore(env.system.get('ocs')) : undefined;
  const homed = store?.users.find((u) => lc(u.sam) === lc(user));
  const pool = homed ? store?.pools.find((p) => p.name === homed.pool) : store?.pools[0];
  const fqdn = pool?.internalWebFarmFqdn || pool?.fqdn || env.topology.pools[0]?.fqdn || '';
  const url = `https://${fqdn}${ADDRESS_BOOK_PATH}`;
  const failedWith = (line: string): AddressBookResult => ({ ok: false, url, lines: [`GET ${url}`, line], message: 'Cannot synchronize with the corporate address book. The cause of the problem is unknown. Please contact your system administrator with this information.' });
  const a = dnsResolver(env.system)(fqdn, 'A');
  const address = a.rcode === 'NOERROR' ? a.records.find((r) => r.type === 'A') : undefined;
  if (!address || address.type !== 'A') return failedWith(`DNS A ${fqdn}: ${a.rcode === 'NOERROR' ? 'no records' : a.rcode}`);
  const c = connectTo(env, address.address, 443, client);
  if ('error' in c) return failedWith(`Connect ${fqdn} (${address.address}:443): ${c.error}`);
  const iis = env.system.get(iisId(c.server));
  if (!iis) return failedWith(`Connect ${fqdn} (${address.address}:443): connection refused by ${c.server}`);
  const bound = iisBindings(iis).find((b) => b.protocol === 'https')?.certificateHash;
  const cert = bound ? hostCertificates(env.system.get(hostId(c.server))).find((x) => lc(x.thumbprint) === lc(bound)) : undefined;
  const tls = cert ? validateCertificate(env, cert, fqdn, c.server, settings.trustLabCa) : undefined;
  // The name is IIS's own check; the client's trust decision covers the chain and validity.
  const trusted = !tls || tls.ok || (tls.error ?? '').startsWith('The certificate names');
  const r = iisRequest(iis, { scheme: 'https', path: ADDRESS_BOOK_PATH, hostHeader: fqdn, credentials: 'ntlm', clientTrustsCertificate: trusted });
  if (!r.ok) return failedWith(`${r.failure.message}${tls && !tls.ok ? ` (${tls.error ?? ''})` : ''}`);
  const status = `HTTP ${r.value.status}${r.value.subStatus ? `.${r.value.subStatus}` : ''} ${r.value.statusText} from ${c.server}`;
  // With no address book files published yet, 403.14 (no default document) or 404 still proves the handler is reachable.
  if (r.value.status === 200 || r.value.status === 403 || r.value.status === 404) return { ok: true, url, lines: [`GET ${url}`, status] };
  return failedWith(status);
}
