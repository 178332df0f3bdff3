/**
 * SQL Server 2008 back end. One state, `serving`: whether it answers depends on its Windows service
 * (MSSQLSERVER), which the host runs and this machine owns. Every command checks availability first and
 * fails `sql.unavailable` with the client's connection error while the service is not Running.
 */
import { enqueueActions, setup } from 'xstate';
import { ok } from '../../sim/result.js';
import type { LabEnv } from '../../sim/emulator.js';
import type { ServiceState } from '../host/host.events.js';
import type { SqlCommand, SqlEmitted, SqlInput } from './sql.events.js';
import { createPoolDatabases, deleteRow, serverName, serviceKey, sqlServiceState, unavailable, writeRow, writeRows, type SqlStore } from './sql.store.js';

export interface SqlContext {
  env: LabEnv;
  store: SqlStore;
  /** The service state the host last reported; null until it reports one. */
  service: ServiceState | null;
}

export const sqlMachine = setup({
  types: {
    context: {} as SqlContext,
    input: {} as SqlInput,
    events: {} as SqlCommand,
    emitted: {} as SqlEmitted,
  },
  actions: {
    createPoolDatabases: enqueueActions(({ context, event, system, enqueue }) => {
      if (event.type !== 'sql.createPoolDatabases') return;
      if (sqlServiceState(system, context.store, context.service) !== 'Running') {
        enqueue.emit({ type: 'sql.reply', requestId: event.requestId, result: { ok: false, failure: unavailable(context.store) } });
        return;
      }
      const created = new Date(context.env.now()).toISOString();
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
    writeOrDelete: enqueueActions(({ context, event, system, enqueue }) => {
      if (event.type !== 'sql.write' && event.type !== 'sql.writeRows' && event.type !== 'sql.delete') return;
      if (sqlServiceState(system, context.store, context.service) !== 'Running') {
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
    allowStart: enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'host.serviceStarting') return;
      enqueue.emit({ type: 'sql.reply', requestId: event.requestId, result: ok(undefined) });
    }),
    followService: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'host.serviceStateChanged') return;
      if (event.host.toLowerCase() !== context.store.host.toLowerCase() || event.service.toLowerCase() !== serviceKey(context.store.instance).toLowerCase()) return;
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
    env: input.env,
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
      },
    },
  },
});
