import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as tlsConnect } from 'node:tls';
import { frameSip, digestParams, startSipFrontEnd, SIP_REALM, type SipListening } from './ocs.sip.adapter.js';
import { hostStartService, hostStopService, hostService } from '../host/host.client.js';
import { communicatorFleet } from '../communicator/communicator.fleet.js';
import { buildSeedLab, digestAuthorization, digestChallenge, RawSipClient, token, type RawSip, type SeedLab } from '../../test/support/wire-sip.js';

let env: SeedLab;
let sip: SipListening;
const clients: RawSipClient[] = [];

async function tls(): Promise<RawSipClient> {
  const c = await RawSipClient.tls(sip.tls.port, env.caPem);
  clients.push(c);
  return c;
}

const user = (i: number) => env.users[i] as SeedLab['users'][number];

beforeAll(async () => {
  env = await buildSeedLab();
  // The rehearsal's own Communicators sign out: these tests are about the raw clients' endpoints (a user
  // signed in twice stays signed in on the other endpoint).
  const fleet = communicatorFleet(env.lab);
  for (const c of fleet.all()) await fleet.signOut(c);
  sip = await startSipFrontEnd(env.lab, { digest: true });
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await sip?.stop();
  env?.lab.stop();
});

describe('framing helpers', () => {
  it('frames by Content-Length, answers keep-alives and refuses oversized input', async () => {
    const msg = Buffer.from('OPTIONS sip:x SIP/2.0\r\nContent-Length: 3\r\n\r\nabc');
    expect(frameSip(msg, 1000)).toEqual({ kind: 'message', size: msg.length });
    expect(frameSip(msg.subarray(0, msg.length - 1), 1000)).toEqual({ kind: 'more' });
    expect(frameSip(Buffer.from('\r\n\r\n'), 1000)).toEqual({ kind: 'keepalive', size: 4 });
    expect(frameSip(msg, 10).kind).toBe('bad');
    expect(frameSip(Buffer.from('X sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n'), 1000).kind).toBe('bad');
    expect(frameSip(Buffer.alloc(2000, 0x41), 1000).kind).toBe('bad');
    expect(digestParams('Digest username="a", realm="R x", nc=00000001').get('realm')).toBe('R x');
  });
});

describe('TLS listener', () => {
  it('presents the pool certificate issued by the lab CA (sip.example.com in the SAN)', async () => {
    const names = await new Promise<{ cn: string; san: string }>((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port: sip.tls.port, ca: env.caPem, servername: 'sip.example.com' }, async () => {
        const cert = s.getPeerCertificate();
        resolve({ cn: String(cert.subject.CN), san: cert.subjectaltname ?? '' });
        s.destroy();
      });
      s.once('error', reject);
    });
    expect(names.cn).toBe('pool01.corp.example.net');
    expect(names.san).toContain('sip.example.com');
  });
});

