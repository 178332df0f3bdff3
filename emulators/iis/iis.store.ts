/**
 * IIS 7.0 as applicationHost.config holds it (sites, bindings, application pools, <location> sections),
 * the files the OCS Web Components publish, and the pure decision of what a client gets for a request.
 * The wire adapter (HTTP/HTTPS on loopback) answers with `decideRequest` too, so the embedded lab and a
 * real curl see the same thing.
 */
import { fail, ok, type Result } from '../../sim/result.js';
import type { HostCertificate, ServiceState } from '../host/host.events.js';
import type {
  BindCertificateParams,
  HttpRequest,
  IisEmitted,
  IisFailure,
  IisFailureKind,
  InstallWebComponentsParams,
  PublishFilesParams,
  RemoveBindingParams,
  SetAppPoolStateParams,
  SetWindowsAuthenticationParams,
} from './iis.events.js';

// ---------------------------------------------------------------------------------------------------
// applicationHost.config

export type AppPoolState = 'Started' | 'Stopped';
export type AppPoolIdentityType = 'ApplicationPoolIdentity' | 'NetworkService' | 'LocalSystem' | 'LocalService' | 'SpecificUser';

export interface AppPool {
  name: string;
  managedRuntimeVersion: 'v2.0' | '';
  managedPipelineMode: 'Integrated' | 'Classic';
  identityType: AppPoolIdentityType;
  /** processModel userName when identityType is SpecificUser ("CORP\\RTCComponentService"). */
  userName?: string;
  state: AppPoolState;
}

export interface Binding {
  protocol: 'http' | 'https';
  /** "<ip>:<port>:<host header>", e.g. "*:443:". */
  bindingInformation: string;
  certificateHash?: string;
  certificateStoreName?: 'MY';
}

/** An application with its root virtual directory (OCS creates each Web Components folder as one). */
export interface VirtualDirectory {
  /** URL path under the site: "/", "/Abs/Int/Handler". */
  path: string;
  physicalPath: string;
  applicationPool: string;
}

export interface Site {
  id: number;
  name: string;
  bindings: Binding[];
  applications: VirtualDirectory[];
}

export interface WindowsAuthenticationSection {
  enabled?: boolean;
  useKernelMode?: boolean;
  useAppPoolCredentials?: boolean;
}

export type SslFlags = 'None' | 'Ssl' | 'Ssl, SslNegotiateCert' | 'Ssl, SslRequireCert';

/** One `<location path="...">` of applicationHost.config (only the sections the lab models). */
export interface LocationConfig {
  /** "Default Web Site" or "Default Web Site/Abs/Int/Handler". */
  path: string;
  windowsAuthentication?: WindowsAuthenticationSection;
  anonymousAuthentication?: { enabled: boolean };
  /** system.webServer/security/access sslFlags. */
  sslFlags?: SslFlags;
}

export interface ApplicationHostConfig {
  sites: Site[];
  applicationPools: AppPool[];
  locations: LocationConfig[];
}

export interface PublishedFile {
  name: string;
  content: string;
}

export interface WebComponentsInstall {
  pool: string;
  poolFqdn: string;
  internalWebFqdn: string;
  appPool: string;
  appPoolIdentity: string;
  virtualDirectories: string[];
  kernelModeDisabled: boolean;
}

export interface IisStore {
  host: string;
  hostFqdn: string;
  netbios: string;
  /** Installed Windows features, ServerManagerCmd names, as last heard. */
  features: string[];
  config: ApplicationHostConfig;
  /** Files in each virtual directory's physical path, keyed by the vdir's URL path. */
  files: Record<string, PublishedFile[]>;
  webComponents?: WebComponentsInstall;
}

export const DEFAULT_SITE = 'Default Web Site';
export const DEFAULT_APP_POOL = 'DefaultAppPool';
/** The pool the OCS Web Components run in, as RTCComponentService (ocs-facts §2 service accounts, §6 AB). */
export const OCS_APP_POOL = 'LsGroupExpAppPool';
export const WEB_COMPONENTS_ROOT = 'C:\\Program Files\\Microsoft Office Communications Server 2007 R2\\Web Components';

/** IIS 7.0 server-level defaults (the root of applicationHost.config). */
const SERVER_DEFAULTS = {
  windowsAuthentication: { enabled: false, useKernelMode: true, useAppPoolCredentials: false },
  anonymousAuthentication: { enabled: true },
  sslFlags: 'None' as SslFlags,
};

const IIS_START_PAGE = `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1" />
<title>IIS7</title>
</head>
<body>
<div id="container"><a href="http://go.microsoft.com/fwlink/?linkid=66138&amp;clcid=0x409"><img src="welcome.png" alt="IIS7" width="571" height="411" /></a></div>
</body>
</html>
`;

