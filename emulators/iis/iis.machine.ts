/**
 * IIS 7.0 on one OCS front end.
 *
 *   boot ──(Web-Server installed)──▶ installed ◀──(Web-Server added)── notInstalled
 *                 └──────────────────────────────▶ notInstalled ◀──(Web-Server removed)──┘
 *   installed: running ⇄ stopped   (follows W3SVC, which the host runs and this machine owns)
 *
 * The configuration (applicationHost.config), the published files and the request decision live in
 * `iis.store.ts`; this machine routes commands to it and journals what changed.
 */
import { hostClockSkewed } from '../host/host.client.js';
import { enqueueActions, not, setup, type AnyActorRef } from 'xstate';
import { fail, ok } from '../../sim/result.js';
import { kernel, kernelActions } from '../../sim/machine.js';
import { hostId, type HostCertificate, type ServiceState, type ServiceStateReported } from '../host/host.events.js';
import type { IisCommand, IisEmitted, IisInput } from './iis.events.js';
import {
  bindCertificate,
  notInstalled,
  publishFiles,
  removeBinding,
  setAppPoolState,
  setWindowsAuthentication,
  type Outcome,
} from './iis.commands.js';
import { decideRequest } from './iis.requests.js';
import {
  addFeatures,
  defaultConfig,
  defaultFiles,
  initialStore,
  normalizeFeatures,
  removeFeatures,
  webServerInstalled,
  type IisStore,
} from './iis.store.js';
import { installOcsWebComponents } from './iis.webcomponents.js';

export const W3SVC = 'W3SVC';

/** The part of the actor system this machine uses: finding the host by systemId. */
export interface SystemLike {
  get(systemId: string): AnyActorRef | undefined;
}

export interface IisContext {
  store: IisStore;
  /** The W3SVC state the host last reported; null until it reports one. */
  w3svc: ServiceState | null;
}

/** The certificates in the host's LocalMachine\My; undefined when the lab has no host actor. */
export function hostCertificates(system: SystemLike | undefined, host: string): HostCertificate[] | undefined {
  const ref = system?.get(hostId(host)) as AnyActorRef | undefined;
  if (!ref) return undefined;
  const certs = (ref.getSnapshot() as { context?: { certificates?: unknown } }).context?.certificates;
  return Array.isArray(certs) ? (certs as HostCertificate[]) : undefined;
}

/** W3SVC's state as the host last told it; never told (a machine test with no host) counts as Running. */
export function w3svcState(heard: ServiceState | null): ServiceState {
  return heard ?? 'Running';
}

type ConfigCommand = Extract<
  IisCommand,
  { type: 'iis.installOcsWebComponents' | 'iis.bindCertificate' | 'iis.removeBinding' | 'iis.setWindowsAuthentication' | 'iis.setAppPoolState' | 'iis.publishFiles' }
>;

type RequestCommand = Extract<IisCommand, { type: 'iis.request' }>;

/** What IIS looks up on its host (LocalMachine\My, the clock) for a command, observed before it is decided. */
interface HostView {
  certificates: HostCertificate[] | undefined;
  clockSkewed: boolean;
}

type Observed = { type: 'iis.configureObserved'; command: ConfigCommand; host: HostView } | { type: 'iis.requestObserved'; command: RequestCommand; host: HostView };

type IisEvent = IisCommand | ServiceStateReported | Observed;

function observeHost(system: SystemLike, host: string): HostView {
  return { certificates: hostCertificates(system, host), clockSkewed: hostClockSkewed(system, host) };
}

