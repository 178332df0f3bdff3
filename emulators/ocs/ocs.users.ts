/**
 * Users on a pool, as ADUC's Communications Server pages change them (enable, move, remove), and their
 * server-stored contacts in the RTC database.
 */
import { fail, ok, type Result } from '../../sim/result.js';
import type { EnableUsersArgs, MoveUsersArgs, OcsFailureKind } from './ocs.events.js';
import type { AttributeChange, DirectoryEntry, OcsPeers } from './ocs.ports.js';
import { changeContactList, DEFAULT_GROUP, DEFAULT_GROUP_LABEL, isDefaultGroupName, type ContactChange, type ContactChangeResult } from './ocs.contacts.js';
import { FRONT_END_SERVICE, findPool, homedUserBySam, logWizard, sipUri, withUser, type OcsStore, type PoolRecord } from './ocs.store.js';
import { attr, ev, failure, refused, type Emitted, type WizardContext, type WizardOutcome } from './ocs.wizard.js';

// ---------------------------------------------------------------------------------------------------
// ADUC: Enable users for Communications Server

export interface UserOutcome {
  user: string;
  ok: boolean;
  sipAddress?: string;
  message: string;
}

function sipEnabledEntries(peers: OcsPeers): DirectoryEntry[] {
  const r = peers.ad.search(peers.ad.domainDn(), 'sub', '(objectClass=user)');
  return r.ok ? r.value.filter((e) => attr(e, 'msRTCSIP-PrimaryUserAddress')) : [];
}

