/**
 * IIS 7.0 on every OCS front end: one actor `iis:<host>` per host with the ocsFrontEnd role.
 */
import type { EmulatorDefinition } from '../../sim/emulator.js';
import type { StepDefinition } from '../../sim/steps.js';
import { iisId, type IisInput } from './iis.events.js';
import { iisMachine } from './iis.machine.js';
import { iisStepList } from './iis.steps.js';

export const iisEmulator: EmulatorDefinition = {
  kind: 'iis',
  instances: (topology) =>
    topology.hosts
      .filter((h) => h.roles.includes('ocsFrontEnd'))
      .map((h) => {
        const systemId = iisId(h.name);
        const input: IisInput = { host: h.name, hostFqdn: h.fqdn, netbios: topology.forest.netbios, installedFeatures: h.features };
        return { systemId, logic: iisMachine, input };
      }),
};

export const iisSteps: StepDefinition[] = iisStepList;

export { iisMachine } from './iis.machine.js';
export * from './iis.client.js';
export type * from './iis.events.js';
