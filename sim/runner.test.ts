import { describe, expect, it } from 'vitest';
import { compileFixture } from '../test/support/scenarios.js';
import { toyRegistry } from '../test/support/toy-registry.js';
import { runScenario, type ProgressEvent } from './runner.js';
import type { Scenario } from './scenario.js';

function scenario(id: string): Scenario {
  const r = compileFixture(id);
  if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
  return r.scenario;
}

describe('running a scenario', () => {
  it('runs steps then expectations, timing each on the simulated clock and listing what it changed', async () => {
    const report = await runScenario({ scenario: scenario('toy-base'), registry: toyRegistry });
    expect(report).toMatchObject({ status: 'passed', ok: true, seed: '7', totals: { steps: 3, passed: 3, failed: 0, skipped: 0, simulatedMs: 930_000 } });
    const [start, wait, check] = report.steps;
    expect(start).toMatchObject({ phase: 'steps', index: 1, status: 'passed', startMs: 0, durationMs: 30_000, changes: ['Toy on ocsfe01: Start Pending', 'Toy on ocsfe01: Running'] });
    expect(start?.events).toEqual([
      expect.objectContaining({ host: 'ocsfe01', log: 'System', level: 'Information', eventId: 7036, source: 'Service Control Manager', recordId: 1 }),
    ]);
    expect(wait).toMatchObject({ startMs: 30_000, durationMs: 900_000 });
    expect(check).toMatchObject({ phase: 'expect', index: 3, status: 'passed', details: ['Toy: Running'], position: { line: 13, column: 5 } });
    expect(report.eventLogs.ocsfe01?.map((e) => e.eventId)).toEqual([7036]);
  });

  it('records step boundaries in the journal, so the trace shows them', async () => {
    const report = await runScenario({ scenario: scenario('toy-base'), registry: toyRegistry });
    const types = report.trace.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types.slice(0, 3)).toEqual(['runner.runStarted', 'runner.stepStarted', 'toy.stateChanged']);
    expect(types.filter((t) => t === 'runner.stepFinished')).toHaveLength(3);
    expect(types.at(-1)).toBe('runner.runFinished');
  });

  it('passes a step that fails as expected, keeps going after a failed check, and skips the rest after a failed action', async () => {
    const report = await runScenario({ scenario: scenario('toy-broken'), registry: toyRegistry });
    expect(report.status).toBe('failed');
    expect(report.steps.map((s) => [s.index, s.status])).toEqual([
      [1, 'passed'],
      [2, 'passed'],
      [3, 'failed'],
      [4, 'failed'],
      [5, 'skipped'],
      [6, 'skipped'],
    ]);
    expect(report.steps[1]?.reason).toMatch(/^failed as expected: Windows could not start the Toy service/);
    expect(report.steps[1]?.events.map((e) => `${e.level} ${e.eventId}`)).toEqual(['Error 7000']);
    expect(report.steps[2]?.reason).toBe('expected Running, found Stopped');
    expect(report.steps[5]).toMatchObject({ phase: 'expect', reason: 'skipped after step 4 failed' });
    expect(report.totals).toMatchObject({ passed: 2, failed: 2, skipped: 2 });
  });

  it('replays the `from` chain as setup, reporting it compactly, then continues on its end state', async () => {
    const progress: ProgressEvent['type'][] = [];
    const report = await runScenario({ scenario: scenario('toy-chain'), registry: toyRegistry, onProgress: (e) => progress.push(e.type) });
    expect(report.status).toBe('passed');
    expect(report.setup.map((s) => [s.scenario, s.index, s.status])).toEqual([
      ['toy-base', 1, 'passed'],
      ['toy-base', 2, 'passed'],
      ['toy-base', 3, 'passed'],
    ]);
    expect(report.steps[0]).toMatchObject({ name: 'eventlog.entry', status: 'passed', startMs: 930_000 });
    expect(report.scenario.from).toEqual(['toy-base']);
    expect(progress.filter((t) => t === 'step.finished')).toHaveLength(3);
    expect(progress).toContain('setup.finished');
  });

  it('is a pure function of scenario and seed: two runs give byte-identical traces', async () => {
    const a = await runScenario({ scenario: scenario('toy-chain'), registry: toyRegistry, seed: '42' });
    const b = await runScenario({ scenario: scenario('toy-chain'), registry: toyRegistry, seed: '42' });
    expect(a.trace).toBe(b.trace);
    expect(a.trace.length).toBeGreaterThan(0);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
  });

  it('treats a step that throws as an internal error, not a failed rehearsal', async () => {
    const report = await runScenario({ scenario: scenario('toy-explode'), registry: toyRegistry });
    expect(report.status).toBe('error');
    expect(report.ok).toBe(false);
    expect(report.error?.message).toBe('toy.explode has a bug');
    expect(report.steps.map((s) => [s.status, s.reason])).toEqual([
      ['failed', 'internal error: toy.explode has a bug'],
      ['skipped', 'skipped after step 1 failed'],
    ]);
  });
});
