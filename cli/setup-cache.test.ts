import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CachedSetup } from '../sim/runner.js';
import { projectRoot } from './config.js';
import { FileSetupCache, labVersion } from './setup-cache.js';

describe('the saved setups on disk', () => {
  const root = mkdtempSync(join(tmpdir(), 'ocslab-setups-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const value = { snapshot: { format: 'ocslab.lab/1' }, results: [] } as unknown as CachedSetup;

  it('gives back what it kept, by key, and rehearsal lengths beside them', () => {
    const cache = new FileSetupCache(root, 'v1');
    expect(cache.get('a')).toBeUndefined();
    cache.put('a', value);
    cache.putLength('a', 525_000);
    expect(cache.get('a')).toEqual(value);
    expect(cache.length('a')).toBe(525_000);
    expect(cache.get('b')).toBeUndefined();
  });

  it('treats a file it cannot read as missing, and a newer lab version drops the older ones', () => {
    const cache = new FileSetupCache(root, 'v1');
    cache.put('c', value);
    for (const name of readdirSync(join(root, 'v1'))) writeFileSync(join(root, 'v1', name), '{"key": "c", "value": ');
    expect(cache.get('c')).toBeUndefined();
    const old = '0123456789abcdef';
    const next = 'fedcba9876543210';
    mkdirSync(join(root, old), { recursive: true });
    mkdirSync(join(root, 'not-a-version'), { recursive: true });
    writeFileSync(join(root, 'notes.txt'), 'the user\'s');
    new FileSetupCache(root, next).put('c', value);
    expect(readdirSync(root).sort()).toEqual([next, 'notes.txt', 'not-a-version', 'v1'].sort());
  });

  it('names the lab version after the code: the same sources, the same version', () => {
    expect(labVersion(projectRoot)).toMatch(/^[0-9a-f]{16}$/);
    expect(labVersion(projectRoot)).toBe(labVersion(projectRoot));
  });
});
