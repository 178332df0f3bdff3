/**
 * The Communicator client machine: which message a refused REGISTER gives (read from the wire as the
 * registrar writes it), each sign-in stage's failure with the work replaced by `.provide()`, and a real
 * failed sign-in on a full deployment that leaves everything the operator needs in the context.
 */
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor, fromPromise, waitFor } from 'xstate';
import { buildSeedLab, type SeedLab } from '../../test/support/wire-sip.js';
import { REGISTER_DIAGNOSTICS, type RegisterRefusal } from '../ocs/ocs.registrar.js';
import type { ParsedProvisioning } from '../ocs/ocs.provisioning.js';
import { communicatorSettings } from './communicator.client.js';
import { clientLines, communicatorClientMachine, ENHANCED_PRESENCE_DIAGNOSTIC, registerFailureKind, type ClientRuntime, type SignInRequest } from './communicator.client.machine.js';
import type { Candidate, DiscoveryResult } from './communicator.discovery.js';
import { COMMUNICATOR_MESSAGES, registerMessageKind } from './communicator.errors.js';
import { COMMUNICATOR_ID } from './communicator.events.js';
import { communicatorFleet } from './communicator.fleet.js';
import { clientOrigin } from './communicator.steps.js';
import type { ConnectOutcome, SipAnswer, TlsCheck } from './communicator.wire.js';

/** The status `decideRegister` (ocs.registrar.ts) answers each refusal with. */
const REFUSAL_STATUS: Record<RegisterRefusal, number> = {
  badCredentials: 401,
  unknownUri: 404,
  uriNotOwned: 403,
  userDisabled: 403,
  enhancedPresence: 403,
  notHomed: 480,
  poolDown: 503,
};

/** The `ms-diagnostics` value the SIP adapter writes for a refusal. */
const diagnosticsOf = (cause: RegisterRefusal): string => `${REGISTER_DIAGNOSTICS[cause].code};reason="${REGISTER_DIAGNOSTICS[cause].reason}";source="ocsfe01.corp.example.net"`;

describe('registerFailureKind: the message for a refused REGISTER', () => {
  it("reads the registrar's enhanced-presence ms-diagnostics code, whatever the status", () => {
    expect(ENHANCED_PRESENCE_DIAGNOSTIC).toBe(REGISTER_DIAGNOSTICS.enhancedPresence.code);
    expect(registerFailureKind({ status: 403, reason: 'Forbidden', diagnostics: diagnosticsOf('enhancedPresence') })).toBe('enhancedPresence');
    expect(registerFailureKind({ status: 480, reason: 'Temporarily Unavailable', diagnostics: ` ${ENHANCED_PRESENCE_DIAGNOSTIC};reason="x"` })).toBe('enhancedPresence');
  });

  it('gives the sign-in address/credentials message for 401, 403 and 404, and "temporarily unavailable" otherwise', () => {
    expect(registerFailureKind({ status: 401, reason: 'Unauthorized' })).toBe('credentials');
    expect(registerFailureKind({ status: 403, reason: 'Forbidden', diagnostics: diagnosticsOf('userDisabled') })).toBe('credentials');
    expect(registerFailureKind({ status: 404, reason: 'Not Found' })).toBe('credentials');
    expect(registerFailureKind({ status: 480, reason: 'Temporarily Unavailable' })).toBe('unavailable');
    expect(registerFailureKind({ status: 503, reason: 'Service Unavailable' })).toBe('unavailable');
    expect(registerFailureKind({ status: 408, reason: 'Request Timeout (no answer from the server)' })).toBe('unavailable');
    // A diagnostics header without a leading code is not the enhanced-presence refusal.
    expect(registerFailureKind({ status: 403, reason: 'Forbidden', diagnostics: 'reason="1011"' })).toBe('credentials');
  });

  it("agrees, for every refusal the registrar makes, with the server side's own message mapping", () => {
    for (const cause of Object.keys(REGISTER_DIAGNOSTICS) as RegisterRefusal[]) {
      const answer: SipAnswer = { status: REFUSAL_STATUS[cause], reason: 'x', diagnostics: diagnosticsOf(cause) };
      expect(registerFailureKind(answer), cause).toBe(registerMessageKind({ status: REFUSAL_STATUS[cause] as 401, reason: 'x', cause, detail: '' }));
    }
  });
});