export const iisMachine = setup({
  types: {
    context: {} as IisContext,
    input: {} as IisInput,
    events: {} as IisEvent,
    emitted: {} as IisEmitted,
  },
  guards: {
    webServerInstalled: ({ context }) => webServerInstalled(context.store),
    w3svcRunning: ({ context }) => (context.w3svc ?? 'Running') === 'Running',
  },
  actions: {
    ...kernelActions<IisContext, IisEvent, IisEmitted>(),
    /** Looks at the host's certificate store and clock for a command; reports back to self. */
    observeHost: ({ context, event, system, self }) => {
      const host = observeHost(system, context.store.host);
      if (event.type === 'iis.request') self.send({ type: 'iis.requestObserved', command: event, host });
      else self.send({ type: 'iis.configureObserved', command: event as ConfigCommand, host });
    },
    /** Feature lists from the host (deltas) or from the explicit command (the full list). */
    learnFeatures: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<IisContext, IisEvent, IisEmitted>(put);
      const { store } = context;
      if (event.type === 'iis.hostFeaturesChanged') {
        enqueue.assign({ store: { ...store, features: normalizeFeatures(event.features) } });
        enqueue.emit({ type: 'iis.reply', requestId: event.requestId, result: ok(undefined) });
      } else if (event.type === 'host.featuresInstalled' || event.type === 'host.featuresRemoved') {
        if (event.host.toLowerCase() !== store.host) return;
        const features = event.type === 'host.featuresInstalled' ? addFeatures(store.features, event.features) : removeFeatures(store.features, event.features);
        enqueue.assign({ store: { ...store, features } });
      }
    }),
    /** A fresh applicationHost.config, as the Web-Server role writes it. */
    announceInstalled: enqueueActions(({ context, enqueue: put }) => {
      const enqueue = kernel<IisContext, IisEvent, IisEmitted>(put);
      enqueue.assign({ store: { ...context.store, config: defaultConfig(), files: defaultFiles() }, w3svc: null });
      const store = context.store;
      enqueue.emit({
        type: 'iis.installed',
        host: store.host,
        features: store.features.filter((f) => f.toLowerCase().startsWith('web-')),
        summary: `Internet Information Services 7.0 installed on ${store.host}: Default Web Site (http *:80), DefaultAppPool`,
      });
    }),
    announceRemoved: enqueueActions(({ context, enqueue: put }) => {
      const enqueue = kernel<IisContext, IisEvent, IisEmitted>(put);
      const { webComponents: _dropped, ...rest } = context.store;
      enqueue.assign({ store: { ...rest, config: defaultConfig(), files: defaultFiles() }, w3svc: null });
      enqueue.emit({ type: 'iis.removed', host: context.store.host, summary: `Internet Information Services removed from ${context.store.host}` });
    }),
    refuseNotInstalled: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<IisContext, IisEvent, IisEmitted>(put);
      if (event.type === 'iis.request') {
        enqueue.emit({ type: 'iis.reply', requestId: event.requestId, result: decideRequest({ installed: false, w3svc: 'Stopped', store: context.store }, event) });
        return;
      }
      enqueue.emit({ type: 'iis.reply', requestId: (event as ConfigCommand).requestId, result: fail(notInstalled(context.store)) });
    }),
    configure: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<IisContext, IisEvent, IisEmitted>(put);
      if (event.type !== 'iis.configureObserved') return;
      const { command } = event;
      const r = apply(context.store, command, event.host);
      if (r.result.ok) {
        enqueue.assign({ store: r.store });
        for (const e of r.events) enqueue.emit(e);
      }
      enqueue.emit({ type: 'iis.reply', requestId: command.requestId, result: r.result });
    }),
    serve: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<IisContext, IisEvent, IisEmitted>(put);
      if (event.type !== 'iis.requestObserved') return;
      const view = { installed: true, w3svc: w3svcState(context.w3svc), store: context.store, certificates: event.host.certificates, clockSkewed: event.host.clockSkewed };
      enqueue.emit({ type: 'iis.reply', requestId: event.command.requestId, result: decideRequest(view, event.command) });
    }),
    allowStart: enqueueActions(({ event, enqueue: put }) => {
      const enqueue = kernel<IisContext, IisEvent, IisEmitted>(put);
      if (event.type !== 'host.serviceStarting') return;
      enqueue.emit({ type: 'iis.reply', requestId: event.requestId, result: ok(undefined) });
    }),
    learnService: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<IisContext, IisEvent, IisEmitted>(put);
      if (event.type !== 'host.serviceStateReported') return;
      if (event.host.toLowerCase() === context.store.host && event.service.toLowerCase() === W3SVC.toLowerCase()) enqueue.assign({ w3svc: event.state });
    }),
    followService: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<IisContext, IisEvent, IisEmitted>(put);
      if (event.type !== 'host.serviceStateChanged') return;
      if (event.host.toLowerCase() !== context.store.host || event.service.toLowerCase() !== W3SVC.toLowerCase()) return;
      enqueue.assign({ w3svc: event.to });
    }),
  },
}).createMachine({
  id: 'iis',
  context: ({ input }) => ({ store: initialStore(input), w3svc: null }),
  initial: 'boot',
  on: {
    'iis.hostFeaturesChanged': { actions: 'learnFeatures' },
    'host.featuresInstalled': { actions: 'learnFeatures' },
    'host.featuresRemoved': { actions: 'learnFeatures' },
    'host.serviceStarting': { actions: 'allowStart' },
    'host.serviceStateChanged': { actions: 'followService' },
    'host.serviceStateReported': { actions: 'learnService' },
  },
  states: {
    boot: {
      always: [{ guard: 'webServerInstalled', target: 'installed' }, { target: 'notInstalled' }],
    },
    notInstalled: {
      always: { guard: 'webServerInstalled', target: 'installed', actions: 'announceInstalled' },
      on: {
        'iis.installOcsWebComponents': { actions: 'refuseNotInstalled' },
        'iis.bindCertificate': { actions: 'refuseNotInstalled' },
        'iis.removeBinding': { actions: 'refuseNotInstalled' },
        'iis.setWindowsAuthentication': { actions: 'refuseNotInstalled' },
        'iis.setAppPoolState': { actions: 'refuseNotInstalled' },
        'iis.publishFiles': { actions: 'refuseNotInstalled' },
        'iis.request': { actions: 'refuseNotInstalled' },
      },
    },
    installed: {
      always: { guard: not('webServerInstalled'), target: 'notInstalled', actions: 'announceRemoved' },
      initial: 'running',
      on: {
        'iis.installOcsWebComponents': { actions: 'observeHost' },
        'iis.bindCertificate': { actions: 'observeHost' },
        'iis.removeBinding': { actions: 'observeHost' },
        'iis.setWindowsAuthentication': { actions: 'observeHost' },
        'iis.setAppPoolState': { actions: 'observeHost' },
        'iis.publishFiles': { actions: 'observeHost' },
        'iis.request': { actions: 'observeHost' },
        'iis.configureObserved': { actions: 'configure' },
        'iis.requestObserved': { actions: 'serve' },
      },
      states: {
        running: { always: { guard: not('w3svcRunning'), target: 'stopped' } },
        stopped: { always: { guard: 'w3svcRunning', target: 'running' } },
      },
    },
  },
});

function apply(store: IisStore, command: ConfigCommand, host: HostView): Outcome<unknown> {
  switch (command.type) {
    case 'iis.installOcsWebComponents':
      return installOcsWebComponents(store, command);
    case 'iis.bindCertificate':
      return bindCertificate(store, command, host.certificates);
    case 'iis.removeBinding':
      return removeBinding(store, command);
    case 'iis.setWindowsAuthentication':
      return setWindowsAuthentication(store, command);
    case 'iis.setAppPoolState':
      return setAppPoolState(store, command);
    case 'iis.publishFiles':
      return publishFiles(store, command);
  }
}
