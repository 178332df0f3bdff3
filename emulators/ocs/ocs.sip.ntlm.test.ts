/**
 * The front end's NTLM on the wire ([MS-SIPAE] 3.2), as a raw client sees it: what the 401 offers, the
 * CHALLENGE, a REGISTER carrying a signed AUTHENTICATE, the signed 200, and an association that then
 * refuses unsigned requests, a replayed AUTHENTICATE and a wrong password.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSipFrontEnd, SIP_REALM, type SipListening } from './ocs.sip.adapter.js';
import { authenticateMessage, authParams, parseChallenge, REQUIRED_FLAGS, sign, signedText, verify, type SessionKeys } from './sip.ntlm.js';
import { buildSeedLab, RawSipClient, type RawSip, type SeedLab } from '../../test/support/wire-sip.js';

let env: SeedLab;
let sip: SipListening;
const clients: RawSipClient[] = [];

beforeAll(async () => {
  env = await buildSeedLab();
  sip = await startSipFrontEnd(env.lab);
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await sip?.stop();
  await env?.lab.close();
});

const ocsuser = (i: number) => env.users[i] as SeedLab['users'][number];

async function tcp(): Promise<RawSipClient> {
  const c = await RawSipClient.tcp(sip.tcp.port);
  clients.push(c);
  return c;
}

/** Sends a request and waits for its final answer (by Via branch). */
async function ask(c: RawSipClient, method: string, aor: string, headers: string[], sign?: (raw: string) => string): Promise<RawSip> {
  let raw = '';
  const send = c.send.bind(c);
  c.send = (r: string) => void (raw = r);
  const branch = c.request(method, method === 'REGISTER' ? 'sip:example.com' : aor, { from: aor, to: aor, headers });
  c.send = send;
  c.send(sign ? sign(raw) : raw);
  return c.next((m) => (m.header('via') ?? '').includes(branch));
}

interface Handshake {
  c: RawSipClient;
  ok: RawSip;
  keys: SessionKeys;
  opaque: string;
  targetname: string;
  authenticate: string;
  cnum: number;
}

/** REGISTER → 401, REGISTER with gssapi-data="" → 401 with the CHALLENGE, REGISTER with the signed AUTHENTICATE. */
async function handshake(password: string, i = 0): Promise<Handshake> {
  const c = await tcp();
  const u = ocsuser(i);
  const first = await ask(c, 'REGISTER', u.aor, ['Expires: 300']);
  expect(first.status).toBe(401);
  const offer = first.all('www-authenticate').find((v) => v.startsWith('NTLM')) ?? '';
  const targetname = authParams(offer).get('targetname') ?? '';
  const second = await ask(c, 'REGISTER', u.aor, ['Expires: 300', `Authorization: NTLM qop="auth", realm="${SIP_REALM}", targetname="${targetname}", gssapi-data="", version=4`]);
  expect(second.status).toBe(401);
  const p = authParams(second.all('www-authenticate').find((v) => v.includes('gssapi-data')) ?? '');
  const challenge = parseChallenge(Buffer.from(p.get('gssapi-data') ?? '', 'base64'));
  if (!challenge) throw new Error('no CHALLENGE in the second 401');
  const out = authenticateMessage({ challenge, user: u.sam, domain: 'CORP', workstation: 'TESTPC', password, clientChallenge: Buffer.alloc(8, 3), exportedSessionKey: Buffer.alloc(16, 9), nowMs: Date.now() });
  const opaque = p.get('opaque') ?? '';
  const authenticate = out.message.toString('base64');
  const ok = await ask(c, 'REGISTER', u.aor, ['Expires: 300'], (raw) => {
    const response = sign(signedText(raw, { rand: '0badc0de', num: '1', realm: SIP_REALM, targetname }), out.keys.clientSign, out.keys.clientSeal);
    return raw.replace('\r\n\r\n', `\r\nAuthorization: NTLM qop="auth", opaque="${opaque}", realm="${SIP_REALM}", targetname="${targetname}", gssapi-data="${authenticate}", version=4, crand="0badc0de", cnum="1", response="${response}"\r\n\r\n`);
  });
  return { c, ok, keys: out.keys, opaque, targetname, authenticate, cnum: 1 };
}

/** The association's signature on a request, as a client adds it. */
const signedBy = (h: Handshake) => (raw: string) => {
  h.cnum += 1;
  const response = sign(signedText(raw, { rand: 'feedface', num: String(h.cnum), realm: SIP_REALM, targetname: h.targetname }), h.keys.clientSign, h.keys.clientSeal);
  return raw.replace('\r\n\r\n', `\r\nAuthorization: NTLM qop="auth", opaque="${h.opaque}", realm="${SIP_REALM}", targetname="${h.targetname}", crand="feedface", cnum="${h.cnum}", response="${response}"\r\n\r\n`);
};

