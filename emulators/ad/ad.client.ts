/**
 * Typed calls into the AD actor (`request()` over its commands) and pure selectors over its snapshot.
 * Other emulators and steps use these; nothing else should send `ad.*` commands by hand.
 */
import type { AnyActorRef } from 'xstate';
import { request } from '../../sim/emulator.js';
import type { AdModification, AdNewUser, AdResult, AdScope, AdSearchEntry, GlobalSettingsLocation, PrepState } from './ad.events.js';
import { dcNamed, findRtcService, pdc, pendingCount, prepState } from './ad.forest.js';
import { readQuery, searchCursor, type AdContext } from './ad.machine.js';
import type { FilterTree } from './ad.filter.js';
import { dnKey } from './ad.dn.js';
import { findBySam, type AdEntry } from './ad.store.js';

type Ref = AnyActorRef | undefined;

const call = <T>(ref: Ref, command: { type: string; [k: string]: unknown }): AdResult<T> => request<T>(ref, 'ad.reply', command) as AdResult<T>;

/** Drops keys whose value is undefined, so optional arguments stay absent from the command. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export const adAdd = (ref: Ref, args: { dn: string; attributes: Record<string, string[]>; dc?: string }) => call<{ dn: string }>(ref, { type: 'ad.add', ...defined(args) });

export const adModify = (ref: Ref, args: { dn: string; changes: AdModification[]; dc?: string }) => call<{ dn: string }>(ref, { type: 'ad.modify', ...defined(args) });
/** Several modifies in one request; each item's own result, in order. */
export const adModifyMany = (ref: Ref, args: { items: Array<{ dn: string; changes: AdModification[] }>; dc?: string }) =>
  call<Array<AdResult<{ dn: string }>>>(ref, { type: 'ad.modifyMany', ...defined(args) });

export const adDelete = (ref: Ref, args: { dn: string; dc?: string }) => call<{ dn: string }>(ref, { type: 'ad.delete', ...defined(args) });

export const adSearch = (ref: Ref, args: { base: string; scope: AdScope; filter?: string; attributes?: string[]; dc?: string }) =>
  call<AdSearchEntry[]>(ref, { type: 'ad.search', ...defined(args) });

/** A simple bind: `name` is a DN, `CORP\user`, a UPN (`user@corp.example.net`) or a sAMAccountName. */
export const adAuthenticate = (ref: Ref, args: { name: string; password: string }) => call<{ dn: string; sam: string }>(ref, { type: 'ad.authenticate', ...args });

/**
 * The same search and bind answered from the directory's current snapshot, at `now` (the lab's clock),
 * without a command through the actor: for readers that only ask, many times a second.
 */
/**
 * A search over the directory's current snapshot that gives way after about `budget` units of filter
 * work (the LDAP adapter's cooperative searches); found entries go into `out` as they are found.
 */
export function adSearchCursor(
  ref: Ref,
  args: { base: string; scope: AdScope; filter?: string; filterTree?: FilterTree; attributes?: string[]; dc?: string },
  now: number,
  out: AdSearchEntry[],
  budget: number,
): Generator<void, AdResult<AdSearchEntry[]>, void> {
  return searchCursor(need(ref), { type: 'ad.search', ...defined(args) }, now, out, budget);
}

export function adSearchNow(ref: Ref, args: { base: string; scope: AdScope; filter?: string; attributes?: string[]; dc?: string }, now: number): AdResult<AdSearchEntry[]> {
  return readQuery(need(ref), { type: 'ad.search', ...defined(args) }, now) as AdResult<AdSearchEntry[]>;
}

export function adAuthenticateNow(ref: Ref, args: { name: string; password: string }, now: number): AdResult<{ dn: string; sam: string }> {
  return readQuery(need(ref), { type: 'ad.authenticate', ...args }, now) as AdResult<{ dn: string; sam: string }>;
}

export const adCreateUser = (ref: Ref, args: AdNewUser & { dc?: string }) => call<{ dn: string }>(ref, { type: 'ad.createUser', ...defined(args) });

export const adSetPassword = (ref: Ref, args: { sam: string; password: string; dc?: string }) => call<{ dn: string }>(ref, { type: 'ad.setPassword', ...defined(args) });

/** LCSCmd.exe /Forest /Action:SchemaPrep — always written on the Schema Master. */
export const adSchemaPrep = (ref: Ref, args: { dc?: string; runAs?: string } = {}) => call<{ log: string[] }>(ref, { type: 'ad.schemaPrep', ...defined(args) });

/** LCSCmd.exe /Forest /Action:ForestPrep [/Global:{system|configuration}] [/GroupDomain:<fqdn>]. */
export const adForestPrep = (ref: Ref, args: { sipDomain: string; globalSettingsLocation?: GlobalSettingsLocation; groupDomain?: string; dc?: string; runAs?: string }) =>
  call<{ log: string[] }>(ref, { type: 'ad.forestPrep', ...defined(args) });

