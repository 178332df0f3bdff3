/**
 * The Active Directory forest: one actor for the forest and its domain controllers.
 *
 * Two parallel regions:
 * - `directory`: online while at least one DC is available (host up, NTDS Running); offline answers
 *   every command with ad.unavailable ("The server is not operational.").
 * - `replication`: converged / pending (a timer for the next due change) / stalled (changes wait for
 *   a DC that is down).
 */
import { enqueueActions, setup } from 'xstate';
import type { LabEnv } from '../../sim/emulator.js';
import { IdSource, type IdPosition } from '../../sim/ids.js';
import { environmentOf, kernel, kernelActions, type SystemLike } from '../../sim/machine.js';
import { fail, ok } from '../../sim/result.js';
import type { ServiceStatus } from '../host/host.events.js';
import type { AdCommand, AdCommandType, AdEmitted, AdEvent, AdFailure, AdInput, AdResult, AdSearchEntry } from './ad.events.js';
import {
  ForestTxn,
  authenticate,
  checkPasswordPolicy,
  createUser,
  dcNamed,
  domainPrep,
  forestPrep,
  nextDue,
  pdc,
  pendingCount,
  replicate,
  schemaPrep,
  seedForest,
  unavailable,
  type DcState,
  type ForestState,
} from './ad.forest.js';
import { search, searchSteps } from './ad.search.js';
import type { FilterTree } from './ad.filter.js';
import { adFailures, findBySam, generalizedTime } from './ad.store.js';

export interface AdContext {
  forest: ForestState;
  /** Where AD's seeded id stream is (GUIDs, SIDs): drawn in transitions, so it lives in the context. */
  ids: IdPosition;
}

/** What a command needs to know from outside the forest, observed before it is decided. */
export interface Observed {
  /** SchemaPrep: whether Remote Registry runs on the Schema Master (it reads the schema through it). */
  remoteRegistry: boolean;
}

type SchemaPrepObserved = { type: 'ad.schemaPrepObserved'; command: Extract<AdCommand, { type: 'ad.schemaPrep' }>; observed: Observed };

type AdMachineEvent = AdEvent | SchemaPrepObserved;

export const DEFAULT_REPLICATION_DELAY_MS = 15_000;

interface Handled {
  forest: ForestState;
  emitted: AdEmitted[];
}

/** The DC a request lands on: the one named, else the PDC emulator, else any available DC. */
function pickDc(f: ForestState, requested: string | undefined): AdResult<DcState> {
  if (requested !== undefined) {
    const dc = dcNamed(f, requested);
    if (!dc || !dc.available) return fail(unavailable(requested));
    return ok(dc);
  }
  const dc = [pdc(f), ...f.dcs].find((d) => d.available);
  return dc ? ok(dc) : fail(unavailable(f.forestFqdn));
}

function rootDse(f: ForestState, dc: DcState, now: number): AdSearchEntry {
  const { ncs } = f;
  const ntds = `CN=NTDS Settings,CN=${dc.name.toUpperCase()},CN=Servers,CN=Default-First-Site-Name,CN=Sites,${ncs.configuration}`;
  return {
    dn: '',
    attributes: {
      currentTime: [generalizedTime(now)],
      subschemaSubentry: [`CN=Aggregate,${ncs.schema}`],
      dsServiceName: [ntds],
      namingContexts: [ncs.domain, ncs.configuration, ncs.schema],
      defaultNamingContext: [ncs.domain],
      rootDomainNamingContext: [ncs.domain],
      configurationNamingContext: [ncs.configuration],
      schemaNamingContext: [ncs.schema],
      serverName: [`CN=${dc.name.toUpperCase()},CN=Servers,CN=Default-First-Site-Name,CN=Sites,${ncs.configuration}`],
      supportedLDAPVersion: ['3', '2'],
      supportedSASLMechanisms: ['GSSAPI', 'GSS-SPNEGO', 'EXTERNAL', 'DIGEST-MD5'],
      supportedCapabilities: ['1.2.840.113556.1.4.800', '1.2.840.113556.1.4.1670', '1.2.840.113556.1.4.1791', '1.2.840.113556.1.4.1935'],
      highestCommittedUSN: [String(dc.replica.usn)],
      dnsHostName: [dc.fqdn],
      ldapServiceName: [`${f.forestFqdn}:${dc.name}$@${f.forestFqdn.toUpperCase()}`],
      isSynchronized: ['TRUE'],
      isGlobalCatalogReady: ['TRUE'],
      domainFunctionality: ['3'],
      forestFunctionality: ['3'],
      domainControllerFunctionality: ['3'],
    },
  };
}

