import { describe, expect, it } from 'vitest';
import { IdSource } from '../../sim/ids.js';
import { topologyWithUsers } from './ad.testkit.js';
import { canonicalDn, dnKey, parseDn } from './ad.dn.js';
import { unescapeValue } from './ad.filter.js';
import { pdc, seedForest } from './ad.forest.js';
import { compileSchema } from './ad.schema.js';
import { search } from './ad.search.js';
import { findBySam, findByUpn, ownReplica, type Replica } from './ad.store.js';
import { addEntry, deleteEntry, modifyEntry, type WriteEnv } from './ad.writes.js';

const D = 'DC=corp,DC=example,DC=net';
const NOW = Date.UTC(2009, 6, 6, 9, 0, 0);

function seeded() {
  const ids = new IdSource('store-test');
  const forest = seedForest(topologyWithUsers(), { now: () => NOW, ids }, 15_000);
  let rid = 5000;
  const env: WriteEnv = { now: NOW, guid: () => ids.guid(), allocateSid: () => `${forest.domainSid}-${rid++}`, token: () => ids.hex(3), ncs: forest.ncs };
  return { forest, replica: pdc(forest).replica, env };
}

const names = (r: { ok: boolean; value?: Array<{ dn: string }> }) => (r.ok ? (r.value ?? []).map((e) => e.dn) : []);

describe('distinguished names', () => {
  it('normalises types, spacing and case, and keeps escaped commas inside values', () => {
    expect(canonicalDn('cn=Users , dc=corp,dc=example,dc=net')).toBe(`CN=Users,${D}`);
    expect(dnKey(`CN=Users,${D}`)).toBe(dnKey('cn=users,DC=CORP,dc=example,dc=net'));
    expect(parseDn('CN=Smith\\, John,CN=Users')?.[0]?.value).toBe('Smith\\, John');
    expect(parseDn('not a dn')).toBeUndefined();
  });
});

describe('the seeded forest', () => {
  it('holds the well-known objects of a new Windows Server 2008 forest', () => {
    const { replica, forest } = seeded();
    for (const dn of [D, `CN=Users,${D}`, `CN=Computers,${D}`, `OU=Domain Controllers,${D}`, `CN=System,${D}`, `CN=Builtin,${D}`, `CN=Administrator,CN=Users,${D}`, `CN=krbtgt,CN=Users,${D}`, `CN=Schema Admins,CN=Users,${D}`, `CN=DC01,OU=Domain Controllers,${D}`, `CN=DC02,OU=Domain Controllers,${D}`, `CN=Services,CN=Configuration,${D}`, `CN=NTDS Settings,CN=DC01,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,${D}`, `CN=User,CN=Schema,CN=Configuration,${D}`]) {
      expect(replica.directory[dnKey(dn)], dn).toBeDefined();
    }
    const admin = replica.directory[dnKey(`CN=Administrator,CN=Users,${D}`)];
    expect(admin?.attributes.objectSid).toEqual([`${forest.domainSid}-500`]);
    expect(admin?.attributes.objectClass).toEqual(['top', 'person', 'organizationalPerson', 'user']);
    expect(admin?.attributes.objectCategory).toEqual([`CN=Person,CN=Schema,CN=Configuration,${D}`]);
    expect(admin?.attributes.whenCreated).toEqual(['20090706090000.0Z']);
    expect(replica.directory[dnKey(`CN=DC01,OU=Domain Controllers,${D}`)]?.attributes.objectSid).toEqual([`${forest.domainSid}-1000`]);
  });

  it('compiles back from the schema objects to the same schema cache', () => {
    const { replica, forest } = seeded();
    const compiled = compileSchema(replica.directory, forest.ncs.schema);
    expect(Object.keys(compiled.attributes).sort()).toEqual(Object.keys(replica.schema.attributes).sort());
    expect(compiled.classes.user).toEqual(replica.schema.classes.user);
  });
});

