/**
 * A tiny registry for kernel and CLI tests: one "Toy" Windows service per front-end server, which takes
 * 30 simulated seconds to start, can be broken on purpose (then SCM logs 7000), and a step that throws
 * (a bug in the lab) to exercise the runner's error path.
 */
import { assign, emit, setup } from 'xstate';
import { z } from 'zod';
import { request, type EmulatorDefinition, type LabEnv } from '../../sim/emulator.js';
import type { WindowsEventInput } from '../../sim/journal.js';
import { fail, ok, type Result } from '../../sim/result.js';
import { defineStep, failed, passed, type StepDefinition } from '../../sim/steps.js';
import { coreSteps } from '../../sim/core.steps.js';
import type { Registry } from '../../sim/runner.js';
import { firstFrontEnd, type FaultDefinition } from '../../sim/faults.js';

type ToyState = 'Stopped' | 'Start Pending' | 'Running';

interface ToyContext {
  host: string;
  broken: boolean;
  env: LabEnv;
}

type ToyCommand = { type: 'toy.start'; requestId: string } | { type: 'toy.break'; requestId: string };

type ToyEmitted =
  | { type: 'toy.reply'; requestId: string; result: Result<undefined> }
  | { type: 'toy.stateChanged'; host: string; state: ToyState; summary: string }
  | { type: 'eventlog.write'; entry: WindowsEventInput };

const scmEntry = (host: string, eventId: number, level: 'Information' | 'Error', message: string): ToyEmitted => ({
  type: 'eventlog.write',
  entry: { host, log: 'System', source: 'Service Control Manager', eventId, level, message },
});

export const toyMachine = setup({
  types: {
    context: {} as ToyContext,
    input: {} as { host: string; env: LabEnv },
    events: {} as ToyCommand,
    emitted: {} as ToyEmitted,
  },
  guards: { isBroken: ({ context }) => context.broken },
}).createMachine({
  id: 'toy',
  context: ({ input }) => ({ host: input.host, broken: false, env: input.env }),
  initial: 'stopped',
  on: {
    'toy.break': {
      actions: [
        assign({ broken: true }),
        emit(({ event }) => ({ type: 'toy.reply' as const, requestId: event.requestId, result: ok(undefined) })),
      ],
    },
  },
  states: {
    stopped: {
      on: {
        'toy.start': [
          {
            guard: 'isBroken',
            actions: [
              emit(({ context }) => scmEntry(context.host, 7000, 'Error', 'The Toy service failed to start due to the following error: The system cannot find the file specified.')),
              emit(({ event }) => ({ type: 'toy.reply' as const, requestId: event.requestId, result: fail({ kind: 'toy.startFailed', message: 'Windows could not start the Toy service: the system cannot find the file specified' }) })),
            ],
          },
          {
            target: 'starting',
            actions: [
              emit(({ context }) => ({ type: 'toy.stateChanged' as const, host: context.host, state: 'Start Pending' as const, summary: `Toy on ${context.host}: Start Pending` })),
              emit(({ event }) => ({ type: 'toy.reply' as const, requestId: event.requestId, result: ok(undefined) })),
            ],
          },
        ],
      },
    },
    starting: {
      after: {
        30000: {
          target: 'running',
          actions: [
            emit(({ context }) => ({ type: 'toy.stateChanged' as const, host: context.host, state: 'Running' as const, summary: `Toy on ${context.host}: Running` })),
            emit(({ context }) => scmEntry(context.host, 7036, 'Information', 'The Toy service entered the running state.')),
          ],
        },
      },
    },
    running: {
      on: { 'toy.start': { actions: emit(({ event }) => ({ type: 'toy.reply' as const, requestId: event.requestId, result: ok(undefined) })) } },
    },
  },
});

const STATES: Record<string, ToyState> = { stopped: 'Stopped', starting: 'Start Pending', running: 'Running' };

export const toyEmulator: EmulatorDefinition = {
  kind: 'toy',
  instances: (topology, env) =>
    topology.hosts.filter((h) => h.roles.includes('ocsFrontEnd')).map((h) => ({ systemId: `toy:${h.name}`, logic: toyMachine, input: { host: h.name, env: env(`toy:${h.name}`) } })),
};