function remoteRegistryRunning(system: SystemLike, host: string): boolean {
  const ref = system.get(`host:${host}`);
  if (!ref) return true;
  const services = (ref.getSnapshot() as { context?: { services?: ServiceStatus[] } }).context?.services;
  if (!Array.isArray(services)) return true;
  return services.some((s) => s.name.toLowerCase() === 'remoteregistry' && s.state === 'Running');
}

const reply = (requestId: string, result: AdResult<unknown>): AdEmitted => ({ type: 'ad.reply', requestId, result });

/** The questions that change nothing: a search and a simple bind, answered from the forest as it is. */
type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
export type AdQuery = DistributiveOmit<Extract<AdCommand, { type: 'ad.search' | 'ad.authenticate' }>, 'requestId'>;

/**
 * Answers a search or a bind against the forest as it stands at `now`. Pure: the machine answers its
 * commands with it, and a reader that only asks (the front end's registrar, on every REGISTER) can ask
 * the current snapshot directly instead of going through the actor (`adSearchNow`, `adAuthenticateNow`).
 */
export function readQuery(context: AdContext, command: AdQuery, now: number): AdResult<unknown> {
  const f = context.forest;
  if (command.type === 'ad.authenticate') {
    const dc = pickDc(f, undefined);
    return dc.ok ? authenticate(f, dc.value.replica, command.name, command.password, now) : dc;
  }
  const dc = pickDc(f, command.dc);
  if (!dc.ok) return dc;
  if (command.base.trim() === '' && command.scope === 'base') {
    const dse = rootDse(f, dc.value, now);
    const wanted = (command.attributes ?? []).map((a) => a.toLowerCase());
    const all = wanted.length === 0 || wanted.includes('*');
    const attributes = Object.fromEntries(Object.entries(dse.attributes).filter(([k]) => all || wanted.includes(k.toLowerCase())));
    return ok([{ dn: '', attributes }]);
  }
  const req = { base: command.base, scope: command.scope, ...(command.filter !== undefined ? { filter: command.filter } : {}), ...(command.attributes ? { attributes: command.attributes } : {}) };
  return search(dc.value.replica, req, f.ncs);
}

/**
 * A search that gives way (`searchSteps`), for the LDAP adapter: the rootDSE and a missing DC answer at
 * once; a search over a replica yields after about `budget` units of filter work.
 */
export function* searchCursor(
  context: AdContext,
  command: Extract<AdQuery, { type: 'ad.search' }> & { filterTree?: FilterTree },
  now: number,
  out: AdSearchEntry[],
  budget: number,
): Generator<void, AdResult<AdSearchEntry[]>, void> {
  if (command.base.trim() === '' && command.scope === 'base') return readQuery(context, command, now) as AdResult<AdSearchEntry[]>;
  const f = context.forest;
  const dc = pickDc(f, command.dc);
  if (!dc.ok) return dc;
  const req = { base: command.base, scope: command.scope, ...(command.filter !== undefined ? { filter: command.filter } : {}), ...(command.filterTree ? { filterTree: command.filterTree } : {}), ...(command.attributes ? { attributes: command.attributes } : {}) };
  return yield* searchSteps(dc.value.replica, req, f.ncs, out, budget);
}

