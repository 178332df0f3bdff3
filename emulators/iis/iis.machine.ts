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
import type { LabEnv } from '../../sim/emulator.js';
import { hostId, type HostCertificate, type ServiceState, type ServiceStatus } from '../host/host.events.js';
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
  env: LabEnv;
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

/**
 * W3SVC's state: what the host last said, otherwise what the host's snapshot shows; no host actor (a
 * machine test) counts as Running once IIS is installed.
 */
export function w3svcState(system: SystemLike | undefined, host: string, heard: ServiceState | null): ServiceState {
  if (heard) return heard;
  const ref = system?.get(hostId(host)) as AnyActorRef | undefined;
  if (!ref) return 'Running';
  const services = (ref.getSnapshot() as { context?: { services?: ServiceStatus[] } }).context?.services;
  if (!Array.isArray(services)) return 'Running';
  return services.find((s) => s.name.toLowerCase() === W3SVC.toLowerCase())?.state ?? 'Running';
}

type ConfigCommand = Extract<
  IisCommand,
  { type: 'iis.installOcsWebComponents' | 'iis.bindCertificate' | 'iis.removeBinding' | 'iis.setWindowsAuthentication' | 'iis.setAppPoolState' | 'iis.publishFiles' }
>;

export const iisMachine = setup({
  types: {
    context: {} as IisContext,
    input: {} as IisInput,
    events: {} as IisCommand,
    emitted: {} as IisEmitted,
  },
  guards: {
    webServerInstalled: ({ context }) => webServerInstalled(context.store),
    w3svcRunning: ({ context }) => (context.w3svc ?? 'Running') === 'Running',
  },
  actions: {
    /** Feature lists from the host (deltas) or from the explicit command (the full list). */
    learnFeatures: enqueueActions(({ context, event, enqueue }) => {
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
    announceInstalled: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ store: { ...context.store, config: defaultConfig(), files: defaultFiles() }, w3svc: null });
      const store = context.store;
      enqueue.emit({
        type: 'iis.installed',
        host: store.host,
        features: store.features.filter((f) => f.toLowerCase().startsWith('web-')),
        summary: `Internet Information Services 7.0 installed on ${store.host}: Default Web Site (http *:80), DefaultAppPool`,
      });
    }),
    announceRemoved: enqueueActions(({ context, enqueue }) => {
      const { webComponents: _dropped, ...rest } = context.store;
      enqueue.assign({ store: { ...rest, config: defaultConfig(), files: defaultFiles() }, w3svc: null });
      enqueue.emit({ type: 'iis.removed', host: context.store.host, summary: `Internet Information Services removed from ${context.store.host}` });
    }),
    refuseNotInstalled: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'iis.request') {
        enqueue.emit({ type: 'iis.reply', requestId: event.requestId, result: decideRequest({ installed: false, w3svc: 'Stopped', store: context.store }, event) });
        return;
      }
      enqueue.emit({ type: 'iis.reply', requestId: (event as ConfigCommand).requestId, result: fail(notInstalled(context.store)) });
    }),
    configure: enqueueActions(({ context, event, system, enqueue }) => {
      const command = event as ConfigCommand;
      const r = apply(context.store, command, system);
      if (r.result.ok) {
        enqueue.assign({ store: r.store });
        for (const e of r.events) enqueue.emit(e);
      }
      enqueue.emit({ type: 'iis.reply', requestId: command.requestId, result: r.result });
    }),
    serve: enqueueActions(({ context, event, system, enqueue }) => {
      if (event.type !== 'iis.request') return;
      const view = {
        installed: true,
        w3svc: w3svcState(system, context.store.host, context.w3svc),
        store: context.store,
        certificates: hostCertificates(system, context.store.host),
        clockSkewed: hostClockSkewed(system, context.store.host),
      };
      enqueue.emit({ type: 'iis.reply', requestId: event.requestId, result: decideRequest(view, event) });
    }),
    allowStart: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'host.serviceStarting') return;
      enqueue.emit({ type: 'iis.reply', requestId: event.requestId, result: ok(undefined) });
    }),
    followService: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'host.serviceStateChanged') return;
      if (event.host.toLowerCase() !== context.store.host || event.service.toLowerCase() !== W3SVC.toLowerCase()) return;
      enqueue.assign({ w3svc: event.to });
    }),
  },
}).createMachine({
  id: 'iis',
  context: ({ input }) => ({ env: input.env, store: initialStore(input), w3svc: null }),
  initial: 'boot',
  on: {
    'iis.hostFeaturesChanged': { actions: 'learnFeatures' },
    'host.featuresInstalled': { actions: 'learnFeatures' },
    'host.featuresRemoved': { actions: 'learnFeatures' },
    'host.serviceStarting': { actions: 'allowStart' },
    'host.serviceStateChanged': { actions: 'followService' },
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
        'iis.installOcsWebComponents': { actions: 'configure' },
        'iis.bindCertificate': { actions: 'configure' },
        'iis.removeBinding': { actions: 'configure' },
        'iis.setWindowsAuthentication': { actions: 'configure' },
        'iis.setAppPoolState': { actions: 'configure' },
        'iis.publishFiles': { actions: 'configure' },
        'iis.request': { actions: 'serve' },
      },
      states: {
        running: { always: { guard: not('w3svcRunning'), target: 'stopped' } },
        stopped: { always: { guard: 'w3svcRunning', target: 'running' } },
      },
    },
  },
});

function apply(store: IisStore, command: ConfigCommand, system: SystemLike): Outcome<unknown> {
  switch (command.type) {
    case 'iis.installOcsWebComponents':
      return installOcsWebComponents(store, command);
    case 'iis.bindCertificate':
      return bindCertificate(store, command, hostCertificates(system, store.host));
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
