/**
 * The OCS 2007 R2 deployment in the forest: one actor for the pools, their servers, the Deployment Wizard
 * and the behaviour of the OCS Windows services. Three regions:
 *
 * - `deployment`: how far the deployment has got (the furthest server), as the Deployment Wizard's phases.
 * - `wizard`: idle, or running a wizard for the simulated time it takes before its Finish page.
 * - `userReplicator`: polling AD every 60 s while a pool's replication owner has RtcSrv Running.
 */
import { emit, enqueueActions, setup } from 'xstate';
import { fail, ok, type Result } from '../../sim/result.js';
import type { LabEnv } from '../../sim/emulator.js';
import type { Topology } from '../../sim/topology.js';
import type { OcsCommand, OcsEmitted, OcsInput } from './ocs.events.js';
import type { ActorLookup, OcsPeers } from './ocs.ports.js';
import { FRONT_END_SERVICE, emptyStore, findServer, serverPhase, withServer, SERVER_PHASES, type OcsStore } from './ocs.store.js';
import { syncAddressBook } from './ocs.addressbook.js';
import { assignExistingCertificate, completePendingCertificate, requestCertificate } from './ocs.certificates.js';
import { addServerToPool, applyUpdate, configurePool, createPool } from './ocs.deployment.js';
import { USER_REPLICATOR_POLL_MS, replicateUsers } from './ocs.replicator.js';
import { frontEndStartedEvents, startRefusal } from './ocs.services.js';
import { addContact, enableUsers, moveUsers, removeUsers } from './ocs.users.js';
import type { Emitted, WizardContext, WizardOutcome } from './ocs.wizard.js';

export interface OcsContext {
  env: LabEnv;
  topology: Topology;
  peersOf: (system: ActorLookup) => OcsPeers;
  store: OcsStore;
  /** The wizard that is running and for how long (simulated). */
  running: { name: string; durationMs: number };
}

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

function runWizard(context: OcsContext, system: ActorLookup, event: WizardCommand): WizardOutcome<unknown> | { store: OcsStore; emitted: Emitted[]; result: Result<unknown>; durationMs: number } {
  const ctx: WizardContext = { store: context.store, topology: context.topology, env: context.env, peers: context.peersOf(system) };
  switch (event.type) {
    case 'ocs.createPool':
      return createPool(ctx, event);
    case 'ocs.configurePool':
      return configurePool(ctx, event);
    case 'ocs.addServerToPool':
      return addServerToPool(ctx, event);
    case 'ocs.requestCertificate':
      return requestCertificate(ctx, event);
    case 'ocs.completePendingCertificate':
      return completePendingCertificate(ctx, event);
    case 'ocs.assignCertificate':
      return assignExistingCertificate(ctx, event);
    case 'ocs.enableUsers':
      return enableUsers(ctx, event);
    case 'ocs.moveUsers':
      return moveUsers(ctx, event);
    case 'ocs.applyUpdate':
      return applyUpdate(ctx, event);
    case 'ocs.removeUsers':
      return removeUsers(ctx, event);
    case 'ocs.addContact':
      return { ...addContact(ctx, event), durationMs: 0 };
    case 'ocs.syncAddressBook':
      return syncAddressBook(ctx, event);
    case 'ocs.replicateNow': {
      const r = replicateUsers(ctx);
      return { ...r, result: ok(undefined), durationMs: 0 };
    }
    case 'host.serviceStarting':
      return { store: context.store, emitted: [], result: ok(undefined), durationMs: 0 };
  }
}

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
    events: {} as OcsCommand,
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
    refuseBusy: emit(({ context, event }) => ({
      type: 'ocs.reply' as const,
      requestId: (event as WizardCommand).requestId,
      result: fail({ kind: 'ocs.wizardBusy' as const, message: `Setup is already running (${context.running.name}). Wait for it to finish.` }),
    })),
    runWizard: enqueueActions(({ context, event, system, enqueue }) => {
      const e = event as WizardCommand;
      const out = runWizard(context, system, e);
      enqueue.assign({ store: out.store, running: { name: e.type, durationMs: out.durationMs } });
      for (const x of out.emitted) enqueue.emit(x);
      enqueue.emit({ type: 'ocs.reply', requestId: e.requestId, result: out.result });
    }),
    addContact: enqueueActions(({ context, event, system, enqueue }) => {
      if (event.type !== 'ocs.addContact') return;
      const out = addContact({ store: context.store, topology: context.topology, env: context.env, peers: context.peersOf(system) }, event);
      enqueue.assign({ store: out.store });
      for (const x of out.emitted) enqueue.emit(x);
      enqueue.emit({ type: 'ocs.reply', requestId: event.requestId, result: out.result });
    }),
    replicateNow: enqueueActions(({ context, event, system, enqueue }) => {
      const out = replicateUsers({ store: context.store, topology: context.topology, env: context.env, peers: context.peersOf(system) });
      enqueue.assign({ store: out.store });
      for (const x of out.emitted) enqueue.emit(x);
      if (event.type === 'ocs.replicateNow') enqueue.emit({ type: 'ocs.reply', requestId: event.requestId, result: ok(undefined) });
    }),
    answerServiceStarting: enqueueActions(({ context, event, system, enqueue }) => {
      if (event.type !== 'host.serviceStarting') return;
      const refusal = startRefusal({ store: context.store, topology: context.topology, env: context.env, peers: context.peersOf(system) }, event.host, event.service);
      enqueue.emit({
        type: 'ocs.reply',
        requestId: event.requestId,
        result: refusal ? fail({ kind: 'ocs.serviceCannotStart' as const, message: `${event.service}: ${refusal.events[0]?.message ?? refusal.error}`, refusal }) : ok(undefined),
      });
    }),
    recordServiceState: enqueueActions(({ context, event, system, enqueue }) => {
      if (event.type !== 'host.serviceStateChanged') return;
      const server = findServer(context.store, event.host);
      if (!server) return;
      const store = withServer(context.store, { ...server, services: { ...server.services, [event.service]: event.to } });
      enqueue.assign({ store });
      if (event.service.toLowerCase() === FRONT_END_SERVICE.toLowerCase() && event.to === 'Running' && server.services[FRONT_END_SERVICE] !== 'Running') {
        for (const x of frontEndStartedEvents({ store, topology: context.topology, env: context.env, peers: context.peersOf(system) }, event.host)) enqueue.emit(x);
      }
    }),
    finishWizard: enqueueActions(({ context, enqueue }) => {
      const title = WIZARD_TITLES[context.running.name] ?? context.running.name;
      enqueue.emit({ type: 'ocs.wizardCompleted', summary: `${title}: completed, Finish`, wizard: context.running.name });
      enqueue.assign({ running: { name: '', durationMs: 0 } });
    }),
  },
}).createMachine({
  id: 'ocs',
  type: 'parallel',
  context: ({ input }) => ({ env: input.env, topology: input.topology, peersOf: input.peers, store: emptyStore(), running: { name: '', durationMs: 0 } }),
  on: {
    ...Object.fromEntries(WIZARD_COMMANDS.map((c) => [c, [{ guard: 'wizardRunning', actions: 'refuseBusy' }, { actions: 'runWizard' }]])),
    'ocs.replicateNow': { actions: 'replicateNow' },
    'ocs.addContact': { actions: 'addContact' },
    'host.serviceStarting': { actions: 'answerServiceStarting' },
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
          after: { userReplicatorPoll: { target: 'polling', reenter: true, actions: 'replicateNow' } },
        },
      },
    },
  },
});
