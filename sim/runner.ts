/**
 * Runs a compiled scenario on a fresh lab through a target: the `from` chain first (phase "setup"), then
 * the scenario's steps, then its expectations. Every step's outcome, simulated time, what it changed and
 * which event log entries it caused go into the report; step boundaries go into the journal, so the
 * trace shows them.
 *
 * A failed action stops the rehearsal (what follows assumed it worked): the rest is skipped. A failed
 * check does not. A step that throws is a bug in the lab, not a failure of the deployment: the run ends
 * with status "error".
 */
import type { EmulatorDefinition } from './emulator.js';
import type { EventLevel, EventLogWrite, JournalEntry, JsonValue, WindowsEventRecord } from './journal.js';
import { traceText } from './journal.js';
import { Lab, LabSnapshotError, type LabSnapshot } from './lab.js';
import type { Scenario, ScenarioStep, SourcePosition } from './scenario.js';
import type { StepDefinition, StepOutcome } from './steps.js';
import { EmulatedTarget, type ProbeFactory, type Target } from './target.js';
import type { Applier, ClientsOnTarget, Planner } from './plan.js';
import { formatDuration } from './clock.js';
import { injectFault, PendingRewrites, type FaultDefinition, type FaultPlan, type FaultRecord } from './faults.js';

export const DEFAULT_SEED = 'ocslab';

export interface Registry {
  emulators: readonly EmulatorDefinition[];
  steps: readonly StepDefinition[];
  faults?: readonly FaultDefinition[];
  /** How checks reach the embedded lab over its network (emulators/network/lab.probes.ts). */
  probes?: ProbeFactory;
  /** How actions become protocol operations on a real target, and who performs them (decision 0016). */
  replay?: { planners: readonly Planner[]; applier: Applier; clients?: ClientsOnTarget };
}

export type StepPhase = 'setup' | 'steps' | 'expect';
export type StepStatus = 'passed' | 'failed' | 'skipped';
export type RunStatus = 'passed' | 'failed' | 'error';

export interface StepEventLogEntry {
  host: string;
  log: string;
  level: EventLevel;
  eventId: number;
  source: string;
  message: string;
  recordId: number;
  timeCreated: string;
}

export interface StepResult {
  phase: StepPhase;
  /** The scenario the step belongs to (a base scenario's id in setup). */
  scenario: string;
  index: number;
  name: string;
  kind: 'action' | 'check';
  title: string;
  status: StepStatus;
  reason?: string;
  details: string[];
  expectFailure?: string;
  /** Simulated milliseconds since the lab started, when the step began. */
  startMs: number;
  durationMs: number;
  /** The summaries of what components emitted during the step: what it changed. */
  changes: string[];
  /** Event log entries written during the step. */
  events: StepEventLogEntry[];
  position: SourcePosition;
  /** What a check observed through its probes (checks with a probe): for the parity report. */
  observation?: unknown;
}

export interface RunTotals {
  steps: number;
  passed: number;
  failed: number;
  skipped: number;
  setupSteps: number;
  /** Simulated milliseconds the whole run took, setup included. */
  simulatedMs: number;
}

export interface RunReport {
  scenario: { id: string; title: string; file: string; tags: string[]; from: string[] };
  seed: string;
  target: string;
  status: RunStatus;
  ok: boolean;
  /** The internal error, for status "error". */
  error?: { message: string; stack?: string };
  totals: RunTotals;
  setup: StepResult[];
  steps: StepResult[];
  /** Every host's event log at the end, by short host name. */
  eventLogs: Record<string, StepEventLogEntry[]>;
  /** Faults injected during the run: for the report and for grading, not for the operator's eyes. */
  faults: FaultRecord[];
  /** One JSON line per journal entry. */
  trace: string;
  /** With `restartAt`: what became of each restart. */
  restarts?: RestartRecord[];
}

export type ProgressEvent =
  | { type: 'run.started'; scenario: Scenario; seed: string; setupSteps: number; steps: number }
  | { type: 'setup.finished'; results: StepResult[]; durationMs: number; from: string[]; restored?: boolean }
  | { type: 'step.started'; phase: StepPhase; step: ScenarioStep }
  | { type: 'step.finished'; result: StepResult }
  | { type: 'run.finished'; report: RunReport };

