import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { request, type EmulatorDefinition } from '../../sim/emulator.js';
import { Lab } from '../../sim/lab.js';
import { topologyWithUsers } from './ad.testkit.js';
import {
  adAdd,
  adAuthenticate,
  adAvailableDcs,
  adCreateUser,
  adDelete,
  adDomainPrep,
  adFindUser,
  adForceReplication,
  adForestPrep,
  adIsConverged,
  adModify,
  adModifyMany,
  adPrepState,
  adRtcServiceDn,
  adSchemaPrep,
  adSearch,
  adSetPassword,
} from './ad.client.js';
import { adEmulator } from './index.js';

const D = 'DC=corp,DC=example,DC=net';
const DAY = 86_400_000;

function lab(seed = 'ad-test', extra: EmulatorDefinition[] = []) {
  const l = new Lab(topologyWithUsers(), [adEmulator, ...extra], { seed });
  return { l, ad: l.get('ad') };
}

const ntds = (l: Lab, host: string, to: 'Running' | 'Stopped') =>
  l.send('ad', { type: 'host.serviceStateChanged', host, service: 'NTDS', displayName: 'Active Directory Domain Services', from: to === 'Running' ? 'Stopped' : 'Running', to });

const exists = (ad: ReturnType<Lab['get']>, dn: string, dc: string) => adSearch(ad, { base: dn, scope: 'base', attributes: ['1.1'], dc }).ok;

describe('the AD actor', () => {
  it('answers a rootDSE read per DC', () => {
    const { ad } = lab();
    const r = adSearch(ad, { base: '', scope: 'base', dc: 'dc02' });
    expect(r.ok && r.value[0]?.attributes).toMatchObject({
      defaultNamingContext: [D],
      configurationNamingContext: [`CN=Configuration,${D}`],
      schemaNamingContext: [`CN=Schema,CN=Configuration,${D}`],
      rootDomainNamingContext: [D],
      dnsHostName: ['dc02.corp.example.net'],
      supportedLDAPVersion: ['3', '2'],
    });
  });

  it('draws GUIDs and SIDs from the seed', () => {
    const pick = (seed: string) => {
      const { ad } = lab(seed);
      const admin = adFindUser(ad, 'Administrator');
      return [admin?.attributes.objectGUID?.[0], admin?.attributes.objectSid?.[0]];
    };
    const a = pick('one');
    expect(a).toEqual(pick('one'));
    expect(a).not.toEqual(pick('two'));
    expect(a[1]).toMatch(/^S-1-5-21-\d+-\d+-\d+-500$/);
  });

  it('pre-creates the topology users as plain AD users with mail, not SIP-enabled', () => {
    const { ad } = lab();
    const u = adFindUser(ad, 'ocsuser1');
    expect(u?.dn).toBe(`CN=OCS User1,CN=Users,${D}`);
    expect(u?.attributes.mail).toEqual(['ocsuser1@example.com']);
    expect(u?.attributes.userPrincipalName).toEqual(['ocsuser1@corp.example.net']);
    expect(Object.keys(u?.attributes ?? {}).some((k) => k.startsWith('msRTCSIP'))).toBe(false);
  });
});

