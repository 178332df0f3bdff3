/**
 * The morning sign-in storm (issue 5): N Communicator clients sign in automatically against one pool.
 * The pool is `ocslab serve` in a child process (its own memory and event loop); the clients are the
 * real client machine (communicator.client.machine.ts), all in this process: SRV and A lookups on the
 * lab's DNS over UDP, TLS to the pool VIP's 5061 with the certificate checked against the lab CA,
 * REGISTER with Digest, in-band provisioning. `EndpointsNetwork` routes the lab addresses they learn
 * to the served listeners.
 *
 * The lab is the full deployment (scenarios/deployments/full-deployment.yaml) with N more users
 * (`storm00001`…) in AD from the start, enabled on pool01 before its services start, so the SRV record,
 * sip.example.com and the pool certificate are the ones the full deployment makes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createActor, waitFor } from 'xstate';
import { parse, stringify } from 'yaml';
import { communicatorClientMachine, clientLines, type ClientRuntime } from '../emulators/communicator/communicator.client.machine.js';
import type { ClientSettings } from '../emulators/communicator/communicator.events.js';
import { udpResolver } from '../emulators/communicator/communicator.wire.js';
import { EndpointsNetwork } from '../emulators/network/endpoints.network.js';
import type { Endpoints } from '../cli/serve.js';
import { DEFAULT_TOPOLOGY, type TopologyInput } from '../sim/topology.js';
import { IdSource } from '../sim/ids.js';

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const STORM_PASSWORD = 'St0rm-P@ss';
/** Users per Enable Users wizard run: about 5 s each, and an operator waits at most an hour for one (ocs.steps.ts). */
const ENABLE_BATCH = 500;
const SERVE_START_LIMIT_MS = 25 * 60_000;
/**
 * Sign-ins under way at once: a morning's users arrive together, but the lab answers DNS, TLS and SIP on
 * one event loop, and a queue in front of it longer than Communicator's timeouts (2 s for DNS, 5 s for a
 * TLS handshake) turns sign-ins into failures rather than speed. 32 keeps the lab busy without that.
 */
const IN_FLIGHT = Number(process.env.STORM_IN_FLIGHT ?? 32);
/** No new sign-in starts after this; the row then says how many signed in. */
const SIGN_IN_BUDGET_MS = 5 * 60_000;
const CLIENT_LIMIT_MS = 120_000;
const AUTOMATIC: ClientSettings = { trustLabCa: true, aFallbacks: ['sipinternal', 'sip', 'sipexternal'], allowTcp: false };

const stormSam = (i: number) => `storm${String(i).padStart(5, '0')}`;

/** The full deployment on the default topology plus `count` users, all enabled on pool01 (batches of `ENABLE_BATCH`). */
export function stormScenario(count: number): string {
  const full = parse(readFileSync(join(root, 'scenarios', 'deployments', 'full-deployment.yaml'), 'utf8')) as { steps: Array<Record<string, unknown>>; [k: string]: unknown };
  const users = Array.from({ length: count }, (_, k) => {
    const sam = stormSam(k + 1);
    return { sam, givenName: 'Storm', sn: sam.slice(5), mail: `${sam}@example.com`, password: STORM_PASSWORD, existsAtStart: true };
  });
  // The seed's two users are in AD from the start too. Everyone is enabled once the pool exists and
  // before its services start, so the User Replicator finds them all in its first synchronization
  // instead of polling all of AD every minute through the wizards' runs.
  const seedUsers = (DEFAULT_TOPOLOGY.users ?? []).map((u) => ({ ...u, existsAtStart: true }));
  const topology: TopologyInput = { ...DEFAULT_TOPOLOGY, users: [...seedUsers, ...users] };
  const kept = full.steps.filter((s) => s.action !== 'ad.createUser' && s.action !== 'ocs.enableUsers');
  const enableAt = kept.findIndex((s) => s.action === 'ocs.startServices');
  const sams = [...seedUsers.map((u) => u.sam), ...users.map((u) => u.sam)];
  const enable = Array.from({ length: Math.ceil(sams.length / ENABLE_BATCH) }, (_, b) => {
    const batch = sams.slice(b * ENABLE_BATCH, (b + 1) * ENABLE_BATCH);
    const title = `Enable ${batch[0] ?? ''} … ${batch[batch.length - 1] ?? ''} (${batch.length} users) for Communications Server on pool01`;
    return { action: 'ocs.enableUsers', title, users: batch, pool: 'pool01', signInName: 'email' };
  });
  const steps = [...kept.slice(0, enableAt), ...enable, ...kept.slice(enableAt)];
  return stringify({ ...full, id: `sign-in-storm-${count}`, title: `Sign-in storm: the full deployment with ${count} more users`, description: `The full deployment (scenarios/deployments/full-deployment.yaml) with ${count} more users for npm run bench.\n`, tags: ['bench'], topology, steps }, { lineWidth: 0 });
}

