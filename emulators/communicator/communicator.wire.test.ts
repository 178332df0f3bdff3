/**
 * Communicator's wire pieces against the lab at the end of the seed (seed-part3) on real loopback
 * sockets: the certificate decision on the certificate the front end really presents (trusted, untrusted
 * root, expired or not yet valid at the client's clock, a name it does not carry), `connectFirst`
 * through the lab network, DNS over UDP to the lab's DNS server, and the PIDF documents Communicator
 * publishes and reads.
 */
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSeedLab, type SeedLab } from '../../test/support/wire-sip.js';
import { hostCertificates } from '../host/host.client.js';
import { hostId } from '../host/host.events.js';
import { labNetwork, type LabNetwork } from '../network/lab.network.js';
import { ocsServer } from '../ocs/ocs.client.js';
import type { SipListening } from '../ocs/ocs.sip.adapter.js';
import type { Candidate } from './communicator.discovery.js';
import { communicatorFleet } from './communicator.fleet.js';
import { categoryPublishFor, checkCertificate, connectFirst, handshake, openSocket, parsePidf, udpResolver, viewOfCategories, type TrustPolicy } from './communicator.wire.js';
import { aggregate, applyPublish, categoriesDocument, parsePublish } from '../ocs/ocs.presence.js';

let env: SeedLab;
let network: LabNetwork;
let sip: SipListening;
/** What the front end's 5061 listener presented to a client dialling sip.example.com. */
let peer: PeerCertificate;

beforeAll(async () => {
  env = await buildSeedLab();
  network = labNetwork(env.lab);
  sip = await network.sip('ocsfe01');
  const raw = await openSocket(sip.tls);
  const secured = await handshake(raw, 'sip.example.com');
  peer = secured.peer;
  secured.socket.destroy();
}, 60_000);

afterAll(async () => {
  await env?.lab.close();
});

const labNow = () => env.lab.clock.now();
const trustLab = (now: () => number = labNow): TrustPolicy => ({ roots: [env.caPem], now });

describe('the certificate the front end presents', () => {
  it("is the pool certificate the Certificate Wizard assigned, from ocsfe01's LocalMachine\\My", () => {
    const thumbprint = peer.fingerprint.replace(/:/g, '').toUpperCase();
    expect(ocsServer(env.lab.get('ocs'), 'ocsfe01')?.certificate?.thumbprint).toBe(thumbprint);
    const stored = hostCertificates(env.lab.get(hostId('ocsfe01'))).find((c) => c.thumbprint === thumbprint);
    expect(stored?.subjectCN).toBe('pool01.corp.example.net');
    expect(stored?.sans).toEqual(expect.arrayContaining(['pool01.corp.example.net', 'sip.example.com']));
  });
});