describe('REGISTER', () => {
  it('challenges with Digest, then registers with the AD password', async () => {
    const c = await tls();
    const aor = user(0).aor;
    const b = c.request('REGISTER', 'sip:example.com', { from: aor, to: aor, headers: ['Expires: 300'] });
    const first = await c.next((m) => (m.header('via') ?? '').includes(b));
    expect(first.status).toBe(401);
    const www = digestChallenge(first);
    expect(www).toContain(`realm="${SIP_REALM}"`);
    expect(www).toContain('qop="auth"');
    const done = await c.register(aor, user(0).sam, user(0).password, 300);
    expect(done.status).toBe(200);
    expect(done.header('contact')).toMatch(/;expires=300$/);
    expect(sip.registrations()).toContain(aor);
  });

  it('takes a Digest answer once: the same Authorization again, on this connection or another, is a stale nonce', async () => {
    const c = await tls();
    const aor = user(0).aor;
    const b1 = c.request('REGISTER', 'sip:example.com', { from: aor, to: aor, headers: ['Expires: 300'] });
    const first = await c.next((m) => (m.header('via') ?? '').includes(b1));
    const authorization = digestAuthorization(digestChallenge(first), { username: user(0).sam, password: user(0).password, method: 'REGISTER', uri: 'sip:example.com' });
    const again = async (client: RawSipClient) => {
      const b = client.request('REGISTER', 'sip:example.com', { from: aor, to: aor, headers: ['Expires: 300', `Authorization: ${authorization}`] });
      return client.next((m) => (m.header('via') ?? '').includes(b));
    };
    expect((await again(c)).status).toBe(200);
    const replayed = await again(c);
    expect(replayed.status).toBe(401);
    expect(digestChallenge(replayed)).toContain('stale=true');
    const other = await tls();
    expect((await again(other)).status).toBe(401);
  });

  it('refuses a wrong password with 401 and a fresh challenge', async () => {
    const c = await tls();
    const r = await c.register(user(1).aor, user(1).sam, 'wrong-Passw0rd', 300);
    expect(r.status).toBe(401);
    expect(digestChallenge(r)).toContain('nonce=');
  });

  it('answers 404 for a SIP URI no user has, and 403 for another user\'s URI', async () => {
    const c = await tls();
    const unknown = await c.register('sip:nobody@example.com', user(0).sam, user(0).password);
    expect(unknown.status).toBe(404);
    expect(unknown.header('warning')).toContain('msRTCSIP-PrimaryUserAddress');
    const c2 = await tls();
    const notOwned = await c2.register(user(1).aor, user(0).sam, user(0).password);
    expect(notOwned.status).toBe(403);
  });

  it('works over TCP as well, and an Expires 0 REGISTER removes the binding', async () => {
    const c = await RawSipClient.tcp(sip.tcp.port);
    clients.push(c);
    const aor = user(1).aor;
    expect((await c.register(aor, user(1).sam, user(1).password, 60)).status).toBe(200);
    expect(sip.registrations()).toContain(aor);
    expect((await c.register(aor, user(1).sam, user(1).password, 0)).status).toBe(200);
    expect(sip.registrations()).not.toContain(aor);
    c.close();
  });
});

