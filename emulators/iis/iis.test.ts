import { describe, it, expect } from 'vitest';
import { createMachine } from 'xstate';
import { Lab } from '../../sim/lab.js';
import { request, type EmulatorDefinition } from '../../sim/emulator.js';
import { DEFAULT_TOPOLOGY, resolveTopology, type Topology } from '../../sim/topology.js';
import { traceText } from '../../sim/journal.js';
import type { StepDefinition } from '../../sim/steps.js';
import type { HostCertificate } from '../host/host.events.js';
import type { Credentials } from './iis.events.js';
import { iisEmulator, iisSteps } from './index.js';
import { stepContext } from '../../test/support/step-context.js';
import {
  iisAuthentication,
  iisBindCertificate,
  iisBindings,
  iisHostFeaturesChanged,
  iisInstallOcsWebComponents,
  iisInstalled,
  iisPublishFiles,
  iisRemoveBinding,
  iisRequest,
  iisSetAppPoolState,
  iisSetWindowsAuthentication,
  iisVirtualDirectories,
} from './iis.client.js';

const OCS_FEATURES = ['Web-Server', 'Web-Static-Content', 'Web-Asp-Net', 'Web-Windows-Auth', 'Web-Mgmt-Compat', 'Web-Metabase', 'Web-WMI', 'Web-Lgcy-Scripting', 'Web-Lgcy-Mgmt-Console'];
const THUMB = '3F2A9C0B7D1E44A5B6C7D8E9F00112233445566A';
const ABS_FILE = '/Abs/Int/Handler/F-0a2c.lsabs';

function topology(features: string[]): Topology {
  const r = resolveTopology({ ...DEFAULT_TOPOLOGY, hosts: (DEFAULT_TOPOLOGY.hosts ?? []).map((h) => (h.name === 'ocsfe01' ? { ...h, features } : h)) });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.topology;
}

/** A stand-in for the lead's host actor: only what IIS reads (LocalMachine\My) and nothing else. */
function fakeHost(certificates: HostCertificate[]): EmulatorDefinition {
  return { kind: 'host', instances: () => [{ systemId: 'host:ocsfe01', logic: createMachine({ context: { certificates } }), input: {} }] };
}

const poolCert = (overrides: Partial<HostCertificate> = {}): HostCertificate => ({
  thumbprint: THUMB,
  subject: 'CN=pool01.corp.example.net, OU=IT, O=Example',
  subjectCN: 'pool01.corp.example.net',
  issuer: 'CN=corp-DC01-CA, DC=corp, DC=example, DC=net',
  sans: ['pool01.corp.example.net', 'sip.example.com'],
  notBefore: '2009-07-06T00:00:00.000Z',
  notAfter: '2011-07-06T00:00:00.000Z',
  friendlyName: 'pool01.corp.example.net',
  certPem: '',
  keyId: 'k1',
  ...overrides,
});

function lab(features: string[] = OCS_FEATURES, extra: EmulatorDefinition[] = [], seed = '1') {
  return new Lab(topology(features), [iisEmulator, ...extra], { seed });
}

function withWebComponents(l: Lab, disableKernelMode = true) {
  const iis = l.actor('iis:ocsfe01');
  const r = iisInstallOcsWebComponents(iis, { pool: 'pool01', poolFqdn: 'pool01.corp.example.net', appPoolIdentity: 'CORP\\RTCComponentService', disableKernelMode });
  expect(r.ok).toBe(true);
  expect(iisPublishFiles(iis, { vdir: '/Abs/Int/Handler', files: [{ name: 'F-0a2c.lsabs', content: 'ABS full file' }] }).ok).toBe(true);
  return iis;
}

const step = (name: string): StepDefinition => {
  const s = iisSteps.find((d) => d.name === name);
  if (!s) throw new Error(`no step ${name}`);
  return s;
};

const runStep = (l: Lab, name: string, params: Record<string, unknown>) => {
  const s = step(name);
  return s.emulated(stepContext(l), s.params.parse(params));
};

