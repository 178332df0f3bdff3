import { describe, it, expect } from 'vitest';
import { createActor } from 'xstate';
import { SimClock } from '../../sim/clock.js';
import { IdSource } from '../../sim/ids.js';
import { request } from '../../sim/emulator.js';
import { defaultTopology } from '../../sim/topology.js';
import type { Result } from '../../sim/result.js';
import { ocsMachineFor, type OcsContext } from './ocs.machine.js';
import { fakePeers, fakeWorld, type FakeWorld } from './ocs.testkit.js';
import { serverPhase, findServer, DEFAULT_INSTALL_PATH } from './ocs.store.js';
import type { CertificateWizardResult } from './ocs.certificates.js';
import type { UserOutcome } from './ocs.users.js';

const PASSWORDS = { RTCService: 'Svc-P@ss1', RTCComponentService: 'Svc-P@ss2', RTCGuestAccessUser: 'Svc-P@ss3' };

function start(world: FakeWorld = fakeWorld(), seed = '1') {
  const clock = new SimClock();
  const ids = new IdSource(seed);
  const machine = ocsMachineFor({ env: { now: () => clock.now(), ids: ids.fork('ocs') }, peers: () => fakePeers(world) });
  const actor = createActor(machine, { clock, input: { topology: defaultTopology() } });
  const emitted: { type: string; [k: string]: unknown }[] = [];
  actor.on('*', (e) => {
    if (e.type !== 'ocs.reply') emitted.push(e as { type: string });
  });
  actor.start();
  const cmd = <T>(command: { type: string; [k: string]: unknown }): Result<T> => {
    const r = request<T>(actor, 'ocs.reply', command);
    clock.runUntil(() => (actor.getSnapshot().context as OcsContext).running.durationMs === 0, 3_600_000);
    return r;
  };
  const ctx = () => actor.getSnapshot().context as OcsContext;
  return { actor, clock, world, emitted, cmd, ctx };
}

function deployed(world: FakeWorld = fakeWorld(), seed = '1') {
  const lab = start(world, seed);
  expect(lab.cmd({ type: 'ocs.createPool', pool: 'pool01' }).ok).toBe(true);
  expect(lab.cmd({ type: 'ocs.configurePool', pool: 'pool01', automaticSignIn: true }).ok).toBe(true);
  expect(lab.cmd({ type: 'ocs.addServerToPool', server: 'ocsfe01', pool: 'pool01', passwords: PASSWORDS }).ok).toBe(true);
  return lab;
}

const certArgs = { server: 'ocsfe01', mode: 'online', organization: 'Example', organizationalUnit: 'IT', country: 'US', state: 'WA', city: 'Redmond' };

