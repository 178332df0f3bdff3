/**
 * Communicator's side of NTLM for SIP ([MS-SIPAE] 3.2, as Office Communicator 2007 R2 and pidgin-sipe do
 * it), on the client's one connection: the handshake before the REGISTER that signs in (REGISTER →
 * 401 offering NTLM → REGISTER with an empty gssapi-data → 401 with the CHALLENGE), the AUTHENTICATE
 * and its signature on that REGISTER, then a signature on every message the client sends and a check of
 * the front end's `rspauth` on every one it receives: a wrong one, or none where one is due, and the
 * message is dropped, as the client does. A front end that offers no NTLM (Digest only: a generic SIP
 * registrar, or the lab's Digest extension alone) is left to sip.js's Digest.
 */
import { authenticateMessage, authParams, parseChallenge, sign, signedText, sipHead, verify, withHeader, type SessionKeys } from '../ocs/sip.ntlm.js';
import type { TransportSecurity } from './sip.stream.transport.js';

export interface NtlmCredentials {
  user: string;
  /** The Windows domain (NetBIOS), as the logged-on user has it. */
  domain: string;
  password: string;
  workstation: string;
}

interface Association {
  opaque: string;
  realm: string;
  targetname: string;
  keys: SessionKeys;
}

export class NtlmClientSecurity implements TransportSecurity {
  private sa: Association | undefined;
  private pending: (Association & { message: Buffer }) | undefined;
  private cnum = 0;
  private waiting: { callId: string; resolve: (raw: string) => void } | undefined;
  /** The last REGISTER the client sent, as sip.js built it (before its signature). */
  private lastRegister: string | undefined;
  /** How the connection sends a message (set once the transport exists): for authenticating again. */
  private sender: ((raw: string) => Promise<void>) | undefined;
  /** Why the last message from the front end was dropped (a signature that did not verify, or none). */
  dropped: string | undefined;

  constructor(
    private readonly o: {
      credentials: NtlmCredentials;
      /** Random bytes (client challenge, session key, crand): the lab's seeded ids. */
      bytes: (n: number) => Uint8Array;
      now: () => number;
      /** How long a handshake leg waits for its answer. */
      timeoutMs: number;
    },
  ) {}

  /** Whether the front end has signed something with the current association (it is its own). */
  private confirmed = false;

  /** Where messages of its own go (the SIP transport's send), for authenticating again unasked. */
  attach(send: (raw: string) => Promise<void>): void {
    this.sender = send;
  }

