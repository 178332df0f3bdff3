/**
 * baresip 1.0.0 against the front end over TLS: ocsuser1 and ocsuser2 register with Digest and exchange
 * MESSAGEs. baresip is required (`.ci/run` installs baresip-core): without it these tests fail rather than skip.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSipFrontEnd, type SipListening } from '../../emulators/ocs/ocs.sip.adapter.js';
import { Baresip, baresipAvailable } from '../support/wire-sip-baresip.js';
import { buildSeedLab, type SeedLab } from '../support/wire-sip.js';

const available = baresipAvailable();
let env: SeedLab;
let sip: SipListening;
let dir: string;
const procs: Baresip[] = [];

beforeAll(async () => {
  if (!available) return;
  env = await buildSeedLab();
  sip = await startSipFrontEnd(env.lab, { digest: true });
  dir = mkdtempSync(join(tmpdir(), 'ocslab-baresip-'));
  writeFileSync(join(dir, 'ca.pem'), env.caPem);
}, 60_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await sip?.stop();
  await env?.lab.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('baresip over TLS', () => {
  it('has baresip installed (apt-get install baresip-core; .ci/run does)', async () => {
    expect(available).toBe(true);
  });

  it('registers ocsuser1 and ocsuser2 and exchanges MESSAGEs through the front end', async () => {
    const [u1, u2] = env.users as [SeedLab['users'][number], SeedLab['users'][number]];
    const start = (u: typeof u1, peer: typeof u1) =>
      Baresip.start({ dir: join(dir, u.sam), sam: u.sam, password: u.password, aor: u.aor, proxyPort: sip.tls.port, caFile: join(dir, 'ca.pem'), contact: peer.aor });
    const b2 = await start(u2, u1);
    procs.push(b2);
    const b1 = await start(u1, u2);
    procs.push(b1);
    await b2.waitFor(/ocsuser2@example\.com: \{0\/TLS\/v4\} 200 OK/);
    await b1.waitFor(/ocsuser1@example\.com: \{0\/TLS\/v4\} 200 OK/);
    expect(sip.registrations()).toEqual(['sip:ocsuser1@example.com', 'sip:ocsuser2@example.com']);

    await b1.command('/message Hello ocsuser2 from baresip');
    await b2.waitFor(/Hello ocsuser2 from baresip/);
    await b1.waitFor(/SIP\/2\.0 200 OK[\s\S]*CSeq: \d+ MESSAGE/);

    await b2.command('/message Reply from ocsuser2');
    await b1.waitFor(/Reply from ocsuser2/);
  }, 30_000);
});
