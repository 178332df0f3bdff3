/**
 * A Windows Server 2008 x64 host: power, Windows features, the Service Control Manager (start types,
 * logon accounts, dependencies, Start Pending → Running on the simulated clock), the Windows Firewall
 * and the LocalMachine\My certificate store. SCM behaviour follows the real one: dependencies start
 * first, a domain logon account is authenticated when the service process starts (7038 + 7000 on
 * failure), every state change is event 7036, and the owning component may refuse a start (7000/7024).
 */
import { enqueueActions, setup, type AnyActorRef } from 'xstate';
import { request } from '../../sim/emulator.js';
import { kernel, kernelActions, type Kernel } from '../../sim/machine.js';
import { fail, ok, type Failure, type Result } from '../../sim/result.js';
import type { WindowsEventInput } from '../../sim/journal.js';
import { featureInfo, WIN32 } from './host.catalog.js';
import type { HostCommand, HostEmitted, HostInput, HostCertificate, FirewallRule, ServiceStatus, StartRefusal } from './host.events.js';
import {
  certificateFromPem,
  dependants,
  featuresToRemove,
  findService,
  isDomainAccount,
  resolveFeatures,
  scm,
  setServiceState,
  startChain,
  startSchedule,
  updateService,
} from './host.store.js';

export interface HostContext extends Omit<HostInput, 'env'> {
  host: string;
  power: 'on' | 'off';
  lastError: Record<string, string>;
  /** How far this host's system clock is from true time (ms; positive = ahead). */
  clockOffsetMs: number;
  /** The boot-time startup hang (see `host.setBootHang`), if this host has it. */
  bootHang?: { owner: string; delayMs: number };
}

/** Kerberos' default maximum tolerance for computer clock synchronization (5 minutes). */
export const KERBEROS_MAX_SKEW_MS = 5 * 60_000;
/** How long the Windows Server 2008 startup hang holds services in Start Pending (Schertz: 10–15 minutes). */
export const BOOT_HANG_MS = 12 * 60_000;

/** The clock offset of the domain's time source: the host of the first available DC (0 when unknown). */
export function domainClockOffset(system: { get(id: string): AnyActorRef | undefined }): number | undefined {
  const ad = system.get('ad');
  const dcs = (ad?.getSnapshot() as { context?: { forest?: { dcs?: Array<{ name: string; available: boolean }> } } } | undefined)?.context?.forest?.dcs;
  if (!Array.isArray(dcs)) return 0;
  const dc = dcs.find((d) => d.available);
  if (!dc) return undefined;
  const ctx = (system.get(`host:${dc.name.toLowerCase()}`)?.getSnapshot() as { context?: { clockOffsetMs?: number } } | undefined)?.context;
  return ctx?.clockOffsetMs ?? 0;
}

/** How far this host's clock is from the domain's (absolute ms); 0 when no DC can be asked. */
export function skewFromDomain(system: { get(id: string): AnyActorRef | undefined }, clockOffsetMs: number): number {
  return Math.abs(clockOffsetMs - (domainClockOffset(system) ?? clockOffsetMs));
}

type Internal =
  | { type: 'lab.started' }
  | { type: 'host.timeSourceObserved'; requestId?: string; dcOffset: number | undefined; source: string }
  | { type: 'host.serviceStartDue'; name: string }
  | { type: 'host.serviceStopDue'; name: string }
  | { type: 'host.serviceStartResolved'; name: string; refusal?: StartRefusal; logonError?: string }
  | { type: 'host.serviceHung'; name: string };

type HostEvent = HostCommand | Internal;

type HostKernel = Kernel<HostContext, HostEvent, HostEmitted>;

/**
 * The kernel actions of a resolver, where an emitted event that names components in `notify` (a
 * service's owner) is also told to each of them, right after it is emitted.
 */
function k(enqueue: unknown): HostKernel {
  const base = kernel<HostContext, HostEvent, HostEmitted>(enqueue);
  return {
    ...base,
    emit: (event) => {
      base.emit(event);
      const notify = (event as { notify?: unknown }).notify;
      if (Array.isArray(notify)) for (const to of notify) base.tell(String(to), event);
    },
  };
}

/**
 * Tells the owner of each service its state, silently (nothing is journalled): at start, and when a
 * feature or Setup installs an owned service. Owners then know their service's state from messages alone.
 */