describe('checkCertificate: the client validates the chain, the validity at its clock and the name it dialled', () => {
  it('trusts it for sip.example.com and the pool FQDN when the enterprise root CA is trusted', () => {
    for (const host of ['sip.example.com', 'pool01.corp.example.net', 'SIP.Example.com']) {
      const r = checkCertificate(peer, host, 'ocsfe01', trustLab());
      expect(r, host).toMatchObject({ ok: true, host, server: 'ocsfe01' });
      expect(r.error).toBeUndefined();
    }
    const r = checkCertificate(peer, 'sip.example.com', 'ocsfe01', trustLab());
    expect(r.certificate).toMatchObject({ sans: expect.arrayContaining(['sip.example.com']) });
    expect(r.certificate?.subject).toContain('CN=pool01.corp.example.net');
    expect(r.certificate?.issuer).toContain('CN=corp-DC01-CA');
  });

  it("rejects it when the chain ends in a root outside the client's Trusted Root Certification Authorities", () => {
    const none = checkCertificate(peer, 'sip.example.com', 'ocsfe01', { roots: [], now: labNow });
    expect(none.ok).toBe(false);
    expect(none.error).toMatch(/corp-DC01-CA, which is not in the client's Trusted Root Certification Authorities/);
    // A "root" that did not issue it (the front end's own certificate) is no better.
    const stranger = hostCertificates(env.lab.get(hostId('ocsfe01')))[0]?.certPem ?? '';
    const wrong = checkCertificate(peer, 'sip.example.com', 'ocsfe01', { roots: [stranger], now: labNow });
    expect(wrong.ok).toBe(false);
    expect(wrong.error).toMatch(/not in the client's Trusted Root Certification Authorities/);
    // The lab root among others is enough.
    expect(checkCertificate(peer, 'sip.example.com', 'ocsfe01', { roots: [stranger, env.caPem], now: labNow }).ok).toBe(true);
  });

  it("rejects it outside its validity at the client's clock (expired, not yet valid)", () => {
    const notAfter = Date.parse(peer.valid_to);
    const notBefore = Date.parse(peer.valid_from);
    expect(labNow()).toBeGreaterThan(notBefore);
    expect(labNow()).toBeLessThan(notAfter);
    const expired = checkCertificate(peer, 'sip.example.com', 'ocsfe01', trustLab(() => notAfter + 86_400_000));
    expect(expired.ok).toBe(false);
    expect(expired.error).toMatch(/CERT_E_EXPIRED/);
    expect(expired.error).toContain('(expired: valid ');
    const early = checkCertificate(peer, 'sip.example.com', 'ocsfe01', trustLab(() => notBefore - 86_400_000));
    expect(early.ok).toBe(false);
    expect(early.error).toContain('(notYetValid: valid ');
  });

  it('rejects a name the certificate does not carry (the server name, another domain)', () => {
    for (const host of ['ocsfe01.corp.example.net', 'sip.example.org']) {
      const r = checkCertificate(peer, host, 'ocsfe01', trustLab());
      expect(r.ok, host).toBe(false);
      expect(r.error).toContain(`none matches ${host}`);
    }
  });

  it("decides the same on the host's stored certificate as on the one from the handshake", () => {
    const stored = hostCertificates(env.lab.get(hostId('ocsfe01'))).find((c) => c.subjectCN === 'pool01.corp.example.net');
    if (!stored) throw new Error('no pool certificate on ocsfe01');
    const legacy = new X509Certificate(stored.certPem).toLegacyObject();
    expect(checkCertificate(legacy, 'sip.example.com', 'ocsfe01', trustLab())).toEqual(checkCertificate(peer, 'sip.example.com', 'ocsfe01', trustLab()));
    expect(checkCertificate(legacy, 'ocsfe01.corp.example.net', 'ocsfe01', trustLab()).ok).toBe(false);
  });
});

describe('connectFirst through the lab network', () => {
  const origin = { address: '127.0.50.9', port: 50_900 };
  const candidate = (host: string, address: string): Candidate => ({ host, port: 5061, transport: 'TLS', via: 'manual', addresses: [address] });

  it('skips an address nobody answers and connects to the pool VIP, served by ocsfe01, with the certificate checked', async () => {
    const o = await connectFirst(network, [candidate('sipinternal.example.com', '127.0.10.99'), candidate('sip.example.com', '127.0.10.30')], origin, trustLab());
    expect(o.attempts.map((a) => [a.host, a.server ?? null, a.error ?? null])).toEqual([
      ['sipinternal.example.com', null, 'no answer from 127.0.10.99:5061: the connection attempt timed out'],
      ['sip.example.com', 'ocsfe01', null],
    ]);
    expect(o.ok).toBe(true);
    if (o.ok) {
      expect(o.connected.tls?.ok).toBe(true);
      o.connected.socket.destroy();
    }
  });

  it("stops at the first certificate the client rejects, keeping the check", async () => {
    const o = await connectFirst(network, [candidate('ocsfe01.corp.example.net', '127.0.10.30'), candidate('sip.example.com', '127.0.10.30')], origin, trustLab());
    expect(o.ok).toBe(false);
    expect(o.attempts).toHaveLength(1);
    expect(o.attempts[0]?.error).toMatch(/^certificate rejected: .*none matches ocsfe01\.corp\.example\.net/);
    if (!o.ok) expect(o.tls).toMatchObject({ ok: false, host: 'ocsfe01.corp.example.net', server: 'ocsfe01' });
  });
});

describe("udpResolver: DNS over UDP to the lab's DNS server", () => {
  it('answers A records, NXDOMAIN for a name that does not exist', async () => {
    let id = 100;
    const resolve = udpResolver(await network.dns(), () => ++id);
    expect(await resolve('pool01.corp.example.net', 'A')).toEqual({ rcode: 'NOERROR', records: [{ type: 'A', address: '127.0.10.30' }] });
    expect((await resolve('nosuchhost.corp.example.net', 'A')).rcode).toBe('NXDOMAIN');
  });
});

describe('presence documents', () => {
  it('publishes the availability as a user state in containers 2 and 3 and the note in 200, 300 and 400, with the versions it knows', () => {
    const { body, keys } = categoryPublishFor('sip:ocsuser1@example.com', 'Busy', 'At the <pool> & back', new Map([['state|536870912|2', 4]]));
    expect(keys).toEqual(['state|536870912|2', 'state|536870912|3', 'note|0|200', 'note|0|300', 'note|0|400']);
    const parsed = parsePublish(body, 'sip:ocsuser1@example.com');
    expect(parsed.ok && parsed.value.map((p) => [p.name, p.container, p.version])).toEqual([['state', 2, 4], ['state', 3, 0], ['note', 200, 0], ['note', 300, 0], ['note', 400, 0]]);
    const applied = parsed.ok ? applyPublish(new Map(), parsed.value.map((p) => ({ ...p, version: 0 })), { publishTime: '2009-07-06T09:00:00Z', endpoint: 'e', now: 0 }) : undefined;
    const view = applied?.ok ? aggregate({ publications: applied.publications.values(), online: true }) : undefined;
    expect(view).toMatchObject({ availability: 6500, note: { text: 'At the <pool> & back', type: 'personal' } });
    const doc = view ? categoriesDocument('sip:ocsuser1@example.com', view, { publishTime: 'x', card: { displayName: 'OCS User1' } }) : '';
    expect(viewOfCategories(doc)).toEqual({ entity: 'sip:ocsuser1@example.com', basic: 'open', availability: 'Busy', note: 'At the <pool> & back', displayName: 'OCS User1' });
  });

  it('reads a generic client\'s PIDF: basic status and note; a document without them as unknown', () => {
    expect(parsePidf('<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:x@example.com"><tuple id="t"><status><basic>open</basic></status><note>Lunch</note></tuple></presence>')).toEqual({ entity: 'sip:x@example.com', basic: 'open', note: 'Lunch' });
    expect(parsePidf('<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:x@example.com"><tuple id="t"/></presence>')).toEqual({ entity: 'sip:x@example.com', basic: 'unknown' });
    expect(parsePidf('not xml at all')).toEqual({ entity: '', basic: 'unknown' });
  });

  it("reads the front end's categories NOTIFY: the seed leaves ocsuser1's Communicator showing ocsuser2 as Busy, with ocsuser2's note and name", () => {
    const fleet = communicatorFleet(env.lab);
    const c = fleet.get('ocsuser1');
    expect(c && fleet.state(c).context.contacts['sip:ocsuser2@example.com']).toEqual({ entity: 'sip:ocsuser2@example.com', basic: 'open', availability: 'Busy', note: 'Rehearsing the pool01 deployment', displayName: 'OCS User 2' });
  });
});
