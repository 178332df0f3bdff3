import { describe, it, expect } from 'vitest';
import { emit, setup } from 'xstate';
import { Lab } from '../../sim/lab.js';
import type { EmulatorDefinition } from '../../sim/emulator.js';
import { defaultTopology, resolveTopology, DEFAULT_TOPOLOGY } from '../../sim/topology.js';
import { fail, ok } from '../../sim/result.js';
import { traceText } from '../../sim/journal.js';
import { hostEmulator } from './index.js';
import { hostId } from './host.events.js';
import {
  hostInstallFeatures,
  hostInstallService,
  hostService,
  hostServices,
  hostSetStartupType,
  hostShutdown,
  hostBoot,
  hostStartService,
  hostStopService,
  hostImportCertificate,
  hostCertificates,
  hostFeatures,
} from './host.client.js';

/** A stand-in for AD that knows one service account password. */
const fakeAd = setup({
  types: {
    events: {} as { type: 'ad.authenticate'; requestId: string; name: string; password: string } | { type: 'host.serviceStarting'; requestId: string },
    emitted: {} as { type: 'ad.reply'; requestId: string; result: unknown },
  },
}).createMachine({
  on: {
    'host.serviceStarting': { actions: emit(({ event }) => ({ type: 'ad.reply' as const, requestId: event.requestId, result: ok(undefined) })) },
    'ad.authenticate': {
      actions: emit(({ event }) => ({
        type: 'ad.reply' as const,
        requestId: event.requestId,
        result: event.password === 'right' ? ok({ dn: 'CN=RTCService' }) : fail({ kind: 'ad.invalidCredentials' as const, message: 'bad' }),
      })),
    },
  },
});

/** A stand-in for the OCS component that refuses to start its Monitoring Agent. */
const fakeOcs = setup({
  types: { events: {} as { type: 'host.serviceStarting'; requestId: string; service: string }, emitted: {} as { type: 'ocs.reply'; requestId: string; result: unknown } },
}).createMachine({
  on: {
    'host.serviceStarting': {
      actions: emit(({ event }) => ({
        type: 'ocs.reply' as const,
        requestId: event.requestId,
        result:
          event.service === 'RtcQmsAgent'
            ? fail({ kind: 'ocs.serviceCannotStart' as const, message: 'no queue', refusal: { scmEventId: 7024, error: '%%-1072824319', events: [{ host: 'ocsfe01', log: 'Application', source: 'Test', eventId: 1, level: 'Error' as const, message: 'cannot create queue' }] } })
            : ok(undefined),
      })),
    },
  },
});

const fakes: EmulatorDefinition = {
  kind: 'fakes',
  instances: () => [
    { systemId: 'ad', logic: fakeAd, input: {} },
    { systemId: 'ocs', logic: fakeOcs, input: {} },
  ],
};

const newLab = (seed = '1') => new Lab(defaultTopology(), [hostEmulator, fakes], { seed });
const fe = (lab: Lab) => lab.get(hostId('ocsfe01'));

const rtcSrv = (password: string) => ({
  service: { name: 'RtcSrv', displayName: 'Office Communications Server Front-End', startupType: 'Automatic' as const, logOnAs: 'CORP\\RTCService', dependsOn: ['RpcSs'], startMs: 8000, owner: 'ocs' },
  password,
});

