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
    return await walk(o, probes, tls);
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
async function judgeOnTarget(item: PhaseStep, probes: Probes, topology: Topology, readOnly: boolean): Promise<ReplayStep> {
  const { step } = item;
  const base = { phase: item.phase, scenario: item.scenario, index: step.index, name: step.name, kind: step.kind, title: step.title };
  if (!step.definition.probe) {
    const where = step.definition.console?.(step.params, topology);
    return { ...base, status: 'not observed', details: [where ? `no protocol reaches this on a real server; look at ${where}` : 'this check reads the lab and has no probe yet; check it on the real servers by hand'] };
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
  if (outcome.notObserved !== undefined) return { ...base, status: 'not observed', details: [outcome.notObserved, ...(outcome.details ?? [])], observation };
  const verdict = judge(step, outcome);
  const r: ReplayStep = { ...base, status: verdict.status === 'passed' ? 'passed' : 'failed', details: outcome.details ?? [], observation };
  if (verdict.reason !== undefined) r.reason = verdict.reason;
  return r;
}

/**
 * `--apply`: the scenario step by step on the target. Each action is rehearsed on a lab of its own first;
 * what it wrote there is its plan (the planners of the registry), shown and confirmed, then performed
 * on the target; each check is then judged on the target as the scenario has it, so a check of an
 * earlier state is judged when the target is in that state. What an action did that no protocol
 * performs is the operator's. The first operation that fails stops the run: the report says what was
 * done and what was not.
 */
async function walk(o: ReplayOptions, probes: Probes, tls: LdapTlsMode | undefined): Promise<ReplayReport & { rehearsal: RunReport }> {
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
    const all: PhaseStep[] = [...setupSteps(scenario), ...mainSteps(scenario)];
    let stoppedBy: string | undefined;
    const lastAction = all.map((x) => x.step.kind).lastIndexOf('action');
    for (const [i, item] of all.entries()) {
      const { step } = item;
      const base = { phase: item.phase, scenario: item.scenario, index: step.index, name: step.name, kind: step.kind, title: step.title };
      if (stoppedBy) {
        const r: ReplayStep = { ...base, status: 'skipped', details: [`not done: ${stoppedBy}`] };
        steps.push(r);
        o.onStep?.(r);
        continue;
      }
      if (step.kind === 'check') {
        // The lab walks the scenario too: some checks act there (Communicator signs in), and the actions
        // after them are rehearsed from the state they leave.
        await emulated.perform({ definition: step.definition, params: step.params });
        const later = write || i > lastAction ? undefined : all.slice(i + 1).find((x) => x.step.kind === 'action');
        const r: ReplayStep = later
          ? { ...base, status: 'superseded', details: [`describes the state before "${later.step.title}" (${later.scenario} step ${later.step.index}); a read-only replay sees the end state`] }
          : await judgeOnTarget(item, probes, topology, !write);
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

