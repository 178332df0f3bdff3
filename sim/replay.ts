/**
 * Replaying a scenario against a real target (decision 0016): the same compiled steps, performed
 * through a target file's addresses instead of the embedded lab. Read-only: nothing is written.
 *
 * - A check with a probe is observed over its protocol and judged by the same pure judgement as on the
 *   lab.
 * - A check no protocol reaches on a real server (service state, event log, features) is *not
 *   observed*, never passed; the report says where an operator looks (`console`).
 * - An action is not performed; the report lists it as the operator's step, in the product's words.
 *
 * Which checks are judged: a read-only replay looks at the target as it is, the end state of a pool
 * already built. A check that an action after it in the scenario would change describes a state the
 * target has left behind (the seed's "before ForestPrep, Not Ready"): it is reported as *superseded by*
 * that action, neither passed nor failed. The checks after the last action, and the expectations, are
 * judged.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Registry, PhaseStep, RunReport } from './runner.js';
import { DEFAULT_SEED, judge, mainSteps, runScenario, setupSteps } from './runner.js';
import { Lab } from './lab.js';
import { EmulatedTarget } from './target.js';
import { describeOp, type PlanOp, type StepPlan } from './plan.js';
import type { Scenario } from './scenario.js';
import type { StepOutcome } from './steps.js';
import type { TargetConfig } from './target-file.js';
import { WireProbes, type Dialer } from './probes.wire.js';
import type { Probes } from './probes.js';
import { isUnreachable } from './probes.js';
import type { Topology } from './topology.js';

export type ReplayStatus = 'passed' | 'failed' | 'not observed' | 'superseded' | 'planned' | 'operator' | 'applied' | 'not applied' | 'skipped';

export interface ReplayStep {
  phase: PhaseStep['phase'];
  scenario: string;
  index: number;
  name: string;
  kind: 'action' | 'check';
  title: string;
  status: ReplayStatus;
  reason?: string;
  details: string[];
  observation?: unknown;
  /**
   * Who observed a check no probe reaches: the operator, who looked where `details` says (an interactive
   * run), or the lab's client (Communicator) signed in to the target.
   */
  observedBy?: 'operator' | 'client';
  /** With --apply: the action's plan as shown before it was confirmed, and what became of each operation. */
  plan?: { ops: string[]; operator: string[]; refused?: string };
  applied?: Array<{ op: string; status: 'done' | 'skipped' | 'failed'; note?: string }>;
}

export interface ReplayReport {
  scenario: { id: string; title: string; from: string[] };
  target: string;
  /** end-state: read-only, the target as it is; step-by-step: --apply, each action then its checks. */
  mode: 'end-state' | 'step-by-step';
  status: 'passed' | 'failed' | 'incomplete';
  totals: Record<ReplayStatus, number>;
  steps: ReplayStep[];
}

/** Problems that stop a replay before it asks anything (exit 2): credentials, a target file's gaps. */
export class ReplayInputError extends Error {}

/** The real address of a topology address and port, from the target file. */
export function targetDialer(target: TargetConfig, topology: Topology): Dialer {
  return {
    async dial(address, port) {
      const name = topology.hosts.find((h) => h.ip === address)?.name ?? topology.pools.find((p) => p.vip === address)?.name;
      const real = name ? target.hosts[name.toLowerCase()] : undefined;
      if (!real) return { ok: false, error: `${name ?? address} is not in the target file ${target.file}` };
      return { ok: true, host: real.address, port: real.ports[port] ?? port };
    },
  };
}

/** TLS to the target's DCs, with its trust anchors read from `trust.caFile`. */
type LdapTlsMode = { mode: 'starttls' | 'ldaps'; ca?: string };

