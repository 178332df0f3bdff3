import { describe, expect, it } from 'vitest';
import {
  buildProvisioning,
  parseProvisioning,
  parseXml,
  PROVISION_GROUPS,
  PROVISIONING_CONTENT_TYPE,
  PROVISIONING_RESPONSE_NS,
  provisioningRequestBody,
  requestedProvisionGroups,
} from './ocs.provisioning.js';
import { emptyStore, withPool, withUser, type OcsStore, type PoolRecord } from './ocs.store.js';

const POOL: PoolRecord = {
  name: 'pool01',
  fqdn: 'pool01.corp.example.net',
  dn: 'CN=pool01,CN=Pools,CN=RTC Service,CN=Microsoft,CN=System,DC=corp,DC=example,DC=net',
  homeServerDn: 'CN=LC Services,CN=Microsoft,CN=pool01,CN=Pools,CN=RTC Service,CN=Microsoft,CN=System,DC=corp,DC=example,DC=net',
  backEnd: 'sql01',
  backEndFqdn: 'sql01.corp.example.net',
  configured: true,
  sipDomains: ['example.com'],
  defaultSipDomain: 'example.com',
  automaticSignIn: true,
  internalWebFarmFqdn: 'pool01.corp.example.net',
  frontEnds: ['ocsfe01'],
};

function storeWith(pool: PoolRecord): OcsStore {
  return withUser(withPool(emptyStore(), pool), { sam: 'ocsuser1', dn: 'CN=ocsuser1,CN=Users,DC=corp,DC=example,DC=net', sipAddress: 'sip:ocsuser1@example.com', pool: pool.name });
}

function provisioned(store: OcsStore, groups?: readonly string[]) {
  const r = buildProvisioning(store, 'sip:OCSUser1@example.com', groups);
  if (!r.ok) throw new Error(r.failure.message);
  return { ...r.value, parsed: parseProvisioning(r.value.body, r.value.contentType) };
}

describe('in-band provisioning: what the front end answers', () => {
  it('gives a user of pool01 the Address Book and group expansion URLs of the internal web farm (the pool FQDN by default)', () => {
    const { body, contentType, groups, parsed } = provisioned(storeWith(POOL));
    expect(contentType).toBe('application/vnd-microsoft-roaming-provisioning-v2+xml');
    expect(groups).toEqual(['ServerConfiguration', 'meetingPolicy', 'ucPolicy']);
    expect(body.startsWith(`<provisionGroupList xmlns="${PROVISIONING_RESPONSE_NS}">`)).toBe(true);
    expect(parsed.problem).toBeUndefined();
    expect(parsed.absInternalServerUrl).toBe('https://pool01.corp.example.net/Abs/Int/Handler');
    expect(parsed.dlxInternalUrl).toBe('https://pool01.corp.example.net/GroupExpansion/Int/service.asmx');
    // No external web farm configured: the elements are there, empty, and the client has no external URL.
    expect(parsed.absExternalServerUrl).toBeUndefined();
    expect(parsed.dlxExternalUrl).toBeUndefined();
    expect(parsed.groups.ServerConfiguration).toMatchObject({ absExternalServerUrl: '', dlxExternalUrl: '', focusFactoryUri: 'sip:ocsuser1@example.com;gruu;opaque=app:conf:focusfactory', qosEnabled: 'false' });
    expect(parsed.groups.meetingPolicy?.MeetingSize).toBe('250');
    expect(parsed.groups.ucPolicy).toBeDefined();
  });

  it('follows the web farm FQDNs Configure Pool recorded, internal and external', () => {
    const { parsed } = provisioned(storeWith({ ...POOL, internalWebFarmFqdn: 'web01.corp.example.net', externalWebFarmFqdn: 'ocsweb.example.com' }));
    expect(parsed).toMatchObject({
      absInternalServerUrl: 'https://web01.corp.example.net/Abs/Int/Handler',
      absExternalServerUrl: 'https://ocsweb.example.com/Abs/Ext/Handler',
      dlxInternalUrl: 'https://web01.corp.example.net/GroupExpansion/Int/service.asmx',
      dlxExternalUrl: 'https://ocsweb.example.com/GroupExpansion/Ext/service.asmx',
    });
  });

  it('answers the groups asked for, in the order asked, leaving out ones this server does not know', () => {
    const asked = requestedProvisionGroups(provisioningRequestBody(['ucPolicy', 'persistentChatConfiguration', 'ServerConfiguration']));
    expect(asked).toEqual({ ok: true, value: ['ucPolicy', 'persistentChatConfiguration', 'ServerConfiguration'] });
    const { groups, parsed } = provisioned(storeWith(POOL), asked.ok ? asked.value : []);
    expect(groups).toEqual(['ucPolicy', 'ServerConfiguration']);
    expect(Object.keys(parsed.groups)).toEqual(['ucPolicy', 'ServerConfiguration']);
  });

  it('reads the request as Communicator and sipe send it; an empty body asks for everything, another document is refused', () => {
    const sipe =
      '<provisioningGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisioninggrouplist"> <provisioningGroup name="ServerConfiguration"/> <provisioningGroup name="meetingPolicy"/> <provisioningGroup name="persistentChatConfiguration"/> <provisioningGroup name="ucPolicy"/></provisioningGroupList>';
    expect(requestedProvisionGroups(sipe)).toEqual({ ok: true, value: ['ServerConfiguration', 'meetingPolicy', 'persistentChatConfiguration', 'ucPolicy'] });
    expect(requestedProvisionGroups('  ')).toEqual({ ok: true, value: [...PROVISION_GROUPS] });
    expect(requestedProvisionGroups('<roamingList/>')).toMatchObject({ ok: false, failure: { kind: 'ocs.badProvisioningRequest' } });
    expect(requestedProvisionGroups('<provisioningGroupList>')).toMatchObject({ ok: false, failure: { kind: 'ocs.badProvisioningRequest' } });
  });

  it('refuses a user the store does not home anywhere', () => {
    const r = buildProvisioning(storeWith(POOL), 'sip:nobody@example.com');
    expect(r).toMatchObject({ ok: false, failure: { kind: 'ocs.userNotHomed', user: 'sip:nobody@example.com' } });
  });
});