/** Whether a message from the front end carries a valid `rspauth` of the association. */
function serverSigned(h: Handshake, m: RawSip): boolean {
  const p = authParams(m.header('authentication-info') ?? '');
  return verify(signedText(m.raw, { rand: p.get('srand') ?? '', num: p.get('snum') ?? '', realm: p.get('realm') ?? '', targetname: p.get('targetname') ?? '' }), p.get('rspauth') ?? '', h.keys.serverSign, h.keys.serverSeal);
}

describe('NTLM on the front end', () => {
  it('offers NTLM and Kerberos as OCS 2007 R2 does (and no Digest unless the lab extension is on), and a CHALLENGE a connectionless client accepts', async () => {
    const c = await tcp();
    const first = await ask(c, 'REGISTER', ocsuser(0).aor, []);
    expect(first.all('www-authenticate')).toEqual([
      `NTLM realm="${SIP_REALM}", targetname="ocsfe01.corp.example.net", version=4`,
      `Kerberos realm="${SIP_REALM}", targetname="sip/ocsfe01.corp.example.net", version=4`,
    ]);
    const second = await ask(c, 'REGISTER', ocsuser(0).aor, [`Authorization: NTLM qop="auth", realm="${SIP_REALM}", targetname="ocsfe01.corp.example.net", gssapi-data="", version=4`]);
    const p = authParams(second.header('www-authenticate') ?? '');
    expect(p.get('opaque')).toMatch(/^[0-9A-F]{8}$/);
    const challenge = parseChallenge(Buffer.from(p.get('gssapi-data') ?? '', 'base64'));
    expect(((challenge?.flags ?? 0) & REQUIRED_FLAGS) >>> 0).toBe(REQUIRED_FLAGS);
  });

  it('registers with the AD password, signs its 200, and then answers only requests signed by the association', async () => {
    const h = await handshake(ocsuser(0).password);
    expect(h.ok.status).toBe(200);
    expect(h.ok.header('expires')).toBe('300');
    expect(serverSigned(h, h.ok)).toBe(true);
    expect(sip.registrations()).toContain(ocsuser(0).aor);
    // Signed: served, and the answer signed in turn.
    const options = await ask(h.c, 'OPTIONS', ocsuser(0).aor, [], signedBy(h));
    expect(options.status).toBe(200);
    expect(serverSigned(h, options)).toBe(true);
    // Unsigned, or signed with another cnum than the one signed over: 401 with the schemes.
    expect((await ask(h.c, 'OPTIONS', ocsuser(0).aor, [])).status).toBe(401);
    const forged = await ask(h.c, 'OPTIONS', ocsuser(0).aor, [], (raw) => signedBy(h)(raw).replace(/cnum="\d+"/, 'cnum="999"'));
    expect(forged.status).toBe(401);
  });

  it('never lets a connection go back to unsigned: a badly signed REGISTER, or a Digest one, leaves requests needing the signature', async () => {
    const h = await handshake(ocsuser(0).password);
    expect(h.ok.status).toBe(200);
    const badRefresh = await ask(h.c, 'REGISTER', ocsuser(0).aor, ['Expires: 300'], (raw) => signedBy(h)(raw).replace(/response="[0-9A-F]+"/, 'response="0100000000000000000000006400000"'));
    expect(badRefresh.status).toBe(401);
    // The 401 to a REGISTER is not signed: the client is authenticating afresh.
    expect(badRefresh.header('authentication-info')).toBeUndefined();
    expect((await ask(h.c, 'OPTIONS', ocsuser(0).aor, [])).status).toBe(401);
    const digest = await ask(h.c, 'REGISTER', ocsuser(0).aor, ['Authorization: Digest username="ocsuser1", realm="SIP Communications Service", nonce="x", uri="sip:example.com", response="00"']);
    expect(digest.status).toBe(401);
    expect((await ask(h.c, 'OPTIONS', ocsuser(0).aor, [])).status).toBe(401);
    // Its own signature still works.
    expect((await ask(h.c, 'OPTIONS', ocsuser(0).aor, [], signedBy(h))).status).toBe(200);
  });

  it('takes an AUTHENTICATE once: the same REGISTER again, on any connection, starts over', async () => {
    const h = await handshake(ocsuser(1).password, 1);
    expect(h.ok.status).toBe(200);
    const other = await tcp();
    const replay = await ask(other, 'REGISTER', ocsuser(1).aor, [`Authorization: NTLM qop="auth", opaque="${h.opaque}", realm="${SIP_REALM}", targetname="${h.targetname}", gssapi-data="${h.authenticate}", version=4`]);
    expect(replay.status).toBe(401);
    expect(replay.header('warning')).toContain('unknown opaque');
  });

  it('refuses a wrong password with 401 and the schemes again', async () => {
    const h = await handshake('Not-the-Passw0rd');
    expect(h.ok.status).toBe(401);
    expect(h.ok.header('warning')).toMatch(/NTLM authentication of CORP.ocsuser1 failed: wrong password/);
    expect(h.ok.all('www-authenticate')[0]).toMatch(/^NTLM realm=/);
  });
});
