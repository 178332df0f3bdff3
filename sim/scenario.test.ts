import { describe, expect, it } from 'vitest';
import { compileFixture, fixtureCatalog } from '../test/support/scenarios.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closest, formatScenarioError, loadScenarioFile, readScenarioDocument, SCENARIO_LIMITS, type ScenarioError } from './scenario.js';

const at = (e: ScenarioError) => `${e.file.replace('test/fixtures/scenarios/', '')}:${e.line}:${e.column}`;

function errorsOf(id: string): ScenarioError[] {
  const r = compileFixture(id);
  if (r.ok) throw new Error(`${id} compiled without errors`);
  return r.errors;
}

describe('reading a scenario', () => {
  it('compiles a good scenario: titles from the steps, params with defaults, positions of every step', () => {
    const r = compileFixture('toy-base');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const { scenario } = r;
    expect(scenario).toMatchObject({ id: 'toy-base', seed: '7', tags: ['toy', 'base'], from: [] });
    expect(scenario.steps.map((s) => [s.index, s.kind, s.name, s.title])).toEqual([
      [1, 'action', 'toy.startService', 'Start Toy on ocsfe01'],
      [2, 'action', 'lab.wait', 'Wait 15 min'],
    ]);
    expect(scenario.steps[0]?.params).toEqual({ server: 'ocsfe01', timeout: 120000 });
    expect(scenario.expect[0]).toMatchObject({ index: 3, kind: 'check', position: { line: 13, column: 5 } });
    expect(scenario.topology.pools[0]?.fqdn).toBe('pool01.corp.example.net');
  });

  it('resolves `from` chains and keeps the title override and expectFailure', () => {
    const chain = compileFixture('toy-chain');
    expect(chain.ok && chain.scenario.from.map((s) => s.id)).toEqual(['toy-base']);
    expect(chain.ok && chain.scenario.seed).toBe('7');
    const broken = compileFixture('toy-broken');
    expect(broken.ok && broken.scenario.steps[1]).toMatchObject({ title: 'Start the broken Toy service', expectFailure: 'cannot find the file' });
  });

  it('reports a YAML syntax error where the parser found it', () => {
    const [e, ...rest] = errorsOf('malformed');
    expect(rest).toEqual([]);
    expect(at(e!)).toBe('bad/malformed.yaml:6:1');
    expect(e!.message).toMatch(/^YAML syntax: /);
  });

  it('reports an unknown key and unknown steps with the closest names and the list of the component', () => {
    const errors = errorsOf('unknown-step');
    expect(errors.map((e) => `${at(e)}: ${e.message}`)).toEqual([
      'bad/unknown-step.yaml:4:1: unknown key "stpes"; did you mean "steps"?',
      'bad/unknown-step.yaml:6:13: unknown step "toy.startServise"; did you mean "toy.startService"?',
      'bad/unknown-step.yaml:8:12: unknown check "toy.serviceStat"; did you mean "toy.serviceState"?',
    ]);
    expect(errors[1]?.hint).toBe('toy steps: toy.startService, toy.breakService, toy.serviceState, toy.explode');
    expect(formatScenarioError(errors[1]!)).toBe(
      'test/fixtures/scenarios/bad/unknown-step.yaml:6:13: unknown step "toy.startServise"; did you mean "toy.startService"?\n  toy steps: toy.startService, toy.breakService, toy.serviceState, toy.explode',
    );
  });

  it('reports every parameter problem of a file, sorted, each at its node', () => {
    expect(errorsOf('params').map((e) => `${at(e)}: ${e.message}`)).toEqual([
      'bad/params.yaml:6:14: toy.startService parameter "timeout": expected number, found "soon"',
      'bad/params.yaml:9:5: unknown parameter "colour" for toy.startService',
      'bad/params.yaml:10:5: missing parameter "state" for toy.serviceState',
      'bad/params.yaml:14:12: toy.serviceState parameter "state": expected one of Stopped, Start Pending, Running, found "Runing"; did you mean "Running"?',
      'bad/params.yaml:16:15: lab.wait parameter "duration": expected a duration such as "90s", "15m", "2h", "1d", "500ms" or a number of milliseconds, found "a while"',
    ]);
  });

  it('reports names that are not in the topology with the valid choices', () => {
    const errors = errorsOf('not-in-topology');
    expect(errors.map((e) => [at(e), e.message, e.hint])).toEqual([
      ['bad/not-in-topology.yaml:5:13', 'no front-end server "ocsfe02" in the topology; did you mean "ocsfe01"?', 'valid: ocsfe01'],
      ['bad/not-in-topology.yaml:7:13', 'no host "dc03" in the topology; did you mean "dc01" or "dc02"?', 'valid: dc01, dc02, sql01, ocsfe01'],
    ]);
  });

  it('reports a bad topology at the offending value', () => {
    expect(errorsOf('topology').map((e) => `${at(e)}: ${e.message}`)).toEqual([
      'bad/topology.yaml:8:26: topology hosts.1.ip: expected an address in 127.0.0.0/8 (lab addresses stay on loopback), found "10.0.0.21"',
    ]);
  });

  it('reports a `from` that names no scenario, and cycles', () => {
    expect(errorsOf('bad-from').map((e) => `${at(e)}: ${e.message}`)).toEqual(['bad/bad-from.yaml:3:7: no scenario with id "toy-bse"; did you mean "toy-base"?']);
    const cycle = errorsOf('cycle-a').map((e) => `${at(e)}: ${e.message}`);
    expect(cycle).toContain('bad/cycle-b.yaml:3:7: `from` makes a cycle: cycle-a → cycle-b → cycle-a');
    expect(cycle[0]).toMatch(/^bad\/cycle-a\.yaml:3:7: scenario "cycle-b" .* has errors/);
  });

  it('checks every fault entry against the catalogue and the scenario, at its position', () => {
    expect(errorsOf('faults').map((e) => `${at(e)}: ${e.message}`)).toEqual([
      'bad/faults.yaml:7:5: unknown key "id" in a fault; did you mean "at"?',
      'bad/faults.yaml:7:5: a fault needs `fault: <id>` (see `ocslab faults`)',
      'bad/faults.yaml:9:12: unknown fault "no-such-fault"',
      'bad/faults.yaml:11:11: no step number 7 in this scenario',
    ]);
  });

  it('rejects a scenario that both starts from another and names a topology, and duplicate ids', () => {
    const d = readScenarioDocument('x.yaml', 'id: x\ntitle: X\nfrom: toy-base\ntopology: default\n');
    expect(d.errors.map((e) => `${e.line}:${e.column}: ${e.message}`)).toEqual(['4:1: a scenario that starts from "toy-base" inherits its topology; remove `topology`']);
    expect(fixtureCatalog().errors).toEqual([]);
  });

  it('suggests close names by edit distance', () => {
    expect(closest('ocs.addServerToPol', ['ocs.addServerToPool', 'ocs.prepareSchema'])).toEqual(['ocs.addServerToPool']);
    expect(closest('zzz', ['ocs.addServerToPool'])).toEqual([]);
  });
});

