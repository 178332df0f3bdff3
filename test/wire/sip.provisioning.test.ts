/**
 * In-band provisioning over real TLS: after REGISTER, the client subscribes to
 * `vnd-microsoft-provisioning-v2` as Communicator does ([MS-SIPREGE] 2.2.2) and reads the Address Book
 * Server URL of its home pool from the answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProvisioning, PROVISIONING_CONTENT_TYPE, PROVISIONING_EVENT, provisioningRequestBody } from '../../emulators/ocs/ocs.provisioning.js';
import { startSipFrontEnd, type SipListening } from '../../emulators/ocs/ocs.sip.adapter.js';
import { buildSeedLab, RawSipClient, type RawSip, type SeedLab } from '../support/wire-sip.js';

let env: SeedLab;
let sip: SipListening;
const clients: RawSipClient[] = [];

beforeAll(async () => {
  env = await buildSeedLab();
  sip = await startSipFrontEnd(env.lab, { digest: true });
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await sip?.stop();
  await env?.lab.close();
});

const user = (i: number) => env.users[i] as SeedLab['users'][number];

async function signedIn(i: number): Promise<RawSipClient> {
  const c = await RawSipClient.tls(sip.tls.port, env.caPem);
  clients.push(c);
  const r = await c.register(user(i).aor, user(i).sam, user(i).password);
  expect(r.status).toBe(200);
  return c;
}

/** Communicator's SUBSCRIBE (sipe `sipe_subscribe_roaming_provisioning_v2`); `headers` replace the defaults by name. */
async function subscribeProvisioning(c: RawSipClient, from: string, opts: { to?: string; headers?: string[]; body?: string } = {}): Promise<RawSip> {
  const defaults = [`Event: ${PROVISIONING_EVENT}`, `Accept: ${PROVISIONING_CONTENT_TYPE}`, 'Supported: ms-piggyback-first-notify', 'Expires: 0'];
  const named = (h: string) => h.slice(0, h.indexOf(':')).toLowerCase();
  const overrides = opts.headers ?? [];
  const headers = [...defaults.filter((d) => !overrides.some((o) => named(o) === named(d))), ...overrides.filter((o) => o.slice(o.indexOf(':') + 1).trim())];
  const to = opts.to ?? from;
  const b = c.request('SUBSCRIBE', to, { from, to, headers, body: opts.body ?? provisioningRequestBody(), contentType: PROVISIONING_CONTENT_TYPE });
  return c.next((m) => m.status !== undefined && (m.header('via') ?? '').includes(b));
}

describe('in-band provisioning after sign-in', () => {
  it('answers a registered user with 200 carrying the configuration, the Address Book URL of pool01 included', async () => {
    const c = await signedIn(0);
    const r = await subscribeProvisioning(c, user(0).aor);
    expect(r.status).toBe(200);
    expect(r.header('expires')).toBe('0');
    expect(r.header('event')).toBe(PROVISIONING_EVENT);
    expect(r.header('subscription-state')).toBe('terminated;expires=0');
    expect(r.header('ms-piggyback-cseq')).toBe('1');
    expect(r.header('content-type')).toBe(PROVISIONING_CONTENT_TYPE);
    const p = parseProvisioning(r.body, r.header('content-type') ?? '');
    expect(p.problem).toBeUndefined();
    expect(p.absInternalServerUrl).toBe('https://pool01.corp.example.net/Abs/Int/Handler');
    expect(p.dlxInternalUrl).toBe('https://pool01.corp.example.net/GroupExpansion/Int/service.asmx');
    expect(p.absExternalServerUrl).toBeUndefined(); // the seed configures no external web farm
    expect(Object.keys(p.groups)).toEqual(['ServerConfiguration', 'meetingPolicy', 'ucPolicy']);
  });

  it('sends the configuration in a NOTIFY when the client does not take a piggybacked answer', async () => {
    const c = await signedIn(1);
    const r = await subscribeProvisioning(c, user(1).aor, { headers: ['Supported: '] });
    expect(r.status).toBe(200);
    expect(r.body).toBe('');
    const n = await c.next((m) => m.method === 'NOTIFY');
    expect(n.header('event')).toBe(PROVISIONING_EVENT);
    expect(n.header('subscription-state')).toBe('terminated;expires=0');
    expect(n.header('from')).toContain(`tag=${/tag=([^;\s]+)/.exec(r.header('to') ?? '')?.[1] ?? 'none'}`);
    expect(parseProvisioning(n.body, n.header('content-type') ?? '').absInternalServerUrl).toBe('https://pool01.corp.example.net/Abs/Int/Handler');
  });

  it('answers only the groups asked for', async () => {
    const c = await signedIn(0);
    const r = await subscribeProvisioning(c, user(0).aor, { body: provisioningRequestBody(['ServerConfiguration']) });
    expect(Object.keys(parseProvisioning(r.body, r.header('content-type') ?? '').groups)).toEqual(['ServerConfiguration']);
  });

  it('advertises the package: REGISTER and OPTIONS list it in Allow-Events; the OCS 2005 package is 489', async () => {
    const c = await RawSipClient.tls(sip.tls.port, env.caPem);
    clients.push(c);
    const reg = await c.register(user(0).aor, user(0).sam, user(0).password);
    expect(reg.header('allow-events')).toContain(PROVISIONING_EVENT);
    const b = c.request('OPTIONS', 'sip:example.com', { from: user(0).aor, to: 'sip:example.com' });
    expect((await c.next((m) => (m.header('via') ?? '').includes(b))).header('allow-events')).toContain(PROVISIONING_EVENT);
    const v1 = await subscribeProvisioning(c, user(0).aor, { headers: ['Event: vnd-microsoft-provisioning', 'Accept: application/vnd-microsoft-roaming-provisioning+xml'], body: '' });
    expect(v1.status).toBe(489);
  });
});

describe('in-band provisioning refused', () => {
  it('is 403 on a connection where the subscriber has not registered', async () => {
    const c = await RawSipClient.tls(sip.tls.port, env.caPem);
    clients.push(c);
    const r = await subscribeProvisioning(c, user(0).aor);
    expect(r.status).toBe(403);
    expect(r.body).toBe('');
  });

  it('is 403 for another user\'s configuration, 406 without the provisioning Accept, 415 for another body type', async () => {
    const c = await signedIn(0);
    expect((await subscribeProvisioning(c, user(0).aor, { to: user(1).aor })).status).toBe(403);
    expect((await subscribeProvisioning(c, user(0).aor, { headers: ['Accept: application/pidf+xml'] })).status).toBe(406);
    const b = c.request('SUBSCRIBE', user(0).aor, {
      from: user(0).aor,
      to: user(0).aor,
      headers: [`Event: ${PROVISIONING_EVENT}`, `Accept: ${PROVISIONING_CONTENT_TYPE}`, 'Expires: 0'],
      body: '{}',
      contentType: 'application/json',
    });
    expect((await c.next((m) => (m.header('via') ?? '').includes(b))).status).toBe(415);
  });
});
