/**
 * The enterprise root CA. States:
 *
 *   online  ──host.serviceStateReported CertSvc not Running (once the lab runs)──▶ offline, silently
 *   online  ──host.serviceStateChanged CertSvc → anything but Running / host powered off──▶ offline
 *   offline ──host.serviceStateChanged CertSvc → Running──▶ online
 *
 * Online, the CA answers requests; offline, every request fails as certreq does against a stopped CA
 * (RPC server unavailable). The database and the last CRL survive going offline.
 */
import { assertEvent, enqueueActions, setup } from 'xstate';
import { IdSource } from '../../sim/ids.js';
import { environmentOf, kernel, kernelActions, type Kernel } from '../../sim/machine.js';
import { fail, ok } from '../../sim/result.js';
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
  type StoreOutcome,
} from './ca.store.js';
import { takeKey } from './keyring.js';
import { createRootCertificate } from './pki.js';

const ROOT_VALIDITY_YEARS = 5;

function initialContext(input: CaInput): CaContext {
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
  return { ids: env.ids.position(), host, administrator: `${topology.forest.netbios}\\${topology.administrator.sam}`, db };
}

const isCertSvc = (context: CaContext, e: { host: string; service: string }) =>
  e.service.toLowerCase() === CERTSVC.name.toLowerCase() && (e.host.toLowerCase() === context.host || e.host.toLowerCase().startsWith(`${context.host}.`));

export const caMachine = setup({
  types: {
    context: {} as CaContext,
    input: {} as CaInput,
    events: {} as CaEvent,
    emitted: {} as CaEmitted,
  },
  guards: {
    certSvcReportedDown: ({ context, event }) => event.type === 'host.serviceStateReported' && isCertSvc(context, event) && event.state !== 'Running',
    certSvcRunning: ({ context, event }) => event.type === 'host.serviceStateChanged' && isCertSvc(context, event) && event.to === 'Running',
    certSvcNotRunning: ({ context, event }) => event.type === 'host.serviceStateChanged' && isCertSvc(context, event) && event.to !== 'Running',
    hostPoweredOff: ({ context, event }) => event.type === 'host.powerChanged' && event.host.toLowerCase() === context.host && event.power === 'off',
  },
  actions: {
    ...kernelActions<CaContext, CaEvent, CaEmitted>(),
    submit: enqueueActions(({ context, event, system, self, enqueue: put }) => {
      const enqueue = kernel<CaContext, CaEvent, CaEmitted>(put);
      assertEvent(event, 'ca.submitRequest');
      const ids = IdSource.at(context.ids);
      apply(enqueue, event.requestId, submitRequest(context.db, { ...event, now: environmentOf({ system, self }).now(), nextSerial: () => ids.serial() }), ids);
    }),
    retrieve: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<CaContext, CaEvent, CaEmitted>(put);
      assertEvent(event, 'ca.retrieve');
      enqueue.emit({ type: 'ca.reply', requestId: event.requestId, result: retrieve(context.db, event.certRequestId) });
    }),
    approve: enqueueActions(({ context, event, system, self, enqueue: put }) => {
      const enqueue = kernel<CaContext, CaEvent, CaEmitted>(put);
      assertEvent(event, 'ca.approve');
      const ids = IdSource.at(context.ids);
      apply(enqueue, event.requestId, approveRequest(context.db, { requestId: event.certRequestId, now: environmentOf({ system, self }).now(), nextSerial: () => ids.serial() }), ids);
    }),
    deny: enqueueActions(({ context, event, system, self, enqueue: put }) => {
      const enqueue = kernel<CaContext, CaEvent, CaEmitted>(put);
      assertEvent(event, 'ca.deny');
      apply(enqueue, event.requestId, denyRequest(context.db, { requestId: event.certRequestId, now: environmentOf({ system, self }).now(), by: context.administrator }));
    }),
    revoke: enqueueActions(({ context, event, system, self, enqueue: put }) => {
      const enqueue = kernel<CaContext, CaEvent, CaEmitted>(put);
      assertEvent(event, 'ca.revoke');
      apply(enqueue, event.requestId, revokeCertificate(context.db, { serial: event.serial, reason: event.reason, now: environmentOf({ system, self }).now() }));
    }),
    setPolicy: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<CaContext, CaEvent, CaEmitted>(put);
      assertEvent(event, 'ca.setPolicy');
      apply(enqueue, event.requestId, setPendAll(context.db, event.pendAllRequests));
    }),
    replyUnavailable: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<CaContext, CaEvent, CaEmitted>(put);
      assertEvent(event, ['ca.submitRequest', 'ca.retrieve', 'ca.approve', 'ca.deny', 'ca.revoke']);
      enqueue.emit({
        type: 'ca.reply',
        requestId: event.requestId,
        result: fail({ kind: 'ca.unavailable', message: CA_MESSAGES.unavailable, config: context.db.identity.configString }),
      });
    }),
    acceptServiceStart: enqueueActions(({ event, enqueue: put }) => {
      const enqueue = kernel<CaContext, CaEvent, CaEmitted>(put);
      assertEvent(event, 'host.serviceStarting');
      enqueue.emit({ type: 'ca.reply', requestId: event.requestId, result: ok(undefined) });
    }),
    announceOnline: enqueueActions(({ context, enqueue: put }) => {
      const enqueue = kernel<CaContext, CaEvent, CaEmitted>(put);
      enqueue.emit({ type: 'ca.availabilityChanged', online: true, summary: `${context.db.identity.configString} is online (CertSvc Running)` });
    }),
    announceOffline: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<CaContext, CaEvent, CaEmitted>(put);
      const why = event.type === 'host.serviceStateChanged' ? `CertSvc ${event.to}` : `${context.host} powered off`;
      enqueue.emit({ type: 'ca.availabilityChanged', online: false, summary: `${context.db.identity.configString} is offline (${why})` });
    }),
  },
}).createMachine({
  id: 'ca',
  context: ({ input }) => initialContext(input),
  initial: 'online',
  on: {
    'host.serviceStarting': { actions: 'acceptServiceStart' },
    'ca.setPolicy': { actions: 'setPolicy' },
  },
  states: {
    online: {
      on: {
        'ca.submitRequest': { actions: 'submit' },
        'ca.retrieve': { actions: 'retrieve' },
        'ca.approve': { actions: 'approve' },
        'ca.deny': { actions: 'deny' },
        'ca.revoke': { actions: 'revoke' },
        'host.serviceStateChanged': { guard: 'certSvcNotRunning', target: 'offline', actions: 'announceOffline' },
        'host.powerChanged': { guard: 'hostPoweredOff', target: 'offline', actions: 'announceOffline' },
        'host.serviceStateReported': { guard: 'certSvcReportedDown', target: 'offline' },
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

type Enqueue = Pick<Kernel<CaContext, CaEvent, CaEmitted>, 'assign' | 'emit'>;

/** Stores the new database, journals the notices, then replies (so a caller's reply follows the journal). */
function apply<T>(enqueue: Enqueue, requestId: string, outcome: StoreOutcome<T>, ids?: IdSource): void {
  enqueue.assign({ db: outcome.db, ...(ids ? { ids: ids.position() } : {}) });
  outcome.notices.forEach((n: CaNotice) => enqueue.emit(n));
  enqueue.emit({ type: 'ca.reply', requestId, result: outcome.result });
}
