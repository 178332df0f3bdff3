/**
 * The checks against a real domain controller (issue 10): Samba AD DC provisioned as the lab's forest.
 * The same check definitions the lab runs observe Samba over LDAP and DNS and are judged the same way;
 * the read-only replay of Part 2 and its parity with the lab are computed from those observations.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../support/scenarios.js';
import { registry } from '../../emulators/index.js';
import { parity } from '../../sim/parity.js';
import type { Probes } from '../../sim/probes.js';
import { WireProbes } from '../../sim/probes.wire.js';
import { replayScenario, ReplayInputError, targetDialer } from '../../sim/replay.js';
import { readTargetFile, type TargetConfig } from '../../sim/target-file.js';
import type { StepDefinition } from '../../sim/steps.js';
import { compile } from '../support/shipped.js';
import { dnsRecordValue } from '../../emulators/dns/dns.plan.js';
import { forgetProvision, SAMBA_ADDRESS, SAMBA_ADMIN_PASSWORD, sambaInstalled, startSambaDc, type SambaDc } from '../support/samba.js';

/** The target file of a DC: StartTLS (the default) with Samba's own CA, generated at its first start. */
const targetYaml = (dir: string) => `target: samba-ci
hosts:
  dc01: { address: ${SAMBA_ADDRESS} }
credentials:
  administrator:
    user: 'CORP\\Administrator'
    password: { env: OCSLAB_SAMBA_PASSWORD }
trust: { caFile: ${join(dir, 'private', 'tls', 'ca.pem')} }
`;

/** The same target for the command line, with the lab's documentation OIDs allowed (a throw-away forest). */
const targetFileYaml = (dir: string) => `${targetYaml(dir)}schema: { labOids: true }\n`;

/** Users of the seed created and enabled the way Part 3 does it, after Part 2. */
const USERS_SCENARIO = `id: samba-users
title: "Create and enable the seed's users"
from: part2-prepare-environment
steps:
  - action: ad.createUser
    user: ocsuser1
  - action: ad.createUser
    user: ocsuser2
  - action: ocs.enableUsers
    users: [ocsuser1, ocsuser2]
    pool: pool01
    signInName: email
  - check: ad.attribute
    user: ocsuser1
    attribute: msRTCSIP-PrimaryUserAddress
    equals: sip:ocsuser1@example.com
  - check: ad.attribute
    user: ocsuser2
    attribute: msRTCSIP-UserEnabled
    equals: "TRUE"
  - check: ad.authenticate
    user: ocsuser1
    password: Us3r1-P@ss
`;

function ocslab(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [join(projectRoot, 'bin', 'ocslab.js'), ...args], { cwd: projectRoot, env: { ...process.env, NO_COLOR: '1', ...env }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The directory as it was last written: every entry of the three naming contexts with its uSNChanged,
 * and the DC's highestCommittedUSN. A write anywhere moves one of them; a read or a bind moves neither.
 */
function directoryState(): string {
  const base = ['-LLL', '-o', 'ldif-wrap=no', '-x', '-H', `ldap://${SAMBA_ADDRESS}`, '-D', 'CORP\\Administrator', '-w', SAMBA_ADMIN_PASSWORD];
  const dump = (b: string, scope: string, attrs: string[]) => spawnSync('ldapsearch', [...base, '-s', scope, '-b', b, '(objectClass=*)', ...attrs], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).stdout;
  return [dump('', 'base', ['highestCommittedUSN']), ...['DC=corp,DC=example,DC=net', 'CN=Configuration,DC=corp,DC=example,DC=net'].map((b) => dump(b, 'sub', ['uSNChanged']))].join('\n');
}

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
    const read = readTargetFile('samba-target.yaml', targetYaml(dc.dir), topology);
    if (!read.ok) throw new Error(JSON.stringify(read.errors));
    target = read.target;
    probes = new WireProbes({ target: target.name, topology, dialer: targetDialer(target, topology), admin: { name: target.administrator.user, password: SAMBA_ADMIN_PASSWORD }, ldapTls: { mode: 'starttls', ca: readFileSync(join(dc.dir, 'private', 'tls', 'ca.pem'), 'utf8') } });
  }, 180_000);

  afterAll(async () => {
    await dc?.stop();
    await forgetProvision();
  }, 30_000);

  it('sees a fresh forest as LCSCmd would: schema, forest and domain Not Ready (the descriptors read over LDAP)', async () => {
    const r = await check(probes, 'ad.prepState', { schema: 'Not Ready', forest: 'Not Ready', domain: 'Not Ready' });
    expect(r).toMatchObject({ ok: true, details: ['Schema Setting: Not Ready', 'Forest Setting: Not Ready', 'Domain Setting: Not Ready'] });
    expect(r.observation).toEqual({ schema: { version: null, globalContainer: false, userMayContain: false }, forest: { globalSettings: null, groups: 0 }, domain: { prepared: 0, of: 4 } });
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
    expect(before.steps.find((s) => s.name === 'ocs.poolState')).toMatchObject({ status: 'failed', reason: 'expected the pool to exist, found it absent' });
    expect(before.steps.find((s) => s.name === 'sql.databaseExists')).toMatchObject({ status: 'superseded' });
    expect(new Set(before.steps.filter((s) => s.kind === 'action').map((s) => s.status))).toEqual(new Set(['planned', 'operator']));
    expect(before.status).toBe('failed');

    // The operator adds the pool's A record in the AD-integrated zone; the replay sees it.
    // (in the AD-integrated zone, as the DNS server stores it: a dnsNode, written here with ldapmodify)
    const record = dnsRecordValue({ name: 'pool01.corp.example.net', type: 'A', ttl: 3600, data: '127.0.10.30' }).toString('base64');
    await dc?.ldapmodify(`dn: DC=pool01,DC=corp.example.net,CN=MicrosoftDNS,DC=DomainDnsZones,DC=corp,DC=example,DC=net\nchangetype: add\nobjectClass: top\nobjectClass: dnsNode\ndnsRecord:: ${record}\n`);
    const after = await replayScenario({ scenario, registry, target, password: SAMBA_ADMIN_PASSWORD });
    expect(after.steps.find((s) => s.name === 'dns.resolve')).toMatchObject({ status: 'passed', details: ['pool01.corp.example.net A 127.0.10.30'] });
    expect(after.status).toBe('failed');

    const p = parity(after.rehearsal, after);
    expect(p.rows.find((r) => r.name === 'dns.resolve')).toMatchObject({ verdict: 'same' });
    // The pool was created on the lab, not on Samba: the parity report shows both sides.
    expect(p.rows.find((r) => r.name === 'ocs.poolState')).toMatchObject({ verdict: 'different', lab: { observation: { exists: true } }, target: { observation: { exists: false } } });
    expect(p.rows.find((r) => r.name === 'ad.prepState')).toMatchObject({ verdict: 'not compared', why: 'superseded' });
  }, 60_000);

  it('stops before asking anything when the credentials are wrong', async () => {
    await expect(replayScenario({ scenario: compile('part2-prepare-environment'), registry, target, password: 'wrong' })).rejects.toThrow(ReplayInputError);
  });
});

