/**
 * Pure functions over a host's state: the service table, features, certificates. The machine calls
 * these; nothing here touches other actors or time.
 */
import { X509Certificate } from 'node:crypto';
import type { WindowsEventInput } from '../../sim/journal.js';
import { FEATURES, featureInfo, withParents } from './host.catalog.js';
import type { HostCertificate, ServiceState, ServiceStatus } from './host.events.js';

export interface HostState {
  host: string;
  power: 'on' | 'off';
  features: string[];
  services: ServiceStatus[];
  firewallEnabled: boolean;
  certificates: HostCertificate[];
  /** Last start error per service key, for SCM 7001 texts of dependants. */
  lastError: Record<string, string>;
}

export const findService = (services: readonly ServiceStatus[], name: string): ServiceStatus | undefined => {
  const n = name.toLowerCase();
  return services.find((s) => s.name.toLowerCase() === n || s.displayName.toLowerCase() === n);
};

export const setServiceState = (services: readonly ServiceStatus[], name: string, state: ServiceState): ServiceStatus[] =>
  services.map((s) => (s.name === name ? { ...s, state } : s));

export const updateService = (services: readonly ServiceStatus[], name: string, patch: Partial<ServiceStatus>): ServiceStatus[] =>
  services.map((s) => (s.name === name ? { ...s, ...patch } : s));

/** Services (not Running, not Disabled) that must start before `name`, dependencies first. */
export function startChain(services: readonly ServiceStatus[], name: string, seen = new Set<string>()): ServiceStatus[] {
  const s = findService(services, name);
  if (!s || seen.has(s.name)) return [];
  seen.add(s.name);
  const chain: ServiceStatus[] = [];
  for (const dep of s.dependsOn) chain.push(...startChain(services, dep, seen));
  if (s.state === 'Stopped') chain.push(s);
  return chain;
}

/** How long after the start request each service of the chain completes: dependencies first. */
export function startSchedule(services: readonly ServiceStatus[], chain: readonly ServiceStatus[]): Array<{ name: string; dueMs: number }> {
  const due = new Map<string, number>();
  for (const s of chain) {
    const depsDone = Math.max(0, ...s.dependsOn.map((d) => due.get(findService(services, d)?.name ?? d) ?? 0));
    due.set(s.name, depsDone + s.startMs);
  }
  return chain.map((s) => ({ name: s.name, dueMs: due.get(s.name) ?? s.startMs }));
}

/** Running services that depend (directly or not) on `name`: they stop first. */
export function dependants(services: readonly ServiceStatus[], name: string): ServiceStatus[] {
  const out: ServiceStatus[] = [];
  const visit = (n: string) => {
    for (const s of services) {
      if (s.dependsOn.some((d) => d.toLowerCase() === n.toLowerCase()) && !out.includes(s)) {
        visit(s.name);
        out.push(s);
      }
    }
  };
  visit(name);
  return out.filter((s) => s.state === 'Running' || s.state === 'Start Pending');
}

/** Features to add for a request (parents included), and the IDs that are not features. */
export function resolveFeatures(installed: readonly string[], requested: readonly string[]): { add: string[]; unknown: string[] } {
  const have = new Set(installed.map((f) => f.toLowerCase()));
  const add: string[] = [];
  const unknown: string[] = [];
  for (const id of requested) {
    if (!featureInfo(id)) {
      unknown.push(id);
      continue;
    }
    for (const f of withParents(id)) {
      if (!have.has(f.id.toLowerCase())) {
        have.add(f.id.toLowerCase());
        add.push(f.id);
      }
    }
  }
  return { add, unknown };
}

/** Features to remove: the requested ones and every role service under them. */
export function featuresToRemove(installed: readonly string[], requested: readonly string[]): string[] {
  const remove = new Set(requested.map((r) => featureInfo(r)?.id ?? r));
  let grew = true;
  while (grew) {
    grew = false;
    for (const f of FEATURES) if (f.parent && remove.has(f.parent) && !remove.has(f.id)) (remove.add(f.id), (grew = true));
  }
  return installed.filter((f) => remove.has(f));
}

export const hasFeature = (features: readonly string[], id: string) => features.some((f) => f.toLowerCase() === id.toLowerCase());

