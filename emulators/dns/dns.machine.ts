/**
 * The lab's DNS service: one authoritative view of the AD-integrated zones, answered by every host with
 * the dnsServer role while at least one of them runs the DNS service. One state, `serving`; edits are
 * refused while no server runs (DNS Manager cannot connect), queries time out (see dns.client.ts).
 */
import { enqueueActions, setup } from 'xstate';
import { fail, ok } from '../../sim/result.js';
import { kernel, kernelActions } from '../../sim/machine.js';
import type { ServiceState, ServiceStateReported } from '../host/host.events.js';
import { DNS_SERVICE, type DnsCommand, type DnsEmitted, type DnsFailure, type DnsInput } from './dns.events.js';
import { addRecord, addZone, dnsAnswering, initialStore, removeRecord, type DnsStore } from './dns.store.js';

export interface DnsContext {
  store: DnsStore;
  /** The DNS service state each server's host last reported, by short host name. */
  heard: Record<string, ServiceState>;
}

/** What nslookup prints when no server answers. */
export const TIMED_OUT: DnsFailure = { kind: 'dns.unavailable', message: 'DNS request timed out.' };

type DnsEvent = DnsCommand | ServiceStateReported;

export const dnsMachine = setup({
  types: {
    context: {} as DnsContext,
    input: {} as DnsInput,
    events: {} as DnsEvent,
    emitted: {} as DnsEmitted,
  },
  actions: {
    ...kernelActions<DnsContext, DnsEvent, DnsEmitted>(),
    edit: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<DnsContext, DnsEvent, DnsEmitted>(put);
      if (event.type !== 'dns.addRecord' && event.type !== 'dns.removeRecord' && event.type !== 'dns.addZone') return;
      if (!dnsAnswering(context.store.servers, context.heard)) {
        enqueue.emit({ type: 'dns.reply', requestId: event.requestId, result: fail(TIMED_OUT) });
        return;
      }
      if (event.type === 'dns.addRecord') {
        const r = addRecord(context.store, event.record);
        if (r.result.ok) {
          const { zone, record } = r.result.value;
          enqueue.assign({ store: r.store });
          enqueue.emit({ type: 'dns.recordAdded', zone, record, summary: `Added ${record.text} (zone ${zone})` });
        }
        enqueue.emit({ type: 'dns.reply', requestId: event.requestId, result: r.result });
      } else if (event.type === 'dns.removeRecord') {
        const r = removeRecord(context.store, event.record);
        if (r.result.ok) {
          const { zone, removed } = r.result.value;
          enqueue.assign({ store: r.store });
          enqueue.emit({ type: 'dns.recordRemoved', zone, records: removed, summary: `Deleted ${removed.map((x) => x.text).join('; ')} (zone ${zone})` });
        }
        enqueue.emit({ type: 'dns.reply', requestId: event.requestId, result: r.result });
      } else {
        const r = addZone(context.store, event.zone);
        if (r.result.ok) {
          enqueue.assign({ store: r.store });
          enqueue.emit({ type: 'dns.zoneAdded', zone: r.result.value.zone, summary: `Created Active Directory-integrated primary zone ${r.result.value.zone}` });
        }
        enqueue.emit({ type: 'dns.reply', requestId: event.requestId, result: r.result });
      }
    }),
    allowStart: enqueueActions(({ event, enqueue: put }) => {
      const enqueue = kernel<DnsContext, DnsEvent, DnsEmitted>(put);
      if (event.type !== 'host.serviceStarting') return;
      enqueue.emit({ type: 'dns.reply', requestId: event.requestId, result: ok(undefined) });
    }),
    learnService: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<DnsContext, DnsEvent, DnsEmitted>(put);
      if (event.type !== 'host.serviceStateReported' || event.service.toLowerCase() !== DNS_SERVICE.toLowerCase()) return;
      const host = event.host.toLowerCase();
      if (context.store.servers.some((s) => s.name === host)) enqueue.assign({ heard: { ...context.heard, [host]: event.state } });
    }),
    followService: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<DnsContext, DnsEvent, DnsEmitted>(put);
      if (event.type !== 'host.serviceStateChanged' || event.service.toLowerCase() !== DNS_SERVICE.toLowerCase()) return;
      const host = event.host.toLowerCase();
      if (!context.store.servers.some((s) => s.name === host)) return;
      enqueue.assign({ heard: { ...context.heard, [host]: event.to } });
      const entry = (eventId: number, message: string) => ({ host, log: 'DNS Server', source: 'DNS', eventId, level: 'Information' as const, message });
      if (event.to === 'Running') enqueue.emit({ type: 'eventlog.write', entry: entry(2, 'The DNS server has started.') });
      if (event.to === 'Stopped') enqueue.emit({ type: 'eventlog.write', entry: entry(3, 'The DNS server has shut down.') });
    }),
  },
}).createMachine({
  id: 'dns',
  context: ({ input }) => ({ store: initialStore(input), heard: {} }),
  initial: 'serving',
  states: {
    serving: {
      on: {
        'dns.addRecord': { actions: 'edit' },
        'dns.removeRecord': { actions: 'edit' },
        'dns.addZone': { actions: 'edit' },
        'host.serviceStarting': { actions: 'allowStart' },
        'host.serviceStateChanged': { actions: 'followService' },
        'host.serviceStateReported': { actions: 'learnService' },
      },
    },
  },
});
