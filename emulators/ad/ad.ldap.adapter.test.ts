import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adFindUser } from './ad.client.js';
import { bytesToGuid, bytesToSid, frameLength, guidToBytes, sidToBytes, MAX_MESSAGE_BYTES } from './ad.ldap.adapter.js';
import { BASE, Client, prepareDirectory, bindRequest, exchange, searchRequest, startLdapLab, type LdapLab } from '../../test/support/wire-ldap.js';
import { message, octets, tlv } from './ldap.ber.js';

const USERS = `CN=Users,${BASE}`;
const ADMIN_DN = `CN=Administrator,${USERS}`;

let env: LdapLab;
const clients: Client[] = [];

async function client(bind = true): Promise<Client> {
  const c = new Client(env.server.url);
  clients.push(c);
  if (bind) expect(await c.bind(ADMIN_DN, env.adminPassword)).toBeUndefined();
  return c;
}

beforeAll(async () => {
  env = await startLdapLab('1', prepareDirectory);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await env.stop();
});

describe('binary attribute encodings', () => {
  it('round-trips GUIDs in Microsoft byte order and SIDs', () => {
    const guid = '00112233-4455-6677-8899-aabbccddeeff';
    expect(guidToBytes(guid)?.toString('hex')).toBe('33221100554477668899aabbccddeeff');
    expect(bytesToGuid(guidToBytes(guid) as Buffer)).toBe(guid);
    const sid = 'S-1-5-21-1-2-3-500';
    expect(sidToBytes(sid)?.toString('hex')).toBe('010500000000000515000000010000000200000003000000f4010000');
    expect(bytesToSid(sidToBytes(sid) as Buffer)).toBe(sid);
  });

  it('frames messages and refuses oversized or foreign input', () => {
    expect(frameLength(Buffer.from([0x30]))).toEqual({ kind: 'more' });
    expect(frameLength(Buffer.from([0x30, 0x01, 0x00]))).toEqual({ kind: 'message', size: 3 });
    expect(frameLength(Buffer.from('GET / HTTP/1.1\r\n')).kind).toBe('bad');
    expect(frameLength(Buffer.from([0x30, 0x80])).kind).toBe('bad');
    expect(frameLength(Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff])).kind).toBe('bad');
    expect(frameLength(Buffer.from([0x30, 0x83, 0x10, 0x00, 0x01])).kind).toBe('bad');
    expect(frameLength(Buffer.from([0x30, 0x83, 0x10, 0x00, 0x00])).kind).toBe('more');
    expect(MAX_MESSAGE_BYTES).toBe(1024 * 1024);
  });
});

describe('bind', () => {
  it('accepts a DN, NETBIOS\\user and a UPN (raw binds: ldapjs will not send non-DN names)', async () => {
    const c = await client(false);
    expect(await c.bind(ADMIN_DN, env.adminPassword)).toBeUndefined();
    const { responses } = await exchange(
      env.server.port,
      [bindRequest(1, 'CORP\\Administrator', env.adminPassword), bindRequest(2, 'Administrator@corp.example.net', env.adminPassword), bindRequest(3, 'corp.example.net\\Administrator', env.adminPassword)],
      (r) => r.length === 3,
    );
    expect(responses.map((r) => [r.messageId, r.tag, r.resultCode])).toEqual([
      [1, 0x61, 0],
      [2, 0x61, 0],
      [3, 0x61, 0],
    ]);
  });

  it('answers a wrong password or an unknown name with 49 and AD diagnostic data 52e', async () => {
    const c = await client(false);
    expect(await c.bind(ADMIN_DN, 'wrong')).toMatchObject({ code: 49 });
    // The ldapjs 3.0.7 client drops diagnostic messages (getError reads res.errorMessage, which
    // @ldapjs/messages no longer has), so diagnostics are read from raw responses.
    const { responses } = await exchange(env.server.port, [bindRequest(1, ADMIN_DN, 'wrong'), bindRequest(2, 'CORP\\nobody', 'x')], (r) => r.length === 2);
    expect(responses.map((r) => r.resultCode)).toEqual([49, 49]);
    expect(responses[0]?.diagnostic).toBe('80090308: LdapErr: DSID-0C09043E, comment: AcceptSecurityContext error, data 52e, v1db1');
    expect(responses[1]?.diagnostic).toContain('data 52e');
  });

  it('a failed bind leaves the connection anonymous', async () => {
    const c = await client();
    expect(await c.bind(ADMIN_DN, 'wrong')).toMatchObject({ code: 49 });
    expect((await c.search(BASE, { scope: 'base' })).error).toMatchObject({ code: 1 });
  });

  it('SASL binds get authMethodNotSupported (7) and the connection stays usable', async () => {
    const sasl = message(1, tlv(0x60, tlv(0x02, Buffer.from([3])), octets(''), tlv(0xa3, octets('GSSAPI'))));
    const { responses } = await exchange(env.server.port, [sasl, bindRequest(2, 'CORP\\Administrator', env.adminPassword)], (r) => r.length === 2);
    expect(responses.map((r) => r.resultCode)).toEqual([7, 0]);
  });
});

