/**
 * The enterprise root CA. States:
 *
 *   starting ──(host has CertSvc not Running)──▶ offline
 *      └──────(no host actor, or CertSvc Running)──▶ online
 *   online  ──host.serviceStateChanged CertSvc → anything but Running / host powered off──▶ offline
 *   offline ──host.serviceStateChanged CertSvc → Running──▶ online
 *
 * Online, the CA answers requests; offline, every request fails as certreq does against a stopped CA
 * (RPC server unavailable). The database and the last CRL survive going offline.
 */
import { assertEvent, enqueueActions, setup, type AnyActorRef } from 'xstate';
import { fail, ok } from '../../sim/result.js';
import { hostId, type ServiceStateChanged } from '../host/host.events.js';
import { CERTSVC, type CaContext, type CaEmitted, type CaEvent, type CaInput, type CaNotice } from './ca.events.js';
import {
  CA_MESSAGES,
  approveRequest,
  createCaDatabase,
  denyRequest,
  retrieve,
  revokeCertificate,
  setPendAll,
  submitRequest,
  type CaDatabase,
  type StoreOutcome,
} from './ca.store.js';
import { takeKey } from './keyring.js';
import { createRootCertificate } from './pki.js';

const ROOT_VALIDITY_YEARS = 5;

/**
 * What the CA's host says about CertSvc at lab start. The host's context is read structurally (a
 * `services` list or record of `{ name, state }`, and `power`), since the host publishes no selector yet.
 */
function certSvcOnHost(host: AnyActorRef | undefined): CaContext['hostAtStart'] {
  if (!host) return 'absent';
  const context: unknown = (host.getSnapshot() as { context?: unknown } | undefined)?.context;
  if (!context || typeof context !== 'object') return 'running';
  const c = context as { services?: unknown; power?: unknown };
  if (c.power === 'off') return 'down';
  const list: unknown[] = Array.isArray(c.services) ? c.services : c.services && typeof c.services === 'object' ? Object.values(c.services) : [];
  const svc = list.find((s): s is { name: string; state: unknown } => !!s && typeof s === 'object' && String((s as { name?: unknown }).name).toLowerCase() === 'certsvc');
  if (!svc) return 'down';
  return svc.state === 'Running' ? 'running' : 'down';
}

function initialContext(input: CaInput, self: AnyActorRef): CaContext {
  const { env, topology } = input;
  const hostSpec = topology.hosts.find((h) => h.name === topology.ca.host.toLowerCase());
  const hostFqdn = hostSpec?.fqdn ?? `${topology.ca.host.toLowerCase()}.${topology.forest.fqdn.toLowerCase()}`;
  const key = takeKey(env.ids, { role: 'ca' });
  const now = env.now();
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + ROOT_VALIDITY_YEARS);
  const hash = input.signatureHash ?? 'sha256';
  const rootPem = createRootCertificate({
    caName: topology.ca.name,
    forestFqdn: topology.forest.fqdn.toLowerCase(),
    key,
    serial: env.ids.serial(),
    notBefore: now,
    notAfter: notAfter.getTime(),
    hash,
  });
  const db = createCaDatabase({
    caName: topology.ca.name,
    hostFqdn,
    forestFqdn: topology.forest.fqdn.toLowerCase(),
    keyId: key.id,
    rootPem,
    now,
    hash,
    pendAllRequests: input.pendAllRequests ?? false,
  });
  const host = topology.ca.host.toLowerCase();
  return { env, host, administrator: `${topology.forest.netbios}\\${topology.administrator.sam}`, hostAtStart: certSvcOnHost(self.system?.get(hostId(host))), db };
}

const isCertSvc = (context: CaContext, e: ServiceStateChanged) =>
  e.service.toLowerCase() === CERTSVC.name.toLowerCase() && (e.host.toLowerCase() === context.host || e.host.toLowerCase().startsWith(`${context.host}.`));

