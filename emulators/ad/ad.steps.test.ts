import { describe, expect, it } from 'vitest';
import { traceText } from '../../sim/journal.js';
import { Lab } from '../../sim/lab.js';
import type { StepDefinition } from '../../sim/steps.js';
import { topologyWithUsers } from './ad.testkit.js';
import { adEmulator, adSteps } from './index.js';
import { stepContext } from '../../test/support/step-context.js';

const topology = topologyWithUsers();

function runner(seed = 'steps') {
  const lab = new Lab(topology, [adEmulator], { seed });
  const step = (name: string, params: Record<string, unknown> = {}) => {
    const def = adSteps.find((s) => s.name === name) as StepDefinition;
    const parsed = def.params.parse(params);
    return (async () => ({ title: def.title(parsed, topology), ...(await def.emulated(stepContext(lab), parsed)) }))();
  };
  return { lab, step };
}

describe('AD steps', () => {
  it('prepare the forest the way the deployment guide orders it', async () => {
    const { lab, step } = runner();
    expect(await step('ad.schemaPrep')).toMatchObject({ ok: true, title: 'LCSCmd.exe /Forest /Action:SchemaPrep' });
    expect(await step('ad.prepState', { schema: 'Ready', dc: 'dc02' })).toMatchObject({ ok: false, reason: 'schema: expected Ready, found Not Ready' });
    expect(await step('ad.forestPrep', { dc: 'dc02' })).toMatchObject({ ok: false, reason: expect.stringContaining('the schema is not prepared') });
    expect(await step('ad.waitForReplication')).toMatchObject({ ok: true, details: ['converged after 15 s'] });
    const forest = await step('ad.forestPrep', { dc: 'dc02' });
    expect(forest).toMatchObject({ ok: true, title: 'LCSCmd.exe /Forest:corp.example.net /Action:ForestPrep /Global:configuration /GroupDomain:corp.example.net (against dc02)' });
    expect(await step('ad.forceReplication')).toMatchObject({ ok: true });
    expect(await step('ad.domainPrep')).toMatchObject({ ok: true, title: 'LCSCmd.exe /Domain:corp.example.net /Action:DomainPrep' });
    await step('ad.waitForReplication', { limit: '15m' });
    expect(await step('ad.prepState', { schema: 'Ready', forest: 'Ready', domain: 'Ready', dc: 'dc02' })).toMatchObject({ ok: true });
    expect((await step('ad.objectExists', { dn: 'CN=Global Settings,CN=RTC Service,CN=Services,CN=Configuration,DC=corp,DC=example,DC=net' })).ok).toBe(true);
    expect((await step('ad.objectExists', { dn: 'CN=RTC Service,CN=Microsoft,CN=System,DC=corp,DC=example,DC=net', exists: false })).ok).toBe(true);
    await lab.close();
  });

  it('check attributes and binds, saying what they expected and found', async () => {
    const { lab, step } = runner();
    expect((await step('ad.attribute', { user: 'ocsuser1', attribute: 'mail', equals: 'ocsuser1@example.com' })).ok).toBe(true);
    expect(await step('ad.attribute', { user: 'ocsuser1', attribute: 'displayName', contains: 'User 9' })).toMatchObject({ ok: false, reason: 'expected a value containing "User 9", found OCS User 1' });
    expect((await step('ad.attribute', { user: 'ocsuser1', attribute: 'title', absent: true })).ok).toBe(true);
    expect((await step('ad.authenticate', { user: 'ocsuser1', password: 'Us3r1-P@ss', as: 'upn' })).ok).toBe(true);
    expect((await step('ad.authenticate', { user: 'ocsuser1', password: 'nope', expect: 'invalidCredentials' })).ok).toBe(true);
    expect(await step('ad.authenticate', { user: 'ocsuser1', password: 'nope' })).toMatchObject({ ok: false, reason: 'expected success, found invalidCredentials' });
    expect((await step('ad.setPassword', { user: 'ocsuser2', password: 'Fresh-Pass-7' })).ok).toBe(true);
    expect((await step('ad.createUser', { sam: 'RTCService', password: 'Svc-Pass-2009', passwordNeverExpires: true })).ok).toBe(true);
    expect(() => step('ad.attribute', { attribute: 'mail' })).toThrow();
    await lab.close();
  });

  it('give byte-identical journals for the same seed', async () => {
    const trace = async (seed: string) => {
      const { lab, step } = runner(seed);
      await step('ad.schemaPrep');
      await step('ad.waitForReplication');
      await step('ad.forestPrep');
      await lab.close();
      return traceText(lab.journal.entries);
    };
    const a = await trace('x');
    expect(a).toBe(await trace('x'));
    expect(a).not.toBe(await trace('y'));
  });
});
