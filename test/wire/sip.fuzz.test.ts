/**
 * Robustness of the front end's SIP listener: 12,000 generated and mutated SIP messages over TCP (seeded
 * PRNG, so a failure replays), in bounded time. The adapter must report no exception, and a REGISTER with
 * Digest must still succeed afterwards, as must a client that stayed connected throughout.
 *
 * Then the bodies a signed-in user sends ([MS-PRES], [MS-SIP]): mutated category publishes and contact-list
 * SOAP in SERVICE, batchSub bodies in SUBSCRIBE presence, SDP in INVITE. Each must be answered, and the
 * user's presence must still work afterwards.
 */
import { connect, type Socket } from 'node:net';
import { XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSipFrontEnd, type SipListening } from '../../emulators/ocs/ocs.sip.adapter.js';
import { parseCategories } from '../../emulators/ocs/ocs.presence.js';
import { buildSeedLab, RawSipClient, type RawSip, type SeedLab } from '../support/wire-sip.js';

const MESSAGES = 12_000;
const WORKERS = 32;
const PER_CONNECTION = 4;

let env: SeedLab;
let sip: SipListening;
const errors: unknown[] = [];

beforeAll(async () => {
  env = await buildSeedLab();
  sip = await startSipFrontEnd(env.lab, { digest: true, onError: (e) => errors.push(e) });
}, 60_000);

afterAll(async () => {
  await sip?.stop();
  await env?.lab.close();
});

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const METHODS = ['REGISTER', 'MESSAGE', 'OPTIONS', 'SUBSCRIBE', 'PUBLISH', 'NOTIFY', 'INVITE', 'ACK', 'BYE', 'CANCEL', 'INFO', 'FOO'];
const URIS = ['sip:ocsuser1@example.com', 'sip:ocsuser2@example.com', 'sip:example.com', 'sip:nobody@example.com', 'sips:x@[::1]:5061;transport=tls', 'tel:+15551234', '<>', 'sip:', 'sip:@', 'sip:a@b@c'];
/** An AUTHENTICATE_MESSAGE whose every field says it is `len` bytes at `off` (past the end, overlapping, huge). */
const bogusAuthenticate = (len: number, off: number, flags = 0x62988255) => {
  const b = Buffer.alloc(72);
  Buffer.from('NTLMSSP\0', 'latin1').copy(b);
  b.writeUInt32LE(3, 8);
  for (const at of [12, 20, 28, 36, 44, 52]) {
    b.writeUInt16LE(len & 0xffff, at);
    b.writeUInt32LE(off >>> 0, at + 4);
  }
  b.writeUInt32LE(flags >>> 0, 60);
  return b.toString('base64');
};
const NTLM_AUTH = (rest: string) => `Authorization: NTLM qop="auth", realm="SIP Communications Service", targetname="ocsfe01.corp.example.net", ${rest}`;

const EXTRA = [
  NTLM_AUTH('gssapi-data="", version=4'),
  NTLM_AUTH('opaque="00000000", gssapi-data="TlRMTVNTUAADAAAA", version=4'),
  NTLM_AUTH(`opaque="ABCDEF01", gssapi-data="${bogusAuthenticate(0xffff, 0xfffffff0)}", version=4`),
  NTLM_AUTH(`opaque="ABCDEF01", gssapi-data="${bogusAuthenticate(16, 70)}", version=4, crand="1", cnum="1", response="zz"`),
  NTLM_AUTH(`gssapi-data="${Buffer.alloc(300, 0xff).toString('base64')}"`),
  NTLM_AUTH('gssapi-data="!!!not base64!!!", opaque="'),
  NTLM_AUTH('opaque="1", crand="x", cnum="-1", response="01000000000000000000000064000000"'),
  'Authorization: NTLM',
  // Long runs a backtracking parameter scan took seconds over (one message could stall the lab).
  `Authorization: NTLM ${'a'.repeat(30_000)}`,
  `Authorization: Digest ${'b'.repeat(30_000)}`,
  `P-Asserted-Identity: ${'<'.repeat(20_000)}`,
  'Proxy-Authorization: Kerberos realm="SIP Communications Service", gssapi-data="YII="',
  'Authorization: NTLM gssapi-data=,,,,=',
  'Authorization: Digest username="ocsuser1", realm="SIP Communications Service", nonce="00", uri="sip:example.com", response="00", qop=auth, nc=1, cnonce="x"',
  'Authorization: Digest username=',
  'Authorization: Basic b2NzdXNlcjE6eA==',
  'Expires: 99999999999999999999',
  'Expires: -1',
  'Contact: *',
  'Contact: <sip:a@b;transport=tls>;expires=abc',
  'Event: presence',
  'Event: presence;id=',
  'Max-Forwards: 0',
  'Content-Type: application/pidf+xml',
  `X-Long: ${'A'.repeat(4000)}`,
  'Via: SIP/2.0/TCP h;branch=z9hG4bK1, SIP/2.0/TCP g;branch=z9hG4bK2',
  ' folded continuation line',
  'CSeq: 1 OTHER',
  'Call-ID:',
];