function reportOwned(enqueue: HostKernel, host: string, services: readonly ServiceStatus[]): void {
  for (const s of services) if (s.owner) enqueue.tell(s.owner, { type: 'host.serviceStateReported', host, service: s.name, state: s.state });
}

const STOP_MS = 2000;

/** What a failed start leaves behind: its SCM error text for dependants. */
function refusalText(r: StartRefusal): string {
  return r.error;
}

/** Authenticates a service's domain logon account against AD when the service process starts. */
function logonError(system: { get(id: string): AnyActorRef | undefined }, account: string, password: string | undefined): string | undefined {
  const ad = system.get('ad');
  if (!ad) return undefined;
  const r: Result<unknown> = request(ad, 'ad.reply', { type: 'ad.authenticate', name: account, password: password ?? '' });
  if (r.ok) return undefined;
  switch (r.failure.kind) {
    case 'ad.passwordExpired':
      return WIN32.passwordExpired.text;
    case 'ad.accountDisabled':
      return WIN32.accountDisabled.text;
    case 'ad.unavailable':
      return WIN32.noLogonServers.text;
    default:
      return WIN32.badPassword.text;
  }
}

const failure = (kind: Failure['kind'], message: string, extra: Record<string, unknown> = {}): Result<never> => fail({ kind, message, ...extra });

