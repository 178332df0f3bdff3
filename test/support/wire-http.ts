/**
 * Helpers for tests that talk HTTP(S) to the CA and IIS adapters with real curl and openssl: child
 * processes that are always awaited (and killed on timeout), a scratch directory, and labs on a
 * wall-clock start so that the lab's certificates are valid now.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../../sim/lab.js';
import { SimClock } from '../../sim/clock.js';
import { defaultTopology } from '../../sim/topology.js';
import { registry } from '../../emulators/index.js';

export interface ProcResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program with arguments (no shell), optional stdin; resolves with its exit code and output. */
export function run(file: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<ProcResult> {
  return new Promise((resolve) => {
    const child = execFile(file, [...args], { timeout: options.timeoutMs ?? 15_000, maxBuffer: 8 * 1024 * 1024, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 255) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

export const curl = (args: readonly string[], options?: { input?: string; timeoutMs?: number }) => run('curl', ['-sS', '--max-time', '10', ...args], options);
export const openssl = (args: readonly string[], options?: { input?: string; timeoutMs?: number }) => run('openssl', args, options);

export interface Scratch {
  dir: string;
  file(name: string, content?: string | Buffer): string;
  remove(): void;
}

export function scratch(prefix = 'ocslab-http-'): Scratch {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    file(name, content) {
      const path = join(dir, name);
      if (content !== undefined) writeFileSync(path, content);
      return path;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * A lab of the default topology whose simulated clock starts `backMs` before the wall clock, so that
 * certificates issued during `backMs` of simulated time are already valid for real clients.
 */
export function wallClockLab(seed = '1', backMs = 60_000): Lab {
  return new Lab(defaultTopology(), registry.emulators, { seed, clock: new SimClock(Date.now() - backMs) });
}