describe.skipIf(!sambaInstalled())('replaying the deployment onto a real domain controller (Samba AD DC)', () => {
  let dc: SambaDc | undefined;
  let dir = '';
  const env = { OCSLAB_SAMBA_PASSWORD: SAMBA_ADMIN_PASSWORD };

  beforeAll(async () => {
    dc = await startSambaDc();
    dir = mkdtempSync(join(tmpdir(), 'ocslab-replay-'));
    writeFileSync(join(dir, 'samba-target.yaml'), targetFileYaml(dc.dir));
    writeFileSync(join(dir, 'samba-users.yaml'), USERS_SCENARIO);
  }, 180_000);

  afterAll(async () => {
    await dc?.stop();
    await forgetProvision();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('plans Part 2 without writing anything: the directory is what it was', () => {
    const before = directoryState();
    expect(before).toContain('highestCommittedUSN');
    const r = ocslab(['run', 'part2-prepare-environment', '--target', join(dir, 'samba-target.yaml')], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('planned      part2-prepare-environment steps 2 LCSCmd.exe /Forest /Action:SchemaPrep');
    expect(r.stdout).toContain('LDAP add CN=ms-RTC-SIP-PrimaryUserAddress,CN=Schema,CN=Configuration,DC=corp,DC=example,DC=net (top, attributeSchema)');
    expect(r.stdout).toMatch(/LDAP modify CN=Users,DC=corp,DC=example,DC=net: nTSecurityDescriptor \(DACL\) grant .*RTCUniversalUserAdmins ReadProperty\+WriteProperty on RTCPropertySet inherited by user/);
    expect(r.stdout).toMatch(/failed +part2-prepare-environment expect 16 nslookup -type=A pool01\.corp\.example\.net: expected answers \[127\.0\.10\.30\], found \[\]/);
    expect(directoryState()).toBe(before);
  }, 120_000);

  it('applies Part 2 step by step: SchemaPrep, ForestPrep, DomainPrep and the pool record, and every AD and DNS check of Part 2 passes on Samba', () => {
    const r = ocslab(['run', 'part2-prepare-environment', '--target', join(dir, 'samba-target.yaml'), '--apply', '--yes', '--json'], env);
    expect(r.code).toBe(0);
    const { replay, parity: p } = JSON.parse(r.stdout) as { replay: { status: string; steps: Array<{ name: string; status: string; index: number }> }; parity: { same: number; different: number; rows: Array<{ name: string; verdict: string }> } };
    const checks = replay.steps.filter((s) => ['ad.prepState', 'dns.resolve', 'ocs.poolState'].includes(s.name));
    expect(checks.map((s) => `${s.index} ${s.status}`)).toEqual(['1 passed', '4 passed', '9 passed', '15 passed', '16 passed']);
    expect(replay.steps.filter((s) => s.status === 'not applied' || s.status === 'failed')).toEqual([]);
    expect(replay.steps.filter((s) => s.name === 'ad.schemaPrep' || s.name === 'ad.forestPrep' || s.name === 'ad.domainPrep').map((s) => s.status)).toEqual(['applied', 'applied', 'applied']);
    // The checks both sides observe agree: the lab and Samba saw the same.
    expect(p.different).toBe(0);
    expect(p.same).toBe(5);
  }, 180_000);

  it('creates and enables ocsuser1 and ocsuser2 the same way, and ldapsearch sees their msRTCSIP-* attributes', () => {
    const r = ocslab(['run', join(dir, 'samba-users.yaml'), '--target', join(dir, 'samba-target.yaml'), '--apply', '--yes'], env);
    expect(r.stdout).toMatch(/applied +samba-users steps 3 Enable ocsuser1, ocsuser2 for Communications Server on pool01/);
    expect(r.stdout).toMatch(/passed +samba-users steps 4 msRTCSIP-PrimaryUserAddress of ocsuser1/);
    expect(r.stdout).toMatch(/passed +samba-users steps 6 Bind as CORP\\ocsuser1: expect success/);
    // Part 2 was applied by the test before: its first checks describe a forest Samba has left behind,
    // and say so (step by step, a check is judged on the target as it is when its turn comes).
    expect(r.stdout).toMatch(/failed +part2-prepare-environment setup 1 LCSCmd CheckSchemaPrepState .*: schema: expected Not Ready, found Ready/);
    expect(r.stdout).toMatch(/Parity of samba-users: lab vs samba-ci: 6 same, 2 different, 1 not compared/);
    expect(r.code).toBe(1);
    const search = spawnSync('ldapsearch', ['-LLL', '-o', 'ldif-wrap=no', '-x', '-H', `ldap://${SAMBA_ADDRESS}`, '-D', 'CORP\\Administrator', '-w', SAMBA_ADMIN_PASSWORD, '-b', 'DC=corp,DC=example,DC=net', '(msRTCSIP-UserEnabled=TRUE)', 'sAMAccountName', 'msRTCSIP-PrimaryUserAddress', 'msRTCSIP-PrimaryHomeServer'], { encoding: 'utf8' });
    expect(search.stdout).toContain('msRTCSIP-PrimaryUserAddress: sip:ocsuser1@example.com');
    expect(search.stdout).toContain('msRTCSIP-PrimaryUserAddress: sip:ocsuser2@example.com');
    expect(search.stdout).toMatch(/msRTCSIP-PrimaryHomeServer: CN=LC Services,CN=Microsoft,CN=pool01,CN=Pools,CN=RTC Service,CN=Services,CN=Configuration,DC=corp,DC=example,DC=net/);
    // Again: the accounts are there, so they are left as they are (their passwords are not reset).
    const again = ocslab(['run', join(dir, 'samba-users.yaml'), '--target', join(dir, 'samba-target.yaml'), '--apply', '--yes'], env);
    expect(again.stdout).toContain('skipped: LDAP add CN=OCS User1,CN=Users,DC=corp,DC=example,DC=net (top, person, organizationalPerson, user)');
    expect(again.stdout).toContain('exists already; left as it is');
    expect(again.stdout).toMatch(/passed +samba-users steps 6 Bind as CORP\\ocsuser1: expect success/);
  }, 180_000);

  it('stops with exit 2 before writing when the password is wrong, and reports a host the topology lacks at file:line:column', () => {
    const wrong = ocslab(['run', 'part2-prepare-environment', '--target', join(dir, 'samba-target.yaml'), '--apply', '--yes'], { OCSLAB_SAMBA_PASSWORD: 'not-it' });
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('the directory refused CORP\\Administrator: LDAP error 49');
    // StartTLS without the DC's CA: its certificate is not trusted, and the run says so before anything else.
    writeFileSync(join(dir, 'untrusted.yaml'), targetYaml(dc?.dir ?? '').replace(/^trust: .*\n/m, ''));
    const untrusted = ocslab(['run', 'part2-prepare-environment', '--target', join(dir, 'untrusted.yaml')], env);
    expect(untrusted.code).toBe(2);
    expect(untrusted.stderr).toMatch(/the domain controller's certificate was not accepted \(.+\); give its CA in trust\.caFile/);
    writeFileSync(join(dir, 'typo.yaml'), targetYaml(dc?.dir ?? '').replace('dc01:', 'dc1:'));
    const typo = ocslab(['run', 'part2-prepare-environment', '--target', join(dir, 'typo.yaml')], env);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/typo\.yaml:3:3: hosts: the topology has no host or pool "dc1"; did you mean "dc01"\?/);
  }, 60_000);
});

