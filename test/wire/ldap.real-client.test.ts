/**
 * OpenLDAP's ldapsearch / ldapmodify (ldap-utils) against the AD adapter on loopback. LDAPNOINIT=1 keeps
 * ldap.conf / ldaprc out of it. Skipped when ldap-utils is not installed.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE, prepareDirectory, run, startLdapLab, type LdapLab } from '../support/wire-ldap.js';

const ldapsearchPath = ['/usr/bin/ldapsearch', '/usr/local/bin/ldapsearch'].find((p) => existsSync(p));
const ldapmodifyPath = ['/usr/bin/ldapmodify', '/usr/local/bin/ldapmodify'].find((p) => existsSync(p));

let env: LdapLab;
const admin = () => ['-x', '-H', env.server.url, '-D', 'CORP\\Administrator', '-w', env.adminPassword];
const OCSUSER1 = `CN=OCS User1,CN=Users,${BASE}`;

describe('ldapsearch / ldapmodify against the emulated DC', () => {
  const ldapsearch = (args: string[]) => run(ldapsearchPath as string, args);
  const ldapmodify = (args: string[], ldif: string) => run(ldapmodifyPath as string, args, ldif);

  it('has the real clients installed (apt-get install ldap-utils; .ci/run does)', () => {
    expect(ldapsearchPath, 'ldapsearch').toBeDefined();
    expect(ldapmodifyPath, 'ldapmodify').toBeDefined();
  });

  beforeAll(async () => {
    env = await startLdapLab('1', prepareDirectory);
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('finds the Administrator with a NETBIOS\\user bind', async () => {
    const r = await ldapsearch([...admin(), '-b', BASE, '(sAMAccountName=Administrator)', 'sAMAccountName', 'objectClass']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`dn: CN=Administrator,CN=Users,${BASE}`);
    expect(r.stdout).toContain('sAMAccountName: Administrator');
    expect(r.stdout).toContain('objectClass: user');
    expect(r.stdout).toContain('# numEntries: 1');
  });

  it('reads the rootDSE anonymously', async () => {
    const r = await ldapsearch(['-x', '-LLL', '-H', env.server.url, '-s', 'base', '-b', '', '(objectClass=*)', 'defaultNamingContext', 'dnsHostName', 'supportedLDAPVersion']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`defaultNamingContext: ${BASE}`);
    expect(r.stdout).toContain('dnsHostName: dc01.corp.example.net');
  });

  it('exits 49 on a bad password, with AD\'s diagnostic', async () => {
    const r = await ldapsearch(['-x', '-H', env.server.url, '-D', 'CORP\\Administrator', '-w', 'not-the-password', '-b', BASE, '(sAMAccountName=Administrator)']);
    expect(r.code).toBe(49);
    expect(r.stderr).toContain('Invalid credentials (49)');
    expect(r.stderr).toContain('AcceptSecurityContext error, data 52e');
  });

  it('exits 1 (operations error) for an anonymous subtree search', async () => {
    const r = await ldapsearch(['-x', '-H', env.server.url, '-b', BASE, '(sAMAccountName=Administrator)']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('000004DC');
  });

  it('binds with a UPN and returns objectGUID / objectSid as base64 binary', async () => {
    const r = await ldapsearch(['-x', '-LLL', '-H', env.server.url, '-D', 'Administrator@corp.example.net', '-w', env.adminPassword, '-b', BASE, '(sAMAccountName=Administrator)', 'objectGUID', 'objectSid']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^objectGUID:: [A-Za-z0-9+/]{22}==$/m);
    expect(r.stdout).toMatch(/^objectSid:: AQUAAAAAAAUVAAAA/m);
  });

  it('ldapmodify adds msRTCSIP-PrimaryUserAddress to a user, and ldapsearch finds it', async () => {
    const ldif = `dn: ${OCSUSER1}\nchangetype: modify\nadd: msRTCSIP-PrimaryUserAddress\nmsRTCSIP-PrimaryUserAddress: sip:ocsuser1@example.com\n-\nreplace: telephoneNumber\ntelephoneNumber: +1 425 555 0101\n-\n`;
    const m = await ldapmodify(admin(), ldif);
    expect(m.stderr).toBe('');
    expect(m.code).toBe(0);
    expect(m.stdout).toContain(`modifying entry "${OCSUSER1}"`);
    const r = await ldapsearch([...admin(), '-LLL', '-b', BASE, '(msRTCSIP-PrimaryUserAddress=sip:*)', 'msrtcsip-primaryuseraddress', 'TELEPHONENUMBER']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`dn: ${OCSUSER1}`);
    expect(r.stdout).toContain('msRTCSIP-PrimaryUserAddress: sip:ocsuser1@example.com');
    expect(r.stdout).toContain('telephoneNumber: +1 425 555 0101');
  });

  it('ldapmodify exits with AD\'s schema error codes', async () => {
    const undefinedAttr = await ldapmodify(admin(), `dn: ${OCSUSER1}\nchangetype: modify\nadd: msRTCSIP-NoSuchAttribute\nmsRTCSIP-NoSuchAttribute: x\n-\n`);
    expect(undefinedAttr.code).toBe(17);
    expect(undefinedAttr.stderr).toContain('Undefined attribute type (17)');
    const twoValues = await ldapmodify(admin(), `dn: ${OCSUSER1}\nchangetype: modify\nreplace: msRTCSIP-PrimaryUserAddress\nmsRTCSIP-PrimaryUserAddress: sip:a@example.com\nmsRTCSIP-PrimaryUserAddress: sip:b@example.com\n-\n`);
    expect(twoValues.code).toBe(19);
    expect(twoValues.stderr).toContain('Constraint violation (19)');
    const badClass = await ldapmodify(admin(), `dn: CN=Bad Class,CN=Users,${BASE}\nchangetype: add\nobjectClass: noSuchClass\ncn: Bad Class\n`);
    expect(badClass.code).toBe(65);
    const exists = await ldapmodify(admin(), `dn: ${OCSUSER1}\nchangetype: add\nobjectClass: user\nsAMAccountName: dup\n`);
    expect(exists.code).toBe(68);
  });

  it('ldapmodify adds and deletes a user object', async () => {
    const dn = `CN=Wire User,CN=Users,${BASE}`;
    const add = await ldapmodify(admin(), `dn: ${dn}\nchangetype: add\nobjectClass: user\nsAMAccountName: wireuser\ngivenName: Wire\nsn: User\n`);
    expect(add.code).toBe(0);
    const del = await ldapmodify(admin(), `dn: ${dn}\nchangetype: delete\n`);
    expect(del.code).toBe(0);
    const gone = await ldapsearch([...admin(), '-b', dn, '-s', 'base']);
    expect(gone.code).toBe(32);
  });
});