// ---------------------------------------------------------------------------------------------------
// The lab: `ocslab serve` in a child process

interface ServedLab {
  child: ChildProcess;
  endpoints: Endpoints;
  /** Wall time from spawn to the endpoints file (`serve` rehearses the scenario twice, then listens). */
  startMs: number;
}

async function startLab(scenarioFile: string, endpointsFile: string, spawned: (child: ChildProcess) => void): Promise<ServedLab> {
  const started = performance.now();
  const child = spawn(process.execPath, [...(process.env.STORM_LAB_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.STORM_LAB_PROFILE}`] : []), join(root, 'bin', 'ocslab.js'), 'serve', '--scenario', scenarioFile, '--port-base', '0', '--endpoints-file', endpointsFile], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  spawned(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  const deadline = Date.now() + SERVE_START_LIMIT_MS;
  for (;;) {
    if (exited !== undefined) throw new Error(`ocslab serve exited ${exited} before listening: ${stderr}`);
    if (Date.now() > deadline) {
      await stopLab(child);
      throw new Error(`ocslab serve did not listen within ${SERVE_START_LIMIT_MS / 1000} s: ${stderr}`);
    }
    // serve renames the file into place whole.
    if (existsSync(endpointsFile)) return { child, endpoints: JSON.parse(readFileSync(endpointsFile, 'utf8')) as Endpoints, startMs: performance.now() - started };
    await sleep(100);
  }
}

async function stopLab(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** A process's resident set, from /proc (Linux), in bytes. */
function residentBytes(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) * 1024;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------
// The clients: this process

type StormClient = ReturnType<typeof createActor<typeof communicatorClientMachine>>;

/** Runs `work(i)` for i in [0, count), at most `width` at once, starting none after `until`; how many started. */
async function bounded(count: number, width: number, until: number, work: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const worker = async () => {
    while (next < count && performance.now() < until) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
  return next;
}

function settle(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run the storm bench with node --expose-gc (npm run bench does)');
  gc();
  gc();
}

export interface ClientFigures {
  clients: number;
  /** Sign-ins started before the budget ran out, and how many of them failed. */
  attempted: number;
  failures: number;
  signedIn: number;
  signInMs: number;
  signInsPerSecond: number;
  /** What the first failed client saw (clientLines), when one failed. */
  firstFailure?: string[];
  /** This process after a forced GC with everyone signed in, and the growth since before the first client. */
  clientRss: number;
  clientRssDelta: number;
  clientHeapDelta: number;
  /** Outside the JS heap but known to V8 (buffers); OpenSSL's own allocations are in RSS only. */
  clientExternalDelta: number;
  signOutMs: number;
}

export interface StormFigures extends ClientFigures {
  labStartMs: number;
  /**
   * The lab process (VmRSS) when it started listening, with everyone signed in, and its peak (VmHWM, the
   * rehearsals). Its growth is no per-client figure: the child collects the rehearsals' garbage when it likes.
   */
  labRssBefore: number;
  labRss: number;
  labPeakRss: number;
}

export interface StormOptions {
  inFlight?: number;
  budgetMs?: number;
  /** Runs before the first client and once everyone is signed in (the lab's memory is read there). */
  measure?: (moment: 'before' | 'signedIn') => void;
}

/**
 * Signs `count` storm users of a served pool in from this process (automatic configuration, the lab's
 * DNS, the lab CA trusted), measures this process with everyone signed in, then signs everyone out.
 */
export async function stormAgainst(endpoints: Endpoints, count: number, options: StormOptions = {}): Promise<ClientFigures> {
  const storm = endpoints.users.filter((u) => u.sam.startsWith('storm'));
  if (storm.length < count) throw new Error(`the lab enabled ${storm.length} of the ${count} storm users`);
  let queryId = 0;
  const resolver = udpResolver(endpoints.dns, () => (queryId = (queryId % 65_535) + 1));
  // The pool's address from the lab's DNS, asked until the lab answers (it may still be catching up).
  const patient: typeof resolver = async (name, type) => {
    for (let attempt = 1; ; attempt++) {
      const answer = await resolver(name, type);
      if (answer.rcode !== 'TIMEOUT' || attempt === 30) return answer;
    }
  };
  const network = await EndpointsNetwork.fromDns(endpoints, patient);
  if (!network.addresses().length) throw new Error(`the lab's DNS (${endpoints.dns.host}:${endpoints.dns.port}) gives no address for ${endpoints.poolFqdn}`);
  // Every client trusts the lab's enterprise root CA and judges certificates on the wall clock, which
  // the served lab follows.
  const trust = { roots: [readFileSync(endpoints.caCertFile, 'utf8')], now: () => Date.now() };
  const inFlight = options.inFlight ?? IN_FLIGHT;
  // The clients' NTLM randomness (client challenges, session keys), seeded: the same storm each run.
  const ids = new IdSource('storm');
  const clients: StormClient[] = [];
  try {
    settle();
    options.measure?.('before');
    const before = process.memoryUsage();
    let failures = 0;
    let firstFailure: string[] | undefined;
    const started = performance.now();
    const attempted = await bounded(count, inFlight, started + (options.budgetMs ?? SIGN_IN_BUDGET_MS), async (i) => {
      const user = storm[i] as (typeof storm)[number];
      const runtime: ClientRuntime = {
        user: user.sam,
        account: user.sam,
        network,
        resolver,
        trust,
        origin: { address: `127.0.${60 + (i >> 8)}.${i & 255}`, port: 50_000 + (i % 15_000) },
        // NTLM with message signing, as Communicator signs in to OCS.
        ntlm: { domain: endpoints.bindDn.split('\\')[0] ?? '', workstation: `STORM${i}`, bytes: (n: number) => ids.bytes(n), now: () => Date.now() },
      };
      const actor = createActor(communicatorClientMachine, { input: { runtime } });
      runtime.deliver = (e) => actor.send(e);
      actor.start();
      clients.push(actor);
      actor.send({ type: 'signIn', request: { signInAddress: user.sipUri.replace(/^sip:/i, ''), password: user.password, settings: AUTOMATIC } });
      const s = await waitFor(actor, (x) => x.matches('signedIn') || x.matches('failed'), { timeout: CLIENT_LIMIT_MS });
      if (s.matches('failed')) {
        failures++;
        firstFailure ??= [`${user.sam}:`, ...clientLines(s.context, 'failed')];
      }
    });
    const signInMs = performance.now() - started;

    settle();
    await sleep(200);
    settle();
    const after = process.memoryUsage();
    options.measure?.('signedIn');

    const out = performance.now();
    // As many sign-outs at once as sign-ins: SipSession.close waits only 2 s for the unregister's answer,
    // and a sip.js Registerer whose answer never came keeps its 1-hour expiry timer.
    await bounded(clients.length, inFlight, Infinity, async (i) => {
      const actor = clients[i] as StormClient;
      if (actor.getSnapshot().matches('signedIn')) {
        actor.send({ type: 'signOut' });
        await waitFor(actor, (x) => x.matches('signedOut'), { timeout: CLIENT_LIMIT_MS }).catch(() => undefined);
      }
      actor.stop();
    });
    const signOutMs = performance.now() - out;
    return {
      clients: count,
      attempted,
      failures,
      signedIn: attempted - failures,
      signInMs,
      signInsPerSecond: (attempted - failures) / (signInMs / 1000),
      ...(firstFailure ? { firstFailure } : {}),
      clientRss: after.rss,
      clientRssDelta: after.rss - before.rss,
      clientHeapDelta: after.heapUsed - before.heapUsed,
      clientExternalDelta: after.external - before.external,
      signOutMs,
    };
  } finally {
    for (const c of clients) c.stop();
  }
}

/** One storm: serve a pool with `count` storm users in a child process, sign them all in from here, stop it. */
export async function signInStorm(count: number, options: Omit<StormOptions, 'measure'> = {}): Promise<StormFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'ocslab-storm-'));
  let child: ChildProcess | undefined;
  // Stopped from outside, the bench still stops its lab and removes its files.
  const interrupted = (signal: NodeJS.Signals) => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    const scenarioFile = join(dir, `sign-in-storm-${count}.yaml`);
    writeFileSync(scenarioFile, stormScenario(count));
    const lab = await startLab(scenarioFile, join(dir, 'endpoints.json'), (c) => (child = c));
    try {
      const pid = lab.child.pid ?? 0;
      const lr = { before: NaN, signedIn: NaN, peak: NaN };
      const clients = await stormAgainst(lab.endpoints, count, {
        ...options,
        measure: (moment) => {
          lr[moment] = residentBytes(pid);
          if (moment === 'signedIn') lr.peak = residentBytes(pid, 'VmHWM');
        },
      });
      return { ...clients, labStartMs: lab.startMs, labRssBefore: lr.before, labRss: lr.signedIn, labPeakRss: lr.peak };
    } finally {
      await stopLab(lab.child);
    }
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    rmSync(dir, { recursive: true, force: true });
  }
}

