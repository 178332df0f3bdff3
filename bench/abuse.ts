/**
 * Load and abuse (issue 13): the latency a real `dig`, a real `ldapsearch` and a SIP OPTIONS see from
 * `ocslab serve`, idle and while another process sends the inputs that used to stall the lab — wide OR
 * filters (40,000 terms) on three LDAP connections in a loop, 1,000 half-sent SIP requests, 64 partial
 * 1 MiB LDAP messages and 256 DNS-over-TCP clients dribbling a byte at a time. The target: each p99 under
 * abuse within 2× its idle p99. Run with `npm run bench` (or `tsx bench/abuse.ts` alone).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawSipClient } from '../test/support/wire-sip.js';

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');

interface Endpoints {
  dns: { port: number };
  ldap: string;
  bindDn: string;
  bindPassword: string;
  baseDn: string;
  sipTcp: { port: number } | null;
}

/** The serving process's resident memory (Linux /proc), MiB. */
function rssMiB(pid: number | undefined): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid ?? 0}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

async function until(test: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** dig's own "Query time" (the server's answer, not dig's start-up), one try of 2 s; a timeout counts as 2000 ms. */
function digOnce(e: Endpoints): number {
  const r = spawnSync('dig', ['@127.0.0.1', '-p', String(e.dns.port), 'sip.example.com', 'A', '+time=2', '+tries=1'], { encoding: 'utf8' });
  const m = /Query time: (\d+) msec/.exec(r.stdout);
  return m ? Number(m[1]) : 2000;
}

/** A whole ldapsearch (bind and one search), wall time. */
function ldapsearchOnce(e: Endpoints): number {
  const t = performance.now();
  spawnSync('ldapsearch', ['-x', '-LLL', '-o', 'nettimeout=5', '-H', e.ldap, '-D', e.bindDn, '-w', e.bindPassword, '-b', e.baseDn, '(sAMAccountName=ocsuser1)', 'cn'], { encoding: 'utf8', env: { ...process.env, LDAPNOINIT: '1' } });
  return performance.now() - t;
}

async function optionsOnce(c: RawSipClient): Promise<number> {
  const t = performance.now();
  const b = c.request('OPTIONS', 'sip:example.com', { from: 'sip:probe@example.com', to: 'sip:example.com' });
  await c.next((m) => (m.header('via') ?? '').includes(b));
  return performance.now() - t;
}

async function sample(e: Endpoints, sip: RawSipClient, n: number) {
  const dig: number[] = [];
  const ldap: number[] = [];
  const options: number[] = [];
  for (let i = 0; i < n; i++) {
    dig.push(digOnce(e));
    ldap.push(ldapsearchOnce(e));
    options.push(await optionsOnce(sip));
  }
  return { dig: quantile(dig, 0.99), ldap: quantile(ldap, 0.99), options: quantile(options, 0.99) };
}

export async function abuseBench(samples = Number(process.env.ABUSE_SAMPLES ?? 150)): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ocslab-abuse-'));
  const file = join(dir, 'endpoints.json');
  const serve = spawn(process.execPath, [join(root, 'bin', 'ocslab.js'), 'serve', '--port-base', '0', '--endpoints-file', file], { cwd: root, stdio: 'ignore', env: { ...process.env, OCSLAB_SNAPSHOT_CACHE: join(dir, 'cache'), ...(process.env.ABUSE_SERVE_NODE_OPTIONS ? { NODE_OPTIONS: process.env.ABUSE_SERVE_NODE_OPTIONS } : {}) } });
  let abuser: ChildProcess | undefined;
  try {
    await until(() => existsSync(file), 30_000, 'ocslab serve');
    const e = JSON.parse(readFileSync(file, 'utf8')) as Endpoints;
    const sip = await RawSipClient.tcp(e.sipTcp?.port ?? 0);
    await sample(e, sip, 5);
    const idle = await sample(e, sip, samples);
    const rssIdle = rssMiB(serve.pid);
    abuser = spawn(tsx, [join(root, 'bench', 'wire-load.ts'), 'abuse', file, '0'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let ready = false;
    abuser.stdout?.on('data', (d: Buffer) => (ready ||= d.toString().includes('abusing')));
    await until(() => ready, 30_000, 'the abuse generator');
    const abused = await sample(e, sip, samples);
    const rssAbused = rssMiB(serve.pid);
    sip.close();
    const row = (name: string, a: number, b: number) => `| ${name} | ${a.toFixed(1)} ms | ${b.toFixed(1)} ms | ${(b / a).toFixed(2)}× ${b <= 2 * a ? '✓' : '✗'} |`;
    return [
      `| p99 of ${samples} | idle | under abuse | ratio (target ≤ 2×) |`,
      '|---|---|---|---|',
      row('`dig` A (its Query time)', Math.max(idle.dig, 1), Math.max(abused.dig, 1)),
      row('`ldapsearch` bind + search (whole process)', idle.ldap, abused.ldap),
      row('SIP OPTIONS over TCP', idle.options, abused.options),
      `| serve's resident memory | ${rssIdle.toFixed(0)} MiB | ${rssAbused.toFixed(0)} MiB | +${(rssAbused - rssIdle).toFixed(0)} MiB (the 64 partial LDAP messages alone held 108 MiB before) |`,
    ];
  } finally {
    abuser?.kill('SIGTERM');
    serve.kill('SIGTERM');
    await new Promise((r) => serve.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('abuse.ts')) for (const line of await abuseBench()) console.log(line);
