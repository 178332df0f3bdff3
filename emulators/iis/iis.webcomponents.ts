/** What "Add Server to Pool" does to IIS: the OCS 2007 R2 Web Components, their prerequisites and folders. */
import { ok } from '../../sim/result.js';
import type { InstallWebComponentsParams } from './iis.events.js';
import { failure, noSuchSite, rejected, replaceSite, upsertLocation, type IisChange, type Outcome } from './iis.commands.js';
import {
  DEFAULT_SITE,
  IIS6_COMPAT_FEATURES,
  WINDOWS_AUTH_FEATURE,
  eq,
  findSite,
  hasFeature,
  type AppPool,
  type ApplicationHostConfig,
  type IisStore,
  type PublishedFile,
  type SslFlags,
  type WebComponentsInstall,
} from './iis.store.js';

// ---------------------------------------------------------------------------------------------------
// OCS 2007 R2 Web Components (ocs-facts §4 IIS)

/** The pool the OCS Web Components run in, as RTCComponentService (ocs-facts §2 service accounts, §6 AB). */
export const OCS_APP_POOL = 'LsGroupExpAppPool';
export const WEB_COMPONENTS_ROOT = 'C:\\Program Files\\Microsoft Office Communications Server 2007 R2\\Web Components';

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
