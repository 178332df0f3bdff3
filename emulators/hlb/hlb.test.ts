import { describe, it, expect } from 'vitest';
import { Lab } from '../../sim/lab.js';
import type { StepContext } from '../../sim/steps.js';
import { DEFAULT_TOPOLOGY, defaultTopology, resolveTopology, type Topology } from '../../sim/topology.js';
import { fakeHostEmulator, setFakeService } from './fake-host.testkit.js';
import { hlbEmulator, hlbSteps } from './index.js';
import { hostEmulator } from '../host/index.js';
import { hostInstallService, hostStartService } from '../host/host.client.js';
import { hlbConfig, hlbConfigurePool, hlbConnect, hlbDisconnect, hlbMembers, hlbSetMemberEnabled } from './hlb.client.js';
import { syncOutcome } from '../../test/support/sync-step.js';
import { stepContext } from '../../test/support/step-context.js';

const run = (name: string, ctx: StepContext, p: Record<string, unknown>) => {
  const s = hlbSteps.find((d) => d.name === name);
  if (!s) throw new Error(`no step ${name}`);
  return syncOutcome(s.emulated(ctx, s.params.parse(p)));
};

function twoFrontEnds(): Topology {
  const hosts = [...(DEFAULT_TOPOLOGY.hosts ?? []), { name: 'ocsfe02', ip: '127.0.10.32', roles: ['ocsFrontEnd' as const] }];
  const r = resolveTopology({ ...DEFAULT_TOPOLOGY, hosts, pools: [{ name: 'pool01', vip: '127.0.10.30', backEnd: 'sql01', frontEnds: ['ocsfe01', 'ocsfe02'] }] });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.topology;
}

const frontEnd = (name: string, rtc: 'Running' | 'Stopped', w3: 'Running' | 'Stopped' = 'Running') =>
  fakeHostEmulator(name, [
    { name: 'RtcSrv', displayName: 'Office Communications Server Front-End', state: rtc, owner: 'ocs' },
    { name: 'W3SVC', displayName: 'World Wide Web Publishing Service', state: w3, owner: `iis:${name}` },
  ]);

const client = (clientPort: number, port = 5061) => ({ pool: 'pool01', clientAddress: '127.0.20.5', clientPort, port });

