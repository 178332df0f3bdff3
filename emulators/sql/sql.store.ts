/**
 * The back end's data: databases of named tables, each a collection of rows keyed by a string (the RTC
 * `Resource` table keyed by SIP URI, RTCConfig `PoolSettings` keyed by pool, RTCDyn `Endpoint` ...).
 * Plain data and pure functions; the machine only decides when they run.
 */
import { fail, ok, type Result } from '../../sim/result.js';
import type { ServiceState } from '../host/host.events.js';
import { POOL_DATABASES, SQL_DEFAULT_INSTANCE, SQL_SERVICE, type SqlFailure, type SqlRow } from './sql.events.js';

export interface SqlDatabase {
  name: string;
  /** The pool whose Create Pool made it. */
  pool: string;
  /** Simulated time of creation, ISO 8601. */
  created: string;
  tables: Record<string, Record<string, SqlRow>>;
}

export interface SqlStore {
  host: string;
  fqdn: string;
  instance: string;
  databases: Record<string, SqlDatabase>;
}

/** The tables each pool database starts with; writes to another table create it, as the real schema would already have it. */
const INITIAL_TABLES: Record<(typeof POOL_DATABASES)[number], string[]> = {
  RTC: ['Resource', 'Contact', 'ContactGroup', 'Acl'],
  RTCConfig: ['PoolSettings'],
  RTCDyn: ['Endpoint', 'Subscription'],
  RTCab: ['AbUserEntry'],
};

/** "SQL01" for the default instance, "SQL01\\NAME" for a named one, as clients and LCSCmd /PoolBE name it. */
export function serverName(store: Pick<SqlStore, 'host' | 'instance'>): string {
  const h = store.host.toUpperCase();
  return store.instance.toUpperCase() === SQL_DEFAULT_INSTANCE ? h : `${h}\\${store.instance}`;
}

/** SQL Native Client's text when the instance cannot be reached. */
export const UNAVAILABLE_MESSAGE =
  'A network-related or instance-specific error occurred while establishing a connection to SQL Server. The server was not found or was not accessible. Verify that the instance name is correct and that SQL Server is configured to allow remote connections. (provider: Named Pipes Provider, error: 40 - Could not open a connection to SQL Server)';

export const unavailable = (store: SqlStore): SqlFailure => ({ kind: 'sql.unavailable', message: UNAVAILABLE_MESSAGE, server: serverName(store) });

/** Msg 4060. */
const noSuchDatabase = (store: SqlStore, database: string): SqlFailure => ({
  kind: 'sql.noSuchDatabase',
  message: `Cannot open database "${database}" requested by the login. The login failed.`,
  server: serverName(store),
  database,
  databases: Object.keys(store.databases),
});

/** Database names are case-insensitive under the default collation. */
function findDatabase(store: SqlStore, name: string): SqlDatabase | undefined {
  const lower = name.toLowerCase();
  return Object.values(store.databases).find((d) => d.name.toLowerCase() === lower);
}

export function databaseNames(store: SqlStore): string[] {
  return Object.keys(store.databases);
}

export function createPoolDatabases(
  store: SqlStore,
  pool: string,
  overwrite: boolean,
  created: string,
): { store: SqlStore; result: Result<{ databases: string[] }, SqlFailure> } {
  const existing = POOL_DATABASES.filter((d) => findDatabase(store, d));
  const [first] = existing;
  if (first !== undefined && !overwrite) {
    // Msg 1801.
    return { store, result: fail({ kind: 'sql.databaseExists', message: `Database '${first}' already exists. Choose a different database name.`, server: serverName(store), database: first, existing }) };
  }
  const databases = { ...store.databases };
  for (const name of POOL_DATABASES) {
    databases[name] = { name, pool, created, tables: Object.fromEntries(INITIAL_TABLES[name].map((t) => [t, {}])) };
  }
  return { store: { ...store, databases }, result: ok({ databases: [...POOL_DATABASES] }) };
}

export function writeRow(store: SqlStore, database: string, table: string, key: string, row: SqlRow): { store: SqlStore; result: Result<{ created: boolean }, SqlFailure> } {
  const r = writeRows(store, database, table, [{ key, row }]);
  return { store: r.store, result: r.result.ok ? ok({ created: r.result.value.created === 1 }) : r.result };
}

/** `writeRow` for many rows of one table, copying the table once; how many rows were new. */
export function writeRows(store: SqlStore, database: string, table: string, rows: ReadonlyArray<{ key: string; row: SqlRow }>): { store: SqlStore; result: Result<{ created: number }, SqlFailure> } {
  const db = findDatabase(store, database);
  if (!db) return { store, result: fail(noSuchDatabase(store, database)) };
  const next = { ...(db.tables[table] ?? {}) };
  let created = 0;
  for (const { key, row } of rows) {
    if (!(key in next)) created++;
    next[key] = row;
  }
  const nextDb: SqlDatabase = { ...db, tables: { ...db.tables, [table]: next } };
  return { store: { ...store, databases: { ...store.databases, [db.name]: nextDb } }, result: ok({ created }) };
}

export function deleteRow(store: SqlStore, database: string, table: string, key: string): { store: SqlStore; result: Result<{ deleted: boolean }, SqlFailure> } {
  const db = findDatabase(store, database);
  if (!db) return { store, result: fail(noSuchDatabase(store, database)) };
  const rows = db.tables[table];
  if (!rows || !(key in rows)) return { store, result: ok({ deleted: false }) };
  const { [key]: _gone, ...rest } = rows;
  const next: SqlDatabase = { ...db, tables: { ...db.tables, [table]: rest } };
  return { store: { ...store, databases: { ...store.databases, [db.name]: next } }, result: ok({ deleted: true }) };
}

export interface SqlKeyedRow {
  key: string;
  row: SqlRow;
}

export function readRows(store: SqlStore, database: string, table: string, key?: string): Result<SqlKeyedRow[], SqlFailure> {
  const db = findDatabase(store, database);
  if (!db) return fail(noSuchDatabase(store, database));
  const rows = db.tables[table] ?? {};
  if (key !== undefined) {
    const row = rows[key];
    return ok(row ? [{ key, row }] : []);
  }
  return ok(Object.entries(rows).map(([k, row]) => ({ key: k, row })));
}

/** MSSQLSERVER for the default instance, MSSQL$NAME for a named one. */
export const serviceKey = (instance: string): string => (instance.toUpperCase() === SQL_DEFAULT_INSTANCE ? SQL_SERVICE : `MSSQL$${instance.toUpperCase()}`);

/**
 * The instance's service state, as its host last told it (at lab start, on install, on every change);
 * never told (a machine test with no host) counts as Running.
 */
export const sqlServiceState = (heard: ServiceState | null): ServiceState => heard ?? 'Running';