describe('MESSAGE and OPTIONS', () => {
  it('routes ocsuser1 → ocsuser2 over ocsuser2\'s own connection and relays the 200 back', async () => {
    const a = await tls();
    const b = await tls();
    expect((await a.register(user(0).aor, user(0).sam, user(0).password)).status).toBe(200);
    expect((await b.register(user(1).aor, user(1).sam, user(1).password)).status).toBe(200);
    const text = `hello ${token(3)}`;
    const branch = a.request('MESSAGE', user(1).aor, { from: user(0).aor, to: user(1).aor, body: text });
    const incoming = await b.next((m) => m.method === 'MESSAGE');
    expect(incoming.body).toBe(text);
    expect(incoming.startLine).toBe(`MESSAGE sip:${b.contactUser}@${b.contactUser}.invalid;transport=tls SIP/2.0`);
    expect(incoming.all('via')).toHaveLength(2);
    // ocsuser2 answers like a UA: echo Via/From/To/Call-ID/CSeq.
    const echo = incoming.headers.filter(([k]) => ['via', 'from', 'call-id', 'cseq'].includes(k)).map(([k, v]) => `${k}: ${v}`);
    b.send(['SIP/2.0 200 OK', ...echo, `To: ${incoming.header('to')};tag=${token(3)}`, 'Content-Length: 0', '', ''].join('\r\n'));
    const answer = await a.next((m) => (m.header('via') ?? '').includes(branch));
    expect(answer.status).toBe(200);
    expect(answer.all('via')).toHaveLength(1);
  });

  it('proxies an IM session: INVITE record-routed, ACK and MESSAGE routed by the Contact; a refused INVITE is ACKed hop by hop', async () => {
    const a = await tls();
    const b = await tls();
    expect((await a.register(user(0).aor, user(0).sam, user(0).password)).status).toBe(200);
    expect((await b.register(user(1).aor, user(1).sam, user(1).password)).status).toBe(200);
    const sdp = 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 5060 sip null\r\n';
    const echoOf = (m: RawSip) => m.headers.filter(([k]) => ['via', 'from', 'call-id', 'cseq', 'record-route'].includes(k)).map(([k, v]) => `${k}: ${v}`);
    // Refused: 486 to the caller, and an ACK to the callee from the front end, on the forwarded branch.
    a.request('INVITE', user(1).aor, { from: user(0).aor, to: user(1).aor, body: sdp, contentType: 'application/sdp' });
    const first = await b.next((m) => m.method === 'INVITE');
    b.send(['SIP/2.0 486 Busy Here', ...echoOf(first), `To: ${first.header('to')};tag=busy1`, 'Content-Length: 0', '', ''].join('\r\n'));
    expect((await a.next((m) => m.status === 486)).status).toBe(486);
    const ack = await b.next((m) => m.method === 'ACK');
    expect(ack.header('via')).toBe(first.all('via')[0]);
    // Accepted: the 200 comes back, then the caller's ACK and MESSAGE to the callee's Contact reach it.
    const callId = `im-${token(4)}`;
    a.request('INVITE', user(1).aor, { from: user(0).aor, to: user(1).aor, body: sdp, contentType: 'application/sdp', callId });
    const invite = await b.next((m) => m.method === 'INVITE');
    expect(invite.header('record-route')).toMatch(/^<sip:ocsfe01\.corp\.example\.net;transport=tls;lr>$/);
    const calleeContact = `sip:${b.contactUser}@${b.contactUser}.invalid;transport=tls`;
    b.send(['SIP/2.0 200 OK', ...echoOf(invite), `To: ${invite.header('to')};tag=ok1`, `Contact: <${calleeContact}>`, 'Content-Type: application/sdp', `Content-Length: ${sdp.length}`, '', sdp].join('\r\n'));
    expect((await a.next((m) => m.status === 200 && (m.header('cseq') ?? '').includes('INVITE'))).status).toBe(200);
    const inDialog = (method: string, body = '') => {
      a.send(
        [`${method} ${calleeContact} SIP/2.0`, `Via: SIP/2.0/TLS ${a.contactUser}.invalid;branch=z9hG4bK${token(4)}`, 'Max-Forwards: 70', 'Route: <sip:ocsfe01.corp.example.net;transport=tls;lr>', `From: <${user(0).aor}>;tag=${a.fromTag}`, `To: <${user(1).aor}>;tag=ok1`, `Call-ID: ${callId}`, `CSeq: ${method === 'ACK' ? a.cseq - 1 : a.cseq++} ${method}`, ...(body ? ['Content-Type: text/plain'] : []), `Content-Length: ${body.length}`, '', body].join('\r\n'),
      );
    };
    inDialog('ACK');
    expect((await b.next((m) => m.method === 'ACK')).header('route')).toBeUndefined();
    inDialog('MESSAGE', 'within the session');
    expect((await b.next((m) => m.method === 'MESSAGE')).body).toBe('within the session');
  });

  it('answers 408 at once when the callee\'s connection closes before it answers', async () => {
    const a = await tls();
    const b = await tls();
    expect((await a.register(user(0).aor, user(0).sam, user(0).password)).status).toBe(200);
    expect((await b.register(user(1).aor, user(1).sam, user(1).password)).status).toBe(200);
    const branch = a.request('MESSAGE', user(1).aor, { from: user(0).aor, to: user(1).aor, body: 'are you there?' });
    await b.next((m) => m.method === 'MESSAGE');
    b.close();
    // Well before Timer F's 32 s: the test's own timeout is far shorter.
    const answer = await a.next((m) => (m.header('via') ?? '').includes(branch));
    expect(answer.status).toBe(408);
    expect(answer.header('warning')).toMatch(/connection closed/);
  });

  it('answers 480 for a known user who is not signed in and 404 for an unknown one', async () => {
    const a = await tls();
    expect((await a.register(user(0).aor, user(0).sam, user(0).password)).status).toBe(200);
    // ocsuser2's previous connection may still be registered: drop its clients first.
    for (const c of clients.slice(0, -1)) c.close();
    await new Promise((r) => setTimeout(r, 100));
    const b480 = a.request('MESSAGE', user(1).aor, { from: user(0).aor, to: user(1).aor, body: 'x' });
    expect((await a.next((m) => (m.header('via') ?? '').includes(b480))).status).toBe(480);
    const b404 = a.request('MESSAGE', 'sip:nobody@example.com', { from: user(0).aor, to: 'sip:nobody@example.com', body: 'x' });
    expect((await a.next((m) => (m.header('via') ?? '').includes(b404))).status).toBe(404);
  });

  it('refuses a MESSAGE from a connection that has not registered its From', async () => {
    const c = await tls();
    const b = c.request('MESSAGE', user(1).aor, { from: user(0).aor, to: user(1).aor, body: 'x' });
    expect((await c.next((m) => (m.header('via') ?? '').includes(b))).status).toBe(403);
  });

  it('answers OPTIONS with 200', async () => {
    const c = await tls();
    const b = c.request('OPTIONS', 'sip:pool01.corp.example.net', { from: 'sip:probe@example.com', to: 'sip:pool01.corp.example.net' });
    const r = await c.next((m) => (m.header('via') ?? '').includes(b));
    expect(r.status).toBe(200);
    expect(r.header('allow')).toContain('MESSAGE');
  });
});

