/**
 * Zones and records, and how a Windows DNS server answers for the zones it is authoritative for. Plain
 * data and pure functions.
 */
import { fail, ok, type Result } from '../../sim/result.js';
import type { ServiceState } from '../host/host.events.js';
import {
  DEFAULT_TTL,
  type DnsAnswer,
  type DnsFailure,
  type DnsInput,
  type DnsQueryResult,
  type DnsQueryType,
  type DnsRecord,
  type DnsRecordArgs,
  type DnsServerHost,
} from './dns.events.js';

export interface DnsZone {
  /** "corp.example.net", "example.com". */
  name: string;
  /** Stored in Active Directory (replicated to every DNS server on a DC). */
  adIntegrated: boolean;
  records: DnsRecord[];
}

export interface DnsStore {
  servers: DnsServerHost[];
  zones: DnsZone[];
}

/** Lower case, no trailing dot: the form every name is stored and compared in. */
export const normalizeName = (name: string): string => name.trim().toLowerCase().replace(/\.+$/, '');

const inZone = (name: string, zone: string) => name === zone || name.endsWith(`.${zone}`);

/** The zone that holds `name`: the longest zone name it falls under. */
export function zoneFor(store: DnsStore, name: string): DnsZone | undefined {
  const n = normalizeName(name);
  let best: DnsZone | undefined;
  for (const z of store.zones) if (inZone(n, z.name) && (!best || z.name.length > best.name.length)) best = z;
  return best;
}

/** DNS Manager's text for a record's data: "127.0.10.30", "0 0 5061 sip.example.com". */
export function dataText(r: DnsRecord): string {
  switch (r.type) {
    case 'A':
    case 'CNAME':
    case 'NS':
      return r.data;
    case 'SRV':
      return `${r.data.priority} ${r.data.weight} ${r.data.port} ${r.data.target}`;
    case 'SOA':
      return `${r.data.serial} ${r.data.mname} ${r.data.rname}`;
  }
}

export const recordText = (r: DnsRecord): string => `${r.name} ${r.type} ${dataText(r)}`;

export const toAnswer = (r: DnsRecord): DnsAnswer => ({ ...r, class: 'IN', text: recordText(r) });

/** Windows DNS Server defaults for a new primary zone: refresh 15 min, retry 10 min, expire 1 day, minimum TTL 1 hour. */
function newZone(name: string, servers: DnsServerHost[], records: DnsRecord[] = []): DnsZone {
  const primary = servers[0]?.fqdn ?? `localhost.${name}`;
  const soa: DnsRecord = {
    name,
    ttl: DEFAULT_TTL,
    type: 'SOA',
    data: { mname: primary, rname: `hostmaster.${name}`, serial: 1, refresh: 900, retry: 600, expire: 86400, minimum: DEFAULT_TTL },
  };
  const ns: DnsRecord[] = servers.map((s) => ({ name, ttl: DEFAULT_TTL, type: 'NS', data: s.fqdn }));
  return { name, adIntegrated: true, records: [soa, ...ns, ...records] };
}

/** The zones the lab starts with: the AD zone as DCPromo leaves it, `_msdcs`, and an empty zone per SIP domain. */
export function initialStore(input: Omit<DnsInput, 'env'>): DnsStore {
  const forest = normalizeName(input.forest);
  const a = (name: string, ip: string): DnsRecord => ({ name, ttl: DEFAULT_TTL, type: 'A', data: ip });
  const srv = (name: string, port: number, target: string): DnsRecord => ({ name, ttl: 600, type: 'SRV', data: { priority: 0, weight: 100, port, target } });
  const dcs = input.hosts.filter((h) => h.domainController);
  const adRecords: DnsRecord[] = [
    ...dcs.map((d) => ({ ...a(forest, d.ip), ttl: 600 })),
    ...input.hosts.filter((h) => inZone(normalizeName(h.fqdn), forest)).map((h) => a(normalizeName(h.fqdn), h.ip)),
    ...dcs.flatMap((d) => [
      srv(`_ldap._tcp.${forest}`, 389, d.fqdn),
      srv(`_kerberos._tcp.${forest}`, 88, d.fqdn),
      srv(`_kerberos._udp.${forest}`, 88, d.fqdn),
      srv(`_kpasswd._tcp.${forest}`, 464, d.fqdn),
      srv(`_gc._tcp.${forest}`, 3268, d.fqdn),
    ]),
  ];
  const msdcs = `_msdcs.${forest}`;
  const msdcsRecords: DnsRecord[] = [
    ...dcs.flatMap((d) => [srv(`_ldap._tcp.dc.${msdcs}`, 389, d.fqdn), srv(`_kerberos._tcp.dc.${msdcs}`, 88, d.fqdn), srv(`_ldap._tcp.gc.${msdcs}`, 3268, d.fqdn)]),
    ...dcs.slice(0, 1).map((d) => srv(`_ldap._tcp.pdc.${msdcs}`, 389, d.fqdn)),
    ...dcs.map((d) => ({ ...a(`gc.${msdcs}`, d.ip), ttl: 600 })),
  ];
  const zones = [newZone(forest, input.servers, adRecords), newZone(msdcs, input.servers, msdcsRecords)];
  for (const d of input.sipDomains.map(normalizeName)) if (!zones.some((z) => z.name === d)) zones.push(newZone(d, input.servers));
  return { servers: input.servers, zones };
}

