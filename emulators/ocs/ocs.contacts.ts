/**
 * A user's contact list as the home pool's back end keeps it (the RTC database): the groups, the contacts
 * with the groups each is in, and the list's version, `deltaNum`, which every change raises by one. It is
 * what the front end sends a client subscribing to `vnd-microsoft-roaming-contacts` ([MS-SIP] §9), and
 * what the client's SOAP requests (`setContact`, `deleteContact`, `addGroup`, `modifyGroup`,
 * `deleteGroup`, SERVICE `application/SOAP+xml`) change.
 *
 * Rows (database RTC; the table names are the lab's [U], the product's RTC schema is not documented):
 * - `Contact`, key `<owner>|<contact>`: `{ owner, contact, group, groups, name, subscribed }` — `group` is
 *   the name of the contact's first group (what `ocs.userContacts` shows), `groups` the ids, space-separated;
 * - `ContactGroup`, key `<owner>|<id>`: `{ owner, id, name }` — every group but the default one;
 * - `ContactList`, key `<owner>`: `{ owner, deltaNum }`.
 * The default group has id 1 and the name `~`, which clients show as "Other Contacts".
 */
import { fail, ok, type Result } from '../../sim/result.js';
import type { OcsPeers } from './ocs.ports.js';

export interface ContactGroup {
  id: number;
  name: string;
}

export interface StoredContact {
  /** `sip:user@domain`, lower-case. */
  uri: string;
  /** The name the owner gave the contact; empty: the contact's own display name. */
  name: string;
  groups: number[];
  subscribed: boolean;
}

export interface ContactList {
  deltaNum: number;
  groups: ContactGroup[];
  contacts: StoredContact[];
}

export const DEFAULT_GROUP: ContactGroup = { id: 1, name: '~' };
/** How a client shows the default group, and how `ocs.addContact` names it. */
export const DEFAULT_GROUP_LABEL = 'Other Contacts';
/** Limits a client cannot go past (the product's own are not documented [U]). */
export const MAX_CONTACTS = 1000;
export const MAX_GROUPS = 64;
const MAX_NAME = 256;

export type ContactChange =
  | { op: 'setContact'; uri: string; name?: string; groups?: number[]; subscribed?: boolean }
  | { op: 'deleteContact'; uri: string }
  | { op: 'addGroup'; name: string }
  | { op: 'modifyGroup'; id: number; name: string }
  | { op: 'deleteGroup'; id: number };

export type ContactListFailure = { kind: 'contacts.badRequest' | 'contacts.noSuchGroup' | 'contacts.limit' | 'contacts.backEnd'; message: string };

export interface ContactChangeResult {
  deltaNum: number;
  /** The list as it was before the change (what a `contactDelta` is the difference from). */
  before: ContactList;
  /** The id `addGroup` gave the new group. */
  groupId?: number;
  list: ContactList;
}

type Sql = Pick<OcsPeers['sql'], 'read' | 'write' | 'delete'>;
type Rows = Array<{ key: string; row: Record<string, unknown> }>;

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const ownerPrefix = (owner: string) => `${owner.toLowerCase()}|`;

/** The default group's name as the user reads it ("Other Contacts") or as stored (`~`) both mean group 1. */
export const isDefaultGroupName = (name: string): boolean => name === DEFAULT_GROUP.name || name.toLowerCase() === DEFAULT_GROUP_LABEL.toLowerCase();

/** The contact list of `owner` from the rows of the three tables (rows of other owners are ignored). */
export function contactListOf(owner: string, rows: { contacts: Rows; groups: Rows; version: Rows }): ContactList {
  const prefix = ownerPrefix(owner);
  const groups: ContactGroup[] = [DEFAULT_GROUP];
  for (const r of rows.groups) {
    if (!r.key.toLowerCase().startsWith(prefix)) continue;
    const id = Number(r.row.id);
    if (Number.isInteger(id) && id > 1) groups.push({ id, name: str(r.row.name) });
  }
  groups.sort((a, b) => a.id - b.id);
  const known = new Set(groups.map((g) => g.id));
  const byName = new Map(groups.map((g) => [g.name.toLowerCase(), g.id]));
  const contacts: StoredContact[] = [];
  for (const r of rows.contacts) {
    if (!r.key.toLowerCase().startsWith(prefix)) continue;
    const ids = str(r.row.groups)
      .split(/\s+/)
      .map(Number)
      .filter((n) => known.has(n));
    // A row written before groups had ids (or by `ocs.addContact`) names its group.
    const named = str(r.row.group);
    const fallback = isDefaultGroupName(named) || !named ? DEFAULT_GROUP.id : (byName.get(named.toLowerCase()) ?? DEFAULT_GROUP.id);
    contacts.push({ uri: r.key.slice(prefix.length).toLowerCase(), name: str(r.row.name), groups: ids.length ? ids : [fallback], subscribed: r.row.subscribed !== false });
  }
  contacts.sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
  const v = rows.version.find((r) => r.key.toLowerCase() === owner.toLowerCase());
  const deltaNum = Number(v?.row.deltaNum ?? 0);
  return { deltaNum: Number.isInteger(deltaNum) && deltaNum >= 0 ? deltaNum : 0, groups, contacts };
}

/** Reads `owner`'s contact list from its pool's back end (a failure: the back end cannot be read). */
export function readContactList(sql: Pick<Sql, 'read'>, backEnd: string, owner: string): Result<ContactList, ContactListFailure> {
  const read = (table: string): Rows | undefined => {
    const r = sql.read(backEnd, 'RTC', table);
    return r.ok ? r.value : undefined;
  };
  const contacts = read('Contact');
  if (!contacts) return fail({ kind: 'contacts.backEnd', message: `the RTC database on ${backEnd} cannot be read` });
  return ok(contactListOf(owner, { contacts, groups: read('ContactGroup') ?? [], version: read('ContactList') ?? [] }));
}