describe('anonymous access', () => {
  it('allows the rootDSE without a bind or after an anonymous bind', async () => {
    const c = await client(false);
    expect(await c.bind('', '')).toBeUndefined();
    const { entries, error } = await c.search('', { scope: 'base', attributes: ['defaultNamingContext', 'SUPPORTEDLDAPVERSION'] });
    expect(error).toBeUndefined();
    expect(entries).toHaveLength(1);
    expect(entries[0]?.dn).toBe('');
    expect(entries[0]?.attributes).toEqual({ defaultNamingContext: [BASE], supportedLDAPVersion: ['3', '2'] });
  });

  it('refuses everything else with operationsError 000004DC', async () => {
    const c = await client(false);
    const s = await c.search(BASE, { scope: 'sub', filter: '(objectClass=user)' });
    expect(s.error).toMatchObject({ code: 1 });
    const raw = await exchange(env.server.port, [searchRequest(1, BASE, 2)], (r) => r.length === 1);
    expect(raw.responses[0]).toMatchObject({ tag: 0x65, resultCode: 1, diagnostic: '000004DC: LdapErr: DSID-0C0906E8, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v1db1' });
    expect(await c.add(`CN=anon,${USERS}`, { objectClass: 'user' })).toMatchObject({ code: 1 });
    expect(await c.modify(ADMIN_DN, [{ operation: 'replace', type: 'description', values: ['x'] }])).toMatchObject({ code: 1 });
    expect(await c.del(ADMIN_DN)).toMatchObject({ code: 1 });
  });

  it('treats a name with an empty password as an unauthenticated (anonymous) bind, as Windows Server 2008 does', async () => {
    const { responses } = await exchange(env.server.port, [bindRequest(1, ADMIN_DN, ''), searchRequest(2, BASE, 0)], (r) => r.length === 2);
    expect(responses.map((r) => r.resultCode)).toEqual([0, 1]);
  });
});

