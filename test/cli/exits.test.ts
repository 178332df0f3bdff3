import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../support/scenarios.js';
import { shippedDocuments } from '../support/shipped.js';

/** Long enough for every shipped scenario on a slow machine; a command still running then never exits. */
const EXIT_LIMIT_MS = 120_000;

/**
 * `ocslab run` as an operator or a CI job runs it: the real binary in its own process, which must exit
 * by itself once the report is written (nothing left open: sockets, listeners, SIP refresh timers).
 */
function runToExit(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean; ms: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [join(projectRoot, 'bin', 'ocslab.js'), ...args], { cwd: projectRoot, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, EXIT_LIMIT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, ms: Date.now() - started, stdout, stderr });
    });
  });
}

describe('ocslab run exits by itself', () => {
  it(
    'rehearses every shipped scenario through the real binary and exits 0 on its own',
    async () => {
      const ids = shippedDocuments().flatMap((d) => (d.header ? [d.header.id] : []));
      expect(ids.length).toBeGreaterThan(20);
      const r = await runToExit(['run', ...ids, '--quiet']);
      expect(r.timedOut, `still running after ${EXIT_LIMIT_MS / 1000} s (it printed: ${r.stdout.split('\n').slice(-3).join(' | ')})`).toBe(false);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain(`${ids.length} scenarios, ${ids.length} passed, 0 failed`);
      expect(r.code).toBe(0);
    },
    EXIT_LIMIT_MS + 10_000,
  );
});
