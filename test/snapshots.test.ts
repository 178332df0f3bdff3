/**
 * Lab snapshots: a lab saved to JSON and restored continues byte for byte as the lab that ran straight
 * through (decision 0012). Every shipped scenario is cut at several points: before each of those steps the
 * runner saves the lab, stops it and goes on with one restored from the JSON.
 */
import { describe, expect, it } from 'vitest';
import { enqueueActions, setup } from 'xstate';
import type { EmulatorDefinition } from '../sim/emulator.js';
import { kernel, kernelActions } from '../sim/machine.js';
import { Lab, LabSnapshotError, type LabSnapshot } from '../sim/lab.js';
import { lastSavepoint, runScenario } from '../sim/runner.js';
import { registry } from '../emulators/index.js';
import { compile, shippedDocuments } from './support/shipped.js';

describe('a lab restored from a snapshot', () => {
  for (const doc of shippedDocuments()) {
    const id = doc.header?.id ?? doc.file;
    it(`continues ${id} byte for byte at several cut points`, async () => {
      const scenario = compile(id);
      const straight = await runScenario({ scenario, registry });
      const n = straight.setup.length + straight.steps.length;
      const cuts = [...new Set([1, Math.floor(n / 4), Math.floor(n / 2), Math.floor((3 * n) / 4), n - 1])];
      const cut = await runScenario({ scenario, registry, restartAt: cuts });
      expect(cut.restarts?.map((r) => r.before)).toEqual(cuts);
      // Cuts after the first sign-in meet open connections and are refused, saying so.
      for (const r of cut.restarts ?? []) if (!r.restored) expect(r.reason).toMatch(/open connections/);
      expect(cut.restarts?.filter((r) => r.restored).length).toBeGreaterThanOrEqual(2);
      expect(cut.status).toBe(straight.status);
      expect(cut.trace).toBe(straight.trace);
    });
  }
});

describe('a rehearsal gone on with from its last savepoint', () => {
  for (const doc of shippedDocuments()) {
    const id = doc.header?.id ?? doc.file;
    it(`continues ${id} byte for byte, or has no savepoint because a fault acts from the start`, async () => {
      const scenario = compile(id);
      const keeper = lastSavepoint();
      const straight = await runScenario({ scenario, registry, onSavepoint: keeper.onSavepoint });
      const last = keeper.kept();
      const timed = scenario.faults.some((f) => !('step' in f.when));
      if (timed) {
        expect(last).toBeUndefined();
        return;
      }
      if (!last) throw new Error(`${id} offered no savepoint`);
      expect(last.results.length).toBe(last.before);
      const lab = Lab.restore(scenario.topology, registry.emulators, JSON.parse(last.text) as LabSnapshot);
      const resumed = await runScenario({ scenario, registry, lab, resume: { before: last.before, results: last.results } });
      await lab.close();
      expect(resumed.status).toBe(straight.status);
      expect(resumed.trace).toBe(straight.trace);
      expect([...resumed.setup, ...resumed.steps]).toEqual([...straight.setup, ...straight.steps]);
    });
  }
});

