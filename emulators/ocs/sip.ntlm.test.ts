/**
 * NTLM for SIP against known answers: [MS-NLMP] 4.2.4's NTLMv2 vectors, and a real Office Communicator
 * 2007 R2 sign-in to an OCS 2007 R2 front end (as pidgin-sipe's tests keep it): its CHALLENGE and
 * AUTHENTICATE messages, and the signatures of its REGISTER and of the server's 200.
 */
import { describe, expect, it } from 'vitest';
import { acceptAuthenticate, authenticateMessage, authParams, challengeMessage, md4, ntowfv2, OCS_CHALLENGE_FLAGS, parseAuthenticate, parseChallenge, rc4, REQUIRED_FLAGS, sign, signedText, verify, withHeader } from './sip.ntlm.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const H = (b: Buffer) => b.toString('hex').toUpperCase();

describe('the primitives from npm', () => {
  it('MD4 (js-md4) and RC4 (crypto-js) give the published answers', () => {
    expect(H(md4(Buffer.from('message digest')))).toBe('D9130A8164549FE818874806E1C7014B');
    expect(H(rc4(hex('D87262B0CDE4B1CB7499BECCCDF10784'), Buffer.alloc(16, 0x55)))).toBe('518822B1B3F350C8958682ECBB3E3CB7');
  });
});

describe('[MS-NLMP] 4.2.4 NTLMv2', () => {
  const targetInfo = hex('02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000');
  const challenge = { flags: OCS_CHALLENGE_FLAGS, serverChallenge: hex('0123456789abcdef'), targetInfo };
  const out = authenticateMessage({ challenge, user: 'User', domain: 'Domain', workstation: 'COMPUTER', password: 'Password', clientChallenge: Buffer.alloc(8, 0xaa), exportedSessionKey: Buffer.alloc(16, 0x55), nowMs: -11_644_473_600_000 });
  const a = parseAuthenticate(out.message);

  it('derives NTOWFv2, the responses and the encrypted session key', () => {
    expect(H(ntowfv2('Password', 'User', 'Domain'))).toBe('0C868A403BFD7A93A3001EF22EF02E3F');
    expect(a && H(a.lm)).toBe('86C35097AC9CEC102554764A57CCCC19AAAAAAAAAAAAAAAA');
    expect(a && H(a.nt)).toBe('68CD0AB851E51C96AABC927BEBEF6A1C01010000000000000000000000000000AAAAAAAAAAAAAAAA0000000002000C0044006F006D00610069006E0001000C005300650072007600650072000000000000000000');
    expect(a && H(a.encryptedRandomSessionKey)).toBe('C5DAD2544FC9799094CE1CE90BC9D03E');
    expect(H(out.keys.clientSign)).toBe('4788DC861B4782F35D43FD98FE1A2D39');
    expect(H(out.keys.clientSeal)).toBe('59F600973CC4960A25480A7C196E4C58');
  });

  it('is accepted by the server side with the password, and refused with another', () => {
    if (!a) throw new Error('unreadable AUTHENTICATE');
    expect(acceptAuthenticate(a, challenge.serverChallenge, 'Password')?.clientSign.equals(out.keys.clientSign)).toBe(true);
    expect(acceptAuthenticate(a, challenge.serverChallenge, 'password')).toBeUndefined();
    expect(acceptAuthenticate(a, hex('0123456789abcdee'), 'Password')).toBeUndefined();
  });
});