describe('IIS installation', () => {
  it('is absent until the Web-Server role is installed: commands fail iis.notInstalled and nothing listens', () => {
    const l = lab([]);
    const iis = l.actor('iis:ocsfe01');
    expect(iisInstalled(iis)).toBe(false);
    const r = iisInstallOcsWebComponents(iis, { pool: 'pool01', poolFqdn: 'pool01.corp.example.net', appPoolIdentity: 'CORP\\RTCComponentService', disableKernelMode: true });
    expect(r).toMatchObject({ ok: false, failure: { kind: 'iis.notInstalled' } });
    expect(iisRequest(iis, { scheme: 'http', path: '/' })).toMatchObject({ ok: false, failure: { kind: 'iis.connectionRefused' } });
  });

  it('learns features from the host (featuresInstalled / featuresRemoved) and from iis.hostFeaturesChanged', () => {
    const l = lab([]);
    const iis = l.actor('iis:ocsfe01');
    l.send('iis:ocsfe01', { type: 'host.featuresInstalled', host: 'ocsfe01', features: ['Web-Server', 'Web-Windows-Auth'] });
    expect(iisInstalled(iis)).toBe(true);
    expect(l.journal.entries.map((e) => e.event.type)).toContain('iis.installed');
    expect(iisBindings(iis)).toEqual([{ site: 'Default Web Site', protocol: 'http', bindingInformation: '*:80:' }]);
    expect(iisRequest(iis, { scheme: 'http', path: '/' })).toMatchObject({ ok: true, value: { status: 200, headers: { Server: 'Microsoft-IIS/7.0' } } });
    l.send('iis:ocsfe01', { type: 'host.featuresRemoved', host: 'ocsfe01', features: ['Web-Server'] });
    expect(iisInstalled(iis)).toBe(false);
    expect(iisHostFeaturesChanged(iis, ['Web-Server']).ok).toBe(true);
    expect(iisInstalled(iis)).toBe(true);
  });

  it('ignores feature changes of another host', () => {
    const l = lab([]);
    l.send('iis:ocsfe01', { type: 'host.featuresInstalled', host: 'sql01', features: ['Web-Server'] });
    expect(iisInstalled(l.actor('iis:ocsfe01'))).toBe(false);
  });

  it('follows W3SVC: stopped means connection refused; it answers the host before a start', () => {
    const l = lab();
    const iis = l.actor('iis:ocsfe01');
    const change = (from: string, to: string) => l.send('iis:ocsfe01', { type: 'host.serviceStateChanged', host: 'ocsfe01', service: 'W3SVC', displayName: 'World Wide Web Publishing Service', from, to });
    change('Running', 'Stop Pending');
    change('Stop Pending', 'Stopped');
    expect(iis.getSnapshot().value).toEqual({ installed: 'stopped' });
    const r = iisRequest(iis, { scheme: 'http', path: '/' });
    expect(r).toMatchObject({ ok: false, failure: { kind: 'iis.connectionRefused', reason: expect.stringContaining('W3SVC') } });
    expect(request(iis, 'iis.reply', { type: 'host.serviceStarting', host: 'ocsfe01', service: 'W3SVC' })).toEqual({ ok: true, value: undefined });
    change('Start Pending', 'Running');
    expect(iis.getSnapshot().value).toEqual({ installed: 'running' });
    expect(iisRequest(iis, { scheme: 'http', path: '/' }).ok).toBe(true);
  });
});

describe('OCS Web Components (Add Server to Pool)', () => {
  it('refuses without Windows Authentication and IIS 6 Management Compatibility, in the wizard’s words', () => {
    const l = lab(['Web-Server', 'Web-Static-Content']);
    const r = iisInstallOcsWebComponents(l.actor('iis:ocsfe01'), { pool: 'pool01', poolFqdn: 'pool01.corp.example.net', appPoolIdentity: 'CORP\\RTCComponentService', disableKernelMode: true });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.failure.kind).toBe('iis.prerequisiteMissing');
    expect(r.failure.message).toMatch(/IIS 6 Management Compatibility .* is not installed/);
    expect(r.failure.message).toMatch(/and then restart Setup\.$/);
    expect(r.failure.missing).toEqual(['Web-Windows-Auth', 'Web-Metabase', 'Web-WMI', 'Web-Lgcy-Scripting', 'Web-Lgcy-Mgmt-Console']);
  });

  it('creates the virtual directories in LsGroupExpAppPool and turns kernel-mode authentication off', () => {
    const l = lab();
    const iis = withWebComponents(l);
    const vdirs = iisVirtualDirectories(iis);
    expect(vdirs.map((v) => v.path)).toEqual([
      '/',
      '/Abs/Int/Handler',
      '/Abs/Ext/Handler',
      '/AutoUpdate/Int',
      '/AutoUpdate/Ext',
      '/Conf/Int',
      '/Conf/Ext',
      '/DeviceUpdateFiles_Int',
      '/DeviceUpdateFiles_Ext',
      '/GroupExpansion/Int',
      '/GroupExpansion/Ext',
      '/PhoneConferencing/Int',
      '/PhoneConferencing/Ext',
      '/RequestHandlerExt',
      '/etc/place/null',
    ]);
    expect(vdirs[1]).toMatchObject({ applicationPool: 'LsGroupExpAppPool', physicalPath: expect.stringMatching(/^C:\\Program Files\\Microsoft Office Communications Server 2007 R2\\Web Components\\/) });
    expect(iisAuthentication(iis, 'Default Web Site')).toMatchObject({ windowsAuthentication: { enabled: false, useKernelMode: false, useAppPoolCredentials: false } });
    expect(iisAuthentication(iis, '/Abs/Int/Handler')).toEqual({
      location: 'Default Web Site/Abs/Int/Handler',
      windowsAuthentication: { enabled: true, useKernelMode: false, useAppPoolCredentials: false },
      anonymousAuthentication: { enabled: false },
      sslFlags: 'Ssl',
    });
    const types = l.journal.entries.map((e) => e.event.type);
    expect(types).toContain('iis.webComponentsInstalled');
    expect(types).toContain('iis.authenticationChanged');
  });
});