/** What applicationHost.config holds right after the Web-Server role is added on Windows Server 2008. */
export function defaultConfig(): ApplicationHostConfig {
  return {
    sites: [
      {
        id: 1,
        name: DEFAULT_SITE,
        bindings: [{ protocol: 'http', bindingInformation: '*:80:' }],
        applications: [{ path: '/', physicalPath: '%SystemDrive%\\inetpub\\wwwroot', applicationPool: DEFAULT_APP_POOL }],
      },
    ],
    // IIS 7.0 (Server 2008): DefaultAppPool runs as NetworkService; ApplicationPoolIdentity became the default in IIS 7.5.
    applicationPools: [{ name: DEFAULT_APP_POOL, managedRuntimeVersion: 'v2.0', managedPipelineMode: 'Integrated', identityType: 'NetworkService', state: 'Started' }],
    locations: [],
  };
}

export function defaultFiles(): Record<string, PublishedFile[]> {
  return {
    '/': [
      { name: 'iisstart.htm', content: IIS_START_PAGE },
      { name: 'welcome.png', content: '(PNG image, 184946 bytes)' },
    ],
  };
}

export function initialStore(input: { host: string; hostFqdn: string; netbios: string; installedFeatures?: string[] }): IisStore {
  return {
    host: input.host.toLowerCase(),
    hostFqdn: input.hostFqdn.toLowerCase(),
    netbios: input.netbios,
    features: dedupe(input.installedFeatures ?? []),
    config: defaultConfig(),
    files: defaultFiles(),
  };
}

// ---------------------------------------------------------------------------------------------------
// Windows features

export const WEB_SERVER_FEATURE = 'Web-Server';
export const WINDOWS_AUTH_FEATURE = 'Web-Windows-Auth';
/** IIS 6 Management Compatibility (Web-Mgmt-Compat) and its role services, as ServerManagerCmd names them. */
export const IIS6_COMPAT_FEATURES: ReadonlyArray<{ name: string; display: string }> = [
  { name: 'Web-Metabase', display: 'IIS 6 Metabase Compatibility' },
  { name: 'Web-WMI', display: 'IIS 6 WMI Compatibility' },
  { name: 'Web-Lgcy-Scripting', display: 'IIS 6 Scripting Tools' },
  { name: 'Web-Lgcy-Mgmt-Console', display: 'IIS 6 Management Console' },
];

function dedupe(features: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const f of features) {
    if (seen.has(f.toLowerCase())) continue;
    seen.add(f.toLowerCase());
    out.push(f);
  }
  return out;
}

export const hasFeature = (features: readonly string[], name: string): boolean => features.some((f) => f.toLowerCase() === name.toLowerCase());
export const webServerInstalled = (store: IisStore): boolean => hasFeature(store.features, WEB_SERVER_FEATURE);

export function addFeatures(features: readonly string[], added: readonly string[]): string[] {
  return dedupe([...features, ...added]);
}

export function removeFeatures(features: readonly string[], removed: readonly string[]): string[] {
  return features.filter((f) => !hasFeature(removed, f));
}

export { dedupe as normalizeFeatures };

// ---------------------------------------------------------------------------------------------------
// Commands (pure: old store in, new store + result + journal events out)

type IisChange = Exclude<IisEmitted, { type: 'iis.reply' }>;

export interface Outcome<T> {
  result: Result<T, IisFailure>;
  store: IisStore;
  events: IisChange[];
}

const failure = (kind: IisFailureKind, message: string, details: Record<string, unknown> = {}): IisFailure => ({ kind, message, ...details });
const rejected = <T>(store: IisStore, f: IisFailure): Outcome<T> => ({ result: fail(f), store, events: [] });

export function notInstalled(store: IisStore): IisFailure {
  return failure(
    'iis.notInstalled',
    `Internet Information Services (IIS) is not installed on ${store.host.toUpperCase()}. Add the Web Server (IIS) role (Web-Server) with Server Manager and then restart Setup.`,
    { host: store.host },
  );
}

const eq = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

function findSite(config: ApplicationHostConfig, name: string | undefined): Site | undefined {
  return config.sites.find((s) => eq(s.name, name ?? DEFAULT_SITE));
}

function noSuchSite(name: string): IisFailure {
  return failure('iis.noSuchSite', `ERROR ( message:Cannot find SITE object with identifier "${name}". )`, { site: name });
}

function replaceSite(config: ApplicationHostConfig, site: Site): ApplicationHostConfig {
  return { ...config, sites: config.sites.map((s) => (s.id === site.id ? site : s)) };
}

/** Thumbprints as MMC shows them ("3f 2a 9c ...", often with an invisible U+200E in front) → "3F2A9C...". */
export function normalizeThumbprint(thumbprint: string): string {
  return thumbprint.replace(/[^0-9a-f]/gi, '').toUpperCase();
}

const bindingPort = (b: Binding): number => Number(b.bindingInformation.split(':')[1] ?? '0');
const bindingIp = (b: Binding): string => b.bindingInformation.split(':')[0] ?? '*';
const bindingHost = (b: Binding): string => b.bindingInformation.split(':').slice(2).join(':');

export function describeBinding(b: Binding): string {
  const host = bindingHost(b);
  return `${b.protocol} ${bindingIp(b)}:${bindingPort(b)}${host ? `:${host}` : ''}`;
}

/** IIS Manager's "All Unassigned" is "*" in applicationHost.config. */
export const bindingAddress = (ip: string | undefined): string => (!ip || /^all unassigned$/i.test(ip.trim()) ? '*' : ip.trim());