export interface RunOptions {
  scenario: Scenario;
  registry: Registry;
  seed?: string;
  /** Faults added for this run (the command line's `--fault`), on top of the scenarios' own. */
  faults?: readonly FaultPlan[];
  /**
   * Run on this lab (built by the caller from the scenario's topology) and leave it running afterwards,
   * as `ocslab serve` does; by default the runner builds a fresh lab and stops it.
   */
  lab?: Lab;
  /**
   * Before each of these steps (0-based, setup steps counted first), save the lab to JSON, stop it and go
   * on with a lab restored from that JSON: the trace must not tell. A lab that cannot be saved there (it
   * has open connections) goes on as it is; `report.restarts` says which happened.
   */
  restartAt?: readonly number[];
  /**
   * Start from the saved end state of the `from` chain instead of replaying it, when nothing of this run
   * acts during the setup (every fault is timed by a step of the scenario itself), and save it when the
   * replay passes and the lab can be saved.
   */
  setupCache?: SetupCache;
  /**
   * Go on from a savepoint of this same rehearsal (`onSavepoint`): `lab` is the lab the caller restored
   * from it, the steps before `before` are done and these are their results.
   */
  resume?: { before: number; results: readonly StepResult[] };
  /**
   * Called before each step while the run could go on from a saved lab there (nothing injected or waiting
   * yet, no step failed as an action): `save()` gives that lab's snapshot, or throws `LabSnapshotError`
   * when it holds what a snapshot cannot (signed-in clients).
   */
  onSavepoint?: (point: Savepoint) => void;
  onProgress?: (event: ProgressEvent) => void;
}

/** A point of a run it can go on from (`RunOptions.resume`). */
export interface Savepoint {
  /** The step it comes before (0-based, setup steps counted first). */
  before: number;
  results: readonly StepResult[];
  /** What the lab holds there that a snapshot cannot (`Lab.holding`): `save()` refuses unless it is empty. */
  holding: readonly string[];
  save: () => LabSnapshot;
}

/** A savepoint as kept: where it is, the results before it, and the lab's snapshot as JSON text. */
export interface KeptSavepoint {
  before: number;
  results: StepResult[];
  text: string;
}

/**
 * An `onSavepoint` that keeps the last point of the run at which the lab saves (one that holds what a
 * snapshot cannot is passed over), or, with `at`, only the point before that step.
 */
export function lastSavepoint(at?: number): { onSavepoint: (point: Savepoint) => void; kept: () => KeptSavepoint | undefined } {
  let kept: KeptSavepoint | undefined;
  const onSavepoint = (point: Savepoint) => {
    if (point.holding.length || (at !== undefined && point.before !== at)) return;
    try {
      kept = { before: point.before, results: [...point.results], text: JSON.stringify(point.save()) };
    } catch (e) {
      if (!(e instanceof LabSnapshotError)) throw e;
    }
  };
  return { onSavepoint, kept: () => kept };
}

/** A whole rehearsal's last savepoint, saved (`SetupCache.rehearsal`). */
export interface CachedRehearsal {
  snapshot: LabSnapshot;
  before: number;
  results: StepResult[];
  /** How much simulated time the whole rehearsal takes. */
  simulatedMs: number;
}

/** What identifies a whole rehearsal: the chain's key, the scenario's own steps and faults, and any added. */
export function rehearsalKey(scenario: Scenario, seed: string, registry: Registry, faults: readonly FaultPlan[] = []): string {
  const own = (f: FaultPlan) => ({ id: f.definition.id, target: f.target, when: f.when, scenario: f.scenario });
  return JSON.stringify({
    setup: setupKey(scenario, seed, registry),
    steps: [...scenario.steps, ...scenario.expect].map(stepKey),
    faults: [...scenario.faults, ...faults].map(own),
  });
}

/** What identifies a `from` chain's end state: its scenarios' steps, the topology, the seed. */
export function setupKey(scenario: Scenario, seed: string, registry: Registry): string {
  const bases = [...scenario.from].reverse().map((b) => ({
    id: b.id,
    // What the journal and the cached results say of each step: its title and where it is written, too.
    steps: [...b.steps, ...b.expect].map(stepKey),
    faults: b.faults.map((f) => ({ id: f.definition.id, target: f.target, when: f.when })),
  }));
  return JSON.stringify({ seed, topology: scenario.topology, emulators: registry.emulators.map((e) => e.kind), steps: registry.steps.map((s) => s.name), bases });
}

