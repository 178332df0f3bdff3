import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../support/scenarios.js';

/** The real `ocslab` binary with the real registry and the shipped scenarios, as an operator runs it. */
function ocslab(args: string[]) {
  const r = spawnSync(process.execPath, [join(projectRoot, 'bin', 'ocslab.js'), ...args], { cwd: projectRoot, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let dir: string;
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ocslab-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ocslab with bad input', () => {
  it('reports every problem of a scenario with file:line:column and the valid choices, exit 2, no stack trace', () => {
    const p = file(
      'bad.yaml',
      [
        'id: bad-one',
        'title: Bad',
        'topology: default',
        'steps:',
        '  - action: ocs.addServerToPol',
        '    server: ocsfe01',
        '  - action: ocs.enableUsers',
        '    users: [ocsuser1, ocsuser9]',
        '    pool: pool01',
        '    signInName: email',
        '  - action: host.setFirewall',
        '    server: ocsfe01',
        '    enabled: "yes"',
        '',
      ].join('\n'),
    );
    const r = ocslab(['run', p]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${p}:5:13: unknown step "ocs.addServerToPol"`);
    expect(r.stderr).toContain('ocs.addServerToPool');
    expect(r.stderr).toContain(`${p}:8:23: no user "ocsuser9" in the topology`);
    expect(r.stderr).toContain('valid: ocsuser1, ocsuser2');
    expect(r.stderr).toContain(`${p}:13:14: host.setFirewall parameter "enabled": expected boolean, found "yes"`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('reports malformed YAML with its position, exit 2', () => {
    const p = file('malformed.yaml', 'id: x\ntitle: [unclosed\nsteps: []\n');
    const r = ocslab(['run', p]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`${p}:\\d+:\\d+: `));
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 1 when an expectation does not hold, and writes the JUnit and trace files it was asked for', () => {
    const p = file(
      'expect-fails.yaml',
      ['id: expect-fails', 'title: A wrong expectation', 'from: part2-prepare-environment', 'steps: []', 'expect:', '  - check: ocs.serverState', '    server: ocsfe01', '    state: servicesStarted', ''].join('\n'),
    );
    const junit = join(dir, 'out.xml');
    const trace = join(dir, 'out.jsonl');
    const r = ocslab(['run', p, '--junit', junit, '--trace', trace]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('expected servicesStarted');
    expect(readFileSync(junit, 'utf8')).toMatch(/<failure message="[^"]*servicesStarted/);
    expect(existsSync(trace) && readFileSync(trace, 'utf8').split('\n')[0]).toMatch(/^\{"seq":1,/);
  });

  it('rehearses the seed by default and exits 0', () => {
    const r = ocslab(['run', '--quiet']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('PASSED seed-part3');
  });
});
