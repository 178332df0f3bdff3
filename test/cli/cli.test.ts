import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ocslab } from '../support/cli.js';
import { fixtureScenariosDir, projectRoot } from '../support/scenarios.js';

/** The real command, as an operator starts it, pointed at the fixture scenarios. */
function ocslabProcess(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(projectRoot, 'bin', 'ocslab.js'), ...args], {
    cwd: projectRoot,
    encoding: 'utf8',
    env: { ...process.env, OCSLAB_SCENARIOS_DIR: fixtureScenariosDir, NO_COLOR: '1', OCSLAB_DEBUG: '' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A V8 stack frame: `at fn (/abs/file.ts:1:2)` or `at file:///abs/file.ts:1:2`. */
const noStack = (text: string) => expect(text).not.toMatch(/^\s+at (?:.+ \()?(?:file:\/\/|node:|\/)\S*:\d+:\d+\)?$/m);

describe('ocslab as a process: bad usage and bad input exit 2, without a stack trace', () => {
  it.each([
    [['bogus'], /unknown command 'bogus'/],
    [['run', '--bogus'], /unknown option '--bogus'/],
    [['run', 'missing.yaml'], /no such scenario file: missing\.yaml/],
    [['run', 'toy-bse'], /no scenario with id "toy-bse".*did you mean "toy-base"\?/],
  ])('ocslab %j', (args, message) => {
    const r = ocslabProcess(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    noStack(r.stderr);
  });

  it('refuses --apply when nobody can confirm the plans, --yes without --apply, and a target file it cannot read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ocslab-target-'));
    try {
      const target = join(dir, 't.yaml');
      writeFileSync(target, "target: t\nhosts:\n  dc01: { address: 127.0.0.1, ports: { 389: 1 } }\ncredentials:\n  administrator: { user: 'CORP\\Administrator', password: { env: OCSLAB_NOT_SET_HERE } }\n");
      const apply = await ocslab(['run', 'toy-base', '--target', target, '--apply']);
      expect(apply.code).toBe(2);
      expect(apply.stderr).toContain('this run is not interactive, so nobody can confirm the plans; add --yes');
      const yes = await ocslab(['run', 'toy-base', '--target', target, '--yes']);
      expect(yes.code).toBe(2);
      expect(yes.stderr).toContain('--yes confirms the plans of --apply');
      // The password's environment variable is not set: exit 2 before anything is asked.
      const unset = await ocslab(['run', 'toy-base', '--target', target]);
      expect(unset.code).toBe(2);
      expect(unset.stderr).toContain('the environment variable OCSLAB_NOT_SET_HERE is not set');
      noStack(unset.stderr);
      expect(await ocslab(['run', 'toy-base', '--apply'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--apply and --yes go with --target FILE') });
      expect(await ocslab(['run', 'toy-base', '--target', join(dir, 'none.yaml')])).toMatchObject({ code: 2, stderr: expect.stringMatching(/none\.yaml:1:1: cannot read the target file \(ENOENT\)/) });
      expect(await ocslab(['run', 'toy-base', 'toy-base', '--target', target])).toMatchObject({ code: 2, stderr: expect.stringContaining('--target: give exactly one scenario') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a malformed scenario at file:line:column', () => {
    const r = ocslabProcess(['run', 'test/fixtures/scenarios/bad/malformed.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^test\/fixtures\/scenarios\/bad\/malformed\.yaml:6:1: YAML syntax: /);
    expect(r.stdout).toBe('');
    noStack(r.stderr);
  });

  it('reports a YAML alias bomb ("billion laughs") and nesting built to exhaust the parser as input at file:line:column, exit 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ocslab-bomb-'));
    try {
      const bomb = join(dir, 'laughs.yaml');
      const levels = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
      for (const [name, prev] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd'], ['f', 'e']] as const) levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
      writeFileSync(bomb, ['id: laughs', 'title: Billion laughs', ...levels, `steps: [${Array(9).fill('*f').join(', ')}]`, ''].join('\n'));
      const deep = join(dir, 'deep.yaml');
      writeFileSync(deep, `id: deep\ntitle: Deep\nsteps: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
      for (const [file, message] of [
        [bomb, /^\S*laughs\.yaml:5:8: YAML aliases expand too far: \*b /],
        [deep, /^\S*deep\.yaml:3:\d+: YAML nesting too deep to read/],
      ] as const) {
        const r = ocslabProcess(['run', file]);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toContain('internal error');
        noStack(r.stderr);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a fault that is not in the catalogue at file:line:column', () => {
    const r = ocslabProcess(['run', 'bad-faults']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('test/fixtures/scenarios/bad/faults.yaml:9:12: unknown fault "no-such-fault"');
    noStack(r.stderr);
  });

  it('stops writing, without a stack trace, when its reader goes away (ocslab steps | head -1)', () => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" bin/ocslab.js steps | head -1`], { cwd: projectRoot, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l)).toHaveLength(1);
    expect(r.stderr).toBe('');
  });

  it('answers --help with exit 0 on stdout', () => {
    const r = ocslabProcess(['run', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: ocslab run \[options\] \[scenario\.\.\.\]/);
  });
});

describe('ocslab run (toy registry)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ocslab-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps a from: chain\'s end state and starts from it the next time, with the same trace; --no-cache replays', async () => {
    const env = { OCSLAB_SNAPSHOT_CACHE: join(dir, 'setups') };
    const first = await ocslab(['run', 'toy-chain', '--trace', join(dir, 'first.jsonl')], { env });
    expect(first.stdout).toContain('✓ setup: replayed 3 steps of toy-base (15 min 30 s)');
    const second = await ocslab(['run', 'toy-chain', '--trace', join(dir, 'second.jsonl')], { env });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('✓ setup: 3 steps of toy-base restored from a snapshot (15 min 30 s)');
    expect(readFileSync(join(dir, 'second.jsonl'), 'utf8')).toBe(readFileSync(join(dir, 'first.jsonl'), 'utf8'));
    const replayed = await ocslab(['run', 'toy-chain', '--no-cache'], { env });
    expect(replayed.stdout).toContain('✓ setup: replayed 3 steps of toy-base');
  });

  it('exits 0 when every expectation holds, printing each step with its simulated duration', async () => {
    const r = await ocslab(['run', 'toy-chain']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('✓ setup: replayed 3 steps of toy-base (15 min 30 s)');
    expect(r.stdout).toContain('✓ 2. Wait 1 h (1 h)');
    expect(r.stdout).toMatch(/PASSED toy-chain: 3 passed, 0 failed, 0 skipped of 3 steps; 1 h 15 min simulated/);
  });

  it('exits 1 when a step fails, with the reason, the event log entries and the position', async () => {
    const r = await ocslab(['run', 'test/fixtures/scenarios/toy-broken.yaml']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('✗ 4. Start Toy on ocsfe01 (0 s)');
    expect(r.stdout).toContain('    ocsfe01 System Error 7000 Service Control Manager: The Toy service failed to start');
    expect(r.stdout).toContain('    at test/fixtures/scenarios/toy-broken.yaml:14:5');
    expect(r.stdout).toContain('– 5. Toy on ocsfe01 is Stopped');
  });

  it('exits 2 with every problem of a bad scenario, sorted by position', async () => {
    const r = await ocslab(['run', 'bad-params', 'bad-unknown-step']);
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n').filter((l) => /^\S+\.yaml:\d+:\d+: /.test(l));
    expect(lines.map((l) => l.split(': ')[0])).toEqual([
      'test/fixtures/scenarios/bad/params.yaml:6:14',
      'test/fixtures/scenarios/bad/params.yaml:9:5',
      'test/fixtures/scenarios/bad/params.yaml:10:5',
      'test/fixtures/scenarios/bad/params.yaml:14:12',
      'test/fixtures/scenarios/bad/params.yaml:16:15',
      'test/fixtures/scenarios/bad/unknown-step.yaml:4:1',
      'test/fixtures/scenarios/bad/unknown-step.yaml:6:13',
      'test/fixtures/scenarios/bad/unknown-step.yaml:8:12',
    ]);
    expect(r.stdout).toBe('');
  });

  it('exits 2 when the default scenario is not among those found', async () => {
    const r = await ocslab(['run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no scenario with id "seed-part3"');
  });

  it('exits 3 on an internal error, without a stack trace unless debugging', async () => {
    const quiet = await ocslab(['run', 'toy-explode']);
    expect(quiet.code).toBe(3);
    expect(quiet.stdout).toContain('internal error: toy.explode has a bug');
    noStack(quiet.stdout + quiet.stderr);
    const debug = await ocslab(['run', 'toy-explode', '--debug']);
    expect(debug.stderr).toMatch(/Error: toy\.explode has a bug\n\s+at /);
  });

  it('--json prints only the report on stdout, the same for the same seed', async () => {
    const a = await ocslab(['run', 'toy-base', '--json', '--seed', '9']);
    const b = await ocslab(['run', 'toy-base', '--json', '--seed', '9']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const parsed = JSON.parse(a.stdout) as { ok: boolean; reports: Array<{ seed: string; status: string; steps: unknown[] }> };
    expect(parsed.ok).toBe(true);
    expect(parsed.reports[0]).toMatchObject({ seed: '9', status: 'passed' });
    expect(parsed.reports[0]?.steps).toHaveLength(3);
  });

  it('--junit writes one testsuite per scenario with escaped failures; --trace writes the trace', async () => {
    const junit = join(dir, 'out', 'report.xml');
    const trace = join(dir, 'trace.jsonl');
    const r = await ocslab(['run', 'toy-base', 'toy-broken', '--quiet', '--junit', junit, '--trace', trace]);
    expect(r.code).toBe(1);
    const xml = readFileSync(junit, 'utf8');
    expect(xml.match(/<testsuite /g)).toHaveLength(2);
    expect(xml).toContain('<testsuite name="toy-broken" tests="6" failures="2" errors="0" skipped="2"');
    expect(xml).toContain('<failure message="expected Running, found Stopped" type="check">');
    expect(xml).toContain('<skipped message="skipped after step 4 failed"/>');
    const lines = readFileSync(trace, 'utf8').trim().split('\n');
    expect(lines.filter((l) => l.includes('"type":"runner.runStarted"'))).toHaveLength(2);
    expect(r.stdout).not.toContain('✓ 1.');
  });
});

describe('ocslab list and steps (toy registry)', () => {
  it('lists every scenario found with id, title and tags, and reports unreadable files', async () => {
    const r = await ocslab(['list']);
    expect(r.stdout).toMatch(/^toy-base\s+Start the Toy service on the front end\s+\[toy, base\]$/m);
    expect(r.stderr).toContain('bad/malformed.yaml:6:1');
    expect(r.code).toBe(2);
    const json = JSON.parse((await ocslab(['list', '--json'])).stdout) as Array<{ id: string; tags: string[] }>;
    expect(json.find((s) => s.id === 'toy-chain')).toMatchObject({ tags: ['toy', 'chain'], from: 'toy-base' });
  });

  it('lists the vocabulary with parameters from the schemas', async () => {
    const r = await ocslab(['steps']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/action {2}lab\.wait {2}Let simulated time pass/);
    expect(r.stdout).toMatch(/server: string {2}\(required, a host of the topology\)/);
    const json = JSON.parse((await ocslab(['steps', '--json'])).stdout) as Array<{ name: string; params: { required?: string[] } }>;
    expect(json.find((s) => s.name === 'toy.serviceState')?.params.required).toEqual(['server', 'state']);
  });
});