/** Performs one command against the forest; returns the new state, the reply and the journal events. */
export function handleCommand(context: AdContext, command: AdCommand, env: LabEnv, observed: Observed = { remoteRegistry: true }): Handled {
  const f = context.forest;
  const now = env.now();
  const txn = new ForestTxn(f, env);
  const done = (result: AdResult<unknown>, commit = result.ok): Handled => ({
    forest: commit ? txn.state : f,
    emitted: [...(commit ? txn.emitted : []), reply(command.requestId, result)],
  });
  switch (command.type) {
    case 'ad.add': {
      const dc = pickDc(f, command.dc);
      if (!dc.ok) return done(dc);
      const r = txn.add(dc.value.name, command.dn, command.attributes);
      return done(r.ok ? ok({ dn: r.value.dn }) : r);
    }
    case 'ad.modify': {
      const dc = pickDc(f, command.dc);
      if (!dc.ok) return done(dc);
      const r = txn.modify(dc.value.name, command.dn, command.changes);
      return done(r.ok ? ok({ dn: r.value.dn }) : r);
    }
    case 'ad.modifyMany': {
      const dc = pickDc(f, command.dc);
      if (!dc.ok) return done(dc);
      // One transaction (one copy of the replica) for them all; a refused item writes nothing.
      const results = command.items.map((item): AdResult<{ dn: string }> => {
        const r = txn.modify(dc.value.name, item.dn, item.changes);
        return r.ok ? ok({ dn: r.value.dn }) : r;
      });
      return done(ok(results), true);
    }
    case 'ad.delete': {
      const dc = pickDc(f, command.dc);
      if (!dc.ok) return done(dc);
      const r = txn.delete(dc.value.name, command.dn);
      return done(r.ok ? ok({ dn: r.value.dn }) : r);
    }
    case 'ad.search':
    case 'ad.authenticate':
      return done(readQuery(context, command, now), false);
    case 'ad.createUser': {
      const dc = pickDc(f, command.dc);
      if (!dc.ok) return done(dc);
      const { type: _t, requestId: _r, dc: _d, ...user } = command;
      return done(createUser(txn, dc.value.name, user));
    }
    case 'ad.setPassword': {
      const dc = pickDc(f, command.dc);
      if (!dc.ok) return done(dc);
      const account = findBySam(dc.value.replica.directory, command.sam);
      if (!account) return done(fail(adFailures.noSuchObject(f.ncs.domain)));
      const bad = checkPasswordPolicy(command.sam, command.password);
      if (bad) return done(fail(bad));
      const r = txn.modify(dc.value.name, account.dn, [{ operation: 'replace', attribute: 'unicodePwd', values: [`"${command.password}"`] }]);
      return done(r.ok ? ok({ dn: r.value.dn }) : r);
    }
    case 'ad.schemaPrep': {
      const r = schemaPrep(txn, command.runAs, observed.remoteRegistry);
      return prepOutcome(done, txn, 'SchemaPrep', r, (log) => ({ type: 'ad.schemaPrepared', dc: pdc(f).name, log, summary: `LCSCmd /Forest /Action:SchemaPrep succeeded on the Schema Master ${pdc(f).fqdn}` }));
    }
    case 'ad.forestPrep': {
      const dc = pickDc(f, command.dc);
      if (!dc.ok) return done(dc);
      const r = forestPrep(txn, dc.value.name, {
        sipDomain: command.sipDomain,
        ...(command.globalSettingsLocation ? { globalSettingsLocation: command.globalSettingsLocation } : {}),
        ...(command.groupDomain ? { groupDomain: command.groupDomain } : {}),
        ...(command.runAs ? { runAs: command.runAs } : {}),
      });
      return prepOutcome(done, txn, 'ForestPrep', r, (log, v) => ({ type: 'ad.forestPrepared', dc: dc.value.name, rtcServiceDn: v.rtcServiceDn, log, summary: `LCSCmd /Forest /Action:ForestPrep succeeded on ${dc.value.fqdn}: global settings in ${v.rtcServiceDn}` }));
    }
    case 'ad.domainPrep': {
      const dc = pickDc(f, command.dc);
      if (!dc.ok) return done(dc);
      const r = domainPrep(txn, dc.value.name, { ...(command.domain ? { domain: command.domain } : {}), ...(command.runAs ? { runAs: command.runAs } : {}) });
      return prepOutcome(done, txn, 'DomainPrep', r, (log, v) => ({ type: 'ad.domainPrepared', dc: dc.value.name, domain: v.domain, log, summary: `LCSCmd /Domain:${v.domain} /Action:DomainPrep succeeded on ${dc.value.fqdn}` }));
    }
    case 'ad.forceReplication': {
      const r = replicate(f, now, true);
      const changes = r.emitted.reduce((n, e) => n + (e.type === 'ad.replicated' ? e.changes : 0), 0);
      return { forest: r.state, emitted: [...r.emitted, reply(command.requestId, ok({ changes }))] };
    }
    case 'ad.setInboundReplicationDelay': {
      const dc = dcNamed(f, command.dc);
      if (!dc) return done(fail(unavailable(command.dc)), false);
      const delayMs = Math.max(0, command.delayMs);
      const forest = { ...f, dcs: f.dcs.map((d) => (d === dc ? { ...d, inboundDelayMs: delayMs } : d)) };
      return {
        forest,
        emitted: [
          { type: 'ad.replicationScheduleChanged', dc: dc.name, delayMs, summary: `${dc.fqdn}: inbound replication ${delayMs ? `delayed by ${Math.round(delayMs / 60_000)} min` : 'on the ordinary schedule'}` },
          reply(command.requestId, ok({ dc: dc.name, delayMs })),
        ],
      };
    }
  }
}