describe('search', () => {
  it('honours base, one and sub scopes', async () => {
    const c = await client();
    const base = await c.search(USERS, { scope: 'base' });
    expect(base.entries.map((e) => e.dn)).toEqual([USERS]);
    const one = await c.search(BASE, { scope: 'one', filter: '(objectClass=container)', attributes: ['cn'] });
    expect(one.entries.map((e) => e.dn)).toContain(USERS);
    expect(one.entries.every((e) => e.dn.split(',').length === 4)).toBe(true);
    const sub = await c.search(BASE, { scope: 'sub', filter: '(sAMAccountName=Administrator)', attributes: ['sAMAccountName'] });
    expect(sub.entries.map((e) => e.dn)).toEqual([ADMIN_DN]);
  });

  it('evaluates RFC 4515 filters through the AD machine', async () => {
    const c = await client();
    const users = await c.search(BASE, { scope: 'sub', filter: '(&(objectCategory=person)(objectClass=user)(|(sAMAccountName=ocsuser1)(sAMAccountName=ocsuser2)))', attributes: ['sAMAccountName'] });
    expect(users.entries.map((e) => e.attributes.sAMAccountName?.[0]).sort()).toEqual(['ocsuser1', 'ocsuser2']);
    const substring = await c.search(BASE, { scope: 'sub', filter: '(sAMAccountName=ocsuser*)', attributes: ['sAMAccountName'] });
    expect(substring.entries).toHaveLength(2);
    const not = await c.search(USERS, { scope: 'one', filter: '(&(objectClass=user)(!(sAMAccountName=ocsuser*)))', attributes: ['sAMAccountName'] });
    expect(not.entries.map((e) => e.attributes.sAMAccountName?.[0])).toContain('Administrator');
    const disabled = await c.search(BASE, { scope: 'sub', filter: '(userAccountControl:1.2.840.113556.1.4.803:=2)', attributes: ['sAMAccountName'] });
    expect(disabled.entries.map((e) => e.attributes.sAMAccountName?.[0])).toEqual(expect.arrayContaining(['Guest', 'krbtgt']));
  });

  it('selects attributes case-insensitively and returns the schema spelling', async () => {
    const c = await client();
    const r = await c.search(ADMIN_DN, { scope: 'base', attributes: ['SAMACCOUNTNAME', 'objectclass', 'UserPrincipalName'] });
    expect(Object.keys(r.entries[0]?.attributes ?? {}).sort()).toEqual(['objectClass', 'sAMAccountName']);
    const none = await c.search(ADMIN_DN, { scope: 'base', attributes: ['1.1'] });
    expect(none.entries[0]?.attributes).toEqual({});
  });

  it('sends objectGUID and objectSid in AD binary form and accepts binary filter values', async () => {
    const c = await client();
    const stored = adFindUser(env.lab.get('ad'), 'Administrator');
    const r = await c.search(ADMIN_DN, { scope: 'base', attributes: ['objectGUID', 'objectSid'] });
    const guid = r.entries[0]?.buffers.objectGUID?.[0] as Buffer;
    const sid = r.entries[0]?.buffers.objectSid?.[0] as Buffer;
    expect(guid).toHaveLength(16);
    expect(bytesToGuid(guid)).toBe(stored?.attributes.objectGUID?.[0]);
    expect(bytesToSid(sid)).toBe(stored?.attributes.objectSid?.[0]);
    expect(bytesToSid(sid)).toMatch(/^S-1-5-21-\d+-\d+-\d+-500$/);
    const escaped = [...sid].map((b) => `\\${b.toString(16).padStart(2, '0')}`).join('');
    const bySid = await c.search(BASE, { scope: 'sub', filter: `(objectSid=${escaped})`, attributes: ['sAMAccountName'] });
    expect(bySid.entries.map((e) => e.dn)).toEqual([ADMIN_DN]);
    const bySidText = await c.search(BASE, { scope: 'sub', filter: `(objectSid=${bytesToSid(sid)})`, attributes: ['cn'] });
    expect(bySidText.entries.map((e) => e.dn)).toEqual([ADMIN_DN]);
  });

  it('stops at sizeLimit with sizeLimitExceeded (4)', async () => {
    const c = await client();
    const r = await c.search(BASE, { scope: 'sub', filter: '(objectClass=*)', attributes: ['cn'], sizeLimit: 3 });
    expect(r.entries).toHaveLength(3);
    expect(r.error).toMatchObject({ code: 4 });
  });

  it('answers a missing base with noSuchObject (32) and the best match', async () => {
    const c = await client();
    const r = await c.search(`OU=Nowhere,${BASE}`, { scope: 'sub' });
    expect(r.error).toMatchObject({ code: 32, matchedDN: BASE });
    const raw = await exchange(env.server.port, [bindRequest(1, ADMIN_DN, env.adminPassword), searchRequest(2, `OU=Nowhere,${BASE}`, 2)], (x) => x.length === 2);
    expect(raw.responses[1]?.diagnostic).toContain('0000208D: NameErr: DSID-0310020A, problem 2001 (NO_OBJECT)');
  });
});

