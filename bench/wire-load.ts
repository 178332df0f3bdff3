/**
 * The load side of the wire benchmark, run as its own process (so the server's figures are not shared
 * with the client's): `tsx bench/wire-load.ts <ldap|sip|hold> <endpoints.json> <seconds|count>`.
 * Prints one JSON line with what it did.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import ldap from 'ldapjs';
import { RawSipClient } from '../test/support/wire-sip.js';

interface Endpoints {
  dns: { port: number };
  ldap: string;
  bindDn: string;
  bindPassword: string;
  baseDn: string;
  sipTcp: { host: string; port: number } | null;
  users: Array<{ sam: string; sipUri: string; password: string }>;
}

const [mode = '', file = '', arg = '5'] = process.argv.slice(2);
const e = JSON.parse(readFileSync(file, 'utf8')) as Endpoints;

async function ldapLoad(seconds: number): Promise<void> {
  const clients = 4;
  const deadline = Date.now() + seconds * 1000;
  let searches = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const c = ldap.createClient({ url: e.ldap });
      c.on('error', () => undefined);
      await new Promise<void>((res, rej) => c.bind(e.bindDn, e.bindPassword, (err) => (err ? rej(err) : res())));
      while (Date.now() < deadline) {
        await new Promise<void>((res, rej) =>
          c.search(e.baseDn, { scope: 'sub', filter: '(sAMAccountName=ocsuser1)', attributes: ['msRTCSIP-PrimaryUserAddress'] }, (err, r) => {
            if (err) return rej(err);
            r.on('error', rej);
            r.on('end', () => res());
          }),
        );
        searches++;
      }
      await new Promise<void>((res) => c.unbind(() => res()));
    }),
  );
  console.log(JSON.stringify({ mode, seconds, clients, searches, perSecond: searches / seconds }));
}

async function sipLoad(seconds: number): Promise<void> {
  if (!e.sipTcp) throw new Error('the front end is not listening for SIP');
  const clients = 16;
  const deadline = Date.now() + seconds * 1000;
  let registrations = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const u = e.users[i % e.users.length];
      if (!u) return;
      const c = await RawSipClient.tcp(e.sipTcp?.port ?? 0);
      while (Date.now() < deadline) {
        const r = await c.register(u.sipUri, u.sam, u.password, 300);
        if (r.status !== 200) throw new Error(`REGISTER answered ${r.status}`);
        registrations++;
      }
      c.close();
    }),
  );
  console.log(JSON.stringify({ mode, seconds, clients, registrations, perSecond: registrations / seconds }));
}

/** Registers `count` endpoints (one TCP connection each), says so, and holds them until stdin closes. */
async function hold(count: number): Promise<void> {
  if (!e.sipTcp) throw new Error('the front end is not listening for SIP');
  const held: RawSipClient[] = [];
  for (let i = 0; i < count; i++) {
    const u = e.users[i % e.users.length];
    if (!u) break;
    const c = await RawSipClient.tcp(e.sipTcp.port);
    const r = await c.register(u.sipUri, u.sam, u.password, 3600);
    if (r.status !== 200) throw new Error(`REGISTER answered ${r.status}`);
    held.push(c);
  }
  console.log(JSON.stringify({ mode, registered: held.length }));
  process.stdin.resume();
  process.stdin.on('end', () => {
    for (const c of held) c.close();
    process.exit(0);
  });
}

/**
 * `count` malformed and mutated SIP messages over TCP (8 connections, each reopened when the front end
 * closes it), from one seeded generator: byte flips, cut messages, duplicated and oversized headers,
 * bodies of every content type the front end reads (category publish, SOAP, batchSub, SDP).
 */
