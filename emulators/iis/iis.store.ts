/**
 * IIS 7.0 as applicationHost.config holds it (sites, bindings, application pools, <location> sections),
 * the installed Windows features and the files in each virtual directory: the data, and the pure queries
 * over it (effective settings at a path, bindings, virtual directories). What changes it is in
 * `iis.commands.ts` and `iis.webcomponents.ts`; what a request gets, in `iis.requests.ts`.
 */

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
// Lookups

export const eq = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

export function findSite(config: ApplicationHostConfig, name: string | undefined): Site | undefined {
  return config.sites.find((s) => eq(s.name, name ?? DEFAULT_SITE));
}

/** Thumbprints as MMC shows them ("3f 2a 9c ...", often with an invisible U+200E in front) → "3F2A9C...". */
export function normalizeThumbprint(thumbprint: string): string {
  return thumbprint.replace(/[^0-9a-f]/gi, '').toUpperCase();
}

export const bindingPort = (b: Binding): number => Number(b.bindingInformation.split(':')[1] ?? '0');
export const bindingIp = (b: Binding): string => b.bindingInformation.split(':')[0] ?? '*';
export const bindingHost = (b: Binding): string => b.bindingInformation.split(':').slice(2).join(':');

export function describeBinding(b: Binding): string {
  const host = bindingHost(b);
  return `${b.protocol} ${bindingIp(b)}:${bindingPort(b)}${host ? `:${host}` : ''}`;
}

/** IIS Manager's "All Unassigned" is "*" in applicationHost.config. */
export const bindingAddress = (ip: string | undefined): string => (!ip || /^all unassigned$/i.test(ip.trim()) ? '*' : ip.trim());

/** "Default Web Site", "Default Web Site/Abs/Int/Handler/" → site name and URL path ("" for the site). */
export function splitLocation(location: string): { site: string; path: string } {
  const trimmed = location.replace(/\\/g, '/').replace(/\/+$/, '');
  const slash = trimmed.indexOf('/');
  return slash < 0 ? { site: trimmed, path: '' } : { site: trimmed.slice(0, slash), path: trimmed.slice(slash) };
}

// ---------------------------------------------------------------------------------------------------
// Effective configuration (location inheritance)

export interface EffectiveSettings {
  location: string;
  windowsAuthentication: Required<WindowsAuthenticationSection>;
  anonymousAuthentication: { enabled: boolean };
  sslFlags: SslFlags;
}

export function underPath(urlPath: string, prefix: string): boolean {
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
