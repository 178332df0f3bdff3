import type { EmulatorDefinition } from '../../sim/emulator.js';
import type { OcsInput } from './ocs.events.js';
import { ocsMachineFor } from './ocs.machine.js';
import { systemPeers } from './ocs.peers.js';

export { ocsSteps } from './ocs.steps.js';
export { ocsMachine } from './ocs.machine.js';
export * from './ocs.client.js';
export type * from './ocs.events.js';

/** One `ocs` actor: the OCS 2007 R2 deployment of the forest (pools, servers, wizards, services). */
export const ocsEmulator: EmulatorDefinition = {
  kind: 'ocs',
  instances: (topology, env) => {
    const input: OcsInput = { topology };
    // The certificate keys' stream is the one `ocs`'s environment forked as 'certificate-keys' before.
    const logic = ocsMachineFor({ env: env('ocs'), peers: systemPeers(topology, env('ocs/certificate-keys').ids) });
    return [{ systemId: 'ocs', logic, input }];
  },
};