describe('add, modify, delete', () => {
  const dn = `CN=Wire Test,${USERS}`;

  it('adds an object (attribute names as the client spelt them) and reads it back', async () => {
    const c = await client();
    expect(await c.add(dn, { objectClass: ['top', 'person', 'organizationalPerson', 'user'], sAMAccountName: 'wiretest', telephoneNumber: '+1 555 0100', givenName: 'Wire' })).toBeUndefined();
    const r = await c.search(dn, { scope: 'base', attributes: ['telephoneNumber', 'objectClass', 'givenName'] });
    expect(r.entries[0]?.attributes).toMatchObject({ telephoneNumber: ['+1 555 0100'], givenName: ['Wire'], objectClass: ['top', 'person', 'organizationalPerson', 'user'] });
  });

  it('maps AD schema failures to their result codes', async () => {
    const c = await client();
    expect(await c.add(dn, { objectClass: 'user', sAMAccountName: 'wiretest2' })).toMatchObject({ code: 68 });
    expect(await c.add(`CN=x,OU=Missing,${BASE}`, { objectClass: 'user' })).toMatchObject({ code: 32, matchedDN: BASE });
    expect(await c.add(`CN=y,${USERS}`, { objectClass: 'user', noSuchAttributeAnywhere: 'v' })).toMatchObject({ code: 17 });
    expect(await c.add(`CN=z,${USERS}`, { objectClass: 'noSuchClass' })).toMatchObject({ code: 65 });
    expect(await c.add(`CN=w,${USERS}`, { objectClass: 'user', objectGUID: '00112233-4455-6677-8899-aabbccddeeff' })).toMatchObject({ code: 53 });
    expect(await c.modify(dn, [{ operation: 'replace', type: 'givenName', values: ['a', 'b'] }])).toMatchObject({ code: 19 });
    expect(await c.modify(dn, [{ operation: 'replace', type: 'noSuchAttributeAnywhere', values: ['a'] }])).toMatchObject({ code: 17 });
    expect(await c.modify(`CN=Ghost,${USERS}`, [{ operation: 'replace', type: 'description', values: ['a'] }])).toMatchObject({ code: 32, matchedDN: USERS });
    expect(await c.del(`CN=Ghost,${USERS}`)).toMatchObject({ code: 32 });
    expect(await c.del(USERS)).toMatchObject({ code: expect.any(Number) });
  });

  it('modifies with add / replace / delete and deletes the object', async () => {
    const c = await client();
    expect(
      await c.modify(dn, [
        { operation: 'replace', type: 'DESCRIPTION', values: ['set over LDAP'] },
        { operation: 'add', type: 'title', values: ['Tester'] },
        { operation: 'delete', type: 'telephoneNumber', values: [] },
      ]),
    ).toBeUndefined();
    const r = await c.search(dn, { scope: 'base', attributes: ['description', 'telephoneNumber', 'title'] });
    expect(r.entries[0]?.attributes).toEqual({ description: ['set over LDAP'], title: ['Tester'] });
    expect(await c.del(dn)).toBeUndefined();
    expect((await c.search(dn, { scope: 'base' })).error).toMatchObject({ code: 32 });
  });

  it('accepts unicodePwd as UTF-16LE of the quoted password, as AD requires', async () => {
    const c = await client();
    const userDn = `CN=Pwd Test,${USERS}`;
    expect(await c.add(userDn, { objectClass: 'user', sAMAccountName: 'pwdtest', userAccountControl: '512' })).toBeUndefined();
    const { responses } = await exchange(
      env.server.port,
      [
        bindRequest(1, 'CORP\\Administrator', env.adminPassword),
        message(2, tlv(0x66, octets(userDn), tlv(0x30, tlv(0x30, tlv(0x0a, Buffer.from([2])), tlv(0x30, octets('unicodePwd'), tlv(0x31, tlv(0x04, Buffer.from('"N3w-Passw0rd!"', 'utf16le')))))))),
        bindRequest(3, 'CORP\\pwdtest', 'N3w-Passw0rd!'),
      ],
      (r) => r.length === 3,
    );
    expect(responses.map((r) => r.resultCode)).toEqual([0, 0, 0]);
  });
});

