/**
 * The Communicator's NTLM against the front end on real sockets: sign-in with the handshake, signed
 * requests afterwards, a wrong password, and an association that expires and is authenticated again
 * on the next refresh, as the real client does (communicator.security.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSipFrontEnd, type SipListening } from '../ocs/ocs.sip.adapter.js';
import { IdSource } from '../../sim/ids.js';
import { buildSeedLab, type SeedLab } from '../../test/support/wire-sip.js';
import { openSocket, SipSession } from './communicator.wire.js';

let env: SeedLab;
let sip: SipListening;
const LIFETIME_MS = 1500;
const sessions: SipSession[] = [];

beforeAll(async () => {
  env = await buildSeedLab();
  sip = await startSipFrontEnd(env.lab, { ntlmLifetimeMs: LIFETIME_MS });
}, 60_000);

afterAll(async () => {
  for (const s of sessions) await s.close();
  await sip?.stop();
  await env?.lab.close();
});

async function session(i: number, password: string): Promise<SipSession> {
  const u = env.users[i] as SeedLab['users'][number];
  const socket = await openSocket({ host: '127.0.0.1', port: sip.tcp.port });
  const ids = new IdSource(`ntlm-test-${i}`);
  const s = new SipSession({
    aor: u.aor,
    account: u.sam,
    password,
    connected: { socket, candidate: { host: 'sip.example.com', port: sip.tcp.port, transport: 'TCP', via: 'manual', addresses: ['127.0.0.1'] }, attempt: { host: 'sip.example.com', address: '127.0.0.1', port: sip.tcp.port, transport: 'TCP' } },
    ntlm: { domain: 'CORP', workstation: 'TESTPC', bytes: (n) => ids.bytes(n), now: () => Date.now() },
  });
  sessions.push(s);
  return s;
}

describe('Communicator with NTLM', () => {
  it('signs in where only NTLM is offered, provisions over the signed association, and is refused with a wrong password', async () => {
    const good = await session(0, (env.users[0] as SeedLab['users'][number]).password);
    expect((await good.register(300)).status).toBe(200);
    expect(sip.registrations()).toContain((env.users[0] as SeedLab['users'][number]).aor);
    const provisioned = await good.provision();
    expect(provisioned.answer.status).toBe(200);
    const bad = await session(1, 'Not-the-Passw0rd');
    expect((await bad.register(300)).status).toBe(401);
  });

  it('authenticates again when the association has expired, on the refresh that finds it so', async () => {
    const s = await session(1, (env.users[1] as SeedLab['users'][number]).password);
    expect((await s.register(300)).status).toBe(200);
    await new Promise((r) => setTimeout(r, LIFETIME_MS + 100));
    // The refresh meets 401 and the offers; the client answers the CHALLENGE and the REGISTER goes through.
    expect((await s.refresh()).status).toBe(200);
    // And the new association signs what follows.
    expect((await s.provision()).answer.status).toBe(200);
  });
});
