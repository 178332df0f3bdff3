import { describe, it, expect } from 'vitest';
import { Lab } from '../../sim/lab.js';
import { defaultTopology } from '../../sim/topology.js';
import { fakeHostEmulator, setFakeService } from '../hlb/fake-host.testkit.js';
import { sqlEmulator, sqlSteps } from './index.js';
import { sqlCreatePoolDatabases, sqlDatabases, sqlDelete, sqlOnline, sqlRead, sqlWrite } from './sql.client.js';
import { UNAVAILABLE_MESSAGE } from './sql.store.js';
import { hostEmulator } from '../host/index.js';
import { hostService, hostStartService, hostStopService } from '../host/host.client.js';
import { syncOutcome } from '../../test/support/sync-step.js';
import { stepContext } from '../../test/support/step-context.js';

const step = (name: string) => {
  const s = sqlSteps.find((d) => d.name === name);
  if (!s) throw new Error(`no step ${name}`);
  return s;
};

describe('the SQL Server back end', () => {
  it('creates the four pool databases once, and refuses a second Create Pool unless told to overwrite', () => {
    const lab = new Lab(defaultTopology(), [sqlEmulator], { seed: 's' });
    const sql = lab.get('sql:sql01');
    expect(sqlOnline(sql)).toBe(true);
    expect(sqlCreatePoolDatabases(sql, { pool: 'pool01' })).toEqual({ ok: true, value: { databases: ['RTC', 'RTCConfig', 'RTCDyn', 'RTCab'] } });
    expect(sqlDatabases(sql)).toEqual(['RTC', 'RTCConfig', 'RTCDyn', 'RTCab']);
    expect(lab.journal.entries.map((e) => e.event.summary)).toContain('Created database RTC on SQL01 for pool pool01');

    const again = sqlCreatePoolDatabases(sql, { pool: 'pool01' });
    expect(again).toMatchObject({ ok: false, failure: { kind: 'sql.databaseExists', message: "Database 'RTC' already exists. Choose a different database name." } });
    expect(sqlCreatePoolDatabases(sql, { pool: 'pool01', overwrite: true }).ok).toBe(true);
    lab.stop();
  });

  it('keeps rows by key in named tables', () => {
    const lab = new Lab(defaultTopology(), [sqlEmulator], { seed: 's' });
    const sql = lab.get('sql:sql01');
    sqlCreatePoolDatabases(sql, { pool: 'pool01' });
    const row = { displayName: 'OCS User 1', homePool: 'pool01.corp.example.net', optionFlags: 256 };
    expect(sqlWrite(sql, { database: 'RTC', table: 'Resource', key: 'sip:ocsuser1@example.com', row })).toEqual({ ok: true, value: { created: true } });
    expect(sqlWrite(sql, { database: 'rtc', table: 'Resource', key: 'sip:ocsuser1@example.com', row })).toEqual({ ok: true, value: { created: false } });
    expect(sqlRead(sql, { database: 'RTC', table: 'Resource', key: 'sip:ocsuser1@example.com' })).toEqual({ ok: true, value: [{ key: 'sip:ocsuser1@example.com', row }] });
    expect(sqlRead(sql, { database: 'RTCDyn', table: 'Endpoint' })).toEqual({ ok: true, value: [] });
    expect(sqlDelete(sql, { database: 'RTC', table: 'Resource', key: 'sip:ocsuser1@example.com' })).toEqual({ ok: true, value: { deleted: true } });
    expect(sqlRead(sql, { database: 'RTC', table: 'Resource' })).toEqual({ ok: true, value: [] });
    expect(sqlWrite(sql, { database: 'LcsLog', table: 'Messages', key: '1', row: {} })).toMatchObject({
      ok: false,
      failure: { kind: 'sql.noSuchDatabase', message: 'Cannot open database "LcsLog" requested by the login. The login failed.' },
    });
    lab.stop();
  });

  it('answers only while MSSQLSERVER runs on its host', () => {
    const host = fakeHostEmulator('sql01', [{ name: 'MSSQLSERVER', displayName: 'SQL Server (MSSQLSERVER)', state: 'Stopped', owner: 'sql:sql01' }]);
    const lab = new Lab(defaultTopology(), [host, sqlEmulator], { seed: 's' });
    const sql = lab.get('sql:sql01');
    const ctx = stepContext(lab);
    expect(sqlOnline(sql)).toBe(false);
    expect(syncOutcome(step('sql.online').emulated(ctx, { server: 'sql01', online: true }))).toEqual({ ok: false, reason: 'expected online, found offline' });
    expect(sqlCreatePoolDatabases(sql, { pool: 'pool01' })).toEqual({ ok: false, failure: { kind: 'sql.unavailable', message: UNAVAILABLE_MESSAGE, server: 'SQL01' } });
    expect(sqlRead(sql, { database: 'RTC', table: 'Resource' })).toMatchObject({ ok: false, failure: { kind: 'sql.unavailable' } });

    lab.send('host:sql01', setFakeService('MSSQLSERVER', 'Running'));
    expect(sqlOnline(sql)).toBe(true);
    expect(lab.journal.eventLog('sql01', 'Application').map((r) => r.eventId)).toEqual([17126]);
    expect(sqlCreatePoolDatabases(sql, { pool: 'pool01' }).ok).toBe(true);
    expect(syncOutcome(step('sql.databaseExists').emulated(ctx, { server: 'sql01', database: 'RTCConfig', exists: true })).ok).toBe(true);

    lab.send('host:sql01', setFakeService('MSSQLSERVER', 'Stop Pending'));
    expect(sqlOnline(sql)).toBe(false);
    expect(sqlWrite(sql, { database: 'RTC', table: 'Resource', key: 'k', row: {} })).toMatchObject({ ok: false, failure: { kind: 'sql.unavailable' } });
    lab.stop();
  });

  it('says what it found when a database check fails', () => {
    const lab = new Lab(defaultTopology(), [sqlEmulator], { seed: 's' });
    const out = syncOutcome(step('sql.databaseExists').emulated(stepContext(lab), { server: 'sql01', database: 'RTC', exists: true }));
    expect(out).toEqual({ ok: false, reason: 'expected database RTC to exist, found it absent', details: ['databases on SQL01: (none but the system databases)'] });
    lab.stop();
  });
});

describe('the SQL Server back end on the real host emulator', () => {
  it('goes offline when MSSQLSERVER stops and back online when it starts', () => {
    const lab = new Lab(defaultTopology(), [hostEmulator, sqlEmulator], { seed: 's' });
    const sql = lab.get('sql:sql01');
    expect(sqlOnline(sql)).toBe(true);
    expect(hostStopService(lab.get('host:sql01'), { name: 'MSSQLSERVER' }).ok).toBe(true);
    lab.waitFor(() => hostService(lab.get('host:sql01'), 'MSSQLSERVER')?.state === 'Stopped', 60_000);
    expect(sqlCreatePoolDatabases(sql, { pool: 'pool01' })).toMatchObject({ ok: false, failure: { kind: 'sql.unavailable' } });
    expect(hostStartService(lab.get('host:sql01'), { name: 'MSSQLSERVER' }).ok).toBe(true);
    expect(lab.waitFor(() => sqlOnline(sql), 60_000).satisfied).toBe(true);
    expect(lab.journal.eventLog('sql01', 'Application').some((r) => r.eventId === 17126)).toBe(true);
    expect(sqlCreatePoolDatabases(sql, { pool: 'pool01' }).ok).toBe(true);
    lab.stop();
  });
});