export function bindCertificate(store: IisStore, params: BindCertificateParams, hostCertificates: readonly HostCertificate[] | undefined): Outcome<Binding> {
  const siteName = params.site ?? DEFAULT_SITE;
  const site = findSite(store.config, siteName);
  if (!site) return rejected(store, noSuchSite(siteName));
  const thumbprint = normalizeThumbprint(params.thumbprint);
  const cert = hostCertificates?.find((c) => normalizeThumbprint(c.thumbprint) === thumbprint);
  if (hostCertificates && !cert) {
    return rejected(
      store,
      failure(
        'iis.certificateNotFound',
        `SSL Certificate add failed: there is no certificate with thumbprint ${thumbprint} in the LocalMachine\\My (Personal) store of ${store.host.toUpperCase()}.`,
        { thumbprint, available: hostCertificates.map((c) => `${normalizeThumbprint(c.thumbprint)} ${c.subject}`) },
      ),
    );
  }
  const ip = bindingAddress(params.ip);
  const port = params.port ?? 443;
  const binding: Binding = { protocol: 'https', bindingInformation: `${ip}:${port}:${params.hostFqdn ?? ''}`, certificateHash: thumbprint, certificateStoreName: 'MY' };
  const others = site.bindings.filter((b) => !(b.protocol === 'https' && bindingIp(b) === ip && bindingPort(b) === port));
  const next: IisStore = { ...store, config: replaceSite(store.config, { ...site, bindings: [...others, binding] }) };
  const subject = cert ? ` (${cert.subject})` : '';
  return {
    result: ok(binding),
    store: next,
    events: [
      {
        type: 'iis.bindingAdded',
        host: store.host,
        site: site.name,
        binding,
        summary: `${site.name}: https ${ip}:${port} bound to certificate ${thumbprint.slice(0, 4)}…${subject}`,
      },
    ],
  };
}

export function removeBinding(store: IisStore, params: RemoveBindingParams): Outcome<Binding> {
  const siteName = params.site ?? DEFAULT_SITE;
  const site = findSite(store.config, siteName);
  if (!site) return rejected(store, noSuchSite(siteName));
  const port = params.port ?? (params.protocol === 'https' ? 443 : 80);
  const binding = site.bindings.find((b) => b.protocol === params.protocol && bindingPort(b) === port);
  if (!binding) {
    return rejected(store, failure('iis.noSuchBinding', `${site.name} has no ${params.protocol} binding on port ${port}.`, { site: site.name, protocol: params.protocol, port }));
  }
  const next: IisStore = { ...store, config: replaceSite(store.config, { ...site, bindings: site.bindings.filter((b) => b !== binding) }) };
  return {
    result: ok(binding),
    store: next,
    events: [{ type: 'iis.bindingRemoved', host: store.host, site: site.name, binding, summary: `${site.name}: removed binding ${describeBinding(binding)}` }],
  };
}

/** "Default Web Site", "Default Web Site/Abs/Int/Handler/" → site name and URL path ("" for the site). */
function splitLocation(location: string): { site: string; path: string } {
  const trimmed = location.replace(/\\/g, '/').replace(/\/+$/, '');
  const slash = trimmed.indexOf('/');
  return slash < 0 ? { site: trimmed, path: '' } : { site: trimmed.slice(0, slash), path: trimmed.slice(slash) };
}

function upsertLocation(config: ApplicationHostConfig, path: string, change: (l: LocationConfig) => LocationConfig): ApplicationHostConfig {
  const existing = config.locations.find((l) => eq(l.path, path));
  const updated = change(existing ?? { path });
  return { ...config, locations: existing ? config.locations.map((l) => (l === existing ? updated : l)) : [...config.locations, updated] };
}

export function setWindowsAuthentication(store: IisStore, params: SetWindowsAuthenticationParams): Outcome<EffectiveSettings> {
  const { site: siteName, path } = splitLocation(params.location);
  const site = findSite(store.config, siteName);
  if (!site) return rejected(store, noSuchSite(siteName));
  const locationPath = `${site.name}${path}`;
  const change: WindowsAuthenticationSection = {};
  if (params.enabled !== undefined) change.enabled = params.enabled;
  if (params.useKernelMode !== undefined) change.useKernelMode = params.useKernelMode;
  if (params.useAppPoolCredentials !== undefined) change.useAppPoolCredentials = params.useAppPoolCredentials;
  const config = upsertLocation(store.config, locationPath, (l) => ({ ...l, windowsAuthentication: { ...l.windowsAuthentication, ...change } }));
  const next: IisStore = { ...store, config };
  const attrs = Object.entries(change).map(([k, v]) => `${k}="${String(v)}"`);
  return {
    result: ok(effectiveSettings(config, site.name, path || '/')),
    store: next,
    events: attrs.length
      ? [
          {
            type: 'iis.authenticationChanged',
            host: store.host,
            location: locationPath,
            windowsAuthentication: change as Record<string, boolean>,
            summary: `${locationPath}: <windowsAuthentication ${attrs.join(' ')} />`,
          },
        ]
      : [],
  };
}

