import { describe, it, expect } from 'vitest';
import { compile, run, shippedDocuments } from './support/shipped.js';

describe('the shipped scenarios', () => {
  const ids = shippedDocuments().map((d) => d.header?.id ?? d.file);

  it('are at least the seed Part 2, Part 3 and a full deployment', async () => {
    expect(ids).toEqual(expect.arrayContaining(['part2-prepare-environment', 'seed-part3', 'full-deployment']));
  });

  for (const id of ids) {
    it(`${id} runs with every step and expectation holding`, async () => {
      const report = await run(id);
      const notPassed = [...report.setup, ...report.steps].filter((s) => s.status !== 'passed').map((s) => `${s.index}. ${s.title}: ${s.reason ?? s.status}`);
      expect(notPassed).toEqual([]);
      expect(report.status).toBe('passed');
    });
  }
});

const seedReport = await run('seed-part3');

describe('the seed rehearsal (Part 3 on top of Part 2)', () => {
  const report = seedReport;
  const trace = report.trace;

  it('ends with a pool whose front end has started its services', async () => {
    expect(trace).toContain('"type":"ocs.poolCreated"');
    expect(trace).toMatch(/"type":"host.serviceStateChanged","host":"ocsfe01","service":"RtcSrv","displayName":"Office Communications Server Front-End","from":"Start Pending","to":"Running"/);
    const system = report.eventLogs['ocsfe01']?.filter((e) => e.log === 'System' && e.eventId === 7036) ?? [];
    expect(system.map((e) => e.message)).toContain('The Office Communications Server Front-End service entered the running state.');
  });

  it('ends with ocsuser1 and ocsuser2 SIP-enabled by their e-mail addresses', async () => {
    expect(trace).toContain('sip:ocsuser1@example.com');
    expect(trace).toContain('sip:ocsuser2@example.com');
    const expectations = report.steps.filter((s) => s.phase === 'expect').map((s) => [s.title, s.status]);
    expect(expectations).toContainEqual(['ocsuser1 is enabled for Communications Server', 'passed']);
    expect(expectations).toContainEqual(['ocsuser2 is enabled for Communications Server', 'passed']);
  });

  it('issues the pool certificate for the pool FQDN, naming it and sip.example.com in the SAN', async () => {
    const issued = report.steps.flatMap((s) => s.changes).find((c) => c.startsWith('corp-DC01-CA issued certificate'));
    expect(issued).toMatch(/CN=pool01\.corp\.example\.net.*SAN pool01\.corp\.example\.net, sip\.example\.com/);
  });

  it('takes simulated time where the real deployment takes time, and no wall time to speak of', async () => {
    expect(report.totals.simulatedMs).toBeGreaterThan(5 * 60_000);
    const start = report.steps.find((s) => s.name === 'ocs.startServices');
    expect(start?.durationMs).toBeGreaterThan(0);
  });
});

describe('determinism', () => {
  it('gives a byte-identical trace for the same scenario and seed', async () => {
    expect((await run('seed-part3', '7')).trace).toBe((await run('seed-part3', '7')).trace);
  });

  it('gives other GUIDs, serials and thumbprints for another seed, and the same outcome', async () => {
    const a = await run('seed-part3', '7');
    const b = await run('seed-part3', '8');
    expect(a.trace).not.toBe(b.trace);
    expect(a.status).toBe('passed');
    expect(b.status).toBe('passed');
  });
});

describe('a step whose preconditions are not met', () => {
  it('fails as a step, with the wizard message and the position, not as a crash', async () => {
    const scenario = `
id: too-early
title: Add the server before the pool exists
topology: default
steps:
  - action: ad.schemaPrep
  - action: ad.forceReplication
  - action: ad.forestPrep
  - action: ad.forceReplication
  - action: ad.domainPrep
  - action: ad.forceReplication
  - action: host.installFeatures
    server: ocsfe01
    features: [Web-Server, Web-Windows-Auth, Web-Mgmt-Compat, Web-Metabase, Web-WMI, Web-Lgcy-Scripting, Web-Lgcy-Mgmt-Console]
  - action: ocs.addServerToPool
    server: ocsfe01
    pool: pool01
    passwords: { RTCService: "a-Str0ng-pw!", RTCComponentService: "a-Str0ng-pw!", RTCGuestAccessUser: "a-Str0ng-pw!" }
  - check: ocs.serverState
    server: ocsfe01
    state: activated
`;
    const report = await run(scenario);
    expect(report.status).toBe('failed');
    const add = report.steps.find((s) => s.name === 'ocs.addServerToPool');
    const check = report.steps.find((s) => s.name === 'ocs.serverState');
    expect(add?.status).toBe('failed');
    expect(add?.reason).toMatch(/pool01/);
    expect(add?.position).toMatchObject({ file: 'inline.yaml', line: 15, column: 5 });
    expect(check?.status).toBe('skipped');
  });

  it('is told apart from a name that is not in the topology, which is an input error with the valid choices', async () => {
    expect(() => compile('id: x\ntitle: x\ntopology: default\nsteps:\n  - action: ocs.createPool\n    pool: pool9\n')).toThrow(/inline.yaml:6:11: .*pool9.*pool01/);
  });
});

describe('a pool of two front ends', () => {
  it('shares its users: the load balancer spreads the sign-ins, and an IM crosses from one front end to the other', async () => {
    const report = await run('front-end-failover');
    expect(report.status).toBe('passed');
    const signIns = report.trace.split('\n').filter((l) => l.includes('"type":"communicator.signedIn"'));
    const where = signIns.map((l) => /\((ocsfe0\d)\)/.exec(l)?.[1]);
    // Before ocsfe01 is shut down, one user on each front end; after, both on ocsfe02.
    expect(where).toEqual(['ocsfe01', 'ocsfe02', 'ocsfe02', 'ocsfe02']);
    const crossing = report.steps.find((s) => s.name === 'communicator.sendIm');
    expect(crossing?.status).toBe('passed');
  });
});
