import type { EmulatorDefinition } from '../../sim/emulator.js';
import { adMachineFor, DEFAULT_REPLICATION_DELAY_MS } from './ad.machine.js';
import type { AdInput } from './ad.events.js';
import { adSteps } from './ad.steps.js';

/** One actor, systemId `ad`, for the forest and all of its domain controllers. */
export const adEmulator: EmulatorDefinition = {
  kind: 'ad',
  instances: (topology, env) => {
    const input: AdInput = { env: env('ad'), topology, replicationDelayMs: DEFAULT_REPLICATION_DELAY_MS };
    return [{ systemId: 'ad', logic: adMachineFor(input.env), input }];
  },
};

export { adSteps };
export * from './ad.client.js';
export type * from './ad.events.js';
