import { describe, expect, it } from 'vitest';
import { discover, type ResolvedRecord, type Resolver } from './communicator.discovery.js';
import { COMMUNICATOR_MESSAGES, registerMessageKind } from './communicator.errors.js';
import { runWithCommunicator } from './communicator.scenarios.test.js';

function zone(records: Record<string, ResolvedRecord[]>): { resolve: Resolver; asked: string[] } {
  const asked: string[] = [];
  const resolve: Resolver = (name, type) => {
    asked.push(`${type} ${name}`);
    const rs = (records[`${type} ${name}`] ?? []).filter((r) => r.type === type);
    return rs.length ? { rcode: 'NOERROR', records: rs } : { rcode: 'NXDOMAIN', records: [] };
  };
  return { resolve, asked };
}
const srv = (target: string, port = 5061, priority = 0, weight = 0): ResolvedRecord => ({ type: 'SRV', priority, weight, port, target });
const a = (address: string): ResolvedRecord => ({ type: 'A', address });

describe('discovery', () => {
  it('asks the SRV records in order (TCP only when allowed) and connects to the SRV target', async () => {
    const z = zone({ 'SRV _sipinternaltls._tcp.example.com': [srv('sip.example.com')], 'A sip.example.com': [a('127.0.10.30')] });
    const r = await discover('sip:User1@Example.com', z.resolve);
    expect(r.sipDomain).toBe('example.com');
    expect(z.asked).toEqual(['SRV _sipinternaltls._tcp.example.com', 'A sip.example.com', 'SRV _sip._tls.example.com']);
    expect(r.candidates).toEqual([{ host: 'sip.example.com', port: 5061, transport: 'TLS', via: 'srv', srv: '_sipinternaltls._tcp.example.com', addresses: ['127.0.10.30'] }]);
    expect(r.events).toEqual([]);
    const tcp = zone({});
    await discover('u@example.com', tcp.resolve, { allowTcp: true });
    expect(tcp.asked.slice(0, 3)).toEqual(['SRV _sipinternaltls._tcp.example.com', 'SRV _sipinternal._tcp.example.com', 'SRV _sip._tls.example.com']);
  });

  it('ignores an SRV target outside the SIP domain (strict name matching) and falls back to A records', async () => {
    const z = zone({ 'SRV _sipinternaltls._tcp.example.com': [srv('pool01.corp.example.net')], 'A pool01.corp.example.net': [a('127.0.10.30')] });
    const r = await discover('u@example.com', z.resolve);
    expect(r.candidates).toEqual([]);
    expect(r.lookups[0]?.ignored).toEqual(['pool01.corp.example.net: not in the SIP domain example.com (strict name matching)']);
    expect(z.asked).not.toContain('A pool01.corp.example.net');
    expect(r.events.map((e) => e.eventId)).toEqual([3, 3, 3]);
    expect((await discover('u@example.com', z.resolve, { strictNameMatching: false })).candidates[0]?.host).toBe('pool01.corp.example.net');
  });

  it('with no SRV record, logs event 1 and tries sipinternal, sip, sipexternal (configurable), event 3 for each that does not resolve', async () => {
    const z = zone({ 'A sip.example.com': [a('127.0.10.30')] });
    const r = await discover('u@example.com', z.resolve);
    expect(r.candidates.map((c) => `${c.via} ${c.host}`)).toEqual(['a-fallback sip.example.com']);
    expect(r.events).toEqual([
      { eventId: 1, level: 'Error', message: 'Communicator was unable to locate the login server. No DNS SRV records exist for domain example.com, so Communicator was unable to login.' },
      { eventId: 3, level: 'Error', message: 'Communicator was unable to resolve the DNS hostname of the login server sipinternal.example.com.' },
      { eventId: 3, level: 'Error', message: 'Communicator was unable to resolve the DNS hostname of the login server sipexternal.example.com.' },
    ]);
    const order = zone({});
    await discover('u@example.com', order.resolve, { aFallbacks: ['sip', 'sipinternal'] });
    expect(order.asked.filter((q) => q.startsWith('A '))).toEqual(['A sip.example.com', 'A sipinternal.example.com']);
  });

  it('orders SRV answers by priority then weight', async () => {
    const z = zone({ 'SRV _sipinternaltls._tcp.example.com': [srv('b.example.com', 5061, 10), srv('a.example.com', 5061, 0, 5)], 'A a.example.com': [a('127.0.0.1')], 'A b.example.com': [a('127.0.0.2')] });
    expect((await discover('u@example.com', z.resolve)).candidates.map((c) => c.host)).toEqual(['a.example.com', 'b.example.com']);
  });

  it('manual configuration skips discovery', async () => {
    const z = zone({ 'A pool01.corp.example.net': [a('127.0.10.30')] });
    const r = await discover('u@example.com', z.resolve, { manual: { server: 'pool01.corp.example.net', transport: 'TCP' } });
    expect(z.asked).toEqual(['A pool01.corp.example.net']);
    expect(r).toMatchObject({ mode: 'manual', candidates: [{ host: 'pool01.corp.example.net', port: 5060, transport: 'TCP', via: 'manual' }] });
  });
});

