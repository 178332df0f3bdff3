/**
 * The configuration commands of IIS 7.0 (what appcmd and IIS Manager change in applicationHost.config,
 * and files copied into a virtual directory), as pure functions: old store in, new store + result +
 * journal events out.
 */
import { fail, ok, type Result } from '../../sim/result.js';
import type { HostCertificate } from '../host/host.events.js';
import type {
  BindCertificateParams,
  IisEmitted,
  IisFailure,
  IisFailureKind,
  PublishFilesParams,
  RemoveBindingParams,
  SetAppPoolStateParams,
  SetWindowsAuthenticationParams,
} from './iis.events.js';
import {
  DEFAULT_SITE,
  bindingAddress,
  bindingIp,
  bindingPort,
  describeBinding,
  effectiveSettings,
  eq,
  findSite,
  normalizeThumbprint,
  splitLocation,
  type AppPool,
  type ApplicationHostConfig,
  type Binding,
  type EffectiveSettings,
  type IisStore,
  type LocationConfig,
  type Site,
  type WindowsAuthenticationSection,
} from './iis.store.js';

// ---------------------------------------------------------------------------------------------------
// Commands (pure: old store in, new store + result + journal events out)

export type IisChange = Exclude<IisEmitted, { type: 'iis.reply' }>;

export interface Outcome<T> {
  result: Result<T, IisFailure>;
  store: IisStore;
  events: IisChange[];
}

export const failure = (kind: IisFailureKind, message: string, details: Record<string, unknown> = {}): IisFailure => ({ kind, message, ...details });
export const rejected = <T>(store: IisStore, f: IisFailure): Outcome<T> => ({ result: fail(f), store, events: [] });

export function notInstalled(store: IisStore): IisFailure {
  return failure(
    'iis.notInstalled',
    `Internet Information Services (IIS) is not installed on ${store.host.toUpperCase()}. Add the Web Server (IIS) role (Web-Server) with Server Manager and then restart Setup.`,
    { host: store.host },
  );
}

export function noSuchSite(name: string): IisFailure {
  return failure('iis.noSuchSite', `ERROR ( message:Cannot find SITE object with identifier "${name}". )`, { site: name });
}

export function replaceSite(config: ApplicationHostConfig, site: Site): ApplicationHostConfig {
  return { ...config, sites: config.sites.map((s) => (s.id === site.id ? site : s)) };
}

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

export function upsertLocation(config: ApplicationHostConfig, path: string, change: (l: LocationConfig) => LocationConfig): ApplicationHostConfig {
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
