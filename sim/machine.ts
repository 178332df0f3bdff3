/**
 * What every emulator machine is built from besides its own behaviour (docs/decisions/0011-pure-transitions.md):
 *
 * - **Kernel actions.** Resolvers (`enqueueActions`) never call XState's action creators at run time:
 *   they enqueue these named, parameterised actions instead (`lab.assign`, `lab.emit`, `lab.cancel`,
 *   `lab.tell` to another component by systemId, and the execution action `lab.schedule`). So computing a
 *   transition does nothing but compute it, and a component that another component's execution action
 *   calls synchronously builds its actions exactly as it would on its own.
 * - **The lab environment through the actor system.** A machine's context is plain data (it is what a lab
 *   snapshot saves); the time and the component's seeded ids come from the lab the actor system belongs
 *   to, `environmentOf({ system, self })`, bound once by the lab before anything starts.
 */
import { assign, cancel, emit, sendTo, type ActionArgs, type AnyActorRef, type EventObject, type MachineContext } from 'xstate';
import type { LabEnv } from './emulator.js';

/** The part of an actor system a component reads: other components by systemId. */
export interface SystemLike {
  get(systemId: string): AnyActorRef | undefined;
}

const environments = new WeakMap<object, (label: string) => LabEnv>();

/** Binds the lab's environment to its actor system; `envOf(label)` gives each component its own. */
export function bindEnvironment(system: object, envOf: (label: string) => LabEnv): void {
  environments.set(system, envOf);
}

interface Tell {
  to: string;
  event: EventObject;
}

/** A delayed event to self on the lab clock, with an id to cancel it by. */
export interface Scheduled<E extends EventObject = EventObject> {
  event: E;
  delay: number;
  id: string;
}

/**
 * The kernel actions, typed for one machine. Spread into `setup({ actions })`; resolvers reach them
 * through `kernel(enqueue)`.
 */
export function kernelActions<TContext extends MachineContext, TEvent extends EventObject, TEmitted extends EventObject>() {
  return {
    'lab.assign': assign<TContext, TEvent, Partial<TContext>, TEvent, never>((_, patch) => patch),
    'lab.emit': emit<TContext, TEvent, TEmitted, TEvent, TEmitted>((_, event) => event),
    'lab.schedule': ({ self, system }: ActionArgs<TContext, TEvent, TEvent>, s: Scheduled<TEvent>) => system.scheduler.schedule(self, self, s.event, s.delay, s.id),
    'lab.cancel': cancel<TContext, TEvent, { id: string }, TEvent>((_, params) => params.id),
    // sendTo, so the event goes out in the order of the emits around it (XState defers both to the end
    // of the macrostep). A component that is not in this lab is not told: sendTo then targets self, and
    // no machine handles another component's notification addressed to itself.
    'lab.tell': sendTo<TContext, TEvent, Tell, AnyActorRef, TEvent, never, never>(
      ({ system }, params) => (system as SystemLike).get(params.to) as AnyActorRef,
      (_: unknown, params: Tell) => params.event,
    ),
  };
}

/** What a resolver may ask for; each becomes one kernel action, in order. */
export interface Kernel<TContext, TEvent extends EventObject, TEmitted extends EventObject> {
  assign(patch: Partial<TContext>): void;
  emit(event: TEmitted): void;
  /** An event to self after `delay` ms of lab time; `cancel(id)` takes it back. */
  schedule(event: TEvent, delay: number, id: string): void;
  cancel(id: string): void;
  /** Delivers `event` to the component `to` (a systemId), now, in the order of the other actions. */
  tell<E extends EventObject>(to: string, event: E): void;
}

type Enqueue = (action: { type: string; params: unknown }) => void;

/** The kernel actions behind a resolver's `enqueue`. */
export function kernel<TContext, TEvent extends EventObject, TEmitted extends EventObject>(enqueue: unknown): Kernel<TContext, TEvent, TEmitted> {
  const put = enqueue as Enqueue;
  return {
    assign: (patch) => put({ type: 'lab.assign', params: patch }),
    emit: (event) => put({ type: 'lab.emit', params: event }),
    schedule: (event, delay, id) => put({ type: 'lab.schedule', params: { event, delay, id } }),
    cancel: (id) => put({ type: 'lab.cancel', params: { id } }),
    tell: (to, event) => put({ type: 'lab.tell', params: { to, event } }),
  };
}

/** The time and seeded ids of the component an action runs in (its systemId is its label in the lab). */
export function environmentOf({ system, self }: { system: object; self: { systemId?: string | undefined; id: string } }): LabEnv {
  const label = self.systemId ?? self.id;
  const envOf = environments.get(system);
  if (!envOf) throw new Error(`no lab environment is bound to this actor system (component ${label}); start components through a Lab or bindEnvironment()`);
  return envOf(label);
}