describe('schema checks on add', () => {
  const add = (replica: Replica, env: WriteEnv, dn: string, attributes: Record<string, string[]>) => addEntry(replica, dn, attributes, env);

  it('adds an OU and generates GUID, USNs and category', () => {
    const { replica, env } = seeded();
    const r = add(replica, env, `OU=Staff,${D}`, { objectClass: ['organizationalUnit'], description: ['People'] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.entry.attributes.ou).toEqual(['Staff']);
    expect(r.value.entry.attributes.objectGUID?.[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4/);
    expect(Number(r.value.entry.attributes.uSNCreated?.[0])).toBe(replica.usn + 1);
  });

  it('refuses an unknown attribute as AD does (undefinedAttributeType, 17)', () => {
    const { replica, env } = seeded();
    const r = add(replica, env, `OU=Staff,${D}`, { objectClass: ['organizationalUnit'], favouriteColour: ['blue'] });
    expect(r.ok ? undefined : r.failure).toMatchObject({ kind: 'ad.undefinedAttribute', ldapResultCode: 17, message: expect.stringContaining('00000057: LdapErr: DSID-0C090D8A, comment: Error in attribute conversion operation') });
  });

  it('refuses a msRTCSIP attribute before SchemaPrep', () => {
    const { replica, env } = seeded();
    const r = modifyEntry(replica, `CN=Administrator,CN=Users,${D}`, [{ operation: 'replace', attribute: 'msRTCSIP-UserEnabled', values: ['TRUE'] }], env);
    expect(r.ok ? undefined : r.failure.kind).toBe('ad.undefinedAttribute');
  });

  it('checks syntaxes: Boolean TRUE/FALSE, integers', () => {
    const { replica, env } = seeded();
    const bool = add(replica, env, `CN=x,${D}`, { objectClass: ['container'], showInAdvancedViewOnly: ['true'] });
    expect(bool.ok ? undefined : bool.failure).toMatchObject({ kind: 'ad.constraintViolation', ldapResultCode: 21 });
    const int = modifyEntry(replica, `CN=Guest,CN=Users,${D}`, [{ operation: 'replace', attribute: 'userAccountControl', values: ['enabled'] }], env);
    expect(int.ok ? undefined : int.failure.kind).toBe('ad.constraintViolation');
  });

  it('needs the parent (noSuchObject with the best match) and refuses duplicates', () => {
    const { replica, env } = seeded();
    const orphan = add(replica, env, `CN=Bob,OU=Nowhere,${D}`, { objectClass: ['user'] });
    expect(orphan.ok ? undefined : orphan.failure).toMatchObject({ kind: 'ad.noSuchObject', ldapResultCode: 32, matchedDN: D });
    expect(orphan.ok ? '' : orphan.failure.message).toMatch(/^0000208D: NameErr: DSID-0310020A, problem 2001 \(NO_OBJECT\), data 0, best match of:/);
    const dup = add(replica, env, `cn=users,${D}`, { objectClass: ['container'] });
    expect(dup.ok ? undefined : dup.failure).toMatchObject({ kind: 'ad.entryAlreadyExists', ldapResultCode: 68 });
  });

  it('needs a known object class and only allows the class attributes', () => {
    const { replica, env } = seeded();
    const unknown = add(replica, env, `CN=x,${D}`, { objectClass: ['frobnicator'] });
    expect(unknown.ok ? undefined : unknown.failure).toMatchObject({ kind: 'ad.objectClassViolation', ldapResultCode: 65 });
    const notAllowed = add(replica, env, `CN=x,${D}`, { objectClass: ['container'], mail: ['x@example.com'] });
    expect(notAllowed.ok ? undefined : notAllowed.failure).toMatchObject({ kind: 'ad.objectClassViolation', attribute: 'mail' });
  });

  it('refuses system-only attributes from a client', () => {
    const { replica, env } = seeded();
    const r = add(replica, env, `CN=x,${D}`, { objectClass: ['container'], objectGUID: ['00000000-0000-4000-8000-000000000000'] });
    expect(r.ok ? undefined : r.failure).toMatchObject({ kind: 'ad.unwillingToPerform', ldapResultCode: 53 });
  });

  it('gives a new user a SID, disabled account control and the Domain Users primary group', () => {
    const { replica, env, forest } = seeded();
    const r = add(replica, env, `CN=Svc,CN=Users,${D}`, { objectClass: ['user'], sAMAccountName: ['svc'] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.entry.attributes.objectSid).toEqual([`${forest.domainSid}-5000`]);
    expect(r.value.entry.attributes.userAccountControl).toEqual(['546']);
    expect(r.value.entry.attributes.primaryGroupID).toEqual(['513']);
  });
});

describe('modify and delete', () => {
  it('enforces single values, existing values, the RDN and DN references', () => {
    const { replica, env } = seeded();
    const dn = `CN=OCS User1,CN=Users,${D}`;
    const m = (changes: Parameters<typeof modifyEntry>[2]) => modifyEntry(replica, dn, changes, env);
    expect(m([{ operation: 'replace', attribute: 'displayName', values: ['a', 'b'] }])).toMatchObject({ ok: false, failure: { kind: 'ad.constraintViolation', ldapResultCode: 19 } });
    expect(m([{ operation: 'add', attribute: 'mail', values: ['OCSUSER1@example.com'] }])).toMatchObject({ ok: false, failure: { ldapResultCode: 20 } });
    expect(m([{ operation: 'delete', attribute: 'telephoneNumber', values: [] }])).toMatchObject({ ok: false, failure: { ldapResultCode: 16 } });
    expect(m([{ operation: 'replace', attribute: 'cn', values: ['Other'] }])).toMatchObject({ ok: false, failure: { kind: 'ad.unwillingToPerform', ldapResultCode: 67 } });
    expect(m([{ operation: 'replace', attribute: 'objectCategory', values: [`CN=Nope,${D}`] }])).toMatchObject({ ok: false, failure: { kind: 'ad.noSuchObject' } });
    const ok = m([{ operation: 'replace', attribute: 'TITLE', values: ['Engineer'] }]);
    expect(ok.ok && ok.value.entry.attributes.title).toEqual(['Engineer']);
    expect(ok.ok && ok.value.changed).toEqual({ title: ['Engineer'] });
  });

  it('deletes leaves only and refuses critical system objects', () => {
    const { replica } = seeded();
    expect(deleteEntry(replica, `CN=Users,${D}`)).toMatchObject({ ok: false, failure: { kind: 'ad.unwillingToPerform', ldapResultCode: 66 } });
    expect(deleteEntry(replica, `CN=krbtgt,CN=Users,${D}`)).toMatchObject({ ok: false, failure: { ldapResultCode: 53 } });
    expect(deleteEntry(replica, `CN=OCS User2,CN=Users,${D}`).ok).toBe(true);
  });
});

describe('search', () => {
  it('honours base, one-level and subtree scopes', () => {
    const { replica, forest } = seeded();
    const s = (scope: 'base' | 'one' | 'sub') => search(replica, { base: `CN=Users,${D}`, scope }, forest.ncs);
    expect(names(s('base'))).toEqual([`CN=Users,${D}`]);
    expect(names(s('one'))).toContain(`CN=Administrator,CN=Users,${D}`);
    expect(names(s('one'))).not.toContain(`CN=Users,${D}`);
    expect(names(s('sub'))).toContain(`CN=Users,${D}`);
  });

  it('evaluates RFC 4515 filters with AD matching rules', () => {
    const { replica, forest } = seeded();
    const f = (filter: string) => names(search(replica, { base: D, scope: 'sub', filter }, forest.ncs));
    expect(f('(&(objectCategory=person)(objectClass=user)(sAMAccountName=ocsuser*))')).toEqual([`CN=OCS User1,CN=Users,${D}`, `CN=OCS User2,CN=Users,${D}`]);
    expect(f('(SAMACCOUNTNAME=ADMINISTRATOR)')).toEqual([`CN=Administrator,CN=Users,${D}`]);
    expect(f('(&(objectClass=user)(userAccountControl:1.2.840.113556.1.4.803:=2))')).toEqual([`CN=Guest,CN=Users,${D}`, `CN=krbtgt,CN=Users,${D}`]);
    expect(f(`(memberOf=CN=Schema Admins,CN=Users,${D})`)).toEqual([`CN=Administrator,CN=Users,${D}`]);
    expect(f('(&(mail=*)(!(sAMAccountName=ocsuser2)))')).toEqual([`CN=OCS User1,CN=Users,${D}`]);
    expect(f('(|(primaryGroupID>=516)(cn=nobody))')).toEqual([`CN=DC01,OU=Domain Controllers,${D}`, `CN=DC02,OU=Domain Controllers,${D}`]);
    expect(f('(displayName=OCS User \\31)')).toEqual([`CN=OCS User1,CN=Users,${D}`]);
  });

  it('selects attributes case-insensitively and keeps constructed ones for "+"', () => {
    const { replica, forest } = seeded();
    const one = (attributes: string[]) => {
      const r = search(replica, { base: `CN=OCS User1,CN=Users,${D}`, scope: 'base', attributes }, forest.ncs);
      return r.ok ? r.value[0]?.attributes : undefined;
    };
    expect(one(['MAIL', 'samaccountname'])).toEqual({ sAMAccountName: ['ocsuser1'], mail: ['ocsuser1@example.com'] });
    expect(one(['1.1'])).toEqual({});
    expect(one(['*'])).toHaveProperty('objectGUID');
    expect(one(['*'])).not.toHaveProperty('canonicalName');
    expect(one(['+'])?.canonicalName).toEqual(['corp.example.net/Users/OCS User1']);
  });

  it('reports a missing base and an unparsable filter', () => {
    const { replica, forest } = seeded();
    expect(search(replica, { base: `OU=Gone,${D}`, scope: 'sub' }, forest.ncs)).toMatchObject({ ok: false, failure: { kind: 'ad.noSuchObject', matchedDN: D } });
    expect(search(replica, { base: D, scope: 'sub', filter: '(cn=a' }, forest.ncs).ok).toBe(false);
  });

  it('decodes filter escapes', () => {
    expect(unescapeValue('a\\2ab\\28\\29')).toBe('a*b()');
    expect(unescapeValue('Jos\\c3\\a9')).toBe('José');
  });
});

describe('lookup by sAMAccountName and userPrincipalName (indexed)', () => {
  const sam = (r: Replica, name: string) => findBySam(r.directory, name)?.dn;

  it('answers each snapshot as it was, whatever later snapshots wrote', () => {
    const { replica: r0, env } = seeded();
    expect(sam(r0, 'OCSUSER1')).toBe(`CN=OCS User1,CN=Users,${D}`);
    const added = addEntry(r0, `CN=Svc,CN=Users,${D}`, { objectClass: ['user'], sAMAccountName: ['svc'], userPrincipalName: ['svc@corp.example.net'] }, env);
    if (!added.ok) throw new Error(added.failure.message);
    const r1 = added.value.replica;
    const renamed = modifyEntry(r1, `CN=Svc,CN=Users,${D}`, [{ operation: 'replace', attribute: 'sAMAccountName', values: ['svc2'] }], env);
    if (!renamed.ok) throw new Error(renamed.failure.message);
    const r2 = renamed.value.replica;
    const deleted = deleteEntry(r2, `CN=OCS User1,CN=Users,${D}`);
    if (!deleted.ok) throw new Error(deleted.failure.message);
    const r3 = deleted.value.replica;
    expect([sam(r0, 'svc'), sam(r1, 'svc'), sam(r2, 'svc'), sam(r3, 'svc')]).toEqual([undefined, `CN=Svc,CN=Users,${D}`, undefined, undefined]);
    expect([sam(r0, 'svc2'), sam(r1, 'svc2'), sam(r2, 'SVC2'), sam(r3, 'svc2')]).toEqual([undefined, undefined, `CN=Svc,CN=Users,${D}`, `CN=Svc,CN=Users,${D}`]);
    expect([sam(r2, 'ocsuser1'), sam(r3, 'ocsuser1'), sam(r0, 'ocsuser1')]).toEqual([`CN=OCS User1,CN=Users,${D}`, undefined, `CN=OCS User1,CN=Users,${D}`]);
    expect(findByUpn(r1.directory, 'SVC@corp.example.net')?.dn).toBe(`CN=Svc,CN=Users,${D}`);
  });

  it("sees writes made in place into a transaction's own copy, and siblings stay apart", () => {
    const { replica: r0, env } = seeded();
    expect(sam(r0, 'ocsuser2')).toBeDefined();
    const a = ownReplica(r0);
    const b = ownReplica(r0);
    const r = addEntry(a, `CN=Only A,CN=Users,${D}`, { objectClass: ['user'], sAMAccountName: ['onlya'] }, { ...env, inPlace: true });
    expect(r.ok).toBe(true);
    const m = modifyEntry(b, `CN=OCS User2,CN=Users,${D}`, [{ operation: 'replace', attribute: 'sAMAccountName', values: ['renamedb'] }], { ...env, inPlace: true });
    expect(m.ok).toBe(true);
    expect([sam(a, 'onlya'), sam(b, 'onlya'), sam(r0, 'onlya')]).toEqual([`CN=Only A,CN=Users,${D}`, undefined, undefined]);
    expect([sam(a, 'ocsuser2'), sam(b, 'ocsuser2'), sam(b, 'renamedb'), sam(a, 'renamedb')]).toEqual([`CN=OCS User2,CN=Users,${D}`, undefined, `CN=OCS User2,CN=Users,${D}`, undefined]);
  });

  it('gives the oldest entry when two hold one name, as a scan of the directory would', () => {
    const { replica: r0, env } = seeded();
    const dup = addEntry(r0, `CN=A Duplicate,CN=Users,${D}`, { objectClass: ['user'], sAMAccountName: ['OCSUSER1'] }, env);
    if (!dup.ok) throw new Error(dup.failure.message);
    expect(sam(dup.value.replica, 'ocsuser1')).toBe(`CN=OCS User1,CN=Users,${D}`);
  });

  it('narrows a search by an indexed equality and still evaluates the whole filter', () => {
    const { replica: r0, env, forest } = seeded();
    const find = (r: Replica, filter: string) => names(search(r, { base: D, scope: 'sub', filter }, forest.ncs));
    expect(find(r0, '(&(objectClass=user)(sAMAccountName=OCSUSER1))')).toEqual([`CN=OCS User1,CN=Users,${D}`]);
    expect(find(r0, '(&(objectClass=group)(sAMAccountName=ocsuser1))')).toEqual([]);
    expect(find(r0, '(&(sAMAccountName=ocsuser1)(!(sAMAccountName=ocsuser1)))')).toEqual([]);
    expect(find(r0, '(|(sAMAccountName=ocsuser1)(sAMAccountName=ocsuser2))')).toHaveLength(2);
    expect(names(search(r0, { base: `CN=Builtin,${D}`, scope: 'sub', filter: '(sAMAccountName=ocsuser1)' }, forest.ncs))).toEqual([]);
    const m = modifyEntry(r0, `CN=OCS User1,CN=Users,${D}`, [{ operation: 'replace', attribute: 'sAMAccountName', values: ['renamed1'] }], env);
    if (!m.ok) throw new Error(m.failure.message);
    expect([find(r0, '(sAMAccountName=renamed1)'), find(m.value.replica, '(sAMAccountName=renamed1)'), find(m.value.replica, '(sAMAccountName=ocsuser1)')]).toEqual([[], [`CN=OCS User1,CN=Users,${D}`], []]);
  });
});
