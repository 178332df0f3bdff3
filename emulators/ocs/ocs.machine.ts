/**
 * The OCS 2007 R2 deployment in the forest: one actor for the pools, their servers, the Deployment Wizard
 * and the behaviour of the OCS Windows services. Three regions:
 *
 * - `deployment`: how far the deployment has got (the furthest server), as the Deployment Wizard's phases.
 * - `wizard`: idle, or running a wizard for the simulated time it takes before its Finish page.
 * - `userReplicator`: polling AD every 60 s while a pool's replication owner has RtcSrv Running.
 *
 * A wizard, the User Replicator and a service-start decision talk to AD, SQL, the CA, IIS and the hosts:
 * they run as execution actions (`work`, `decideStart`) that report what they did to self as an event
 * (`ocs.outcome`, `ocs.startDecided`), and the transitions only assign and emit what was reported. The
 * neighbours and the lab environment come in through `.provide()` (`ocsMachineFor`), never the context.
 */
import { emit, enqueueActions, setup } from 'xstate';
import type { LabEnv } from '../../sim/emulator.js';
import { kernel, kernelActions } from '../../sim/machine.js';
import { fail, ok, type Result } from '../../sim/result.js';
import type { Topology } from '../../sim/topology.js';
import type { StartRefusal } from '../host/host.events.js';
import type { OcsCommand, OcsEmitted, OcsInput } from './ocs.events.js';
import type { ActorLookup, OcsPeers } from './ocs.ports.js';
import { FRONT_END_SERVICE, emptyStore, findServer, serverPhase, withServer, SERVER_PHASES, type OcsStore } from './ocs.store.js';
import { syncAddressBook } from './ocs.addressbook.js';
import { assignExistingCertificate, completePendingCertificate, requestCertificate } from './ocs.certificates.js';
import { addServerToPool, applyUpdate, configurePool, createPool } from './ocs.deployment.js';
import { USER_REPLICATOR_POLL_MS, replicateUsers } from './ocs.replicator.js';
import { frontEndStartedEvents, startRefusal } from './ocs.services.js';
import { addContact, changeUserContactList, enableUsers, moveUsers, removeUsers } from './ocs.users.js';
import type { Emitted, WizardContext } from './ocs.wizard.js';

export interface OcsContext {
  topology: Topology;
  store: OcsStore;
  /** The wizard that is running and for how long (simulated). */
  running: { name: string; durationMs: number };
}

/** What the wizards and services reach outside the machine: the lab environment and the neighbours. */
export interface OcsLinks {
  env: LabEnv;
  peers: (system: ActorLookup) => OcsPeers;
}

/** What an execution action did, reported to self: the store it ended with, what to emit, the answer. */
interface Outcome {
  type: 'ocs.outcome';
  /** The store the work started from; service states recorded since are kept (see `rebaseServices`). */
  base: OcsStore;
  store: OcsStore;
  emitted: Emitted[];
  reply?: { requestId: string; result: Result<unknown> };
  /** For a wizard: it runs this long before its Finish page. */
  running?: { name: string; durationMs: number };
}

type StartDecided = { type: 'ocs.startDecided'; requestId: string; refusal?: StartRefusal; service: string };

type OcsEvent = OcsCommand | Outcome | StartDecided;

export const DEPLOYMENT_PHASES = ['noPool', 'poolCreated', 'poolConfigured', ...SERVER_PHASES.filter((p) => p !== 'notInstalled')] as const;
export type DeploymentPhase = (typeof DEPLOYMENT_PHASES)[number];

/** How far the deployment has got: no pool, pool created/configured, then the furthest server's phase. */
export function deploymentPhase(store: OcsStore): DeploymentPhase {
  const rank = (p: string) => SERVER_PHASES.indexOf(p as (typeof SERVER_PHASES)[number]);
  const furthest = store.servers.map(serverPhase).sort((a, b) => rank(b) - rank(a))[0];
  if (furthest && furthest !== 'notInstalled') return furthest;
  if (store.pools.length === 0) return 'noPool';
  return store.pools.some((p) => p.configured) ? 'poolConfigured' : 'poolCreated';
}

type WizardCommand = Extract<OcsCommand, { requestId: string }>;