function generate(rnd: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const method = pick(METHODS);
  const uri = pick(URIS);
  const body = rnd() < 0.3 ? 'x'.repeat(Math.floor(rnd() * 200)) : '';
  const headers = [
    `Via: SIP/2.0/TCP fuzz.invalid;branch=z9hG4bK${Math.floor(rnd() * 1e9)}`,
    'Max-Forwards: 70',
    `From: <${pick(URIS)}>;tag=${Math.floor(rnd() * 1e6)}`,
    `To: <${pick(URIS)}>${rnd() < 0.2 ? ';tag=t' : ''}`,
    `Call-ID: fuzz${Math.floor(rnd() * 1e9)}`,
    `CSeq: ${Math.floor(rnd() * 100)} ${rnd() < 0.9 ? method : pick(METHODS)}`,
    `Contact: <sip:fuzz@fuzz.invalid;transport=tcp>`,
  ];
  for (let n = Math.floor(rnd() * 3); n > 0; n--) headers.splice(Math.floor(rnd() * headers.length), 0, pick(EXTRA));
  if (rnd() < 0.2) headers.splice(Math.floor(rnd() * headers.length), 1);
  const start = rnd() < 0.15 ? `SIP/2.0 ${Math.floor(rnd() * 700)} Whatever` : `${method} ${uri} SIP/2.0`;
  const cl = rnd() < 0.9 ? Buffer.byteLength(body) : Math.floor(rnd() * 300);
  let text = [start, ...headers, `Content-Length: ${cl}`, '', body].join('\r\n');
  // Byte-level mutations on a share of them.
  const r = rnd();
  if (r < 0.15) {
    const bytes = Buffer.from(text);
    for (let n = 1 + Math.floor(rnd() * 8); n > 0; n--) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
    text = bytes.toString('latin1');
  } else if (r < 0.22) {
    text = text.slice(0, Math.floor(rnd() * text.length)) + '\r\n\r\n';
  } else if (r < 0.26) {
    text = Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256))).toString('latin1') + '\r\n\r\n';
  } else if (r < 0.28) {
    text = '\r\n\r\n';
  }
  return text;
}

let answered = 0;

function sendBatch(port: number, batch: string[]): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = connect({ host: '127.0.0.1', port }, () => {
      for (const m of batch) if (!s.destroyed) s.write(Buffer.from(m, 'latin1'));
      s.end();
    });
    s.on('data', (d: Buffer) => void (answered += d.toString('latin1').split('SIP/2.0 ').length - 1));
    s.on('error', async () => resolve());
    s.on('close', () => resolve());
    setTimeout(() => {
      s.destroy();
      resolve();
    }, 3000).unref();
  });
}

describe('SIP over TCP under fuzzing', () => {
  it(`survives ${MESSAGES} generated and mutated messages, then still registers`, async () => {
    const steady = await RawSipClient.tcp(sip.tcp.port);
    const u = env.users[0] as SeedLab['users'][number];
    expect((await steady.register(u.aor, u.sam, u.password)).status).toBe(200);

    const started = Date.now();
    let sent = 0;
    await Promise.all(
      Array.from({ length: WORKERS }, async (_, w) => {
        const rnd = prng(0x5e1 + w);
        while (sent < MESSAGES) {
          const batch = Array.from({ length: PER_CONNECTION }, () => generate(rnd));
          sent += batch.length;
          await sendBatch(sip.tcp.port, batch);
        }
      }),
    );
    const elapsed = Date.now() - started;
    expect(sent).toBeGreaterThanOrEqual(MESSAGES);
    expect(elapsed).toBeLessThan(60_000);
    expect(errors).toEqual([]);
    // Many were answered (400, 401, 403, 404, 489, 501 ...), not merely dropped with the connection.
    expect(answered).toBeGreaterThan(MESSAGES / 6);

    // The connection that stayed up is still served, and a new client can register.
    const b = steady.request('OPTIONS', 'sip:example.com', { from: u.aor, to: 'sip:example.com' });
    expect((await steady.next((m) => (m.header('via') ?? '').includes(b))).status).toBe(200);
    const fresh = await RawSipClient.tcp(sip.tcp.port);
    const v = env.users[1] as SeedLab['users'][number];
    expect((await fresh.register(v.aor, v.sam, v.password)).status).toBe(200);
    expect(sip.registrations()).toEqual([u.aor, v.aor].sort());
    steady.close();
    fresh.close();
  }, 90_000);
});

