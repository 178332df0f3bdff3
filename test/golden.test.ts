/**
 * Golden traces: every shipped scenario's trace at its default seed, committed byte for byte. A change
 * to the kernel or an emulator that is meant to keep behaviour keeps these files; one that changes
 * behaviour regenerates them on purpose (`npm run golden`) and the diff shows what changed.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { projectRoot } from './support/scenarios.js';
import { run, shippedDocuments } from './support/shipped.js';

const goldenDir = join(projectRoot, 'test', 'golden');
const update = process.env.OCSLAB_UPDATE_GOLDEN === '1';

describe('golden traces of the shipped scenarios', () => {
  // XState's development build warns when a transition does work it should not (decision 0011): none may.
  let warn: MockInstance<typeof console.warn>;
  beforeEach(() => {
    warn = vi.spyOn(console, 'warn');
  });
  afterEach(() => {
    expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([]);
    warn.mockRestore();
  });

  for (const doc of shippedDocuments()) {
    const id = doc.header?.id ?? doc.file;
    it(`${id} gives the committed trace`, async () => {
      const trace = (await run(id)).trace;
      const file = join(goldenDir, `${id}.jsonl`);
      if (update) {
        mkdirSync(goldenDir, { recursive: true });
        writeFileSync(file, trace);
      }
      expect(existsSync(file), `${file} is missing: run npm run golden and commit it`).toBe(true);
      const golden = readFileSync(file, 'utf8');
      if (trace === golden) return;
      const a = golden.split('\n');
      const b = trace.split('\n');
      const at = a.findIndex((line, i) => line !== b[i]);
      expect({ line: at + 1, now: b[at] }).toEqual({ line: at + 1, now: a[at] });
      expect(trace.length).toBe(golden.length);
    });
  }
});