describe('a Windows Server 2008 host', () => {
  it('starts with the services of its roles running', () => {
    const lab = newLab();
    expect(hostService(lab.get(hostId('dc01')), 'NTDS')?.state).toBe('Running');
    expect(hostService(lab.get(hostId('dc01')), 'CertSvc')?.owner).toBe('ca');
    expect(hostService(lab.get(hostId('sql01')), 'MSSQLSERVER')?.owner).toBe('sql:sql01');
    expect(hostService(fe(lab), 'W3SVC')).toBeUndefined();
  });

  it('installs IIS with its role services, bringing W3SVC under the IIS emulator', () => {
    const lab = newLab();
    const r = hostInstallFeatures(fe(lab), { features: ['Web-Windows-Auth', 'Web-Metabase'] });
    expect(r).toEqual({ ok: true, value: { installed: ['Web-Server', 'Web-Windows-Auth', 'Web-Mgmt-Compat', 'Web-Metabase'] } });
    expect(hostService(fe(lab), 'W3SVC')).toMatchObject({ displayName: 'World Wide Web Publishing Service', owner: 'iis:ocsfe01' });
    expect(hostFeatures(fe(lab))).toContain('Web-Server');
    const unknown = hostInstallFeatures(fe(lab), { features: ['Web-Nonsense'] });
    expect(unknown.ok).toBe(false);
  });

  it('starts a service through Start Pending on the simulated clock and logs 7036', () => {
    const lab = newLab();
    hostInstallService(fe(lab), rtcSrv('right'));
    expect(hostStartService(fe(lab), { name: 'RtcSrv' }).ok).toBe(true);
    expect(hostService(fe(lab), 'RtcSrv')?.state).toBe('Start Pending');
    const waited = lab.waitFor(() => hostService(fe(lab), 'RtcSrv')?.state === 'Running', 60_000);
    expect(waited).toEqual({ satisfied: true, elapsedMs: 8000 });
    expect(lab.journal.eventLog('ocsfe01', 'System').at(-1)).toMatchObject({ eventId: 7036, message: 'The Office Communications Server Front-End service entered the running state.' });
  });

  it('authenticates a domain logon account when the service starts: 7038 then 7000', () => {
    const lab = newLab();
    hostInstallService(fe(lab), rtcSrv('wrong'));
    hostStartService(fe(lab), { name: 'RtcSrv' });
    lab.advance(60_000);
    expect(hostService(fe(lab), 'RtcSrv')?.state).toBe('Stopped');
    const ids = lab.journal.eventLog('ocsfe01', 'System').map((e) => e.eventId);
    expect(ids).toEqual([7038, 7000]);
    expect(lab.journal.eventLog('ocsfe01', 'System')[0]?.message).toContain('The RtcSrv service was unable to log on as CORP\\RTCService with the currently configured password');
  });

  it("lets the owning component refuse a start, with the owner's own events first", () => {
    const lab = newLab();
    hostInstallService(fe(lab), { service: { name: 'RtcQmsAgent', displayName: 'Office Communications Server Monitoring Agent', startupType: 'Automatic', logOnAs: 'NT AUTHORITY\\NetworkService', dependsOn: [], startMs: 3000, owner: 'ocs' } });
    hostStartService(fe(lab), { name: 'RtcQmsAgent' });
    lab.advance(10_000);
    expect(hostService(fe(lab), 'RtcQmsAgent')?.state).toBe('Stopped');
    expect(lab.journal.eventLog('ocsfe01').map((e) => `${e.log}/${e.eventId}`)).toEqual(['Application/1', 'System/7024']);
  });

  it('refuses to start a Disabled service and logs 7040 when the start type changes', () => {
    const lab = newLab();
    hostSetStartupType(fe(lab), { name: 'RemoteRegistry', startupType: 'Disabled' });
    expect(lab.journal.eventLog('ocsfe01', 'System')[0]).toMatchObject({ eventId: 7040, message: 'The start type of the Remote Registry service was changed from auto start to disabled.' });
    hostStopService(fe(lab), { name: 'RemoteRegistry' });
    lab.advance(5000);
    const r = hostStartService(fe(lab), { name: 'RemoteRegistry' });
    expect(r.ok ? '' : r.failure.message).toMatch(/disabled/);
  });

  it('starts dependencies first and stops dependants with the service they need', () => {
    const lab = newLab();
    hostStopService(fe(lab), { name: 'Winmgmt' });
    lab.advance(5000);
    expect(hostService(fe(lab), 'Winmgmt')?.state).toBe('Stopped');
    hostStartService(fe(lab), { name: 'wmiApSrv' });
    lab.advance(1500);
    expect(hostService(fe(lab), 'Winmgmt')?.state).toBe('Running');
    expect(hostService(fe(lab), 'wmiApSrv')?.state).toBe('Start Pending');
    lab.advance(1000);
    expect(hostService(fe(lab), 'wmiApSrv')?.state).toBe('Running');
    hostStopService(fe(lab), { name: 'Winmgmt' });
    lab.advance(5000);
    expect(hostService(fe(lab), 'wmiApSrv')?.state).toBe('Stopped');
  });

  it('shuts down and boots, starting automatic services again', () => {
    const lab = newLab();
    const dc = lab.get(hostId('dc02'));
    hostShutdown(dc);
    expect(hostServices(dc).every((s) => s.state === 'Stopped')).toBe(true);
    expect(hostStartService(dc, { name: 'NTDS' })).toMatchObject({ ok: false, failure: { kind: 'host.unreachable' } });
    hostBoot(dc);
    lab.advance(60_000);
    expect(hostService(dc, 'NTDS')?.state).toBe('Running');
    expect(hostService(dc, 'wmiApSrv')?.state).toBe('Stopped');
    expect(lab.journal.eventLog('dc02', 'System').map((e) => e.eventId).slice(0, 3)).toEqual([6006, 6009, 6005]);
  });

  it('imports a certificate into LocalMachine\\My and rejects what is not one', () => {
    const lab = newLab();
    expect(hostImportCertificate(fe(lab), { certPem: 'junk', keyId: 'k1', friendlyName: 'x' }).ok).toBe(false);
    expect(hostCertificates(fe(lab))).toEqual([]);
  });

  it('replays byte for byte', () => {
    const run = () => {
      const lab = newLab('7');
      hostInstallFeatures(fe(lab), { features: ['Web-Server', 'MSMQ-Server'] });
      hostInstallService(fe(lab), rtcSrv('wrong'));
      hostStartService(fe(lab), { name: 'RtcSrv' });
      lab.advance(120_000);
      return traceText(lab.journal.entries);
    };
    expect(run()).toBe(run());
  });

  it('honours features named in the topology', () => {
    const t = resolveTopology({ ...DEFAULT_TOPOLOGY, hosts: DEFAULT_TOPOLOGY.hosts.map((h) => (h.name === 'ocsfe01' ? { ...h, features: ['Web-Windows-Auth'] } : h)) });
    if (!t.ok) throw new Error('bad topology');
    const lab = new Lab(t.topology, [hostEmulator], { seed: '1' });
    expect(hostService(fe(lab), 'W3SVC')?.state).toBe('Running');
  });
});