// ---- the machine with its work replaced ------------------------------------------------------------

const candidate: Candidate = { host: 'sip.example.com', port: 5061, transport: 'TLS', via: 'srv', srv: '_sipinternaltls._tcp.example.com', addresses: ['127.0.10.30'] };
const found: DiscoveryResult = {
  mode: 'automatic',
  sipDomain: 'example.com',
  lookups: [
    { name: '_sipinternaltls._tcp.example.com', type: 'SRV', rcode: 'NOERROR', answers: ['0 0 5061 sip.example.com'] },
    { name: 'sip.example.com', type: 'A', rcode: 'NOERROR', answers: ['127.0.10.30'] },
  ],
  candidates: [candidate],
  events: [],
};
const certificate = { subject: 'CN=pool01.corp.example.net', sans: ['pool01.corp.example.net', 'sip.example.com'], issuer: 'CN=corp-DC01-CA', notBefore: '2009-07-06T09:06:45.000Z', notAfter: '2011-07-06T09:06:45.000Z' };
const trusted: TlsCheck = { ok: true, host: 'sip.example.com', server: 'ocsfe01', certificate };
const attempt = () => ({ host: 'sip.example.com', address: '127.0.10.30', port: 5061, transport: 'TLS' as const, server: 'ocsfe01' });
const connected = (): ConnectOutcome => {
  const a = attempt();
  return { ok: true, attempts: [a], connected: { socket: new Socket(), candidate, attempt: a, tls: trusted } };
};
const OK: SipAnswer = { status: 200, reason: 'OK' };
const provisioned: ParsedProvisioning = { absInternalServerUrl: 'https://pool01.corp.example.net/Abs/Int/Handler', groups: {} };

interface Stubs {
  discovery?: DiscoveryResult;
  connect?: ConnectOutcome;
  register?: SipAnswer;
  provision?: { answer: SipAnswer; provisioning?: ParsedProvisioning };
}

function stubbedClient(stubs: Stubs = {}) {
  const calls: string[] = [];
  const machine = communicatorClientMachine.provide({
    actors: {
      discover: fromPromise<DiscoveryResult, { runtime: ClientRuntime; request: SignInRequest }>(async () => {
        calls.push('discover');
        return stubs.discovery ?? found;
      }),
      connect: fromPromise<ConnectOutcome, { runtime: ClientRuntime; discovery: DiscoveryResult; signInAddress: string }>(async () => {
        calls.push('connect');
        return stubs.connect ?? connected();
      }),
      register: fromPromise<SipAnswer, { runtime: ClientRuntime }>(async () => {
        calls.push('register');
        return stubs.register ?? OK;
      }),
      provision: fromPromise<{ answer: SipAnswer; provisioning?: ParsedProvisioning }, { runtime: ClientRuntime }>(async () => {
        calls.push('provision');
        return stubs.provision ?? { answer: OK, provisioning: provisioned };
      }),
      close: fromPromise<void, { runtime: ClientRuntime }>(async () => {
        calls.push('close');
      }),
    },
  });
  const runtime: ClientRuntime = {
    user: 'ocsuser1',
    account: 'ocsuser1',
    network: { dns: async () => ({ host: '127.0.0.1', port: 53 }), dial: async () => ({ ok: false, error: 'timeout', detail: 'not used' }) },
    resolver: () => ({ rcode: 'NXDOMAIN', records: [] }),
    trust: { roots: [], now: () => Date.parse('2009-07-07T00:00:00Z') },
    origin: { address: '127.0.50.1', port: 50_000 },
  };
  const actor = createActor(machine, { input: { runtime } });
  actor.start();
  const signIn = async (password = 'Us3r1-P@ss') => {
    actor.send({ type: 'signIn', request: { signInAddress: 'ocsuser1@example.com', password, settings: { trustLabCa: true, aFallbacks: ['sipinternal', 'sip', 'sipexternal'], allowTcp: false } } });
    const s = await waitFor(actor, (x) => x.matches('signedIn') || x.matches('failed'), { timeout: 2000 });
    return { state: String(s.value), context: s.context };
  };
  return { actor, calls, signIn };
}