export const hostMachine = setup({
  types: {
    context: {} as HostContext,
    input: {} as HostInput,
    events: {} as HostEvent,
    emitted: {} as HostEmitted,
  },
  actions: {
    ...kernelActions<HostContext, HostEvent, HostEmitted>(),
    reportServices: enqueueActions(({ context, enqueue }) => reportOwned(k(enqueue), context.host, context.services)),
    /** What w32tm asks the domain hierarchy: the DC's clock and name. Reports back to self. */
    observeTimeSource: ({ event, system, self }) => {
      if (event.type !== 'host.syncTime') return;
      self.send({ type: 'host.timeSourceObserved', ...(event.requestId !== undefined ? { requestId: event.requestId } : {}), dcOffset: domainClockOffset(system), source: timeSource(system) });
    },
    /** Runs when a start completes its pending time: logon, then the owner's say. Reports back to self. */
    probeStart: ({ context, event, system, self }) => {
      if (event.type !== 'host.serviceStartDue') return;
      const s = findService(context.services, event.name);
      if (!s || s.state !== 'Start Pending' || context.power !== 'on') return;
      if (isDomainAccount(s.logOnAs, context.netbios)) {
        // Kerberos first: a clock more than 5 minutes off the DC's gets no ticket (KRB_AP_ERR_SKEW).
        const skewed = system.get('ad') && domainClockOffset(system) !== undefined && skewFromDomain(system, context.clockOffsetMs) > KERBEROS_MAX_SKEW_MS;
        const err = skewed ? WIN32.timeSkew.text : logonError(system, s.logOnAs, s.password);
        if (err) {
          self.send({ type: 'host.serviceStartResolved', name: s.name, logonError: err });
          return;
        }
      }
      if (s.owner) {
        const owner = system.get(s.owner);
        if (owner) {
          const r = request<unknown>(owner, `${s.owner.split(':')[0]}.reply` as `${string}.reply`, { type: 'host.serviceStarting', host: context.host, service: s.name });
          if (!r.ok) {
            const refusal = (r.failure as Failure & { refusal?: StartRefusal }).refusal ?? { scmEventId: 7000, error: r.failure.message, events: [] };
            self.send({ type: 'host.serviceStartResolved', name: s.name, refusal });
            return;
          }
        }
      }
      self.send({ type: 'host.serviceStartResolved', name: s.name });
    },
  },
}).createMachine({
  id: 'host',
  context: ({ input: { env: _env, ...input } }) => ({ ...input, host: input.spec.name, power: 'on', lastError: {}, clockOffsetMs: 0 }),
  initial: 'on',
  on: { 'lab.started': { actions: 'reportServices' } },
  states: {
    on: {
      on: {
        'host.installFeatures': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const { add, unknown } = resolveFeatures(context.features, event.features);
            if (unknown.length) {
              reply(enqueue, event.requestId, failure('host.unknownFeature', `Error: The role, role service, or feature '${unknown[0]}' could not be found.`, { unknown }));
              return;
            }
            const services = add.flatMap((id) => featureInfo(id)?.services?.(context.host) ?? []).filter((s) => !findService(context.services, s.name));
            enqueue.assign({ features: [...context.features, ...add], services: [...context.services, ...services] });
            if (add.length) {
              const names = add.map((id) => featureInfo(id)?.displayName ?? id);
              enqueue.emit({
                type: 'host.featuresInstalled',
                host: context.host,
                features: add,
                summary: `${context.host}: installed ${names.join(', ')}`,
                notify: owners([...context.services, ...services]),
              });
              for (const s of services) enqueue.emit({ type: 'host.serviceInstalled', host: context.host, service: s.name, displayName: s.displayName, summary: `${context.host}: service ${s.name} (${s.displayName}) installed` });
              reportOwned(enqueue, context.host, services);
            }
            reply(enqueue, event.requestId, ok({ installed: add }));
          }),
        },
        'host.removeFeatures': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const remove = featuresToRemove(context.features, event.features);
            const removedServices = new Set(remove.flatMap((id) => featureInfo(id)?.services?.(context.host) ?? []).map((s) => s.name));
            enqueue.assign({ features: context.features.filter((f) => !remove.includes(f)), services: context.services.filter((s) => !removedServices.has(s.name)) });
            if (remove.length) {
              enqueue.emit({ type: 'host.featuresRemoved', host: context.host, features: remove, summary: `${context.host}: removed ${remove.join(', ')}`, notify: owners(context.services) });
            }
            reply(enqueue, event.requestId, ok({ removed: remove }));
          }),
        },
        'host.installService': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const existing = findService(context.services, event.service.name);
            const status: ServiceStatus = { ...event.service, state: existing?.state ?? 'Stopped', ...(event.password !== undefined ? { password: event.password } : {}) };
            enqueue.assign({ services: existing ? updateService(context.services, existing.name, status) : [...context.services, status] });
            enqueue.emit({
              type: 'host.serviceInstalled',
              host: context.host,
              service: status.name,
              displayName: status.displayName,
              summary: `${context.host}: service ${status.name} (${status.displayName}) installed, ${status.startupType}, log on as ${status.logOnAs}`,
            });
            reportOwned(enqueue, context.host, [status]);
            reply(enqueue, event.requestId, ok({ name: status.name }));
          }),
        },
        'host.startService': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const s = findService(context.services, event.name);
            if (!s) return reply(enqueue, event.requestId, failure('host.noSuchService', WIN32.serviceDoesNotExist.text, { code: WIN32.serviceDoesNotExist.code }));
            if (s.startupType === 'Disabled') return reply(enqueue, event.requestId, failure('host.serviceDisabled', WIN32.serviceDisabled.text, { code: WIN32.serviceDisabled.code }));
            if (s.state === 'Running' || s.state === 'Start Pending') return reply(enqueue, event.requestId, failure('host.serviceAlreadyRunning', WIN32.alreadyRunning.text, { code: WIN32.alreadyRunning.code }));
            const chain = startChain(context.services, s.name);
            const disabledDep = chain.find((c) => c.startupType === 'Disabled');
            if (disabledDep) return reply(enqueue, event.requestId, failure('host.dependencyFailed', WIN32.dependencyFailed.text, { code: WIN32.dependencyFailed.code, dependency: disabledDep.name }));
            enqueue.assign({ services: beginStarts(enqueue, context, chain) });
            reply(enqueue, event.requestId, ok({ state: 'Start Pending' }));
          }),
        },
        'host.serviceStartDue': { actions: 'probeStart' },
        'host.serviceHung': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const s = findService(context.services, event.name);
            if (!s || s.state !== 'Start Pending') return;
            enqueue.emit({ type: 'eventlog.write', entry: scm.hung(context.host, s) });
          }),
        },
        'host.setClockOffset': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            enqueue.assign({ clockOffsetMs: event.offsetMs });
            enqueue.emit({ type: 'host.clockChanged', host: context.host, offsetMs: event.offsetMs, summary: `${context.host}: system clock ${formatOffset(event.offsetMs)} from true time` });
            reply(enqueue, event.requestId, ok({ offsetMs: event.offsetMs }));
          }),
        },
        'host.syncTime': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const w32time = findService(context.services, 'W32Time');
            if (!w32time || w32time.state !== 'Running') return reply(enqueue, event.requestId, failure('host.serviceNotActive', `The following error occurred: ${WIN32.serviceNotStarted.text}`, { code: WIN32.serviceNotStarted.code }));
            put('observeTimeSource');
          }),
        },
        'host.timeSourceObserved': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const dcOffset = event.dcOffset;
            if (dcOffset === undefined) return reply(enqueue, event.requestId, failure('host.noTimeData', 'The computer did not resync because no time data was available.'));
            if (context.clockOffsetMs !== dcOffset) {
              enqueue.assign({ clockOffsetMs: dcOffset });
              enqueue.emit({ type: 'host.clockChanged', host: context.host, offsetMs: dcOffset, summary: `${context.host}: system clock synchronized with the domain hierarchy` });
            }
            enqueue.emit({
              type: 'eventlog.write',
              entry: { host: context.host, log: 'System', source: 'Microsoft-Windows-Time-Service', eventId: 35, level: 'Information', message: `The time service is now synchronizing the system time with the time source ${event.source}.` },
            });
            reply(enqueue, event.requestId, ok({ offsetMs: dcOffset }));
          }),
        },
        'host.setBootHang': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            if (event.owner === null) enqueue.assign({ bootHang: undefined });
            else enqueue.assign({ bootHang: { owner: event.owner, delayMs: event.delayMs ?? BOOT_HANG_MS } });
            enqueue.emit({ type: 'host.bootConditionChanged', host: context.host, summary: `${context.host}: boot condition ${event.owner === null ? 'cleared' : `set for services of ${event.owner}`}` });
            reply(enqueue, event.requestId, ok({}));
          }),
        },
        'host.serviceStartResolved': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const s = findService(context.services, event.name);
            if (!s || s.state !== 'Start Pending') return;
            const brokenDep = s.dependsOn.map((d) => findService(context.services, d)).find((d) => d && d.state !== 'Running');
            const host = context.host;
            const entries: WindowsEventInput[] = [];
            let error: string | undefined;
            if (brokenDep) {
              error = context.lastError[brokenDep.name] ?? WIN32.dependencyFailed.text;
              entries.push(scm.dependencyFailed(host, s, brokenDep, error));
              error = WIN32.dependencyFailed.text;
            } else if (event.logonError) {
              entries.push(scm.logonFailed(host, s, event.logonError), scm.failedToStart(host, s, WIN32.logonFailure.text));
              error = WIN32.logonFailure.text;
            } else if (event.refusal) {
              entries.push(...event.refusal.events, scm.refused(host, s, event.refusal.scmEventId, event.refusal.error));
              error = refusalText(event.refusal);
            }
            if (error !== undefined) {
              enqueue.assign({ services: setServiceState(context.services, s.name, 'Stopped'), lastError: { ...context.lastError, [s.name]: error } });
              enqueue.emit(stateChanged(host, s, 'Start Pending', 'Stopped', `${host}: ${s.displayName} failed to start: ${error.split('\n')[0]}`));
              for (const entry of entries) enqueue.emit({ type: 'eventlog.write', entry });
              return;
            }
            enqueue.assign({ services: setServiceState(context.services, s.name, 'Running') });
            enqueue.emit(stateChanged(host, s, 'Start Pending', 'Running'));
            enqueue.emit({ type: 'eventlog.write', entry: scm.stateChanged(host, s, 'running') });
          }),
        },
        'host.stopService': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const s = findService(context.services, event.name);
            if (!s) return reply(enqueue, event.requestId, failure('host.noSuchService', WIN32.serviceDoesNotExist.text, { code: WIN32.serviceDoesNotExist.code }));
            if (s.state === 'Stopped' || s.state === 'Stop Pending') return reply(enqueue, event.requestId, failure('host.serviceNotActive', WIN32.notActive.text, { code: WIN32.notActive.code }));
            let services = context.services;
            for (const d of [...dependants(context.services, s.name), s]) {
              enqueue.cancel(`start:${d.name}`);
              enqueue.cancel(`hung:${d.name}`);
              services = setServiceState(services, d.name, 'Stop Pending');
              enqueue.emit(stateChanged(context.host, d, d.state, 'Stop Pending'));
              enqueue.schedule({ type: 'host.serviceStopDue', name: d.name }, STOP_MS, `stop:${d.name}`);
            }
            enqueue.assign({ services });
            reply(enqueue, event.requestId, ok({ state: 'Stop Pending' }));
          }),
        },
        'host.serviceStopDue': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const s = findService(context.services, event.name);
            if (!s || s.state !== 'Stop Pending') return;
            enqueue.assign({ services: setServiceState(context.services, s.name, 'Stopped') });
            enqueue.emit(stateChanged(context.host, s, 'Stop Pending', 'Stopped'));
            enqueue.emit({ type: 'eventlog.write', entry: scm.stateChanged(context.host, s, 'stopped') });
          }),
        },
        'host.serviceTerminated': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const s = findService(context.services, event.name);
            if (!s || s.state === 'Stopped') return;
            enqueue.assign({ services: setServiceState(context.services, s.name, 'Stopped'), lastError: { ...context.lastError, [s.name]: event.refusal.error } });
            enqueue.emit(stateChanged(context.host, s, s.state, 'Stopped', `${context.host}: ${s.displayName} terminated: ${event.refusal.error}`));
            for (const entry of [...event.refusal.events, scm.refused(context.host, s, event.refusal.scmEventId, event.refusal.error)]) enqueue.emit({ type: 'eventlog.write', entry });
          }),
        },
        'host.setStartupType': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const s = findService(context.services, event.name);
            if (!s) return reply(enqueue, event.requestId, failure('host.noSuchService', WIN32.serviceDoesNotExist.text, { code: WIN32.serviceDoesNotExist.code }));
            if (s.startupType === event.startupType) return reply(enqueue, event.requestId, ok({ startupType: s.startupType }));
            enqueue.assign({ services: updateService(context.services, s.name, { startupType: event.startupType }) });
            enqueue.emit({ type: 'host.serviceConfigChanged', host: context.host, service: s.name, summary: `${context.host}: ${s.displayName} startup type ${s.startupType} → ${event.startupType}` });
            enqueue.emit({ type: 'eventlog.write', entry: scm.startTypeChanged(context.host, s, s.startupType, event.startupType) });
            reply(enqueue, event.requestId, ok({ startupType: event.startupType }));
          }),
        },
        'host.setServiceLogon': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const s = findService(context.services, event.name);
            if (!s) return reply(enqueue, event.requestId, failure('host.noSuchService', WIN32.serviceDoesNotExist.text, { code: WIN32.serviceDoesNotExist.code }));
            enqueue.assign({ services: updateService(context.services, s.name, { logOnAs: event.account, password: event.password }) });
            enqueue.emit({ type: 'host.serviceConfigChanged', host: context.host, service: s.name, summary: `${context.host}: ${s.displayName} now logs on as ${event.account}` });
            reply(enqueue, event.requestId, ok({ account: event.account }));
          }),
        },
        'host.addServiceDependency': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const s = findService(context.services, event.name);
            const dep = findService(context.services, event.dependsOn);
            if (!s || !dep) return reply(enqueue, event.requestId, failure('host.noSuchService', WIN32.serviceDoesNotExist.text, { code: WIN32.serviceDoesNotExist.code }));
            if (!s.dependsOn.includes(dep.name)) {
              enqueue.assign({ services: updateService(context.services, s.name, { dependsOn: [...s.dependsOn, dep.name] }) });
              enqueue.emit({ type: 'host.serviceConfigChanged', host: context.host, service: s.name, summary: `${context.host}: ${s.name} now depends on ${dep.name}` });
            }
            reply(enqueue, event.requestId, ok({ dependsOn: [...s.dependsOn, dep.name] }));
          }),
        },
        'host.setFirewall': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            if (context.firewallEnabled !== event.enabled) {
              enqueue.assign({ firewallEnabled: event.enabled });
              enqueue.emit({ type: 'host.firewallChanged', host: context.host, enabled: event.enabled, summary: `${context.host}: Windows Firewall ${event.enabled ? 'on' : 'off'}` });
            }
            reply(enqueue, event.requestId, ok({ enabled: event.enabled }));
          }),
        },
        'host.addFirewallRules': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const fresh = event.rules.filter((r) => !context.firewallRules.some((x: FirewallRule) => x.name === r.name));
            enqueue.assign({ firewallRules: [...context.firewallRules, ...fresh] });
            if (fresh.length) enqueue.emit({ type: 'host.firewallRulesAdded', host: context.host, rules: fresh.map((r) => r.name), summary: `${context.host}: firewall exceptions ${fresh.map((r) => `${r.name} (${r.protocol} ${r.port})`).join(', ')}` });
            reply(enqueue, event.requestId, ok({ added: fresh.length }));
          }),
        },
        'host.importCertificate': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            let cert: HostCertificate;
            try {
              cert = certificateFromPem(event.certPem, event.keyId, event.friendlyName);
            } catch {
              return reply(enqueue, event.requestId, failure('host.badCertificate', 'Cannot find the certificate request associated with this certificate file. A certificate request must be completed on the computer where the request was created.'));
            }
            enqueue.assign({ certificates: [...context.certificates.filter((c) => c.thumbprint !== cert.thumbprint), cert] });
            enqueue.emit({ type: 'host.certificateImported', host: context.host, thumbprint: cert.thumbprint, subject: cert.subject, summary: `${context.host}: certificate ${cert.subjectCN} (${cert.thumbprint}) in LocalMachine\\My` });
            reply(enqueue, event.requestId, ok({ thumbprint: cert.thumbprint }));
          }),
        },
        'host.removeCertificate': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const present = context.certificates.some((c) => c.thumbprint === event.thumbprint.toUpperCase());
            enqueue.assign({ certificates: context.certificates.filter((c) => c.thumbprint !== event.thumbprint.toUpperCase()) });
            if (present) enqueue.emit({ type: 'host.certificateRemoved', host: context.host, thumbprint: event.thumbprint, summary: `${context.host}: certificate ${event.thumbprint} removed` });
            reply(enqueue, event.requestId, present ? ok({}) : failure('host.noSuchCertificate', `Cannot find object or property. (thumbprint ${event.thumbprint})`));
          }),
        },
        'host.shutdown': {
          target: 'off',
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            for (const s of context.services) {
              enqueue.cancel(`start:${s.name}`);
              enqueue.cancel(`hung:${s.name}`);
              enqueue.cancel(`stop:${s.name}`);
              if (s.state !== 'Stopped') enqueue.emit(stateChanged(context.host, s, s.state, 'Stopped', undefined, true));
            }
            enqueue.emit({ type: 'eventlog.write', entry: { host: context.host, log: 'System', source: 'EventLog', eventId: 6006, level: 'Information', message: 'The Event log service was stopped.' } });
            enqueue.assign({ power: 'off', services: context.services.map((s) => ({ ...s, state: 'Stopped' as const })) });
            enqueue.emit({ type: 'host.powerChanged', host: context.host, power: 'off', summary: `${context.host} shut down` });
            reply(enqueue, event.requestId, ok({ power: 'off' }));
          }),
        },
        'host.boot': { actions: enqueueActions(({ event, enqueue }) => reply(k(enqueue), event.requestId, ok({ power: 'on' }))) },
      },
    },
    off: {
      on: {
        'host.boot': {
          target: 'on',
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            enqueue.emit({ type: 'eventlog.write', entry: { host: context.host, log: 'System', source: 'EventLog', eventId: 6009, level: 'Information', message: 'Microsoft (R) Windows (R) 6.00. 6002 Service Pack 2 Multiprocessor Free.' } });
            enqueue.emit({ type: 'eventlog.write', entry: { host: context.host, log: 'System', source: 'EventLog', eventId: 6005, level: 'Information', message: 'The Event log service was started.' } });
            enqueue.emit({ type: 'host.powerChanged', host: context.host, power: 'on', summary: `${context.host} started` });
            // Automatic services start in dependency order, each after its start time.
            const chain: ServiceStatus[] = [];
            const seen = new Set<string>();
            for (const s of context.services) {
              if (s.startupType === 'Automatic' || s.startupType === 'Automatic (Delayed Start)') chain.push(...startChain(context.services, s.name, seen));
            }
            enqueue.assign({ power: 'on', services: beginStarts(enqueue, context, chain, bootHangs(context)) });
            reply(enqueue, event.requestId, ok({ power: 'on' }));
          }),
        },
        '*': {
          actions: enqueueActions(({ context, event, enqueue: put }) => {
            const enqueue = k(put);
            const requestId = (event as { requestId?: string }).requestId;
            if (event.type.startsWith('host.')) {
              reply(enqueue, requestId, failure('host.unreachable', `${context.spec.fqdn}: ${WIN32.hostDown.text}`, { code: WIN32.hostDown.code }));
            }
          }),
        },
      },
    },
  },
});

