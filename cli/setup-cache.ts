/**
 * The `from:` chains' saved end states on disk (decision 0012): one JSON file per chain, seed and
 * topology, in a folder per lab version — a hash of the kernel's and the emulators' sources, the
 * dependency lock and the patches — so that a snapshot is never restored into code that did not make it.
 * The cache is best-effort: a file it cannot read is replayed over, one it cannot write is not kept, and
 * neither ever fails a run.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { CachedRehearsal, CachedSetup, SetupCache } from '../sim/runner.js';

/** Every file whose change changes what a lab does, relative to the project root, sorted. */
function labSources(projectRoot: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if ((name.endsWith('.ts') && !name.endsWith('.test.ts')) || name.endsWith('.json') || name.endsWith('.patch')) out.push(relative(projectRoot, path));
    }
  };
  walk(join(projectRoot, 'sim'));
  walk(join(projectRoot, 'emulators'));
  walk(join(projectRoot, 'patches'));
  out.push('package-lock.json');
  return out;
}

/** How a lab version's folder is named (16 hex digits); nothing else in the cache root is touched. */
const LAB_VERSION = /^[0-9a-f]{16}$/;

/** The lab version: what the snapshots of this code are kept under. */
export function labVersion(projectRoot: string): string {
  const hash = createHash('sha256');
  for (const file of labSources(projectRoot)) {
    const path = join(projectRoot, file);
    hash.update(file).update('\0');
    if (existsSync(path)) hash.update(readFileSync(path));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

interface CacheFile<T> {
  key: string;
  value: T;
}

export class FileSetupCache implements SetupCache {
  private folder: string | undefined;

  /** `version`: the lab version, or how to find it out; asked once, when a run first uses the cache. */
  constructor(
    private readonly root: string,
    private readonly version: string | (() => string),
  ) {}

  private get dir(): string {
    this.folder ??= join(this.root, typeof this.version === 'string' ? this.version : this.version());
    return this.folder;
  }

  private file(key: string): string {
    return join(this.dir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.json`);
  }

  get(key: string): CachedSetup | undefined {
    return this.read<CachedSetup>(key);
  }

  put(key: string, value: CachedSetup): void {
    this.write(key, value);
  }

  length(key: string): number | undefined {
    const ms = this.read<number>(`length:${key}`);
    return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? ms : undefined;
  }

  putLength(key: string, simulatedMs: number): void {
    this.write(`length:${key}`, simulatedMs);
  }

  rehearsal(key: string): CachedRehearsal | undefined {
    return this.read<CachedRehearsal>(`rehearsal:${key}`);
  }

  putRehearsal(key: string, value: CachedRehearsal): void {
    this.write(`rehearsal:${key}`, value);
  }

  private read<T>(key: string): T | undefined {
    try {
      const saved = JSON.parse(readFileSync(this.file(key), 'utf8')) as CacheFile<T>;
      return saved.key === key ? saved.value : undefined;
    } catch {
      return undefined;
    }
  }

  private write<T>(key: string, value: T): void {
    try {
      mkdirSync(this.dir, { recursive: true });
      // Snapshots of other lab versions can never be restored again. Only folders named as a lab version
      // are removed: the root may be a folder of the user's (OCSLAB_SNAPSHOT_CACHE) holding other things.
      for (const name of readdirSync(this.root)) {
        if (LAB_VERSION.test(name) && join(this.root, name) !== this.dir) rmSync(join(this.root, name), { recursive: true, force: true });
      }
      const file = this.file(key);
      const partial = `${file}.${process.pid}.partial`;
      writeFileSync(partial, JSON.stringify({ key, value } satisfies CacheFile<T>));
      renameSync(partial, file);
    } catch {
      // Not kept: the next run replays the chain again.
    }
  }
}
