import type { EmulatorDefinition } from '../../sim/emulator.js';
import { SQL_DEFAULT_INSTANCE, sqlId, type SqlInput } from './sql.events.js';
import { sqlMachine } from './sql.machine.js';

export { sqlSteps } from './sql.steps.js';
export * from './sql.client.js';
export * from './sql.events.js';

/** One SQL Server 2008 default instance per host with the sqlServer role. */
export const sqlEmulator: EmulatorDefinition = {
  kind: 'sql',
  instances: (topology) =>
    topology.hosts
      .filter((h) => h.roles.includes('sqlServer'))
      .map((h) => {
        const systemId = sqlId(h.name);
        const input: SqlInput = { host: h.name, fqdn: h.fqdn, instance: SQL_DEFAULT_INSTANCE };
        return { systemId, logic: sqlMachine, input };
      }),
};