const stepKey = (s: ScenarioStep) => ({ name: s.name, title: s.title, params: s.params, expectFailure: s.expectFailure ?? null, position: s.position });

/**
 * The end states of `from` chains, saved lab snapshots by key (decision 0012). The runner computes the
 * key from the chain's scenarios, the topology and the seed; the cache adds what identifies the lab's
 * code (the CLI's keeps them per lab version) and keeps what it is given, or nothing.
 */
export interface SetupCache {
  get(key: string): CachedSetup | undefined;
  put(key: string, value: CachedSetup): void;
  /** How much simulated time a whole rehearsal took (`rehearsalKey`), when a run has said. */
  length?(key: string): number | undefined;
  putLength?(key: string, simulatedMs: number): void;
  /** The last savepoint of a whole rehearsal (`rehearsalKey`), when one was kept. */
  rehearsal?(key: string): CachedRehearsal | undefined;
  putRehearsal?(key: string, value: CachedRehearsal): void;
}

export interface CachedSetup {
  snapshot: LabSnapshot;
  /** The setup steps' results, as the run that saved it had them. */
  results: StepResult[];
}

/** A restart the run was asked for: before which step, and whether the lab was saved and restored. */
export interface RestartRecord {
  before: number;
  restored: boolean;
  reason?: string;
}

export interface PhaseStep {
  phase: StepPhase;
  scenario: string;
  step: ScenarioStep;
}

function eventEntry(r: WindowsEventRecord): StepEventLogEntry {
  return { host: r.host, log: r.log, level: r.level, eventId: r.eventId, source: r.source, message: r.message, recordId: r.recordId, timeCreated: r.timeCreated };
}

/** The steps of the `from` chain, oldest base first, each with its expectations (its end state). */
export function setupSteps(scenario: Scenario): PhaseStep[] {
  return [...scenario.from].reverse().flatMap((base) => [...base.steps, ...base.expect].map((step) => ({ phase: 'setup' as const, scenario: base.id, step })));
}

/** The scenario's own steps, then its expectations. */
export function mainSteps(scenario: Scenario): PhaseStep[] {
  return [
    ...scenario.steps.map((step) => ({ phase: 'steps' as const, scenario: scenario.id, step })),
    ...scenario.expect.map((step) => ({ phase: 'expect' as const, scenario: scenario.id, step })),
  ];
}

/** A step's status from its outcome and what the scenario expected of it (`expectFailure`). */
export function judge(step: ScenarioStep, outcome: StepOutcome): { status: StepStatus; reason?: string } {
  // The embedded lab observes everything; a probe that could not is a failure there, never a pass.
  if (outcome.notObserved !== undefined) return { status: 'failed', reason: `not observed: ${outcome.notObserved}` };
  if (step.expectFailure === undefined) return outcome.ok ? { status: 'passed' } : { status: 'failed', reason: outcome.reason ?? 'failed' };
  if (outcome.ok) return { status: 'failed', reason: `expected the step to fail with "${step.expectFailure}", but it succeeded` };
  const reason = outcome.reason ?? '';
  if (reason.toLowerCase().includes(step.expectFailure.toLowerCase())) return { status: 'passed', reason: `failed as expected: ${reason}` };
  return { status: 'failed', reason: `expected a failure mentioning "${step.expectFailure}", got: ${reason}` };
}