describe('the client machine, stage by stage', () => {
  it('signs in through discovering, connecting, registering and provisioning, and signs out', async () => {
    const c = stubbedClient();
    const r = await c.signIn();
    expect(r.state).toBe('signedIn');
    expect(c.calls).toEqual(['discover', 'connect', 'register', 'provision']);
    expect(r.context).toMatchObject({ signInAddress: 'ocsuser1@example.com', frontEnd: 'ocsfe01', transport: 'TLS', register: OK, provisioning: provisioned });
    expect(r.context.failure).toBeUndefined();
    expect(clientLines(r.context, r.state).at(-1)).toBe('Signed in over TLS (ocsfe01)');
    c.actor.send({ type: 'signOut' });
    await waitFor(c.actor, (s) => s.matches('signedOut'), { timeout: 2000 });
    expect(c.calls.at(-1)).toBe('close');
  });

  it('no login server found: fails at discovery with "temporarily unavailable" and never connects', async () => {
    const c = stubbedClient({ discovery: { ...found, lookups: [{ name: '_sipinternaltls._tcp.example.com', type: 'SRV', rcode: 'NXDOMAIN', answers: [] }], candidates: [] } });
    const r = await c.signIn();
    expect(r.state).toBe('failed');
    expect(r.context.failure).toMatchObject({ stage: 'discovery', kind: 'unavailable', message: COMMUNICATOR_MESSAGES.unavailable });
    expect(r.context.failure?.detail).toContain('example.com');
    expect(c.calls).toEqual(['discover']);
  });

  it('a certificate the client rejects fails at TLS with the certificate message; a failed handshake is "unavailable"', async () => {
    const rejected: TlsCheck = { ok: false, host: 'sip.example.com', server: 'ocsfe01', certificate, error: 'the certificate names CN=ocsfe01.corp.example.net; none matches sip.example.com' };
    const bad = stubbedClient({ connect: { ok: false, attempts: [{ ...attempt(), error: `certificate rejected: ${rejected.error ?? ''}` }], tls: rejected } });
    const r = await bad.signIn();
    expect(r.state).toBe('failed');
    expect(r.context.failure).toMatchObject({ stage: 'tls', kind: 'certificate', message: COMMUNICATOR_MESSAGES.certificate, detail: rejected.error });
    expect(r.context.tls).toEqual(rejected);
    expect(bad.calls).toEqual(['discover', 'connect']);

    const reset: TlsCheck = { ok: false, host: 'sip.example.com', server: 'ocsfe01', error: 'the TLS handshake failed (reset)', handshakeFailed: true };
    const r2 = await stubbedClient({ connect: { ok: false, attempts: [attempt()], tls: reset } }).signIn();
    expect(r2.context.failure).toMatchObject({ stage: 'tls', kind: 'unavailable', detail: 'the TLS handshake failed (reset)' });
  });

  it('no connection at all fails at connect with the last attempt\'s error', async () => {
    const r = await stubbedClient({ connect: { ok: false, attempts: [{ ...attempt(), error: 'connection refused by 127.0.10.30:5061' }] } }).signIn();
    expect(r.context.failure).toMatchObject({ stage: 'connect', kind: 'unavailable', detail: 'connection refused by 127.0.10.30:5061' });
    expect(r.context.attempts).toHaveLength(1);
  });

  it('a REGISTER refused for enhanced presence fails at register with its message, keeps the response and closes the connection', async () => {
    const refused: SipAnswer = { status: 403, reason: 'Forbidden', diagnostics: diagnosticsOf('enhancedPresence') };
    const c = stubbedClient({ register: refused });
    const r = await c.signIn();
    expect(r.state).toBe('failed');
    expect(r.context.register).toEqual(refused);
    expect(r.context.failure).toMatchObject({ stage: 'register', kind: 'enhancedPresence', message: COMMUNICATOR_MESSAGES.enhancedPresence });
    expect(r.context.failure?.detail).toBe(`SIP/2.0 403 Forbidden (ms-diagnostics: ${diagnosticsOf('enhancedPresence')})`);
    expect(c.calls).toEqual(['discover', 'connect', 'register', 'close']);
  });

  it('in-band provisioning refused after a 200 REGISTER is "temporarily unavailable"', async () => {
    const r = await stubbedClient({ provision: { answer: { status: 404, reason: 'Not Found' } } }).signIn();
    expect(r.state).toBe('failed');
    expect(r.context.failure).toMatchObject({ stage: 'register', kind: 'unavailable', detail: 'in-band provisioning: SIP/2.0 404 Not Found' });
  });

  it('a lost connection while signed in fails the client; signing in again starts afresh', async () => {
    const c = stubbedClient();
    await c.signIn();
    c.actor.send({ type: 'connection.lost', error: 'read ECONNRESET' });
    const s = await waitFor(c.actor, (x) => x.matches('failed'), { timeout: 2000 });
    expect(s.context.failure?.detail).toBe('the connection to the server was lost (read ECONNRESET)');
    const again = await c.signIn();
    expect(again.state).toBe('signedIn');
    expect(again.context.failure).toBeUndefined();
    expect(again.context.attempts).toHaveLength(1);
  });
});

