/**
 * Operator checks on the back end: is the instance up, does a database exist (what SQL Server Management
 * Studio's Object Explorer shows).
 */
import { z } from 'zod';
import { defineStep, failed, passed, type StepDefinition } from '../../sim/steps.js';
import { sqlId } from './sql.events.js';
import { sqlDatabases, sqlOnline } from './sql.client.js';

const databaseExists = defineStep({
  name: 'sql.databaseExists',
  kind: 'check',
  summary: 'Check that a database exists (or not) on a SQL Server back end',
  params: z.strictObject({ server: z.string(), database: z.string(), exists: z.boolean().default(true) }),
  refs: { server: 'host' },
  console: (p) => `SQL Server Management Studio on ${p.server}: Databases > ${p.database}`,
  title: (p) => `Database ${p.database} ${p.exists ? 'exists' : 'does not exist'} on ${p.server.toUpperCase()}`,
  emulated: ({ lab }, p) => {
    const ref = lab.get(sqlId(p.server));
    if (!ref) return failed(`${p.server} is not a SQL Server back end in this topology`);
    const names = sqlDatabases(ref);
    const found = names.some((n) => n.toLowerCase() === p.database.toLowerCase());
    const details = [`databases on ${p.server.toUpperCase()}: ${names.length ? names.join(', ') : '(none but the system databases)'}`];
    if (found === p.exists) return passed(details);
    return failed(`expected database ${p.database} ${p.exists ? 'to exist' : 'to be absent'}, found it ${found ? 'present' : 'absent'}`, details);
  },
});

const online = defineStep({
  name: 'sql.online',
  kind: 'check',
  summary: 'Check whether a SQL Server back end accepts connections',
  params: z.strictObject({ server: z.string(), online: z.boolean().default(true) }),
  refs: { server: 'host' },
  console: (p) => `SQL Server Configuration Manager or Services on ${p.server}: MSSQLSERVER`,
  title: (p) => `SQL Server on ${p.server.toUpperCase()} is ${p.online ? 'online' : 'offline'}`,
  emulated: ({ lab }, p) => {
    const ref = lab.get(sqlId(p.server));
    if (!ref) return failed(`${p.server} is not a SQL Server back end in this topology`);
    const actual = sqlOnline(ref);
    if (actual === p.online) return passed();
    return failed(`expected ${p.online ? 'online' : 'offline'}, found ${actual ? 'online' : 'offline'}`);
  },
});

export const sqlSteps: StepDefinition[] = [databaseExists, online];
