/**
 * Office Communicator 2007 R2 server discovery, pure: from the sign-in address alone (automatic
 * configuration) or from a manually configured server. The resolver is a function, so the same code runs
 * on the lab's DNS now and on real DNS later (ocs-facts §6).
 *
 * - SRV, in this order: `_sipinternaltls._tcp.<d>`, `_sipinternal._tcp.<d>` (only when TCP is allowed),
 *   `_sip._tls.<d>` [V] (TechNet R2 "Client DNS Queries Drilldown").
 * - Strict name matching: an SRV target outside the SIP domain is ignored [B] (Doug L., 2009).
 * - No usable SRV: A records `sipinternal.<d>`, `sip.<d>`, `sipexternal.<d>` (R2 final docs' order; the
 *   sources conflict, so the order is a setting) [V/B].
 * - Client Application log, source Communicator: event 1 when no SRV record exists for the domain, event 3
 *   for each login server name that does not resolve [B] (Perficient/Schertz blog 2007, texts from there).
 */

export type Transport = 'TLS' | 'TCP';
export type LookupType = 'SRV' | 'A';
export type LookupRcode = 'NOERROR' | 'NXDOMAIN' | 'REFUSED' | 'SERVFAIL' | 'TIMEOUT';

export type ResolvedRecord =
  | { type: 'A'; address: string }
  | { type: 'SRV'; priority: number; weight: number; port: number; target: string }
  | { type: 'CNAME'; target: string };

export interface ResolverAnswer {
  rcode: LookupRcode;
  records: ResolvedRecord[];
}

/** Asks DNS one question: over UDP to the lab's DNS server (`udpResolver` in communicator.wire.ts), or a fixed zone in tests. */
export type Resolver = (name: string, type: LookupType) => ResolverAnswer | Promise<ResolverAnswer>;

export const DEFAULT_A_FALLBACKS: readonly string[] = ['sipinternal', 'sip', 'sipexternal'];

export interface ManualServer {
  server: string;
  transport: Transport;
}

export interface DiscoveryOptions {
  /** Whether the client may use TCP (adds the `_sipinternal._tcp` query). Default false. */
  allowTcp?: boolean;
  /** Host labels tried as `<label>.<sip domain>` when no SRV record is usable. */
  aFallbacks?: readonly string[];
  /** Manual configuration: no discovery, this server and transport. */
  manual?: ManualServer;
  /** Strict name matching of SRV targets (the default; a policy could relax it [U]). */
  strictNameMatching?: boolean;
}

/** One DNS question and what came back, as a trace line can show it. */
export interface LookupRecord {
  name: string;
  type: LookupType;
  rcode: LookupRcode;
  /** "0 0 5061 sip.example.com", "127.0.10.30". */
  answers: string[];
  /** Why the client set an answer aside (strict name matching). */
  ignored?: string[];
}

/** A server the client will try to connect to, in order. */
export interface Candidate {
  host: string;
  port: number;
  transport: Transport;
  via: 'srv' | 'a-fallback' | 'manual';
  /** The SRV name that pointed here. */
  srv?: string;
  addresses: string[];
}

export interface ClientEventEntry {
  eventId: number;
  level: 'Error' | 'Warning' | 'Information';
  message: string;
}

export interface DiscoveryResult {
  mode: 'automatic' | 'manual';
  sipDomain: string;
  lookups: LookupRecord[];
  /** Hosts that resolved, in the order the client tries them. */
  candidates: Candidate[];
  /** Client Application log entries (source Communicator) written during discovery. */
  events: ClientEventEntry[];
}

export const CLIENT_EVENT_SOURCE = 'Communicator';
export const CLIENT_EVENT_LOG = 'Application';

export const clientEvents = {
  noSrv: (domain: string): ClientEventEntry => ({
    eventId: 1,
    level: 'Error',
    message: `Communicator was unable to locate the login server. No DNS SRV records exist for domain ${domain}, so Communicator was unable to login.`,
  }),
  unresolved: (host: string): ClientEventEntry => ({
    eventId: 3,
    level: 'Error',
    message: `Communicator was unable to resolve the DNS hostname of the login server ${host}.`,
  }),
};

const lc = (s: string) => s.toLowerCase().replace(/\.$/, '');

/** The SIP domain of a sign-in address (`sip:` prefix optional). */
export function sipDomainOf(address: string): string {
  const a = address.replace(/^sip:/i, '');
  const at = a.lastIndexOf('@');
  return lc(at < 0 ? '' : a.slice(at + 1));
}

/** Whether a host name lies in the SIP domain (the domain itself or below it). */
export function inSipDomain(host: string, domain: string): boolean {
  const h = lc(host);
  const d = lc(domain);
  return d !== '' && (h === d || h.endsWith(`.${d}`));
}

