/**
 * A wall-clock lab walked through the seed up to the end of `seed-part3` with the emulated target, step
 * by step, so a test can start the IIS adapter part-way (before the manual HTTPS binding) and then carry on.
 */
import { Lab } from '../../sim/lab.js';
import { SimClock } from '../../sim/clock.js';
import { DEFAULT_SEED } from '../../sim/runner.js';
import type { ScenarioStep } from '../../sim/scenario.js';
import { EmulatedTarget } from '../../sim/target.js';
import { registry } from '../../emulators/index.js';
import { compile } from './shipped.js';

export interface SeedWalk {
  lab: Lab;
  /** Performs the next steps up to (not including) the first step named `name`; all of them when undefined. */
  until(name?: string): Promise<void>;
  /** Steps not yet performed. */
  remaining(): readonly ScenarioStep[];
}

/**
 * The clock starts `backMs` before now (default 10 minutes: the seed takes about 8.5 simulated minutes),
 * so the pool certificate issued during the walk is valid for real clients.
 */
export function walkSeed(id = 'seed-part3', backMs = 600_000): SeedWalk {
  const scenario = compile(id);
  const lab = new Lab(scenario.topology, registry.emulators, { seed: scenario.seed ?? DEFAULT_SEED, clock: new SimClock(Date.now() - backMs) });
  const target = new EmulatedTarget(lab, scenario.topology, registry.probes);
  const steps: ScenarioStep[] = [...[...scenario.from].reverse().flatMap((b) => [...b.steps, ...b.expect]), ...scenario.steps, ...scenario.expect];
  let next = 0;
  return {
    lab,
    async until(name) {
      while (next < steps.length) {
        const step = steps[next];
        if (!step || (name !== undefined && step.name === name)) return;
        const outcome = await target.perform({ definition: step.definition, params: step.params });
        const expectedFailure = step.expectFailure !== undefined;
        if (outcome.ok === expectedFailure) throw new Error(`${id}: step ${step.name} (${step.title}) ${outcome.ok ? 'passed but should fail' : `failed: ${outcome.reason ?? ''}`}`);
        next += 1;
      }
    },
    remaining: () => steps.slice(next),
  };
}
