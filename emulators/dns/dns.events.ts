/**
 * DNS Server (Windows Server 2008, AD-integrated zones): commands in, events out, records and answers.
 * Answers are shaped like dns-packet's so the wire adapter maps them 1:1.
 */
import type { EventLogWrite } from '../../sim/journal.js';
import type { Failure, Result } from '../../sim/result.js';
import type { ServiceStartingQuery, ServiceStateChanged } from '../host/host.events.js';

export const DNS_ID = 'dns';
export const DNS_SERVICE = 'DNS';
export const DNS_SERVICE_DISPLAY_NAME = 'DNS Server';
export const DEFAULT_TTL = 3600;

/** Types the operator can add; SOA and NS exist at every zone apex and come with the zone. */
export type DnsEditableType = 'A' | 'SRV' | 'CNAME';
export type DnsRecordType = DnsEditableType | 'SOA' | 'NS';
export type DnsQueryType = DnsRecordType | 'ANY';
export type DnsRcode = 'NOERROR' | 'NXDOMAIN' | 'REFUSED' | 'SERVFAIL';

export interface SrvData {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

/** One resource record, names lower case without the trailing dot. */
export type DnsRecord = { name: string; ttl: number } & (
  | { type: 'A'; data: string }
  | { type: 'CNAME'; data: string }
  | { type: 'NS'; data: string }
  | { type: 'SRV'; data: SrvData }
  | { type: 'SOA'; data: SoaData }
);

/** An answer as dns-packet encodes it (`name`, `type`, `ttl`, `class`, `data`), plus the text DNS Manager would show. */
export type DnsAnswer = DnsRecord & { class: 'IN'; text: string };

export interface DnsQueryResult {
  rcode: DnsRcode;
  /** Whether this server is authoritative for the name (the AA bit). */
  authoritative: boolean;
  answers: DnsAnswer[];
  /** The zone's SOA for NXDOMAIN and NODATA answers (negative caching, RFC 2308). */
  authority: DnsAnswer[];
}

export interface DnsRecordArgs {
  name: string;
  type: DnsEditableType;
  ttl?: number;
  address?: string;
  target?: string;
  port?: number;
  priority?: number;
  weight?: number;
}

export type DnsFailureKind =
  | 'dns.unavailable'
  | 'dns.noSuchZone'
  | 'dns.zoneExists'
  | 'dns.recordExists'
  | 'dns.noSuchRecord'
  | 'dns.cnameCollision'
  | 'dns.invalidRecord';
export interface DnsFailure extends Failure {
  kind: DnsFailureKind;
}

export interface DnsServerHost {
  name: string;
  fqdn: string;
}

export interface DnsInput {
  /** The hosts with the dnsServer role, which run the DNS service and are the zones' NS records. */
  servers: DnsServerHost[];
  /** The AD forest root domain. */
  forest: string;
  /** Hosts for the AD zone's A records. */
  hosts: { name: string; fqdn: string; ip: string; domainController: boolean }[];
  sipDomains: string[];
}

export type DnsCommand =
  | { type: 'dns.addRecord'; requestId: string; record: DnsRecordArgs }
  | { type: 'dns.removeRecord'; requestId: string; record: DnsRecordArgs }
  | { type: 'dns.addZone'; requestId: string; zone: string }
  | ServiceStartingQuery
  | ServiceStateChanged;

export type DnsEmitted =
  | { type: 'dns.reply'; requestId: string; result: Result<unknown> }
  | { type: 'dns.recordAdded'; zone: string; record: DnsAnswer; summary: string }
  | { type: 'dns.recordRemoved'; zone: string; records: DnsAnswer[]; summary: string }
  | { type: 'dns.zoneAdded'; zone: string; summary: string }
  | EventLogWrite;
