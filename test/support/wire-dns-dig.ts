/** Runs the real `dig` (dnsutils) against a loopback port, always to completion or a kill. */
import { spawn, spawnSync } from 'node:child_process';

export interface DigRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Whether `dig` is on the PATH. */
export function digAvailable(): boolean {
  const r = spawnSync('dig', ['-v'], { encoding: 'utf8' });
  return r.status === 0;
}

/**
 * `dig @127.0.0.1 -p <port> <args…>` with one try of `timeSeconds`; killed (SIGKILL) if it outlives
 * `killAfterMs`, and awaited until it has exited either way.
 */
export function dig(port: number, args: readonly string[], options: { timeSeconds?: number; killAfterMs?: number } = {}): Promise<DigRun> {
  const argv = ['@127.0.0.1', '-p', String(port), ...args, `+time=${options.timeSeconds ?? 2}`, '+tries=1'];
  return new Promise((resolve, reject) => {
    const child = spawn('dig', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const killer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 10_000);
    child.on('error', (error) => {
      clearTimeout(killer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