function prepOutcome<V extends { log: string[] }>(
  done: (result: AdResult<unknown>, commit?: boolean) => Handled,
  txn: ForestTxn,
  action: 'SchemaPrep' | 'ForestPrep' | 'DomainPrep',
  r: AdResult<V>,
  success: (log: string[], v: V) => AdEmitted,
): Handled {
  if (r.ok) {
    txn.emitted.push(success(r.value.log, r.value));
    return done(ok({ log: r.value.log }));
  }
  const failure: AdFailure = r.failure;
  const h = done(r);
  return { ...h, emitted: [{ type: 'ad.prepFailed', action, kind: failure.kind, summary: `LCSCmd ${action} failed: ${failure.message}` }, ...h.emitted] };
}

const COMMAND_TYPES: readonly AdCommandType[] = [
  'ad.add',
  'ad.modify',
  'ad.modifyMany',
  'ad.delete',
  'ad.search',
  'ad.authenticate',
  'ad.createUser',
  'ad.setPassword',
  'ad.schemaPrep',
  'ad.forestPrep',
  'ad.domainPrep',
  'ad.forceReplication',
  'ad.setInboundReplicationDelay',
];

function on<A extends string>(action: A): Record<AdCommandType, { actions: A }> {
  return Object.fromEntries(COMMAND_TYPES.map((t) => [t, { actions: action }])) as Record<AdCommandType, { actions: A }>;
}

const isCommand = (e: AdMachineEvent): e is AdCommand => (COMMAND_TYPES as readonly string[]).includes(e.type);