describe('replication', () => {
  it('shows a write on dc02 only after the replication delay', () => {
    const { l, ad } = lab();
    const dn = `OU=Staff,${D}`;
    expect(adAdd(ad, { dn, attributes: { objectClass: ['organizationalUnit'] } })).toEqual({ ok: true, value: { dn } });
    expect(exists(ad, dn, 'dc01')).toBe(true);
    expect(exists(ad, dn, 'dc02')).toBe(false);
    expect(adIsConverged(ad)).toBe(false);
    expect(l.snapshot('ad').value).toEqual({ directory: 'online', replication: 'pending' });
    l.advance(14_999);
    expect(exists(ad, dn, 'dc02')).toBe(false);
    l.advance(1);
    expect(exists(ad, dn, 'dc02')).toBe(true);
    expect(adIsConverged(ad)).toBe(true);
    expect(l.snapshot('ad').value).toEqual({ directory: 'online', replication: 'converged' });
    const replicated = l.journal.entries.find((e) => e.event.type === 'ad.replicated');
    expect(replicated?.event).toMatchObject({ dc: 'dc02', from: ['dc01'], changes: 1 });
    expect(replicated?.t).toBe(15_000);
  });

  it('replicates modifications and deletions from dc02 to dc01, and repadmin /syncall applies them at once', () => {
    const { ad } = lab();
    const dn = `CN=OCS User2,CN=Users,${D}`;
    expect(adModify(ad, { dn, dc: 'dc02', changes: [{ operation: 'replace', attribute: 'title', values: ['Tester'] }] }).ok).toBe(true);
    const title = (dc: string) => {
      const r = adSearch(ad, { base: dn, scope: 'base', attributes: ['title'], dc });
      return r.ok ? r.value[0]?.attributes.title : undefined;
    };
    expect(title('dc02')).toEqual(['Tester']);
    expect(title('dc01')).toBeUndefined();
    expect(adForceReplication(ad)).toEqual({ ok: true, value: { changes: 1 } });
    expect(title('dc01')).toEqual(['Tester']);
    expect(adDelete(ad, { dn }).ok).toBe(true);
    expect(exists(ad, dn, 'dc02')).toBe(true);
    adForceReplication(ad);
    expect(exists(ad, dn, 'dc02')).toBe(false);
  });

  it('stalls while a DC is down and catches up when NTDS runs again', () => {
    const { l, ad } = lab();
    ntds(l, 'dc02', 'Stopped');
    expect(adAvailableDcs(ad)).toEqual(['dc01']);
    adAdd(ad, { dn: `OU=Late,${D}`, attributes: { objectClass: ['organizationalUnit'] } });
    l.advance(60_000);
    expect(l.snapshot('ad').value).toEqual({ directory: 'online', replication: 'stalled' });
    expect(adSearch(ad, { base: D, scope: 'base', dc: 'dc02' })).toMatchObject({ ok: false, failure: { kind: 'ad.unavailable', ldapResultCode: 81 } });
    ntds(l, 'dc02', 'Running');
    expect(l.waitFor(() => adIsConverged(ad), 60_000).satisfied).toBe(true);
    expect(exists(ad, `OU=Late,${D}`, 'dc02')).toBe(true);
  });
});

describe('availability (owner of NTDS)', () => {
  it('fails every operation with ad.unavailable when no DC runs NTDS, and answers serviceStarting', () => {
    const { l, ad } = lab();
    expect(request(ad, 'ad.reply', { type: 'host.serviceStarting', host: 'dc01', service: 'NTDS' })).toEqual({ ok: true, value: undefined });
    ntds(l, 'dc01', 'Stopped');
    expect(adAdd(ad, { dn: `OU=A,${D}`, attributes: { objectClass: ['organizationalUnit'] } }).ok).toBe(true);
    expect(exists(ad, `OU=A,${D}`, 'dc02')).toBe(true);
    ntds(l, 'dc02', 'Stopped');
    expect(l.snapshot('ad').value).toMatchObject({ directory: 'offline' });
    const r = adAuthenticate(ad, { name: 'CORP\\Administrator', password: 'P@ssw0rd-Lab1' });
    expect(r).toMatchObject({ ok: false, failure: { kind: 'ad.unavailable', ldapResultCode: 81, message: expect.stringContaining('The server is not operational.') } });
    ntds(l, 'dc01', 'Running');
    expect(adAuthenticate(ad, { name: 'CORP\\Administrator', password: 'P@ssw0rd-Lab1' }).ok).toBe(true);
  });
});