describe('a real Communicator 2007 R2 sign-in to OCS 2007 R2 (version 4)', () => {
  const challengeHex =
    '4E544C4D53535000020000000000000038000000F38298E2DD1BAAF4E7E218D1000000000000000096009600380000000502CE0E0000000F02000A0043004F0053004D004F000100180043004F0053004D004F002D004F00430053002D00520032000400160063006F0073006D006F002E006C006F00630061006C000300300063006F0073006D006F002D006F00630073002D00720032002E0063006F0073006D006F002E006C006F00630061006C000500160063006F0073006D006F002E006C006F00630061006C0000000000';
  const authenticateHex =
    '4E544C4D53535000030000001800180072000000C600C6008A0000000A000A00480000000800080052000000180018005A0000001000100050010000558298620502CE0E0000000F43004F0053004D004F00550073006500720043004F0053004D004F002D004F00430053002D0052003200A1E92EFE4E078BF7C5C0049ACC6166C2D6AE875CB0FDAA418DC0C800AE76ECA606D2B9FBEBD04731010100000000000059519A1727B9CA01D6AE875CB0FDAA410000000002000A0043004F0053004D004F000100180043004F0053004D004F002D004F00430053002D00520032000400160063006F0073006D006F002E006C006F00630061006C000300300063006F0073006D006F002D006F00630073002D00720032002E0063006F0073006D006F002E006C006F00630061006C000500160063006F0073006D006F002E006C006F00630061006C00000000000000000031CB739E1CA80A498591E8AE797115E4';
  const register = [
    'REGISTER sip:cosmo.local SIP/2.0',
    'Via: SIP/2.0/TLS 192.168.172.6:12723',
    'Max-Forwards: 70',
    'From: <sip:user@cosmo.local>;tag=3e49177a52;epid=e02ef0b8e1',
    'To: <sip:user@cosmo.local>',
    'Call-ID: 4037df9284354df39065195bd57a4b14',
    'CSeq: 3 REGISTER',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const ok = ['SIP/2.0 200 OK', 'From: <sip:user@cosmo.local>;tag=3e49177a52;epid=e02ef0b8e1', 'To: <sip:user@cosmo.local>;tag=5E61CCD925D17E043D9A74835A88F664', 'Call-ID: 4037df9284354df39065195bd57a4b14', 'CSeq: 3 REGISTER', 'Expires: 7200', 'Content-Length: 0', '', ''].join('\r\n');
  const association = { realm: 'SIP Communications Service', targetname: 'cosmo-ocs-r2.cosmo.local' };

  it('reads the CHALLENGE, whose flags are what a connectionless client requires', () => {
    const c = parseChallenge(hex(challengeHex));
    expect(c?.flags).toBe(OCS_CHALLENGE_FLAGS);
    expect(((c?.flags ?? 0) & REQUIRED_FLAGS) >>> 0).toBe(REQUIRED_FLAGS);
    expect(H(c?.serverChallenge ?? Buffer.alloc(0))).toBe('DD1BAAF4E7E218D1');
  });

  it('verifies the AUTHENTICATE with the password, and the REGISTER and 200 signatures with the keys', () => {
    const a = parseAuthenticate(hex(authenticateHex));
    expect(a).toMatchObject({ user: 'User', domain: 'COSMO', workstation: 'COSMO-OCS-R2', flags: 0x62988255 });
    const keys = a && acceptAuthenticate(a, hex('DD1BAAF4E7E218D1'), 'Pa$$word');
    if (!keys) throw new Error('the real AUTHENTICATE was refused');
    expect(H(keys.clientSign)).toBe('EA5E87C195AE65338F7C023E7600690D');
    expect(H(keys.serverSign)).toBe('0151FE94DBA8C83F3C6A6E5444AE54B4');
    const requestText = signedText(register, { ...association, rand: '13317733', num: '1' });
    expect(requestText).toBe('<NTLM><13317733><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local><4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52><sip:user@cosmo.local><><><><>');
    expect(sign(requestText, keys.clientSign, keys.clientSeal)).toBe('0100000029618E9651B65A7764000000');
    const responseText = signedText(ok, { ...association, rand: '9616454F', num: '1' });
    expect(responseText).toBe('<NTLM><9616454F><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local><4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52><sip:user@cosmo.local><5E61CCD925D17E043D9A74835A88F664><><><7200><200>');
    expect(sign(responseText, keys.serverSign, keys.serverSeal)).toBe('01000000E615438A917661BE64000000');
    expect(verify(responseText, '01000000e615438a917661be64000000', keys.serverSign, keys.serverSeal)).toBe(true);
    expect(verify(responseText, '01000000E615438A917661BE64000001', keys.serverSign, keys.serverSeal)).toBe(false);
  });

  it('builds a CHALLENGE a client reads back, and adds a header at the end of the header section', () => {
    const c = parseChallenge(challengeMessage(Buffer.alloc(8, 7), { nbDomain: 'CORP', nbComputer: 'OCSFE01', dnsDomain: 'corp.example.net', dnsComputer: 'ocsfe01.corp.example.net', dnsTree: 'corp.example.net' }));
    expect(c?.serverChallenge.equals(Buffer.alloc(8, 7))).toBe(true);
    expect(c?.targetInfo.subarray(-4).equals(Buffer.alloc(4))).toBe(true);
    expect(withHeader('SIP/2.0 200 OK\r\nA: 1\r\n\r\nbody', 'B: 2')).toBe('SIP/2.0 200 OK\r\nA: 1\r\nB: 2\r\n\r\nbody');
  });
});

describe('NTLM and its SIP fields under arbitrary input', () => {
  it('never throw: a CHALLENGE, an AUTHENTICATE, the parameters and the signed text of anything', async () => {
    const fc = (await import('fast-check')).default;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.string({ maxLength: 400 }), (bytes, text) => {
        const b = Buffer.from(bytes);
        // With the NTLMSSP signature and a message type in front, so the field parsing is reached.
        for (const type of [2, 3]) {
          const framed = Buffer.concat([Buffer.from('NTLMSSP\0', 'latin1'), Buffer.from([type, 0, 0, 0]), b]);
          parseChallenge(framed);
          const a = parseAuthenticate(framed);
          if (a) acceptAuthenticate(a, Buffer.alloc(8), 'x');
        }
        parseChallenge(b);
        parseAuthenticate(b);
        signedText(text, { rand: text, num: '1', realm: 'r', targetname: 't' });
        authParams(`NTLM ${text}`);
        return true;
      }),
      { numRuns: 3000, seed: 0x5eed },
    );
  });

  it('reads AUTHENTICATEs whose fields point anywhere inside them, and verifies none of them', async () => {
    const fc = (await import('fast-check')).default;
    const field = fc.record({ len: fc.integer({ min: 0, max: 120 }), off: fc.integer({ min: 0, max: 200 }) });
    fc.assert(
      fc.property(fc.array(field, { minLength: 6, maxLength: 6 }), fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.integer({ min: 0, max: 0xffffffff }), (fields, payload, flags) => {
        const head = Buffer.alloc(72);
        Buffer.from('NTLMSSP\0', 'latin1').copy(head);
        head.writeUInt32LE(3, 8);
        fields.forEach((f, i) => {
          const at = [12, 20, 28, 36, 44, 52][i] as number;
          head.writeUInt16LE(f.len, at);
          head.writeUInt32LE(f.off, at + 4);
        });
        head.writeUInt32LE(flags, 60);
        const a = parseAuthenticate(Buffer.concat([head, Buffer.from(payload)]));
        // Whatever it holds, no proof of a password it was not made with.
        return a === undefined || acceptAuthenticate(a, Buffer.alloc(8, 1), 'Us3r1-P@ss') === undefined;
      }),
      { numRuns: 3000, seed: 0xa11 },
    );
  });
});