/** The target's trust anchors (`trust.caFile`), read once. */
function readCaFile(target: TargetConfig): string | undefined {
  if (!target.caFile) return undefined;
  try {
    return readFileSync(target.caFile, 'utf8');
  } catch (e) {
    throw new ReplayInputError(`${target.file}: trust.caFile: cannot read ${target.caFile} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

function ldapTlsOf(target: TargetConfig, ca: string | undefined): LdapTlsMode | undefined {
  if (target.ldapTls === 'none') return undefined;
  return ca ? { mode: target.ldapTls, ca } : { mode: target.ldapTls };
}

/** The administrator's password from where the target file says it is (never from the file itself). */
export async function resolvePassword(target: TargetConfig, env: NodeJS.ProcessEnv = process.env, ask?: (question: string) => Promise<string>): Promise<string> {
  const ref = target.administrator.password;
  if ('value' in ref) return ref.value;
  if ('env' in ref) {
    const v = env[ref.env];
    if (v === undefined || v === '') throw new ReplayInputError(`${target.file}: credentials.administrator.password: the environment variable ${ref.env} is not set`);
    return v;
  }
  if (!ask) throw new ReplayInputError(`${target.file}: credentials.administrator.password asks for a prompt, but this run is not interactive (give { env: NAME } instead)`);
  return ask(`Password for ${target.administrator.user} on ${target.name}: `);
}

/** A prompt on the terminal that does not echo what is typed. */
export function terminalPrompt(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const out = rl as unknown as { _writeToOutput: (s: string) => void };
    process.stderr.write(question);
    out._writeToOutput = () => undefined;
    rl.question('', (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
  });
}

/** How `--apply` goes: each action's plan is shown and confirmed (`--yes` confirms them all). */
export interface ApplyMode {
  confirm(step: ReplayStep, plan: StepPlan): Promise<boolean>;
}

/** A yes/no question on the terminal; anything but y or yes is no. */
export function terminalConfirm(question: string): Promise<boolean> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    rl.question(question, (answer) => {
      rl.close();
      resolve(/^y(es)?$/i.test(answer.trim()));
    });
  });
}

export interface ReplayOptions {
  scenario: Scenario;
  registry: Registry;
  target: TargetConfig;
  password: string;
  /** Perform the plans (step by step, each confirmed); without it the replay writes nothing. */
  apply?: ApplyMode;
  /** The target file allows the lab's documentation OIDs for schema objects (a throw-away forest). */
  labSchemaOids?: boolean;
  seed?: string;
  /** Wall-clock limit of one probe exchange. */
  timeoutMs?: number;
  onStep?: (step: ReplayStep) => void;
  /**
   * An interactive run: a check no protocol reaches is asked of the operator, with the place to look
   * (`where`) and what the scenario expects there (`title`). Without it such checks are *not observed*.
   */
  ask?: (question: OperatorQuestion) => Promise<OperatorAnswer>;
}

export interface OperatorQuestion {
  scenario: string;
  phase: PhaseStep['phase'];
  index: number;
  title: string;
  where: string;
}

/** seen: what the check expects is there; not seen: it is not; skip: the operator did not look. */
export type OperatorAnswer = 'seen' | 'not seen' | 'skip';

/**
 * The operator's terminal for a run's questions: one line reader for the whole run, so answers typed
 * (or pasted) ahead are kept for the questions that follow. Closed when the run ends.
 */
export class TerminalQuestions {
  private readonly rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY === true });
  private readonly queued: string[] = [];
  private waiting: ((line: string) => void) | undefined;
  private ended = false;

  constructor() {
    this.rl.on('line', (line) => {
      const w = this.waiting;
      this.waiting = undefined;
      if (w) w(line);
      else this.queued.push(line);
    });
    this.rl.on('close', () => {
      this.ended = true;
      this.waiting?.('');
      this.waiting = undefined;
    });
  }

  /** The next line typed after the question; '' once the input has ended. */
  line(question: string): Promise<string> {
    process.stderr.write(question);
    const next = this.queued.shift();
    if (next !== undefined) return Promise.resolve(next);
    if (this.ended) return Promise.resolve('');
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** The operator's answer: y, n or s (anything else asks again, up to three times; no input is skip). */
  async answer(q: OperatorQuestion): Promise<OperatorAnswer> {
    process.stderr.write(`  look at ${q.where}\n`);
    for (let i = 0; i < 3; i++) {
      const a = (await this.line(`  ${q.scenario} ${q.phase} ${q.index}: ${q.title}? [y]es, [n]o, [s]kip: `)).trim();
      if (/^y(es)?$/i.test(a)) return 'seen';
      if (/^no?$/i.test(a)) return 'not seen';
      if (/^s(kip)?$/i.test(a) || a === '' || this.ended) return 'skip';
    }
    return 'skip';
  }

  close(): void {
    this.rl.close();
  }
}

/** The replay's report, and the lab's rehearsal of the same scenario (for the parity report). */
export async function replayScenario(o: ReplayOptions): Promise<ReplayReport & { rehearsal: RunReport }> {
  const { scenario, target } = o;
  const topology = scenario.topology;
  const trust = readCaFile(target);
  const tls = ldapTlsOf(target, trust);
  const probes: Probes = new WireProbes({
    target: target.name,
    topology,
    dialer: targetDialer(target, topology),
    admin: { name: target.administrator.user, password: o.password },
    showRealAddress: true,
    ...(tls ? { ldapTls: tls } : {}),
    ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
    // An HTTPS client on the operator's workstation trusts the target's CA (trust.caFile), and nothing else.
    httpsTrust: () => (trust ? [trust] : []),
  });
  // Wrong credentials stop the run before anything is asked (an unreachable DC does not: its checks fail).
  const bind = await probes.ldapBind({ name: target.administrator.user, password: o.password });
  if (!isUnreachable(bind) && !bind.ok) throw new ReplayInputError(`${target.file}: the directory refused ${target.administrator.user}: LDAP error ${bind.code}: ${bind.message}`);
  // A certificate the trust anchors do not vouch for is the target file's problem, not the server's.
  if (isUnreachable(bind) && bind.error.startsWith('TLS:')) throw new ReplayInputError(`${target.file}: the domain controller's certificate was not accepted (${bind.error.slice(5)}); give its CA in trust.caFile, or ldap: { tls: none } for a lab DC`);
  try {
    return await walk(o, probes, tls, trust);
  } finally {
    await probes.close?.();
  }
}

function report(scenario: Scenario, target: TargetConfig, mode: ReplayReport['mode'], steps: ReplayStep[]): ReplayReport {
  const totals: Record<ReplayStatus, number> = { passed: 0, failed: 0, 'not observed': 0, superseded: 0, planned: 0, operator: 0, applied: 0, 'not applied': 0, skipped: 0 };
  for (const s of steps) totals[s.status]++;
  const status = totals.failed || totals['not applied'] ? 'failed' : totals['not observed'] || totals.operator || totals.skipped ? 'incomplete' : 'passed';
  return { scenario: { id: scenario.id, title: scenario.title, from: scenario.from.map((x) => x.id) }, target: target.name, mode, status, totals, steps };
}

/** A check judged on the target: the probe's observation and the same judgement as on the lab. */
async function judgeOnTarget(item: PhaseStep, probes: Probes, topology: Topology, readOnly: boolean, ask: ReplayOptions['ask']): Promise<ReplayStep> {
  const { step } = item;
  const base = { phase: item.phase, scenario: item.scenario, index: step.index, name: step.name, kind: step.kind, title: step.title };
  /** What no probe observed: the operator's answer in an interactive run, else not observed. */
  const byOperator = async (where: string, why: string, observation?: unknown): Promise<ReplayStep> => {
    const seen = observation !== undefined ? { observation } : {};
    const answer = ask ? await ask({ scenario: item.scenario, phase: item.phase, index: step.index, title: step.title, where }) : 'skip';
    if (answer === 'seen') return { ...base, status: 'passed', observedBy: 'operator', details: [`the operator saw it at ${where}`] };
    if (answer === 'not seen') return { ...base, status: 'failed', observedBy: 'operator', reason: `the operator did not see it at ${where}`, details: [] };
    return { ...base, status: 'not observed', details: [why], ...seen };
  };
  if (!step.definition.probe) {
    const where = step.definition.console?.(step.params, topology);
    return where
      ? byOperator(where, `no protocol reaches this on a real server; look at ${where}`)
      : byOperator('the real servers', 'this check reads the lab and has no probe yet; check it on the real servers by hand');
  }
  const trace = readOnly ? step.definition.leavesTrace?.(step.params) : undefined;
  if (trace) return { ...base, status: 'not observed', details: [trace] };
  let observation: unknown;
  try {
    observation = await step.definition.probe.observe(probes, step.params, topology);
  } catch (e) {
    // What a real server answered made the probe give up: the check failed, the run goes on.
    return { ...base, status: 'failed', reason: `the probe could not finish: ${e instanceof Error ? e.message : String(e)}`, details: [] };
  } finally {
    // The check's LDAP session ends with it: the next check, after an action, binds afresh.
    await probes.close?.();
  }
  const outcome: StepOutcome = step.definition.probe.judge(observation, step.params, topology);
  if (outcome.notObserved !== undefined) return byOperator(outcome.notObserved, outcome.notObserved, observation);
  const verdict = judge(step, outcome);
  const r: ReplayStep = { ...base, status: verdict.status === 'passed' ? 'passed' : 'failed', details: outcome.details ?? [], observation };
  if (verdict.reason !== undefined) r.reason = verdict.reason;
  return r;
}

/**
 * A check of what the clients write, failed after a client write the read-only replay only planned: the
 * target was never asked to hold it, so the failure is not its answer. Reported not observed, with the
 * observation and what the target did show; a pass stands (the target already holds the end state).
 */
function unmade(r: ReplayStep, planned: PhaseStep | undefined): ReplayStep {
  if (!planned || r.kind !== 'check' || r.status !== 'failed') return r;
  const { reason, observedBy: _by, ...rest } = r;
  return {
    ...rest,
    status: 'not observed',
    details: [`it follows "${planned.step.title}" (${planned.scenario} step ${planned.step.index}), which a read-only replay only plans; run with --apply to make the write and judge this`, ...(reason ? [`the target shows: ${reason}`] : []), ...r.details],
  };
}

/**
 * A step of the lab's clients, performed by them on the target (`Registry.replay.clients`): a check is
 * the target's answer (superseded in a read-only replay when a later action changes it; the client still
 * signs in, so later steps find it as the scenario left it); an action that changes what the servers
 * store (publishing presence, adding a contact) is only planned in a read-only replay, confirmed and
 * performed with --apply; the client's own settings are simply applied to the client.
 */
async function clientStep(
  item: PhaseStep,
  base: Pick<ReplayStep, 'phase' | 'scenario' | 'index' | 'name' | 'kind' | 'title'>,
  c: { write: boolean; mode: ApplyMode | undefined; emulated: EmulatedTarget; later: PhaseStep | undefined },
): Promise<ReplayStep> {
  const { step } = item;
  const by = `the lab's Communicator on the target: ${step.title}`;
  if (step.kind === 'action' && step.definition.client === 'writes') {
    if (!c.write || !c.mode) return { ...base, status: 'planned', details: [`${by} (with --apply)`], plan: { ops: [], operator: [by] } };
    const pending: ReplayStep = { ...base, status: 'not applied', details: [], plan: { ops: [], operator: [by] } };
    if (!(await c.mode.confirm(pending, { ops: [], operator: [by] }))) return { ...pending, reason: 'not confirmed', details: ['the operator did not confirm the plan'] };
  }
  const outcome = await c.emulated.perform({ definition: step.definition, params: step.params });
  const verdict = judge(step, outcome);
  const reason = verdict.reason !== undefined ? { reason: verdict.reason } : {};
  if (step.kind === 'check') {
    if (c.later) return { ...base, status: 'superseded', details: [`describes the state before "${c.later.step.title}" (${c.later.scenario} step ${c.later.step.index}); a read-only replay sees the end state`] };
    return { ...base, status: verdict.status === 'passed' ? 'passed' : 'failed', observedBy: 'client', details: outcome.details ?? [], ...reason };
  }
  return { ...base, status: verdict.status === 'passed' ? 'applied' : 'not applied', observedBy: 'client', details: [by, ...(outcome.details ?? [])], ...reason };
}

/**
 * `--apply`: the scenario step by step on the target. Each action is rehearsed on a lab of its own first;
 * what it wrote there is its plan (the planners of the registry), shown and confirmed, then performed
 * on the target; each check is then judged on the target as the scenario has it, so a check of an
 * earlier state is judged when the target is in that state. What an action did that no protocol
 * performs is the operator's. The first operation that fails stops the run: the report says what was
 * done and what was not.
 */
async function walk(o: ReplayOptions, probes: Probes, tls: LdapTlsMode | undefined, trust: string | undefined): Promise<ReplayReport & { rehearsal: RunReport }> {
  const { scenario, target, registry } = o;
  const mode = o.apply;
  const write = mode !== undefined;
  const topology = scenario.topology;
  const replay = registry.replay;
  if (!replay) throw new ReplayInputError('this registry cannot plan actions for a real target (Registry.replay)');
  const seed = o.seed ?? scenario.seed ?? DEFAULT_SEED;
  // The rehearsal's end state says what the schema must allow (where objects of each class go).
  const end = new Lab(topology, registry.emulators, { seed });
  const lab = new Lab(topology, registry.emulators, { seed });
  const steps: ReplayStep[] = [];
  let rehearsal: RunReport | undefined;
  try {
    rehearsal = await runScenario({ scenario, registry, lab: end, seed });
    const emulated = new EmulatedTarget(lab, topology, registry.probes);
    const dialer = targetDialer(target, topology);
    // The lab's clients (Communicator) sign in to the target itself: their steps' outcomes are the target's.
    replay.clients?.(lab, { dialer, topology, trustRoots: () => (trust ? [trust] : []) });
    const all: PhaseStep[] = [...setupSteps(scenario), ...mainSteps(scenario)];
    let stoppedBy: string | undefined;
    /** The first client write a read-only replay only planned: what later checks of the clients' writes wait for. */
    let plannedWrite: PhaseStep | undefined;
    // What a later action would change is superseded in a read-only replay; the clients' own actions do
    // not change the target then (their writes are only planned), so they supersede nothing.
    const changesTarget = (x: PhaseStep) => x.step.kind === 'action' && !(x.step.definition.client && replay.clients);
    const lastAction = all.map(changesTarget).lastIndexOf(true);
    for (const [i, item] of all.entries()) {
      const { step } = item;
      const base = { phase: item.phase, scenario: item.scenario, index: step.index, name: step.name, kind: step.kind, title: step.title };
      if (stoppedBy) {
        const r: ReplayStep = { ...base, status: 'skipped', details: [`not done: ${stoppedBy}`] };
        steps.push(r);
        o.onStep?.(r);
        continue;
      }
      if (step.definition.client && replay.clients) {
        const r = unmade(await clientStep(item, base, { write, mode, emulated, later: !write && i < lastAction ? all.slice(i + 1).find(changesTarget) : undefined }), plannedWrite);
        if (r.status === 'not applied' && write) stoppedBy = `"${step.title}" failed on the target`;
        if (r.status === 'planned' && step.definition.client === 'writes') plannedWrite ??= item;
        steps.push(r);
        o.onStep?.(r);
        continue;
      }
      if (step.kind === 'check') {
        // The lab walks the scenario too: some checks act there (Communicator signs in), and the actions
        // after them are rehearsed from the state they leave.
        await emulated.perform({ definition: step.definition, params: step.params });
        const later = write || i > lastAction ? undefined : all.slice(i + 1).find(changesTarget);
        const judged: ReplayStep = later
          ? { ...base, status: 'superseded', details: [`describes the state before "${later.step.title}" (${later.scenario} step ${later.step.index}); a read-only replay sees the end state`] }
          : await judgeOnTarget(item, probes, topology, !write, o.ask);
        const r = step.definition.observesClientWrites ? unmade(judged, plannedWrite) : judged;
        steps.push(r);
        o.onStep?.(r);
        continue;
      }
      const before = replay.planners.map((p) => p.capture(lab));
      const from = lab.journal.entries.length;
      const outcome = await emulated.perform({ definition: step.definition, params: step.params });
      if (!outcome.ok && step.expectFailure === undefined) {
        stoppedBy = `the rehearsal of "${step.title}" failed on the lab (${outcome.reason ?? ''}), so its plan is unknown`;
        const r: ReplayStep = { ...base, status: 'not applied', reason: stoppedBy, details: [] };
        steps.push(r);
        o.onStep?.(r);
        continue;
      }
      const ctx = { topology, labSchemaOids: o.labSchemaOids === true, end };
      const parts = replay.planners.map((p, i) => p.plan(lab, before[i], ctx));
      const refused = parts.find((p) => p.refused)?.refused;
      const ops: PlanOp[] = refused ? [] : parts.flatMap((p) => p.ops);
      // What the step changed beyond the directory and DNS: Setup, IIS, SQL, services — the console's.
      const elsewhere =
        step.definition.writes === 'directory' ? [] : lab.journal.since(from).filter((e) => e.source !== 'runner' && e.source !== 'ad' && e.source !== 'dns' && typeof e.event.summary === 'string' && e.event.type !== 'eventlog.write');
      // The console's part: what the lab did beyond the directory and DNS, what a planner refused, and an
      // action that wrote nothing here unless it is known to be all directory work (replication, say,
      // happens among the real DCs or by the operator's repadmin).
      const consolePart = elsewhere.length > 0 || refused !== undefined || (!ops.length && step.definition.writes !== 'directory');
      const operator = [...parts.flatMap((p) => p.operator ?? []), ...(refused ? [refused] : []), ...(consolePart ? [`on the console: ${step.title}`] : [])];
      const plan: StepPlan = { ops, operator, ...(refused ? { refused } : {}) };
      const shown = { ops: ops.map(describeOp), operator, ...(refused ? { refused } : {}) };
      if (!write) {
        const r: ReplayStep = { ...base, status: ops.length ? 'planned' : operator.length ? 'operator' : 'planned', details: [...shown.ops, ...operator, ...(ops.length || operator.length ? [] : ['nothing to write on the target'])], plan: shown };
        steps.push(r);
        o.onStep?.(r);
        continue;
      }
      if (!ops.length) {
        const r: ReplayStep = { ...base, status: operator.length ? 'operator' : 'applied', details: operator.length ? operator : ['nothing to write on the target'], plan: shown };
        steps.push(r);
        o.onStep?.(r);
        continue;
      }
      const pending: ReplayStep = { ...base, status: 'not applied', details: [], plan: shown };
      if (!(await (mode as ApplyMode).confirm(pending, plan))) {
        stoppedBy = `"${step.title}" was not confirmed`;
        const r: ReplayStep = { ...pending, reason: 'not confirmed', details: ['the operator did not confirm the plan'] };
        steps.push(r);
        o.onStep?.(r);
        continue;
      }
      const results = await replay.applier.apply(ops, {
        dialer,
        topology,
        admin: { name: target.administrator.user, password: o.password },
        plainLdapPasswords: target.plainLdapPasswords,
        ...(tls ? { tls } : {}),
        ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
      });
      const failedOp = results.find((x) => x.status === 'failed');
      const applied = results.map((x) => ({ op: describeOp(x.op), status: x.status, ...(x.status === 'failed' ? { note: x.error } : x.note ? { note: x.note } : {}) }));
      const reached = new Set(results.map((x) => x.op));
      const notDone = ops.filter((x) => !reached.has(x)).map((x) => `not done: ${describeOp(x)}`);
      const r: ReplayStep = {
        ...base,
        status: failedOp ? 'not applied' : operator.length ? 'operator' : 'applied',
        details: [...applied.map((a) => `${a.status}: ${a.op}${a.note ? ` (${a.note})` : ''}`), ...notDone, ...operator],
        plan: shown,
        applied,
      };
      if (failedOp && failedOp.status === 'failed') {
        r.reason = `${describeOp(failedOp.op)}: ${failedOp.error}`;
        stoppedBy = `"${step.title}" failed on the target`;
      }
      steps.push(r);
      o.onStep?.(r);
    }
  } finally {
    await lab.close();
    await end.close();
  }
  return { ...report(scenario, target, write ? 'step-by-step' : 'end-state', steps), rehearsal };
}