describe('the OCS 2007 R2 Deployment Wizard', () => {
  it('refuses Add Server to Pool before the pool exists, with the wizard message', () => {
    const { cmd, ctx } = start();
    const r = cmd({ type: 'ocs.addServerToPool', server: 'ocsfe01', pool: 'pool01', passwords: PASSWORDS });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.failure.kind).toBe('ocs.noSuchPool');
      expect(r.failure.message).toContain('Run Create Enterprise Pool before adding a server to the pool');
    }
    expect(serverPhase(findServer(ctx().store, 'ocsfe01'))).toBe('notInstalled');
  });

  it('stops Setup when the IIS prerequisites are missing and tells the operator to restart Setup', () => {
    const world = fakeWorld();
    world.features.ocsfe01 = ['Web-Server'];
    const { cmd, ctx } = start(world);
    cmd({ type: 'ocs.createPool', pool: 'pool01' });
    const r = cmd({ type: 'ocs.addServerToPool', server: 'ocsfe01', pool: 'pool01', passwords: PASSWORDS });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.failure.kind).toBe('ocs.prerequisiteMissing');
      expect(r.failure.message).toMatch(/Windows Authentication.*IIS 6 Management Compatibility.*restart Setup/);
    }
    expect(world.services.ocsfe01).toEqual([]);
    expect(ctx().store.servers).toEqual([]);
  });

  it('creates the pool (warning when the pool FQDN has no A record), installs, activates and moves through the phases', () => {
    const { ctx, emitted, actor, world, clock } = deployed();
    expect(emitted.map((e) => e.type)).toContain('ocs.wizardWarning');
    expect(world.directory.some((e) => e.dn === 'CN=LC Services,CN=Microsoft,CN=pool01,CN=Pools,CN=RTC Service,CN=Services,CN=Configuration,DC=corp,DC=example,DC=net')).toBe(true);
    const server = findServer(ctx().store, 'ocsfe01');
    expect(server?.installPath).toBe(DEFAULT_INSTALL_PATH);
    expect(serverPhase(server)).toBe('activated');
    expect(actor.getSnapshot().value).toMatchObject({ deployment: 'activated', wizard: 'idle' });
    expect(world.services.ocsfe01?.map((s) => `${s.name}:${s.logOnAs}:${s.owner}`)).toContain('RtcSrv:CORP\\RTCService:ocs');
    const acct = world.directory.find((e) => e.attributes.sAMAccountName?.[0] === 'RTCService');
    expect(acct?.attributes.passwordNeverExpires).toEqual(['false']);
    expect(world.directory.find((e) => e.dn.startsWith('CN=RTCHSUniversalServices'))?.attributes.member).toEqual([acct?.dn]);
    expect(clock.elapsed()).toBeGreaterThanOrEqual(240_000);
  });

  it('pre-fills the Certificate Wizard like the real one: name = server FQDN, subject = pool FQDN, SAN the pool FQDN and sip.<domain>', () => {
    const { cmd, ctx, actor } = deployed();
    const r = cmd<CertificateWizardResult>({ type: 'ocs.requestCertificate', ...certArgs });
    expect(r).toMatchObject({ ok: true, value: { status: 'assigned', friendlyName: 'ocsfe01.corp.example.net', subjectName: 'pool01.corp.example.net', sans: ['pool01.corp.example.net', 'sip.example.com'], ca: 'dc01.corp.example.net\\corp-DC01-CA' } });
    expect(findServer(ctx().store, 'ocsfe01')?.certificate?.subjectCN).toBe('pool01.corp.example.net');
    expect(actor.getSnapshot().value).toMatchObject({ deployment: 'certificateAssigned' });
  });

  it('reports a pending request and assigns nothing', () => {
    const world = fakeWorld();
    world.caPending = true;
    const { cmd, ctx } = deployed(world);
    const r = cmd<CertificateWizardResult>({ type: 'ocs.requestCertificate', ...certArgs, certificateName: 'pool01.corp.example.net' });
    expect(r).toMatchObject({ ok: true, value: { status: 'pending' } });
    expect(findServer(ctx().store, 'ocsfe01')?.certificate).toBeUndefined();
  });

  it('fails the wizard when the CA is offline', () => {
    const world = fakeWorld();
    world.caOnline = false;
    const { cmd } = deployed(world);
    const r = cmd({ type: 'ocs.requestCertificate', ...certArgs });
    expect(r.ok ? '' : r.failure.kind).toBe('ocs.caUnavailable');
  });
});

describe('the OCS services', () => {
  const starting = (lab: ReturnType<typeof start>, service: string) => request(lab.actor, 'ocs.reply', { type: 'host.serviceStarting', host: 'ocsfe01', service });

  it('refuses to start the Monitoring Agent without Message Queuing, and starts it once MSMQ is installed', () => {
    const lab = deployed();
    const r = starting(lab, 'RtcQmsAgent');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.failure).toMatchObject({ kind: 'ocs.serviceCannotStart', refusal: { scmEventId: 7024, events: [{ log: 'Office Communications Server' }] } });
    lab.world.features.ocsfe01?.push('MSMQ-Server');
    expect(starting(lab, 'RtcQmsAgent').ok).toBe(true);
  });

  it('refuses to start the Front-End without a certificate', () => {
    const lab = deployed();
    const r = starting(lab, 'RtcSrv');
    expect(r.ok ? '' : r.failure.message).toContain('certificate');
    lab.cmd({ type: 'ocs.requestCertificate', ...certArgs });
    expect(starting(lab, 'RtcSrv').ok).toBe(true);
  });

  it('runs the User Replicator every 60 s while RtcSrv runs and writes event 30024 once', () => {
    const lab = deployed();
    lab.cmd({ type: 'ocs.requestCertificate', ...certArgs });
    lab.cmd({ type: 'ocs.enableUsers', users: ['ocsuser1'], pool: 'pool01', signInName: 'email' });
    lab.actor.send({ type: 'host.serviceStateChanged', host: 'ocsfe01', service: 'RtcSrv', displayName: 'x', from: 'Start Pending', to: 'Running' });
    expect(lab.actor.getSnapshot().value).toMatchObject({ deployment: 'servicesStarted', userReplicator: 'polling' });
    lab.clock.advance(130_000);
    const events = lab.emitted.filter((e) => e.type === 'eventlog.write').map((e) => (e.entry as { eventId: number }).eventId);
    expect(events).toEqual([30024]);
    expect(lab.ctx().store.users.map((u) => u.sipAddress)).toEqual(['sip:ocsuser1@example.com']);
    expect(lab.world.tables.get('sql01/RTC/Resource')?.map((r) => r.key)).toEqual(['sip:ocsuser1@example.com']);
  });
});

