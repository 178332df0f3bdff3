/**
 * A lab: the actors of one topology in one XState system, on one simulated clock, writing one journal.
 * A lab saves to JSON and restores (`save()`, `Lab.restore()`): every actor's persisted snapshot, the
 * clock, every seeded id stream's position, the delayed events waiting on the clock, and the journal; a
 * restored lab continues exactly as the saved one would have.
 */
import { createActor, createMachine, type AnyActorRef, type AnyMachineSnapshot, type AnyActor, type EventObject } from 'xstate';
import { SimClock, type RunUntilResult } from './clock.js';
import { IdSource, type IdPosition } from './ids.js';
import { Journal, type LabEvent, type SavedJournal } from './journal.js';
import type { ComponentInstance, EmulatorDefinition, LabEnv } from './emulator.js';
import type { Topology } from './topology.js';
import { bindEnvironment } from './machine.js';

/** Sent to every component once the whole lab runs, so a component can address the others. */
export const LAB_STARTED = { type: 'lab.started' } as const;

export interface LabOptions {
  seed: string;
  clock?: SimClock;
}

/** The format of a saved lab; a snapshot of another format is refused, not guessed at. */
export const LAB_SNAPSHOT_FORMAT = 'ocslab.lab/1';

/** A delayed event waiting on the clock: who set it, for whom, when it is due. */
interface ScheduledEvent {
  source: string;
  target: string;
  event: EventObject;
  id: string;
  due: number;
}

/** A timer of the lab's owner (the runner's timed faults): saved by label, set again by whoever restores. */
interface LabTimer {
  label: string;
  due: number;
}

export interface LabSnapshot {
  format: typeof LAB_SNAPSHOT_FORMAT;
  seed: string;
  topology: Topology;
  clock: { start: number; now: number };
  ids: { root: IdPosition; streams: Record<string, IdPosition> };
  /** The root actor's persisted snapshot: every component's state and context. */
  actors: unknown;
  /** In the order they were scheduled (equal due times fire in that order). */
  scheduled: ScheduledEvent[];
  /** The owner's timers, each with its place among `scheduled` (`after`: how many of them precede it). */
  timers?: Array<LabTimer & { after: number }>;
  journal: SavedJournal;
}

const systemIdOf = (ref: AnyActorRef): string | undefined => (ref as { systemId?: string }).systemId;

/**
 * Something of a lab outside its actor system: the sockets a step opened, the clients signed in over
 * them. `holds()` says whether it holds anything right now that a snapshot cannot (a listener, a
 * connection, a client); one without `holds` always does.
 */
export interface LabResource<T> {
  value: T;
  close: () => Promise<void>;
  holds?: () => boolean;
}

