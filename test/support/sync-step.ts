/**
 * Unit tests of synchronous steps read the outcome directly. A step that answers with a promise (one that
 * talks to the lab over sockets) is not one of them: saying so beats a confusing `undefined`.
 */
import type { StepOutcome } from '../../sim/steps.js';

export function syncOutcome(outcome: StepOutcome | Promise<StepOutcome>): StepOutcome {
  if (outcome instanceof Promise) throw new Error('this step answers asynchronously: await it instead');
  return outcome;
}
