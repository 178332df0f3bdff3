/**
 * The step vocabulary's contract. A step is an operator action (run a wizard, bind a certificate, enable
 * a user) or a check (a service state, an event log entry, an LDAP attribute, a DNS answer). Each
 * emulator contributes its steps in `<c>.steps.ts`; scenarios name them; the runner runs them through a
 * target. `emulated` is how the embedded lab performs the step; a real target will perform the same step
 * against real endpoints.
 */
import type { z } from 'zod';
import type { Lab } from './lab.js';
import type { Probes } from './probes.js';
import type { Topology } from './topology.js';

/** What a step parameter may name in the topology; the runner checks it before anything runs. */
export type RefKind = 'host' | 'frontEnd' | 'pool' | 'user' | 'sipDomain';

export interface StepContext {
  lab: Lab;
  topology: Topology;
  /** The target's probes: on the embedded lab they go through the lab network to the adapters. */
  probes: Probes;
}

/**
 * A check that observes over protocols (decision 0016): `observe` asks through the probes and returns a
 * JSON observation; `judge` compares it with what the scenario expects, purely. The same two halves run
 * on the emulated target and on a real one, and the parity report puts both observations side by side.
 */
export interface CheckProbe<P = Record<string, unknown>, O = unknown> {
  observe(probes: Probes, params: P, topology: Topology): Promise<O>;
  judge(observation: O, params: P, topology: Topology): StepOutcome;
}

export interface StepOutcome {
  ok: boolean;
  /** Why it failed, in the words the operator would see (wizard error, check mismatch). */
  reason?: string;
  /** Evidence: what the check saw, what the wizard log said. */
  details?: string[];
  /** A probed check's observation, as `observe` returned it. */
  observation?: unknown;
  /**
   * The probe could not ask this of the target (a Kerberos request without a KDC ticket on a real
   * target): a replay reports *not observed* with this reason, never passed or failed.
   */
  notObserved?: string;
}

export interface StepDefinition<P = Record<string, unknown>> {
  /** "ocs.addServerToPool", "host.serviceState" ... */
  name: `${string}.${string}`;
  kind: 'action' | 'check';
  /** One line for `ocslab steps` and for error messages. */
  summary: string;
  /** A strict object schema of the step's parameters. */
  params: z.ZodType<P>;
  /** Parameters that name things in the topology (a string or a list of strings). */
  refs?: Partial<Record<string, RefKind>>;
  /** The line the report shows for this step, e.g. "Add ocsfe01 to pool pool01". */
  title(params: P, topology: Topology): string;
  /**
   * Performs the step on the embedded lab. Simulated time moves only through `lab.waitFor`. A step that
   * talks to the lab over real sockets (Communicator) returns a promise; the runner awaits each step
   * before the next, so the journal's order stays deterministic.
   */
  emulated(ctx: StepContext, params: P): StepOutcome | Promise<StepOutcome>;
  /**
   * For an action: what it does on a real deployment is all in what it writes to Active Directory and DNS,
   * so a replay performs it entirely over LDAP (LCSCmd's preparation, ADUC's users). Without it, an
   * action that changed anything else on the lab (Setup, IIS, SQL, services) also needs the operator.
   */
  writes?: 'directory';
  /**
   * For a check: what asking leaves behind on a real server, when it does (a bind with a wrong password
   * counts a bad password and can lock the account). A read-only replay does not ask then.
   */
  leavesTrace?(params: P): string | undefined;
  /**
   * A step the lab's client machines perform against the servers (Communicator: sign in, IM, presence,
   * the address book). A replay performs it with the same client against the target's addresses, so its
   * outcome is the target's; `writes` marks one that changes what the servers store (publishing presence,
   * adding a contact), which a read-only replay only plans.
   */
  client?: 'reads' | 'writes';
  /**
   * A server check of what the clients store there (contacts on the back end). Like a client check, after
   * a client write that a read-only replay only planned, a failure on the target is not the target's
   * answer to the scenario (the write was never made), so it is reported not observed.
   */
  observesClientWrites?: boolean;
  /** A check's protocol half; a check with one is performed as `judge(observe(probes))` on every target. */
  probe?: CheckProbe<P, unknown>;
  /**
   * For a check no protocol reaches on a real server (service state, event log, features): where an
   * operator looks, in the product's words ("Services (services.msc) on ocsfe01: RtcSrv"). A real
   * target shows it and reports the check as not observed.
   */
  console?(params: P, topology: Topology): string;
}

/** A check that observes through the probes and judges the observation: `emulated` is the two halves. */
export function defineCheck<S extends z.ZodType, O>(
  def: Omit<StepDefinition<z.output<S>>, 'emulated' | 'probe' | 'kind'> & { params: S; probe: CheckProbe<z.output<S>, O> },
): StepDefinition {
  const full: StepDefinition<z.output<S>> = {
    ...def,
    kind: 'check',
    probe: def.probe as CheckProbe<z.output<S>, unknown>,
    emulated: async (ctx, p) => {
      const observation = await def.probe.observe(ctx.probes, p, ctx.topology);
      return { ...def.probe.judge(observation, p, ctx.topology), observation };
    },
  };
  return full as unknown as StepDefinition;
}

/** Keeps the parameter type of a step definition while erasing it for the registry. */
export function defineStep<S extends z.ZodType>(def: StepDefinition<z.output<S>> & { params: S }): StepDefinition {
  return def as unknown as StepDefinition;
}

export const passed = (details?: string[]): StepOutcome => (details ? { ok: true, details } : { ok: true });
export const failed = (reason: string, details?: string[]): StepOutcome => (details ? { ok: false, reason, details } : { ok: false, reason });

/** Names a topology reference kind accepts, for validation messages ("valid: ocsuser1, ocsuser2"). */
export function refChoices(kind: RefKind, t: Topology): string[] {
  switch (kind) {
    case 'host':
      return t.hosts.map((h) => h.name);
    case 'frontEnd':
      return t.hosts.filter((h) => h.roles.includes('ocsFrontEnd')).map((h) => h.name);
    case 'pool':
      return t.pools.map((p) => p.name);
    case 'user':
      return t.users.map((u) => u.sam);
    case 'sipDomain':
      return t.sipDomains;
  }
}