export const adMachine = setup({
  types: {
    context: {} as AdContext,
    input: {} as AdInput,
    events: {} as AdMachineEvent,
    emitted: {} as AdEmitted,
  },
  guards: {
    noDcAvailable: ({ context }) => !context.forest.dcs.some((d) => d.available),
    someDcAvailable: ({ context }) => context.forest.dcs.some((d) => d.available),
    isConverged: ({ context }) => pendingCount(context.forest) === 0,
    hasDeliverable: ({ context }) => nextDue(context.forest) !== undefined,
    waitingForDc: ({ context }) => pendingCount(context.forest) > 0 && nextDue(context.forest) === undefined,
  },
  delays: {
    // The lab clock is not in the context: the emulator definition provides this delay (adMachineFor).
    replicationDue: (): number => {
      throw new Error('adMachine: replicationDue needs the lab clock; create the machine with adMachineFor(env)');
    },
  },
  actions: {
    ...kernelActions<AdContext, AdMachineEvent, AdEmitted>(),
    /** What SchemaPrep looks at on the Schema Master before it runs; reports back to self. */
    observeSchemaMaster: ({ context, event, system, self }) => {
      if (event.type !== 'ad.schemaPrep') return;
      self.send({ type: 'ad.schemaPrepObserved', command: event, observed: { remoteRegistry: remoteRegistryRunning(system, pdc(context.forest).name) } });
    },
    handleCommand: enqueueActions(({ context, event, system, self, enqueue: put }) => {
      const enqueue = kernel<AdContext, AdMachineEvent, AdEmitted>(put);
      const ids = IdSource.at(context.ids);
      const env = { now: environmentOf({ system, self }).now, ids };
      const h = event.type === 'ad.schemaPrepObserved' ? handleCommand(context, event.command, env, event.observed) : isCommand(event) ? handleCommand(context, event, env) : undefined;
      if (!h) return;
      enqueue.assign({ forest: h.forest, ids: ids.position() });
      for (const e of h.emitted) enqueue.emit(e);
    }),
    replyUnavailable: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<AdContext, AdMachineEvent, AdEmitted>(put);
      if (!isCommand(event)) return;
      enqueue.emit(reply(event.requestId, fail(unavailable(context.forest.forestFqdn))));
    }),
    replicateDue: enqueueActions(({ context, system, self, enqueue: put }) => {
      const enqueue = kernel<AdContext, AdMachineEvent, AdEmitted>(put);
      const r = replicate(context.forest, environmentOf({ system, self }).now(), false);
      enqueue.assign({ forest: r.state });
      for (const e of r.emitted) enqueue.emit(e);
    }),
    answerServiceStarting: enqueueActions(({ event, enqueue: put }) => {
      const enqueue = kernel<AdContext, AdMachineEvent, AdEmitted>(put);
      if (event.type !== 'host.serviceStarting') return;
      enqueue.emit(reply(event.requestId, ok(undefined)));
    }),
    trackNtds: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<AdContext, AdMachineEvent, AdEmitted>(put);
      if (event.type !== 'host.serviceStateChanged' || event.service.toUpperCase() !== 'NTDS') return;
      const f = context.forest;
      const dc = dcNamed(f, event.host);
      if (!dc) return;
      const available = event.to === 'Running';
      if (dc.available === available) return;
      enqueue.assign({ forest: { ...f, dcs: f.dcs.map((d) => (d === dc ? { ...d, available } : d)) } });
      enqueue.emit({ type: 'ad.dcAvailability', dc: dc.name, available, summary: `${dc.fqdn} is ${available ? 'available (NTDS Running)' : 'unavailable (NTDS stopped)'}` });
    }),
  },
}).createMachine({
  id: 'ad',
  type: 'parallel',
  context: ({ input }) => {
    const forest = seedForest(input.topology, input.env, input.replicationDelayMs ?? DEFAULT_REPLICATION_DELAY_MS);
    return { forest, ids: input.env.ids.position() };
  },
  on: {
    'host.serviceStarting': { actions: 'answerServiceStarting' },
    'host.serviceStateChanged': { actions: 'trackNtds' },
  },
  states: {
    directory: {
      initial: 'online',
      states: {
        online: {
          always: { guard: 'noDcAvailable', target: 'offline' },
          on: { ...on('handleCommand'), 'ad.schemaPrep': { actions: 'observeSchemaMaster' }, 'ad.schemaPrepObserved': { actions: 'handleCommand' } },
        },
        offline: { always: { guard: 'someDcAvailable', target: 'online' }, on: on('replyUnavailable') },
      },
    },
    replication: {
      initial: 'converged',
      states: {
        converged: {
          always: [
            { guard: 'hasDeliverable', target: 'pending' },
            { guard: 'waitingForDc', target: 'stalled' },
          ],
        },
        pending: {
          always: [
            { guard: 'isConverged', target: 'converged' },
            { guard: 'waitingForDc', target: 'stalled' },
          ],
          after: { replicationDue: { target: 'pending', reenter: true, actions: 'replicateDue' } },
        },
        stalled: {
          always: [
            { guard: 'isConverged', target: 'converged' },
            { guard: 'hasDeliverable', target: 'pending' },
          ],
        },
      },
    },
  },
});

/** The AD machine on a lab's clock: replication waits for the next due change in lab time. */
export function adMachineFor(env: LabEnv) {
  return adMachine.provide({ delays: { replicationDue: ({ context }) => Math.max(0, (nextDue(context.forest) ?? env.now()) - env.now()) } });
}