/** Runs one command's work against the neighbours; returns what it did. */
function perform(ctx: WizardContext, event: OcsEvent): Omit<Outcome, 'type' | 'base'> | undefined {
  const wizard = (name: string, out: { store: OcsStore; emitted: Emitted[]; result: Result<unknown>; durationMs: number }, requestId: string) => ({
    store: out.store,
    emitted: out.emitted,
    reply: { requestId, result: out.result },
    running: { name, durationMs: out.durationMs },
  });
  switch (event.type) {
    case 'ocs.createPool':
      return wizard(event.type, createPool(ctx, event), event.requestId);
    case 'ocs.configurePool':
      return wizard(event.type, configurePool(ctx, event), event.requestId);
    case 'ocs.addServerToPool':
      return wizard(event.type, addServerToPool(ctx, event), event.requestId);
    case 'ocs.requestCertificate':
      return wizard(event.type, requestCertificate(ctx, event), event.requestId);
    case 'ocs.completePendingCertificate':
      return wizard(event.type, completePendingCertificate(ctx, event), event.requestId);
    case 'ocs.assignCertificate':
      return wizard(event.type, assignExistingCertificate(ctx, event), event.requestId);
    case 'ocs.enableUsers':
      return wizard(event.type, enableUsers(ctx, event), event.requestId);
    case 'ocs.moveUsers':
      return wizard(event.type, moveUsers(ctx, event), event.requestId);
    case 'ocs.applyUpdate':
      return wizard(event.type, applyUpdate(ctx, event), event.requestId);
    case 'ocs.removeUsers':
      return wizard(event.type, removeUsers(ctx, event), event.requestId);
    case 'ocs.syncAddressBook':
      return wizard(event.type, syncAddressBook(ctx, event), event.requestId);
    case 'ocs.addContact': {
      const out = addContact(ctx, event);
      return { store: out.store, emitted: out.emitted, reply: { requestId: event.requestId, result: out.result } };
    }
    case 'ocs.changeContactList': {
      const out = changeUserContactList(ctx, event);
      return { store: out.store, emitted: out.emitted, reply: { requestId: event.requestId, result: out.result } };
    }
    case 'ocs.replicateNow': {
      const out = replicateUsers(ctx);
      return { ...out, reply: { requestId: event.requestId, result: ok(undefined) } };
    }
    default:
      // The User Replicator's poll (a delayed transition's event).
      return event.type.startsWith('xstate.after') ? replicateUsers(ctx) : undefined;
  }
}

/**
 * The work's store, with the service states the hosts reported while it ran: a host tells OCS of a
 * service that starts or stops (`host.serviceStateChanged`) as the work asks it to, and that word is
 * recorded before the work's own report arrives.
 */
function rebaseServices(store: OcsStore, base: OcsStore, current: OcsStore): OcsStore {
  if (current === base) return store;
  let out = store;
  for (const now of current.servers) {
    const before = findServer(base, now.host);
    const mine = findServer(out, now.host);
    if (!before || !mine) continue;
    const changed = Object.entries(now.services).filter(([svc, state]) => before.services[svc] !== state);
    if (changed.length) out = withServer(out, { ...mine, services: { ...mine.services, ...Object.fromEntries(changed) } });
  }
  return out;
}

const unprovided = (name: string) => () => {
  throw new Error(`ocsMachine: the execution action ${name} needs the lab's neighbours; create the machine with ocsMachineFor(links)`);
};

const WIZARD_COMMANDS = [
  'ocs.createPool',
  'ocs.configurePool',
  'ocs.addServerToPool',
  'ocs.requestCertificate',
  'ocs.completePendingCertificate',
  'ocs.assignCertificate',
  'ocs.enableUsers',
  'ocs.moveUsers',
  'ocs.applyUpdate',
  'ocs.removeUsers',
  'ocs.syncAddressBook',
] as const;

const phaseTransitions = (self: DeploymentPhase) =>
  DEPLOYMENT_PHASES.filter((p) => p !== self).map((p) => ({ guard: { type: 'deploymentPhaseIs' as const, params: { phase: p } }, target: `#ocs.deployment.${p}` }));

/** How each wizard is titled on screen, for the line the operator reads when it finishes. */
const WIZARD_TITLES: Record<string, string> = {
  'ocs.createPool': 'Create Enterprise Pool Wizard',
  'ocs.configurePool': 'Configure Pool Wizard',
  'ocs.addServerToPool': 'Add Server to Pool Wizard',
  'ocs.requestCertificate': 'Certificate Wizard',
  'ocs.completePendingCertificate': 'Certificate Wizard',
  'ocs.assignCertificate': 'Certificate Wizard',
  'ocs.enableUsers': 'Enable Users for Communications Server Wizard',
  'ocs.moveUsers': 'Move Users Wizard',
  'ocs.applyUpdate': 'Update installation',
  'ocs.removeUsers': 'Remove Users from Communications Server',
  'ocs.syncAddressBook': 'ABServer.exe -syncNow',
};

