/**
 * The seam between the runner and the world. The runner hands a planned step to a target and gets an
 * outcome back; it never calls machines itself. A real target (sim/replay.ts) sends the same checks'
 * probes to real endpoints.
 */
import type { Lab } from './lab.js';
import type { Probes } from './probes.js';
import type { StepDefinition, StepOutcome } from './steps.js';
import type { Topology } from './topology.js';

/** The probes of one step on the embedded lab, closed after it (emulators/network/lab.probes.ts). */
export type ProbeFactory = (lab: Lab) => { probes: Probes; close(): Promise<void> };

/** Probes for a registry that provides none (kernel tests with toy emulators): every question fails loudly. */
const noProbes: ProbeFactory = () => {
  const none = (): never => {
    throw new Error('this registry provides no probes (Registry.probes)');
  };
  return { probes: { target: 'emulated', ldapSearch: none, ldapBind: none, dnsQuery: none, tlsHandshake: none, httpRequest: none, now: none }, close: async () => undefined };
};

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
  constructor(readonly lab: Lab, readonly topology: Topology, private readonly probeFactory: ProbeFactory = noProbes) {}

  async perform(step: PlannedStep): Promise<StepOutcome> {
    const session = this.probeFactory(this.lab);
    try {
      return await step.definition.emulated({ lab: this.lab, topology: this.topology, probes: session.probes }, step.params);
    } finally {
      await session.close();
    }
  }

  elapsed(): number {
    return this.lab.clock.elapsed();
  }
}