type Enqueue = Pick<HostKernel, 'emit'>;

/**
 * Puts a start chain into Start Pending and schedules each completion; returns the new service table.
 * `hang` (at boot only): services that sit in Start Pending that much longer (SCM logs 7022 when their
 * ordinary start time is up).
 */
function beginStarts(
  enqueue: HostKernel,
  context: HostContext,
  chain: readonly ServiceStatus[],
  hang?: { services: ReadonlySet<string>; delayMs: number },
): ServiceStatus[] {
  let services = context.services;
  for (const step of startSchedule(context.services, chain)) {
    const svc = findService(services, step.name);
    if (!svc) continue;
    services = setServiceState(services, svc.name, 'Start Pending');
    enqueue.emit(stateChanged(context.host, svc, 'Stopped', 'Start Pending'));
    const hung = hang?.services.has(svc.name) ?? false;
    if (hung) enqueue.schedule({ type: 'host.serviceHung', name: svc.name }, step.dueMs, `hung:${svc.name}`);
    enqueue.schedule({ type: 'host.serviceStartDue', name: svc.name }, step.dueMs + (hung ? (hang?.delayMs ?? 0) : 0), `start:${svc.name}`);
  }
  return services;
}

/**
 * Which services hang at this boot: with the boot condition set, the services of its owner, unless the
 * PSS workaround is in place (one of them depends on wmiApSrv, and wmiApSrv is Automatic).
 */
