/**
 * Pure transitions (decision 0011): XState's `transition()` computes a component's next state and the
 * actions it would run, and runs none of them. The OCS machine's neighbours are given as peers that throw
 * when touched, so a transition that reached another component would fail here.
 */
import { describe, expect, it } from 'vitest';
import { transition, type AnyMachineSnapshot } from 'xstate';
import { Lab } from './lab.js';
import { IdSource } from './ids.js';
import { runScenario } from './runner.js';
import { registry } from '../emulators/index.js';
import { ocsMachineFor } from '../emulators/ocs/ocs.machine.js';
import { compile } from '../test/support/shipped.js';

describe('a transition computed without running it', () => {
  it('touches no other component: the wizard\'s work is an action returned, not done', async () => {
    const scenario = compile('part2-prepare-environment');
    const lab = new Lab(scenario.topology, registry.emulators, { seed: 'p' });
    await runScenario({ scenario, registry, lab });
    const touched: string[] = [];
    const peers = new Proxy({}, { get: (_, area) => { touched.push(String(area)); throw new Error(`peer ${String(area)} reached`); } });
    const machine = ocsMachineFor({ env: { now: () => lab.clock.now(), ids: new IdSource('p') }, peers: () => peers as never });
    const before = machine.resolveState(lab.snapshot('ocs') as AnyMachineSnapshot);
    // Add Server to Pool reads the host's features and writes service accounts to AD when it runs.
    const [after, actions] = transition(machine, before, {
      type: 'ocs.addServerToPool',
      requestId: 'r1',
      server: 'ocsfe01',
      pool: 'pool01',
      passwords: { RTCService: 'Svc-P@ss1', RTCComponentService: 'Svc-P@ss2', RTCGuestAccessUser: 'Svc-P@ss3' },
    });
    expect(touched).toEqual([]);
    expect(actions.map((a) => a.type)).toContain('work');
    // Nothing is assigned until the work's outcome comes back as an event.
    expect(after.context).toEqual(before.context);
    await lab.close();
  });
});
