/**
 * A lab: the actors of one topology in one XState system, on one simulated clock, writing one journal.
 */
import { createActor, createMachine, type AnyActorRef, type AnyMachineSnapshot, type AnyActor } from 'xstate';
import { SimClock, type RunUntilResult } from './clock.js';
import { IdSource } from './ids.js';
import { Journal, type LabEvent } from './journal.js';
import type { ComponentInstance, EmulatorDefinition, LabEnv } from './emulator.js';
import type { Topology } from './topology.js';
import { bindEnvironment } from './machine.js';

/** Sent to every component once the whole lab runs, so a component can address the others. */
export const LAB_STARTED = { type: 'lab.started' } as const;

export interface LabOptions {
  seed: string;
  clock?: SimClock;
}

/** The root of a lab's actor system: it only invokes the components, each under its systemId. */
function labMachine(components: readonly ComponentInstance[]) {
  return createMachine({
    id: 'lab',
    invoke: components.map((c) => ({ id: c.systemId, systemId: c.systemId, src: c.logic, input: c.input })),
  });
}

export class Lab {
  readonly clock: SimClock;
  readonly ids: IdSource;
  readonly journal: Journal;
  readonly components: readonly ComponentInstance[];
  private readonly root: AnyActor;
  private readonly unsubscribe: Array<() => void> = [];
  private readonly resources = new Map<string, { value: unknown; close: () => Promise<void> }>();
  private readonly environments = new Map<string, LabEnv>();

  constructor(readonly topology: Topology, registry: readonly EmulatorDefinition[], options: LabOptions) {
    this.clock = options.clock ?? new SimClock();
    this.ids = new IdSource(options.seed);
    this.journal = new Journal(this.clock);
    const env = (label: string): LabEnv => this.environment(label);
    this.components = registry.flatMap((d) => d.instances(topology, env));
    // Components are created inside createActor and only started by start(): bind the environment and
    // subscribe in between, so nothing a component emits while starting is missed.
    this.root = createActor(labMachine(this.components), { clock: this.clock });
    bindEnvironment(this.root.system, env);
    for (const c of this.components) this.watch(this.actor(c.systemId));
    this.root.start();
    // Every component now exists and runs: those that tell others something at start do it now.
    for (const c of this.components) this.send(c.systemId, LAB_STARTED);
  }

  /** One environment per component label: the lab's clock and the label's own seeded id stream. */
  private environment(label: string): LabEnv {
    let env = this.environments.get(label);
    if (!env) {
      env = { now: () => this.clock.now(), ids: this.ids.fork(label) };
      this.environments.set(label, env);
    }
    return env;
  }

  /** Journals what a component emits (replies are answers to a caller, not events). */
  private watch(ref: AnyActorRef): void {
    const source = ref.id;
    const sub = ref.on('*', (emitted: unknown) => {
      const event = emitted as LabEvent;
      if (event.type.endsWith('.reply')) return;
      this.journal.record(source, event);
    });
    this.unsubscribe.push(() => sub.unsubscribe());
  }

  get(systemId: string): AnyActorRef | undefined {
    return this.root.system.get(systemId);
  }

  actor(systemId: string): AnyActorRef {
    const ref = this.get(systemId);
    if (!ref) throw new Error(`lab has no actor "${systemId}"; actors: ${this.components.map((c) => c.systemId).join(', ')}`);
    return ref;
  }

  snapshot(systemId: string): AnyMachineSnapshot {
    return this.actor(systemId).getSnapshot() as AnyMachineSnapshot;
  }

  send(systemId: string, event: { type: string; [k: string]: unknown }): void {
    this.actor(systemId).send(event);
  }

  /** Records an event of the lab's own (runner, faults) in the journal. */
  record(source: string, event: LabEvent): void {
    this.journal.record(source, event);
  }

  /** Lets simulated time run until `predicate` holds or `limitMs` pass. */
  waitFor(predicate: () => boolean, limitMs: number): RunUntilResult {
    return this.clock.runUntil(predicate, limitMs);
  }

  advance(ms: number): void {
    this.clock.advance(ms);
  }

  /**
   * Something of this lab that lives outside the actor system (the sockets a step opened, the clients
   * signed in over them): created on first use, kept by key, closed by `close()` in reverse order.
   */
  resource<T>(key: string, create: () => { value: T; close: () => Promise<void> }): T {
    const existing = this.resources.get(key);
    if (existing) return existing.value as T;
    const made = create();
    this.resources.set(key, made);
    return made.value;
  }

  /** Closes the lab's resources (newest first), then stops the actors. */
  async close(): Promise<void> {
    const all = [...this.resources.values()].reverse();
    this.resources.clear();
    for (const r of all) await r.close().catch(() => undefined);
    this.stop();
  }

  stop(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    this.root.stop();
  }
}