// ---- a real failed sign-in -------------------------------------------------------------------------

describe('a failed sign-in on a full deployment', () => {
  let env: SeedLab;
  beforeAll(async () => {
    env = await buildSeedLab('full-deployment');
  }, 60_000);
  afterAll(async () => {
    await env?.lab.close();
  });

  it('with a wrong password: shows which lookup, which connection, which certificate and which response stopped it', async () => {
    const lab = env.lab;
    const fleet = communicatorFleet(lab);
    const client = fleet.client('ocsuser1', 'ocsuser1', clientOrigin(lab.topology, 'ocsuser1'));
    const settings = communicatorSettings(lab.get(COMMUNICATOR_ID), 'ocsuser1');
    const r = await fleet.signIn(client, 'ocsuser1@example.com', 'not-the-password', settings);
    const c = r.context;

    expect(r.state).toBe('failed');
    // Discovery: the SRV record for automatic sign-in, then its target's A record.
    expect(c.discovery?.mode).toBe('automatic');
    expect(c.discovery?.lookups).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: '_sipinternaltls._tcp.example.com', type: 'SRV', rcode: 'NOERROR', answers: ['0 0 5061 sip.example.com'] }),
        expect.objectContaining({ name: 'sip.example.com', type: 'A', rcode: 'NOERROR', answers: ['127.0.10.30'] }),
      ]),
    );
    // The connection: the pool VIP, served by ocsfe01 through the load balancer.
    expect(c.attempts).toEqual([{ host: 'sip.example.com', address: '127.0.10.30', port: 5061, transport: 'TLS', server: 'ocsfe01' }]);
    // The certificate passed.
    expect(c.tls).toMatchObject({ ok: true, host: 'sip.example.com', server: 'ocsfe01' });
    expect(c.tls?.certificate?.sans).toContain('sip.example.com');
    // The front end refused the credentials.
    expect(c.register?.status).toBe(401);
    // A wrong Digest response is challenged again (a fresh nonce): sip.js gives up on the second 401.
    expect(c.register?.reason).toBe('Unauthorized');
    expect(c.failure).toMatchObject({ stage: 'register', kind: 'credentials', message: COMMUNICATOR_MESSAGES.credentials });
    expect(c.provisioning).toBeUndefined();
    // The password is not part of what the operator inspects.
    const { runtime: _runtime, ...inspectable } = c;
    expect(JSON.stringify(inspectable)).not.toContain('not-the-password');

    const lines = clientLines(c, r.state);
    expect(lines).toContain('Connect sip.example.com (127.0.10.30:5061 TLS): connected, served by ocsfe01');
    expect(lines.some((l) => l.startsWith('REGISTER sip:ocsuser1@example.com: SIP/2.0 401'))).toBe(true);
    expect(lines.at(-1)).toBe(`Communicator: ${COMMUNICATOR_MESSAGES.credentials}`);

    // The right password signs the same client in.
    const ok = await fleet.signIn(client, 'ocsuser1@example.com', env.users.find((u) => u.sam === 'ocsuser1')?.password ?? '', settings);
    expect(ok.state).toBe('signedIn');
    expect(ok.context.failure).toBeUndefined();
  }, 30_000);
});