const server = z.string();

export const toyStart = defineStep({
  name: 'toy.startService',
  kind: 'action',
  summary: 'Start the Toy service and wait for it to run',
  params: z.strictObject({ server, timeout: z.number().int().positive().default(120000) }),
  refs: { server: 'frontEnd' },
  title: (p) => `Start Toy on ${p.server}`,
  emulated: ({ lab }, p) => {
    const systemId = `toy:${p.server}`;
    const r = request<undefined>(lab.get(systemId), 'toy.reply', { type: 'toy.start' });
    if (!r.ok) return failed(r.failure.message);
    const waited = lab.waitFor(() => lab.snapshot(systemId).value === 'running', p.timeout);
    return waited.satisfied ? passed() : failed(`Toy on ${p.server} did not reach Running within ${p.timeout} ms`);
  },
});

export const toyBreak = defineStep({
  name: 'toy.breakService',
  kind: 'action',
  summary: 'Delete the Toy service binary so the next start fails',
  params: z.strictObject({ server }),
  refs: { server: 'frontEnd' },
  title: (p) => `Break Toy on ${p.server}`,
  emulated: ({ lab }, p) => {
    const r = request<undefined>(lab.get(`toy:${p.server}`), 'toy.reply', { type: 'toy.break' });
    return r.ok ? passed() : failed(r.failure.message);
  },
});

export const toyState = defineStep({
  name: 'toy.serviceState',
  kind: 'check',
  summary: 'The Toy service is in this state',
  params: z.strictObject({ server, state: z.enum(['Stopped', 'Start Pending', 'Running']) }),
  refs: { server: 'frontEnd' },
  title: (p) => `Toy on ${p.server} is ${p.state}`,
  emulated: ({ lab }, p) => {
    const found = STATES[String(lab.snapshot(`toy:${p.server}`).value)] ?? 'Stopped';
    return found === p.state ? passed([`Toy: ${found}`]) : failed(`expected ${p.state}, found ${found}`);
  },
});

export const toyExplode = defineStep({
  name: 'toy.explode',
  kind: 'action',
  summary: 'A step with a bug: it throws',
  params: z.strictObject({}),
  title: () => 'Explode',
  emulated: () => {
    throw new Error('toy.explode has a bug');
  },
});

export const toySteps: StepDefinition[] = [toyStart, toyBreak, toyState, toyExplode];

/** The fault the toy registry offers: the Toy binary is deleted, so the next start fails with 7000. */
export const toyServiceBroken: FaultDefinition = {
  id: 'toy-service-broken',
  title: 'The Toy service binary is missing',
  category: 'services',
  target: 'frontEnd',
  defaultTarget: firstFrontEnd,
  where: 'a front end, before Toy starts',
  symptoms: ['Toy stays Stopped; System log 7000 from Service Control Manager'],
  fix: 'Reinstall Toy',
  certainty: 'verified',
  inject: ({ lab, target }) => {
    const r = request<undefined>(lab.get(`toy:${target}`), 'toy.reply', { type: 'toy.break' });
    return { applied: r.ok, note: r.ok ? `Toy on ${target} broken` : r.failure.message };
  },
};

/** The fault that is an operator's mistake: the next Toy start is given a timeout too short to wait. */
export const toyImpatient: FaultDefinition = {
  id: 'toy-impatient-operator',
  title: 'The operator does not wait for Toy to start',
  category: 'operator',
  target: 'lab',
  defaultTarget: () => undefined,
  where: 'before a toy.startService step',
  symptoms: ['Toy on the server is still Start Pending when the step ends'],
  fix: 'Wait for the service to start',
  certainty: 'verified',
  inject: ({ rewriteNext }) => {
    rewriteNext('toy.startService', (p) => ({ ...p, timeout: 1000 }));
    return { applied: true, note: 'the next toy.startService waits 1 s' };
  },
};

export const toyRegistry: Registry = { emulators: [toyEmulator], steps: [...coreSteps, ...toySteps], faults: [toyServiceBroken, toyImpatient] };
