/**
 * A stand-in for the host emulator in machine tests of sql, dns and hlb: a machine whose
 * `context.services` a test changes with `fakeHost.setService`, telling each service's owner its state
 * the way the real host does (`host.serviceStateReported` at start, `host.serviceStateChanged` with
 * `notify` on a change).
 */
import { enqueueActions, setup } from 'xstate';
import type { EmulatorDefinition } from '../../sim/emulator.js';
import { kernel, kernelActions } from '../../sim/machine.js';
import { hostId, type ServiceState, type ServiceStateChanged, type ServiceStatus } from '../host/host.events.js';

interface FakeHostContext {
  host: string;
  services: ServiceStatus[];
}

type FakeHostEvent = { type: 'fakeHost.setService'; name: string; state: ServiceState } | { type: 'lab.started' };

const fakeHostMachine = setup({
  types: {
    context: {} as FakeHostContext,
    input: {} as FakeHostContext,
    events: {} as FakeHostEvent,
    emitted: {} as ServiceStateChanged,
  },
  actions: kernelActions<FakeHostContext, FakeHostEvent, ServiceStateChanged>(),
}).createMachine({
  id: 'fakeHost',
  context: ({ input }) => input,
  on: {
    'lab.started': {
      actions: enqueueActions(({ context, enqueue: put }) => {
        const enqueue = kernel<FakeHostContext, FakeHostEvent, ServiceStateChanged>(put);
        for (const s of context.services) if (s.owner) enqueue.tell(s.owner, { type: 'host.serviceStateReported', host: context.host, service: s.name, state: s.state });
      }),
    },
    'fakeHost.setService': {
      actions: enqueueActions(({ context, event, enqueue: put }) => {
        const enqueue = kernel<FakeHostContext, FakeHostEvent, ServiceStateChanged>(put);
        const before = context.services.find((s) => s.name === event.name);
        if (!before || before.state === event.state) return;
        enqueue.assign({ services: context.services.map((s) => (s.name === event.name ? { ...s, state: event.state } : s)) });
        const changed: ServiceStateChanged = {
          type: 'host.serviceStateChanged',
          host: context.host,
          service: before.name,
          displayName: before.displayName,
          from: before.state,
          to: event.state,
          summary: `${before.displayName} on ${context.host}: ${before.state} -> ${event.state}`,
          ...(before.owner ? { notify: [before.owner] } : {}),
        };
        enqueue.emit(changed);
        if (before.owner) enqueue.tell(before.owner, changed);
      }),
    },
  },
});

export interface FakeService {
  name: string;
  state: ServiceState;
  owner?: string;
  displayName?: string;
}

export function fakeHostEmulator(host: string, services: FakeService[]): EmulatorDefinition {
  const statuses: ServiceStatus[] = services.map((s) => ({
    name: s.name,
    displayName: s.displayName ?? s.name,
    startupType: 'Automatic',
    logOnAs: 'LocalSystem',
    dependsOn: [],
    startMs: 1000,
    state: s.state,
    ...(s.owner ? { owner: s.owner } : {}),
  }));
  return { kind: 'fakeHost', instances: () => [{ systemId: hostId(host), logic: fakeHostMachine, input: { host, services: statuses } }] };
}

export const setFakeService = (name: string, state: ServiceState) => ({ type: 'fakeHost.setService', name, state });
