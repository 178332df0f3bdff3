/**
 * A user's contact list on its pool's back end (the RTC database rows), against an in-memory SQL port:
 * what each SOAP change does to the rows and to deltaNum, the limits, and a back end that cannot be read.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fail, ok } from '../../sim/result.js';
import { changeContactList, contactListOf, DEFAULT_GROUP, DEFAULT_GROUP_LABEL, MAX_CONTACTS, MAX_GROUPS, readContactList, type ContactChange, type ContactList } from './ocs.contacts.js';
import type { OcsPeers } from './ocs.ports.js';

const BACK_END = 'sql01';
const OWNER = 'sip:ocsuser1@example.com';
const OTHER = 'sip:ocsuser2@example.com';

type Row = Record<string, unknown>;

/** The RTC database of one back end: tables of keyed rows; `down` makes reads fail, `readOnly` writes. */
function fakeSql() {
  const tables = new Map<string, Map<string, Row>>();
  const state = { down: false, readOnly: false, writes: 0 };
  const table = (host: string, db: string, t: string) => {
    const k = `${host}/${db}/${t}`;
    let rows = tables.get(k);
    if (!rows) tables.set(k, (rows = new Map()));
    return rows;
  };
  const port: Pick<OcsPeers['sql'], 'read' | 'write' | 'delete'> = {
    read: (host, db, t) => (state.down ? fail({ kind: 'sql.offline', message: `${host} is not answering` }) : ok([...table(host, db, t)].map(([key, row]) => ({ key, row })))),
    write: (host, db, t, key, row) => {
      if (state.readOnly) return fail({ kind: 'sql.readOnly', message: `${db} on ${host} is read-only` });
      state.writes++;
      table(host, db, t).set(key, row);
      return ok(undefined);
    },
    delete: (host, db, t, key) => {
      if (state.readOnly) return fail({ kind: 'sql.readOnly', message: `${db} on ${host} is read-only` });
      state.writes++;
      table(host, db, t).delete(key);
      return ok(undefined);
    },
  };
  return { port, state, rows: (t: string) => table(BACK_END, 'RTC', t) };
}

/** Applies changes in order; throws (a test bug) on a refusal. */
function apply(sql: ReturnType<typeof fakeSql>, ...changes: ContactChange[]) {
  let last: { deltaNum: number; groupId?: number; list: ContactList } | undefined;
  for (const c of changes) {
    const r = changeContactList(sql.port, BACK_END, OWNER, c);
    if (!r.ok) throw new Error(`${c.op}: ${r.failure.message}`);
    last = r.value;
  }
  if (!last) throw new Error('no change given');
  return last;
}

const read = (sql: ReturnType<typeof fakeSql>, owner = OWNER) => {
  const r = readContactList(sql.port, BACK_END, owner);
  if (!r.ok) throw new Error(r.failure.message);
  return r.value;
};

const kindOf = (r: { ok: true } | { ok: false; failure: { kind: string } }) => (r.ok ? 'accepted' : r.failure.kind);