describe('Lab.save and Lab.restore', () => {
  const scenario = compile('part2-prepare-environment');

  async function preparedLab(): Promise<Lab> {
    const lab = new Lab(scenario.topology, registry.emulators, { seed: 's1' });
    await runScenario({ scenario, registry, lab });
    return lab;
  }

  it('round-trips through JSON, and the restored lab saves to the same JSON', async () => {
    const lab = await preparedLab();
    const text = JSON.stringify(lab.save());
    const restored = Lab.restore(scenario.topology, registry.emulators, JSON.parse(text) as LabSnapshot);
    expect(JSON.stringify(restored.save())).toBe(text);
    expect(restored.clock.now()).toBe(lab.clock.now());
    expect(restored.journal.entries.length).toBe(lab.journal.entries.length);
    await lab.close();
    await restored.close();
  });

  it('keeps the delayed events waiting on the clock: AD replication due after the save happens after the restore', async () => {
    const lab = await preparedLab();
    const ad = lab.get('ad');
    ad?.send({ type: 'ad.add', requestId: 'x1', dn: 'CN=Saved Contact,CN=Users,DC=corp,DC=example,DC=net', attributes: { objectClass: ['top', 'contact'], cn: ['Saved Contact'] } });
    const saved = JSON.parse(JSON.stringify(lab.save())) as LabSnapshot;
    expect(saved.scheduled.some((s) => s.source === 'ad')).toBe(true);
    const restored = Lab.restore(scenario.topology, registry.emulators, saved);
    const replicated = (l: Lab) => l.journal.entries.filter((e) => e.event.type === 'ad.replicated').length;
    const before = replicated(restored);
    lab.advance(60_000);
    restored.advance(60_000);
    expect(replicated(restored)).toBe(replicated(lab));
    expect(replicated(restored)).toBeGreaterThan(before);
    await lab.close();
    await restored.close();
  });

  it('keeps both timers of a delayed event scheduled again before it fired, as XState fires both, and the owner\'s timers in their place', () => {
    // A component that schedules the same id twice without cancelling: XState keeps both clock timers.
    type E = { type: 'twice' } | { type: 'fired' };
    type Emitted = { type: 'tick.fired'; summary: string };
    const ticker = setup({ types: { context: {} as { fired: number }, events: {} as E, emitted: {} as Emitted }, actions: kernelActions<{ fired: number }, E, Emitted>() }).createMachine({
      context: { fired: 0 },
      on: {
        twice: {
          actions: enqueueActions(({ enqueue: put }) => {
            const enqueue = kernel<{ fired: number }, E, Emitted>(put);
            enqueue.schedule({ type: 'fired' }, 2000, 't');
            enqueue.schedule({ type: 'fired' }, 3000, 't');
          }),
        },
        fired: {
          actions: enqueueActions(({ context, enqueue: put }) => {
            const enqueue = kernel<{ fired: number }, E, Emitted>(put);
            enqueue.assign({ fired: context.fired + 1 });
            enqueue.emit({ type: 'tick.fired', summary: `fired ${context.fired + 1}` });
          }),
        },
      },
    });
    const tickers: EmulatorDefinition[] = [{ kind: 'ticker', instances: () => [{ systemId: 'ticker', logic: ticker, input: {} }] }];
    // The owner's timers (a runner's timed fault) keep their place among them: due at the same instant,
    // one set before the component's fires before it, one set after fires after.
    const run = (restart: boolean) => {
      let lab = new Lab(scenario.topology, tickers, { seed: 't' });
      const mark = (label: string) => () => lab.record('runner', { type: 'runner.mark', summary: label });
      lab.setTimer('early', 2000, mark('early'));
      lab.send('ticker', { type: 'twice' });
      lab.setTimer('late', 2000, mark('late'));
      lab.advance(500);
      if (restart) {
        const saved = JSON.parse(JSON.stringify(lab.save())) as LabSnapshot;
        expect(saved.scheduled.map((x) => [x.id, x.due - lab.clock.now()])).toEqual([['t', 1500], ['t', 2500]]);
        lab.stop();
        lab = Lab.restore(scenario.topology, tickers, saved, (label) => mark(label));
      }
      lab.advance(5000);
      const fired = lab.journal.entries.filter((e) => e.event.type === 'tick.fired' || e.event.type === 'runner.mark').map((e) => `${e.event.summary}@${e.t}`);
      lab.stop();
      return fired;
    };
    expect(run(false)).toEqual(['early@2000', 'fired 1@2000', 'late@2000', 'fired 2@3000']);
    expect(run(true)).toEqual(run(false));
  });

  it('refuses a lab with open connections, naming them', async () => {
    const lab = await preparedLab();
    lab.resource('network', () => ({ value: 1, close: async () => undefined }));
    expect(() => lab.save()).toThrow(LabSnapshotError);
    expect(() => lab.save()).toThrow(/open connections \(network\)/);
    await lab.close();
  });

  it('refuses a snapshot of another format or another topology', async () => {
    const lab = await preparedLab();
    const saved = lab.save();
    expect(() => Lab.restore(scenario.topology, registry.emulators, { ...saved, format: 'ocslab.lab/0' } as unknown as LabSnapshot)).toThrow(/not an ocslab lab snapshot/);
    const other = { ...scenario.topology, sipDomains: ['example.org'] };
    expect(() => Lab.restore(other, registry.emulators, saved)).toThrow(/another topology/);
    await lab.close();
  });
});

describe('a from: chain started from its saved end state', () => {
  function memoryCache() {
    const store = new Map<string, string>();
    const calls = { get: 0, hits: 0, put: 0 };
    return {
      calls,
      get(key: string) {
        calls.get++;
        const text = store.get(key);
        if (text) calls.hits++;
        return text ? JSON.parse(text) : undefined;
      },
      put(key: string, value: unknown) {
        calls.put++;
        store.set(key, JSON.stringify(value));
      },
    };
  }

  it('saves the replayed chain, then restores it instead of replaying, and the trace does not tell', async () => {
    const scenario = compile('seed-part3');
    const straight = await runScenario({ scenario, registry });
    const cache = memoryCache();
    const first = await runScenario({ scenario, registry, setupCache: cache });
    expect(cache.calls).toEqual({ get: 1, hits: 0, put: 1 });
    const progress: string[] = [];
    const second = await runScenario({ scenario, registry, setupCache: cache, onProgress: (e) => e.type === 'setup.finished' && progress.push(String(e.restored ?? false)) });
    expect(cache.calls).toEqual({ get: 2, hits: 1, put: 1 });
    expect(progress).toEqual(['true']);
    expect(first.trace).toBe(straight.trace);
    expect(second.trace).toBe(straight.trace);
    expect(second.setup).toEqual(straight.setup);
    expect(second.steps.map((s) => [s.title, s.status])).toEqual(straight.steps.map((s) => [s.title, s.status]));
  });

  it('serves another scenario of the same chain and seed, with that scenario opening the trace', async () => {
    const cache = memoryCache();
    await runScenario({ scenario: compile('seed-part3'), registry, setupCache: cache });
    const other = compile('april-2009-update-without-msmq');
    const straight = await runScenario({ scenario: other, registry });
    const restored = await runScenario({ scenario: other, registry, setupCache: cache });
    expect(cache.calls.hits).toBe(1);
    expect(restored.trace).toBe(straight.trace);
  });

  it('replays a chain a fault acts on before the scenario\'s own steps, and keeps no snapshot of it', async () => {
    const cache = memoryCache();
    const scenario = compile('msmq-not-installed');
    await runScenario({ scenario, registry, setupCache: cache });
    expect(cache.calls).toEqual({ get: 0, hits: 0, put: 0 });
  });
});
