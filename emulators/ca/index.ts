import type { EmulatorDefinition } from '../../sim/emulator.js';
import type { CaInput } from './ca.events.js';
import { caMachine } from './ca.machine.js';

export { caSteps } from './ca.steps.js';
export { CERTSVC } from './ca.events.js';

/** One `ca` actor: the topology's enterprise root CA. List it after the hosts in the registry. */
export const caEmulator: EmulatorDefinition = {
  kind: 'ca',
  instances: (topology, env) => [{ systemId: 'ca', logic: caMachine, input: { env: env('ca'), topology } satisfies CaInput }],
};
