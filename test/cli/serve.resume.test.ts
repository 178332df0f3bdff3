/**
 * `serve` goes on from the rehearsal an earlier serve saved (cli/serve.ts, decision 0012) only when that
 * lab can be resumed at today's date: saved less than a day ago, and restorable. Otherwise it rehearses
 * afresh and saves again.
 */
import { describe, expect, it } from 'vitest';
import { serve } from '../../cli/serve.js';
import type { CachedRehearsal, CachedSetup, SetupCache } from '../../sim/runner.js';
import type { LabSnapshot } from '../../sim/lab.js';
import { registry } from '../../emulators/index.js';
import { compile } from '../support/shipped.js';

class MemoryCache implements SetupCache {
  readonly rehearsals = new Map<string, string>();
  private readonly lengths = new Map<string, number>();
  get(): CachedSetup | undefined {
    return undefined;
  }
  put(): void {}
  length(key: string) {
    return this.lengths.get(key);
  }
  putLength(key: string, ms: number) {
    this.lengths.set(key, ms);
  }
  rehearsal(key: string) {
    const text = this.rehearsals.get(key);
    return text ? (JSON.parse(text) as CachedRehearsal) : undefined;
  }
  putRehearsal(key: string, value: CachedRehearsal) {
    this.rehearsals.set(key, JSON.stringify(value));
  }
  /** Changes every saved rehearsal as `f` says. */
  edit(f: (r: CachedRehearsal) => CachedRehearsal) {
    for (const [key, text] of this.rehearsals) this.rehearsals.set(key, JSON.stringify(f(JSON.parse(text) as CachedRehearsal)));
  }
}

const scenario = compile('seed-part3');
const serveOnce = async (setupCache: MemoryCache) => {
  const served = await serve({ scenario, registry, faults: [], host: '127.0.0.1', portBase: 0, speed: 1, setupCache });
  await served.stop();
  return served;
};

/** The saved lab as if saved `ms` earlier: its date, and every delayed event's, that much further back. */
const agedBy = (ms: number) => (r: CachedRehearsal): CachedRehearsal => {
  const s: LabSnapshot = r.snapshot;
  return { ...r, snapshot: { ...s, clock: { start: s.clock.start - ms, now: s.clock.now - ms }, scheduled: s.scheduled.map((e) => ({ ...e, due: e.due - ms })) } };
};

describe('serve and the rehearsal an earlier serve saved', () => {
  it('goes on from it when it was saved less than a day ago, at the point before the first sign-in', async () => {
    const cache = new MemoryCache();
    const first = await serveOnce(cache);
    expect(first.resumedFrom).toBeUndefined();
    expect(cache.rehearsals.size).toBe(1);
    expect(cache.rehearsal([...cache.rehearsals.keys()][0] ?? '')?.before).toBe(first.report.setup.length + 21);
    cache.edit(agedBy(6 * 3_600_000));
    const second = await serveOnce(cache);
    expect(second.resumedFrom?.before).toBe(first.report.setup.length + 21);
    // Six hours (and the few seconds between the two serves) of pause, at the lab's one-second grain.
    expect(second.resumedFrom?.pausedMs).toBeGreaterThanOrEqual(6 * 3_600_000 - 1000);
    expect(second.resumedFrom?.pausedMs).toBeLessThan(6 * 3_600_000 + 60_000);
    expect(second.report.status).toBe('passed');
    expect(second.report.steps.map((s) => [s.title, s.status])).toEqual(first.report.steps.map((s) => [s.title, s.status]));
    expect(second.endpoints.users).toEqual(first.endpoints.users);
  }, 30_000);

  it('rehearses afresh, and saves again, when it is older than a day or cannot be restored', async () => {
    const cache = new MemoryCache();
    await serveOnce(cache);
    cache.edit(agedBy(25 * 3_600_000));
    const old = await serveOnce(cache);
    expect(old.resumedFrom).toBeUndefined();
    expect(old.report.status).toBe('passed');
    // What the fresh rehearsal saved is young again, and taken next time.
    expect((await serveOnce(cache)).resumedFrom).toBeDefined();
    cache.edit((r) => ({ ...r, snapshot: { ...r.snapshot, format: 'ocslab.lab/0' as LabSnapshot['format'] } }));
    const damaged = await serveOnce(cache);
    expect(damaged.resumedFrom).toBeUndefined();
    expect(damaged.report.status).toBe('passed');
  }, 60_000);
});