// ---- bodies from a signed-in user ------------------------------------------------------------------

const BODY_MESSAGES = 3_000;
/** Requests awaiting their answer at once on the signed-in connection. */
const IN_FLIGHT = 24;
const USER_STATE = 536870912;
const NS = {
  publish: 'http://schemas.microsoft.com/2006/09/sip/rich-presence',
  state: 'http://schemas.microsoft.com/2006/09/sip/state',
  note: 'http://schemas.microsoft.com/2006/09/sip/note',
  batch: 'http://schemas.microsoft.com/2006/01/sip/batch-subscribe',
  soap: 'http://schemas.xmlsoap.org/soap/envelope/',
  winrtc: 'http://schemas.microsoft.com/winrtc/2002/11/sip',
};

/** What XML parsers and the front end's readers are picky about, spliced into bodies. */
const XML_HOSTILE = [
  '<', '>', '&', '"', "'", ']]>', '<![CDATA[', '<!--', '-->', '<?x?>', '&amp;', '&lol;', '&#0;', '&#13;&#10;', '&#x110000;', '</publication>', '</publications>',
  '<publication categoryName="note" instance="0" container="200" version="0">', '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>', '<__proto__/>', '<constructor>', 'xmlns:a="u"', ' a="1" a="2"',
  'version="4294967296"', 'version="-1"', 'expires="0"', 'expireType="time" expires="1"', 'uri="sip:ocsuser2@example.com"', '\u0000', '\r\n\r\n', 'x'.repeat(2000),
];
const SDP_HOSTILE = ['\r\n', '\n', '\r\n\r\n', 'm=audio 0 RTP/AVP 0', 'c=IN IP6 ::1', 'a=accept-types:', 'o=', '=', '\u0000', 'INVITE sip:x SIP/2.0\r\n', 'Content-Length: 99\r\n', 'v=0'.repeat(500)];

/** Mutates `text` 0-3 times: a hostile token spliced in, a span dropped or doubled, characters replaced, a cut, numbers changed. */
function mutate(rnd: () => number, text: string, hostile: readonly string[]): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const at = () => Math.floor(rnd() * (text.length + 1));
  for (let n = Math.floor(rnd() * 4); n > 0; n--) {
    const i = at();
    const j = Math.min(text.length, i + 1 + Math.floor(rnd() * 40));
    switch (Math.floor(rnd() * 6)) {
      case 0:
        text = text.slice(0, i) + pick(hostile) + text.slice(i);
        break;
      case 1:
        text = text.slice(0, i) + text.slice(j);
        break;
      case 2:
        text = text.slice(0, j) + text.slice(i, j) + text.slice(j);
        break;
      case 3:
        text = Array.from(text, (c, k) => (k >= i && k < j && rnd() < 0.3 ? String.fromCharCode(1 + Math.floor(rnd() * 126)) : c)).join('');
        break;
      case 4:
        text = text.slice(0, i);
        break;
      default:
        text = text.replace(/\d+/g, (d) => (rnd() < 0.3 ? String(pick([0, 1, 2, 3, 200, 300, 400, USER_STATE, 4294967295, 99999999999])) : d));
    }
  }
  return text;
}

type Generated = { kind: 'publish' | 'soap' | 'batchSub' | 'sdp'; method: 'SERVICE' | 'SUBSCRIBE' | 'INVITE'; contentType: string; body: string; headers: string[]; toCallee?: boolean; callId?: string };

