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
import { createInterface } from 'node:readline';
import type { Registry, PhaseStep } from './runner.js';
import { judge, setupSteps } from './runner.js';
import type { Scenario } from './scenario.js';
import type { StepOutcome } from './steps.js';
import type { TargetConfig } from './target-file.js';
import { WireProbes, type Dialer } from './probes.wire.js';
import type { Probes } from './probes.js';
import { isUnreachable, unreachableText } from './probes.js';
import type { Topology } from './topology.js';

export type ReplayStatus = 'passed' | 'failed' | 'not observed' | 'superseded' | 'operator';

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
}

export interface ReplayReport {
  scenario: { id: string; title: string; from: string[] };
  target: string;
  mode: 'end-state';
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

export interface ReplayOptions {
  scenario: Scenario;
  registry: Registry;
  target: TargetConfig;
  password: string;
  /** Wall-clock limit of one probe exchange. */
  timeoutMs?: number;
  onStep?: (step: ReplayStep) => void;
}

export async function replayScenario(o: ReplayOptions): Promise<ReplayReport> {
  const { scenario, target } = o;
  const topology = scenario.topology;
  const probes: Probes = new WireProbes({ target: target.name, topology, dialer: targetDialer(target, topology), admin: { name: target.administrator.user, password: o.password }, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) });
  // Wrong credentials stop the run before anything is asked (an unreachable DC does not: its checks fail).
  const bind = await probes.ldapBind({ name: target.administrator.user, password: o.password });
  if (!isUnreachable(bind) && !bind.ok) throw new ReplayInputError(`${target.file}: the directory refused ${target.administrator.user}: LDAP error ${bind.code}: ${bind.message}`);
  const all: PhaseStep[] = [
    ...setupSteps(scenario),
    ...scenario.steps.map((step) => ({ phase: 'steps' as const, scenario: scenario.id, step })),
    ...scenario.expect.map((step) => ({ phase: 'expect' as const, scenario: scenario.id, step })),
  ];
  const lastAction = all.map((x) => x.step.kind).lastIndexOf('action');
  const steps: ReplayStep[] = [];
  for (const [i, item] of all.entries()) {
    const { step } = item;
    const base = { phase: item.phase, scenario: item.scenario, index: step.index, name: step.name, kind: step.kind, title: step.title };
    let r: ReplayStep;
    if (step.kind === 'action') {
      r = { ...base, status: 'operator', details: [`performed by the operator on the real servers: ${step.title}`] };
    } else if (i < lastAction) {
      const later = all.slice(i + 1).find((x) => x.step.kind === 'action');
      r = { ...base, status: 'superseded', details: [`describes the state before "${later?.step.title ?? ''}" (${later?.scenario ?? ''} step ${later?.step.index ?? ''}); a read-only replay sees the end state`] };
    } else if (!step.definition.probe) {
      const where = step.definition.console?.(step.params, topology);
      r = { ...base, status: 'not observed', details: [where ? `no protocol reaches this on a real server; look at ${where}` : 'no protocol reaches this on a real server'] };
    } else {
      const observation = await step.definition.probe.observe(probes, step.params, topology);
      const outcome: StepOutcome = step.definition.probe.judge(observation, step.params, topology);
      const verdict = judge(step, outcome);
      r = { ...base, status: verdict.status === 'passed' ? 'passed' : 'failed', details: outcome.details ?? [], observation };
      if (verdict.reason !== undefined) r.reason = verdict.reason;
    }
    steps.push(r);
    o.onStep?.(r);
  }
  const totals: Record<ReplayStatus, number> = { passed: 0, failed: 0, 'not observed': 0, superseded: 0, operator: 0 };
  for (const s of steps) totals[s.status]++;
  const status = totals.failed ? 'failed' : totals['not observed'] ? 'incomplete' : 'passed';
  return { scenario: { id: scenario.id, title: scenario.title, from: scenario.from.map((s) => s.id) }, target: target.name, mode: 'end-state', status, totals, steps };
}

