/** Loads the fixture scenarios the kernel and CLI tests use. */
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCatalog, compileScenario, discoverScenarioFiles, loadScenarioFile, type CompileResult, type ScenarioCatalog } from '../../sim/scenario.js';
import { toyRegistry } from './toy-registry.js';

export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const fixtureScenariosDir = join(projectRoot, 'test', 'fixtures', 'scenarios');

/** Every fixture scenario, named relative to the project root ("test/fixtures/scenarios/x.yaml"). */
export function fixtureCatalog(): ScenarioCatalog {
  return buildCatalog(discoverScenarioFiles(fixtureScenariosDir).map((f) => loadScenarioFile(f, relative(projectRoot, f))));
}

export function compileFixture(id: string): CompileResult {
  const catalog = fixtureCatalog();
  const d = catalog.byId.get(id) ?? catalog.documents.find((x) => x.file.endsWith(`/${id}.yaml`));
  if (!d) throw new Error(`no fixture scenario ${id}`);
  return compileScenario(d, catalog, toyRegistry.steps, toyRegistry.faults);
}