describe('reading a contact list', () => {
  it('an owner with no rows has the default group "~" (id 1), no contacts, deltaNum 0', () => {
    expect(read(fakeSql())).toEqual({ deltaNum: 0, groups: [{ id: 1, name: '~' }], contacts: [] });
  });

  it('reads only its owner\'s rows, whatever the case of the keys (an owner whose address starts the same is another owner)', () => {
    const row = (owner: string, contact: string, groups: string) => ({ key: `${owner}|${contact}`, row: { owner, contact, groups, name: '', subscribed: true } });
    const list = contactListOf('SIP:OcsUser1@Example.com', {
      contacts: [row(OWNER, 'sip:b@example.com', '1 2'), row('sip:ocsuser10@example.com', 'sip:c@example.com', '1'), row(OTHER, 'sip:d@example.com', '1'), row('SIP:OCSUSER1@EXAMPLE.COM', 'sip:A@Example.com', '2')],
      groups: [{ key: `${OWNER}|2`, row: { id: 2, name: 'Team' } }, { key: `${OTHER}|3`, row: { id: 3, name: 'Theirs' } }],
      version: [{ key: OWNER, row: { deltaNum: 9 } }, { key: OTHER, row: { deltaNum: 99 } }],
    });
    expect(list).toEqual({
      deltaNum: 9,
      groups: [DEFAULT_GROUP, { id: 2, name: 'Team' }],
      contacts: [
        { uri: 'sip:a@example.com', name: '', groups: [2], subscribed: true },
        { uri: 'sip:b@example.com', name: '', groups: [1, 2], subscribed: true },
      ],
    });
  });

  it('puts a row written with a group name and no ids (as ocs.addContact writes it) in that group, or the default one', () => {
    const legacy = (contact: string, group: string) => ({ key: `${OWNER}|${contact}`, row: { owner: OWNER, contact, group, name: '', subscribed: true } });
    const list = contactListOf(OWNER, {
      contacts: [legacy('sip:a@x', 'team'), legacy('sip:b@x', DEFAULT_GROUP_LABEL), legacy('sip:c@x', 'No Such Group'), legacy('sip:d@x', '')],
      groups: [{ key: `${OWNER}|2`, row: { id: 2, name: 'Team' } }],
      version: [],
    });
    expect(list.contacts.map((c) => [c.uri, c.groups])).toEqual([
      ['sip:a@x', [2]],
      ['sip:b@x', [1]],
      ['sip:c@x', [1]],
      ['sip:d@x', [1]],
    ]);
  });

  it('a back end that cannot be read gives contacts.backEnd, for a read and for a change', () => {
    const sql = fakeSql();
    sql.state.down = true;
    expect(readContactList(sql.port, BACK_END, OWNER)).toEqual({ ok: false, failure: { kind: 'contacts.backEnd', message: 'the RTC database on sql01 cannot be read' } });
    expect(kindOf(changeContactList(sql.port, BACK_END, OWNER, { op: 'addGroup', name: 'Team' }))).toBe('contacts.backEnd');
    expect(sql.state.writes).toBe(0);
  });

  it('a back end that refuses the write gives contacts.backEnd with its reason', () => {
    const sql = fakeSql();
    sql.state.readOnly = true;
    const r = changeContactList(sql.port, BACK_END, OWNER, { op: 'setContact', uri: OTHER });
    expect(r).toEqual({ ok: false, failure: { kind: 'contacts.backEnd', message: 'RTC on sql01 is read-only' } });
  });
});

