import { describe, expect, it } from 'vitest';
import { toyRegistry } from '../test/support/toy-registry.js';
import { buildCatalog, compileScenario, planFaultArguments, readScenarioDocument, type Scenario } from './scenario.js';
import { runScenario } from './runner.js';
import { parseFaultArgument } from './faults.js';

function compile(text: string): Scenario {
  const doc = readScenarioDocument('faulty.yaml', text);
  const r = compileScenario(doc, buildCatalog([doc]), toyRegistry.steps, toyRegistry.faults);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.line}:${e.column}: ${e.message}`).join('\n'));
  return r.scenario;
}

const base = (faults: string) => `id: faulty
title: Faulty
topology: default
steps:
  - action: toy.startService
    id: start-toy
    server: ocsfe01
  - action: lab.wait
    duration: 15m
expect:
  - check: toy.serviceState
    server: ocsfe01
    state: Running
faults:
${faults}`;

describe('fault injection', () => {
  it('injects a fault from the start: the operator sees the symptoms, the report and trace record the cause', async () => {
    const report = await runScenario({ scenario: compile(base('  - fault: toy-service-broken\n')), registry: toyRegistry });
    expect(report.status).toBe('failed');
    const [start] = report.steps;
    expect(start?.status).toBe('failed');
    expect(start?.events.map((e) => e.eventId)).toEqual([7000]);
    expect(report.faults).toEqual([expect.objectContaining({ id: 'toy-service-broken', target: 'ocsfe01', injectedAt: 'start', applied: true, origin: 'faulty.yaml:15:5' })]);
    const injected = report.trace.split('\n').filter((l) => l.includes('"type":"fault.injected"'));
    expect(injected).toHaveLength(1);
    expect(injected[0]).toContain('"cause":"fault:toy-service-broken"');
    expect(report.steps.flatMap((s) => s.changes).join('\n')).not.toMatch(/fault|broken/i);
  });

  it('injects before a step named by its id, its number or its name', async () => {
    for (const when of ['step: start-toy', 'step: 1', 'step: toy.startService']) {
      const report = await runScenario({ scenario: compile(base(`  - fault: toy-service-broken\n    ${when}\n`)), registry: toyRegistry });
      expect(report.faults[0]?.injectedAt).toBe('before step 1 (toy.startService) of faulty');
      expect(report.steps[0]?.status).toBe('failed');
    }
  });

  it('injects after a simulated time, in the middle of a step, and keeps what it changed out of that step', async () => {
    const report = await runScenario({ scenario: compile(base('  - fault: toy-service-broken\n    after: 5m\n')), registry: toyRegistry });
    expect(report.faults[0]).toMatchObject({ injectedAt: 'at 5 min', t: 300_000 });
    expect(report.steps[0]?.status).toBe('passed');
    expect(report.steps[1]?.changes).toEqual([]);
  });

  it('reports a timed fault the run never reached, instead of losing it', async () => {
    const report = await runScenario({ scenario: compile(base('  - fault: toy-service-broken\n    after: 2h\n')), registry: toyRegistry });
    expect(report.status).toBe('passed');
    expect(report.faults).toEqual([expect.objectContaining({ id: 'toy-service-broken', injectedAt: 'not reached', applied: false, note: 'the run ended at 15 min 30 s, before 2 h' })]);
  });

  it("turns the next matching step into the operator's mistake", async () => {
    const report = await runScenario({ scenario: compile(base('  - fault: toy-impatient-operator\n')), registry: toyRegistry });
    expect(report.steps[0]).toMatchObject({ status: 'failed', reason: 'Toy on ocsfe01 did not reach Running within 1000 ms' });
  });

  it('adds faults from the command line, checked against the catalogue, the topology and the steps', async () => {
    const scenario = compile(base('  []\n').replace('faults:\n  []\n', 'faults: []\n'));
    const ok = planFaultArguments(scenario, ['toy-service-broken:ocsfe01@start-toy'], toyRegistry.faults ?? []);
    expect('plans' in ok && ok.plans.map((p) => [p.definition.id, p.target, p.when])).toEqual([['toy-service-broken', 'ocsfe01', { step: 1 }]]);
    const bad = planFaultArguments(scenario, ['toy-service-brokn', 'toy-service-broken:dc01', 'toy-service-broken@9'], toyRegistry.faults ?? []);
    expect('errors' in bad && bad.errors).toEqual([
      '--fault toy-service-brokn: unknown fault "toy-service-brokn"; did you mean "toy-service-broken"? (ocslab faults lists the catalogue)',
      '--fault toy-service-broken:dc01: no frontEnd "dc01" in the topology for fault toy-service-broken; valid: ocsfe01',
      '--fault toy-service-broken@9: no step number 9 in faulty; steps: 1 toy.startService (start-toy), 2 lab.wait, 3 toy.serviceState',
    ]);
  });

  it('parses ID[:target][@when]', async () => {
    expect(parseFaultArgument('msmq-not-installed')).toEqual({ id: 'msmq-not-installed', when: { at: 'start' } });
    expect(parseFaultArgument('dc-down:dc01@15m')).toEqual({ id: 'dc-down', target: 'dc01', when: { afterMs: 900_000 } });
    expect(parseFaultArgument('x@ocs.startServices')).toEqual({ id: 'x', when: { stepRef: 'ocs.startServices' } });
    expect(parseFaultArgument('x@3')).toEqual({ id: 'x', when: { stepRef: 3 } });
    expect('error' in parseFaultArgument('a b')).toBe(true);
  });

  it('replays a faulted run byte for byte', async () => {
    const s = compile(base('  - fault: toy-service-broken\n    after: 10s\n'));
    expect((await runScenario({ scenario: s, registry: toyRegistry })).trace).toBe((await runScenario({ scenario: s, registry: toyRegistry })).trace);
  });
});
