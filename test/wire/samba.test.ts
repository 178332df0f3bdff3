/**
 * The checks against a real domain controller (issue 10): Samba AD DC provisioned as the lab's forest.
 * The same check definitions the lab runs observe Samba over LDAP and DNS and are judged the same way;
 * the read-only replay of Part 2 and its parity with the lab are computed from those observations.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registry } from '../../emulators/index.js';
import { parity } from '../../sim/parity.js';
import type { Probes } from '../../sim/probes.js';
import { WireProbes } from '../../sim/probes.wire.js';
import { replayScenario, ReplayInputError, targetDialer } from '../../sim/replay.js';
import { runScenario } from '../../sim/runner.js';
import { readTargetFile, type TargetConfig } from '../../sim/target-file.js';
import type { StepDefinition } from '../../sim/steps.js';
import { compile } from '../support/shipped.js';
import { forgetProvision, SAMBA_ADDRESS, SAMBA_ADMIN_PASSWORD, sambaInstalled, startSambaDc, type SambaDc } from '../support/samba.js';

const TARGET_YAML = `target: samba-ci
hosts:
  dc01: { address: ${SAMBA_ADDRESS} }
credentials:
  administrator:
    user: 'CORP\\Administrator'
    password: { env: OCSLAB_SAMBA_PASSWORD }
`;

const step = (name: string) => registry.steps.find((s) => s.name === name) as StepDefinition;

async function check(probes: Probes, name: string, params: Record<string, unknown>) {
  const def = step(name);
  const p = def.params.parse(params) as Record<string, unknown>;
  const probe = def.probe;
  if (!probe) throw new Error(`${name} has no probe`);
  const observation = await probe.observe(probes, p, compile('part2-prepare-environment').topology);
  return { ...probe.judge(observation, p, compile('part2-prepare-environment').topology), observation };
}

describe.skipIf(!sambaInstalled())('checks against a real domain controller (Samba AD DC)', () => {
  let dc: SambaDc | undefined;
  let target: TargetConfig;
  let probes: Probes;
  const topology = compile('part2-prepare-environment').topology;

  beforeAll(async () => {
    dc = await startSambaDc();
    const read = readTargetFile('samba-target.yaml', TARGET_YAML, topology);
    if (!read.ok) throw new Error(JSON.stringify(read.errors));
    target = read.target;
    probes = new WireProbes({ target: target.name, topology, dialer: targetDialer(target, topology), admin: { name: target.administrator.user, password: SAMBA_ADMIN_PASSWORD } });
  }, 180_000);

  afterAll(async () => {
    await dc?.stop();
    await forgetProvision();
  }, 30_000);

  it('sees a fresh forest as LCSCmd would: schema, forest and domain Not Ready (the descriptors read over LDAP)', async () => {
    const r = await check(probes, 'ad.prepState', { schema: 'Not Ready', forest: 'Not Ready', domain: 'Not Ready' });
    expect(r).toMatchObject({ ok: true, details: ['Schema Setting: Not Ready', 'Forest Setting: Not Ready', 'Domain Setting: Not Ready'] });
    expect(r.observation).toEqual({ schema: { attribute: false, globalContainer: false, userMayContain: false }, forest: { globalSettings: null, groups: 0 }, domain: { prepared: 0, of: 4 } });
  });

  it('binds as a real DC answers: success, and 49 with data 52e for a wrong password', async () => {
    expect(await check(probes, 'ad.authenticate', { user: 'Administrator', password: SAMBA_ADMIN_PASSWORD })).toMatchObject({ ok: true });
    const wrong = await check(probes, 'ad.authenticate', { user: 'Administrator', password: 'wrong', expect: 'invalidCredentials' });
    expect(wrong).toMatchObject({ ok: true, observation: { got: 'invalidCredentials', seen: expect.stringContaining('52e') } });
    expect(await check(probes, 'ad.attribute', { user: 'Administrator', attribute: 'sAMAccountName', equals: 'Administrator' })).toMatchObject({ ok: true });
    expect(await check(probes, 'ad.objectExists', { dn: 'CN=RTC Service,CN=Services,CN=Configuration,DC=corp,DC=example,DC=net', exists: false })).toMatchObject({ ok: true });
  });

  it('replays Part 2 read-only: the end-state checks judged on Samba, earlier ones superseded, actions left to the operator, parity with the lab', async () => {
    const scenario = compile('part2-prepare-environment');
    const before = await replayScenario({ scenario, registry, target, password: SAMBA_ADMIN_PASSWORD });
    const dns = before.steps.find((s) => s.name === 'dns.resolve');
    expect(dns).toMatchObject({ status: 'failed', reason: 'expected answers [127.0.10.30], found []' });
    expect(before.steps.filter((s) => s.name === 'ad.prepState').map((s) => s.status)).toEqual(['superseded', 'superseded', 'superseded']);
    expect(before.steps.find((s) => s.name === 'ocs.poolState')).toMatchObject({ status: 'not observed' });
    expect(before.steps.filter((s) => s.kind === 'action').every((s) => s.status === 'operator')).toBe(true);
    expect(before.status).toBe('failed');

    // The operator adds the pool's A record in the AD-integrated zone; the replay sees it.
    await dc?.tool(['dns', 'add', SAMBA_ADDRESS, 'corp.example.net', 'pool01', 'A', '127.0.10.30']);
    const after = await replayScenario({ scenario, registry, target, password: SAMBA_ADMIN_PASSWORD });
    expect(after.steps.find((s) => s.name === 'dns.resolve')).toMatchObject({ status: 'passed', details: ['pool01.corp.example.net A 127.0.10.30'] });
    expect(after.status).toBe('incomplete');

    const lab = await runScenario({ scenario, registry });
    const p = parity(lab, after);
    expect(p.rows.find((r) => r.name === 'dns.resolve')).toMatchObject({ verdict: 'same' });
    expect(p.rows.find((r) => r.name === 'ocs.poolState')).toMatchObject({ verdict: 'not compared', why: 'not observed' });
    expect(p.different).toBe(0);
  }, 60_000);

  it('stops before asking anything when the credentials are wrong', async () => {
    await expect(replayScenario({ scenario: compile('part2-prepare-environment'), registry, target, password: 'wrong' })).rejects.toThrow(ReplayInputError);
  });
});