export async function runScenario(options: RunOptions): Promise<RunReport> {
  const { scenario, registry, onProgress } = options;
  const seed = options.seed ?? scenario.seed ?? DEFAULT_SEED;
  const setup = setupSteps(scenario);
  const main = mainSteps(scenario);
  const chain = scenario.from.map((s) => s.id);
  const results: StepResult[] = [];
  let status: RunStatus = 'passed';
  let error: RunReport['error'];
  let lab: Lab | undefined;
  let target: Target | undefined;

  onProgress?.({ type: 'run.started', scenario, seed, setupSteps: setup.length, steps: main.length });
  const all = [...setup, ...main];
  let current: PhaseStep | undefined;
  const plans = [...[...scenario.from].reverse().flatMap((b) => b.faults), ...scenario.faults, ...(options.faults ?? [])];
  const injected: FaultRecord[] = [];
  const rewrites = new PendingRewrites();
  /** Faults timed on the simulated clock that have not fired yet, by timer id. */
  const timed = new Map<number, FaultPlan>();
  const restarts: RestartRecord[] = [];
  /** What a timed fault does when its time comes; its label is its place in `plans`, saved with a lab. */
  const timedFault = (plan: FaultPlan) => {
    const when = plan.when;
    return () => {
      for (const [id, p] of timed) if (p === plan) timed.delete(id);
      if ('afterMs' in when) inject(plan, `at ${formatDuration(when.afterMs)}`);
    };
  };
  const armTimed = (plan: FaultPlan, afterMs: number) => {
    if (lab) timed.set(lab.setTimer(`fault:${plans.indexOf(plan)}`, afterMs, timedFault(plan)), plan);
  };
  const inject = (plan: FaultPlan, at: string) => {
    const current = lab;
    if (current) injected.push(injectFault(current, scenario.topology, plan, rewrites, at, () => lab ?? current));
  };
  try {
    const resume = options.resume;
    if (resume && !options.lab) throw new Error('runScenario: resume needs the lab restored from the savepoint');
    lab = options.lab ?? new Lab(scenario.topology, registry.emulators, { seed });
    target = new EmulatedTarget(lab, scenario.topology, registry.probes);
    let setupDone = setup.length === 0;
    if (resume) {
      // The restored journal opens with this rehearsal's start; no fault had acted before a savepoint.
      results.push(...resume.results);
      if (resume.before >= setup.length && setup.length > 0) {
        setupDone = true;
        onProgress?.({ type: 'setup.finished', results: results.filter((r) => r.phase === 'setup'), durationMs: 0, from: chain, restored: true });
      }
    } else {
      lab.record('runner', { type: 'runner.runStarted', scenario: scenario.id, seed, target: target.name, from: chain });
      for (const plan of plans) {
        const when = plan.when;
        if ('at' in when) inject(plan, 'start');
        else if ('afterMs' in when) armTimed(plan, when.afterMs);
      }
    }
    const restartBefore = new Set(options.lab ? [] : (options.restartAt ?? []));
    const cacheable =
      options.setupCache !== undefined && setup.length > 0 && !options.lab && !options.restartAt && plans.every((p) => 'step' in p.when && p.scenario === scenario.id);
    const key = cacheable ? setupKey(scenario, seed, registry) : '';
    const cached = cacheable ? options.setupCache?.get(key) : undefined;
    let skipSetup = false;
    if (cached) {
      try {
        // The saved journal opens with the run that saved it; this run opens with its own (same seq, time).
        const [opening, ...rest] = cached.snapshot.journal.entries;
        const mine = lab.journal.entries[0];
        if (opening?.event.type !== 'runner.runStarted' || !mine) throw new LabSnapshotError('the cached setup does not open with a run');
        const journal = { ...cached.snapshot.journal, entries: [mine, ...rest] };
        const restored = Lab.restore(scenario.topology, registry.emulators, { ...cached.snapshot, journal });
        await lab.close();
        lab = restored;
        target = new EmulatedTarget(lab, scenario.topology, registry.probes);
        results.push(...cached.results);
        skipSetup = true;
        setupDone = true;
        onProgress?.({ type: 'setup.finished', results: [...results], durationMs: target.elapsed(), from: chain, restored: true });
      } catch {
        // A saved setup this lab cannot take back (another shape, a damaged file) is replayed instead, and
        // saved again below.
      }
    }
    let stoppedBy: string | undefined;
    for (const [position, item] of all.entries()) {
      if (skipSetup && item.phase === 'setup') continue;
      if (resume && position < resume.before) continue;
      if (restartBefore.has(position) && !stoppedBy) {
        const planOf = (label: string) => plans[Number(label.replace(/^fault:/, ''))];
        const restart = restartLab(lab, scenario, registry, position, (label) => {
          const plan = planOf(label);
          return plan ? timedFault(plan) : undefined;
        });
        restarts.push(restart.record);
        if (restart.lab) {
          lab = restart.lab;
          target = new EmulatedTarget(lab, scenario.topology, registry.probes);
          // The restored lab set the faults' timers again, each in its place among the machines' delayed
          // events; they are what is still waiting now.
          timed.clear();
          for (const [id, t] of lab.ownerTimers()) {
            const plan = planOf(t.label);
            if (plan) timed.set(id, plan);
          }
        }
      }
      if (!setupDone && item.phase !== 'setup') {
        setupDone = true;
        onProgress?.({ type: 'setup.finished', results: [...results], durationMs: target.elapsed(), from: chain });
        if (cacheable && !stoppedBy && results.every((r) => r.status === 'passed')) saveSetup(lab, options.setupCache, key, results);
      }
      if (options.onSavepoint && !stoppedBy && injected.length === 0 && timed.size === 0) {
        const here = lab;
        options.onSavepoint({ before: position, results: [...results], holding: here.holding(), save: () => here.save() });
      }
      current = item;
      if (!stoppedBy) {
        for (const plan of plans) {
          if ('step' in plan.when && plan.when.step === item.step.index && plan.scenario === item.scenario) inject(plan, `before step ${item.step.index} (${item.step.name}) of ${item.scenario}`);
        }
      }
      const result = stoppedBy ? skipped(item, target.elapsed(), stoppedBy) : await runStep(lab, target, item, rewrites, onProgress);
      current = undefined;
      results.push(result);
      if (item.phase !== 'setup' || result.status !== 'passed') onProgress?.({ type: 'step.finished', result });
      if (result.status === 'failed' && !stoppedBy && (item.step.kind === 'action' || item.phase === 'setup')) stoppedBy = stepLabel(item);
    }
    if (!setupDone) onProgress?.({ type: 'setup.finished', results: [...results], durationMs: target.elapsed(), from: chain });
    if (results.some((r) => r.status === 'failed')) status = 'failed';
  } catch (e) {
    status = 'error';
    const err = e instanceof Error ? e : new Error(String(e));
    error = err.stack ? { message: err.message, stack: err.stack } : { message: err.message };
    const elapsed = target?.elapsed() ?? 0;
    const thrownAt = current;
    if (thrownAt) {
      const failedStep: StepResult = { ...baseResult(thrownAt, elapsed), status: 'failed', reason: `internal error: ${err.message}` };
      results.push(failedStep);
      onProgress?.({ type: 'step.finished', result: failedStep });
    }
    for (const item of all.slice(results.length)) results.push(thrownAt ? skipped(item, elapsed, stepLabel(thrownAt)) : { ...baseResult(item, elapsed), reason: 'skipped: the lab failed to start' });
  }

  // A timed fault the run never reached is cancelled (a lab that keeps running must not get it later)
  // and reported as not injected, so a fault asked for is never silently lost.
  for (const [id, plan] of timed) {
    lab?.clearTimer(id);
    const when = 'afterMs' in plan.when ? formatDuration(plan.when.afterMs) : '';
    const ended = formatDuration(target?.elapsed() ?? 0);
    injected.push({ id: plan.definition.id, target: plan.target, origin: plan.origin, injectedAt: 'not reached', t: target?.elapsed() ?? 0, applied: false, note: `the run ended at ${ended}, before ${when}` });
  }
  const entries = lab?.journal.entries ?? [];
  if (lab) lab.record('runner', { type: 'runner.runFinished', scenario: scenario.id, status });
  const eventLogs: Record<string, StepEventLogEntry[]> = {};
  for (const host of [...(lab?.journal.hosts() ?? [])].sort()) eventLogs[host] = (lab?.journal.eventLog(host) ?? []).map(eventEntry);
  const mainResults = results.filter((r) => r.phase !== 'setup');
  const report: RunReport = {
    scenario: { id: scenario.id, title: scenario.title, file: scenario.file, tags: scenario.tags, from: chain },
    seed,
    target: target?.name ?? 'emulated',
    status,
    ok: status === 'passed',
    ...(error ? { error } : {}),
    totals: {
      steps: mainResults.length,
      passed: mainResults.filter((r) => r.status === 'passed').length,
      failed: mainResults.filter((r) => r.status === 'failed').length,
      skipped: mainResults.filter((r) => r.status === 'skipped').length,
      setupSteps: results.length - mainResults.length,
      simulatedMs: target?.elapsed() ?? 0,
    },
    setup: results.filter((r) => r.phase === 'setup'),
    steps: mainResults,
    eventLogs,
    faults: injected,
    trace: traceText(entries),
    ...(options.restartAt ? { restarts } : {}),
  };
  try {
    if (!options.lab) await lab?.close();
  } catch {
    // Stopping a lab whose machine threw can throw again; the report already says what went wrong.
  }
  onProgress?.({ type: 'run.finished', report });
  return report;
}