describe('requests: the seed’s address-book symptom', () => {
  it('ABS over https is refused until the pool certificate is bound, then serves the file', () => {
    const l = lab();
    const iis = withWebComponents(l);
    const before = iisRequest(iis, { scheme: 'https', path: ABS_FILE, hostHeader: 'pool01.corp.example.net', credentials: 'kerberos' });
    expect(before).toMatchObject({ ok: false, failure: { kind: 'iis.connectionRefused', message: 'curl: (7) Failed to connect to pool01.corp.example.net port 443: Connection refused' } });
    const bound = iisBindCertificate(iis, { thumbprint: '\u200e3f 2a 9c 0b 7d 1e 44 a5 b6 c7 d8 e9 f0 01 12 23 34 45 56 6a' });
    expect(bound).toEqual({ ok: true, value: { protocol: 'https', bindingInformation: '*:443:', certificateHash: THUMB, certificateStoreName: 'MY' } });
    expect(l.journal.entries.find((e) => e.event.type === 'iis.bindingAdded')?.event.summary).toBe('Default Web Site: https *:443 bound to certificate 3F2A…');
    const after = iisRequest(iis, { scheme: 'https', path: ABS_FILE, hostHeader: 'pool01.corp.example.net', credentials: 'kerberos' });
    expect(after).toMatchObject({ ok: true, value: { status: 200, body: 'ABS full file', certificateThumbprint: THUMB, headers: { 'Content-Type': 'application/octet-stream' } } });
    expect(iisRemoveBinding(iis, { protocol: 'https' }).ok).toBe(true);
    expect(iisRequest(iis, { scheme: 'https', path: ABS_FILE, credentials: 'ntlm' })).toMatchObject({ ok: false, failure: { kind: 'iis.connectionRefused' } });
  });

  it('ABS requires SSL: over http it is 403.4', () => {
    const l = lab();
    const iis = withWebComponents(l);
    const r = iisRequest(iis, { scheme: 'http', path: ABS_FILE, credentials: 'ntlm' });
    expect(r).toMatchObject({ ok: true, value: { status: 403, subStatus: 4 } });
    if (r.ok) expect(r.value.body).toContain('403.4 - Forbidden: SSL required');
  });

  it('challenges an anonymous client with Negotiate and NTLM, serves 404 for unknown files and a client that distrusts the CA fails the handshake', () => {
    const l = lab();
    const iis = withWebComponents(l);
    iisBindCertificate(iis, { thumbprint: THUMB });
    expect(iisRequest(iis, { scheme: 'https', path: ABS_FILE })).toMatchObject({ ok: true, value: { status: 401, headers: { 'WWW-Authenticate': ['Negotiate', 'NTLM'] } } });
    expect(iisRequest(iis, { scheme: 'https', path: '/Abs/Int/Handler/F-ffff.lsabs', credentials: 'ntlm' })).toMatchObject({ ok: true, value: { status: 404 } });
    expect(iisRequest(iis, { scheme: 'https', path: '/nothing/here' })).toMatchObject({ ok: true, value: { status: 404 } });
    expect(iisRequest(iis, { scheme: 'https', path: ABS_FILE, credentials: 'ntlm', clientTrustsCertificate: false })).toMatchObject({
      ok: false,
      failure: { kind: 'iis.certificateNotTrusted', message: 'curl: (60) SSL certificate problem: unable to get local issuer certificate' },
    });
    expect(iisRequest(iis, { scheme: 'https', path: '/GroupExpansion/Int/service.asmx', credentials: { user: 'CORP\\ocsuser1', password: 'x' } })).toMatchObject({
      ok: true,
      value: { status: 200, authenticatedAs: 'CORP\\ocsuser1' },
    });
  });

  it('answers 503 while the application pool is stopped', () => {
    const l = lab();
    const iis = withWebComponents(l);
    iisBindCertificate(iis, { thumbprint: THUMB });
    expect(iisSetAppPoolState(iis, { name: 'LsGroupExpAppPool', state: 'Stopped' })).toMatchObject({ ok: true, value: { state: 'Stopped' } });
    expect(iisRequest(iis, { scheme: 'https', path: ABS_FILE, credentials: 'ntlm' })).toMatchObject({ ok: true, value: { status: 503, statusText: 'Service Unavailable' } });
    expect(iisRequest(iis, { scheme: 'http', path: '/' })).toMatchObject({ ok: true, value: { status: 200 } });
    iisSetAppPoolState(iis, { name: 'LsGroupExpAppPool', state: 'Started' });
    expect(iisRequest(iis, { scheme: 'https', path: ABS_FILE, credentials: 'ntlm' })).toMatchObject({ ok: true, value: { status: 200 } });
    expect(iisSetAppPoolState(iis, { name: 'NoSuchPool', state: 'Started' })).toMatchObject({ ok: false, failure: { kind: 'iis.noSuchAppPool' } });
    expect(l.journal.entries.filter((e) => e.event.type === 'iis.appPoolStateChanged').map((e) => e.event.summary)).toEqual([
      'Application pool LsGroupExpAppPool stopped on ocsfe01',
      'Application pool LsGroupExpAppPool started on ocsfe01',
    ]);
  });
});

