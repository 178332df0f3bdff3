/** Runs `ocslab` in-process with the toy registry and the fixture scenarios, capturing its output. */
import { resolveConfig } from '../../cli/config.js';
import { runCli } from '../../cli/program.js';
import { fixtureScenariosDir, projectRoot } from './scenarios.js';
import { toyRegistry } from './toy-registry.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function ocslab(args: readonly string[], options: { cwd?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  // No saved setups unless a test asks for them (OCSLAB_SNAPSHOT_CACHE): each run replays its chain.
  const config = resolveConfig({ env: { OCSLAB_SCENARIOS_DIR: fixtureScenariosDir, OCSLAB_SNAPSHOT_CACHE: 'off', ...options.env }, cwd: options.cwd ?? projectRoot, stdoutIsTTY: false });
  const code = await runCli(args, {
    config,
    io: { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) },
    loadRegistry: async () => toyRegistry,
  });
  return { code, stdout, stderr };
}
