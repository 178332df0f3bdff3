/**
 * `npm run bench`: how fast a rehearsal is. Targets (issue 2): the full seed rehearsal (Part 2 replayed,
 * then Part 3) in-process, median ≤ 50 ms; the whole `ocslab run` process ≤ 1.5 s. Issue 5: a morning
 * sign-in storm of 1,000 and 10,000 clients against one served pool, within 2 GiB on one machine
 * (`STORM_SIZES=1000` for a quick run; `STORM_SIZES=` for none).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastSavepoint, runScenario } from '../sim/runner.js';
import { Lab, type LabSnapshot } from '../sim/lab.js';
import { registry } from '../emulators/index.js';
import { compile } from '../test/support/shipped.js';
import { projectRoot } from '../test/support/scenarios.js';
import { wireBench } from './wire.js';
import { stormBench } from './storm.js';
import { abuseBench } from './abuse.js';

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function inProcess(id: string, runs: number, warmup: number) {
  const scenario = compile(id);
  for (let i = 0; i < warmup; i++) await runScenario({ scenario, registry, seed: `w${i}` });
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const r = await runScenario({ scenario, registry, seed: String(i) });
    times.push(performance.now() - t);
    if (r.status !== 'passed') throw new Error(`${id} did not pass with seed ${i}`);
  }
  return { median: quantile(times, 0.5), p95: quantile(times, 0.95), min: Math.min(...times) };
}

function wholeProcess(runs: number) {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const r = spawnSync(process.execPath, [join(projectRoot, 'bin', 'ocslab.js'), 'run', '--quiet'], { cwd: projectRoot, encoding: 'utf8' });
    times.push(performance.now() - t);
    if (r.status !== 0) throw new Error(`ocslab run exited ${r.status}: ${r.stderr}`);
  }
  return { median: quantile(times, 0.5), p95: quantile(times, 0.95), min: Math.min(...times) };
}

/** Saving and restoring a lab at the end of Part 2 (the seed's starting point): issue 9's ≤ 50 ms. */
async function snapshots(runs: number) {
  const scenario = compile('part2-prepare-environment');
  const lab = new Lab(scenario.topology, registry.emulators, { seed: '2009' });
  await runScenario({ scenario, registry, lab });
  const save: number[] = [];
  const restore: number[] = [];
  let bytes = 0;
  for (let i = 0; i < runs; i++) {
    let t = performance.now();
    const text = JSON.stringify(lab.save());
    save.push(performance.now() - t);
    bytes = text.length;
    t = performance.now();
    const restored = Lab.restore(scenario.topology, registry.emulators, JSON.parse(text) as LabSnapshot);
    restore.push(performance.now() - t);
    restored.stop();
  }
  await lab.close();
  const stats = (xs: number[]) => ({ median: quantile(xs, 0.5), p95: quantile(xs, 0.95), min: Math.min(...xs) });
  return { save: stats(save), restore: stats(restore), bytes };
}

/**
 * The seed's end state from the rehearsal's last savepoint (before its first sign-in): the lab restored
 * from JSON, then the rest of the rehearsal (the clients sign in over real sockets, send IMs, publish
 * presence). Issue 9's "restoring the seed's end state ≤ 50 ms".
 */
async function seedEndState(runs: number) {
  const scenario = compile('seed-part3');
  const keeper = lastSavepoint();
  await runScenario({ scenario, registry, onSavepoint: keeper.onSavepoint });
  const point = keeper.kept();
  if (!point) throw new Error('the seed rehearsal offered no savepoint');
  let steps = 0;
  const total: number[] = [];
  const restore: number[] = [];
  for (let i = 0; i < runs + 5; i++) {
    const t = performance.now();
    const lab = Lab.restore(scenario.topology, registry.emulators, JSON.parse(point.text) as LabSnapshot);
    const restored = performance.now();
    const r = await runScenario({ scenario, registry, lab, resume: { before: point.before, results: point.results } });
    const done = performance.now();
    await lab.close();
    if (r.status !== 'passed') throw new Error('the seed did not pass from its savepoint');
    steps = r.setup.length + r.steps.length;
    if (i >= 5) {
      total.push(done - t);
      restore.push(restored - t);
    }
  }
  const stats = (xs: number[]) => ({ median: quantile(xs, 0.5), p95: quantile(xs, 0.95), min: Math.min(...xs) });
  return { total: stats(total), restore: stats(restore), rest: steps - point.before };
}