describe('Enable users for Communications Server', () => {
  const cases = [
    ['email', 'sip:ocsuser1@example.com'],
    ['upn', 'sip:ocsuser1@corp.example.net'],
    ['firstLast', 'sip:ocs.user1@example.com'],
    ['sam', 'sip:ocsuser1@example.com'],
  ] as const;
  for (const [option, uri] of cases) {
    it(`writes the msRTCSIP-* attributes for the "${option}" sign-in name`, () => {
      const { cmd, world } = deployed();
      const r = cmd<{ users: UserOutcome[] }>({ type: 'ocs.enableUsers', users: ['ocsuser1'], pool: 'pool01', signInName: option });
      expect(r).toMatchObject({ ok: true, value: { users: [{ user: 'ocsuser1', ok: true, sipAddress: uri }] } });
      const a = world.directory.find((e) => e.attributes.sAMAccountName?.[0] === 'ocsuser1')?.attributes;
      expect(a).toMatchObject({
        'msRTCSIP-UserEnabled': ['TRUE'],
        'msRTCSIP-PrimaryUserAddress': [uri],
        'msRTCSIP-PrimaryHomeServer': ['CN=LC Services,CN=Microsoft,CN=pool01,CN=Pools,CN=RTC Service,CN=Services,CN=Configuration,DC=corp,DC=example,DC=net'],
        'msRTCSIP-OptionFlags': ['256'],
        proxyAddresses: [uri],
        'msRTCSIP-ArchivingEnabled': ['0'],
        'msRTCSIP-FederationEnabled': ['FALSE'],
        'msRTCSIP-InternetAccessEnabled': ['FALSE'],
      });
    });
  }

  it('reports per user: no e-mail address, and a duplicate SIP address', () => {
    const { cmd } = deployed();
    const r = cmd<{ users: UserOutcome[] }>({ type: 'ocs.enableUsers', users: ['ocsuser1', 'nomail'], pool: 'pool01', signInName: 'email' });
    expect(r.ok && r.value.users.map((u) => u.ok)).toEqual([true, false]);
    expect(r.ok && r.value.users[1]?.message).toContain('does not have an e-mail address');
    const dup = cmd<{ users: UserOutcome[] }>({ type: 'ocs.enableUsers', users: ['ocsuser2'], pool: 'pool01', signInName: 'firstLast', sipDomain: 'example.com' });
    expect(dup.ok && dup.value.users[0]?.ok).toBe(true);
    const again = cmd<{ users: UserOutcome[] }>({ type: 'ocs.enableUsers', users: ['ocsuser1'], pool: 'pool01', signInName: 'firstLast' });
    expect(again.ok && again.value.users[0]).toMatchObject({ ok: true });
  });
});

describe('Enable users in one run', () => {
  it('judges each user after the ones before it, though their changes go to AD together', () => {
    const world = fakeWorld();
    world.directory.push({ dn: 'CN=Twin,CN=Users,DC=corp,DC=example,DC=net', attributes: { objectClass: ['top', 'person', 'user'], sAMAccountName: ['twin'], mail: ['OCSUser1@example.com'] } });
    const { cmd } = deployed(world);
    const r = cmd<{ users: UserOutcome[] }>({ type: 'ocs.enableUsers', users: ['ocsuser1', 'twin', 'nomail', 'ocsuser1', 'ocsuser2'], pool: 'pool01', signInName: 'email' });
    expect(r.ok && r.value.users.map((u) => [u.user, u.ok, u.sipAddress ?? ''])).toEqual([
      ['ocsuser1', true, 'sip:ocsuser1@example.com'],
      ['twin', false, 'sip:ocsuser1@example.com'],
      ['nomail', false, ''],
      ['ocsuser1', true, 'sip:ocsuser1@example.com'],
      ['ocsuser2', true, 'sip:ocsuser2@example.com'],
    ]);
    expect(r.ok && r.value.users[1]?.message).toBe('twin: the SIP URI sip:ocsuser1@example.com is already in use by another user or contact.');
    expect(world.directory.find((e) => e.attributes.sAMAccountName?.[0] === 'twin')?.attributes['msRTCSIP-PrimaryUserAddress']).toBeUndefined();
  });
});

describe('determinism', () => {
  it('emits the same events for the same seed', () => {
    const run = (seed: string) => {
      const lab = deployed(fakeWorld(), seed);
      lab.cmd({ type: 'ocs.requestCertificate', ...certArgs });
      return JSON.stringify(lab.emitted) + JSON.stringify(lab.world.directory);
    };
    expect(run('7')).toBe(run('7'));
    expect(run('7')).not.toBe(run('8'));
  });
});