describe('changing a contact list', () => {
  it('setContact adds a contact in the groups asked for; each change raises deltaNum by exactly one', () => {
    const sql = fakeSql();
    const team = apply(sql, { op: 'addGroup', name: 'Team' });
    expect([team.deltaNum, team.groupId]).toEqual([1, 2]);
    const added = apply(sql, { op: 'setContact', uri: 'SIP:OCSUser2@Example.com', name: 'Bob', groups: [2, 1] });
    expect(added.deltaNum).toBe(2);
    expect(added.list.contacts).toEqual([{ uri: OTHER, name: 'Bob', groups: [2, 1], subscribed: true }]);
    expect(sql.rows('Contact').get(`${OWNER}|${OTHER}`)).toEqual({ owner: OWNER, contact: OTHER, group: 'Team', groups: '2 1', name: 'Bob', subscribed: true });
    expect(sql.rows('ContactList').get(OWNER)).toEqual({ owner: OWNER, deltaNum: 2 });
    expect(apply(sql, { op: 'modifyGroup', id: 2, name: 'Team A' }, { op: 'deleteContact', uri: OTHER }).deltaNum).toBe(4);
    expect(read(sql).deltaNum).toBe(4);
  });

  it('setContact on a contact in the list modifies it, keeping what the change does not name', () => {
    const sql = fakeSql();
    apply(sql, { op: 'addGroup', name: 'Team' }, { op: 'setContact', uri: OTHER, name: 'Bob', groups: [2], subscribed: false });
    const renamed = apply(sql, { op: 'setContact', uri: OTHER, name: 'Robert' });
    expect(renamed.list.contacts).toEqual([{ uri: OTHER, name: 'Robert', groups: [2], subscribed: false }]);
    expect(renamed.deltaNum).toBe(3);
  });

  it('group ids the list does not have fall back to the default group; repeated ids count once', () => {
    const sql = fakeSql();
    apply(sql, { op: 'addGroup', name: 'Team' });
    expect(apply(sql, { op: 'setContact', uri: 'sip:a@x', groups: [7, 99] }).list.contacts[0]?.groups).toEqual([DEFAULT_GROUP.id]);
    expect(apply(sql, { op: 'setContact', uri: 'sip:b@x', groups: [2, 7, 2] }).list.contacts[1]?.groups).toEqual([2]);
    expect(apply(sql, { op: 'setContact', uri: 'sip:c@x', groups: [] }).list.contacts[2]?.groups).toEqual([DEFAULT_GROUP.id]);
    expect(sql.rows('Contact').get(`${OWNER}|sip:a@x`)?.group).toBe(DEFAULT_GROUP_LABEL);
  });

  it('refuses the owner as its own contact (in any case) and what is not a SIP URI, leaving deltaNum as it was', () => {
    const sql = fakeSql();
    const refused = [
      changeContactList(sql.port, BACK_END, OWNER, { op: 'setContact', uri: 'SIP:OcsUser1@Example.COM' }),
      changeContactList(sql.port, BACK_END, 'SIP:OCSUSER1@example.com', { op: 'setContact', uri: OWNER }),
      changeContactList(sql.port, BACK_END, OWNER, { op: 'setContact', uri: 'ocsuser2@example.com' }),
      changeContactList(sql.port, BACK_END, OWNER, { op: 'setContact', uri: 'sip:a@b@c' }),
      changeContactList(sql.port, BACK_END, OWNER, { op: 'setContact', uri: 'sip:"a"@b' }),
      changeContactList(sql.port, BACK_END, OWNER, { op: 'setContact', uri: `sip:${'a'.repeat(300)}@x` }),
    ].map(kindOf);
    expect(refused).toEqual(Array(6).fill('contacts.badRequest'));
    expect(sql.state.writes).toBe(0);
  });

  it('a contact\'s name loses its control characters and is cut to 256 characters', () => {
    const sql = fakeSql();
    const r = apply(sql, { op: 'setContact', uri: OTHER, name: ` Bob\r\n\u0000Smith${'x'.repeat(300)}` });
    expect(r.list.contacts[0]?.name).toBe(`Bob   Smith${'x'.repeat(245)}`);
  });

  it('deleting a contact not in the list changes nothing, deltaNum included', () => {
    const sql = fakeSql();
    apply(sql, { op: 'setContact', uri: OTHER });
    const writes = sql.state.writes;
    const r = changeContactList(sql.port, BACK_END, OWNER, { op: 'deleteContact', uri: 'sip:nobody@example.com' });
    expect(r.ok && r.value.deltaNum).toBe(1);
    expect(sql.state.writes).toBe(writes);
  });

  it('addGroup gives the next id; a name the list has (in any case, or "Other Contacts") gives that group\'s id and changes nothing', () => {
    const sql = fakeSql();
    expect(apply(sql, { op: 'addGroup', name: 'Team' }, { op: 'addGroup', name: 'Family' }).groupId).toBe(3);
    const again = [
      changeContactList(sql.port, BACK_END, OWNER, { op: 'addGroup', name: 'TEAM' }),
      changeContactList(sql.port, BACK_END, OWNER, { op: 'addGroup', name: 'other contacts' }),
      changeContactList(sql.port, BACK_END, OWNER, { op: 'addGroup', name: '~' }),
    ].map((r) => (r.ok ? [r.value.groupId, r.value.deltaNum] : r.failure.kind));
    expect(again).toEqual([
      [2, 2],
      [1, 2],
      [1, 2],
    ]);
    expect(kindOf(changeContactList(sql.port, BACK_END, OWNER, { op: 'addGroup', name: ' \u0001 ' }))).toBe('contacts.badRequest');
  });

  it('modifyGroup renames a group; the default group cannot be renamed and an unknown id is contacts.noSuchGroup', () => {
    const sql = fakeSql();
    apply(sql, { op: 'addGroup', name: 'Team' });
    expect(apply(sql, { op: 'modifyGroup', id: 2, name: 'Team B' }).list.groups).toEqual([DEFAULT_GROUP, { id: 2, name: 'Team B' }]);
    const refused = [
      changeContactList(sql.port, BACK_END, OWNER, { op: 'modifyGroup', id: 1, name: 'Mine' }),
      changeContactList(sql.port, BACK_END, OWNER, { op: 'modifyGroup', id: 9, name: 'Mine' }),
      changeContactList(sql.port, BACK_END, OWNER, { op: 'modifyGroup', id: 2, name: '' }),
    ].map(kindOf);
    expect(refused).toEqual(['contacts.badRequest', 'contacts.noSuchGroup', 'contacts.badRequest']);
    expect(read(sql).deltaNum).toBe(2);
  });

  it('deleting a group keeps its contacts: in their other groups, or else in the default group', () => {
    const sql = fakeSql();
    apply(sql, { op: 'addGroup', name: 'Team' }, { op: 'addGroup', name: 'Family' });
    apply(sql, { op: 'setContact', uri: 'sip:only-team@x', groups: [2] }, { op: 'setContact', uri: 'sip:team-and-family@x', groups: [2, 3] }, { op: 'setContact', uri: 'sip:family@x', groups: [3] });
    const r = apply(sql, { op: 'deleteGroup', id: 2 });
    expect(r.deltaNum).toBe(6);
    expect(r.list.groups).toEqual([DEFAULT_GROUP, { id: 3, name: 'Family' }]);
    expect(r.list.contacts.map((c) => [c.uri, c.groups])).toEqual([
      ['sip:family@x', [3]],
      ['sip:only-team@x', [1]],
      ['sip:team-and-family@x', [3]],
    ]);
    const stored = (contact: string) => sql.rows('Contact').get(`${OWNER}|${contact}`);
    expect([stored('sip:only-team@x'), stored('sip:team-and-family@x')].map((r) => [r?.groups, r?.group])).toEqual([
      ['1', DEFAULT_GROUP_LABEL],
      ['3', 'Family'],
    ]);
  });

  it('the default group cannot be deleted, and an unknown group is contacts.noSuchGroup', () => {
    const sql = fakeSql();
    expect([changeContactList(sql.port, BACK_END, OWNER, { op: 'deleteGroup', id: 1 }), changeContactList(sql.port, BACK_END, OWNER, { op: 'deleteGroup', id: 5 })].map(kindOf)).toEqual(['contacts.badRequest', 'contacts.noSuchGroup']);
    expect(sql.state.writes).toBe(0);
  });

  it('changes one owner\'s rows only', () => {
    const sql = fakeSql();
    changeContactList(sql.port, BACK_END, OTHER, { op: 'addGroup', name: 'Theirs' });
    changeContactList(sql.port, BACK_END, OTHER, { op: 'setContact', uri: OWNER, groups: [2] });
    apply(sql, { op: 'addGroup', name: 'Mine' }, { op: 'setContact', uri: 'sip:a@x', groups: [2] }, { op: 'deleteGroup', id: 2 });
    expect(read(sql, OTHER)).toEqual({ deltaNum: 2, groups: [DEFAULT_GROUP, { id: 2, name: 'Theirs' }], contacts: [{ uri: OWNER, name: '', groups: [2], subscribed: true }] });
  });
});