describe('LCSCmd preparation', () => {
  it('orders SchemaPrep, ForestPrep and DomainPrep on replication', () => {
    const { l, ad } = lab();
    expect(adPrepState(ad)).toEqual({ schema: 'Not Ready', forest: 'Not Ready', domain: 'Not Ready' });
    expect(adForestPrep(ad, { sipDomain: 'example.com' })).toMatchObject({ ok: false, failure: { kind: 'ad.prepNotReady' } });
    expect(adSchemaPrep(ad).ok).toBe(true);
    expect(adPrepState(ad, 'dc01').schema).toBe('Ready');
    expect(adPrepState(ad, 'dc02').schema).toBe('Not Ready');
    const early = adForestPrep(ad, { sipDomain: 'example.com', dc: 'dc02' });
    expect(early).toMatchObject({ ok: false, failure: { kind: 'ad.prepNotReady', message: expect.stringContaining('SchemaPrep and wait') } });
    expect(l.waitFor(() => adIsConverged(ad), 15 * 60_000)).toEqual({ satisfied: true, elapsedMs: 15_000 });
    expect(adForestPrep(ad, { sipDomain: 'example.com', dc: 'dc02' }).ok).toBe(true);
    expect(adPrepState(ad, 'dc02').forest).toBe('Ready');
    expect(adPrepState(ad, 'dc01').forest).toBe('Not Ready');
    expect(adDomainPrep(ad, { dc: 'dc01' })).toMatchObject({ ok: false, failure: { kind: 'ad.prepNotReady' } });
    l.waitFor(() => adIsConverged(ad), 15 * 60_000);
    expect(adDomainPrep(ad).ok).toBe(true);
    l.waitFor(() => adIsConverged(ad), 15 * 60_000);
    expect(adPrepState(ad, 'dc02')).toEqual({ schema: 'Ready', forest: 'Ready', domain: 'Ready' });
    expect(l.journal.entries.map((e) => e.event.type)).toEqual(expect.arrayContaining(['ad.schemaPrepared', 'ad.prepFailed', 'ad.forestPrepared', 'ad.domainPrepared']));
  });

  it('writes the ForestPrep objects: RTC Service, Global Settings, Pools, the SIP domain and universal groups', () => {
    const { l, ad } = lab();
    adSchemaPrep(ad);
    l.waitFor(() => adIsConverged(ad), 60_000);
    adForestPrep(ad, { sipDomain: 'example.com' });
    const rtc = adRtcServiceDn(ad);
    expect(rtc).toBe(`CN=RTC Service,CN=Services,CN=Configuration,${D}`);
    const gs = adSearch(ad, { base: `CN=Global Settings,${rtc}`, scope: 'sub', filter: '(objectClass=msRTCSIP-Domain)', attributes: ['msRTCSIP-DomainName'] });
    expect(gs.ok && gs.value.map((e) => e.attributes['msRTCSIP-DomainName'])).toEqual([['example.com']]);
    expect(exists(ad, `CN=Pools,${rtc}`, 'dc01')).toBe(true);
    const groups = adSearch(ad, { base: `CN=Users,${D}`, scope: 'one', filter: '(&(objectClass=group)(sAMAccountName=RTC*))', attributes: ['groupType'] });
    expect(groups.ok && groups.value.length).toBe(11);
    expect(groups.ok && groups.value.every((g) => g.attributes.groupType?.[0] === '-2147483640')).toBe(true);
  });

  it('puts global settings in the System container with /Global:system', () => {
    const { l, ad } = lab();
    adSchemaPrep(ad);
    l.waitFor(() => adIsConverged(ad), 60_000);
    expect(adForestPrep(ad, { sipDomain: 'example.com', globalSettingsLocation: 'system' }).ok).toBe(true);
    expect(adRtcServiceDn(ad)).toBe(`CN=RTC Service,CN=Microsoft,CN=System,${D}`);
  });

  it('needs Schema Admins and the Remote Registry service on the Schema Master', () => {
    const stoppedHost = createMachine({ context: { services: [{ name: 'RemoteRegistry', state: 'Stopped' }] } });
    const hostStub: EmulatorDefinition = { kind: 'host', instances: () => [{ systemId: 'host:dc01', logic: stoppedHost, input: {} }] };
    const { ad } = lab('ad-test', [hostStub]);
    expect(adSchemaPrep(ad)).toMatchObject({ ok: false, failure: { kind: 'ad.unavailable', message: expect.stringContaining('Remote Registry') } });
    const other = lab().ad;
    expect(adCreateUser(other, { sam: 'helper', password: 'Assist-Pass1' }).ok).toBe(true);
    expect(adSchemaPrep(other, { runAs: 'helper' })).toMatchObject({ ok: false, failure: { kind: 'ad.insufficientAccess', ldapResultCode: 50 } });
  });

  it('lets a SIP-enabled user be written after preparation, with schema checks on the msRTCSIP attributes', () => {
    const { l, ad } = lab();
    adSchemaPrep(ad);
    l.waitFor(() => adIsConverged(ad), 60_000);
    adForestPrep(ad, { sipDomain: 'example.com' });
    const dn = `CN=OCS User1,CN=Users,${D}`;
    const enable = (values: string) => adModify(ad, { dn, changes: [{ operation: 'replace', attribute: 'msRTCSIP-UserEnabled', values: [values] }] });
    expect(enable('true')).toMatchObject({ ok: false, failure: { kind: 'ad.constraintViolation' } });
    expect(enable('TRUE').ok).toBe(true);
    const home = adModify(ad, { dn, changes: [{ operation: 'replace', attribute: 'msRTCSIP-PrimaryHomeServer', values: [`CN=LC Services,CN=Microsoft,CN=pool01,CN=Pools,${adRtcServiceDn(ad)}`] }] });
    expect(home).toMatchObject({ ok: false, failure: { kind: 'ad.noSuchObject' } });
    expect(adModify(ad, { dn, changes: [{ operation: 'replace', attribute: 'msRTCSIP-PrimaryUserAddress', values: ['sip:ocsuser1@example.com'] }, { operation: 'replace', attribute: 'msRTCSIP-OptionFlags', values: ['256'] }] }).ok).toBe(true);
  });
});