export function enableUsers(ctx: WizardContext, args: EnableUsersArgs): WizardOutcome<{ users: UserOutcome[] }> {
  const pool = findPool(ctx.store, args.pool);
  if (!pool) return refused(ctx, 'ocs.noSuchPool', `The pool ${args.pool} was not found. Select a server or pool that exists.`);
  const sipDomain = (args.sipDomain ?? pool.sipDomains[0] ?? ctx.topology.sipDomains[0] ?? '').toLowerCase();
  const taken = new Map<string, string>();
  for (const e of sipEnabledEntries(ctx.peers)) taken.set((attr(e, 'msRTCSIP-PrimaryUserAddress') ?? '').toLowerCase(), e.dn.toLowerCase());
  const outcomes: UserOutcome[] = [];
  const emitted: Emitted[] = [];
  // The users' modifies go to AD together (one request), in order; a user whose address or entry is
  // still waiting in the batch sends the batch first, so each user sees what the ones before it did.
  const pending: Array<{ slot: number; sam: string; uri: string; dn: string; changes: AttributeChange[] }> = [];
  /** What waits in the batch: account names and DNs lower-cased, SIP URIs as built. */
  const waitingNames = new Set<string>();
  const flush = () => {
    if (!pending.length) return;
    const r = ctx.peers.ad.modifyMany(pending.map((p) => ({ dn: p.dn, changes: p.changes })));
    pending.forEach((p, i) => {
      const m = r.ok ? (r.value[i] as Result<unknown>) : r;
      if (!m.ok) {
        outcomes[p.slot] = { user: p.sam, ok: false, sipAddress: p.uri, message: `${p.sam}: ${m.failure.message}` };
        return;
      }
      taken.set(p.uri, p.dn.toLowerCase());
      outcomes[p.slot] = { user: p.sam, ok: true, sipAddress: p.uri, message: `${p.sam}: enabled as ${p.uri} on ${pool.fqdn}` };
      emitted.push(ev('ocs.userEnabled', `Enabled ${p.sam} for Communications Server as ${p.uri}, homed on ${pool.name}`, { user: p.sam, sipAddress: p.uri, pool: pool.name }));
    });
    pending.length = 0;
    waitingNames.clear();
  };
  const waiting = (uri: string, dn: string) => waitingNames.has(`uri:${uri}`) || waitingNames.has(`dn:${dn.toLowerCase()}`);
  for (const sam of args.users) {
    if (waitingNames.has(`sam:${sam.toLowerCase()}`)) flush();
    const entry = ctx.peers.ad.findUser(sam);
    if (!entry) {
      outcomes.push({ user: sam, ok: false, message: `${sam}: the user was not found in Active Directory.` });
      continue;
    }
    let address: string | undefined;
    switch (args.signInName) {
      case 'email':
        address = attr(entry, 'mail');
        if (!address) outcomes.push({ user: sam, ok: false, message: `${sam}: cannot generate a SIP URI from the e-mail address because the user does not have an e-mail address.` });
        break;
      case 'upn':
        address = attr(entry, 'userPrincipalName');
        if (!address) outcomes.push({ user: sam, ok: false, message: `${sam}: cannot generate a SIP URI because the user does not have a user principal name.` });
        break;
      case 'firstLast': {
        const given = attr(entry, 'givenName');
        const sn = attr(entry, 'sn');
        if (given && sn) address = `${given}.${sn}@${sipDomain}`;
        else outcomes.push({ user: sam, ok: false, message: `${sam}: cannot generate a SIP URI because the first name or last name is empty.` });
        break;
      }
      case 'sam':
        address = `${attr(entry, 'sAMAccountName') ?? sam}@${sipDomain}`;
        break;
    }
    if (!address) continue;
    const uri = sipUri(address.toLowerCase());
    if (waiting(uri, entry.dn)) flush();
    const owner = taken.get(uri);
    if (owner && owner !== entry.dn.toLowerCase()) {
      outcomes.push({ user: sam, ok: false, sipAddress: uri, message: `${sam}: the SIP URI ${uri} is already in use by another user or contact.` });
      continue;
    }
    const proxies = (entry.attributes.proxyAddresses ?? []).filter((p) => !/^sip:/i.test(p));
    pending.push({
      slot: outcomes.length,
      sam,
      uri,
      dn: entry.dn,
      changes: [
        { operation: 'replace', attribute: 'msRTCSIP-UserEnabled', values: ['TRUE'] },
        { operation: 'replace', attribute: 'msRTCSIP-PrimaryUserAddress', values: [uri] },
        { operation: 'replace', attribute: 'msRTCSIP-PrimaryHomeServer', values: [pool.homeServerDn] },
        { operation: 'replace', attribute: 'msRTCSIP-OptionFlags', values: ['256'] },
        { operation: 'replace', attribute: 'proxyAddresses', values: [...proxies, uri] },
        { operation: 'replace', attribute: 'msRTCSIP-ArchivingEnabled', values: ['0'] },
        { operation: 'replace', attribute: 'msRTCSIP-FederationEnabled', values: ['FALSE'] },
        { operation: 'replace', attribute: 'msRTCSIP-InternetAccessEnabled', values: ['FALSE'] },
      ],
    });
    for (const name of [`sam:${sam.toLowerCase()}`, `uri:${uri}`, `dn:${entry.dn.toLowerCase()}`]) waitingNames.add(name);
    outcomes.push({ user: sam, ok: false, message: `${sam}: waiting for Active Directory` });
  }
  flush();
  const store = logWizard(ctx.store, outcomes.map((o) => `[${o.ok ? 'Success' : 'Failure'}] ${o.message}`));
  return { store, emitted, result: ok({ users: outcomes }), durationMs: 5_000 * Math.max(1, args.users.length) };
}

// ---------------------------------------------------------------------------------------------------
// Move Users (ocs-facts §7)

