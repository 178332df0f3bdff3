import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { registry } from '../emulators/index.js';
import { createConsoleReporter } from '../sim/report/index.js';
import { runScenario } from '../sim/runner.js';
import { compile, run, shippedDocuments } from './support/shipped.js';
import { projectRoot } from './support/scenarios.js';

const failureDocs = shippedDocuments().filter((d) => d.file.startsWith('scenarios/failures/'));

/** What the operator reads on the console for a run. */
async function consoleText(id: string): Promise<{ text: string; status: string }> {
  let text = '';
  const reporter = createConsoleReporter({ write: (s) => (text += s), color: false, quiet: false });
  const report = await runScenario({ scenario: compile(id), registry, onProgress: reporter.onProgress });
  return { text, status: report.status };
}

describe('the fault catalogue', () => {
  it('has at least 25 faults with unique ids, each with symptoms, a fix and where to inject it', async () => {
    expect(registry.faults.length).toBeGreaterThanOrEqual(25);
    expect(new Set(registry.faults.map((f) => f.id)).size).toBe(registry.faults.length);
    for (const f of registry.faults) {
      expect(f.id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
      expect(f.title.length, f.id).toBeGreaterThan(10);
      expect(f.symptoms.length, f.id).toBeGreaterThan(0);
      expect(f.fix.length, f.id).toBeGreaterThan(10);
      expect(f.where.length, f.id).toBeGreaterThan(5);
      if (f.certainty !== 'verified') expect(f.note?.length ?? 0, `${f.id} needs a note on what is unverified`).toBeGreaterThan(10);
    }
  });

  it('has a training scenario per fault, in scenarios/failures/<fault-id>.yaml, that injects it', async () => {
    const byId = new Map(failureDocs.map((d) => [d.header?.id, d]));
    for (const f of registry.faults) {
      const doc = byId.get(f.id);
      expect(doc?.file, `scenarios/failures/${f.id}.yaml`).toBe(`scenarios/failures/${f.id}.yaml`);
      expect(compile(f.id).faults.map((p) => p.definition.id)).toContain(f.id);
    }
  });
});

describe('every training scenario', () => {
  for (const d of failureDocs) {
    const id = d.header?.id ?? d.file;
    it(`${id}: shows the symptoms, applies the fix, recovers — and the steps never name the fault`, async () => {
      const { text, status } = await consoleText(id);
      expect(status, text).toBe('passed');
      // The exercise is named after what it trains (its id); what the lab shows in the steps is symptoms only.
      const steps = text.split(id).join('');
      for (const f of registry.faults) expect(steps).not.toContain(f.id);
      expect(steps).not.toMatch(/\bfault\b/i);
    });
  }
});

describe('any fault at any step', async () => {
  const seed = compile('seed-part3');
  const actions = seed.steps.filter((s) => s.kind === 'action');
  const points = ['start', String(actions[Math.floor(actions.length / 2)]?.index ?? 1), String(actions.at(-1)?.index ?? 1)];
  for (const f of registry.faults) {
    it(`${f.id} injected at the start, mid-way and before the last action of the seed never breaks the lab`, async () => {
      for (const at of points) {
        const report = await run('seed-part3', 'any-step', [`${f.id}@${at}`]);
        expect(report.status, `${f.id}@${at}: ${report.error?.message ?? ''}`).not.toBe('error');
        expect(report.faults.map((r) => r.id)).toEqual([f.id]);
      }
    });
  }
});

describe('ocslab run with --fault', () => {
  it('shows the Monitoring Agent failing at Start Services as the seed describes, without naming the fault', async () => {
    const r = spawnSync(process.execPath, [join(projectRoot, 'bin', 'ocslab.js'), 'run', 'seed-part3', '--fault', 'msmq-not-installed@ocs.startServices'], {
      cwd: projectRoot,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/✗ \d+\. Start the OCS services on ocsfe01/);
    expect(r.stdout).toContain('Monitoring Agent');
    expect(r.stdout).toMatch(/7024|failed to start/);
    expect(r.stdout).not.toContain('msmq-not-installed');
  });

  it('lists the catalogue as JSON', async () => {
    const r = spawnSync(process.execPath, [join(projectRoot, 'bin', 'ocslab.js'), 'faults', '--json'], { cwd: projectRoot, encoding: 'utf8' });
    expect(r.status).toBe(0);
    const list = JSON.parse(r.stdout) as Array<{ id: string; symptoms: string[]; fix: string }>;
    expect(list.length).toBeGreaterThanOrEqual(25);
    expect(list.find((f) => f.id === 'msmq-not-installed')?.fix).toMatch(/Message Queuing|MSMQ/);
  });
});