/** Why a lab cannot be saved right now (said to the caller, never a crash). */
export class LabSnapshotError extends Error {}

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
  private readonly resources = new Map<string, LabResource<unknown>>();
  private readonly environments = new Map<string, LabEnv>();
  /**
   * Delayed events the actors scheduled, by the clock timer that fires each, in scheduling order (an id
   * scheduled again before it fired has two timers, and XState fires both).
   */
  private readonly scheduled = new Map<number, ScheduledEvent & { key: string }>();
  /** The owner's timers (`setTimer`), by clock timer. */
  private readonly timers = new Map<number, LabTimer>();

  constructor(
    readonly topology: Topology,
    registry: readonly EmulatorDefinition[],
    options: LabOptions,
    saved?: LabSnapshot,
    rearm?: (label: string) => (() => void) | undefined,
  ) {
    this.clock = saved ? SimClock.at(saved.clock) : (options.clock ?? new SimClock());
    this.ids = new IdSource(options.seed);
    this.journal = new Journal(this.clock);
    const env = (label: string): LabEnv => this.environment(label);
    this.components = registry.flatMap((d) => d.instances(topology, env));
    if (saved) {
      this.ids.moveTo(saved.ids.root);
      for (const [label, position] of Object.entries(saved.ids.streams)) this.environment(label).ids.moveTo(position);
      this.journal.restore(saved.journal);
    }
    // Components are created inside createActor and only started by start(): bind the environment and
    // subscribe in between, so nothing a component emits while starting is missed.
    this.root = createActor(labMachine(this.components), saved ? { clock: this.clock, snapshot: saved.actors as AnyMachineSnapshot } : { clock: this.clock });
    bindEnvironment(this.root.system, env);
    this.recordSchedule();
    for (const c of this.components) this.watch(this.actor(c.systemId));
    this.root.start();
    if (saved) {
      // XState does not keep delayed events in a persisted snapshot: set them again, in their order, with
      // the owner's timers where they stood among them.
      const timers = [...(saved.timers ?? [])];
      const owned = (upTo: number) => {
        while (timers[0] && timers[0].after <= upTo) {
          const t = timers.shift() as LabTimer & { after: number };
          const fn = rearm?.(t.label);
          if (fn) this.setTimer(t.label, t.due - this.clock.now(), fn);
        }
      };
      for (const [n, s] of saved.scheduled.entries()) {
        owned(n);
        const source = this.get(s.source);
        const target = this.get(s.target);
        if (!source || !target) {
          this.root.stop();
          throw new LabSnapshotError(`the snapshot has a delayed event from ${s.source} to ${s.target}, which this lab does not have`);
        }
        this.root.system.scheduler.schedule(source, target, s.event, Math.max(0, s.due - this.clock.now()), s.id);
      }
      owned(Number.POSITIVE_INFINITY);
      return;
    }
    // Every component now exists and runs: those that tell others something at start do it now.
    for (const c of this.components) this.send(c.systemId, LAB_STARTED);
  }

  /**
   * A lab continuing from `saved`, with the same topology, emulators and seed it was saved with.
   * `rearm(label)` gives back what each of the owner's timers (`setTimer`) is to do.
   */
  static restore(topology: Topology, registry: readonly EmulatorDefinition[], saved: LabSnapshot, rearm?: (label: string) => (() => void) | undefined): Lab {
    if (saved.format !== LAB_SNAPSHOT_FORMAT) throw new LabSnapshotError(`not an ocslab lab snapshot (format ${String(saved.format)}, expected ${LAB_SNAPSHOT_FORMAT})`);
    if (JSON.stringify(saved.topology) !== JSON.stringify(topology)) throw new LabSnapshotError('the snapshot was saved from another topology');
    return new Lab(topology, registry, { seed: saved.seed }, saved, rearm);
  }

  /** A timer of the lab's owner on the lab clock, saved by `label` with the lab; returns its id. */
  setTimer(label: string, delayMs: number, fn: () => void): number {
    const id = this.clock.setTimeout(() => {
      this.timers.delete(id);
      fn();
    }, delayMs);
    this.timers.set(id, { label, due: this.clock.now() + Math.max(0, delayMs) });
    return id;
  }

  /** The owner's timers still waiting, by id. */
  ownerTimers(): ReadonlyMap<number, LabTimer> {
    return this.timers;
  }

  clearTimer(id: number): void {
    this.timers.delete(id);
    this.clock.clearTimeout(id);
  }

  /**
   * Saves the lab as JSON-ready data. Connections on real sockets are not state that saves: a lab with
   * open wire resources (listeners, signed-in clients) refuses, naming them.
   */
  save(): LabSnapshot {
    const held = this.holding();
    if (held.length) throw new LabSnapshotError(`the lab has open connections (${held.join(', ')}); a snapshot holds no sockets`);
    for (const timer of [...this.scheduled.keys()]) if (!this.clock.has(timer)) this.scheduled.delete(timer);
    const known = new Set([...this.scheduled.values()].map((s) => s.key));
    const unknown = Object.keys(this.root.system.getSnapshot()._scheduledEvents).filter((key) => !known.has(key));
    if (unknown.length) throw new LabSnapshotError(`${unknown.length} delayed event(s) have no id or no systemId to save them by (${unknown.join(', ')})`);
    // Both maps are in clock-timer order (ids only grow), which is the order the timers fire in at a tie.
    const ordered = [...this.scheduled.entries()];
    const scheduled = ordered.map(([, { key: _key, ...s }]) => s);
    const timers = [...this.timers.entries()].map(([id, t]) => ({ ...t, after: ordered.filter(([x]) => x < id).length }));
    const streams: Record<string, IdPosition> = {};
    for (const [label, env] of this.environments) streams[label] = env.ids.position();
    return {
      format: LAB_SNAPSHOT_FORMAT,
      seed: this.ids.seed,
      topology: this.topology,
      clock: this.clock.position(),
      ids: { root: this.ids.position(), streams },
      actors: this.root.getPersistedSnapshot(),
      scheduled,
      ...(timers.length ? { timers } : {}),
      journal: this.journal.save(),
    };
  }

  /** The resources that hold what a snapshot cannot (see `LabResource.holds`), by key. */
  holding(): string[] {
    return [...this.resources.entries()].filter(([, r]) => r.holds?.() ?? true).map(([key]) => key);
  }

  /** Notes every delayed event an actor schedules (XState keeps who and what, not when it is due). */
  private recordSchedule(): void {
    const scheduler = this.root.system.scheduler;
    const schedule = scheduler.schedule.bind(scheduler);
    scheduler.schedule = (source, target, event, delay, id) => {
      const timer = this.clock.peekNextId();
      schedule(source, target, event, delay, id);
      const from = systemIdOf(source);
      const to = systemIdOf(target);
      // A fired or cancelled one is found out by its clock timer being gone (at save, or when many pile up).
      if (this.scheduled.size > 4096) for (const t of [...this.scheduled.keys()]) if (!this.clock.has(t)) this.scheduled.delete(t);
      if (id !== undefined && from && to && this.clock.has(timer)) {
        this.scheduled.set(timer, { key: `${source.sessionId}.${id}`, source: from, target: to, event, id, due: this.clock.now() + Math.max(0, delay) });
      }
    };
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
   * The lab was suspended for `ms` and resumes (`SimClock.resumeAfter`): the date moves on, every delayed
   * event and timer keeps the time it had left, and nothing fires.
   */
  resumeAfter(ms: number): void {
    const gap = Math.max(0, Math.round(ms));
    this.clock.resumeAfter(gap);
    for (const s of this.scheduled.values()) s.due += gap;
    for (const t of this.timers.values()) t.due += gap;
  }

  /**
   * Something of this lab that lives outside the actor system (the sockets a step opened, the clients
   * signed in over them): created on first use, kept by key, closed by `close()` in reverse order.
   */
  resource<T>(key: string, create: () => LabResource<T>): T {
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