export function moveUsers(ctx: WizardContext, args: MoveUsersArgs): WizardOutcome<{ users: UserOutcome[] }> {
  const { peers } = ctx;
  const to = findPool(ctx.store, args.toPool);
  if (!to) return refused(ctx, 'ocs.noSuchPool', `The destination pool ${args.toPool} was not found.`);
  const outcomes: UserOutcome[] = [];
  const emitted: Emitted[] = [];
  let store = ctx.store;
  for (const sam of args.users) {
    const entry = peers.ad.findUser(sam);
    const uri = entry ? attr(entry, 'msRTCSIP-PrimaryUserAddress') : undefined;
    if (!entry || !uri) {
      outcomes.push({ user: sam, ok: false, message: `${sam}: the user is not enabled for Communications Server.` });
      continue;
    }
    const homeDn = (attr(entry, 'msRTCSIP-PrimaryHomeServer') ?? '').toLowerCase();
    const from = store.pools.find((p) => p.homeServerDn.toLowerCase() === homeDn);
    if (from && from.name === to.name) {
      outcomes.push({ user: sam, ok: true, sipAddress: uri, message: `${sam}: already homed on ${to.name}` });
      continue;
    }
    if (!peers.sql.online(to.backEnd)) {
      outcomes.push({ user: sam, ok: false, sipAddress: uri, message: `${sam}: the destination pool ${to.name} is not available (back end ${to.backEndFqdn} cannot be reached).` });
      continue;
    }
    const sourceUp = !!from && peers.sql.online(from.backEnd);
    if (!sourceUp && !args.force) {
      outcomes.push({ user: sam, ok: false, sipAddress: uri, message: `${sam}: the source pool ${from?.name ?? '(unknown)'} is not available. Both pools must be running to move a user; use a forced move only if the source pool is lost (server-stored data will be lost).` });
      continue;
    }
    let moved = 0;
    let lost = false;
    if (sourceUp && from) {
      for (const table of ['Resource', 'Contact', 'ContactGroup', 'ContactList']) {
        const rows = peers.sql.read(from.backEnd, 'RTC', table);
        if (!rows.ok) continue;
        for (const r of rows.value.filter((x) => x.key.toLowerCase() === uri.toLowerCase() || x.key.toLowerCase().startsWith(`${uri.toLowerCase()}|`))) {
          peers.sql.write(to.backEnd, 'RTC', table, r.key, r.row as Record<string, string | number | boolean | null>);
          peers.sql.delete(from.backEnd, 'RTC', table, r.key);
          moved++;
        }
      }
    } else {
      lost = true;
      peers.sql.write(to.backEnd, 'RTC', 'Resource', uri, { sipAddress: uri, sam, dn: entry.dn, homePool: to.name });
    }
    const m = peers.ad.modify(entry.dn, [{ operation: 'replace', attribute: 'msRTCSIP-PrimaryHomeServer', values: [to.homeServerDn] }]);
    if (!m.ok) {
      outcomes.push({ user: sam, ok: false, sipAddress: uri, message: `${sam}: ${m.failure.message}` });
      continue;
    }
    store = withUser(store, { sam, dn: entry.dn, sipAddress: uri, pool: to.name });
    const message = lost
      ? `${sam}: forced move to ${to.name}; the source pool was unavailable, so contacts and other server-stored data were not moved and are lost`
      : `${sam}: moved to ${to.name} with ${moved} server-stored record(s)`;
    outcomes.push({ user: sam, ok: true, sipAddress: uri, message });
    emitted.push(ev('ocs.userMoved', `Moved ${sam} (${uri}) from ${from?.name ?? 'an unavailable pool'} to ${to.name}${lost ? ' (forced; server-stored data lost)' : ''}`, { user: sam, from: from?.name ?? null, to: to.name, forced: lost }));
  }
  store = logWizard(store, outcomes.map((o) => `[${o.ok ? 'Success' : 'Failure'}] ${o.message}`));
  return { store, emitted, result: ok({ users: outcomes }), durationMs: 10_000 * Math.max(1, args.users.length) };
}

// ---------------------------------------------------------------------------------------------------
// ADUC: Remove users from Communications Server (clears the msRTCSIP attributes; the User Replicator
// then drops the user from the pool's RTC database).

