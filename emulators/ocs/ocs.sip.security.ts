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
}

export type Completion =
  | { ok: true; association: Association; account: { sam: string; password: string } }
  | { ok: false; why: 'unknown opaque' | 'unreadable AUTHENTICATE' | 'unknown account' | 'wrong password' | 'bad signature'; user?: string };

export class SecurityAssociations {
  private readonly pending = new Map<string, { challenge: Buffer; at: number }>();

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

  /** The 401's header carrying a new CHALLENGE (for an `Authorization: NTLM … gssapi-data=""`). */
  challenge(): string {
    const now = this.o.now();
    for (const [opaque, p] of this.pending) {
      if (now - p.at <= PENDING_LIFETIME_MS) break;
      this.pending.delete(opaque);
    }
    const opaque = this.o.ids.hex(4).toUpperCase();
    const challenge = Buffer.from(this.o.ids.bytes(8));
    this.pending.set(opaque, { challenge, at: now });
    const gssapi = challengeMessage(challenge, this.o.target).toString('base64');
    return `WWW-Authenticate: NTLM opaque="${opaque}", gssapi-data="${gssapi}", targetname="${this.o.targetname}", realm="${SIP_REALM}", version=${SIPAE_VERSION}`;
  }

  /**
   * The REGISTER carrying an AUTHENTICATE: verified against the account's password, and (version 4) its
   * own signature checked with the new keys. A CHALLENGE answers one AUTHENTICATE.
   */
  complete(raw: string, params: Map<string, string>): Completion {
    const opaque = params.get('opaque') ?? '';
    const pending = this.pending.get(opaque);
    if (!pending || this.o.now() - pending.at > PENDING_LIFETIME_MS) return { ok: false, why: 'unknown opaque' };
    this.pending.delete(opaque);
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
    const association: Association = { opaque, keys, user: message.user, domain: message.domain, targetname: this.o.targetname, snum: 0, at: this.o.now() };
    if (params.has('response') && !this.verifies(association, raw, params)) return { ok: false, why: 'bad signature', user: `${message.domain}\\${message.user}` };
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
    const text = signedText(raw, { rand: params.get('crand') ?? '', num: params.get('cnum') ?? '', realm, targetname });
    return verify(text, params.get('response') ?? '', a.keys.clientSign, a.keys.clientSeal);
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
  if (!value) return undefined;
  const scheme = /^\s*(\S+)/.exec(value)?.[1] ?? '';
  return { scheme: scheme.toUpperCase(), params: authParams(value) };
}