  /** Sends `raw` on the connection and resolves with the next response on `callId` (undefined when none comes in time). */
  private exchange(callId: string, raw: string): Promise<string | undefined> {
    const send = this.sender;
    if (!send) return Promise.resolve(undefined);
    const answer = new Promise<string | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        resolve(undefined);
      }, this.o.timeoutMs);
      this.waiting = {
        callId,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
    });
    return send(raw).then(() => answer);
  }

  /**
   * From a 401's NTLM offer, the CHALLENGE leg (`leg(authorization)` builds the REGISTER): ready when the
   * next REGISTER will carry the AUTHENTICATE, else the answer that said otherwise (none: no answer).
   */
  private async challengeLeg(callId: string, offer: string, leg: (authorization: string) => string): Promise<{ ready: true } | { ready: false; answer?: string }> {
    const p = authParams(offer);
    const realm = p.get('realm') ?? '';
    const targetname = p.get('targetname') ?? '';
    const version = p.get('version') ?? '4';
    const second = await this.exchange(callId, leg(`Authorization: NTLM qop="auth", realm="${realm}", targetname="${targetname}", gssapi-data="", version=${version}`));
    if (!second) return { ready: false };
    const challenge = sipHead(second).all('www-authenticate').find((v) => /^NTLM\b/i.test(v) && /gssapi-data="[^"]+"/.test(v));
    const c = challenge ? authParams(challenge) : undefined;
    const parsed = c ? parseChallenge(Buffer.from(c.get('gssapi-data') ?? '', 'base64')) : undefined;
    if (!c || !parsed) return { ready: false, answer: second };
    const { credentials } = this.o;
    const auth = authenticateMessage({ challenge: parsed, ...credentials, clientChallenge: this.o.bytes(8), exportedSessionKey: this.o.bytes(16), nowMs: this.o.now() });
    this.pending = { opaque: c.get('opaque') ?? '', realm: c.get('realm') ?? realm, targetname: c.get('targetname') ?? targetname, keys: auth.keys, message: auth.message };
    return { ready: true };
  }

  /**
   * The association expired (the front end answered a refresh with 401 and its offers): authenticate
   * again on the same Call-ID, then send that REGISTER once more, with its own branch, so that sip.js's
   * transaction gets the 200 it waits for.
   */
  private async reauthenticate(offer: string, refused: string): Promise<void> {
    const base = this.lastRegister;
    if (!this.sender || !base) return;
    const callId = sipHead(base).header('call-id') ?? '';
    let cseq = Number((sipHead(refused).header('cseq') ?? '').split(/\s+/)[0]) || 1;
    const withCseq = (raw: string, n: number) => raw.replace(/^CSeq:[^\r\n]*/im, `CSeq: ${n} REGISTER`);
    const newBranch = (raw: string) => raw.replace(/(;\s*branch=)[^;,\s\r\n]+/i, `$1z9hG4bK${Buffer.from(this.o.bytes(8)).toString('hex')}`);
    const leg = await this.challengeLeg(callId, offer, (authorization) => withHeader(newBranch(withCseq(base, ++cseq)), authorization));
    if (leg.ready) await this.sender(withCseq(base, ++cseq)).catch(() => undefined);
  }

  /**
   * The first two legs, on the REGISTER's own Call-ID before the REGISTER that signs in (`template`
   * builds each, with the Authorization given). Resolves `ntlm: true` when the next REGISTER will carry
   * the AUTHENTICATE, or the answer that said otherwise (no NTLM offered, no CHALLENGE) for the caller
   * to go on with.
   */
  async handshake(callId: string, template: (authorization?: string) => string): Promise<{ ntlm: true } | { ntlm: false; answer?: string }> {
    const first = await this.exchange(callId, template());
    if (!first) return { ntlm: false };
    const offer = sipHead(first).all('www-authenticate').find((v) => /^NTLM\b/i.test(v));
    if (!/^SIP\/2\.0 401/.test(sipHead(first).start) || !offer) return { ntlm: false, answer: first };
    const leg = await this.challengeLeg(callId, offer, template);
    return leg.ready ? { ntlm: true } : { ntlm: false, ...(leg.answer ? { answer: leg.answer } : {}) };
  }

  outgoing(raw: string): string {
    if (!/^\S/.test(raw)) return raw;
    if (raw.startsWith('REGISTER ')) this.lastRegister = raw;
    if (this.pending && raw.startsWith('REGISTER ')) {
      const { message, ...association } = this.pending;
      this.pending = undefined;
      this.sa = association;
      return this.signed(raw, `, gssapi-data="${message.toString('base64')}", version=4`);
    }
    return this.sa ? this.signed(raw, '') : raw;
  }

  private signed(raw: string, extra: string): string {
    const sa = this.sa as Association;
    this.cnum += 1;
    const crand = Buffer.from(this.o.bytes(4)).toString('hex');
    const response = sign(signedText(raw, { rand: crand, num: String(this.cnum), realm: sa.realm, targetname: sa.targetname }), sa.keys.clientSign, sa.keys.clientSeal);
    return withHeader(raw, `Authorization: NTLM qop="auth", opaque="${sa.opaque}", realm="${sa.realm}", targetname="${sa.targetname}"${extra}, crand="${crand}", cnum="${this.cnum}", response="${response}"`);
  }

  incoming(raw: string): string | undefined {
    const h = sipHead(raw);
    const response = /^SIP\/2\.0 (\d{3})/.exec(h.start);
    if (this.waiting && response && h.header('call-id') === this.waiting.callId) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve(raw);
      return undefined;
    }
    const sa = this.sa;
    if (!sa) return raw;
    const info = h.header('authentication-info');
    if (info && /^NTLM\b/i.test(info)) {
      const p = authParams(info);
      const text = signedText(raw, { rand: p.get('srand') ?? '', num: p.get('snum') ?? '', realm: p.get('realm') ?? '', targetname: p.get('targetname') ?? '' });
      if (verify(text, p.get('rspauth') ?? '', sa.keys.serverSign, sa.keys.serverSeal)) {
        this.confirmed = true;
        return raw;
      }
      this.dropped = `invalid message signature received (${h.start})`;
      return undefined;
    }
    // Unsigned: a 401, or an answer to a REGISTER (which authenticates again), is read; anything else dropped.
    const method = (h.header('cseq') ?? '').split(/\s+/)[1];
    if (response && (response[1] === '401' || method === 'REGISTER')) {
      if (response[1] === '401' && method === 'REGISTER') {
        // Only an association the front end had confirmed can have expired; a refused AUTHENTICATE (a wrong
        // password) is the caller's answer, not a reason to try again.
        const expired = this.confirmed;
        this.sa = undefined;
        this.confirmed = false;
        // A refresh refused with the NTLM offer: the association expired; authenticate again, unasked.
        const offer = h.all('www-authenticate').find((v) => /^NTLM\b/i.test(v) && !/gssapi-data/.test(v));
        if (expired && offer && this.sender && this.lastRegister && sipHead(this.lastRegister).header('call-id') === h.header('call-id')) {
          void this.reauthenticate(offer, raw);
          return undefined;
        }
      }
      return raw;
    }
    this.dropped = `unsigned message from the server dropped (${h.start})`;
    return undefined;
  }
}
