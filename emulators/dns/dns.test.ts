import { describe, it, expect } from 'vitest';
import { Lab } from '../../sim/lab.js';
import type { StepContext } from '../../sim/steps.js';
import { defaultTopology } from '../../sim/topology.js';
import { fakeHostEmulator, setFakeService } from '../hlb/fake-host.testkit.js';
import { dnsEmulator, dnsSteps } from './index.js';
import { hostEmulator } from '../host/index.js';
import { hostBoot, hostShutdown } from '../host/host.client.js';
import { dnsAddRecord, dnsAddZone, dnsQuery, dnsRecords, dnsRemoveRecord, dnsZones } from './dns.client.js';
import { stepContext } from '../../test/support/step-context.js';

const step = (name: string) => {
  const s = dnsSteps.find((d) => d.name === name);
  if (!s) throw new Error(`no step ${name}`);
  return s;
};

/** Runs a step the way the runner does: parameters parsed (defaults filled) first. */
const run = (name: string, ctx: StepContext, p: Record<string, unknown>) => {
  const s = step(name);
  return Promise.resolve(s.emulated(ctx, s.params.parse(p)));
};

function newLab() {
  const lab = new Lab(defaultTopology(), [dnsEmulator], { seed: 'd' });
  return { lab, dns: lab.get('dns'), ctx: stepContext(lab) };
}

const texts = (r: ReturnType<typeof dnsQuery>) => (r.ok ? r.value.answers.map((a) => a.text) : r.failure.message);

