/**
 * SQL Server 2008 back end. One state, `serving`: whether it answers depends on its Windows service
 * (MSSQLSERVER), which the host runs and this machine owns. Every command checks availability first and
 * fails `sql.unavailable` with the client's connection error while the service is not Running.
 */
import { enqueueActions, setup } from 'xstate';
import { ok } from '../../sim/result.js';
import { environmentOf, kernel, kernelActions } from '../../sim/machine.js';
import type { ServiceState, ServiceStateReported } from '../host/host.events.js';
import type { SqlCommand, SqlEmitted, SqlInput } from './sql.events.js';
import { createPoolDatabases, deleteRow, serverName, serviceKey, sqlServiceState, unavailable, writeRow, writeRows, type SqlStore } from './sql.store.js';

export interface SqlContext {
  store: SqlStore;
  /** The service state the host last reported; null until it reports one. */
  service: ServiceState | null;
}

type SqlEvent = SqlCommand | ServiceStateReported;

/** Whether a host's word is about this instance's own service. */
const isOwnService = (store: SqlStore, e: { host: string; service: string }) =>
  e.host.toLowerCase() === store.host.toLowerCase() && e.service.toLowerCase() === serviceKey(store.instance).toLowerCase();

export const sqlMachine = setup({
  types: {
    context: {} as SqlContext,
    input: {} as SqlInput,
    events: {} as SqlEvent,
    emitted: {} as SqlEmitted,
  },
  actions: {
    ...kernelActions<SqlContext, SqlEvent, SqlEmitted>(),
    createPoolDatabases: enqueueActions(({ context, event, system, self, enqueue: put }) => {
      const enqueue = kernel<SqlContext, SqlEvent, SqlEmitted>(put);
      if (event.type !== 'sql.createPoolDatabases') return;
      if (sqlServiceState(context.service) !== 'Running') {
        enqueue.emit({ type: 'sql.reply', requestId: event.requestId, result: { ok: false, failure: unavailable(context.store) } });
        return;
      }
      const created = new Date(environmentOf({ system, self }).now()).toISOString();
      const r = createPoolDatabases(context.store, event.pool, event.overwrite ?? false, created);
      if (r.result.ok) {
        enqueue.assign({ store: r.store });
        const server = serverName(context.store);
        for (const database of r.result.value.databases) {
          enqueue.emit({ type: 'sql.databaseCreated', server, database, pool: event.pool, summary: `Created database ${database} on ${server} for pool ${event.pool}` });
        }
      }
      enqueue.emit({ type: 'sql.reply', requestId: event.requestId, result: r.result });
    }),
    writeOrDelete: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<SqlContext, SqlEvent, SqlEmitted>(put);
      if (event.type !== 'sql.write' && event.type !== 'sql.writeRows' && event.type !== 'sql.delete') return;
      if (sqlServiceState(context.service) !== 'Running') {
        enqueue.emit({ type: 'sql.reply', requestId: event.requestId, result: { ok: false, failure: unavailable(context.store) } });
        return;
      }
      const r =
        event.type === 'sql.write'
          ? writeRow(context.store, event.database, event.table, event.key, event.row)
          : event.type === 'sql.writeRows'
            ? writeRows(context.store, event.database, event.table, event.rows)
            : deleteRow(context.store, event.database, event.table, event.key);
      if (r.result.ok) enqueue.assign({ store: r.store });
      enqueue.emit({ type: 'sql.reply', requestId: event.requestId, result: r.result });
    }),
    allowStart: enqueueActions(({ event, enqueue: put }) => {
      const enqueue = kernel<SqlContext, SqlEvent, SqlEmitted>(put);
      if (event.type !== 'host.serviceStarting') return;
      enqueue.emit({ type: 'sql.reply', requestId: event.requestId, result: ok(undefined) });
    }),
    learnService: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<SqlContext, SqlEvent, SqlEmitted>(put);
      if (event.type !== 'host.serviceStateReported' || !isOwnService(context.store, event)) return;
      enqueue.assign({ service: event.state });
    }),
    followService: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<SqlContext, SqlEvent, SqlEmitted>(put);
      if (event.type !== 'host.serviceStateChanged') return;
      if (!isOwnService(context.store, event)) return;
      enqueue.assign({ service: event.to });
      if (event.to === 'Running') {
        // SQL Server's own Application log entry once it accepts connections.
        enqueue.emit({
          type: 'eventlog.write',
          entry: {
            host: context.store.host,
            log: 'Application',
            source: context.store.instance.toUpperCase(),
            eventId: 17126,
            level: 'Information',
            message: 'SQL Server is now ready for client connections. This is an informational message; no user action is required.',
          },
        });
      }
    }),
  },
}).createMachine({
  id: 'sql',
  context: ({ input }) => ({
    store: { host: input.host.toLowerCase(), fqdn: input.fqdn.toLowerCase(), instance: input.instance, databases: {} },
    service: null,
  }),
  initial: 'serving',
  states: {
    serving: {
      on: {
        'sql.createPoolDatabases': { actions: 'createPoolDatabases' },
        'sql.write': { actions: 'writeOrDelete' },
        'sql.writeRows': { actions: 'writeOrDelete' },
        'sql.delete': { actions: 'writeOrDelete' },
        'host.serviceStarting': { actions: 'allowStart' },
        'host.serviceStateChanged': { actions: 'followService' },
        'host.serviceStateReported': { actions: 'learnService' },
      },
    },
  },
});