describe('Kerberos and kernel-mode authentication (ocs-facts §4, §8 item 10)', () => {
  const cases: Array<{ kernel: boolean; appPoolCreds: boolean; as: 'kerberos' | 'ntlm'; status: number }> = [
    { kernel: true, appPoolCreds: false, as: 'kerberos', status: 401 },
    { kernel: true, appPoolCreds: true, as: 'kerberos', status: 200 },
    { kernel: false, appPoolCreds: false, as: 'kerberos', status: 200 },
    { kernel: false, appPoolCreds: true, as: 'kerberos', status: 200 },
    { kernel: true, appPoolCreds: false, as: 'ntlm', status: 200 },
  ];
  for (const c of cases) {
    it(`kernel mode ${c.kernel ? 'on' : 'off'}, useAppPoolCredentials ${String(c.appPoolCreds)}, ${c.as} → ${c.status}`, () => {
      const l = lab();
      const iis = withWebComponents(l, !c.kernel);
      iisBindCertificate(iis, { thumbprint: THUMB });
      if (c.appPoolCreds) expect(iisSetWindowsAuthentication(iis, { location: 'Default Web Site/Abs/Int/Handler', useAppPoolCredentials: true }).ok).toBe(true);
      const r = iisRequest(iis, { scheme: 'https', path: ABS_FILE, credentials: c.as });
      expect(r).toMatchObject({ ok: true, value: { status: c.status } });
      if (r.ok && c.status === 401) expect(r.value.detail).toMatch(/Kerberos ticket could not be decrypted .*CORP\\RTCComponentService/);
    });
  }

  it('kernel mode switched back on after setup brings the symptom back; turning it off fixes it', () => {
    const l = lab();
    const iis = withWebComponents(l, true);
    iisBindCertificate(iis, { thumbprint: THUMB });
    iisSetWindowsAuthentication(iis, { location: 'Default Web Site', useKernelMode: true });
    expect(iisRequest(iis, { scheme: 'https', path: ABS_FILE, credentials: 'kerberos' })).toMatchObject({ ok: true, value: { status: 401 } });
    iisSetWindowsAuthentication(iis, { location: 'Default Web Site', useKernelMode: false });
    expect(iisRequest(iis, { scheme: 'https', path: ABS_FILE, credentials: 'kerberos' })).toMatchObject({ ok: true, value: { status: 200 } });
    expect(iisSetWindowsAuthentication(iis, { location: 'No Such Site', useKernelMode: false })).toMatchObject({ ok: false, failure: { kind: 'iis.noSuchSite' } });
  });
});