describe('operations the lab does not emulate', () => {
  it('answers modifyDN and compare with unwillingToPerform (53)', async () => {
    const c = await client();
    expect(await c.modifyDN(ADMIN_DN, `CN=Admin2,${USERS}`)).toMatchObject({ code: 53 });
    expect(await c.compare(ADMIN_DN, 'sAMAccountName', 'Administrator')).toMatchObject({ code: 53 });
  });

  it('answers WhoAmI, refuses StartTLS (52) and unknown extended operations (2)', async () => {
    const ext = (id: number, oid: string) => message(id, tlv(0x77, octets(oid, 0x80)));
    const { responses } = await exchange(
      env.server.port,
      [bindRequest(1, 'Administrator@corp.example.net', env.adminPassword), ext(2, '1.3.6.1.4.1.4203.1.11.3'), ext(3, '1.3.6.1.4.1.1466.20037'), ext(4, '1.2.3.4')],
      (r) => r.length === 4,
    );
    expect(responses.map((r) => [r.tag, r.resultCode])).toEqual([
      [0x61, 0],
      [0x78, 0],
      [0x78, 52],
      [0x78, 2],
    ]);
    expect(responses[1]?.bytes.toString('utf8')).toContain('u:CORP\\Administrator');
  });

  it('answers a critical control it does not know with unavailableCriticalExtension (12)', async () => {
    const controls = tlv(0xa0, tlv(0x30, octets('1.2.840.113556.1.4.805'), tlv(0x01, Buffer.from([0xff]))));
    const search = searchRequest(2, BASE, 0);
    const withControl = tlv(0x30, search.subarray(2), controls);
    const { responses } = await exchange(env.server.port, [bindRequest(1, ADMIN_DN, env.adminPassword), withControl], (r) => r.length === 2);
    expect(responses.map((r) => r.resultCode)).toEqual([0, 12]);
  });

  it('drops a connection that speaks another protocol, with a Notice of Disconnection', async () => {
    const { responses, closedByServer } = await exchange(env.server.port, [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
    expect(closedByServer).toBe(true);
    expect(responses[0]).toMatchObject({ messageId: 0, tag: 0x78, resultCode: 2 });
    const c = await client();
    expect((await c.search(ADMIN_DN, { scope: 'base', attributes: ['cn'] })).entries).toHaveLength(1);
  });
});

describe('stop()', () => {
  it('closes the listener and every open connection', async () => {
    const own = await startLdapLab('2');
    const c = new Client(own.server.url);
    expect(await c.bind(ADMIN_DN, own.adminPassword)).toBeUndefined();
    expect(own.server.connections()).toBe(1);
    expect(own.server.protocol).toBe('ldap');
    expect(own.server.url).toBe(`ldap://127.0.0.1:${own.server.port}`);
    await own.stop();
    expect(own.server.connections()).toBe(0);
    const after = await exchange(own.server.port, [bindRequest(1, ADMIN_DN, own.adminPassword)], (r) => r.length === 1, 1000);
    expect(after.responses).toHaveLength(0);
    await own.server.stop();
  });
});