describe('multiple points of presence', () => {
  it('keeps a user signed in on two endpoints: a new request goes to the newest, the other takes it once the newest leaves', async () => {
    const a = await tls();
    const first = await tls();
    const second = await tls();
    expect((await a.register(user(0).aor, user(0).sam, user(0).password)).status).toBe(200);
    expect((await first.register(user(1).aor, user(1).sam, user(1).password)).status).toBe(200);
    expect((await second.register(user(1).aor, user(1).sam, user(1).password)).status).toBe(200);
    const answer = (endpoint: RawSipClient, incoming: RawSip) => {
      const echo = incoming.headers.filter(([k]) => ['via', 'from', 'call-id', 'cseq'].includes(k)).map(([k, v]) => `${k}: ${v}`);
      endpoint.send(['SIP/2.0 200 OK', ...echo, `To: ${incoming.header('to')};tag=${token(3)}`, 'Content-Length: 0', '', ''].join('\r\n'));
    };
    const toNewest = a.request('MESSAGE', user(1).aor, { from: user(0).aor, to: user(1).aor, body: 'to the newest' });
    const got = await second.next((m) => m.method === 'MESSAGE');
    expect(got.body).toBe('to the newest');
    answer(second, got);
    expect((await a.next((m) => (m.header('via') ?? '').includes(toNewest))).status).toBe(200);
    // The first endpoint was not signed out by the second sign-in.
    expect(sip.registrations()).toContain(user(1).aor);
    second.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(sip.registrations()).toContain(user(1).aor);
    const toFirst = a.request('MESSAGE', user(1).aor, { from: user(0).aor, to: user(1).aor, body: 'to the one left' });
    const later = await first.next((m) => m.method === 'MESSAGE');
    expect(later.body).toBe('to the one left');
    answer(first, later);
    expect((await a.next((m) => (m.header('via') ?? '').includes(toFirst))).status).toBe(200);
    first.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(sip.registrations()).not.toContain(user(1).aor);
  });
});

