/**
 * bin/ocslab.js runs the bundle only while it is newer than every file it was made of (build/bundle.js,
 * decision 0013): an edited source, an upgraded dependency or a new patch sends it back to the TypeScript.
 */
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isFresh } from '../../build/bundle.js';

const project = mkdtempSync(join(tmpdir(), 'ocslab-bundle-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));

const at = (path: string, seconds: number, text = '') => {
  mkdirSync(join(project, path, '..'), { recursive: true });
  writeFileSync(join(project, path), text);
  utimesSync(join(project, path), seconds, seconds);
};

describe('whether the bundle is fresh', () => {
  it('is not without a bundle', () => {
    at('cli/main.ts', 1000);
    expect(isFresh(project)).toBe(false);
  });

  it('is while the bundle is newer than every source, and not once one changes after it', () => {
    at('cli/main.ts', 1000);
    at('sim/lab.ts', 1000);
    at('emulators/ad/ad.machine.ts', 1000);
    at('node_modules/.package-lock.json', 1000);
    at('dist/ocslab.cjs', 2000);
    expect(isFresh(project)).toBe(true);
    // A test file is not in the bundle.
    at('sim/lab.test.ts', 3000);
    expect(isFresh(project)).toBe(true);
    at('emulators/ad/ad.machine.ts', 3000);
    expect(isFresh(project)).toBe(false);
    at('dist/ocslab.cjs', 4000);
    expect(isFresh(project)).toBe(true);
    // Dependencies installed again, or a patch added: the bundle holds the old ones.
    at('node_modules/.package-lock.json', 5000);
    expect(isFresh(project)).toBe(false);
    at('dist/ocslab.cjs', 6000);
    at('patches/sip.js+0.21.2.patch', 7000);
    expect(isFresh(project)).toBe(false);
  });
});