describe('error mapping', () => {
  it("maps the registrar's refusals to Communicator's messages", async () => {
    const refusal = (cause: Parameters<typeof registerMessageKind>[0]['cause']) => registerMessageKind({ status: 403, reason: 'Forbidden', cause, detail: '' });
    expect(refusal('badCredentials')).toBe('credentials');
    expect(refusal('unknownUri')).toBe('credentials');
    expect(refusal('uriNotOwned')).toBe('credentials');
    expect(refusal('userDisabled')).toBe('credentials');
    expect(refusal('enhancedPresence')).toBe('enhancedPresence');
    expect(refusal('poolDown')).toBe('unavailable');
    expect(refusal('notHomed')).toBe('unavailable');
    expect(COMMUNICATOR_MESSAGES.unavailable).toBe('Cannot sign in because the server is temporarily unavailable. If the problem persists, contact your system administrator.');
  });
});

const base = (steps: string, faults = '') => `id: signin-probe
title: Sign-in probe
from: full-deployment
steps:
${steps}
${faults ? `faults:\n${faults}` : ''}`;

describe('sign-in against a full lab', () => {
  it('signs users in through the SRV record, the HLB and the pool certificate; the registrar refuses bad passwords, wrong addresses, and a stopped pool', async () => {
    const report = await runWithCommunicator(
      base(`  - check: communicator.signIn
    user: ocsuser1
  - check: communicator.signIn
    user: ocsuser1
    password: wrong
    expect: { message: "password incorrectly" }
  - check: communicator.signIn
    user: ocsuser1
    signInAddress: ocsuser2@example.com
    expect: { message: "password incorrectly" }
  - check: communicator.signIn
    user: ocsuser1
    signInAddress: ocsuser1@corp.example.net
    expect: { message: "temporarily unavailable" }
  - check: communicator.clientEvent
    user: ocsuser1
    eventId: 1
    messageContains: corp.example.net
  - check: communicator.signIn
    user: ocsuser2
    server: pool01.corp.example.net
  - check: communicator.addressBook
    user: ocsuser2
  - action: host.stopService
    server: ocsfe01
    service: RtcSrv
  - action: lab.wait
    duration: 1m
  - check: communicator.signIn
    user: ocsuser1
    expect: { message: "temporarily unavailable" }
`),
    );
    const bad = report.steps.filter((s) => s.status !== 'passed').map((s) => `${s.index} ${s.title}: ${s.reason ?? ''} ${s.details.join(' | ')}`);
    expect(bad).toEqual([]);
    const first = report.steps[0];
    expect(first?.details).toContain('REGISTER sip:ocsuser1@example.com: SIP/2.0 200 OK');
    expect(report.steps[1]?.details).toContainEqual(expect.stringMatching(/^REGISTER sip:ocsuser1@example\.com: SIP\/2\.0 401 Unauthorized$/));
    expect(report.steps[2]?.details).toContainEqual(expect.stringMatching(/^REGISTER sip:ocsuser2@example\.com: SIP\/2\.0 403 Forbidden \(ms-diagnostics: 1004;/));
  });

  it('injected at the start, DNS faults turn the operator\'s records into the mistakes', async () => {
    const pool = await runWithCommunicator(base(`  - check: dns.resolve
    name: pool01.example.com
`, `  - fault: pool-a-record-missing
    at: start
`));
    const create = pool.setup.find((s) => s.name === 'ocs.createPool');
    expect(create?.details.join('\n')).toContain('could not be resolved in DNS');
    expect(pool.setup.find((s) => s.name === 'ocs.validate')?.status).toBe('failed');

    const srvMissing = await runWithCommunicator(base(`  - check: communicator.signIn
    user: ocsuser1
`, `  - fault: sipinternaltls-srv-missing
    at: start
`));
    // The deployment's own expectation catches it: the SRV record is not where clients look.
    const nslookup = srvMissing.setup.find((s) => s.title === 'nslookup -type=SRV _sipinternaltls._tcp.example.com');
    expect(nslookup).toMatchObject({ status: 'failed', reason: 'expected answers [0 0 5061 sip.example.com], found []' });
  });
});