/**
 * `ocslab serve` going on from the rehearsal an earlier serve saved: how long after node starts it is
 * listening (as it prints), through bin/ocslab.js (the bundle when it is built and fresh).
 */
async function serveStart(runs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'ocslab-bench-serve-'));
  const once = async (): Promise<{ ms: number; resumed: boolean }> => {
    const file = join(dir, 'endpoints.json');
    rmSync(file, { force: true });
    const child = spawn(process.execPath, [join(projectRoot, 'bin', 'ocslab.js'), 'serve', '--port-base', '0', '--endpoints-file', file], { cwd: projectRoot, env: { ...process.env, OCSLAB_SNAPSHOT_CACHE: join(dir, 'cache'), NO_COLOR: '1' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    while (!/listening (\d+) ms after the process started/.test(out)) {
      if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${out}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGTERM');
    await exited;
    return { ms: Number(/listening (\d+) ms/.exec(out)?.[1]), resumed: out.includes('went on from') };
  };
  try {
    const first = await once();
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await once();
      if (!r.resumed) throw new Error('serve did not go on from the saved rehearsal');
      times.push(r.ms);
    }
    return { first: first.ms, median: quantile(times, 0.5), p95: quantile(times, 0.95), min: Math.min(...times) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const RUNS = 60;
const snap = await snapshots(RUNS);
const seed = await inProcess('seed-part3', RUNS, 10);
const full = await inProcess('full-deployment', RUNS, 10);
const proc = wholeProcess(7);
const endState = await seedEndState(RUNS);
const served = await serveStart(11);
const rows = [
  ['seed rehearsal in-process (Part 2 + Part 3, 40 steps)', seed, 50],
  ['full deployment in-process (33 steps)', full, 50],
  ['`ocslab run` whole process (node + the bundle + seed)', proc, 1500],
  [`lab snapshot of Part 2's end: save to JSON (${Math.round(snap.bytes / 1024)} KiB)`, snap.save, 50],
  ["lab snapshot of Part 2's end: restore from JSON", snap.restore, 50],
  [`seed end state from its last savepoint: restore (${ms(endState.restore.median)}) + the rest (${endState.rest} steps: sign-ins, IMs, presence)`, endState.total, 50],
  [`\`ocslab serve\` from a saved rehearsal: listening after node starts (the first serve: ${served.first} ms)`, served, 400],
] as const;
console.log(`ocslab bench — node ${process.version}, ${RUNS} runs in-process (after 10 warm-up), 7 \`ocslab run\` and 11 \`ocslab serve\` processes\n`);
console.log('| measurement | median | p95 | min | target |');
console.log('|---|---|---|---|---|');
for (const [name, r, target] of rows) console.log(`| ${name} | ${ms(r.median)} | ${ms(r.p95)} | ${ms(r.min)} | ≤ ${target} ms ${r.median <= target ? '✓' : '✗'} |`);

console.log('\n| on the wire (ocslab serve) | figure |');
console.log('|---|---|');
for (const row of await wireBench()) console.log(row);

// The bench's own knob, read here: the CLI's config (cli/config.ts) holds only what `ocslab` reads.
console.log('\n**Load and abuse** (issue 13): `ocslab serve` in a child process, the stalling inputs from another (three connections of 40,000-term OR searches back to back, 1,000 half-sent SIP requests, 64 partial 1 MiB LDAP messages, 256 DNS-over-TCP clients dribbling a byte every 5 s), real `dig` and `ldapsearch` and a SIP OPTIONS from this one\n');
for (const row of await abuseBench()) console.log(row);

const stormSizes = (process.env.STORM_SIZES ?? '1000,10000').split(',').map((x) => Number(x.trim())).filter((n) => Number.isInteger(n) && n > 0);
if (stormSizes.length) {
  console.log('\n**Sign-in storm**: `ocslab serve` (the full deployment plus the storm users) in a child process, the Communicator clients in this one (automatic sign-in over TLS, REGISTER, in-band provisioning)\n');
  for await (const row of stormBench(stormSizes)) console.log(row);
}
// Clients whose unregister went unanswered keep a sip.js timer for an hour (SipSession.close): the
// figures are printed, so the bench ends here rather than waiting for them.
process.exit(0);
