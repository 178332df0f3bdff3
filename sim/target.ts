/**
 * The seam between the runner and the world. The runner hands a planned step to a target and gets an
 * outcome back; it never calls machines itself. Only the emulated target exists today; a `real` target
 * will send the same checks to real endpoints.
 */
import type { Lab } from './lab.js';
import type { StepDefinition, StepOutcome } from './steps.js';
import type { Topology } from './topology.js';

export interface PlannedStep {
  definition: StepDefinition;
  params: Record<string, unknown>;
}

export interface Target {
  readonly name: string;
  perform(step: PlannedStep): Promise<StepOutcome>;
  /** Simulated (or wall) milliseconds since the target started. */
  elapsed(): number;
}

export class EmulatedTarget implements Target {
  readonly name = 'emulated';
  constructor(readonly lab: Lab, readonly topology: Topology) {}

  async perform(step: PlannedStep): Promise<StepOutcome> {
    return step.definition.emulated({ lab: this.lab, topology: this.topology }, step.params);
  }

  elapsed(): number {
    return this.lab.clock.elapsed();
  }
}
