/**
 * A real SIP client and the lab's emulated Communicator meet on the front end: after the seed, ocsuser1
 * and ocsuser2 are signed in through the lab's Communicator fleet; ocsuser2's Communicator signs out and
 * baresip 1.0.0 signs in as ocsuser2 on the same listener (`labNetwork(lab).sip('ocsfe01')`), and the
 * two exchange IMs through the pool. Needs baresip (`apt-get install -y baresip-core`),
 * as test/wire/sip.baresip.test.ts does.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { communicatorFleet } from '../../emulators/communicator/communicator.fleet.js';
import { labNetwork } from '../../emulators/network/lab.network.js';
import type { SipListening } from '../../emulators/ocs/ocs.sip.adapter.js';
import { Baresip, baresipAvailable } from '../support/wire-sip-baresip.js';
import { buildSeedLab, type SeedLab } from '../support/wire-sip.js';
import { eventually } from '../../sim/wire.js';

const available = baresipAvailable();
let env: SeedLab;
let sip: SipListening;
let dir: string;
const procs: Baresip[] = [];

beforeAll(async () => {
  if (!available) return;
  env = await buildSeedLab('seed-part3', { sipDigest: true });
  // The listener the fleet signed in on: the first SIP listener of the lab network, ocsfe01's.
  sip = await labNetwork(env.lab).sip('ocsfe01');
  dir = mkdtempSync(join(tmpdir(), 'ocslab-communicator-baresip-'));
  writeFileSync(join(dir, 'ca.pem'), env.caPem);
}, 60_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await env?.lab.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('baresip and the emulated Communicator on the same front end', () => {
  it('has baresip installed (apt-get install baresip-core; .ci/run does)', () => {
    expect(available).toBe(true);
  });

  it("exchanges IMs between ocsuser1's Communicator and baresip signed in as ocsuser2", async () => {
    const fleet = communicatorFleet(env.lab);
    const ocsuser1 = fleet.get('ocsuser1');
    const ocsuser2 = fleet.get('ocsuser2');
    if (!ocsuser1 || !ocsuser2) throw new Error('the seed did not leave ocsuser1 and ocsuser2 with a Communicator');
    expect(fleet.state(ocsuser1).state).toBe('signedIn');
    expect(fleet.state(ocsuser1).context.frontEnd).toBe('ocsfe01');
    expect(sip.registrations()).toEqual(['sip:ocsuser1@example.com', 'sip:ocsuser2@example.com']);

    const [u1, u2] = env.users as [SeedLab['users'][number], SeedLab['users'][number]];
    // ocsuser2's Communicator signs out (ending its IM session with ocsuser1, which would otherwise carry
    // the next IM): baresip is then ocsuser2's only endpoint.
    await fleet.signOut(ocsuser2);
    const baresip = await Baresip.start({ dir: join(dir, u2.sam), sam: u2.sam, password: u2.password, aor: u2.aor, proxyPort: sip.tls.port, caFile: join(dir, 'ca.pem'), contact: u1.aor });
    procs.push(baresip);
    await baresip.waitFor(/ocsuser2@example\.com: \{0\/TLS\/v4\} 200 OK/);

    // Communicator → baresip: a new session goes to ocsuser2's endpoint, baresip's (which takes no IM
    // sessions, so Communicator falls back to a pager MESSAGE).
    const answer = await fleet.sendIm(ocsuser1, u2.aor, 'Hello baresip, from Communicator');
    expect(answer?.status).toBe(200);
    await baresip.waitFor(/Hello baresip, from Communicator/);

    // baresip → Communicator: the reply shows in ocsuser1's Communicator.
    const before = fleet.state(ocsuser1).context.inbox.length;
    await baresip.command('/message Reply from baresip to Communicator');
    const arrived = await eventually(() => fleet.state(ocsuser1).context.inbox.slice(before).some((m) => m.body === 'Reply from baresip to Communicator'));
    expect(arrived, `ocsuser1's inbox: ${JSON.stringify(fleet.state(ocsuser1).context.inbox)}\nbaresip log:\n${baresip.log.slice(-2000)}`).toBe(true);
    const got = fleet.state(ocsuser1).context.inbox.slice(before).find((m) => m.body === 'Reply from baresip to Communicator');
    expect(got?.from).toBe('sip:ocsuser2@example.com');
  }, 40_000);
});