describe('accounts and authentication', () => {
  it('binds with a DN, CORP\\user, a UPN or the implicit UPN', () => {
    const { ad } = lab();
    const dn = `CN=OCS User1,CN=Users,${D}`;
    for (const name of [dn, 'CORP\\ocsuser1', 'corp.example.net\\ocsuser1', 'ocsuser1@corp.example.net', 'ocsuser1']) {
      expect(adAuthenticate(ad, { name, password: 'Us3r1-P@ss' }), name).toEqual({ ok: true, value: { dn, sam: 'ocsuser1' } });
    }
    expect(adAuthenticate(ad, { name: 'OTHER\\ocsuser1', password: 'Us3r1-P@ss' }).ok).toBe(false);
  });

  it('reports 52e, 533 and 532 as AcceptSecurityContext does', () => {
    const { l, ad } = lab();
    const bad = adAuthenticate(ad, { name: 'CORP\\ocsuser1', password: 'wrong' });
    expect(bad).toMatchObject({ ok: false, failure: { kind: 'ad.invalidCredentials', ldapResultCode: 49, message: '80090308: LdapErr: DSID-0C09043E, comment: AcceptSecurityContext error, data 52e, v1db1' } });
    adModify(ad, { dn: `CN=OCS User2,CN=Users,${D}`, changes: [{ operation: 'replace', attribute: 'userAccountControl', values: ['514'] }] });
    expect(adAuthenticate(ad, { name: 'CORP\\ocsuser2', password: 'Us3r2-P@ss' })).toMatchObject({ ok: false, failure: { kind: 'ad.accountDisabled', data: '533' } });
    expect(adCreateUser(ad, { sam: 'RTCService', password: 'Svc-Pass-2009', passwordNeverExpires: true }).ok).toBe(true);
    l.advance(43 * DAY);
    expect(adAuthenticate(ad, { name: 'CORP\\ocsuser1', password: 'Us3r1-P@ss' })).toMatchObject({ ok: false, failure: { kind: 'ad.passwordExpired', data: '532' } });
    expect(adAuthenticate(ad, { name: 'CORP\\RTCService', password: 'Svc-Pass-2009' }).ok).toBe(true);
    expect(adSetPassword(ad, { sam: 'ocsuser1', password: 'New-Pass-43' }).ok).toBe(true);
    expect(adAuthenticate(ad, { name: 'CORP\\ocsuser1', password: 'New-Pass-43' }).ok).toBe(true);
  });

  it('applies the default password policy', () => {
    const { ad } = lab();
    expect(adCreateUser(ad, { sam: 'weak', password: 'abc' })).toMatchObject({ ok: false, failure: { kind: 'ad.constraintViolation', message: expect.stringMatching(/^0000052D: Constraint violation/) } });
    expect(adSetPassword(ad, { sam: 'ocsuser1', password: 'ocsuser1-X9' })).toMatchObject({ ok: false, failure: { kind: 'ad.constraintViolation' } });
    expect(adCreateUser(ad, { sam: 'ocsuser1', password: 'Good-Pass-1' })).toMatchObject({ ok: false, failure: { kind: 'ad.entryAlreadyExists' } });
  });
});

describe('several modifies in one request', () => {
  it('applies or refuses each item on its own, in order, and keeps the ones that succeeded', () => {
    const { ad } = lab();
    const u1 = `CN=OCS User1,CN=Users,${D}`;
    const u2 = `CN=OCS User2,CN=Users,${D}`;
    const r = adModifyMany(ad, {
      items: [
        { dn: u1, changes: [{ operation: 'replace', attribute: 'title', values: ['Engineer'] }] },
        { dn: u2, changes: [{ operation: 'replace', attribute: 'noSuchAttribute', values: ['x'] }] },
        { dn: `CN=Nobody,CN=Users,${D}`, changes: [{ operation: 'replace', attribute: 'title', values: ['x'] }] },
        { dn: u2, changes: [{ operation: 'replace', attribute: 'title', values: ['Operator'] }] },
      ],
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.map((x) => (x.ok ? 'ok' : x.failure.kind))).toEqual(['ok', 'ad.undefinedAttribute', 'ad.noSuchObject', 'ok']);
    const title = (dn: string) => (adSearch(ad, { base: dn, scope: 'base', attributes: ['title'] }) as { ok: true; value: Array<{ attributes: Record<string, string[]> }> }).value[0]?.attributes.title;
    expect([title(u1), title(u2)]).toEqual([['Engineer'], ['Operator']]);
  });
});
