import type { EmulatorDefinition } from '../../sim/emulator.js';
import type { OcsInput } from './ocs.events.js';
import { ocsMachine } from './ocs.machine.js';
import { systemPeers } from './ocs.peers.js';

export { ocsSteps } from './ocs.steps.js';
export { ocsMachine } from './ocs.machine.js';
export * from './ocs.client.js';
export type * from './ocs.events.js';

/** One `ocs` actor: the OCS 2007 R2 deployment of the forest (pools, servers, wizards, services). */
export const ocsEmulator: EmulatorDefinition = {
  kind: 'ocs',
  instances: (topology, env) => {
    const e = env('ocs');
    const input: OcsInput = { env: e, topology, peers: systemPeers(topology, e.ids.fork('certificate-keys')) };
    return [{ systemId: 'ocs', logic: ocsMachine, input }];
  },
};
