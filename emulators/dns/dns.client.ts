/**
 * How steps, other emulators and the DNS wire adapter use the lab's DNS: edits through `request()`,
 * queries and listings from the snapshot.
 */
import type { AnyActorRef } from 'xstate';
import { request } from '../../sim/emulator.js';
import { fail, ok, type Result } from '../../sim/result.js';
import type { DnsAnswer, DnsQueryResult, DnsQueryType, DnsRecordArgs } from './dns.events.js';
import { TIMED_OUT, type DnsContext } from './dns.machine.js';
import { dnsAnswering, normalizeName, resolve, toAnswer, type DnsZone } from './dns.store.js';

type Ref = AnyActorRef | undefined;

function context(ref: Ref): DnsContext {
  if (!ref) throw new Error('dns: no such actor in this lab');
  return (ref.getSnapshot() as { context: DnsContext }).context;
}

/** Adds a record to the zone that holds its name (the longest matching zone). */
export const dnsAddRecord = (ref: Ref, args: DnsRecordArgs): Result<{ zone: string; record: DnsAnswer }> =>
  request(ref, 'dns.reply', { type: 'dns.addRecord', record: args });

/** Removes the records at `name` of `type` matching every data field given. */
export const dnsRemoveRecord = (ref: Ref, args: Omit<DnsRecordArgs, 'ttl'>): Result<{ zone: string; removed: DnsAnswer[] }> =>
  request(ref, 'dns.reply', { type: 'dns.removeRecord', record: args });

/** Creates an AD-integrated primary zone with its SOA and NS records. */
export const dnsAddZone = (ref: Ref, args: { zone: string }): Result<{ zone: string }> => request(ref, 'dns.reply', { type: 'dns.addZone', ...args });

/** What a client asking the lab's DNS servers gets back; `dns.unavailable` when no server answers. */
export function dnsQuery(ref: Ref, args: { name: string; type: DnsQueryType }): Result<DnsQueryResult> {
  const c = context(ref);
  if (!dnsOnline(ref)) return fail(TIMED_OUT);
  return ok(resolve(c.store, args));
}

/** Whether at least one DNS server runs the DNS service. */
export function dnsOnline(ref: Ref): boolean {
  const c = context(ref);
  return dnsAnswering(c.store.servers, c.heard);
}

export const dnsZones = (ref: Ref): string[] => context(ref).store.zones.map((z) => z.name);

/** The zones with their records, as the server holds them (for the replay planner). */
export const dnsZoneStore = (ref: Ref): readonly DnsZone[] => context(ref).store.zones;

/** Every record, or those of one zone, as DNS Manager lists them. */
export function dnsRecords(ref: Ref, zone?: string): DnsAnswer[] {
  const zones = context(ref).store.zones;
  const picked = zone === undefined ? zones : zones.filter((z) => z.name === normalizeName(zone));
  return picked.flatMap((z) => z.records.map(toAnswer));
}
