import { describe, expect, it } from 'vitest';
import { join, relative } from 'node:path';
import { buildCatalog, compileScenario, discoverScenarioFiles, loadScenarioFile, readScenarioDocument } from '../../sim/scenario.js';
import { runScenario, type RunReport } from '../../sim/runner.js';
import { projectRoot } from '../../test/support/scenarios.js';
import { registry } from '../index.js';

const docs = () => discoverScenarioFiles(join(projectRoot, 'scenarios')).map((f) => loadScenarioFile(f, relative(projectRoot, f)));

export async function runWithCommunicator(idOrText: string): Promise<RunReport> {
  const all = docs();
  const inline = idOrText.includes('\n') ? readScenarioDocument('inline.yaml', idOrText) : undefined;
  const catalog = buildCatalog(inline ? [...all, inline] : all);
  const doc = inline ?? catalog.byId.get(idOrText);
  if (!doc) throw new Error(`no scenario ${idOrText}`);
  const r = compileScenario(doc, catalog, registry.steps, registry.faults);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.file}:${e.line}:${e.column}: ${e.message}`).join('\n'));
  return runScenario({ scenario: r.scenario, registry: registry });
}

const explain = (r: RunReport) =>
  [...r.setup, ...r.steps].filter((s) => s.status !== 'passed').map((s) => `${s.scenario}#${s.index} ${s.title}: ${s.reason ?? ''}\n    ${s.details.join('\n    ')}`).join('\n');

const FAILURES = [
  'pool-a-record-missing',
  'sipinternaltls-srv-missing',
  'srv-target-outside-sip-domain',
  'user-not-enabled',
  'enhanced-presence-missing',
  'signin-address-mismatch',
  'certificate-expired',
  'client-does-not-trust-ca',
];

describe('failure scenarios of the dns and communicator faults', () => {
  for (const id of FAILURES) {
    it(`${id}: injects the fault, shows the symptoms, applies the fix and recovers`, async () => {
      const report = await runWithCommunicator(id);
      expect(explain(report)).toBe('');
      expect(report.status).toBe('passed');
      expect(report.faults).toEqual([expect.objectContaining({ id, applied: true })]);
      // Symptoms, not verdicts: nothing the operator reads names the fault.
      const shown = report.steps.flatMap((s) => [...s.changes, ...s.details, s.reason ?? '']).join('\n');
      expect(shown).not.toMatch(/\bfault/i);
    });
  }
});
