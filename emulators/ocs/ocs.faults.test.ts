import { describe, expect, it } from 'vitest';
import { run } from '../../test/support/shipped.js';
import { ocsFaults } from './ocs.faults.js';

const stepNamed = (r: Awaited<ReturnType<typeof run>>, name: string) => r.steps.filter((s) => s.name === name);

describe('ocs faults', () => {
  it('every fault has symptoms, a fix, and a note where not verified', async () => {
    for (const f of ocsFaults) {
      expect(f.symptoms.length, f.id).toBeGreaterThan(0);
      expect(f.fix.length, f.id).toBeGreaterThan(0);
      if (f.certainty !== 'verified') expect(f.note, f.id).toBeTruthy();
    }
  });

  it.each(ocsFaults.map((f) => f.id))('training scenario %s passes', async (id) => {
    const r = await run(id);
    expect(r.status, r.steps.filter((s) => s.status === 'failed').map((s) => s.reason).join('\n')).toBe('passed');
  });

  it('never ends a seed run in "error", whenever a fault is injected', async () => {
    for (const f of ocsFaults) for (const when of ['start', '3', '11', '18', '3m']) expect((await run('seed-part3', undefined, [`${f.id}@${when}`])).status, `${f.id}@${when}`).not.toBe('error');
  });

  it('the seed fails at Start Services on the Monitoring Agent without MSMQ, and the step report hides the injection', async () => {
    const r = await run('seed-part3', undefined, ['msmq-not-installed@ocs.startServices']);
    const [start] = stepNamed(r, 'ocs.startServices');
    expect(start?.status).toBe('failed');
    expect(start?.reason).toContain('Monitoring Agent service failed to start');
    expect(start?.events.map((e) => e.eventId)).toEqual(expect.arrayContaining([7024, 32062]));
    expect(r.steps.flatMap((s) => s.changes).join('\n')).not.toMatch(/msmq-not-installed|injected/i);
  });
});