/** Keeps the end state of a replayed `from` chain, when the lab can be saved there. */
function saveSetup(lab: Lab, cache: SetupCache | undefined, key: string, results: readonly StepResult[]): void {
  try {
    cache?.put(key, { snapshot: lab.save(), results: [...results] });
  } catch (e) {
    if (!(e instanceof LabSnapshotError)) throw e;
  }
}

/** Saves the lab, stops it, and restores a new one from the saved JSON (see `RunOptions.restartAt`). */
function restartLab(lab: Lab, scenario: Scenario, registry: Registry, before: number, rearm: (label: string) => (() => void) | undefined): { record: RestartRecord; lab?: Lab } {
  let text: string;
  try {
    text = JSON.stringify(lab.save());
  } catch (e) {
    if (e instanceof LabSnapshotError) return { record: { before, restored: false, reason: e.message } };
    throw e;
  }
  lab.stop();
  const restored = Lab.restore(scenario.topology, registry.emulators, JSON.parse(text) as LabSnapshot, rearm);
  return { record: { before, restored: true }, lab: restored };
}

function stepLabel(item: PhaseStep): string {
  return item.phase === 'setup' ? `setup step ${item.step.index} of ${item.scenario}` : `step ${item.step.index}`;
}

function baseResult(item: PhaseStep, startMs: number): StepResult {
  const { step } = item;
  const r: StepResult = {
    phase: item.phase,
    scenario: item.scenario,
    index: step.index,
    name: step.name,
    kind: step.kind,
    title: step.title,
    status: 'skipped',
    details: [],
    startMs,
    durationMs: 0,
    changes: [],
    events: [],
    position: step.position,
  };
  if (step.expectFailure !== undefined) r.expectFailure = step.expectFailure;
  return r;
}