const MiB = 1024 * 1024;
const mib = (b: number) => (b / MiB).toFixed(0);
const perClient = (b: number, n: number) => (n > 0 ? (b / 1024 / n).toFixed(0) : '–');
const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

/** The storm table for `npm run bench`, a row as each size finishes, then the first failure of any. */
export async function* stormBench(sizes: readonly number[]): AsyncGenerator<string> {
  yield `| clients (${IN_FLIGHT} sign-ins in flight) | sign-ins/s | client process MiB (KiB/client: RSS, JS heap) | lab process MiB (peak) | total MiB | ≤ 2048 MiB | lab start · sign-in · sign-out |`;
  yield '|---|---|---|---|---|---|---|';
  const notes: string[] = [];
  for (const n of sizes) {
    const f = await signInStorm(n);
    const total = f.clientRss + f.labRss;
    const who = f.signedIn === n ? n.toLocaleString('en-US') : `${n.toLocaleString('en-US')}: ${f.signedIn.toLocaleString('en-US')} signed in${f.failures ? `, ${f.failures} failed` : ''}${f.attempted < n ? `, ${(n - f.attempted).toLocaleString('en-US')} not started within ${SIGN_IN_BUDGET_MS / 60_000} min` : ''}`;
    const fits = f.signedIn === n && total <= 2048 * MiB;
    yield `| ${who} | ${f.signInsPerSecond.toFixed(1)} | ${mib(f.clientRss)} (${perClient(f.clientRssDelta, f.signedIn)}, ${perClient(f.clientHeapDelta, f.signedIn)}) | ${mib(f.labRss)} (${mib(f.labPeakRss)}) | ${mib(total)} | ${fits ? '✓' : '✗'} | ${seconds(f.labStartMs)} · ${seconds(f.signInMs)} · ${seconds(f.signOutMs)} |`;
    if (f.firstFailure) notes.push(`First failed sign-in of ${n}:`, ...f.firstFailure.map((l) => `    ${l}`));
  }
  if (notes.length) yield* ['', ...notes];
}