/** LCSCmd.exe /Domain[:<fqdn>] /Action:DomainPrep. */
export const adDomainPrep = (ref: Ref, args: { domain?: string; dc?: string; runAs?: string } = {}) => call<{ log: string[] }>(ref, { type: 'ad.domainPrep', ...defined(args) });

/** repadmin /syncall: applies every pending change on every available DC now. */
export const adForceReplication = (ref: Ref) => call<{ changes: number }>(ref, { type: 'ad.forceReplication' });
export const adSetInboundReplicationDelay = (ref: Ref, a: { dc: string; delayMs: number }) => call<{ dc: string; delayMs: number }>(ref, { type: 'ad.setInboundReplicationDelay', ...a });

// ---------------------------------------------------------------------------------------------------
// Selectors

function contextOf(source: Ref | AdContext): AdContext | undefined {
  if (!source) return undefined;
  if ('forest' in source && 'env' in source) return source as AdContext;
  return (source as AnyActorRef).getSnapshot()?.context as AdContext | undefined;
}

function need(source: Ref | AdContext): AdContext {
  const c = contextOf(source);
  if (!c) throw new Error('AD selector: no AD actor in this lab');
  return c;
}

/** CheckSchemaPrepState / CheckForestPrepState / CheckDomainPrepState as seen by one DC (default the PDC emulator). */
export function adPrepState(source: Ref | AdContext, dc?: string): { schema: PrepState; forest: PrepState; domain: PrepState } {
  const f = need(source).forest;
  const target = dc === undefined ? pdc(f) : dcNamed(f, dc);
  if (!target) return { schema: 'Not Ready', forest: 'Not Ready', domain: 'Not Ready' };
  return prepState(f, target);
}

/** DN of CN=RTC Service (pools go in CN=Pools,<that>); undefined before ForestPrep. Read from the PDC emulator. */
export function adRtcServiceDn(source: Ref | AdContext, dc?: string): string | undefined {
  const f = need(source).forest;
  const target = (dc === undefined ? pdc(f) : dcNamed(f, dc)) ?? pdc(f);
  return findRtcService(target.replica, f.ncs);
}

export const adDomainDn = (source: Ref | AdContext): string => need(source).forest.ncs.domain;

export const adConfigurationDn = (source: Ref | AdContext): string => need(source).forest.ncs.configuration;

export const adForestFqdn = (source: Ref | AdContext): string => need(source).forest.forestFqdn;

/** A user (or any account) by sAMAccountName, as one DC (default the PDC emulator) sees it. */
export function adFindUser(source: Ref | AdContext, sam: string, dc?: string): { dn: string; attributes: Record<string, string[]> } | undefined {
  const f = need(source).forest;
  const target = (dc === undefined ? pdc(f) : dcNamed(f, dc)) ?? pdc(f);
  const e: AdEntry | undefined = findBySam(target.replica.directory, sam);
  return e ? { dn: e.dn, attributes: e.attributes } : undefined;
}

/**
 * The password the lab holds for an account, for protocols that need the secret itself (SIP Digest
 * computes HA1 from it; docs/decisions/0008-sip-digest.md). A real DC never reveals it; the lab may.
 */
export function adAccountPassword(source: Ref | AdContext, sam: string): string | undefined {
  const user = adFindUser(source, sam);
  return user ? need(source).forest.passwords[dnKey(user.dn)] : undefined;
}

/** Every change has reached every DC. */
export const adIsConverged = (source: Ref | AdContext): boolean => pendingCount(need(source).forest) === 0;

/** DCs with the host up and NTDS Running, PDC emulator first. */
export const adAvailableDcs = (source: Ref | AdContext): string[] =>
  need(source)
    .forest.dcs.filter((d) => d.available)
    .map((d) => d.name);

/** Every DC of the forest, PDC emulator first. */
export const adDomainControllers = (source: Ref | AdContext): string[] => need(source).forest.dcs.map((d) => d.name);

/** What the PDC emulator holds, for the replay planner (emulators/ad/ad.plan.ts): its directory and the account secrets. */
export function adPdcView(source: Ref | AdContext): {
  directory: Record<string, AdEntry>;
  passwords: Record<string, string>;
  ncs: { domain: string; configuration: string; schema: string };
  /** Whether an attribute is single-valued, by lDAPDisplayName (undefined: the schema does not know it). */
  singleValued: (attribute: string) => boolean | undefined;
} {
  const f = need(source).forest;
  const replica = pdc(f).replica;
  return { directory: replica.directory, passwords: f.passwords, ncs: f.ncs, singleValued: (a) => replica.schema.attributes[a.toLowerCase()]?.single };
}

/** Where ForestPrep puts CN=RTC Service (the Configuration partition or the System container). */
export { rtcServiceLocations } from './ad.forest.js';