describe('limits', () => {
  /** Rows for `n` contacts of the owner, as if written one by one. */
  const seedContacts = (sql: ReturnType<typeof fakeSql>, n: number) => {
    for (let i = 0; i < n; i++) sql.rows('Contact').set(`${OWNER}|sip:c${i}@x`, { owner: OWNER, contact: `sip:c${i}@x`, group: DEFAULT_GROUP_LABEL, groups: '1', name: '', subscribed: true });
  };
  const seedGroups = (sql: ReturnType<typeof fakeSql>, n: number) => {
    for (let id = 2; id < 2 + n; id++) sql.rows('ContactGroup').set(`${OWNER}|${id}`, { owner: OWNER, id, name: `g${id}` });
  };

  it(`takes a ${MAX_CONTACTS}th contact, refuses one more with contacts.limit, and still modifies one it has`, () => {
    const sql = fakeSql();
    seedContacts(sql, MAX_CONTACTS - 1);
    expect(apply(sql, { op: 'setContact', uri: 'sip:last@x' }).list.contacts).toHaveLength(MAX_CONTACTS);
    expect(kindOf(changeContactList(sql.port, BACK_END, OWNER, { op: 'setContact', uri: 'sip:one-more@x' }))).toBe('contacts.limit');
    expect(apply(sql, { op: 'setContact', uri: 'sip:c0@x', name: 'Renamed' }).list.contacts.find((c) => c.uri === 'sip:c0@x')?.name).toBe('Renamed');
  });

  it(`takes groups up to ${MAX_GROUPS} with the default one, refuses one more with contacts.limit`, () => {
    const sql = fakeSql();
    seedGroups(sql, MAX_GROUPS - 2);
    const last = apply(sql, { op: 'addGroup', name: 'last' });
    expect([last.groupId, last.list.groups.length]).toEqual([MAX_GROUPS, MAX_GROUPS]);
    expect(kindOf(changeContactList(sql.port, BACK_END, OWNER, { op: 'addGroup', name: 'one more' }))).toBe('contacts.limit');
    expect(read(sql).groups).toHaveLength(MAX_GROUPS);
  });
});

