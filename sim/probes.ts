/**
 * Probes: what a check may ask of a target (decision 0016). A check observes through these protocol
 * clients, then judges the observation with a pure function; it never reads a machine's snapshot. The
 * same probes run on the emulated target (through the lab network to the emulators' adapters) and on a
 * real target (to the addresses of a target file), which is what makes a rehearsed check replayable.
 *
 * What no protocol reaches on a real Windows server (a service's state, an event log entry, an installed
 * feature) is not a probe: such checks keep reading the lab and say, through `console`, where an operator
 * would look on a real server; a real target reports them as not observed (see sim/replay.ts).
 *
 * Observations are plain JSON, free of ports, tags and times, so traces and parity reports stay
 * byte-identical run to run.
 */
import type { PeerCertificate } from 'node:tls';
import { domainDn, type Topology } from './topology.js';

/** Why a probe got no answer: the address it tried and what the socket said. */
export interface Unreachable {
  unreachable: true;
  /** "127.0.10.11:389" (the lab address or the target's real one). */
  address: string;
  /** "ECONNREFUSED", "timeout", or the lab network's reason. */
  error: string;
}

export interface LdapEntry {
  dn: string;
  /** Values as strings; binary attributes (objectSid, nTSecurityDescriptor, GUIDs) as hex. */
  attributes: Record<string, string[]>;
}

export type LdapSearchResult = { ok: true; entries: LdapEntry[] } | { ok: false; code: number; message: string } | Unreachable;

export type LdapBindResult = { ok: true } | { ok: false; code: number; message: string } | Unreachable;

export interface LdapQuery {
  /** The domain controller asked (a topology host); default: the target's directory address. */
  dc?: string;
  base: string;
  scope: 'base' | 'one' | 'sub';
  filter?: string;
  attributes: string[];
}

export interface DnsRecord {
  type: string;
  name: string;
  ttl: number;
  /** As nslookup/dig print the data: "127.0.10.30", "0 0 5061 pool01.corp.example.net". */
  data: string;
}

export type DnsResult = { ok: true; rcode: string; authoritative: boolean; answers: DnsRecord[] } | Unreachable;

/** The certificate a TLS port presents, as `openssl s_client` shows it (trust is the judge's business). */
export interface PresentedCertificate {
  subjectCN: string;
  /** subjectAltName DNS names, lower case, in the certificate's order. */
  sans: string[];
  issuerCN: string;
  /** SHA-1 of the DER, upper-case hex: what IIS and the Certificates snap-in call the thumbprint. */
  thumbprint: string;
}

export type TlsResult = { ok: true; certificate: PresentedCertificate } | { ok: false; error: string } | Unreachable;

/** An HTTP(S) request as a client on the operator's workstation sends it (sim/probes.http.ts). */
export interface HttpQuery {
  /** The topology address dialled (a host's or a pool's virtual IP) and port (443, 80). */
  address: string;
  port: number;
  scheme: 'https' | 'http';
  /** The name dialled: the Host header and the name the certificate must carry. */
  host: string;
  path: string;
  method?: 'GET' | 'HEAD';
  /**
   * Anonymous; NTLM as the operator (the target's administrator) or as an account (`domain` its NetBIOS name); or Kerberos as the domain-joined client
   * `kerberosPrincipal` (the embedded lab only: a real target reports it as not observed).
   */
  auth: 'anonymous' | 'kerberos' | 'operator' | { user: string; domain: string; password: string };
  kerberosPrincipal?: string;
  /** Whose certification authorities the client trusts: the target's (the lab root, `trust.caFile`) or none. */
  trust: 'target' | 'none';
}

