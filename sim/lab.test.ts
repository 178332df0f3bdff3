import { describe, it, expect } from 'vitest';
import { assign, emit, setup } from 'xstate';
import { Lab } from './lab.js';
import { request, type EmulatorDefinition, type LabEnv } from './emulator.js';
import { defaultTopology } from './topology.js';
import { traceText } from './journal.js';
import { ok } from './result.js';

const counter = setup({
  types: {
    context: {} as { n: number; env: LabEnv; token: string },
    input: {} as { env: LabEnv },
    events: {} as { type: 'counter.bump'; requestId: string } | { type: 'counter.arm' },
    emitted: {} as
      | { type: 'counter.reply'; requestId: string; result: ReturnType<typeof ok<number>> }
      | { type: 'counter.bumped'; n: number; summary: string }
      | { type: 'eventlog.write'; entry: { host: string; log: string; source: string; eventId: number; level: 'Information'; message: string } },
  },
}).createMachine({
  context: ({ input }) => ({ n: 0, env: input.env, token: input.env.ids.token(4) }),
  initial: 'idle',
  states: {
    idle: { on: { 'counter.arm': 'armed' } },
    armed: {
      after: { 90000: { target: 'idle', actions: emit({ type: 'eventlog.write', entry: { host: 'dc01', log: 'System', source: 'Test', eventId: 1, level: 'Information', message: 'disarmed' } }) } },
    },
  },
  on: {
    'counter.bump': {
      actions: [
        assign({ n: ({ context }) => context.n + 1 }),
        emit(({ context }) => ({ type: 'counter.bumped' as const, n: context.n, summary: `bumped to ${context.n}` })),
        emit(({ context, event }) => ({ type: 'counter.reply' as const, requestId: event.requestId, result: ok(context.n) })),
      ],
    },
  },
});

const registry: EmulatorDefinition[] = [
  { kind: 'counter', instances: (_t, env) => [{ systemId: 'counter', logic: counter, input: { env: env('counter') } }] },
];

function run(seed: string) {
  const lab = new Lab(defaultTopology(), registry, { seed });
  const r1 = request<number>(lab.get('counter'), 'counter.reply', { type: 'counter.bump' });
  const r2 = request<number>(lab.get('counter'), 'counter.reply', { type: 'counter.bump' });
  lab.send('counter', { type: 'counter.arm' });
  const waited = lab.waitFor(() => lab.snapshot('counter').value === 'idle', 10 * 60_000);
  const token = (lab.snapshot('counter').context as { token: string }).token;
  lab.stop();
  return { lab, r1, r2, waited, token };
}

describe('a lab', () => {
  it('answers requests synchronously and journals what its actors emit', () => {
    const { lab, r1, r2 } = run('1');
    expect(r1).toEqual({ ok: true, value: 1 });
    expect(r2).toEqual({ ok: true, value: 2 });
    expect(lab.journal.entries.map((e) => e.event.type)).toEqual(['counter.bumped', 'counter.bumped', 'eventlog.write']);
  });

  it('runs `after` transitions on the simulated clock and stamps the event log with simulated time', () => {
    const { lab, waited } = run('1');
    expect(waited).toEqual({ satisfied: true, elapsedMs: 90000 });
    const [rec] = lab.journal.eventLog('dc01', 'System');
    expect(rec).toMatchObject({ recordId: 1, eventId: 1, timeCreated: '2009-07-06T09:01:30.000Z' });
  });

  it('gives byte-identical traces for the same seed and different ids for another', () => {
    const a = run('42');
    const b = run('42');
    const c = run('43');
    expect(traceText(a.lab.journal.entries)).toBe(traceText(b.lab.journal.entries));
    expect(a.token).toBe(b.token);
    expect(a.token).not.toBe(c.token);
  });

  it('journals what a component emits while it starts', () => {
    const starter = setup({ types: { emitted: {} as { type: 'starter.ready'; summary: string } } }).createMachine({
      entry: emit({ type: 'starter.ready', summary: 'ready at start' }),
    });
    const lab = new Lab(defaultTopology(), [{ kind: 'starter', instances: () => [{ systemId: 'starter', logic: starter, input: {} }] }], { seed: '1' });
    expect(lab.journal.entries.map((e) => [e.source, e.event.type, e.t])).toEqual([['starter', 'starter.ready', 0]]);
  });
});