function skipped(item: PhaseStep, at: number, after: string): StepResult {
  return { ...baseResult(item, at), reason: `skipped after ${after} failed` };
}

/** The records the step's `eventlog.write` events appended, in the order they were written. */
function newEventLogEntries(lab: Lab, during: readonly JournalEntry[], before: Map<string, number>): StepEventLogEntry[] {
  const cursor = new Map(before);
  const out: StepEventLogEntry[] = [];
  for (const e of during) {
    if (e.event.type !== 'eventlog.write') continue;
    const host = (e.event as EventLogWrite).entry.host.toLowerCase();
    const at = cursor.get(host) ?? 0;
    const record = lab.journal.eventLog(host)[at];
    cursor.set(host, at + 1);
    if (record && e.cause === undefined) out.push(eventEntry(record));
  }
  return out;
}

async function runStep(lab: Lab, target: Target, item: PhaseStep, rewrites: PendingRewrites, onProgress: RunOptions['onProgress']): Promise<StepResult> {
  const { step } = item;
  // An injected operator mistake turns this step's parameters into the ones the operator got wrong.
  const rewritten = rewrites.apply(step.name, step.params);
  const params = rewritten.by.length ? (step.definition.params.parse(rewritten.params) as Record<string, unknown>) : step.params;
  const start = target.elapsed();
  const startSeq = lab.journal.entries.length;
  const logLengths = new Map(lab.journal.hosts().map((h) => [h, lab.journal.eventLog(h).length]));
  onProgress?.({ type: 'step.started', phase: item.phase, step });
  lab.record('runner', { type: 'runner.stepStarted', phase: item.phase, scenario: item.scenario, index: step.index, step: step.name, title: step.title });
  const outcome = await target.perform({ definition: step.definition, params });
  // What an injected fault changed is not what the step changed: the operator sees only symptoms.
  const all = lab.journal.since(startSeq);
  const during = all.filter((e) => e.source !== 'runner' && e.cause === undefined);
  const verdict = judge(step, outcome);
  const result: StepResult = {
    ...baseResult(item, start),
    status: verdict.status,
    details: outcome.details ?? [],
    durationMs: target.elapsed() - start,
    changes: during.flatMap((e) => (typeof e.event.summary === 'string' && e.event.type !== 'eventlog.write' ? [e.event.summary] : [])),
    events: newEventLogEntries(lab, all, logLengths),
  };
  if (verdict.reason !== undefined) result.reason = verdict.reason;
  if (outcome.observation !== undefined) result.observation = outcome.observation;
  const finished: Record<string, JsonValue> = { phase: item.phase, scenario: item.scenario, index: step.index, step: step.name, status: result.status, durationMs: result.durationMs };
  if (result.reason !== undefined) finished.reason = result.reason;
  lab.record('runner', { type: 'runner.stepFinished', ...finished });
  return result;
}
