/**
 * The front end's NTLM security associations ([MS-SIPAE] 3.2): what it offers an unauthenticated
 * REGISTER, the CHALLENGE it answers an empty `gssapi-data` with, the association an AUTHENTICATE
 * establishes, and the signatures on everything after it — each request the client sends is verified,
 * every message the front end sends the client is signed (`Authentication-Info: NTLM rspauth=…`), as
 * Communicator and pidgin-sipe require. The protocol arithmetic is sip.ntlm.ts; this file holds the state.
 */
import type { IdSource } from '../../sim/ids.js';
import { acceptAuthenticate, authParams, challengeMessage, parseAuthenticate, sign, signedText, verify, withHeader, type SessionKeys, type TargetInfo } from './sip.ntlm.js';

export const SIP_REALM = 'SIP Communications Service';
/** The MS-SIPAE version the front end offers: 4, as OCS 2007 R2 does (the AUTHENTICATE's REGISTER is signed too). */
export const SIPAE_VERSION = 4;
/** How long a CHALLENGE waits for its AUTHENTICATE. */
const PENDING_LIFETIME_MS = 5 * 60_000;
/**
 * How long an association lasts: 8 hours, after which a request signed with it is refused and the
 * client authenticates again (clients re-authenticate a little before: sipe at 8 h − 5 min).
 */
export const ASSOCIATION_LIFETIME_MS = 8 * 3_600_000;
/** The longest Authorization value read as one. */
const MAX_AUTHORIZATION_CHARS = 8192;

/** An established association: the keys, and the front end's own counter for what it signs. */
export interface Association {
  opaque: string;
  keys: SessionKeys;
  user: string;
  domain: string;
  targetname: string;
  snum: number;
  /** When it was established (the front end's clock). */
  at: number;
  /** The highest `cnum` accepted: a request signed with one not above it is a replay. */
  cnum: number;
}

/** A CHALLENGE sent on a connection and waiting for its AUTHENTICATE there. */
export interface PendingChallenge {
  opaque: string;
  challenge: Buffer;
  at: number;
}

export type Completion =
  | { ok: true; association: Association; account: { sam: string; password: string } }
  | { ok: false; why: 'unknown opaque' | 'unreadable AUTHENTICATE' | 'unknown account' | 'wrong password' | 'bad signature'; user?: string };

export class SecurityAssociations {

  constructor(
    private readonly o: {
      /** The front end's FQDN: the NTLM target name (Kerberos: sip/<fqdn>). */
      targetname: string;
      target: TargetInfo;
      ids: IdSource;
      now: () => number;
      /** The account's password by the user and domain an AUTHENTICATE names (undefined: no such account). */
      password: (user: string, domain: string) => { sam: string; password: string } | undefined;
      /** Default `ASSOCIATION_LIFETIME_MS`. */
      lifetimeMs?: number;
    },
  ) {}

  /** The schemes a 401 to an unauthenticated request offers: NTLM and Kerberos, as OCS does. */
  offers(): string[] {
    return [
      `WWW-Authenticate: NTLM realm="${SIP_REALM}", targetname="${this.o.targetname}", version=${SIPAE_VERSION}`,
      `WWW-Authenticate: Kerberos realm="${SIP_REALM}", targetname="sip/${this.o.targetname}", version=${SIPAE_VERSION}`,
    ];
  }

  /**
   * The 401's header carrying a new CHALLENGE (for an `Authorization: NTLM … gssapi-data=""`), and the
   * challenge for the connection to keep: it answers one AUTHENTICATE, on that connection.
   */
  challenge(): { header: string; pending: PendingChallenge } {
    const opaque = this.o.ids.hex(4).toUpperCase();
    const challenge = Buffer.from(this.o.ids.bytes(8));
    const gssapi = challengeMessage(challenge, this.o.target).toString('base64');
    return {
      header: `WWW-Authenticate: NTLM opaque="${opaque}", gssapi-data="${gssapi}", targetname="${this.o.targetname}", realm="${SIP_REALM}", version=${SIPAE_VERSION}`,
      pending: { opaque, challenge, at: this.o.now() },
    };
  }

