import type { EmulatorDefinition } from '../../sim/emulator.js';
import { COMMUNICATOR_ID, type CommunicatorInput } from './communicator.events.js';
import { communicatorMachine } from './communicator.machine.js';

export { communicatorSteps } from './communicator.steps.js';
export { communicatorsOnTarget } from './communicator.fleet.js';
export { communicatorFaults } from './communicator.faults.js';
export * from './communicator.client.js';
export * from './communicator.events.js';

/** The lab's Communicator clients: one settings store, one client (pseudo-host `client-<sam>`) per topology user. */
export const communicatorEmulator: EmulatorDefinition = {
  kind: 'communicator',
  instances: (_topology, env) => {
    const input: CommunicatorInput = { env: env(COMMUNICATOR_ID) };
    return [{ systemId: COMMUNICATOR_ID, logic: communicatorMachine, input }];
  },
};