describe('subscriptions over the dialog', () => {
  /** A request within a subscription's dialog, as sip.js and sipe send it: the front end's tag in To, no batch headers. */
  const inDialog = (c: RawSipClient, o: { ruri: string; from: string; to: string; toTag: string; callId: string; cseq: number; headers: string[] }) => {
    const branch = `z9hG4bK${token(6)}`;
    c.send([`SUBSCRIBE ${o.ruri} SIP/2.0`, `Via: SIP/2.0/TLS ${c.contactUser}.invalid;branch=${branch}`, 'Max-Forwards: 70', `From: <${o.from}>;tag=${c.fromTag}`, `To: <${o.to}>;tag=${o.toTag}`, `Call-ID: ${o.callId}`, `CSeq: ${o.cseq} SUBSCRIBE`, `Contact: <sip:${c.contactUser}@${c.contactUser}.invalid;transport=tls>`, ...o.headers, 'Content-Length: 0', '', ''].join('\r\n'));
    return branch;
  };
  const batch = (resource: string) => `<batchSub xmlns="http://schemas.microsoft.com/2006/01/sip/batch-subscribe" uri="${user(0).aor}" name=""><action name="subscribe" id="1"><adhocList><resource uri="${resource}"/></adhocList><categoryList xmlns="http://schemas.microsoft.com/2006/09/sip/categorylist"><category name="state"/></categoryList></action></batchSub>`;

  it('a batched subscription refreshed or ended in its dialog keeps its resources, and its end is a final NOTIFY about them', async () => {
    const a = await tls();
    expect((await a.register(user(0).aor, user(0).sam, user(0).password)).status).toBe(200);
    const callId = token(6);
    const b = a.request('SUBSCRIBE', user(0).aor, { from: user(0).aor, to: user(0).aor, callId, headers: ['Event: presence', 'Expires: 600', 'Require: adhoclist, categoryList', 'Accept: application/msrtc-event-categories+xml'], body: batch(user(1).aor), contentType: 'application/msrtc-adrl-categorylist+xml' });
    const ok = await a.next((m) => (m.header('via') ?? '').includes(b));
    expect(ok.status).toBe(200);
    const toTag = /;tag=([^;]+)/.exec(ok.header('to') ?? '')?.[1] ?? '';
    expect((await a.next((m) => m.method === 'NOTIFY')).body).toContain(`uri="${user(1).aor}"`);
    const ruri = /<([^>]+)>/.exec(ok.header('contact') ?? '')?.[1] ?? '';
    const refresh = inDialog(a, { ruri, from: user(0).aor, to: user(0).aor, toTag, callId, cseq: 50, headers: ['Event: presence', 'Expires: 600'] });
    expect((await a.next((m) => (m.header('via') ?? '').includes(refresh))).status).toBe(200);
    const end = inDialog(a, { ruri, from: user(0).aor, to: user(0).aor, toTag, callId, cseq: 51, headers: ['Event: presence', 'Expires: 0'] });
    expect((await a.next((m) => (m.header('via') ?? '').includes(end))).status).toBe(200);
    const last = await a.next((m) => m.method === 'NOTIFY' && /terminated/.test(m.header('subscription-state') ?? ''));
    // About the resource it watched, not about the subscriber itself.
    expect(last.body).toContain(`uri="${user(1).aor}"`);
    expect(last.header('subscription-state')).toBe('terminated');
  });

  it('a subscription the subscriber answers 481 for is over: the next change sends no NOTIFY', async () => {
    const a = await tls();
    expect((await a.register(user(0).aor, user(0).sam, user(0).password)).status).toBe(200);
    const b = a.request('SUBSCRIBE', user(1).aor, { from: user(0).aor, to: user(1).aor, headers: ['Event: presence', 'Expires: 600', 'Accept: application/pidf+xml'] });
    expect((await a.next((m) => (m.header('via') ?? '').includes(b))).status).toBe(200);
    const notify = await a.next((m) => m.method === 'NOTIFY');
    const echo = notify.headers.filter(([k]) => ['via', 'from', 'to', 'call-id', 'cseq'].includes(k)).map(([k, v]) => `${k}: ${v}`);
    a.send(['SIP/2.0 481 Call/Transaction Does Not Exist', ...echo, 'Content-Length: 0', '', ''].join('\r\n'));
    await new Promise((r) => setTimeout(r, 100));
    const watched = await tls();
    expect((await watched.register(user(1).aor, user(1).sam, user(1).password)).status).toBe(200);
    await expect(a.next((m) => m.method === 'NOTIFY', 500)).rejects.toThrow();
    watched.close();
  });

  it('a signed-out endpoint hears nothing more on its subscriptions, though its connection stays open', async () => {
    const a = await tls();
    expect((await a.register(user(0).aor, user(0).sam, user(0).password)).status).toBe(200);
    const b = a.request('SUBSCRIBE', user(1).aor, { from: user(0).aor, to: user(1).aor, headers: ['Event: presence', 'Expires: 600', 'Accept: application/pidf+xml'] });
    expect((await a.next((m) => (m.header('via') ?? '').includes(b))).status).toBe(200);
    await a.next((m) => m.method === 'NOTIFY');
    expect((await a.register(user(0).aor, user(0).sam, user(0).password, 0)).status).toBe(200);
    const watched = await tls();
    expect((await watched.register(user(1).aor, user(1).sam, user(1).password)).status).toBe(200);
    await expect(a.next((m) => m.method === 'NOTIFY', 500)).rejects.toThrow();
    watched.close();
  });

  it('a request to a GRUU goes to the endpoint it names, even when another endpoint registered later', async () => {
    const a = await tls();
    const first = await tls();
    const second = await tls();
    expect((await a.register(user(0).aor, user(0).sam, user(0).password)).status).toBe(200);
    const instance = (n: number) => `00000000-0000-0000-0000-00000000000${n}`;
    const withInstance = async (c: RawSipClient, n: number) => {
      const ruri = `sip:${user(1).aor.split('@')[1]}`;
      const contact = `Contact: <sip:${c.contactUser}@${c.contactUser}.invalid;transport=tls>;+sip.instance="<urn:uuid:${instance(n)}>"`;
      const b1 = c.request('REGISTER', ruri, { from: user(1).aor, to: user(1).aor, headers: ['Expires: 300', 'Supported: gruu-10'] });
      const challenge = await c.next((m) => (m.header('via') ?? '').includes(b1));
      const auth = digestAuthorization(digestChallenge(challenge), { username: user(1).sam, password: user(1).password, method: 'REGISTER', uri: ruri });
      // The helper's own Contact has no instance: send the REGISTER by hand.
      const branch = `z9hG4bK${token(6)}`;
      c.send([`REGISTER ${ruri} SIP/2.0`, `Via: SIP/2.0/TLS ${c.contactUser}.invalid;branch=${branch}`, 'Max-Forwards: 70', `From: <${user(1).aor}>;tag=${c.fromTag}`, `To: <${user(1).aor}>`, `Call-ID: gruu-${n}-${c.contactUser}`, 'CSeq: 9 REGISTER', contact, 'Supported: gruu-10', 'Expires: 300', `Authorization: ${auth}`, 'Content-Length: 0', '', ''].join('\r\n'));
      const ok = await c.next((m) => (m.header('via') ?? '').includes(branch));
      expect(ok.status).toBe(200);
      return /gruu="([^"]+)"/.exec(ok.header('contact') ?? '')?.[1] ?? '';
    };
    const gruu1 = await withInstance(first, 1);
    await withInstance(second, 2);
    expect(gruu1).toContain(`opaque=user:epid:${instance(1)}`);
    a.request('MESSAGE', gruu1, { from: user(0).aor, to: user(1).aor, body: 'for endpoint 1' });
    expect((await first.next((m) => m.method === 'MESSAGE')).body).toBe('for endpoint 1');
    first.close();
    await new Promise((r) => setTimeout(r, 100));
    // That endpoint gone, its GRUU reaches no other.
    const gone = a.request('MESSAGE', gruu1, { from: user(0).aor, to: user(1).aor, body: 'nobody' });
    expect((await a.next((m) => (m.header('via') ?? '').includes(gone))).status).toBe(480);
    second.close();
  });
});