describe('a security association on the front end', () => {
  it('answers its own connection\'s CHALLENGE only, signed; refuses a replayed request; and lasts eight hours', async () => {
    const { SecurityAssociations, ASSOCIATION_LIFETIME_MS } = await import('./ocs.sip.security.js');
    const { IdSource } = await import('../../sim/ids.js');
    let now = 1_000_000;
    const target = { nbDomain: 'CORP', nbComputer: 'OCSFE01', dnsDomain: 'corp.example.net', dnsComputer: 'ocsfe01.corp.example.net', dnsTree: 'corp.example.net' };
    const sa = new SecurityAssociations({ targetname: 'ocsfe01.corp.example.net', target, ids: new IdSource('t'), now: () => now, password: () => ({ sam: 'ocsuser1', password: 'Us3r1-P@ss' }) });
    const issued = sa.challenge();
    const offer = authParams(issued.header.replace(/^WWW-Authenticate:\s*/, ''));
    const challenge = parseChallenge(Buffer.from(offer.get('gssapi-data') ?? '', 'base64'));
    if (!challenge) throw new Error('no challenge');
    const out = authenticateMessage({ challenge, user: 'ocsuser1', domain: 'CORP', workstation: 'PC', password: 'Us3r1-P@ss', clientChallenge: Buffer.alloc(8, 1), exportedSessionKey: Buffer.alloc(16, 2), nowMs: now });
    const register = 'REGISTER sip:example.com SIP/2.0\r\nFrom: <sip:ocsuser1@example.com>;tag=1\r\nTo: <sip:ocsuser1@example.com>\r\nCall-ID: c1\r\nCSeq: 3 REGISTER\r\n\r\n';
    const fields1 = { rand: '00000001', num: '1', realm: 'SIP Communications Service', targetname: 'ocsfe01.corp.example.net' };
    const signed1 = sign(signedText(register, fields1), out.keys.clientSign, out.keys.clientSeal);
    const completion = (opaque: string, cnum = '1') => new Map([['opaque', opaque], ['gssapi-data', out.message.toString('base64')], ['realm', fields1.realm], ['targetname', fields1.targetname], ['crand', fields1.rand], ['cnum', cnum], ['response', signed1]]);
    // Only for the connection's own CHALLENGE, and only signed.
    expect(sa.complete(register, completion(offer.get('opaque') ?? ''), undefined)).toMatchObject({ ok: false, why: 'unknown opaque' });
    expect(sa.complete(register, new Map([...completion(offer.get('opaque') ?? '')].filter(([k]) => k !== 'response')), issued.pending)).toMatchObject({ ok: false, why: 'bad signature' });
    const done = sa.complete(register, completion(offer.get('opaque') ?? ''), issued.pending);
    if (!done.ok) throw new Error(done.why);
    const options = 'OPTIONS sip:example.com SIP/2.0\r\nFrom: <sip:ocsuser1@example.com>;tag=1\r\nTo: <sip:example.com>\r\nCall-ID: c2\r\nCSeq: 1 OPTIONS\r\n\r\n';
    const fields = { rand: 'abcd0123', num: '2', realm: 'SIP Communications Service', targetname: 'ocsfe01.corp.example.net' };
    const params = new Map([['opaque', done.association.opaque], ['realm', fields.realm], ['targetname', fields.targetname], ['crand', fields.rand], ['cnum', fields.num], ['response', sign(signedText(options, fields), out.keys.clientSign, out.keys.clientSeal)]]);
    expect(sa.verifies(done.association, options, params)).toBe(true);
    // The same signed request again is a replay.
    expect(sa.verifies(done.association, options, params)).toBe(false);
    const signedAs = (cnum: string) => {
      const f = { ...fields, num: cnum };
      return new Map([...params, ['cnum', cnum], ['response', sign(signedText(options, f), out.keys.clientSign, out.keys.clientSeal)]]);
    };
    now += ASSOCIATION_LIFETIME_MS - 1;
    expect(sa.verifies(done.association, options, signedAs('3'))).toBe(true);
    now += 1;
    expect(sa.verifies(done.association, options, signedAs('4'))).toBe(false);
  });
});
