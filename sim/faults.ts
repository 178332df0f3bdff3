/**
 * Faults: what goes wrong in a real deployment, injected through the kernel at a chosen moment. A fault
 * changes the lab's state through component commands (MSMQ removed, a DC shut down, a password expired)
 * and may turn the next matching operator step into the mistake the operator makes (the certificate
 * left named for the server). The operator sees only symptoms: what an injection itself changes is
 * journalled with a `cause` and kept out of the step report; the trace and the JSON report record the
 * injection for grading. Each emulator contributes its faults in `<c>.faults.ts`.
 */
import { parseDuration } from './clock.js';
import type { Lab } from './lab.js';
import type { RefKind } from './steps.js';
import { refChoices } from './steps.js';
import type { Topology } from './topology.js';

/** How well the real behaviour is sourced (tags of reference/ocs-facts.md). */
export type Certainty = 'verified' | 'practitioner' | 'lync-era' | 'unverified';

export interface FaultContext {
  lab: Lab;
  topology: Topology;
  /** The name the fault was aimed at (a host, pool, user, SIP domain), resolved from the topology. */
  target: string;
  /**
   * The next step called `stepName` for which `rewrite` returns parameters runs with those instead: the
   * operator's mistake. Returning undefined leaves that step alone and keeps waiting.
   */
  rewriteNext(stepName: string, rewrite: (params: Record<string, unknown>) => Record<string, unknown> | undefined): void;
}

export interface FaultOutcome {
  applied: boolean;
  /** For the trace and the grader, never shown to the operator as the explanation. */
  note: string;
}

export interface FaultDefinition {
  /** kebab-case, e.g. "msmq-not-installed". */
  id: string;
  title: string;
  /** "prerequisites", "certificates", "accounts", "directory", "dns", "users", "services", "web", "platform". */
  category: string;
  /** What the fault's target names; `lab` takes no target. */
  target: RefKind | 'lab';
  /** The target when none is given (e.g. the first front end). */
  defaultTarget(topology: Topology): string | undefined;
  /** Where and when it makes sense to inject it, for `ocslab faults`. */
  where: string;
  /** What an operator sees: service states, event log entries (log/source/ID), wizard and client messages. */
  symptoms: string[];
  /** The real fix. */
  fix: string;
  certainty: Certainty;
  /** Where the behaviour is unverified: the choice made and why. */
  note?: string;
  inject(ctx: FaultContext): FaultOutcome;
}

export type FaultWhen = { at: 'start' } | { step: number } | { afterMs: number };

/** A fault chosen for a run: from a scenario's `faults:` or the command line. */
export interface FaultPlan {
  definition: FaultDefinition;
  target: string;
  when: FaultWhen;
  /** Which scenario's steps `when.step` counts (the scenario itself, or a base in its `from` chain). */
  scenario: string;
  /** "scenarios/x.yaml:12:5" or "--fault x@3". */
  origin: string;
}

export interface FaultRecord {
  id: string;
  target: string;
  origin: string;
  /** "start", "before step 11 (ocs.startServices) of seed-part3", "at 15 min". */
  injectedAt: string;
  /** Simulated milliseconds since the lab started. */
  t: number;
  applied: boolean;
  note: string;
}

export const FAULT_ID = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/** `ID[:target][@when]`, when = `start` | a step number | a step name or id | a duration (`15m`). */
export interface FaultArgument {
  id: string;
  target?: string;
  when: { at: 'start' } | { stepRef: string | number } | { afterMs: number };
}

export function parseFaultArgument(text: string): FaultArgument | { error: string } {
  const m = /^([^:@\s]+)(?::([^@\s]+))?(?:@(\S+))?$/.exec(text.trim());
  if (!m) return { error: `"${text}" is not ID[:target][@when] (when: start, a step number, a step name, or a time such as 15m)` };
  const [, id = '', target, whenText] = m;
  const arg: FaultArgument = { id, when: { at: 'start' } };
  if (target !== undefined) arg.target = target;
  if (whenText === undefined || whenText === 'start') return arg;
  if (/^\d+$/.test(whenText)) return { ...arg, when: { stepRef: Number(whenText) } };
  if (/^\d+(\.\d+)?(ms|s|m|h|d)$/.test(whenText)) {
    const ms = parseDuration(whenText);
    if (ms === undefined) return { error: `"${whenText}" is not a duration` };
    return { ...arg, when: { afterMs: ms } };
  }
  return { ...arg, when: { stepRef: whenText } };
}