describe('the hardware load balancer', () => {
  it('is not configured until the operator deploys it for the pool', () => {
    const lab = new Lab(defaultTopology(), [hlbEmulator], { seed: 'h' });
    const hlb = lab.get('hlb');
    expect(hlbConfig(hlb)).toEqual({ name: 'hlb01', state: 'notConfigured', pools: [] });
    expect(hlbConnect(hlb, client(50000))).toMatchObject({ ok: false, failure: { kind: 'hlb.notConfigured', vip: '127.0.10.30' } });
    expect(hlbConfigurePool(hlb, { pool: 'pool02' })).toMatchObject({ ok: false, failure: { kind: 'hlb.noSuchPool' } });
    expect(hlbConfig(hlb).state).toBe('notConfigured');
    lab.stop();
  });

  it('marks members up per port from the front end services, and follows them every 15 s', () => {
    const lab = new Lab(defaultTopology(), [frontEnd('ocsfe01', 'Running', 'Stopped'), hlbEmulator], { seed: 'h' });
    const ctx = stepContext(lab);
    const out = run('hlb.configurePool', ctx, { pool: 'pool01' });
    expect(out.ok).toBe(true);
    expect(out.details?.[0]).toBe('virtual server 127.0.10.30 (pool01.corp.example.net), ports 5060, 5061, 135, 443, 444, 5065, 5069, 5071, 5072, 5073, 5074, 80, least connections, TCP affinity, idle timeout 30 min, SNAT');
    expect(hlbConfig(lab.get('hlb')).state).toBe('configured');
    const summaries = () => lab.journal.entries.filter((e) => e.event.type === 'hlb.memberStateChanged').map((e) => e.event.summary);
    expect(summaries()).toEqual(['ocsfe01 (127.0.10.31):5060,5061,135,444,5065,5069,5071,5072,5073,5074 marked up', 'ocsfe01 (127.0.10.31):443,80 marked down']);
    expect(run('hlb.memberHealth', ctx, { pool: 'pool01', server: 'ocsfe01', port: 5061, state: 'up' }).ok).toBe(true);
    expect(run('hlb.memberHealth', ctx, { pool: 'pool01', server: 'ocsfe01', port: 443, state: 'up' })).toMatchObject({ ok: false, reason: 'expected ocsfe01:443 up, found down' });

    lab.send('host:ocsfe01', setFakeService('W3SVC', 'Running'));
    lab.advance(14_999);
    expect(hlbMembers(lab.get('hlb'), 'pool01')[0]?.health['443']).toBe('down');
    lab.advance(1);
    expect(hlbMembers(lab.get('hlb'), 'pool01')[0]?.health['443']).toBe('up');
    expect(summaries().at(-1)).toBe('ocsfe01 (127.0.10.31):443,80 marked up');

    lab.send('host:ocsfe01', setFakeService('RtcSrv', 'Stopped'));
    const waited = lab.waitFor(() => hlbMembers(lab.get('hlb'), 'pool01')[0]?.health['5061'] === 'down', 60_000);
    expect(waited).toEqual({ satisfied: true, elapsedMs: 15_000 });
    expect(hlbConnect(lab.get('hlb'), client(50001))).toMatchObject({ ok: false, failure: { kind: 'hlb.noHealthyMember', message: 'Connection refused (RST from 127.0.10.30:5061): no member of pool pool01 is up on port 5061' } });
    // No change, no event.
    const count = summaries().length;
    lab.advance(60_000);
    expect(summaries()).toHaveLength(count);
    lab.stop();
  });

  it('counts a front end without a host as down', () => {
    const lab = new Lab(defaultTopology(), [hlbEmulator], { seed: 'h' });
    hlbConfigurePool(lab.get('hlb'), { pool: 'pool01' });
    expect(Object.values(hlbMembers(lab.get('hlb'), 'pool01')[0]?.health ?? {}).every((h) => h === 'down')).toBe(true);
    lab.stop();
  });

  it('spreads new connections by least connections and keeps each TCP connection on its member', () => {
    const lab = new Lab(twoFrontEnds(), [frontEnd('ocsfe01', 'Running'), frontEnd('ocsfe02', 'Running'), hlbEmulator], { seed: 'h' });
    const hlb = lab.get('hlb');
    hlbConfigurePool(hlb, { pool: 'pool01' });
    const server = (r: ReturnType<typeof hlbConnect>) => (r.ok ? r.value.server : r.failure.kind);
    expect([1, 2, 3].map((n) => server(hlbConnect(hlb, client(50000 + n))))).toEqual(['ocsfe01', 'ocsfe02', 'ocsfe01']);
    expect(server(hlbConnect(hlb, client(50002)))).toBe('ocsfe02');
    expect(hlbConnect(hlb, client(50001))).toMatchObject({ ok: true, value: { server: 'ocsfe01', serverIp: '127.0.10.31', sourceSeenByServer: '127.0.10.30' } });
    expect(hlbDisconnect(hlb, client(50001))).toEqual({ ok: true, value: { server: 'ocsfe01' } });
    expect(server(hlbConnect(hlb, client(50004)))).toBe('ocsfe01');

    // A disabled member keeps its connections but takes no new ones.
    expect(hlbSetMemberEnabled(hlb, { pool: 'pool01', server: 'ocsfe02', enabled: false })).toEqual({ ok: true, value: { changed: true } });
    expect(server(hlbConnect(hlb, client(50002)))).toBe('ocsfe02');
    expect(server(hlbConnect(hlb, client(50005)))).toBe('ocsfe01');
    expect(hlbConnect(hlb, client(50006, 3389))).toMatchObject({ ok: false, failure: { kind: 'hlb.portNotBalanced' } });
    expect(hlbSetMemberEnabled(hlb, { pool: 'pool01', server: 'dc01', enabled: false })).toMatchObject({ ok: false, failure: { kind: 'hlb.noSuchMember' } });
    lab.stop();
  });

  it('takes members in turn with round robin, skipping one that is down, and keeps affinity', () => {
    const lab = new Lab(twoFrontEnds(), [frontEnd('ocsfe01', 'Running'), frontEnd('ocsfe02', 'Running'), hlbEmulator], { seed: 'h' });
    const hlb = lab.get('hlb');
    expect(run('hlb.configurePool', stepContext(lab), { pool: 'pool01', method: 'roundRobin' })).toMatchObject({ ok: true, details: expect.arrayContaining([expect.stringContaining('round robin')]) });
    const server = (r: ReturnType<typeof hlbConnect>) => (r.ok ? r.value.server : r.failure.kind);
    // Round robin ignores load: a closed connection does not change whose turn it is.
    expect(server(hlbConnect(hlb, client(50001)))).toBe('ocsfe01');
    expect(hlbDisconnect(hlb, client(50001)).ok).toBe(true);
    expect([2, 3, 4].map((n) => server(hlbConnect(hlb, client(50000 + n))))).toEqual(['ocsfe02', 'ocsfe01', 'ocsfe02']);
    expect(server(hlbConnect(hlb, client(50003)))).toBe('ocsfe01');
    lab.send('host:ocsfe02', setFakeService('RtcSrv', 'Stopped'));
    lab.advance(15_000);
    expect([5, 6].map((n) => server(hlbConnect(hlb, client(50000 + n))))).toEqual(['ocsfe01', 'ocsfe01']);
    lab.stop();
  });

  it('warns about a short idle timeout and resets connections idle past it', () => {
    const lab = new Lab(defaultTopology(), [frontEnd('ocsfe01', 'Running'), hlbEmulator], { seed: 'h' });
    const ctx = stepContext(lab);
    const out = run('hlb.configurePool', ctx, { pool: 'pool01', idleTimeoutMinutes: 5 });
    expect(out.details).toContain('Warning: TCP idle timeout 5 min is below the recommended 30 min: idle client connections will be reset between REGISTER refreshes');
    const hlb = lab.get('hlb');
    expect(hlbConnect(hlb, client(50001)).ok).toBe(true);
    lab.advance(5 * 60_000);
    expect(hlbMembers(hlb, 'pool01')[0]?.connections).toBe(1);
    lab.advance(15_000);
    expect(hlbMembers(hlb, 'pool01')[0]?.connections).toBe(0);
    expect(lab.journal.entries.map((e) => e.event.summary)).toContain('1 connection(s) to pool pool01 reset after 5 min idle');
    lab.stop();
  });
});