export function setAppPoolState(store: IisStore, params: SetAppPoolStateParams): Outcome<AppPool> {
  const pool = store.config.applicationPools.find((p) => eq(p.name, params.name));
  if (!pool) return rejected(store, failure('iis.noSuchAppPool', `ERROR ( message:Cannot find APPPOOL object with identifier "${params.name}". )`, { appPool: params.name }));
  if (pool.state === params.state) return { result: ok(pool), store, events: [] };
  const updated: AppPool = { ...pool, state: params.state };
  const next: IisStore = { ...store, config: { ...store.config, applicationPools: store.config.applicationPools.map((p) => (p === pool ? updated : p)) } };
  return {
    result: ok(updated),
    store: next,
    events: [
      {
        type: 'iis.appPoolStateChanged',
        host: store.host,
        appPool: pool.name,
        from: pool.state,
        to: params.state,
        summary: `Application pool ${pool.name} ${params.state === 'Started' ? 'started' : 'stopped'} on ${store.host}`,
      },
    ],
  };
}

const normalizeVdir = (path: string): string => {
  const p = `/${path.replace(/\\/g, '/').replace(/^\/+|\/+$/g, '')}`;
  return p;
};

export function publishFiles(store: IisStore, params: PublishFilesParams): Outcome<{ vdir: string; files: string[] }> {
  const vdirPath = normalizeVdir(params.vdir);
  const site = findSite(store.config, DEFAULT_SITE);
  const app = site?.applications.find((a) => eq(a.path, vdirPath));
  if (!app) {
    return rejected(store, failure('iis.noSuchVirtualDirectory', `${DEFAULT_SITE} has no virtual directory ${vdirPath}.`, { vdir: vdirPath }));
  }
  const files = params.files.map((f) => ({ name: f.name.replace(/^\/+/, ''), content: f.content }));
  const next: IisStore = { ...store, files: { ...store.files, [app.path]: files } };
  return {
    result: ok({ vdir: app.path, files: files.map((f) => f.name) }),
    store: next,
    events: [{ type: 'iis.filesPublished', host: store.host, vdir: app.path, files: files.map((f) => f.name), summary: `${files.length} file(s) published to ${DEFAULT_SITE}${app.path} (${app.physicalPath})` }],
  };
}

// ---------------------------------------------------------------------------------------------------
// OCS 2007 R2 Web Components (ocs-facts §4 IIS)

interface WebComponentDir {
  path: string;
  folder: string;
  windowsAuth: boolean;
  requireSsl: boolean;
  /** Endpoints the component answers on its own (ASP.NET handlers), not published files. */
  builtIn?: PublishedFile[];
}

const asmxPage = (name: string) => `<html><head><title>${name} Web Service</title></head><body><h1>${name}</h1><p>The following operations are supported.</p></body></html>`;

/** The Web Components folders "Add Server to Pool" creates under Default Web Site. */
export const OCS_WEB_COMPONENT_DIRS: readonly WebComponentDir[] = [
  { path: '/Abs/Int/Handler', folder: 'Address Book Files\\Int\\Handler', windowsAuth: true, requireSsl: true },
  { path: '/Abs/Ext/Handler', folder: 'Address Book Files\\Ext\\Handler', windowsAuth: true, requireSsl: true },
  { path: '/AutoUpdate/Int', folder: 'AutoUpdate\\Int', windowsAuth: false, requireSsl: false },
  { path: '/AutoUpdate/Ext', folder: 'AutoUpdate\\Ext', windowsAuth: false, requireSsl: false },
  { path: '/Conf/Int', folder: 'Conf\\Int', windowsAuth: false, requireSsl: false },
  { path: '/Conf/Ext', folder: 'Conf\\Ext', windowsAuth: false, requireSsl: false },
  { path: '/DeviceUpdateFiles_Int', folder: 'DeviceUpdateFiles\\Int', windowsAuth: false, requireSsl: false },
  { path: '/DeviceUpdateFiles_Ext', folder: 'DeviceUpdateFiles\\Ext', windowsAuth: false, requireSsl: false },
  { path: '/GroupExpansion/Int', folder: 'Group Expansion\\Int', windowsAuth: true, requireSsl: false, builtIn: [{ name: 'service.asmx', content: asmxPage('GroupExpansionService') }] },
  { path: '/GroupExpansion/Ext', folder: 'Group Expansion\\Ext', windowsAuth: true, requireSsl: false, builtIn: [{ name: 'service.asmx', content: asmxPage('GroupExpansionService') }] },
  { path: '/PhoneConferencing/Int', folder: 'PhoneConferencing\\Int', windowsAuth: false, requireSsl: false },
  { path: '/PhoneConferencing/Ext', folder: 'PhoneConferencing\\Ext', windowsAuth: false, requireSsl: false },
  { path: '/RequestHandlerExt', folder: 'RequestHandlerExt', windowsAuth: false, requireSsl: false },
  { path: '/etc/place/null', folder: 'Data MCU Web\\Web', windowsAuth: false, requireSsl: false },
];

export interface MissingPrerequisite {
  name: string;
  display: string;
}

