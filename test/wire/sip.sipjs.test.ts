/**
 * sip.js 0.21.2 (a real SIP stack) against the front end over secure WebSocket: two UserAgents trust the
 * lab CA, register with Digest as ocsuser1 and ocsuser2, and exchange a MESSAGE.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket as WsWebSocket, type ClientOptions } from 'ws';
import { Messager, Registerer, RegistererState, UserAgent, type Message } from 'sip.js';
import { startSipFrontEnd, type SipListening } from '../../emulators/ocs/ocs.sip.adapter.js';
import { buildSeedLab, type SeedLab } from '../support/wire-sip.js';

let env: SeedLab;
let sip: SipListening;
const agents: UserAgent[] = [];
const globals = globalThis as { WebSocket?: unknown };
const previousWebSocket = globals.WebSocket;

beforeAll(async () => {
  env = await buildSeedLab();
  sip = await startSipFrontEnd(env.lab, { digest: true });
  const ca = env.caPem;
  // sip.js opens `new WebSocket(url, "sip")` on the global with no options: inject trust in the lab CA.
  class TrustingWebSocket extends WsWebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, { ca, servername: 'sip.example.com' } as ClientOptions);
    }
  }
  globals.WebSocket = TrustingWebSocket;
}, 60_000);

afterAll(async () => {
  for (const ua of agents) await ua.stop().catch(() => undefined);
  globals.WebSocket = previousWebSocket;
  await sip?.stop();
  await env?.lab.close();
});

function agent(i: number, onMessage?: (m: Message) => void): UserAgent {
  const u = env.users[i] as SeedLab['users'][number];
  const ua = new UserAgent({
    uri: UserAgent.makeURI(u.aor),
    authorizationUsername: u.sam,
    authorizationPassword: u.password,
    transportOptions: { server: sip.wss, traceSip: false },
    logBuiltinEnabled: false,
    ...(onMessage ? { delegate: { onMessage } } : {}),
  });
  agents.push(ua);
  return ua;
}

async function register(ua: UserAgent): Promise<Registerer> {
  const reg = new Registerer(ua, { expires: 300 });
  const registered = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`register timeout (${reg.state})`)), 5000);
    reg.stateChange.addListener((s) => {
      if (s === RegistererState.Registered) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await reg.register();
  await registered;
  return reg;
}

describe('sip.js over WSS', () => {
  it('registers ocsuser1 and ocsuser2 with Digest and delivers a MESSAGE with its 200', async () => {
    let received!: (text: string) => void;
    const got = new Promise<string>((r) => (received = r));
    const bob = agent(1, (m) => {
      void m.accept();
      received(`${m.request.from.uri.toString()}: ${m.request.body}`);
    });
    const alice = agent(0);
    await Promise.all([alice.start(), bob.start()]);
    await Promise.all([register(alice), register(bob)]);
    expect(sip.registrations()).toEqual(['sip:ocsuser1@example.com', 'sip:ocsuser2@example.com']);

    let status = 0;
    const accepted = new Promise<void>((resolve) => {
      const messager = new Messager(alice, UserAgent.makeURI('sip:ocsuser2@example.com') as NonNullable<ReturnType<typeof UserAgent.makeURI>>, 'hello from sip.js', 'text/plain');
      void messager.message({ requestDelegate: { onAccept: (r) => ((status = r.message.statusCode ?? 0), resolve()) } });
    });
    expect(await got).toBe('sip:ocsuser1@example.com: hello from sip.js');
    await accepted;
    expect(status).toBe(200);
  });

  it('is refused with the wrong password', async () => {
    const u = env.users[0] as SeedLab['users'][number];
    const ua = new UserAgent({
      uri: UserAgent.makeURI(u.aor),
      authorizationUsername: u.sam,
      authorizationPassword: 'not-the-password',
      transportOptions: { server: sip.wss },
      logBuiltinEnabled: false,
    });
    agents.push(ua);
    await ua.start();
    const reg = new Registerer(ua, { expires: 300 });
    const codes: number[] = [];
    await reg.register({ requestDelegate: { onReject: (r) => void codes.push(r.message.statusCode ?? 0) } });
    await new Promise((r) => setTimeout(r, 300));
    expect(reg.state).not.toBe(RegistererState.Registered);
    expect(codes).toEqual([401]);
  });
});