describe('the load balancer on the real host emulator', () => {
  it('keeps a front end down until its Front-End service runs', () => {
    const lab = new Lab(defaultTopology(), [hostEmulator, hlbEmulator], { seed: 'h' });
    const hlb = lab.get('hlb');
    const ctx = stepContext(lab);
    hlbConfigurePool(hlb, { pool: 'pool01' });
    expect(run('hlb.memberHealth', ctx, { pool: 'pool01', server: 'ocsfe01', port: 5061, state: 'down' }).ok).toBe(true);
    const fe = lab.get('host:ocsfe01');
    const rtc = { name: 'RtcSrv', displayName: 'Office Communications Server Front-End', startupType: 'Automatic' as const, logOnAs: 'LocalSystem', dependsOn: [], startMs: 5000 };
    expect(hostInstallService(fe, { service: rtc }).ok).toBe(true);
    expect(hostStartService(fe, { name: 'RtcSrv' }).ok).toBe(true);
    expect(lab.waitFor(() => hlbMembers(hlb, 'pool01')[0]?.health['5061'] === 'up', 60_000)).toEqual({ satisfied: true, elapsedMs: 15_000 });
    expect(hlbConnect(hlb, client(50001))).toMatchObject({ ok: true, value: { server: 'ocsfe01' } });
    lab.stop();
  });
});
