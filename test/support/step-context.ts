/**
 * A step context for tests that perform one step directly: the lab, its topology and the emulated
 * target's probes. The probes' network closes with the lab (`await lab.close()`).
 */
import type { Lab } from '../../sim/lab.js';
import type { StepContext } from '../../sim/steps.js';
import { labProbes } from '../../emulators/network/lab.probes.js';

let n = 0;

export function stepContext(lab: Lab): StepContext {
  const session = labProbes(lab);
  lab.resource(`test-probes:${n++}`, () => ({ value: session, close: () => session.close(), holds: () => false }));
  return { lab, topology: lab.topology, probes: session.probes };
}