export const caMachine = setup({
  types: {
    context: {} as CaContext,
    input: {} as CaInput,
    events: {} as CaEvent,
    emitted: {} as CaEmitted,
  },
  guards: {
    hostDownAtStart: ({ context }) => context.hostAtStart === 'down',
    certSvcRunning: ({ context, event }) => event.type === 'host.serviceStateChanged' && isCertSvc(context, event) && event.to === 'Running',
    certSvcNotRunning: ({ context, event }) => event.type === 'host.serviceStateChanged' && isCertSvc(context, event) && event.to !== 'Running',
    hostPoweredOff: ({ context, event }) => event.type === 'host.powerChanged' && event.host.toLowerCase() === context.host && event.power === 'off',
  },
  actions: {
    submit: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'ca.submitRequest');
      const { env } = context;
      apply(enqueue, event.requestId, submitRequest(context.db, { ...event, now: env.now(), nextSerial: () => env.ids.serial() }));
    }),
    retrieve: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'ca.retrieve');
      enqueue.emit({ type: 'ca.reply', requestId: event.requestId, result: retrieve(context.db, event.certRequestId) });
    }),
    approve: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'ca.approve');
      const { env } = context;
      apply(enqueue, event.requestId, approveRequest(context.db, { requestId: event.certRequestId, now: env.now(), nextSerial: () => env.ids.serial() }));
    }),
    deny: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'ca.deny');
      apply(enqueue, event.requestId, denyRequest(context.db, { requestId: event.certRequestId, now: context.env.now(), by: context.administrator }));
    }),
    revoke: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'ca.revoke');
      apply(enqueue, event.requestId, revokeCertificate(context.db, { serial: event.serial, reason: event.reason, now: context.env.now() }));
    }),
    setPolicy: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, 'ca.setPolicy');
      apply(enqueue, event.requestId, setPendAll(context.db, event.pendAllRequests));
    }),
    replyUnavailable: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, ['ca.submitRequest', 'ca.retrieve', 'ca.approve', 'ca.deny', 'ca.revoke']);
      enqueue.emit({
        type: 'ca.reply',
        requestId: event.requestId,
        result: fail({ kind: 'ca.unavailable', message: CA_MESSAGES.unavailable, config: context.db.identity.configString }),
      });
    }),
    acceptServiceStart: enqueueActions(({ event, enqueue }) => {
      assertEvent(event, 'host.serviceStarting');
      enqueue.emit({ type: 'ca.reply', requestId: event.requestId, result: ok(undefined) });
    }),
    announceOnline: enqueueActions(({ context, enqueue }) => {
      enqueue.emit({ type: 'ca.availabilityChanged', online: true, summary: `${context.db.identity.configString} is online (CertSvc Running)` });
    }),
    announceOffline: enqueueActions(({ context, event, enqueue }) => {
      const why = event.type === 'host.serviceStateChanged' ? `CertSvc ${event.to}` : `${context.host} powered off`;
      enqueue.emit({ type: 'ca.availabilityChanged', online: false, summary: `${context.db.identity.configString} is offline (${why})` });
    }),
  },
}).createMachine({
  id: 'ca',
  context: ({ input, self }) => initialContext(input, self),
  initial: 'starting',
  on: {
    'host.serviceStarting': { actions: 'acceptServiceStart' },
    'ca.setPolicy': { actions: 'setPolicy' },
  },
  states: {
    starting: {
      always: [{ guard: 'hostDownAtStart', target: 'offline' }, { target: 'online' }],
    },
    online: {
      on: {
        'ca.submitRequest': { actions: 'submit' },
        'ca.retrieve': { actions: 'retrieve' },
        'ca.approve': { actions: 'approve' },
        'ca.deny': { actions: 'deny' },
        'ca.revoke': { actions: 'revoke' },
        'host.serviceStateChanged': { guard: 'certSvcNotRunning', target: 'offline', actions: 'announceOffline' },
        'host.powerChanged': { guard: 'hostPoweredOff', target: 'offline', actions: 'announceOffline' },
      },
    },
    offline: {
      on: {
        'ca.submitRequest': { actions: 'replyUnavailable' },
        'ca.retrieve': { actions: 'replyUnavailable' },
        'ca.approve': { actions: 'replyUnavailable' },
        'ca.deny': { actions: 'replyUnavailable' },
        'ca.revoke': { actions: 'replyUnavailable' },
        'host.serviceStateChanged': { guard: 'certSvcRunning', target: 'online', actions: 'announceOnline' },
      },
    },
  },
});

type Enqueue = {
  assign: (patch: { db: CaDatabase }) => void;
  emit: (event: CaEmitted) => void;
};

/** Stores the new database, journals the notices, then replies (so a caller's reply follows the journal). */
function apply<T>(enqueue: Enqueue, requestId: string, outcome: StoreOutcome<T>): void {
  enqueue.assign({ db: outcome.db });
  outcome.notices.forEach((n: CaNotice) => enqueue.emit(n));
  enqueue.emit({ type: 'ca.reply', requestId, result: outcome.result });
}
