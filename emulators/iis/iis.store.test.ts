import { describe, it, expect } from 'vitest';
import { setWindowsAuthentication } from './iis.commands.js';
import { decideRequest } from './iis.requests.js';
import { effectiveSettings, initialStore, normalizeThumbprint, type IisStore } from './iis.store.js';
import { installOcsWebComponents } from './iis.webcomponents.js';

const FEATURES = ['Web-Server', 'Web-Windows-Auth', 'Web-Metabase', 'Web-WMI', 'Web-Lgcy-Scripting', 'Web-Lgcy-Mgmt-Console'];

function store(): IisStore {
  return initialStore({ host: 'ocsfe01', hostFqdn: 'ocsfe01.corp.example.net', netbios: 'CORP', installedFeatures: FEATURES });
}

describe('applicationHost.config', () => {
  it('starts as IIS 7.0 writes it: Default Web Site on *:80, DefaultAppPool as NetworkService, kernel mode on', () => {
    const s = store();
    expect(s.config.sites).toEqual([
      { id: 1, name: 'Default Web Site', bindings: [{ protocol: 'http', bindingInformation: '*:80:' }], applications: [{ path: '/', physicalPath: '%SystemDrive%\\inetpub\\wwwroot', applicationPool: 'DefaultAppPool' }] },
    ]);
    expect(s.config.applicationPools[0]).toMatchObject({ name: 'DefaultAppPool', identityType: 'NetworkService', state: 'Started' });
    expect(effectiveSettings(s.config, 'Default Web Site', '/')).toEqual({
      location: 'Default Web Site',
      windowsAuthentication: { enabled: false, useKernelMode: true, useAppPoolCredentials: false },
      anonymousAuthentication: { enabled: true },
      sslFlags: 'None',
    });
  });

  it('inherits attribute by attribute from the most specific <location>', () => {
    let s = store();
    s = setWindowsAuthentication(s, { location: 'Default Web Site', useKernelMode: false }).store;
    s = setWindowsAuthentication(s, { location: 'Default Web Site/Abs', enabled: true }).store;
    s = setWindowsAuthentication(s, { location: 'Default Web Site/Abs/Int/Handler', useAppPoolCredentials: true }).store;
    expect(effectiveSettings(s.config, 'Default Web Site', '/abs/int/handler/F-1.lsabs').windowsAuthentication).toEqual({ enabled: true, useKernelMode: false, useAppPoolCredentials: true });
    expect(effectiveSettings(s.config, 'Default Web Site', '/Absent').windowsAuthentication).toEqual({ enabled: false, useKernelMode: false, useAppPoolCredentials: false });
  });

  it('reads thumbprints as MMC shows them', () => {
    expect(normalizeThumbprint('\u200e3f 2a 9c')).toBe('3F2A9C');
  });
});

describe('decideRequest', () => {
  it('with kernel mode on, Kerberos works for NetworkService pools and fails for domain-account pools', () => {
    let s = store();
    s = installOcsWebComponents(s, { pool: 'pool01', poolFqdn: 'pool01.corp.example.net', appPoolIdentity: 'CORP\\RTCComponentService', disableKernelMode: false }).store;
    // A folder of DefaultAppPool (NetworkService) that requires Windows authentication.
    s = { ...s, config: { ...s.config, locations: [...s.config.locations, { path: 'Default Web Site', windowsAuthentication: { enabled: true }, anonymousAuthentication: { enabled: false } }] } };
    const view = { installed: true, w3svc: 'Running' as const, store: s };
    expect(decideRequest(view, { scheme: 'http', path: '/', credentials: 'kerberos' })).toMatchObject({ ok: true, value: { status: 200, authenticatedAs: 'Kerberos' } });
    expect(decideRequest(view, { scheme: 'http', path: '/GroupExpansion/Int/service.asmx', credentials: 'kerberos' })).toMatchObject({ ok: true, value: { status: 401, subStatus: 1 } });
    expect(decideRequest(view, { scheme: 'http', path: '/GroupExpansion/Int/', credentials: 'ntlm' })).toMatchObject({ ok: true, value: { status: 403, subStatus: 14 } });
  });

  it('is refused when IIS is absent or W3SVC is not running', () => {
    const s = store();
    expect(decideRequest({ installed: false, w3svc: 'Running', store: s }, { scheme: 'http', path: '/' })).toMatchObject({ ok: false, failure: { kind: 'iis.connectionRefused' } });
    expect(decideRequest({ installed: true, w3svc: 'Start Pending', store: s }, { scheme: 'http', path: '/' })).toMatchObject({ ok: false, failure: { kind: 'iis.connectionRefused' } });
  });
});