describe('presence', async () => {
  it('SUBSCRIBE Event: presence gets 200 and a PIDF NOTIFY; a registration sends a new NOTIFY', async () => {
    const a = await tls();
    expect((await a.register(user(0).aor, user(0).sam, user(0).password)).status).toBe(200);
    const callId = token(6);
    const b = a.request('SUBSCRIBE', user(1).aor, { from: user(0).aor, to: user(1).aor, callId, headers: ['Event: presence', 'Expires: 600', 'Accept: application/pidf+xml'] });
    expect((await a.next((m) => (m.header('via') ?? '').includes(b))).status).toBe(200);
    const first = await a.next((m) => m.method === 'NOTIFY');
    expect(first.header('call-id')).toBe(callId);
    expect(first.header('subscription-state')).toMatch(/^active/);
    expect(first.body).toContain('<basic>closed</basic>');
    const b2 = await tls();
    expect((await b2.register(user(1).aor, user(1).sam, user(1).password)).status).toBe(200);
    const second = await a.next((m) => m.method === 'NOTIFY');
    expect(second.body).toContain('<basic>open</basic>');
  });

  it('answers another event package with 489', async () => {
    const a = await tls();
    expect((await a.register(user(0).aor, user(0).sam, user(0).password)).status).toBe(200);
    const b = a.request('SUBSCRIBE', user(1).aor, { from: user(0).aor, to: user(1).aor, headers: ['Event: dialog'] });
    expect((await a.next((m) => (m.header('via') ?? '').includes(b))).status).toBe(489);
  });
});

