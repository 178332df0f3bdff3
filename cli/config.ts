/**
 * Everything the command line takes from its environment, read in one place: the only module of ocslab
 * that reads `process.env`. Tests build a config with `resolveConfig` instead.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CliConfig {
  /** The directory holding package.json, cli/, scenarios/ (found from this file, so any cwd works). */
  projectRoot: string;
  /** Where `scenarios/**\/*.yaml` are discovered: OCSLAB_SCENARIOS_DIR, else <projectRoot>/scenarios. */
  scenariosDir: string;
  cwd: string;
  /** Colours only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
  color: boolean;
  /** OCSLAB_DEBUG=1: internal errors show their stack. `--debug` does the same per command. */
  debug: boolean;
  /**
   * Where `from:` chains' end states are kept (OCSLAB_SNAPSHOT_CACHE: a folder, or `off`); by default
   * node_modules/.cache/ocslab/setups under the project. Undefined: always replay.
   */
  setupCacheDir: string | undefined;
}

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export interface ConfigInputs {
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  stdoutIsTTY: boolean;
}

export function resolveConfig({ env, cwd, stdoutIsTTY }: ConfigInputs): CliConfig {
  const noColor = env.NO_COLOR !== undefined && env.NO_COLOR !== '';
  const debug = env.OCSLAB_DEBUG !== undefined && !['', '0', 'false'].includes(env.OCSLAB_DEBUG);
  return {
    projectRoot,
    scenariosDir: env.OCSLAB_SCENARIOS_DIR ? resolve(cwd, env.OCSLAB_SCENARIOS_DIR) : resolve(projectRoot, 'scenarios'),
    cwd,
    color: stdoutIsTTY && !noColor,
    debug,
    setupCacheDir: cacheDir(env.OCSLAB_SNAPSHOT_CACHE, cwd),
  };
}

function cacheDir(setting: string | undefined, cwd: string): string | undefined {
  if (setting === undefined || setting === '') return resolve(projectRoot, 'node_modules', '.cache', 'ocslab', 'setups');
  if (['off', '0', 'false', 'no'].includes(setting.toLowerCase())) return undefined;
  return resolve(cwd, setting);
}

export function configFromProcess(): CliConfig {
  return resolveConfig({ env: process.env, cwd: process.cwd(), stdoutIsTTY: process.stdout.isTTY === true });
}