export const ocsMachine = setup({
  types: {
    context: {} as OcsContext,
    input: {} as OcsInput,
    events: {} as OcsEvent,
    emitted: {} as OcsEmitted,
  },
  guards: {
    deploymentPhaseIs: ({ context }, params: { phase: DeploymentPhase }) => deploymentPhase(context.store) === params.phase,
    wizardRunning: ({ context }) => context.running.durationMs > 0,
    frontEndRunning: ({ context }) => context.store.servers.some((s) => s.activated && s.services[FRONT_END_SERVICE] === 'Running'),
  },
  delays: {
    wizardDuration: ({ context }) => context.running.durationMs,
    userReplicatorPoll: USER_REPLICATOR_POLL_MS,
  },
  actions: {
    ...kernelActions<OcsContext, OcsEvent, OcsEmitted>(),
    /** A wizard, ADUC's contacts or the User Replicator, against the neighbours; reports `ocs.outcome`. */
    work: unprovided('work'),
    /** Whether an OCS service may start (host.serviceStarting); reports `ocs.startDecided`. */
    decideStart: unprovided('decideStart'),
    refuseBusy: emit(({ context, event }) => ({
      type: 'ocs.reply' as const,
      requestId: (event as WizardCommand).requestId,
      result: fail({ kind: 'ocs.wizardBusy' as const, message: `Setup is already running (${context.running.name}). Wait for it to finish.` }),
    })),
    applyOutcome: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<OcsContext, OcsEvent, OcsEmitted>(put);
      if (event.type !== 'ocs.outcome') return;
      enqueue.assign({ store: rebaseServices(event.store, event.base, context.store), ...(event.running ? { running: event.running } : {}) });
      for (const x of event.emitted) enqueue.emit(x);
      if (event.reply) enqueue.emit({ type: 'ocs.reply', requestId: event.reply.requestId, result: event.reply.result });
    }),
    answerServiceStarting: enqueueActions(({ event, enqueue: put }) => {
      const enqueue = kernel<OcsContext, OcsEvent, OcsEmitted>(put);
      if (event.type !== 'ocs.startDecided') return;
      const { refusal } = event;
      enqueue.emit({
        type: 'ocs.reply',
        requestId: event.requestId,
        result: refusal ? fail({ kind: 'ocs.serviceCannotStart' as const, message: `${event.service}: ${refusal.events[0]?.message ?? refusal.error}`, refusal }) : ok(undefined),
      });
    }),
    recordServiceState: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<OcsContext, OcsEvent, OcsEmitted>(put);
      if (event.type !== 'host.serviceStateChanged') return;
      const server = findServer(context.store, event.host);
      if (!server) return;
      const store = withServer(context.store, { ...server, services: { ...server.services, [event.service]: event.to } });
      enqueue.assign({ store });
      if (event.service.toLowerCase() === FRONT_END_SERVICE.toLowerCase() && event.to === 'Running' && server.services[FRONT_END_SERVICE] !== 'Running') {
        for (const x of frontEndStartedEvents(store, event.host)) enqueue.emit(x);
      }
    }),
    finishWizard: enqueueActions(({ context, enqueue: put }) => {
      const enqueue = kernel<OcsContext, OcsEvent, OcsEmitted>(put);
      const title = WIZARD_TITLES[context.running.name] ?? context.running.name;
      enqueue.emit({ type: 'ocs.wizardCompleted', summary: `${title}: completed, Finish`, wizard: context.running.name });
      enqueue.assign({ running: { name: '', durationMs: 0 } });
    }),
  },
}).createMachine({
  id: 'ocs',
  type: 'parallel',
  context: ({ input }) => ({ topology: input.topology, store: emptyStore(), running: { name: '', durationMs: 0 } }),
  on: {
    ...Object.fromEntries(WIZARD_COMMANDS.map((c) => [c, [{ guard: 'wizardRunning', actions: 'refuseBusy' }, { actions: 'work' }]])),
    'ocs.replicateNow': { actions: 'work' },
    'ocs.addContact': { actions: 'work' },
    'ocs.changeContactList': { actions: 'work' },
    'ocs.outcome': { actions: 'applyOutcome' },
    'host.serviceStarting': { actions: 'decideStart' },
    'ocs.startDecided': { actions: 'answerServiceStarting' },
    'host.serviceStateChanged': { actions: 'recordServiceState' },
  },
  states: {
    deployment: {
      initial: 'noPool',
      states: Object.fromEntries(DEPLOYMENT_PHASES.map((p) => [p, { always: phaseTransitions(p) }])) as Record<DeploymentPhase, { always: ReturnType<typeof phaseTransitions> }>,
    },
    wizard: {
      initial: 'idle',
      states: {
        idle: { always: { guard: 'wizardRunning', target: 'running' } },
        running: { after: { wizardDuration: { target: 'idle', actions: 'finishWizard' } } },
      },
    },
    userReplicator: {
      initial: 'idle',
      states: {
        idle: { always: { guard: 'frontEndRunning', target: 'polling' } },
        polling: {
          always: { guard: ({ context }) => !context.store.servers.some((s) => s.activated && s.services[FRONT_END_SERVICE] === 'Running'), target: 'idle' },
          after: { userReplicatorPoll: { target: 'polling', reenter: true, actions: 'work' } },
        },
      },
    },
  },
});

/** The OCS machine with its neighbours and the lab environment (decision 0011). */
export function ocsMachineFor(links: OcsLinks) {
  return ocsMachine.provide({
    actions: {
      work: ({ context, event, system, self }) => {
        const out = perform({ store: context.store, topology: context.topology, env: links.env, peers: links.peers(system) }, event);
        if (out) self.send({ type: 'ocs.outcome', base: context.store, ...out });
      },
      decideStart: ({ context, event, system, self }) => {
        if (event.type !== 'host.serviceStarting') return;
        const ctx = { store: context.store, topology: context.topology, env: links.env, peers: links.peers(system) };
        const refusal = startRefusal(ctx, event.host, event.service);
        self.send({ type: 'ocs.startDecided', requestId: event.requestId, service: event.service, ...(refusal ? { refusal } : {}) });
      },
    },
  });
}