const zoneList = (store: DnsStore) => store.zones.map((z) => z.name).join(', ');

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** Builds the record `args` describe, or says which field is missing the way dnscmd would. */
export function recordFrom(args: DnsRecordArgs): Result<DnsRecord, DnsFailure> {
  const name = normalizeName(args.name);
  const ttl = args.ttl ?? DEFAULT_TTL;
  const invalid = (what: string): { ok: false; failure: DnsFailure } =>
    fail({ kind: 'dns.invalidRecord', message: `Command failed: DNS_ERROR_INVALID_DATA 13 (${what})`, name, type: args.type });
  switch (args.type) {
    case 'A':
      if (!args.address || !IPV4.test(args.address)) return invalid(`an A record needs an IPv4 address, got ${args.address ?? 'none'}`);
      return ok({ name, ttl, type: 'A', data: args.address });
    case 'CNAME':
      if (!args.target) return invalid('a CNAME record needs a target host');
      return ok({ name, ttl, type: 'CNAME', data: normalizeName(args.target) });
    case 'SRV':
      if (!args.target || args.port === undefined) return invalid('an SRV record needs a target host and a port');
      return ok({ name, ttl, type: 'SRV', data: { priority: args.priority ?? 0, weight: args.weight ?? 0, port: args.port, target: normalizeName(args.target) } });
  }
}

const sameData = (a: DnsRecord, b: DnsRecord) => a.type === b.type && dataText(a) === dataText(b);

function bumpSerial(zone: DnsZone): DnsRecord[] {
  return zone.records.map((r) => (r.type === 'SOA' ? { ...r, data: { ...r.data, serial: r.data.serial + 1 } } : r));
}

function replaceZone(store: DnsStore, zone: DnsZone): DnsStore {
  return { ...store, zones: store.zones.map((z) => (z.name === zone.name ? zone : z)) };
}

function noSuchZone(store: DnsStore, name: string): DnsFailure {
  return {
    kind: 'dns.noSuchZone',
    message: `Command failed: DNS_ERROR_ZONE_DOES_NOT_EXIST 9601 (no zone on this server holds ${name}; zones: ${zoneList(store)})`,
    name,
    zones: store.zones.map((z) => z.name),
  };
}

export function addRecord(store: DnsStore, args: DnsRecordArgs): { store: DnsStore; result: Result<{ zone: string; record: DnsAnswer }, DnsFailure> } {
  const built = recordFrom(args);
  if (!built.ok) return { store, result: built };
  const record = built.value;
  const zone = zoneFor(store, record.name);
  if (!zone) return { store, result: fail(noSuchZone(store, record.name)) };
  const atName = zone.records.filter((r) => r.name === record.name);
  if (atName.some((r) => sameData(r, record))) {
    return { store, result: fail({ kind: 'dns.recordExists', message: `Command failed: DNS_ERROR_RECORD_ALREADY_EXISTS 9711 (${recordText(record)})`, zone: zone.name, record: recordText(record) }) };
  }
  // RFC 1034 §3.6.2: a CNAME cannot share its name with any other data.
  if ((record.type === 'CNAME' && atName.length > 0) || (record.type !== 'CNAME' && atName.some((r) => r.type === 'CNAME'))) {
    return {
      store,
      result: fail({ kind: 'dns.cnameCollision', message: `Command failed: DNS_ERROR_CNAME_COLLISION 9709 (${record.name} already has ${atName.map((r) => r.type).join(', ')} data)`, zone: zone.name, record: recordText(record) }),
    };
  }
  const next: DnsZone = { ...zone, records: [...bumpSerial(zone), record] };
  return { store: replaceZone(store, next), result: ok({ zone: zone.name, record: toAnswer(record) }) };
}