describe('with a host actor (LocalMachine\\My)', () => {
  it('binds only certificates in the store, and a client dialling a name not on the certificate fails', () => {
    const l = lab(OCS_FEATURES, [fakeHost([poolCert()])]);
    const iis = withWebComponents(l);
    expect(iisBindCertificate(iis, { thumbprint: 'AB'.repeat(20) })).toMatchObject({ ok: false, failure: { kind: 'iis.certificateNotFound' } });
    expect(iisBindCertificate(iis, { thumbprint: THUMB }).ok).toBe(true);
    expect(l.journal.entries.find((e) => e.event.type === 'iis.bindingAdded')?.event.summary).toBe(
      'Default Web Site: https *:443 bound to certificate 3F2A… (CN=pool01.corp.example.net, OU=IT, O=Example)',
    );
    expect(iisRequest(iis, { scheme: 'https', path: ABS_FILE, hostHeader: 'pool01.corp.example.net', credentials: 'ntlm' })).toMatchObject({ ok: true, value: { status: 200 } });
    expect(iisRequest(iis, { scheme: 'https', path: ABS_FILE, credentials: 'ntlm' })).toMatchObject({
      ok: false,
      failure: { kind: 'iis.certificateNameMismatch', message: "curl: (60) SSL: no alternative certificate subject name matches target host name 'ocsfe01.corp.example.net'" },
    });
  });

  it('step iis.bindCertificate with certificate "pool" picks the certificate whose CN is the pool FQDN', () => {
    const l = lab(OCS_FEATURES, [fakeHost([poolCert({ thumbprint: '11'.repeat(20), subject: 'CN=ocsfe01.corp.example.net', subjectCN: 'ocsfe01.corp.example.net', sans: [] }), poolCert()])]);
    withWebComponents(l);
    expect(runStep(l, 'iis.binding', { server: 'ocsfe01', protocol: 'https', present: false })).toMatchObject({ ok: true });
    // iis.get observes over the wire (its tests are the scenarios'); this fake host has no real certificate, so the decision itself is asked.
    const iis = l.actor('iis:ocsfe01');
    const ask = (credentials: Credentials, scheme: 'https' | 'http' = 'https') => iisRequest(iis, { scheme, path: ABS_FILE, hostHeader: 'pool01.corp.example.net', credentials });
    expect(ask('kerberos')).toMatchObject({ ok: false, failure: { kind: 'iis.connectionRefused' } });
    expect(runStep(l, 'iis.bindCertificate', { server: 'ocsfe01', certificate: 'pool', ip: 'All Unassigned' })).toMatchObject({ ok: true });
    expect(iisBindings(l.actor('iis:ocsfe01')).find((b) => b.protocol === 'https')?.certificateHash).toBe(THUMB);
    expect(runStep(l, 'iis.binding', { server: 'ocsfe01', protocol: 'https', port: 443 })).toMatchObject({ ok: true });
    expect(ask('kerberos')).toMatchObject({ ok: true, value: { status: 200 } });
    expect(ask({ user: 'CORP\\ocsuser1', password: 'x' })).toMatchObject({ ok: true, value: { status: 200 } });
    expect(ask('ntlm', 'http')).toMatchObject({ ok: true, value: { status: 403 } });
  });
});

describe('steps without a host actor', () => {
  it('report what they saw when the expectation fails', () => {
    const l = lab();
    withWebComponents(l);
    const iis = l.actor('iis:ocsfe01');
    const ask = (credentials: Credentials) => iisRequest(iis, { scheme: 'https', path: ABS_FILE, hostHeader: 'pool01.corp.example.net', credentials });
    expect(ask('kerberos')).toMatchObject({ ok: false, failure: { kind: 'iis.connectionRefused' } });
    expect(runStep(l, 'iis.bindCertificate', { server: 'ocsfe01' })).toMatchObject({ ok: false, reason: expect.stringContaining('no host actor') });
    expect(runStep(l, 'iis.bindCertificate', { server: 'ocsfe01', certificate: THUMB })).toMatchObject({ ok: true });
    expect(runStep(l, 'iis.setWindowsAuthentication', { server: 'ocsfe01', useKernelMode: true })).toMatchObject({ ok: true });
    expect(ask('kerberos')).toMatchObject({ ok: true, value: { status: 401 } });
    expect(runStep(l, 'iis.setAppPoolState', { server: 'ocsfe01', name: 'LsGroupExpAppPool', state: 'Stopped' })).toMatchObject({ ok: true });
    expect(ask('ntlm')).toMatchObject({ ok: true, value: { status: 503 } });
    expect(runStep(l, 'iis.binding', { server: 'ocsfe01', protocol: 'https', present: false })).toMatchObject({ ok: false, reason: 'expected no https binding, found https *:443' });
  });
});

describe('determinism', () => {
  it('gives byte-identical traces for the same run', () => {
    const run = () => {
      const l = lab(OCS_FEATURES, [], '7');
      const iis = withWebComponents(l);
      iisBindCertificate(iis, { thumbprint: THUMB });
      iisSetAppPoolState(iis, { name: 'DefaultAppPool', state: 'Stopped' });
      const text = traceText(l.journal.entries);
      l.stop();
      return text;
    };
    expect(run()).toBe(run());
  });
});