/** Reads a PEM certificate the way the Certificates snap-in shows it. */
export function certificateFromPem(certPem: string, keyId: string, friendlyName: string): HostCertificate {
  const x = new X509Certificate(certPem);
  const cn = (dn: string) => /(?:^|\n|,\s*)CN=([^\n,]+)/.exec(dn)?.[1] ?? '';
  const sans = (x.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  return {
    thumbprint: x.fingerprint.replace(/:/g, '').toUpperCase(),
    subject: x.subject.split('\n').reverse().join(', '),
    subjectCN: cn(x.subject),
    issuer: x.issuer.split('\n').reverse().join(', '),
    sans,
    notBefore: new Date(x.validFrom).toISOString(),
    notAfter: new Date(x.validTo).toISOString(),
    friendlyName,
    certPem,
    keyId,
  };
}

/** The System-log entries the Service Control Manager writes. */
export const scm = {
  source: 'Service Control Manager',
  stateChanged: (host: string, s: ServiceStatus, state: 'running' | 'stopped'): WindowsEventInput => ({
    host,
    log: 'System',
    source: 'Service Control Manager',
    eventId: 7036,
    level: 'Information',
    message: `The ${s.displayName} service entered the ${state} state.`,
  }),
  failedToStart: (host: string, s: ServiceStatus, error: string): WindowsEventInput => ({
    host,
    log: 'System',
    source: 'Service Control Manager',
    eventId: 7000,
    level: 'Error',
    message: `The ${s.displayName} service failed to start due to the following error: \n${error}`,
  }),
  dependencyFailed: (host: string, s: ServiceStatus, dep: ServiceStatus, error: string): WindowsEventInput => ({
    host,
    log: 'System',
    source: 'Service Control Manager',
    eventId: 7001,
    level: 'Error',
    message: `The ${s.displayName} service depends on the ${dep.displayName} service which failed to start because of the following error: \n${error}`,
  }),
  logonFailed: (host: string, s: ServiceStatus, error: string): WindowsEventInput => ({
    host,
    log: 'System',
    source: 'Service Control Manager',
    eventId: 7038,
    level: 'Error',
    message: `The ${s.name} service was unable to log on as ${s.logOnAs} with the currently configured password due to the following error: \n${error}\n\nTo ensure that the service is configured properly, use the Services snap-in in Microsoft Management Console (MMC).`,
  }),
  refused: (host: string, s: ServiceStatus, scmEventId: number, error: string): WindowsEventInput => {
    switch (scmEventId) {
      case 7024:
        return { host, log: 'System', source: 'Service Control Manager', eventId: 7024, level: 'Error', message: `The ${s.displayName} service terminated with service-specific error ${error}.` };
      case 7023:
        return { host, log: 'System', source: 'Service Control Manager', eventId: 7023, level: 'Error', message: `The ${s.displayName} service terminated with the following error: \n${error}` };
      case 7009:
        return { host, log: 'System', source: 'Service Control Manager', eventId: 7009, level: 'Error', message: `A timeout was reached (30000 milliseconds) while waiting for the ${s.displayName} service to connect.` };
      default:
        return scm.failedToStart(host, s, error);
    }
  },
  hung: (host: string, s: ServiceStatus): WindowsEventInput => ({
    host,
    log: 'System',
    source: 'Service Control Manager',
    eventId: 7022,
    level: 'Error',
    message: `The ${s.displayName} service hung on starting.`,
  }),
  startTypeChanged: (host: string, s: ServiceStatus, from: string, to: string): WindowsEventInput => ({
    host,
    log: 'System',
    source: 'Service Control Manager',
    eventId: 7040,
    level: 'Information',
    message: `The start type of the ${s.displayName} service was changed from ${startTypeWord(from)} to ${startTypeWord(to)}.`,
  }),
};

const startTypeWord = (t: string) => ({ Automatic: 'auto start', 'Automatic (Delayed Start)': 'auto start', Manual: 'demand start', Disabled: 'disabled' })[t] ?? t;

/** Is this logon account one the SCM must authenticate against the domain? */
export const isDomainAccount = (account: string, netbios: string) => account.toUpperCase().startsWith(`${netbios.toUpperCase()}\\`);