const cleanName = (name: string): string => name.replace(/[\u0000-\u001f]/g, ' ').trim().slice(0, MAX_NAME);

/**
 * Applies one change to `owner`'s contact list on `backEnd`, raising its deltaNum by one. A contact's
 * unknown group ids fall back to the default group, as a client's own list would show it.
 */
export function changeContactList(sql: Sql, backEnd: string, owner: string, change: ContactChange): Result<ContactChangeResult, ContactListFailure> {
  const current = readContactList(sql, backEnd, owner);
  if (!current.ok) return current;
  const list = current.value;
  const o = owner.toLowerCase();
  const bad = (message: string) => fail<ContactListFailure>({ kind: 'contacts.badRequest', message });
  const written: Array<Result<unknown>> = [];
  let groupId: number | undefined;
  switch (change.op) {
    case 'setContact': {
      const uri = change.uri.toLowerCase();
      if (!/^sip:[^@\s<>"]+@[^@\s<>"]+$/.test(uri) || uri.length > MAX_NAME) return bad(`not a SIP URI: ${change.uri.slice(0, 80)}`);
      if (uri === o) return bad('a user cannot be its own contact');
      const existing = list.contacts.find((c) => c.uri === uri);
      if (!existing && list.contacts.length >= MAX_CONTACTS) return fail({ kind: 'contacts.limit', message: `the contact list already has ${MAX_CONTACTS} contacts` });
      const known = new Set(list.groups.map((g) => g.id));
      const wanted = (change.groups ?? existing?.groups ?? [DEFAULT_GROUP.id]).filter((g) => known.has(g));
      const groups = wanted.length ? [...new Set(wanted)] : [DEFAULT_GROUP.id];
      const first = list.groups.find((g) => g.id === groups[0]);
      const name = cleanName(change.name ?? existing?.name ?? '');
      const groupName = !first || first.id === DEFAULT_GROUP.id ? DEFAULT_GROUP_LABEL : first.name;
      written.push(sql.write(backEnd, 'RTC', 'Contact', `${o}|${uri}`, { owner: o, contact: uri, group: groupName, groups: groups.join(' '), name, subscribed: change.subscribed ?? existing?.subscribed ?? true }));
      break;
    }
    case 'deleteContact': {
      const uri = change.uri.toLowerCase();
      if (!list.contacts.some((c) => c.uri === uri)) return ok({ deltaNum: list.deltaNum, before: list, list });
      written.push(sql.delete(backEnd, 'RTC', 'Contact', `${o}|${uri}`));
      break;
    }
    case 'addGroup': {
      const name = cleanName(change.name);
      if (!name) return bad('a group needs a name');
      const same = list.groups.find((g) => g.name.toLowerCase() === name.toLowerCase() || (isDefaultGroupName(name) && g.id === DEFAULT_GROUP.id));
      if (same) return ok({ deltaNum: list.deltaNum, groupId: same.id, before: list, list });
      if (list.groups.length >= MAX_GROUPS) return fail({ kind: 'contacts.limit', message: `the contact list already has ${MAX_GROUPS} groups` });
      groupId = Math.max(...list.groups.map((g) => g.id)) + 1;
      written.push(sql.write(backEnd, 'RTC', 'ContactGroup', `${o}|${groupId}`, { owner: o, id: groupId, name }));
      break;
    }
    case 'modifyGroup': {
      const name = cleanName(change.name);
      if (!name) return bad('a group needs a name');
      if (change.id === DEFAULT_GROUP.id) return bad('the default group cannot be renamed');
      if (!list.groups.some((g) => g.id === change.id)) return fail({ kind: 'contacts.noSuchGroup', message: `no group ${change.id}` });
      written.push(sql.write(backEnd, 'RTC', 'ContactGroup', `${o}|${change.id}`, { owner: o, id: change.id, name }));
      break;
    }
    case 'deleteGroup': {
      if (change.id === DEFAULT_GROUP.id) return bad('the default group cannot be deleted');
      if (!list.groups.some((g) => g.id === change.id)) return fail({ kind: 'contacts.noSuchGroup', message: `no group ${change.id}` });
      written.push(sql.delete(backEnd, 'RTC', 'ContactGroup', `${o}|${change.id}`));
      // Its contacts stay, in their other groups or the default one.
      for (const c of list.contacts.filter((x) => x.groups.includes(change.id))) {
        const rest = c.groups.filter((g) => g !== change.id);
        const groups = rest.length ? rest : [DEFAULT_GROUP.id];
        const first = list.groups.find((g) => g.id === groups[0]);
        written.push(sql.write(backEnd, 'RTC', 'Contact', `${o}|${c.uri}`, { owner: o, contact: c.uri, group: !first || first.id === DEFAULT_GROUP.id ? DEFAULT_GROUP_LABEL : first.name, groups: groups.join(' '), name: c.name, subscribed: c.subscribed }));
      }
      break;
    }
  }
  const deltaNum = list.deltaNum + 1;
  written.push(sql.write(backEnd, 'RTC', 'ContactList', o, { owner: o, deltaNum }));
  const failed = written.find((w) => !w.ok);
  if (failed && !failed.ok) return fail({ kind: 'contacts.backEnd', message: failed.failure.message });
  const after = readContactList(sql, backEnd, owner);
  if (!after.ok) return after;
  return ok({ deltaNum, ...(groupId !== undefined ? { groupId } : {}), before: list, list: after.value });
}