async function fuzz(count: number): Promise<void> {
  if (!e.sipTcp) throw new Error('the front end is not listening for SIP');
  const port = e.sipTcp.port;
  let seed = 0x2009;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const bodies: Array<[string, string, string]> = [
    ['SERVICE', 'application/msrtc-category-publish+xml', '<publish><publications uri="sip:ocsuser1@example.com"><publication categoryName="state" instance="1" container="2" version="0" expireType="static"><state><availability>6500</availability></state></publication></publications></publish>'],
    ['SERVICE', 'application/SOAP+xml', '<s:Envelope xmlns:s="x"><s:Body><m:setContact xmlns:m="y"><m:URI>sip:a@b</m:URI></m:setContact></s:Body></s:Envelope>'],
    ['SUBSCRIBE', 'application/msrtc-adrl-categorylist+xml', '<batchSub uri="sip:ocsuser1@example.com"><action name="subscribe" id="1"><adhocList><resource uri="sip:ocsuser2@example.com"/></adhocList></action></batchSub>'],
    ['INVITE', 'application/sdp', 'v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 5060 sip null\r\n'],
    ['REGISTER', 'text/plain', ''],
  ];
  const message = (i: number): string => {
    const [method, type, body0] = bodies[rnd(bodies.length)] as [string, string, string];
    let body = body0;
    const headers = [`${method} sip:ocsuser1@example.com SIP/2.0`, `Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bK${i}`, 'Max-Forwards: 70', `From: <sip:ocsuser1@example.com>;tag=f${i}`, 'To: <sip:ocsuser1@example.com>', `Call-ID: fuzz-${i}`, `CSeq: ${i} ${method}`, `Content-Type: ${type}`, 'Authorization: NTLM qop="auth", opaque="00", crand="1", cnum="1", response="0"'];
    switch (rnd(6)) {
      case 0: headers.push(`X-Long: ${'a'.repeat(rnd(60_000))}`); break;
      case 1: headers.splice(1 + rnd(headers.length - 1), 1); break;
      case 2: for (let k = 0; k < 50; k++) headers.push(`Via: SIP/2.0/TCP h${k};branch=z9hG4bK${k}`); break;
      case 3: body = body.slice(0, rnd(body.length + 1)); break;
      case 4: body = body.replace(/[a-z]/g, (c) => (rnd(10) === 0 ? '<&' : c)); break;
      default: break;
    }
    let text = `${headers.join('\r\n')}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    if (rnd(8) === 0) text = text.replace(/./g, (c) => (rnd(50) === 0 ? String.fromCharCode(rnd(256)) : c));
    return text;
  };
  let sent = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (sent < count) {
        const socket = connect({ host: '127.0.0.1', port });
        socket.on('data', () => undefined);
        const closed = new Promise<void>((r) => {
          socket.on('close', () => r());
          socket.on('error', () => r());
        });
        await new Promise<void>((r) => socket.once('connect', () => r()).once('error', () => r()));
        for (let k = 0; k < 100 && sent < count && !socket.destroyed; k++) {
          sent++;
          if (!socket.write(message(sent))) await Promise.race([new Promise((r) => socket.once('drain', r)), closed]);
        }
        socket.end();
        await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
        socket.destroy();
      }
    }),
  );
  console.log(JSON.stringify({ mode, sent }));
}

const n = Number(arg);
/**
 * The stalling inputs of issue 13, all at once, until killed: three connections each sending a
 * 40,000-term OR search as soon as the last one ends; 1,000 SIP connections with half a request each
 * (opened again when the server closes them); 64 LDAP connections each holding most of a 1 MiB message;
 * 256 DNS-over-TCP connections sending a byte every 5 s.
 */
async function abuse(): Promise<void> {
  const filterPkg = (await import('@ldapjs/filter')).default;
  const { message, octets, tlv, intBytes } = await import('../emulators/ad/ldap.ber.js');
  const ldapUrl = new URL(e.ldap);
  const ldapPort = Number(ldapUrl.port);
  const wide = Buffer.from((filterPkg.parseString(`(|${Array.from({ length: 40_000 }, (_, i) => `(cn=nobody${i})`).join('')})`) as unknown as { toBer(): { buffer: Buffer } }).toBer().buffer);
  const bind = message(1, tlv(0x60, tlv(0x02, intBytes(3)), octets(e.bindDn), octets(e.bindPassword, 0x80)));
  const search = (id: number) => message(id, tlv(0x63, octets(e.baseDn), tlv(0x0a, intBytes(2)), tlv(0x0a, intBytes(0)), tlv(0x02, intBytes(0)), tlv(0x02, intBytes(0)), tlv(0x01, Buffer.from([0])), wide, tlv(0x30, octets('cn'))));
  // ABUSE=wide,half,partial,drip picks some of them (default: all), to see which one costs what.
  const kinds = new Set((process.env.ABUSE ?? 'wide,half,partial,drip').split(','));
  const keep = (open: () => void) => open();
  // Wide ORs, back to back.
  for (let k = 0; k < (kinds.has('wide') ? 3 : 0); k++)
    keep(function openWide() {
      const s = connect(ldapPort, '127.0.0.1');
      let id = 2;
      s.on('error', () => undefined);
      s.on('close', () => setTimeout(openWide, 100));
      s.on('connect', () => s.write(Buffer.concat([bind, search(id)])));
      let seen = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        seen = Buffer.concat([seen, d]).subarray(-64);
        // searchResultDone (0x65) for the current id: send the next one.
        if (seen.includes(Buffer.from([0x65]))) {
          seen = Buffer.alloc(0);
          s.write(search(++id));
        }
      });
    });
  // Half-sent SIP requests.
  const sipPort = e.sipTcp?.port ?? 0;
  for (let k = 0; k < (kinds.has('half') ? 1000 : 0); k++)
    keep(function openHalf() {
      const s = connect(sipPort, '127.0.0.1');
      s.on('error', () => undefined);
      s.on('close', () => setTimeout(openHalf, 1000));
      s.on('connect', () => s.write('OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKhalf\r\n'));
    });
  // Partial 1 MiB LDAP messages.
  for (let k = 0; k < (kinds.has('partial') ? 64 : 0); k++)
    keep(function openPartial() {
      const s = connect(ldapPort, '127.0.0.1');
      s.on('error', () => undefined);
      s.on('close', () => setTimeout(openPartial, 1000));
      s.on('connect', () => s.write(Buffer.concat([Buffer.from([0x30, 0x83, 0x0f, 0xff, 0xf0]), Buffer.alloc(900_000)])));
    });
  // DNS over TCP, a byte every 5 s.
  for (let k = 0; k < (kinds.has('drip') ? 256 : 0); k++)
    keep(function openDrip() {
      const s = connect(e.dns.port, '127.0.0.1');
      s.on('error', () => undefined);
      const t = setInterval(() => s.writable && s.write(Buffer.from([0])), 5000);
      s.on('close', () => {
        clearInterval(t);
        setTimeout(openDrip, 1000);
      });
      s.on('connect', () => s.write(Buffer.from([0x00])));
    });
  await new Promise((r) => setTimeout(r, 1500));
  console.log('abusing');
  await new Promise(() => undefined);
}

await (mode === 'abuse' ? abuse() : mode === 'ldap' ? ldapLoad(n) : mode === 'sip' ? sipLoad(n) : mode === 'hold' ? hold(n) : mode === 'fuzz' ? fuzz(n) : Promise.reject(new Error(`unknown mode ${mode}`)));