function recordText(r: ResolvedRecord): string {
  if (r.type === 'A') return r.address;
  if (r.type === 'CNAME') return `CNAME ${r.target}`;
  return `${r.priority} ${r.weight} ${r.port} ${lc(r.target)}`;
}

/** The SRV queries for a domain, in the client's order. */
export function srvQueries(domain: string, allowTcp: boolean): { name: string; transport: Transport }[] {
  return [
    { name: `_sipinternaltls._tcp.${domain}`, transport: 'TLS' as const },
    ...(allowTcp ? [{ name: `_sipinternal._tcp.${domain}`, transport: 'TCP' as const }] : []),
    { name: `_sip._tls.${domain}`, transport: 'TLS' as const },
  ];
}

/** Resolves a host's A records, following CNAMEs as a client resolver's answer does. */
async function lookupA(resolve: Resolver, host: string, lookups: LookupRecord[]): Promise<string[]> {
  const a = await resolve(host, 'A');
  lookups.push({ name: lc(host), type: 'A', rcode: a.rcode, answers: a.records.map(recordText) });
  return a.rcode === 'NOERROR' ? a.records.flatMap((r) => (r.type === 'A' ? [r.address] : [])) : [];
}

/** Runs discovery for a sign-in address; never throws for DNS trouble, which shows in the result. */
export async function discover(signInAddress: string, resolve: Resolver, options: DiscoveryOptions = {}): Promise<DiscoveryResult> {
  const sipDomain = sipDomainOf(signInAddress);
  const lookups: LookupRecord[] = [];
  const events: ClientEventEntry[] = [];
  const candidates: Candidate[] = [];

  if (options.manual) {
    const host = lc(options.manual.server);
    const transport = options.manual.transport;
    const addresses = await lookupA(resolve, host, lookups);
    if (addresses.length) candidates.push({ host, port: transport === 'TLS' ? 5061 : 5060, transport, via: 'manual', addresses });
    else events.push(clientEvents.unresolved(host));
    return { mode: 'manual', sipDomain, lookups, candidates, events };
  }

  const strict = options.strictNameMatching ?? true;
  let srvAnswered = false;
  for (const q of srvQueries(sipDomain, options.allowTcp ?? false)) {
    const answer = await resolve(q.name, 'SRV');
    const srvs = answer.rcode === 'NOERROR' ? answer.records.filter((r): r is Extract<ResolvedRecord, { type: 'SRV' }> => r.type === 'SRV') : [];
    const record: LookupRecord = { name: q.name, type: 'SRV', rcode: answer.rcode, answers: answer.records.map(recordText) };
    lookups.push(record);
    if (!srvs.length) continue;
    srvAnswered = true;
    // Lowest priority first, then highest weight; the target name breaks ties so the order is stable.
    const ordered = [...srvs].sort((x, y) => x.priority - y.priority || y.weight - x.weight || (lc(x.target) < lc(y.target) ? -1 : lc(x.target) > lc(y.target) ? 1 : 0));
    for (const srv of ordered) {
      const target = lc(srv.target);
      if (strict && !inSipDomain(target, sipDomain)) {
        (record.ignored ??= []).push(`${target}: not in the SIP domain ${sipDomain} (strict name matching)`);
        continue;
      }
      const addresses = await lookupA(resolve, target, lookups);
      if (addresses.length) candidates.push({ host: target, port: srv.port, transport: q.transport, via: 'srv', srv: q.name, addresses });
      else events.push(clientEvents.unresolved(target));
    }
  }
  if (candidates.length) return { mode: 'automatic', sipDomain, lookups, candidates, events };

  if (!srvAnswered) events.push(clientEvents.noSrv(sipDomain));
  for (const label of options.aFallbacks ?? DEFAULT_A_FALLBACKS) {
    const host = `${lc(label)}.${sipDomain}`;
    const addresses = await lookupA(resolve, host, lookups);
    if (addresses.length) candidates.push({ host, port: 5061, transport: 'TLS', via: 'a-fallback', addresses });
    else events.push(clientEvents.unresolved(host));
  }
  return { mode: 'automatic', sipDomain, lookups, candidates, events };
}

/** The discovery trace as report lines: each lookup and what it returned. */
export function discoveryLines(r: DiscoveryResult): string[] {
  const lines = r.lookups.map((l) => {
    const found = l.rcode !== 'NOERROR' ? l.rcode : l.answers.length ? l.answers.join(', ') : 'no records';
    const ignored = l.ignored?.length ? ` — ignored ${l.ignored.join('; ')}` : '';
    return `DNS ${l.type} ${l.name}: ${found}${ignored}`;
  });
  if (r.mode === 'manual') lines.unshift('Manual configuration: no automatic discovery');
  return lines;
}