describe('in-band provisioning: what a client reads', () => {
  it('reads the Lync-era shapes too (propertyEntryList) and a multipart/related body with one part per group', () => {
    const part = (inner: string) =>
      ['--b1', `Content-Type: ${PROVISIONING_CONTENT_TYPE}`, '', `<provisionGroupList xmlns="${PROVISIONING_RESPONSE_NS}">${inner}</provisionGroupList>`].join('\r\n');
    const body = [
      part('<provisionGroup name="ServerConfiguration"><absInternalServerUrl>https://fe.example.net/Abs/Int/Handler</absInternalServerUrl></provisionGroup>'),
      part('<provisionGroup name="endpointConfiguration"><propertyEntryList><property name="MaxPhotoSizeKB">10</property></propertyEntryList></provisionGroup>'),
      '--b1--',
      '',
    ].join('\r\n');
    const parsed = parseProvisioning(body, `multipart/related; type="${PROVISIONING_CONTENT_TYPE}"; boundary="b1"`);
    expect(parsed.problem).toBeUndefined();
    expect(parsed.absInternalServerUrl).toBe('https://fe.example.net/Abs/Int/Handler');
    expect(parsed.groups.endpointConfiguration).toEqual({ MaxPhotoSizeKB: '10' });
  });

  it('says why it read nothing: another Content-Type, malformed XML, a DOCTYPE', () => {
    expect(parseProvisioning('<provisionGroupList/>', 'text/plain').problem).toContain('Content-Type');
    expect(parseProvisioning('<provisionGroupList><provisionGroup name="x"></provisionGroupList>', PROVISIONING_CONTENT_TYPE)).toMatchObject({ groups: {}, problem: expect.stringContaining('provisionGroupList') });
    expect(parseXml('<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>')).toBeUndefined();
  });

  it('decodes entities and CDATA, keeps prefixes out of names, and stays linear on hostile input', () => {
    const el = parseXml('<?xml version="1.0"?><!-- c --><p:a xmlns:p="urn:x" p:k=\'1 &amp; 2\'><b>&lt;x&gt; &#65;&#x42;</b><![CDATA[<raw>]]></p:a>');
    expect(el).toMatchObject({ name: 'a', attrs: { k: '1 & 2' }, children: [{ name: 'b', text: '<x> AB' }], text: '<raw>' });
    const started = Date.now();
    for (const hostile of ['<'.repeat(60_000), '<a b="'.repeat(10_000), '<a>'.repeat(20_000), `<a>${'&amp;'.repeat(10_000)}`]) expect(parseXml(hostile)).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