export function removeUsers(ctx: WizardContext, args: { users: string[] }): WizardOutcome<{ users: UserOutcome[] }> {
  const outcomes: UserOutcome[] = [];
  const emitted: Emitted[] = [];
  let store = ctx.store;
  for (const sam of args.users) {
    const entry = ctx.peers.ad.findUser(sam);
    if (!entry) {
      outcomes.push({ user: sam, ok: false, message: `${sam}: the user was not found in Active Directory.` });
      continue;
    }
    const uri = attr(entry, 'msRTCSIP-PrimaryUserAddress');
    if (!uri) {
      outcomes.push({ user: sam, ok: true, message: `${sam}: not enabled for Communications Server; nothing to remove` });
      continue;
    }
    const present = ['msRTCSIP-UserEnabled', 'msRTCSIP-PrimaryUserAddress', 'msRTCSIP-PrimaryHomeServer', 'msRTCSIP-OptionFlags', 'msRTCSIP-ArchivingEnabled', 'msRTCSIP-FederationEnabled', 'msRTCSIP-InternetAccessEnabled'].filter((a) => attr(entry, a) !== undefined);
    const proxies = (entry.attributes.proxyAddresses ?? []).filter((p) => !/^sip:/i.test(p));
    const m = ctx.peers.ad.modify(entry.dn, [
      ...present.map((attribute) => ({ operation: 'delete' as const, attribute, values: [] })),
      ...(proxies.length ? [{ operation: 'replace' as const, attribute: 'proxyAddresses', values: proxies }] : entry.attributes.proxyAddresses ? [{ operation: 'delete' as const, attribute: 'proxyAddresses', values: [] }] : []),
    ]);
    if (!m.ok) {
      outcomes.push({ user: sam, ok: false, sipAddress: uri, message: `${sam}: ${m.failure.message}` });
      continue;
    }
    const homed = homedUserBySam(store, sam);
    if (homed) {
      const pool = findPool(store, homed.pool);
      if (pool && ctx.peers.sql.online(pool.backEnd)) ctx.peers.sql.delete(pool.backEnd, 'RTC', 'Resource', homed.sipAddress);
      store = { ...store, users: store.users.filter((u) => u !== homed) };
    }
    outcomes.push({ user: sam, ok: true, sipAddress: uri, message: `${sam}: removed from Communications Server (${uri} released)` });
    emitted.push(ev('ocs.userRemoved', `Removed ${sam} (${uri}) from Communications Server`, { user: sam, sipAddress: uri }));
  }
  store = logWizard(store, outcomes.map((o) => `[${o.ok ? 'Success' : 'Failure'}] ${o.message}`));
  return { store, emitted, result: ok({ users: outcomes }), durationMs: 5_000 * Math.max(1, args.users.length) };
}

// ---------------------------------------------------------------------------------------------------
// Server-stored contacts: what Communicator's "Add a Contact" makes the user's home front end write into
// the RTC database (RTC.Contact, keyed "<owner URI>|<contact URI>"; ocs-facts §7).

export function addContact(ctx: WizardContext, args: { user: string; contact: string; group?: string }): { store: OcsStore; emitted: Emitted[]; result: Result<{ user: string; contact: string; pool: string }> } {
  const home = homeBackEnd(ctx, args.user);
  if (!home.ok) return { store: ctx.store, emitted: [], result: home };
  const { uri, pool } = home.value;
  const contact = sipUri(args.contact.toLowerCase());
  const groupName = args.group ?? DEFAULT_GROUP_LABEL;
  const sql = ctx.peers.sql;
  const no = (message: string) => ({ store: ctx.store, emitted: [], result: fail(failure('ocs.backEndUnavailable', message)) });
  // The group by its name (created the first time), then the contact in it: what Communicator's "Add a
  // Contact" asks of the front end (addGroup, setContact).
  const group = isDefaultGroupName(groupName) ? { ok: true as const, value: { groupId: DEFAULT_GROUP.id } } : changeContactList(sql, pool.backEnd, uri, { op: 'addGroup', name: groupName });
  if (!group.ok) return no(group.failure.message);
  const set = changeContactList(sql, pool.backEnd, uri, { op: 'setContact', uri: contact, groups: [group.value.groupId ?? DEFAULT_GROUP.id] });
  if (!set.ok) return no(set.failure.message);
  return {
    store: ctx.store,
    emitted: [ev('ocs.contactAdded', `${uri} added ${contact} to "${groupName}" (stored on ${pool.name})`, { user: args.user, contact, pool: pool.name })],
    result: ok({ user: args.user, contact, pool: pool.name }),
  };
}