  /**
   * The REGISTER carrying an AUTHENTICATE for the connection's pending CHALLENGE: verified against the
   * account's password, and its own signature (version 4) checked with the new keys.
   */
  complete(raw: string, params: Map<string, string>, pending: PendingChallenge | undefined): Completion {
    const opaque = params.get('opaque') ?? '';
    if (!pending || pending.opaque !== opaque || this.o.now() - pending.at > PENDING_LIFETIME_MS) return { ok: false, why: 'unknown opaque' };
    let message: ReturnType<typeof parseAuthenticate>;
    try {
      message = parseAuthenticate(Buffer.from(params.get('gssapi-data') ?? '', 'base64'));
    } catch {
      message = undefined;
    }
    if (!message) return { ok: false, why: 'unreadable AUTHENTICATE' };
    const account = this.o.password(message.user, message.domain);
    if (!account) return { ok: false, why: 'unknown account', user: `${message.domain}\\${message.user}` };
    const keys = acceptAuthenticate(message, pending.challenge, account.password);
    if (!keys) return { ok: false, why: 'wrong password', user: `${message.domain}\\${message.user}` };
    const association: Association = { opaque, keys, user: message.user, domain: message.domain, targetname: this.o.targetname, snum: 0, at: this.o.now(), cnum: 0 };
    // Version 4, which the front end offers: the REGISTER with the AUTHENTICATE is signed too.
    if (!this.verifies(association, raw, params)) return { ok: false, why: 'bad signature', user: `${message.domain}\\${message.user}` };
    return { ok: true, association, account };
  }

  /** Whether an association has outlived `ASSOCIATION_LIFETIME_MS`. */
  expired(a: Association): boolean {
    return this.o.now() - a.at >= (this.o.lifetimeMs ?? ASSOCIATION_LIFETIME_MS);
  }

  /** The account an association authenticated, as AD has it now (undefined once it is gone). */
  accountOf(a: Association): { sam: string; password: string } | undefined {
    return this.o.password(a.user, a.domain);
  }

  /** Whether a request's `Authorization: NTLM … crand, cnum, response` is this association's signature of it. */
  verifies(a: Association, raw: string, params: Map<string, string>): boolean {
    if ((params.get('opaque') ?? '') !== a.opaque || this.expired(a)) return false;
    const realm = params.get('realm') ?? '';
    const targetname = params.get('targetname') ?? '';
    if (realm !== SIP_REALM || targetname !== a.targetname) return false;
    const cnum = params.get('cnum') ?? '';
    if (!/^\d{1,9}$/.test(cnum) || Number(cnum) <= a.cnum) return false;
    const text = signedText(raw, { rand: params.get('crand') ?? '', num: cnum, realm, targetname });
    if (!verify(text, params.get('response') ?? '', a.keys.clientSign, a.keys.clientSeal)) return false;
    a.cnum = Number(cnum);
    return true;
  }

  /** A message to the client, signed: `Authentication-Info` as the last header. */
  signed(a: Association, raw: string): string {
    a.snum += 1;
    const srand = this.o.ids.hex(4).toUpperCase();
    const fields = { rand: srand, num: String(a.snum), realm: SIP_REALM, targetname: a.targetname };
    const rspauth = sign(signedText(raw, fields), a.keys.serverSign, a.keys.serverSeal);
    return withHeader(raw, `Authentication-Info: NTLM rspauth="${rspauth}", srand="${srand}", snum="${a.snum}", opaque="${a.opaque}", qop="auth", targetname="${a.targetname}", realm="${SIP_REALM}"`);
  }
}

/** The scheme and parameters of an `Authorization` (or `Proxy-Authorization`) value. */
export function authorizationOf(value: string | undefined): { scheme: string; params: Map<string, string> } | undefined {
  // An AUTHENTICATE is some 600 bytes; a header many times that is no credential.
  if (!value || value.length > MAX_AUTHORIZATION_CHARS) return undefined;
  const scheme = /^\s*(\S+)/.exec(value)?.[1] ?? '';
  return { scheme: scheme.toUpperCase(), params: authParams(value) };
}