function bootHangs(context: HostContext): { services: ReadonlySet<string>; delayMs: number } | undefined {
  const cond = context.bootHang;
  if (!cond) return undefined;
  const owned = context.services.filter((s) => s.owner === cond.owner);
  const wmiApSrv = findService(context.services, 'wmiApSrv');
  const workaround = wmiApSrv?.startupType === 'Automatic' && owned.some((s) => dependsOn(context.services, s.name, 'wmiApSrv'));
  if (workaround || owned.length === 0) return undefined;
  return { services: new Set(owned.map((s) => s.name)), delayMs: cond.delayMs };
}

/** Whether `name` depends, directly or through other services, on `target`. */
function dependsOn(services: readonly ServiceStatus[], name: string, target: string, seen = new Set<string>()): boolean {
  const s = findService(services, name);
  if (!s || seen.has(s.name)) return false;
  seen.add(s.name);
  return s.dependsOn.some((d) => d.toLowerCase() === target.toLowerCase() || dependsOn(services, d, target, seen));
}

function formatOffset(ms: number): string {
  const abs = Math.abs(ms);
  const text = abs >= 60_000 ? `${Math.round(abs / 60_000)} min` : `${Math.round(abs / 1000)} s`;
  return `${text} ${ms >= 0 ? 'ahead' : 'behind'}`;
}

