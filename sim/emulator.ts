/**
 * The contract between the kernel and an emulator. The kernel knows emulators only through these types;
 * the registry that lists the real ones lives in `emulators/index.ts`.
 *
 * Conventions every emulator follows (see docs/decisions/0002-actors-commands-and-replies.md):
 * - Commands are typed, dot-namespaced events sent to the component's actor (`ad.add`, `ca.submitRequest`).
 * - A command that expects an answer carries a `requestId`; the machine answers synchronously by emitting
 *   `{ type: '<component>.reply', requestId, result }`. `request()` below turns that into a function call.
 * - Reads that change nothing look at the actor's snapshot through pure selectors in `<c>.store.ts`.
 * - Everything else the machine emits (state changes, `eventlog.write`) goes to the journal.
 * - Machines find each other through the actor system by systemId (`system.get('ad')`), never by import.
 */
import type { AnyActorRef, AnyStateMachine } from 'xstate';
import type { IdSource } from './ids.js';
import type { Result } from './result.js';
import type { Topology } from './topology.js';

/** What every machine gets in its input as `env`: the time (read-only) and its own seeded id stream. */
export interface LabEnv {
  now(): number;
  ids: IdSource;
}

/** One actor of a lab: which logic, under which systemId, with which input. */
export interface ComponentInstance {
  /** "ad", "ca", "dns", "sql:sql01", "host:ocsfe01", "iis:ocsfe01", "ocs", "hlb" ... */
  systemId: string;
  logic: AnyStateMachine;
  input: unknown;
}

export interface EmulatorDefinition {
  /** "host", "ad", "ca" ... */
  kind: string;
  /** The actors this emulator contributes for a topology. `env(label)` gives each its own id stream. */
  instances(topology: Topology, env: (label: string) => LabEnv): ComponentInstance[];
}

export interface ReplyEvent<T = unknown> {
  type: `${string}.reply`;
  requestId: string;
  result: Result<T>;
}

const counters = new WeakMap<object, number>();

/** A request id unique within one actor system (so equal runs give equal ids). */
export function nextRequestId(scope: object): string {
  const n = (counters.get(scope) ?? 0) + 1;
  counters.set(scope, n);
  return `r${n}`;
}

/**
 * Sends `command` to `ref` and returns the result the machine emitted in its reply. Machines answer
 * synchronously, so the reply has arrived when `send` returns; a missing reply is a bug, and throws.
 */
export function request<T>(ref: AnyActorRef | undefined, replyType: `${string}.reply`, command: { type: string; requestId?: string; [k: string]: unknown }): Result<T> {
  if (!ref) throw new Error(`request(${command.type}): no such actor in this lab`);
  const requestId = command.requestId ?? nextRequestId(ref.system ?? ref);
  let reply: ReplyEvent<T> | undefined;
  const sub = ref.on(replyType, (e: unknown) => {
    const r = e as ReplyEvent<T>;
    if (r.requestId === requestId) reply = r;
  });
  try {
    ref.send({ ...command, requestId });
  } finally {
    sub.unsubscribe();
  }
  if (!reply) throw new Error(`request(${command.type}): ${ref.id} did not reply with ${replyType}`);
  return reply.result;
}