describe('clock offset, Kerberos and the boot hang', () => {
  it('fails a domain logon with 1398 when the clock is more than 5 minutes off, and recovers after w32tm /resync', async () => {
    const { hostSetClockOffset, hostSyncTime } = await import('./host.client.js');
    const lab = newLab();
    hostInstallService(fe(lab), rtcSrv('right'));
    hostSetClockOffset(fe(lab), { offsetMs: 10 * 60_000 });
    hostStartService(fe(lab), { name: 'RtcSrv' });
    lab.advance(60_000);
    expect(hostService(fe(lab), 'RtcSrv')?.state).toBe('Stopped');
    expect(lab.journal.eventLog('ocsfe01', 'System')[0]?.message).toContain('There is a time and/or date difference between the client and server.');
    expect(hostSyncTime(fe(lab)).ok).toBe(true);
    hostStartService(fe(lab), { name: 'RtcSrv' });
    lab.advance(60_000);
    expect(hostService(fe(lab), 'RtcSrv')?.state).toBe('Running');
  });

  it('holds owned services in Start Pending at boot unless RtcSrv depends on an Automatic wmiApSrv', async () => {
    const { hostSetBootHang, hostAddServiceDependency } = await import('./host.client.js');
    const lab = newLab();
    hostInstallService(fe(lab), rtcSrv('right'));
    hostSetBootHang(fe(lab), { owner: 'ocs' });
    hostShutdown(fe(lab));
    hostBoot(fe(lab));
    lab.advance(5 * 60_000);
    expect(hostService(fe(lab), 'RtcSrv')?.state).toBe('Start Pending');
    expect(lab.journal.eventLog('ocsfe01', 'System').some((e) => e.eventId === 7022)).toBe(true);
    lab.advance(10 * 60_000);
    expect(hostService(fe(lab), 'RtcSrv')?.state).toBe('Running');
    hostAddServiceDependency(fe(lab), { name: 'RtcSrv', dependsOn: 'wmiApSrv' });
    hostSetStartupType(fe(lab), { name: 'wmiApSrv', startupType: 'Automatic' });
    hostShutdown(fe(lab));
    hostBoot(fe(lab));
    lab.advance(60_000);
    expect(hostService(fe(lab), 'RtcSrv')?.state).toBe('Running');
  });
});