describe('malformed input', async () => {
  it('answers 400 to an unparseable request with usable headers, closes on garbage, keeps serving others', async () => {
    const bystander = await tls();
    expect((await bystander.register(user(0).aor, user(0).sam, user(0).password)).status).toBe(200);

    const c = await tls();
    c.send('MESSAGE sip:ocsuser2@example.com SIP/2.0\r\nVia: SIP/2.0/TLS x.invalid;branch=z9hG4bKbad1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: bad1\r\nCSeq: one MESSAGE\r\nContent-Length: 0\r\n\r\n');
    expect((await c.next()).status).toBe(400);

    const g = await tls();
    g.send('\x16\x03\x01garbage that is not SIP at all\r\n\r\n');
    await new Promise((r) => setTimeout(r, 200));
    expect(g.closed).toBe(true);

    const big = await tls();
    big.send(`OPTIONS sip:x SIP/2.0\r\nContent-Length: ${200 * 1024}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 200));
    expect(big.closed).toBe(true);

    const b = bystander.request('OPTIONS', 'sip:example.com', { from: user(0).aor, to: 'sip:example.com' });
    expect((await bystander.next((m) => (m.header('via') ?? '').includes(b))).status).toBe(200);
    expect(sip.registrations()).toContain(user(0).aor);
  });
});

describe('Front-End service', () => {
  it('closes the listeners when RtcSrv stops and refuses to start while it is stopped', async () => {
    const host = env.lab.get('host:ocsfe01');
    const stopped = hostStopService(host, { name: 'RtcSrv' });
    expect(stopped.ok).toBe(true);
    env.lab.waitFor(() => hostService(host, 'RtcSrv')?.state === 'Stopped', 120_000);
    expect(hostService(host, 'RtcSrv')?.state).toBe('Stopped');
    await new Promise((r) => setTimeout(r, 100));
    await expect(RawSipClient.tls(sip.tls.port, env.caPem)).rejects.toThrow();
    await expect(startSipFrontEnd(env.lab)).rejects.toThrow(/RtcSrv/);
    expect(hostStartService(host, { name: 'RtcSrv' }).ok).toBe(true);
    env.lab.waitFor(() => hostService(host, 'RtcSrv')?.state === 'Running', 120_000);
    sip = await startSipFrontEnd(env.lab, { digest: true });
    const c = await tls();
    expect((await c.register(user(0).aor, user(0).sam, user(0).password)).status).toBe(200);
  });
});

describe('slow and crowding clients (issue 13)', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const options = (c: RawSipClient) => {
    const b = c.request('OPTIONS', 'sip:example.com', { from: 'sip:probe@example.com', to: 'sip:example.com' });
    return c.next((m) => (m.header('via') ?? '').includes(b));
  };

  it('closes a connection whose message does not arrive whole within the message timeout (or that sends nothing), and serves the rest', async () => {
    const strict = await startSipFrontEnd(env.lab, { digest: true, messageTimeoutMs: 300 });
    try {
      const half = await RawSipClient.tcp(strict.tcp.port);
      half.send('OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKhalf\r\n');
      const silent = await RawSipClient.tcp(strict.tcp.port);
      const prompt = await RawSipClient.tcp(strict.tcp.port);
      // A client that keeps completing messages (keep-alives, requests) is never cut off.
      for (let i = 0; i < 4; i++) {
        prompt.send('\r\n\r\n');
        await sleep(150);
      }
      expect(half.closed).toBe(true);
      expect(silent.closed).toBe(true);
      expect(prompt.closed).toBe(false);
      expect((await options(prompt)).status).toBe(200);
    } finally {
      await strict.stop();
    }
  });

  it('at the connection limit the connection that has sent least makes room for a newcomer', async () => {
    const strict = await startSipFrontEnd(env.lab, { digest: true, maxConnections: 3 });
    try {
      const idle1 = await RawSipClient.tcp(strict.tcp.port);
      await sleep(20);
      const idle2 = await RawSipClient.tcp(strict.tcp.port);
      const active = await RawSipClient.tcp(strict.tcp.port);
      expect((await options(active)).status).toBe(200);
      const newcomer = await RawSipClient.tcp(strict.tcp.port);
      expect((await options(newcomer)).status).toBe(200);
      await sleep(50);
      expect(idle1.closed).toBe(true);
      expect(idle2.closed).toBe(false);
      expect(active.closed).toBe(false);
    } finally {
      await strict.stop();
    }
  });

  it('a quiet registered client is the last to make room: a silent newcomer goes first, then an unregistered one', async () => {
    const strict = await startSipFrontEnd(env.lab, { digest: true, maxConnections: 3 });
    try {
      const registered = await RawSipClient.tls(strict.tls.port, env.caPem);
      expect((await registered.register(user(0).aor, user(0).sam, user(0).password)).status).toBe(200);
      await sleep(20);
      const unregistered = await RawSipClient.tcp(strict.tcp.port);
      expect((await options(unregistered)).status).toBe(200);
      const silent = await RawSipClient.tcp(strict.tcp.port);
      const first = await RawSipClient.tcp(strict.tcp.port);
      expect((await options(first)).status).toBe(200);
      await sleep(50);
      expect(silent.closed).toBe(true);
      expect(unregistered.closed).toBe(false);
      const second = await RawSipClient.tcp(strict.tcp.port);
      expect((await options(second)).status).toBe(200);
      await sleep(50);
      expect(unregistered.closed).toBe(true);
      expect(registered.closed).toBe(false);
      expect(sip.registrations()).toContain(user(0).aor);
    } finally {
      await strict.stop();
    }
  });
});