/** Removes the records at `name` of `type` whose data match every field given (all of that type when none is). */
export function removeRecord(store: DnsStore, args: DnsRecordArgs): { store: DnsStore; result: Result<{ zone: string; removed: DnsAnswer[] }, DnsFailure> } {
  const name = normalizeName(args.name);
  const zone = zoneFor(store, name);
  if (!zone) return { store, result: fail(noSuchZone(store, name)) };
  const matches = (r: DnsRecord): boolean => {
    if (r.name !== name || r.type !== args.type) return false;
    if (r.type === 'A') return args.address === undefined || r.data === args.address;
    if (r.type === 'CNAME') return args.target === undefined || r.data === normalizeName(args.target);
    if (r.type === 'SRV')
      return (
        (args.target === undefined || r.data.target === normalizeName(args.target)) &&
        (args.port === undefined || r.data.port === args.port) &&
        (args.priority === undefined || r.data.priority === args.priority) &&
        (args.weight === undefined || r.data.weight === args.weight)
      );
    return false;
  };
  const removed = zone.records.filter(matches);
  if (!removed.length) {
    return { store, result: fail({ kind: 'dns.noSuchRecord', message: `Command failed: DNS_ERROR_RECORD_DOES_NOT_EXIST 9701 (${name} ${args.type})`, zone: zone.name, name, type: args.type }) };
  }
  const next: DnsZone = { ...zone, records: bumpSerial(zone).filter((r) => !matches(r)) };
  return { store: replaceZone(store, next), result: ok({ zone: zone.name, removed: removed.map(toAnswer) }) };
}

export function addZone(store: DnsStore, zoneName: string): { store: DnsStore; result: Result<{ zone: string }, DnsFailure> } {
  const name = normalizeName(zoneName);
  if (store.zones.some((z) => z.name === name)) {
    return { store, result: fail({ kind: 'dns.zoneExists', message: `Command failed: DNS_ERROR_ZONE_ALREADY_EXISTS 9609 (${name})`, zone: name }) };
  }
  return { store: { ...store, zones: [...store.zones, newZone(name, store.servers)] }, result: ok({ zone: name }) };
}

const CNAME_CHAIN_LIMIT = 8;

/**
 * How the server answers a query for its authoritative zones (RFC 1034 §4.3.2): records of the type →
 * NOERROR with answers (CNAMEs followed while the target stays in a zone of ours); the name exists but
 * has no such data → NOERROR, no answers, SOA in authority (NODATA); the name is absent from the zone →
 * NXDOMAIN with the SOA; a name in no zone of ours → REFUSED, since recursion is off.
 */
export function resolve(store: DnsStore, query: { name: string; type: DnsQueryType }): DnsQueryResult {
  const answers: DnsAnswer[] = [];
  let name = normalizeName(query.name);
  for (let hop = 0; hop <= CNAME_CHAIN_LIMIT; hop++) {
    const zone = zoneFor(store, name);
    if (!zone) {
      // The first name outside our zones is refused; a CNAME leading out of them ends the answer there.
      return hop === 0 ? { rcode: 'REFUSED', authoritative: false, answers: [], authority: [] } : { rcode: 'NOERROR', authoritative: true, answers, authority: [] };
    }
    const soa = zone.records.filter((r) => r.type === 'SOA').map(toAnswer);
    const atName = zone.records.filter((r) => r.name === name);
    const wanted = query.type === 'ANY' ? atName : atName.filter((r) => r.type === query.type);
    if (wanted.length) return { rcode: 'NOERROR', authoritative: true, answers: [...answers, ...wanted.map(toAnswer)], authority: [] };
    const cname = atName.find((r) => r.type === 'CNAME');
    if (cname && cname.type === 'CNAME') {
      answers.push(toAnswer(cname));
      name = cname.data;
      continue;
    }
    const exists = atName.length > 0 || zone.records.some((r) => r.name.endsWith(`.${name}`));
    return { rcode: exists ? 'NOERROR' : 'NXDOMAIN', authoritative: true, answers, authority: soa };
  }
  return { rcode: 'SERVFAIL', authoritative: true, answers, authority: [] };
}

/**
 * Whether the DNS service runs on at least one server, as each server's host last told (at lab start and
 * on every change); a server no host has told about (machine tests) counts as running.
 */
export function dnsAnswering(servers: DnsServerHost[], heard: Record<string, ServiceState>): boolean {
  if (!servers.length) return true;
  return servers.some((s) => (heard[s.name] ?? 'Running') === 'Running');
}