/** The valid targets of a fault in a topology; an empty list for faults that take none. */
export function faultTargets(def: FaultDefinition, topology: Topology): string[] {
  return def.target === 'lab' ? [] : refChoices(def.target, topology);
}

/** Resolves a target name (case-insensitive) against the topology, or says what is valid. */
export function resolveFaultTarget(def: FaultDefinition, topology: Topology, given: string | undefined): { target: string } | { error: string } {
  if (def.target === 'lab') return given === undefined ? { target: '' } : { error: `fault ${def.id} takes no target` };
  const choices = faultTargets(def, topology);
  const name = given ?? def.defaultTarget(topology);
  if (name === undefined) return { error: `fault ${def.id} needs a target: one of ${choices.join(', ') || '(none in this topology)'}` };
  const match = choices.find((c) => c.toLowerCase() === name.toLowerCase());
  return match ? { target: match } : { error: `no ${def.target} "${name}" in the topology for fault ${def.id}; valid: ${choices.join(', ') || '(none)'}` };
}

/** One-shot step rewrites registered by injected faults, consumed by the runner before each step. */
export class PendingRewrites {
  private readonly pending: Array<{ faultId: string; stepName: string; rewrite: (p: Record<string, unknown>) => Record<string, unknown> | undefined }> = [];

  add(faultId: string, stepName: string, rewrite: (p: Record<string, unknown>) => Record<string, unknown> | undefined): void {
    this.pending.push({ faultId, stepName, rewrite });
  }

  /** The parameters a step runs with, and which faults changed them. */
  apply(stepName: string, params: Record<string, unknown>): { params: Record<string, unknown>; by: string[] } {
    let current = params;
    const by: string[] = [];
    for (let i = 0; i < this.pending.length; ) {
      const r = this.pending[i];
      if (r && r.stepName === stepName) {
        const next = r.rewrite(current);
        if (next) {
          current = next;
          by.push(r.faultId);
          this.pending.splice(i, 1);
          continue;
        }
      }
      i++;
    }
    return { params: current, by };
  }
}

/** Injects one fault into a lab; what it changes is journalled with its cause and kept from the operator. */
/**
 * Injects a fault now. `current` gives the lab a later rewrite acts on (the runner's lab, which a restart
 * from a snapshot replaces); by default the lab it was injected into.
 */
export function injectFault(lab: Lab, topology: Topology, plan: FaultPlan, rewrites: PendingRewrites, injectedAt: string, current: () => Lab = () => lab): FaultRecord {
  const t = lab.clock.elapsed();
  const outcome = lab.journal.withCause(`fault:${plan.definition.id}`, () =>
    plan.definition.inject({
      get lab() {
        return current();
      },
      topology,
      target: plan.target,
      rewriteNext: (stepName, rewrite) => rewrites.add(plan.definition.id, stepName, rewrite),
    }),
  );
  const record: FaultRecord = { id: plan.definition.id, target: plan.target, origin: plan.origin, injectedAt, t, applied: outcome.applied, note: outcome.note };
  lab.journal.withCause(`fault:${plan.definition.id}`, () =>
    lab.record('faults', { type: 'fault.injected', fault: record.id, target: record.target, origin: record.origin, injectedAt, applied: record.applied, note: record.note }),
  );
  return record;
}

/** The first front end of the topology: the usual target of front-end faults. */
export const firstFrontEnd = (t: Topology): string | undefined => t.hosts.find((h) => h.roles.includes('ocsFrontEnd'))?.name;
export const firstPool = (t: Topology): string | undefined => t.pools[0]?.name;
export const firstUser = (t: Topology): string | undefined => t.users[0]?.sam;
export const firstSipDomain = (t: Topology): string | undefined => t.sipDomains[0];
export const hostWithRole = (role: Topology['hosts'][number]['roles'][number]) => (t: Topology): string | undefined => t.hosts.find((h) => h.roles.includes(role))?.name;