describe('a scenario file built to exhaust the reader', () => {
  const problems = (text: string) => readScenarioDocument('x.yaml', text).errors.map((e) => `${e.line}:${e.column}: ${e.message}`);

  it('refuses a "billion laughs" alias bomb at the alias that repeats other aliases, as input', () => {
    const bomb = [
      'id: laughs',
      'title: Billion laughs',
      'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
      'steps: [*d, *d, *d, *d, *d, *d, *d, *d, *d]',
      '',
    ].join('\n');
    const d = readScenarioDocument('x.yaml', bomb);
    expect(d.header).toBeUndefined();
    expect(problems(bomb)).toEqual([`5:8: YAML aliases expand too far: *b repeats a node that holds aliases itself (more than ${SCENARIO_LIMITS.maxAliasCount} alias expansions); write the values out`]);
  });

  it('still reads a plain alias', () => {
    const d = readScenarioDocument('x.yaml', 'id: x\ntitle: &t The title\ndescription: *t\n');
    expect(d.errors).toEqual([]);
    expect(d.header).toMatchObject({ id: 'x', title: 'The title', description: 'The title' });
  });

  it('refuses nesting too deep for the parser, and nesting deeper than a scenario ever needs, at its position', () => {
    const parserDeep = problems(`id: x\ntitle: X\nsteps: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
    expect(parserDeep).toHaveLength(1);
    expect(parserDeep[0]).toMatch(/^3:\d+: YAML nesting too deep to read/);
    const deep = problems(`id: x\ntitle: X\nsteps: ${'['.repeat(200)}${']'.repeat(200)}\n`);
    expect(deep).toEqual([`3:${7 + SCENARIO_LIMITS.maxDepth}: YAML nesting deeper than ${SCENARIO_LIMITS.maxDepth} levels; a scenario needs far fewer`]);
  });

  it('refuses a file larger than a scenario can be, without parsing it (or, from disk, reading it)', () => {
    const huge = `id: x\ntitle: X\ndescription: "${'x'.repeat(SCENARIO_LIMITS.maxBytes)}"\n`;
    expect(problems(huge)).toEqual([`1:1: the file is ${Buffer.byteLength(huge)} bytes; a scenario file is at most ${SCENARIO_LIMITS.maxBytes} bytes`]);
    const dir = mkdtempSync(join(tmpdir(), 'ocslab-scenario-'));
    try {
      const file = join(dir, 'huge.yaml');
      writeFileSync(file, huge);
      const d = loadScenarioFile(file, 'huge.yaml');
      expect(d.errors.map((e) => `${e.file}:${e.line}:${e.column}: ${e.message}`)).toEqual([`huge.yaml:1:1: the file is ${Buffer.byteLength(huge)} bytes; a scenario file is at most ${SCENARIO_LIMITS.maxBytes} bytes`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