/** A SIP-enabled user (by sAMAccountName or SIP address) homed on a pool whose front end and back end are up. */
function homeBackEnd(ctx: WizardContext, user: string): Result<{ uri: string; pool: PoolRecord }> {
  const byUri = /^sip:/i.test(user) ? ctx.store.users.find((u) => u.sipAddress.toLowerCase() === user.toLowerCase()) : undefined;
  const entry = ctx.peers.ad.findUser(byUri?.sam ?? user);
  const uri = entry ? attr(entry, 'msRTCSIP-PrimaryUserAddress') : undefined;
  if (!entry || !uri) return fail(failure('ocs.noSuchUser', `${user} is not enabled for Communications Server and cannot sign in.`));
  const homeDn = (attr(entry, 'msRTCSIP-PrimaryHomeServer') ?? '').toLowerCase();
  const pool = ctx.store.pools.find((p) => p.homeServerDn.toLowerCase() === homeDn);
  const up = pool ? ctx.store.servers.some((s) => s.pool === pool.name && s.activated && s.services[FRONT_END_SERVICE] === 'Running') : false;
  if (!pool || !up || !ctx.peers.sql.online(pool.backEnd)) return fail(failure('ocs.sourcePoolUnavailable', `Cannot sign in to Communicator as ${uri}: the server is temporarily unavailable.`));
  return ok({ uri: uri.toLowerCase(), pool });
}

/**
 * A change a signed-in client asks for its own contact list (the SOAP requests of
 * `vnd-microsoft-roaming-contacts`): applied on the home pool's back end, the new deltaNum returned.
 */
export function changeUserContactList(ctx: WizardContext, args: { user: string; change: ContactChange }): { store: OcsStore; emitted: Emitted[]; result: Result<ContactChangeResult> } {
  const home = homeBackEnd(ctx, args.user);
  if (!home.ok) return { store: ctx.store, emitted: [], result: home };
  const { uri, pool } = home.value;
  const r = changeContactList(ctx.peers.sql, pool.backEnd, uri, args.change);
  if (!r.ok) {
    const kind: OcsFailureKind = r.failure.kind === 'contacts.backEnd' ? 'ocs.backEndUnavailable' : 'ocs.badContactListChange';
    return { store: ctx.store, emitted: [], result: fail(failure(kind, r.failure.message, { reason: r.failure.kind })) };
  }
  const c = args.change;
  const what = c.op === 'setContact' || c.op === 'deleteContact' ? `${c.op} ${c.uri.toLowerCase()}` : c.op === 'addGroup' ? `addGroup "${c.name}" (id ${r.value.groupId ?? '?'})` : `${c.op} ${c.id}`;
  return {
    store: ctx.store,
    emitted: [ev('ocs.contactListChanged', `${uri}'s contact list: ${what} (deltaNum ${r.value.deltaNum}, stored on ${pool.name})`, { user: uri, op: c.op, deltaNum: r.value.deltaNum, pool: pool.name })],
    result: r,
  };
}

/** The server-stored contacts of a user on its home pool's back end (undefined: the back end cannot be read). */
export function userContacts(store: OcsStore, sipAddress: string, pool: string, read: OcsPeers['sql']['read']): string[] | undefined {
  const p = findPool(store, pool);
  if (!p) return undefined;
  const rows = read(p.backEnd, 'RTC', 'Contact');
  if (!rows.ok) return undefined;
  const prefix = `${sipAddress.toLowerCase()}|`;
  return rows.value.filter((r) => r.key.toLowerCase().startsWith(prefix)).map((r) => r.key.slice(prefix.length));
}
