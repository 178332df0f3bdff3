/**
 * Wire benchmarks (issue 4): LDAP searches per second and SIP REGISTER+200 transactions per second
 * against `ocslab serve`, driven from a separate process, and the server's heap per registered endpoint.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kamailioAvailable, KAMAILIO, startKamailio } from './kamailio.js';

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');

async function startServe(file: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(root, 'bin', 'ocslab.js'), 'serve', '--port-base', '0', '--sip-digest', '--endpoints-file', file], { cwd: root, stdio: 'ignore' });
  const deadline = Date.now() + 20_000;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error('ocslab serve did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

function load(mode: 'ldap' | 'sip', file: string, seconds: number): { perSecond: number; total: number } {
  const r = spawnSync(tsx, [join(root, 'bench', 'wire-load.ts'), mode, file, String(seconds)], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${mode} load failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { perSecond: number; searches?: number; registrations?: number };
  return { perSecond: out.perSecond, total: out.searches ?? out.registrations ?? 0 };
}

/** A forced GC, then the heap in use: what the server in this process keeps. */
function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the bench with node --expose-gc (npm run bench does)');
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * The seed served in this process (so its heap can be measured) while `work` loads it from other
 * processes, through the endpoints file it is given; stopped afterwards.
 */
async function servedHere<T>(label: string, options: { sipDigest?: boolean }, work: (endpointsFile: string) => Promise<T>): Promise<T> {
  const { serve } = await import('../cli/serve.js');
  const { compile } = await import('../test/support/shipped.js');
  const { registry } = await import('../emulators/index.js');
  const dir = mkdtempSync(join(tmpdir(), `ocslab-bench-${label}-`));
  const file = join(dir, 'endpoints.json');
  const served = await serve({ scenario: compile('seed-part3'), registry, faults: [], host: '127.0.0.1', portBase: 0, endpointsFile: file, speed: 1, ...options });
  try {
    await new Promise((r) => setTimeout(r, 200));
    return await work(file);
  } finally {
    await served.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Heap per registered endpoint: the server runs in this process (after a forced GC before and after),
 * the endpoints are held by a separate process, one TCP connection and REGISTER each.
 */
function memoryPerEndpoint(count: number): Promise<{ bytes: number; count: number }> {
  return servedHere('mem', { sipDigest: true }, async (file) => {
    const before = heapAfterGc();
    const holder = spawn(tsx, [join(root, 'bench', 'wire-load.ts'), 'hold', file, String(count)], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      holder.stdout?.on('data', (d: Buffer) => (d.toString().includes('registered') ? resolve() : undefined));
      holder.on('exit', (code) => reject(new Error(`holder exited ${code}`)));
    });
    const after = heapAfterGc();
    holder.stdin?.end();
    await new Promise((r) => holder.on('exit', r));
    return { bytes: (after - before) / count, count };
  });
}

/**
 * The server's heap (after a forced GC) when idle, and again after `count` malformed and mutated SIP
 * messages from another process: fuzzing must leave nothing behind (issue 11).
 */
function memoryAfterFuzz(count: number): Promise<{ idle: number; after: number; again: number; count: number }> {
  return servedHere('fuzz', {}, async (file) => {
    // The load runs in another process while this one serves (so not spawnSync: it would block the server).
    const fuzzFrom = async (n: number) => {
      await new Promise<void>((resolve, reject) => {
        const child = spawn(tsx, [join(root, 'bench', 'wire-load.ts'), 'fuzz', file, String(n)], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`fuzz load exited ${code}`))));
      });
      await new Promise((r) => setTimeout(r, 500));
      return heapAfterGc();
    };
    // A first round warms every path (the code, the grammar cache) so that what follows measures what stays.
    const idle = await fuzzFrom(Math.min(count, 2000));
    const after = await fuzzFrom(count);
    // As many again: what stays must not grow with the traffic (bounded caches fill once).
    return { idle, after, again: await fuzzFrom(count), count };
  });
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const delta = (bytes: number) => `${bytes >= 0 ? '+' : '−'}${mib(Math.abs(bytes))}`;

const kamailioVersion = () => /kamailio (\S+)/.exec(spawnSync(KAMAILIO, ['-v'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? '';

export async function wireBench(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ocslab-bench-'));
  const file = join(dir, 'endpoints.json');
  const server = await startServe(file);
  try {
    const ldapRate = load('ldap', file, 5);
    const sipRate = load('sip', file, 5);
    const memory = await memoryPerEndpoint(1000);
    const fuzzed = await memoryAfterFuzz(20_000);
    // The same generator against Kamailio doing the same Digest work: how far the lab's registrar is from a real one.
    let yardstick = '| the same REGISTER load against Kamailio (Debian `kamailio`) | not installed: `apt-get install kamailio` |';
    if (kamailioAvailable()) {
      const kamailio = await startKamailio(join(dir, 'kamailio'));
      try {
        const k = load('sip', kamailio.endpointsFile, 5);
        yardstick = `| the same REGISTER load against Kamailio ${kamailioVersion()} (Digest, static password, 2 TCP workers) | ${k.perSecond.toFixed(0)} /s (${k.total} in 5 s); the lab does ${((100 * sipRate.perSecond) / k.perSecond).toFixed(0)} % of it |`;
      } finally {
        await kamailio.stop();
      }
    }
    return [
      `| LDAP subtree search (sAMAccountName=ocsuser1) from a separate process, 4 connections | ${ldapRate.perSecond.toFixed(0)} /s (${ldapRate.total} in 5 s) |`,
      `| SIP REGISTER → 401 → REGISTER (Digest) → 200 over TCP from a separate process, 16 connections | ${sipRate.perSecond.toFixed(0)} /s (${sipRate.total} in 5 s) |`,
      yardstick,
      `| server heap per registered endpoint (${memory.count} TCP endpoints held by another process) | ${(memory.bytes / 1024).toFixed(1)} KiB |`,
      `| server heap after ${fuzzed.count.toLocaleString('en')} and ${(2 * fuzzed.count).toLocaleString('en')} malformed SIP messages from another process, each time after a GC | idle ${mib(fuzzed.idle)}, then ${mib(fuzzed.after)} (${delta(fuzzed.after - fuzzed.idle)}), then ${mib(fuzzed.again)} (${delta(fuzzed.again - fuzzed.after)}) |`,
    ];
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.on('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}