describe('the lab DNS', () => {
  it('starts with the AD zone as DCPromo leaves it and an empty zone for the SIP domain', () => {
    const { lab, dns } = newLab();
    expect(dnsZones(dns)).toEqual(['corp.example.net', '_msdcs.corp.example.net', 'example.com']);
    expect(texts(dnsQuery(dns, { name: 'SQL01.corp.example.net.', type: 'A' }))).toEqual(['sql01.corp.example.net A 127.0.10.21']);
    expect(texts(dnsQuery(dns, { name: '_ldap._tcp.corp.example.net', type: 'SRV' }))).toEqual([
      '_ldap._tcp.corp.example.net SRV 0 100 389 dc01.corp.example.net',
      '_ldap._tcp.corp.example.net SRV 0 100 389 dc02.corp.example.net',
    ]);
    expect(texts(dnsQuery(dns, { name: '_ldap._tcp.dc._msdcs.corp.example.net', type: 'SRV' }))).toHaveLength(2);
    expect(dnsRecords(dns, 'example.com').map((r) => r.type)).toEqual(['SOA', 'NS', 'NS']);
    lab.stop();
  });

  it('answers NXDOMAIN, NODATA and REFUSED as an authoritative Windows server without recursion would', () => {
    const { lab, dns } = newLab();
    const nx = dnsQuery(dns, { name: 'sip.example.com', type: 'A' });
    expect(nx).toMatchObject({ ok: true, value: { rcode: 'NXDOMAIN', answers: [], authority: [{ type: 'SOA', name: 'example.com' }] } });
    const nodata = dnsQuery(dns, { name: 'ocsfe01.corp.example.net', type: 'SRV' });
    expect(nodata).toMatchObject({ ok: true, value: { rcode: 'NOERROR', answers: [], authority: [{ type: 'SOA' }] } });
    expect(dnsQuery(dns, { name: 'www.microsoft.com', type: 'A' })).toEqual({ ok: true, value: { rcode: 'REFUSED', authoritative: false, answers: [], authority: [] } });
    lab.stop();
  });

  it('publishes the pool and automatic sign-in records the operator adds (ocs-facts §6)', async () => {
    const { lab, dns, ctx } = newLab();
    const add = (p: Record<string, unknown>) => run('dns.addRecord', ctx, p);
    expect((await add({ name: 'pool01.corp.example.net', type: 'A', address: '127.0.10.30' })).ok).toBe(true);
    expect((await add({ name: 'sip.example.com', type: 'A', address: '127.0.10.30' })).ok).toBe(true);
    expect((await add({ name: '_sipinternaltls._tcp.example.com', type: 'SRV', port: 5061, target: 'sip.example.com' })).ok).toBe(true);
    expect(lab.journal.entries.map((e) => e.event.summary)).toContain('Added _sipinternaltls._tcp.example.com SRV 0 0 5061 sip.example.com (zone example.com)');

    const resolve = (p: Record<string, unknown>) => run('dns.resolve', ctx, p);
    expect(await resolve({ name: '_sipinternaltls._tcp.example.com', type: 'SRV', expect: { answers: ['0 0 5061 sip.example.com'] } })).toMatchObject({
      ok: true,
      details: ['_sipinternaltls._tcp.example.com SRV 0 0 5061 sip.example.com'],
    });
    expect((await resolve({ name: 'sip.example.com', expect: { answers: ['127.0.10.30'] } })).ok).toBe(true);
    expect((await resolve({ name: '_tcp.example.com', type: 'A', expect: { rcode: 'NOERROR' } })).ok).toBe(true);
    expect(await resolve({ name: 'sipinternal.example.com' })).toMatchObject({ ok: false, reason: 'expected NOERROR, found NXDOMAIN' });

    // The same record twice, and a name in no zone of ours.
    expect(await add({ name: 'sip.example.com', type: 'A', address: '127.0.10.30' })).toMatchObject({ ok: false, reason: 'Command failed: DNS_ERROR_RECORD_ALREADY_EXISTS 9711 (sip.example.com A 127.0.10.30)' });
    const noZone = dnsAddRecord(dns, { name: 'sip.fabrikam.com', type: 'A', address: '127.0.10.30' });
    expect(noZone).toMatchObject({ ok: false, failure: { kind: 'dns.noSuchZone', zones: ['corp.example.net', '_msdcs.corp.example.net', 'example.com'] } });

    // The SOA serial moves with every change.
    const soa = dnsQuery(dns, { name: 'example.com', type: 'SOA' });
    expect(soa.ok && soa.value.answers[0]?.type === 'SOA' && soa.value.answers[0].data.serial).toBe(3);
    await lab.close();
  });

  it('follows CNAMEs inside its zones and refuses a CNAME next to other data', () => {
    const { lab, dns } = newLab();
    dnsAddRecord(dns, { name: 'pool01.corp.example.net', type: 'A', address: '127.0.10.30' });
    expect(dnsAddRecord(dns, { name: 'sip.example.com', type: 'CNAME', target: 'POOL01.corp.example.net.' }).ok).toBe(true);
    expect(texts(dnsQuery(dns, { name: 'sip.example.com', type: 'A' }))).toEqual(['sip.example.com CNAME pool01.corp.example.net', 'pool01.corp.example.net A 127.0.10.30']);
    expect(dnsAddRecord(dns, { name: 'sip.example.com', type: 'A', address: '127.0.10.31' })).toMatchObject({ ok: false, failure: { kind: 'dns.cnameCollision' } });
    expect(dnsRemoveRecord(dns, { name: 'sip.example.com', type: 'CNAME' })).toMatchObject({ ok: true, value: { zone: 'example.com' } });
    expect(dnsRemoveRecord(dns, { name: 'sip.example.com', type: 'CNAME' })).toMatchObject({ ok: false, failure: { kind: 'dns.noSuchRecord' } });
    expect(dnsAddZone(dns, { zone: 'fabrikam.com' }).ok).toBe(true);
    expect(dnsAddZone(dns, { zone: 'fabrikam.com' })).toMatchObject({ ok: false, failure: { kind: 'dns.zoneExists' } });
    expect(dnsQuery(dns, { name: 'sip.fabrikam.com', type: 'A' })).toMatchObject({ ok: true, value: { rcode: 'NXDOMAIN' } });
    lab.stop();
  });

  it('times out only when the DNS service is down on every DNS server', async () => {
    const topology = defaultTopology();
    const hosts = ['dc01', 'dc02'].map((h) => fakeHostEmulator(h, [{ name: 'DNS', displayName: 'DNS Server', state: 'Running', owner: 'dns' }]));
    const lab = new Lab(topology, [...hosts, dnsEmulator], { seed: 'd' });
    const dns = lab.get('dns');
    lab.send('host:dc01', setFakeService('DNS', 'Stopped'));
    expect(dnsQuery(dns, { name: 'dc02.corp.example.net', type: 'A' }).ok).toBe(true);
    lab.send('host:dc02', setFakeService('DNS', 'Stopped'));
    expect(dnsQuery(dns, { name: 'dc02.corp.example.net', type: 'A' })).toEqual({ ok: false, failure: { kind: 'dns.unavailable', message: 'DNS request timed out.' } });
    expect(await run('dns.resolve', stepContext(lab), { name: 'dc02.corp.example.net' })).toMatchObject({ ok: false, reason: 'DNS request timed out.', details: ['no answer from 127.0.10.11:53: timeout (the DNS Server service is not running on any DNS server)'] });
    expect(dnsAddRecord(dns, { name: 'sip.example.com', type: 'A', address: '127.0.10.30' })).toMatchObject({ ok: false, failure: { kind: 'dns.unavailable' } });
    expect(lab.journal.eventLog('dc02', 'DNS Server').map((r) => r.eventId)).toEqual([3]);
    lab.send('host:dc02', setFakeService('DNS', 'Running'));
    expect(dnsQuery(dns, { name: 'dc02.corp.example.net', type: 'A' }).ok).toBe(true);
    await lab.close();
  });
});

describe('the lab DNS on the real host emulator', () => {
  it('keeps answering while one DC runs the DNS service, and times out when both are shut down', () => {
    const lab = new Lab(defaultTopology(), [hostEmulator, dnsEmulator], { seed: 'd' });
    const dns = lab.get('dns');
    expect(hostShutdown(lab.get('host:dc01')).ok).toBe(true);
    expect(dnsQuery(dns, { name: 'dc01.corp.example.net', type: 'A' }).ok).toBe(true);
    expect(hostShutdown(lab.get('host:dc02')).ok).toBe(true);
    expect(dnsQuery(dns, { name: 'dc01.corp.example.net', type: 'A' })).toMatchObject({ ok: false, failure: { kind: 'dns.unavailable' } });
    expect(hostBoot(lab.get('host:dc02')).ok).toBe(true);
    expect(lab.waitFor(() => dnsQuery(dns, { name: 'dc01.corp.example.net', type: 'A' }).ok, 5 * 60_000).satisfied).toBe(true);
    lab.stop();
  });
});
