/** The shipped scenarios and the real registry, for tests that cross emulators. */
import { join, relative } from 'node:path';
import { buildCatalog, compileScenario, discoverScenarioFiles, loadScenarioFile, planFaultArguments, readScenarioDocument, type Scenario } from '../../sim/scenario.js';
import { runScenario, type RunReport } from '../../sim/runner.js';
import { registry } from '../../emulators/index.js';
import { projectRoot } from './scenarios.js';

export const shippedScenariosDir = join(projectRoot, 'scenarios');

export function shippedDocuments() {
  return discoverScenarioFiles(shippedScenariosDir).map((f) => loadScenarioFile(f, relative(projectRoot, f)));
}

/** Compiles a shipped scenario by id, or a scenario given as YAML text (which may say `from:` a shipped one). */
export function compile(idOrText: string, file = 'inline.yaml'): Scenario {
  const docs = shippedDocuments();
  const inline = idOrText.includes('\n') ? readScenarioDocument(file, idOrText) : undefined;
  const catalog = buildCatalog(inline ? [...docs, inline] : docs);
  const doc = inline ?? catalog.byId.get(idOrText);
  if (!doc) throw new Error(`no scenario ${idOrText}`);
  const r = compileScenario(doc, catalog, registry.steps, registry.faults);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.file}:${e.line}:${e.column}: ${e.message}`).join('\n'));
  return r.scenario;
}

export function run(idOrText: string, seed?: string, faults: readonly string[] = []): Promise<RunReport> {
  const scenario = compile(idOrText);
  const planned = planFaultArguments(scenario, faults, registry.faults);
  if ('errors' in planned) throw new Error(planned.errors.join('\n'));
  return runScenario({ scenario, registry, faults: planned.plans, ...(seed !== undefined ? { seed } : {}) });
}