export function missingWebComponentPrerequisites(features: readonly string[]): MissingPrerequisite[] {
  const missing: MissingPrerequisite[] = [];
  if (!hasFeature(features, WINDOWS_AUTH_FEATURE)) missing.push({ name: WINDOWS_AUTH_FEATURE, display: 'Windows Authentication' });
  for (const f of IIS6_COMPAT_FEATURES) if (!hasFeature(features, f.name)) missing.push(f);
  return missing;
}

export function installOcsWebComponents(store: IisStore, params: InstallWebComponentsParams): Outcome<WebComponentsInstall> {
  const missing = missingWebComponentPrerequisites(store.features);
  if (missing.length) {
    const windowsAuth = missing.some((m) => m.name === WINDOWS_AUTH_FEATURE);
    const compat = missing.filter((m) => m.name !== WINDOWS_AUTH_FEATURE);
    const parts: string[] = [];
    if (windowsAuth) parts.push('the IIS Windows Authentication role service (Web-Windows-Auth) is not installed');
    if (compat.length) parts.push(`IIS 6 Management Compatibility (${compat.map((m) => `${m.display}, ${m.name}`).join('; ')}) is not installed`);
    const message = `Prerequisite not satisfied: ${parts.join(' and ')}. Install ${[windowsAuth ? 'Windows Authentication' : '', compat.length ? 'all IIS 6 Management Compatibility role services' : ''].filter(Boolean).join(' and ')} and then restart Setup.`;
    return rejected(store, failure('iis.prerequisiteMissing', message, { missing: missing.map((m) => m.name) }));
  }
  const site = findSite(store.config, DEFAULT_SITE);
  if (!site) return rejected(store, noSuchSite(DEFAULT_SITE));

  const pool: AppPool = { name: OCS_APP_POOL, managedRuntimeVersion: 'v2.0', managedPipelineMode: 'Integrated', identityType: 'SpecificUser', userName: params.appPoolIdentity, state: 'Started' };
  const applicationPools = [...store.config.applicationPools.filter((p) => !eq(p.name, OCS_APP_POOL)), pool];
  const ocsPaths = new Set(OCS_WEB_COMPONENT_DIRS.map((d) => d.path.toLowerCase()));
  const applications = [
    ...site.applications.filter((a) => !ocsPaths.has(a.path.toLowerCase())),
    ...OCS_WEB_COMPONENT_DIRS.map((d) => ({ path: d.path, physicalPath: `${WEB_COMPONENTS_ROOT}\\${d.folder}`, applicationPool: OCS_APP_POOL })),
  ];
  let config: ApplicationHostConfig = { ...replaceSite(store.config, { ...site, applications }), applicationPools };
  const files = { ...store.files };
  for (const d of OCS_WEB_COMPONENT_DIRS) {
    config = upsertLocation(config, `${site.name}${d.path}`, (l) => ({
      ...l,
      ...(d.windowsAuth ? { windowsAuthentication: { ...l.windowsAuthentication, enabled: true }, anonymousAuthentication: { enabled: false } } : {}),
      ...(d.requireSsl ? { sslFlags: 'Ssl' as SslFlags } : {}),
    }));
    files[d.path] = d.builtIn ? [...d.builtIn] : (files[d.path] ?? []);
  }
  if (params.disableKernelMode) {
    config = upsertLocation(config, site.name, (l) => ({ ...l, windowsAuthentication: { ...l.windowsAuthentication, useKernelMode: false } }));
  }
  const install: WebComponentsInstall = {
    pool: params.pool,
    poolFqdn: params.poolFqdn.toLowerCase(),
    internalWebFqdn: (params.internalWebFqdn ?? params.poolFqdn).toLowerCase(),
    appPool: OCS_APP_POOL,
    appPoolIdentity: params.appPoolIdentity,
    virtualDirectories: OCS_WEB_COMPONENT_DIRS.map((d) => d.path),
    kernelModeDisabled: params.disableKernelMode,
  };
  const events: IisChange[] = [
    {
      type: 'iis.webComponentsInstalled',
      host: store.host,
      pool: params.pool,
      virtualDirectories: install.virtualDirectories,
      appPool: OCS_APP_POOL,
      kernelModeDisabled: params.disableKernelMode,
      summary: `Web Components for pool ${params.pool} installed in ${site.name} on ${store.host}: ${install.virtualDirectories.length} virtual directories in ${OCS_APP_POOL} (${params.appPoolIdentity})${params.disableKernelMode ? '; kernel-mode authentication disabled' : ''}`,
    },
  ];
  if (params.disableKernelMode) {
    events.push({
      type: 'iis.authenticationChanged',
      host: store.host,
      location: site.name,
      windowsAuthentication: { useKernelMode: false },
      summary: `${site.name}: <windowsAuthentication useKernelMode="false" />`,
    });
  }
  return { result: ok(install), store: { ...store, config, files, webComponents: install }, events };
}

// ---------------------------------------------------------------------------------------------------
// Effective configuration (location inheritance)

