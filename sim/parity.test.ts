import { describe, expect, it } from 'vitest';
import { parity, parityJunit, parityText } from './parity.js';
import type { ReplayReport } from './replay.js';
import type { RunReport, StepResult } from './runner.js';

const labStep = (index: number, observation?: unknown): StepResult =>
  ({ phase: 'steps', scenario: 's', index, name: 'dns.resolve', kind: 'check', title: `check ${index}`, status: 'passed', details: [], startMs: 0, durationMs: 0, changes: [], events: [], position: { file: 's.yaml', line: 1, column: 1 }, ...(observation !== undefined ? { observation } : {}) }) as StepResult;

const lab = { setup: [], steps: [labStep(1, { rcode: 'NOERROR', answers: [{ data: '127.0.10.30', type: 'A' }] }), labStep(2, { exists: true }), labStep(3, { state: 'Running' }), labStep(4, { a: 1 })] } as unknown as RunReport;
const target: ReplayReport = {
  scenario: { id: 's', title: 's', from: [] },
  target: 'samba',
  mode: 'end-state',
  status: 'failed',
  totals: { passed: 1, failed: 1, 'not observed': 1, superseded: 1, planned: 0, operator: 0, applied: 0, 'not applied': 0, skipped: 0 },
  steps: [
    // The same observation with its keys in another order is the same.
    { phase: 'steps', scenario: 's', index: 1, name: 'dns.resolve', kind: 'check', title: 'check 1', status: 'passed', details: [], observation: { answers: [{ type: 'A', data: '127.0.10.30' }], rcode: 'NOERROR' } },
    { phase: 'steps', scenario: 's', index: 2, name: 'ocs.poolState', kind: 'check', title: 'check 2 <pool>', status: 'failed', details: [], observation: { exists: false } },
    // Not observed, though the probe saw something (a Kerberos request, a check after an unmade write): not compared.
    { phase: 'steps', scenario: 's', index: 3, name: 'host.serviceState', kind: 'check', title: 'check 3', status: 'not observed', details: [], observation: { state: 'Stopped' } },
    { phase: 'steps', scenario: 's', index: 4, name: 'ad.prepState', kind: 'check', title: 'check 4', status: 'superseded', details: [] },
    { phase: 'steps', scenario: 's', index: 5, name: 'ad.schemaPrep', kind: 'action', title: 'act', status: 'planned', details: [] },
  ],
};

describe('parity', () => {
  it('compares the observations check by check, whatever order their keys came in, and says why a row was not compared', () => {
    const p = parity(lab, target);
    expect(p).toMatchObject({ same: 1, different: 1, notCompared: 2 });
    expect(p.rows.map((r) => [r.index, r.verdict, r.why ?? ''])).toEqual([
      [1, 'same', ''],
      [2, 'different', ''],
      [3, 'not compared', 'not observed'],
      [4, 'not compared', 'superseded'],
    ]);
    const text = parityText(p);
    expect(text[0]).toBe('Parity of s: lab vs samba: 1 same, 1 different, 2 not compared');
    expect(text).toContain('      lab:    {"exists":true}');
    expect(text).toContain('      target: {"exists":false}');
  });

  it('writes JUnit with a failure per difference and a skip per row not compared, escaped', () => {
    const xml = parityJunit(parity(lab, target));
    expect(xml).toContain('tests="4" failures="1" skipped="2"');
    expect(xml).toContain('name="steps 2 check 2 &lt;pool&gt;"><failure message="the lab and samba observed differently">');
    expect(xml).toContain('<skipped message="not observed"/>');
  });
});