function generateBody(rnd: () => number, self: string, others: readonly string[]): Generated {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const n = (max: number) => Math.floor(rnd() * max);
  const kind = rnd();
  if (kind < 0.4) {
    const pubs = Array.from({ length: rnd() < 0.03 ? 65 : 1 + n(4) }, () => {
      const state = rnd() < 0.5;
      const doc = state
        ? `<state xmlns="${NS.state}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" manual="true" xsi:type="${pick(['userState', 'machineState', 'aggregateState'])}"><availability>${pick([3500, 6500, 9500, 12500, 15500, 18500, 0, n(20000)])}</availability></state>`
        : `<note xmlns="${NS.note}"><body type="${pick(['personal', 'OOF'])}" uri="">${pick(['In a meeting', 'Tom &amp; Jerry', '<![CDATA[<b>bold</b>]]>', '', 'x'.repeat(n(300))])}</body></note>`;
      return `<publication categoryName="${state ? 'state' : 'note'}" instance="${state ? USER_STATE : n(3)}" container="${pick([2, 3, 200, 300, 400, 100])}" version="${n(4)}" expireType="${pick(['static', 'user', 'endpoint', 'time'])}"${rnd() < 0.1 ? ' expires="0"' : ''}>${doc}</publication>`;
    });
    const body = `<publish xmlns="${NS.publish}"><publications uri="${rnd() < 0.05 ? pick(others) : self}">${pubs.join('')}</publications></publish>`;
    const contentType = rnd() < 0.1 ? 'text/xml' : pick(['application/msrtc-category-publish+xml', 'application/msrtc-category-publish+xml; charset=UTF-8', 'APPLICATION/MSRTC-CATEGORY-PUBLISH+XML']);
    return { kind: 'publish', method: 'SERVICE', contentType, body: mutate(rnd, body, XML_HOSTILE), headers: [] };
  }
  if (kind < 0.6) {
    const uri = pick([...others, 'sip:nobody@example.com', 'OCSUSER2@EXAMPLE.COM', 'tel:+15551234', '']);
    const name = pick(['Team', 'Family', 'Other Contacts', '~', '', 'é中😀 &amp; &lt;x&gt;', 'y'.repeat(n(400))]);
    const id = pick([1, 2, 3, 4, 0, 64, 4294967296]);
    const fields = pick([
      `<m:displayName>${name}</m:displayName><m:groups>${pick(['1', '1 2', '2 3 99', '', 'a b', '-1'])}</m:groups><m:subscribed>${pick(['true', 'false', 'x'])}</m:subscribed><m:URI>${uri}</m:URI><m:externalURI /><m:deltaNum>${n(50)}</m:deltaNum>`,
      `<m:URI>${uri}</m:URI><m:deltaNum>${n(50)}</m:deltaNum>`,
      `<m:name>${name}</m:name><m:externalURI /><m:deltaNum>${n(50)}</m:deltaNum>`,
      `<m:groupID>${id}</m:groupID><m:name>${name}</m:name><m:externalURI /><m:deltaNum>${n(50)}</m:deltaNum>`,
      `<m:groupID>${id}</m:groupID><m:deltaNum>${n(50)}</m:deltaNum>`,
    ]);
    const method = pick(['setContact', 'deleteContact', 'addGroup', 'modifyGroup', 'deleteGroup', 'setPresence', '']);
    const body = `<s:Envelope xmlns:s="${NS.soap}"><s:Body><m:${method || 'x'} xmlns:m="${NS.winrtc}">${fields}</m:${method || 'x'}></s:Body></s:Envelope>`;
    return { kind: 'soap', method: 'SERVICE', contentType: pick(['application/SOAP+xml', 'application/soap+xml; charset=utf-8']), body: mutate(rnd, body, XML_HOSTILE), headers: [] };
  }
  if (kind < 0.85) {
    const resources = rnd() < 0.03 ? Array.from({ length: 1001 }, (_, i) => `sip:u${i}@example.com`) : Array.from({ length: n(5) }, () => pick([...others, 'sip:nobody@example.com', 'SIP:OCSUSER2@EXAMPLE.COM', 'tel:1', 'sip:a@b@c']));
    const categories = ['calendarData', 'contactCard', 'note', 'state', 'x'].filter(() => rnd() < 0.6);
    const body = `<batchSub xmlns="${NS.batch}" uri="${self}" name=""><action name="${pick(['subscribe', 'subscribe', 'unsubscribe', 'x'])}" id="${n(1e8)}"><adhocList>${resources.map((r) => `<resource uri="${r}"/>`).join('')}</adhocList><categoryList xmlns="http://schemas.microsoft.com/2006/09/sip/categorylist">${categories.map((c) => `<category name="${c}"/>`).join('')}</categoryList></action></batchSub>`;
    return {
      kind: 'batchSub',
      method: 'SUBSCRIBE',
      contentType: rnd() < 0.1 ? 'text/plain' : 'application/msrtc-adrl-categorylist+xml',
      body: mutate(rnd, body, XML_HOSTILE),
      headers: ['Event: presence', 'Require: adhoclist, categoryList', 'Supported: eventlist, ms-benotify', 'Accept: application/msrtc-event-categories+xml', `Expires: ${pick([0, 60, 3600, 99999])}`],
      // A few dialogs, refreshed over and over, rather than thousands of subscriptions.
      callId: `fuzz-batch-${n(6)}`,
    };
  }
  const sdp = ['v=0', `o=- 0 0 IN IP4 127.0.0.1`, 's=session', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=message 5060 sip null', 'a=accept-types:text/plain text/rtf multipart/alternative', ''].join('\r\n');
  return { kind: 'sdp', method: 'INVITE', contentType: rnd() < 0.1 ? 'text/plain' : 'application/sdp', body: mutate(rnd, sdp, SDP_HOSTILE), headers: [], toCallee: true };
}

const finalFor = (branch: string) => (m: RawSip) => (m.status ?? 0) >= 200 && (m.header('via') ?? '').includes(branch);

describe('bodies from a signed-in user under fuzzing', () => {
  it(`answers ${BODY_MESSAGES} mutated category publishes, contact-list SOAP, batchSub bodies and SDP, then publish, subscribe and SOAP still work`, async () => {
    const u = env.users[0] as SeedLab['users'][number];
    const v = env.users[1] as SeedLab['users'][number];
    const caller = await RawSipClient.tcp(sip.tcp.port);
    const callee = await RawSipClient.tcp(sip.tcp.port);
    expect((await caller.register(u.aor, u.sam, u.password)).status).toBe(200);
    expect((await callee.register(v.aor, v.sam, v.password)).status).toBe(200);

    // The callee turns down every INVITE proxied to it, after checking the SDP came through as sent.
    const sdpSent = new Map<string, string>();
    const sdpAltered: string[] = [];
    let answering = true;
    const answerer = (async () => {
      while (answering) {
        const invite = await callee.next((m) => m.method === 'INVITE', 200).catch(() => undefined);
        // The ACKs of the refusals, which nobody waits for.
        for (let i = callee.received.length - 1; i >= 0; i--) if (callee.received[i]?.method !== 'INVITE') callee.received.splice(i, 1);
        if (!invite) continue;
        const callId = invite.header('call-id') ?? '';
        if (invite.body !== sdpSent.get(callId)) sdpAltered.push(callId);
        const echo = invite.headers.filter(([k]) => ['via', 'from', 'call-id', 'cseq', 'record-route'].includes(k)).map(([k, x]) => `${k}: ${x}`);
        callee.send(['SIP/2.0 486 Busy Here', ...echo, `To: ${invite.header('to')};tag=busy`, 'Content-Length: 0', '', ''].join('\r\n'));
      }
    })();

    const rnd = prng(0x9e5);
    const statuses = new Map<string, number>();
    const unanswered: string[] = [];
    const started = Date.now();
    for (let sent = 0; sent < BODY_MESSAGES; sent += IN_FLIGHT) {
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          const g = generateBody(rnd, u.aor, [v.aor]);
          const to = g.toCallee ? v.aor : u.aor;
          const callId = g.callId ?? `fuzz-${Math.floor(rnd() * 1e12)}`;
          if (g.method === 'INVITE') sdpSent.set(callId, g.body);
          const branch = caller.request(g.method, to, { from: u.aor, to, headers: g.headers, body: g.body, contentType: g.contentType, callId });
          const answer = await caller.next(finalFor(branch), 10_000).catch(() => undefined);
          if (!answer) return void unanswered.push(`${g.method} ${g.contentType}: ${g.body.slice(0, 200)}`);
          const key = `${g.kind} ${answer.status}`;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
        }),
      );
      // NOTIFYs and provisional answers nobody waits for.
      caller.received.splice(0, caller.received.length);
    }
    const elapsed = Date.now() - started;
    answering = false;
    await answerer;

    expect(unanswered).toEqual([]);
    expect(errors).toEqual([]);
    expect(sdpAltered).toEqual([]);
    expect(elapsed).toBeLessThan(30_000);
    // Every kind reached its reader or the proxy (not all refused at the door), and got only answers it can get.
    const answers = [...statuses.keys()];
    expect(answers).toEqual(expect.arrayContaining(['publish 200', 'publish 400', 'publish 409', 'publish 415', 'soap 200', 'soap 400', 'batchSub 200', 'batchSub 400', 'batchSub 415', 'sdp 486']));
    const possible = new Set(['publish 200', 'publish 400', 'publish 409', 'publish 413', 'publish 415', 'soap 200', 'soap 400', 'batchSub 200', 'batchSub 400', 'batchSub 415', 'sdp 486']);
    expect(answers.filter((k) => !possible.has(k))).toEqual([]);

    // Afterwards, as Communicator does it: the versions from roaming-self, a state publish with them, and a
    // watcher that sees it; a contact-list change; an INVITE that reaches the callee.
    const self = caller.request('SUBSCRIBE', u.aor, { from: u.aor, to: u.aor, headers: ['Event: vnd-microsoft-roaming-self', 'Supported: ms-piggyback-first-notify', 'Expires: 0'] });
    const roaming = await caller.next(finalFor(self));
    expect(roaming.status).toBe(200);
    expect(XMLValidator.validate(roaming.body)).toBe(true);
    const version = (container: number) => Number(new RegExp(`<category name="state" instance="${USER_STATE}" publishTime="[^"]*" container="${container}" version="(\\d+)"`).exec(roaming.body)?.[1] ?? 0);
    const busy = [2, 3]
      .map((c) => `<publication categoryName="state" instance="${USER_STATE}" container="${c}" version="${version(c)}" expireType="static"><state xmlns="${NS.state}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" manual="true" xsi:type="userState"><availability>9500</availability></state></publication>`)
      .join('');
    const published = caller.request('SERVICE', u.aor, { from: u.aor, to: u.aor, body: `<publish xmlns="${NS.publish}"><publications uri="${u.aor}">${busy}</publications></publish>`, contentType: 'application/msrtc-category-publish+xml' });
    expect((await caller.next(finalFor(published))).status).toBe(200);

    const watch = callee.request('SUBSCRIBE', v.aor, {
      from: v.aor,
      to: v.aor,
      headers: ['Event: presence', 'Require: adhoclist, categoryList', 'Supported: eventlist', 'Accept: application/msrtc-event-categories+xml', 'Expires: 60'],
      body: `<batchSub xmlns="${NS.batch}" uri="${v.aor}" name=""><action name="subscribe" id="1"><adhocList><resource uri="${u.aor}"/></adhocList><categoryList xmlns="http://schemas.microsoft.com/2006/09/sip/categorylist"><category name="state"/></categoryList></action></batchSub>`,
      contentType: 'application/msrtc-adrl-categorylist+xml',
    });
    expect((await callee.next(finalFor(watch))).status).toBe(200);
    const notify = await callee.next((m) => m.method === 'NOTIFY' && parseCategories(m.body)?.uri === u.aor);
    expect(parseCategories(notify.body)).toEqual({ uri: u.aor, availability: 9500 });

    const soap = `<s:Envelope xmlns:s="${NS.soap}"><s:Body><m:addGroup xmlns:m="${NS.winrtc}"><m:name>After the fuzz</m:name><m:externalURI /></m:addGroup></s:Body></s:Envelope>`;
    const added = caller.request('SERVICE', u.aor, { from: u.aor, to: u.aor, body: soap, contentType: 'application/SOAP+xml' });
    const group = await caller.next(finalFor(added));
    expect(group.status).toBe(200);
    expect(group.body).toMatch(/<m:groupID>\d+<\/m:groupID>/);

    const sdp = 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 5060 sip null\r\n';
    caller.request('INVITE', v.aor, { from: u.aor, to: v.aor, body: sdp, contentType: 'application/sdp' });
    expect((await callee.next((m) => m.method === 'INVITE')).body).toBe(sdp);
    caller.close();
    callee.close();
  }, 60_000);
});