describe('any sequence of changes', () => {
  const uri = fc.constantFrom('sip:a@x', 'sip:b@x', 'SIP:B@X', 'sip:c@x', OWNER, 'not-a-uri');
  const change: fc.Arbitrary<ContactChange> = fc.oneof(
    fc.record({ op: fc.constant('setContact' as const), uri, groups: fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 3 }) }),
    fc.record({ op: fc.constant('deleteContact' as const), uri }),
    fc.record({ op: fc.constant('addGroup' as const), name: fc.constantFrom('Team', 'team', 'Family', 'Other Contacts', '') }),
    fc.record({ op: fc.constant('modifyGroup' as const), id: fc.integer({ min: 1, max: 6 }), name: fc.constantFrom('Renamed', '') }),
    fc.record({ op: fc.constant('deleteGroup' as const), id: fc.integer({ min: 1, max: 6 }) }),
  );

  it('property: deltaNum rises by one for each change that was made and by nothing otherwise; every contact stays in groups the list has', () => {
    fc.assert(
      fc.property(fc.array(change, { maxLength: 25 }), (changes) => {
        const sql = fakeSql();
        let deltaNum = 0;
        for (const c of changes) {
          const before = JSON.stringify(read(sql));
          const r = changeContactList(sql.port, BACK_END, OWNER, c);
          const after = read(sql);
          const changed = JSON.stringify({ ...after, deltaNum: 0 }) !== JSON.stringify({ ...(JSON.parse(before) as ContactList), deltaNum: 0 });
          if (r.ok && (changed || c.op === 'setContact' || c.op === 'modifyGroup')) deltaNum++;
          else expect(JSON.stringify(after)).toBe(before);
          expect(after.deltaNum).toBe(deltaNum);
          const ids = new Set(after.groups.map((g) => g.id));
          expect(ids.has(DEFAULT_GROUP.id)).toBe(true);
          for (const x of after.contacts) {
            expect(x.uri).not.toBe(OWNER);
            expect(x.groups.length).toBeGreaterThan(0);
            for (const g of x.groups) expect(ids.has(g)).toBe(true);
          }
        }
      }),
      { seed: 20090204, numRuns: 300 },
    );
  });
});