export type HttpResult =
  | {
      ok: true;
      status: number;
      statusText: string;
      /** The schemes the server offered in WWW-Authenticate ("Negotiate", "NTLM"). */
      wwwAuthenticate: string[];
      contentType?: string;
      body: Buffer;
      certificate?: PresentedCertificate;
    }
  | {
      ok: false;
      /**
       * connectionRefused: no TLS (the handshake reset, no certificate); certificateNotTrusted and
       * certificateNameMismatch: the client stopped at the certificate; noAnswer: the connection ended
       * or went silent before an answer; notObserved: this probe cannot ask it of this target.
       */
      outcome: 'connectionRefused' | 'certificateNotTrusted' | 'certificateNameMismatch' | 'noAnswer' | 'notObserved';
      detail: string;
      certificate?: PresentedCertificate;
    }
  | Unreachable;

export interface Probes {
  /** "emulated" or the target file's name. */
  readonly target: string;
  /** An LDAP search bound as the target's directory administrator. */
  ldapSearch(query: LdapQuery): Promise<LdapSearchResult>;
  /** A simple bind with the given name (DN, NETBIOS\user or UPN) and password; the connection is closed after. */
  ldapBind(args: { dc?: string; name: string; password: string }): Promise<LdapBindResult>;
  /** A DNS question to the target's DNS server (dc01's role), as nslookup asks it. */
  dnsQuery(args: { name: string; type: string }): Promise<DnsResult>;
  /** A TLS handshake with a topology address (a host's or a pool's virtual IP) and port, naming `servername`. */
  tlsHandshake(args: { address: string; port: number; servername: string }): Promise<TlsResult>;
  /** One HTTP(S) request on a connection of its own (NTLM takes two on it). */
  httpRequest(query: HttpQuery): Promise<HttpResult>;
  /** The target's time now (the lab's clock on the embedded lab): what a client that names files by date uses. */
  now(): number;
  /** Ends what the probes keep open between questions (one LDAP session per DC). */
  close?(): Promise<void>;
}

export const isUnreachable = (r: object): r is Unreachable => 'unreachable' in r;

/** The line a check reports for an unreachable endpoint. */
export const unreachableText = (u: Unreachable) => `no answer from ${u.address}: ${u.error}`;

/** The directory's naming contexts, as a rootDSE would give them for the topology's forest. */
export function namingContexts(t: Topology): { domain: string; configuration: string; schema: string } {
  const domain = domainDn(t.forest.fqdn);
  return { domain, configuration: `CN=Configuration,${domain}`, schema: `CN=Schema,CN=Configuration,${domain}` };
}

/** Attribute values by name, case-insensitively (LDAP attribute names are). */
export function values(entry: LdapEntry | undefined, name: string): string[] {
  if (!entry) return [];
  const key = name.toLowerCase();
  for (const [k, v] of Object.entries(entry.attributes)) if (k.toLowerCase() === key) return v;
  return [];
}

/** LDAP noSuchObject: a base search of what does not exist. */
export const NO_SUCH_OBJECT = 32;

export function ldapError(r: LdapSearchResult | LdapBindResult): string {
  if (isUnreachable(r)) return unreachableText(r);
  return r.ok ? '' : `LDAP error ${r.code}: ${r.message}`;
}

/** A base search that tells "there is no such object" (32) apart from a failure. */
export async function readEntry(probes: Probes, dc: string | undefined, dn: string, attributes: string[]): Promise<{ entry: LdapEntry | undefined } | { error: string }> {
  const r = await probes.ldapSearch({ ...(dc ? { dc } : {}), base: dn, scope: 'base', attributes });
  if (!isUnreachable(r) && !r.ok && r.code === NO_SUCH_OBJECT) return { entry: undefined };
  if (isUnreachable(r) || !r.ok) return { error: ldapError(r) };
  return { entry: r.entries[0] };
}

/** A peer certificate as the probes report it (the TLS and HTTPS probes alike). */
export function presented(cert: PeerCertificate): PresentedCertificate {
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? (v[0] ?? '') : (v ?? ''));
  const sans = (cert.subjectaltname ?? '')
    .split(', ')
    .filter((x) => x.startsWith('DNS:'))
    .map((x) => x.slice(4).toLowerCase());
  return { subjectCN: first(cert.subject?.CN), sans, issuerCN: first(cert.issuer?.CN), thumbprint: (cert.fingerprint ?? '').replace(/:/g, '').toUpperCase() };
}
