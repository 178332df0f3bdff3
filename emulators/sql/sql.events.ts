/**
 * SQL Server 2008 back end of an Enterprise pool: commands in, events out, input, failure kinds.
 * Other emulators (ocs) use these types and `sql.client.ts`; only `sql.machine.ts` handles the commands.
 */
import type { EventLogWrite, JsonValue } from '../../sim/journal.js';
import type { Failure, Result } from '../../sim/result.js';
import type { ServiceStartingQuery, ServiceStateChanged } from '../host/host.events.js';

/** The default instance's service key name and its services.msc display name. */
export const SQL_SERVICE = 'MSSQLSERVER';
export const SQL_SERVICE_DISPLAY_NAME = 'SQL Server (MSSQLSERVER)';
export const SQL_DEFAULT_INSTANCE = 'MSSQLSERVER';

/** The four databases Create Pool puts on the back end (ocs-facts §1.4 [V]). */
export const POOL_DATABASES = ['RTC', 'RTCConfig', 'RTCDyn', 'RTCab'] as const;
export type PoolDatabase = (typeof POOL_DATABASES)[number];

/** The systemId of the SQL Server actor on a host. */
export const sqlId = (host: string) => `sql:${host.toLowerCase()}`;

export type SqlRow = Record<string, JsonValue>;

export type SqlFailureKind = 'sql.unavailable' | 'sql.noSuchDatabase' | 'sql.databaseExists';
export interface SqlFailure extends Failure {
  kind: SqlFailureKind;
}

export interface SqlInput {
  /** Short host name, "sql01". */
  host: string;
  /** "sql01.corp.example.net". */
  fqdn: string;
  /** "MSSQLSERVER" for the default instance. */
  instance: string;
}

export type SqlCommand =
  | { type: 'sql.createPoolDatabases'; requestId: string; pool: string; overwrite?: boolean }
  | { type: 'sql.write'; requestId: string; database: string; table: string; key: string; row: SqlRow }
  /** Many rows of one table in one batch (the User Replicator's pass): all written, or none. */
  | { type: 'sql.writeRows'; requestId: string; database: string; table: string; rows: Array<{ key: string; row: SqlRow }> }
  | { type: 'sql.delete'; requestId: string; database: string; table: string; key: string }
  | ServiceStartingQuery
  | ServiceStateChanged;

export interface SqlDatabaseCreated {
  type: 'sql.databaseCreated';
  server: string;
  database: string;
  pool: string;
  summary: string;
}

export type SqlEmitted = { type: 'sql.reply'; requestId: string; result: Result<unknown> } | SqlDatabaseCreated | EventLogWrite;
