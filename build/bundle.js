/**
 * The bundle `npm install` builds (decision 0013): the whole `ocslab` command, its dependencies included,
 * as one script (dist/ocslab.cjs) with V8's compiled code for it beside it (dist/ocslab.cjs.v8cache), so
 * that a command starts in about a tenth of a second instead of loading some 600 files through tsx.
 * `bin/ocslab.js` runs it only while it is newer than every file it was built from (`isFresh`); otherwise
 * it runs the TypeScript, so an edited source is never shadowed by an old bundle. Type checking is
 * `npm run typecheck`'s job: esbuild only strips the types.
 *
 *   node build/bundle.js          build the bundle, then run the default rehearsal once with it so that
 *                                 V8 keeps the code a rehearsal compiles
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import vm from 'node:vm';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const bundleFile = join(root, 'dist', 'ocslab.cjs');
export const codeCacheFile = `${bundleFile}.v8cache`;

/** What the bundle is made of: the sources, the dependencies as installed, and the patches applied to them. */
const SOURCE_DIRS = ['cli', 'sim', 'emulators', 'patches', 'build'];
const SOURCE_FILES = ['package.json', 'package-lock.json', 'node_modules/.package-lock.json', 'tsconfig.json'];

/** The newest modification time among the bundle's sources under `root` (test files do not go into it). */
function newestSource(root) {
  let newest = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (!entry.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const dir of SOURCE_DIRS) if (existsSync(join(root, dir))) walk(join(root, dir));
  for (const file of SOURCE_FILES) if (existsSync(join(root, file))) newest = Math.max(newest, statSync(join(root, file)).mtimeMs);
  return newest;
}

/** Whether the bundle exists and was built after every one of its sources last changed. */
export function isFresh(project = root) {
  try {
    return statSync(join(project, relative(root, bundleFile))).mtimeMs >= newestSource(project);
  } catch {
    return false;
  }
}

/**
 * Runs the bundle in this process, with V8's code cache when it has one that fits this node. A missing
 * or rejected cache (another node version) is written again when the process exits.
 */
export function runBundle() {
  const code = readFileSync(bundleFile, 'utf8');
  let cachedData;
  try {
    cachedData = readFileSync(codeCacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${code}\n})`, { filename: bundleFile, ...(cachedData ? { cachedData } : {}) });
  if (!cachedData || script.cachedDataRejected) {
    process.once('exit', () => {
      try {
        writeFileSync(codeCacheFile, script.createCachedData());
      } catch {
        // Not kept: the next command compiles again.
      }
    });
  }
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(bundleFile), module, bundleFile, dirname(bundleFile));
}

export async function build() {
  const { build: esbuild } = await import('esbuild');
  rmSync(codeCacheFile, { force: true });
  await esbuild({
    entryPoints: [join(root, 'cli', 'main.ts')],
    outfile: bundleFile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'warning',
    // The sources' import.meta.url (cli/config.ts finds the project with it) is the bundle's own address.
    define: { 'import.meta.url': '__ocslabBundleUrl' },
    banner: { js: "const __ocslabBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  });
  // One rehearsal of the default scenario through the bundle leaves V8's compiled code of it on disk.
  try {
    execFileSync(process.execPath, [join(root, 'bin', 'ocslab.js'), 'run', '--quiet'], { stdio: 'ignore', env: { ...process.env, OCSLAB_DEBUG: '' } });
  } catch {
    // Not kept, and the bundle is no worse for it: the first command compiles and keeps it.
    console.error('ocslab: the warm-up rehearsal through the bundle did not pass; its compiled code is kept by the first command instead');
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = performance.now();
  try {
    await build();
    console.log(`ocslab: built ${relative(root, bundleFile)} in ${Math.round(performance.now() - started)} ms`);
  } catch (e) {
    // npm install must not fail over the bundle: bin/ocslab.js runs the TypeScript without it.
    rmSync(bundleFile, { force: true });
    console.error(`ocslab: could not build the bundle (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); commands run from the TypeScript instead`);
    process.exitCode = process.argv.includes('--strict') ? 1 : 0;
  }
}