/** The DC the Windows Time service synchronizes from (w32tm's "time source"). */
function timeSource(system: { get(id: string): AnyActorRef | undefined }): string {
  const dcs = (system.get('ad')?.getSnapshot() as { context?: { forest?: { dcs?: Array<{ fqdn: string; available: boolean }> } } } | undefined)?.context?.forest?.dcs;
  const dc = Array.isArray(dcs) ? dcs.find((d) => d.available) : undefined;
  return dc ? `${dc.fqdn} (ntp.d|0.0.0.0:123->${dc.fqdn}:123)` : 'Local CMOS Clock';
}

function reply(enqueue: Enqueue, requestId: string | undefined, result: Result<unknown>): void {
  if (requestId !== undefined) enqueue.emit({ type: 'host.reply', requestId, result });
}

function stateChanged(host: string, s: ServiceStatus, from: ServiceStatus['state'], to: ServiceStatus['state'], summary?: string, quiet = false): HostEmitted {
  const notify = s.owner ? { notify: [s.owner] } : {};
  const line = summary ?? (quiet || (to !== 'Running' && to !== 'Stopped') ? undefined : `${host}: ${s.displayName} (${s.name}) ${to}`);
  return { type: 'host.serviceStateChanged', host, service: s.name, displayName: s.displayName, from, to, ...notify, ...(line ? { summary: line } : {}) };
}

function owners(services: readonly ServiceStatus[]): string[] {
  return [...new Set(services.flatMap((s) => (s.owner ? [s.owner] : [])))];
}

