/**
 * How other emulators and steps use the back end: commands through `request()`, reads from the snapshot.
 */
import type { AnyActorRef } from 'xstate';
import { request } from '../../sim/emulator.js';
import { fail, type Result } from '../../sim/result.js';
import type { SqlRow } from './sql.events.js';
import type { SqlContext } from './sql.machine.js';
import { databaseNames, readRows, sqlServiceState, unavailable, type SqlKeyedRow } from './sql.store.js';

type Ref = AnyActorRef | undefined;

function context(ref: Ref): SqlContext {
  if (!ref) throw new Error('sql: no such actor in this lab');
  return (ref.getSnapshot() as { context: SqlContext }).context;
}

/** Creates RTC, RTCConfig, RTCDyn and RTCab for a pool (what Create Pool does on the back end). */
export const sqlCreatePoolDatabases = (ref: Ref, args: { pool: string; overwrite?: boolean }): Result<{ databases: string[] }> =>
  request(ref, 'sql.reply', { type: 'sql.createPoolDatabases', ...args });

/** Inserts or replaces the row under `key`; `created` says which. */
export const sqlWrite = (ref: Ref, args: { database: string; table: string; key: string; row: SqlRow }): Result<{ created: boolean }> =>
  request(ref, 'sql.reply', { type: 'sql.write', ...args });

/** Many rows of one table in one batch: all written or none; `created` counts the new ones. */
export const sqlWriteRows = (ref: Ref, args: { database: string; table: string; rows: Array<{ key: string; row: SqlRow }> }): Result<{ created: number }> =>
  request(ref, 'sql.reply', { type: 'sql.writeRows', ...args });

export const sqlDelete = (ref: Ref, args: { database: string; table: string; key: string }): Result<{ deleted: boolean }> =>
  request(ref, 'sql.reply', { type: 'sql.delete', ...args });

/** One row (`key`) or the whole table, in insertion order; fails like a connection would while offline. */
export function sqlRead(ref: Ref, args: { database: string; table: string; key?: string }): Result<SqlKeyedRow[]> {
  const c = context(ref);
  if (!sqlOnline(ref)) return fail(unavailable(c.store));
  return readRows(c.store, args.database, args.table, args.key);
}

export const sqlDatabases = (ref: Ref): string[] => databaseNames(context(ref).store);

/** Whether the instance accepts connections (its service is Running). */
export function sqlOnline(ref: Ref): boolean {
  const c = context(ref);
  return sqlServiceState(c.service) === 'Running';
}