export interface EffectiveSettings {
  location: string;
  windowsAuthentication: Required<WindowsAuthenticationSection>;
  anonymousAuthentication: { enabled: boolean };
  sslFlags: SslFlags;
}

function underPath(urlPath: string, prefix: string): boolean {
  const a = urlPath.toLowerCase();
  const p = prefix.toLowerCase().replace(/\/+$/, '');
  return p === '' || a === p || a.startsWith(`${p}/`);
}

/** The settings in force at a URL path of a site: server defaults, then each matching <location>, shortest first. */
export function effectiveSettings(config: ApplicationHostConfig, siteName: string, urlPath: string): EffectiveSettings {
  const out: EffectiveSettings = {
    location: `${siteName}${urlPath === '/' ? '' : urlPath}`,
    windowsAuthentication: { ...SERVER_DEFAULTS.windowsAuthentication },
    anonymousAuthentication: { ...SERVER_DEFAULTS.anonymousAuthentication },
    sslFlags: SERVER_DEFAULTS.sslFlags,
  };
  const matching = config.locations
    .map((l) => ({ l, parts: splitLocation(l.path) }))
    .filter(({ parts }) => eq(parts.site, siteName) && underPath(urlPath, parts.path))
    .sort((a, b) => a.parts.path.length - b.parts.path.length);
  for (const { l } of matching) {
    out.windowsAuthentication = { ...out.windowsAuthentication, ...l.windowsAuthentication };
    if (l.anonymousAuthentication) out.anonymousAuthentication = { ...l.anonymousAuthentication };
    if (l.sslFlags) out.sslFlags = l.sslFlags;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Selectors

export function allBindings(store: IisStore): Array<Binding & { site: string }> {
  return store.config.sites.flatMap((s) => s.bindings.map((b) => ({ ...b, site: s.name })));
}

export function findBinding(store: IisStore, protocol: 'http' | 'https', port?: number): Binding | undefined {
  return allBindings(store).find((b) => b.protocol === protocol && (port === undefined || bindingPort(b) === port));
}

export function virtualDirectories(store: IisStore): Array<VirtualDirectory & { site: string }> {
  return store.config.sites.flatMap((s) => s.applications.map((a) => ({ ...a, site: s.name })));
}

/** Accepts "Default Web Site", "Default Web Site/Abs/Int/Handler" or a bare URL path "/Abs/Int/Handler". */
export function authenticationAt(store: IisStore, location: string): EffectiveSettings {
  const { site, path } = location.startsWith('/') ? { site: DEFAULT_SITE, path: location.replace(/\/+$/, '') } : splitLocation(location);
  const real = findSite(store.config, site)?.name ?? site;
  return effectiveSettings(store.config, real, path || '/');
}

// ---------------------------------------------------------------------------------------------------
// Requests

export interface HttpResponse {
  status: number;
  subStatus: number;
  statusText: string;
  headers: Record<string, string | string[]>;
  body: string;
  /** The thumbprint of the certificate the server presented (https). */
  certificateThumbprint?: string;
  /** The account IIS authenticated, when it did. */
  authenticatedAs?: string;
  /** Why, in the words of IIS's detailed error / the failed-request trace. */
  detail?: string;
}

/** What the request decision looks at: the IIS store, the W3SVC state, and the names on the host's certificates. */
export interface RequestView {
  installed: boolean;
  w3svc: ServiceState;
  store: IisStore;
  /** The host's LocalMachine\My certificates; undefined when the lab has no host actor (names not checked). */
  certificates?: readonly HostCertificate[];
  /** The host's clock is more than 5 minutes off the domain's: Kerberos authenticators are rejected (KRB_AP_ERR_SKEW). */
  clockSkewed?: boolean;
}

const IIS_HEADERS = { Server: 'Microsoft-IIS/7.0', 'X-Powered-By': 'ASP.NET' };

function page(title: string, heading: string, text: string): string {
  return `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/><title>${title}</title></head>
<body><div id="header"><h1>Server Error</h1></div>
<div id="content"><fieldset><h2>${heading}</h2><h3>${text}</h3></fieldset></div>
</body>
</html>
`;
}

function errorResponse(status: number, subStatus: number, statusText: string, heading: string, text: string, extra: Partial<HttpResponse> = {}): HttpResponse {
  return {
    status,
    subStatus,
    statusText,
    headers: { 'Content-Type': 'text/html', ...IIS_HEADERS, ...(extra.headers ?? {}) },
    body: page(`${status} - ${statusText}`, heading, text),
    ...(extra.certificateThumbprint ? { certificateThumbprint: extra.certificateThumbprint } : {}),
    ...(extra.detail ? { detail: extra.detail } : {}),
  };
}

const MIME: Record<string, string> = {
  htm: 'text/html',
  html: 'text/html',
  asmx: 'text/html; charset=utf-8',
  png: 'image/png',
  txt: 'text/plain',
  xml: 'text/xml',
  lsabs: 'application/octet-stream',
  dabs: 'application/octet-stream',
  cab: 'application/vnd.ms-cab-compressed',
};

const contentType = (name: string): string => MIME[(name.split('.').pop() ?? '').toLowerCase()] ?? 'application/octet-stream';

function hostMatches(name: string, host: string): boolean {
  const n = name.toLowerCase();
  const h = host.toLowerCase();
  if (n === h) return true;
  if (n.startsWith('*.')) return h.split('.').slice(1).join('.') === n.slice(2) && h.split('.').length === n.split('.').length;
  return false;
}

/** What a browser, curl or Communicator gets for one request to this server. */
export function decideRequest(view: RequestView, req: HttpRequest): Result<HttpResponse, IisFailure> {
  const { store } = view;
  const hostName = (req.hostHeader ?? store.hostFqdn).toLowerCase();
  const defaultPort = req.scheme === 'https' ? 443 : 80;
  const refused = (why: string) =>
    fail(failure('iis.connectionRefused', `curl: (7) Failed to connect to ${hostName} port ${defaultPort}: Connection refused`, { reason: why, host: store.host, port: defaultPort }));

  if (!view.installed) return refused(`IIS is not installed on ${store.host}; nothing listens on port ${defaultPort}`);
  if (view.w3svc !== 'Running') return refused(`World Wide Web Publishing Service (W3SVC) on ${store.host} is ${view.w3svc}`);

  const candidates = store.config.sites.flatMap((site) => site.bindings.filter((b) => b.protocol === req.scheme && bindingPort(b) === defaultPort).map((binding) => ({ site, binding })));
  if (!candidates.length) return refused(`no ${req.scheme} binding on port ${defaultPort} in applicationHost.config`);
  const match = candidates.find((c) => bindingHost(c.binding) !== '' && eq(bindingHost(c.binding), hostName)) ?? candidates.find((c) => bindingHost(c.binding) === '');

  let certificateThumbprint: string | undefined;
  if (req.scheme === 'https') {
    const binding = (match ?? candidates[0])?.binding;
    certificateThumbprint = binding?.certificateHash;
    if (req.clientTrustsCertificate === false) {
      return fail(
        failure('iis.certificateNotTrusted', 'curl: (60) SSL certificate problem: unable to get local issuer certificate', { certificateThumbprint, host: hostName }),
      );
    }
    const cert = view.certificates?.find((c) => certificateThumbprint !== undefined && normalizeThumbprint(c.thumbprint) === certificateThumbprint);
    if (view.certificates && !cert) {
      // http.sys has no certificate to present: the TLS handshake is reset.
      return fail(failure('iis.connectionRefused', `curl: (35) schannel: failed to receive handshake, SSL/TLS connection failed (${hostName}:443)`, { reason: `the certificate bound to ${describeBinding(binding ?? { protocol: 'https', bindingInformation: '*:443:' })} is not in LocalMachine\\My`, certificateThumbprint }));
    }
    if (cert) {
      // RFC 6125 / what curl, OpenSSL and Schannel do: the SAN when there is one, the CN only without it.
      const names = (cert.sans.length ? cert.sans : [cert.subjectCN]).filter((n) => n);
      if (!names.some((n) => hostMatches(n, hostName))) {
        return fail(
          failure('iis.certificateNameMismatch', `curl: (60) SSL: no alternative certificate subject name matches target host name '${hostName}'`, {
            certificateThumbprint,
            presented: names,
            host: hostName,
          }),
        );
      }
    }
  }
  const withCert = certificateThumbprint ? { certificateThumbprint } : {};

  /** http.sys's own 400 page, before any site sees the request. */
  const httpSys400 = (what: 'Hostname' | 'URL') =>
    ok({
      status: 400,
      subStatus: 0,
      statusText: 'Bad Request',
      headers: { 'Content-Type': 'text/html; charset=us-ascii', Server: 'Microsoft-HTTPAPI/2.0' },
      body: `<h2>Bad Request - Invalid ${what}</h2><hr><p>HTTP Error 400. The request ${what === 'URL' ? 'URL' : 'hostname'} is invalid.</p>`,
      ...withCert,
    });

  if (!match) return httpSys400('Hostname');
  const { site } = match;

  let urlPath: string;
  try {
    urlPath = decodeURIComponent((req.path.split('?')[0] ?? '/').replace(/\\/g, '/')) || '/';
  } catch {
    return httpSys400('URL');
  }
  const path = urlPath.startsWith('/') ? urlPath : `/${urlPath}`;
  const app = [...site.applications].sort((a, b) => b.path.length - a.path.length).find((a) => underPath(path, a.path === '/' ? '' : a.path));
  if (!app) return ok(errorResponse(404, 0, 'Not Found', '404 - File or directory not found.', 'The resource you are looking for might have been removed, had its name changed, or is temporarily unavailable.', { certificateThumbprint }));

  const pool = store.config.applicationPools.find((p) => eq(p.name, app.applicationPool));
  if (!pool || pool.state !== 'Started') {
    // http.sys answers for a stopped (or missing) application pool's queue.
    return ok({
      status: 503,
      subStatus: 0,
      statusText: 'Service Unavailable',
      headers: { 'Content-Type': 'text/html; charset=us-ascii', Server: 'Microsoft-HTTPAPI/2.0' },
      body: '<h2>Service Unavailable</h2><hr><p>HTTP Error 503. The service is unavailable.</p>',
      detail: `application pool ${app.applicationPool} is ${pool ? pool.state : 'missing'}`,
      ...withCert,
    });
  }

  const settings = effectiveSettings(store.config, site.name, path);
  if (req.scheme === 'http' && settings.sslFlags.startsWith('Ssl')) {
    return ok(
      errorResponse(403, 4, 'Forbidden', 'HTTP Error 403.4 - Forbidden: SSL required', 'The page you are trying to access is secured with Secure Sockets Layer (SSL).', {
        detail: `sslFlags="${settings.sslFlags}" at ${settings.location}`,
      }),
    );
  }

  const challenge = { 'WWW-Authenticate': ['Negotiate', 'NTLM'] };
  let authenticatedAs: string | undefined;
  const creds = req.credentials ?? 'anonymous';
  if (!settings.anonymousAuthentication.enabled) {
    const win = settings.windowsAuthentication;
    if (!win.enabled) {
      return ok(
        errorResponse(401, 2, 'Unauthorized', '401 - Unauthorized: Access is denied due to server configuration.', 'You are not authorized to view this page due to invalid authentication headers.', {
          ...withCert,
          detail: `no authentication method is enabled at ${settings.location}`,
        }),
      );
    }
    if (creds === 'anonymous') {
      return ok(
        errorResponse(401, 2, 'Unauthorized', '401 - Unauthorized: Access is denied due to invalid credentials.', 'You do not have permission to view this directory or page using the credentials that you supplied.', {
          headers: challenge,
          ...withCert,
          detail: `anonymous authentication is disabled at ${settings.location}; Windows authentication (Negotiate, NTLM) is required`,
        }),
      );
    }
    if (creds === 'kerberos') {
      const domainAccount = pool.identityType === 'SpecificUser';
      if (view.clockSkewed) {
        return ok(
          errorResponse(401, 1, 'Unauthorized', '401 - Unauthorized: Access is denied due to invalid credentials.', 'You do not have permission to view this directory or page using the credentials that you supplied.', {
            headers: { 'WWW-Authenticate': ['Negotiate', 'NTLM'] },
            ...withCert,
            detail: `Kerberos authenticator rejected (KRB_AP_ERR_SKEW): the clock on ${store.host.toUpperCase()} is more than 5 minutes off the client's. There is a time and/or date difference between the client and server.`,
          }),
        );
      }
      if (win.useKernelMode && domainAccount && !win.useAppPoolCredentials) {
        return ok(
          errorResponse(401, 1, 'Unauthorized', '401 - Unauthorized: Access is denied due to invalid credentials.', 'You do not have permission to view this directory or page using the credentials that you supplied.', {
            headers: { 'WWW-Authenticate': ['Negotiate', 'NTLM'] },
            ...withCert,
            detail:
              `Kerberos ticket could not be decrypted (KRB_AP_ERR_MODIFIED): kernel-mode authentication is on at ${settings.location}, so http.sys decrypts the ticket with the ${store.host.toUpperCase()}$ machine account, ` +
              `but application pool ${pool.name} runs as ${pool.userName ?? 'a domain account'} and useAppPoolCredentials is false. Turn kernel-mode authentication off or set useAppPoolCredentials="true".`,
          }),
        );
      }
      authenticatedAs = 'Kerberos';
    } else if (creds === 'ntlm') {
      authenticatedAs = 'NTLM';
    } else {
      authenticatedAs = creds.user;
    }
  }

  const relative = path.slice(app.path === '/' ? 1 : app.path.length).replace(/^\/+/, '');
  const files = store.files[app.path] ?? [];
  const auth = authenticatedAs ? { authenticatedAs } : {};
  if (relative === '') {
    const doc = files.find((f) => ['default.htm', 'default.asp', 'index.htm', 'index.html', 'iisstart.htm', 'default.aspx'].includes(f.name.toLowerCase()));
    if (!doc) {
      return ok(
        errorResponse(403, 14, 'Forbidden', '403 - Forbidden: Access is denied.', 'You do not have permission to view this directory or page using the credentials that you supplied.', {
          ...withCert,
          detail: `HTTP Error 403.14 - Forbidden: a default document is not configured and directory browsing is not enabled for ${settings.location}`,
        }),
      );
    }
    return ok({ status: 200, subStatus: 0, statusText: 'OK', headers: { 'Content-Type': contentType(doc.name), ...IIS_HEADERS }, body: req.method === 'HEAD' ? '' : doc.content, ...withCert, ...auth });
  }
  const file = files.find((f) => eq(f.name, relative));
  if (!file) {
    return ok(
      errorResponse(404, 0, 'Not Found', '404 - File or directory not found.', 'The resource you are looking for might have been removed, had its name changed, or is temporarily unavailable.', {
        ...withCert,
        detail: `${relative} is not in ${app.physicalPath}`,
      }),
    );
  }
  return ok({ status: 200, subStatus: 0, statusText: 'OK', headers: { 'Content-Type': contentType(file.name), ...IIS_HEADERS }, body: req.method === 'HEAD' ? '' : file.content, ...withCert, ...auth });
}
