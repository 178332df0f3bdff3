/**
 * The front end's registrar decision for a REGISTER, pure over the lab's state: who may sign in with this
 * SIP URI and these credentials. Communicator's sign-in check calls it now; the SIP wire adapter will
 * answer real REGISTERs with the same function.
 *
 * Order, as a registrar meets them: authentication first (the unauthenticated REGISTER is challenged,
 * NTLM/Kerberos against AD), then the URI: it must be some user's `msRTCSIP-PrimaryUserAddress`
 * (case-insensitive), owned by the authenticated account, with `msRTCSIP-UserEnabled` TRUE and
 * `msRTCSIP-OptionFlags` bit 256 (enhanced presence), homed (`msRTCSIP-PrimaryHomeServer`) on a pool
 * with a running Front-End service, and already in the RTC database (the User Replicator brings users
 * in from AD; until it has, the registrar does not know the user: 404) (ocs-facts §2, §6). The SIP status codes for the refusals are a design
 * choice [U]: the client shows one message for all the "credentials" causes (ocs-facts §6).
 */
import { adAuthenticateNow, adDomainDn, adSearchNow } from '../ad/ad.client.js';
import { FRONT_END_SERVICE, findPool, findServer, homedUserBySip, normalizeSipUri, type OcsStore } from './ocs.store.js';
import type { ActorLookup } from './ocs.ports.js';
import { ocsStore } from './ocs.client.js';
import { attributeValues } from '../ad/ad.store.js';

export const ENHANCED_PRESENCE_FLAG = 256;

export interface RegisterRequest {
  /** The sign-in address: `sip:user@domain` or `user@domain`. */
  uri: string;
  /** The Windows account that authenticates: `CORP\user`, a UPN or a sAMAccountName. */
  account: string;
  password: string;
  /** The front end the REGISTER reached (short name or FQDN), when known. */
  frontEnd?: string;
  /** The lab's time (ms): the directory is asked as it stands then (account expiry, lockout). */
  now: number;
}

export type RegisterRefusal = 'badCredentials' | 'unknownUri' | 'uriNotOwned' | 'userDisabled' | 'enhancedPresence' | 'notHomed' | 'poolDown';

/**
 * The `ms-diagnostics` header a refusal carries (`code;reason="…"`): the header and its form are the real
 * product's [V] ([MS-SIPRE], [MS-PRES] examples); these registrar codes and texts are the lab's [U]. The
 * client reads the enhanced-presence code to show its own message for it.
 */
export const REGISTER_DIAGNOSTICS: Record<RegisterRefusal, { code: number; reason: string }> = {
  badCredentials: { code: 1000, reason: 'Authentication failed' },
  unknownUri: { code: 1003, reason: 'User does not exist' },
  uriNotOwned: { code: 1004, reason: 'The SIP URI is not owned by the authenticated user' },
  userDisabled: { code: 1010, reason: 'User is not enabled for SIP' },
  enhancedPresence: { code: 1011, reason: 'User is not enabled for enhanced presence' },
  notHomed: { code: 1012, reason: 'User is not homed on a pool of this deployment' },
  poolDown: { code: 1013, reason: 'The home pool of the user is not available' },
};

export interface RegisteredUser {
  sam: string;
  dn: string;
  sipAddress: string;
  pool: string;
  /** The front ends of the home pool whose Front-End service runs. */
  frontEnds: string[];
}

export type RegisterOutcome =
  | { status: 200; reason: 'OK'; user: RegisteredUser }
  | { status: 401 | 403 | 404 | 480 | 503; reason: string; cause: RegisterRefusal; detail: string };

const attr = (attributes: Record<string, string[]>, name: string): string | undefined => attributeValues(attributes, name)?.[0];

/** An LDAP filter assertion value (RFC 4515 §3): `*`, `(`, `)`, `\` and NUL escaped. */
const ldapEscape = (v: string): string => v.replace(/[*()\\\0]/g, (c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/** `sip:` + lower-case address. */
export { normalizeSipUri } from './ocs.store.js';

function ocsStoreOf(system: ActorLookup): OcsStore | undefined {
  const ref = system.get('ocs');
  return ref ? ocsStore(ref) : undefined;
}

/** The registrar's answer to an authenticated REGISTER. */
export function decideRegister(system: ActorLookup, req: RegisterRequest): RegisterOutcome {
  const ad = system.get('ad');
  const uri = normalizeSipUri(req.uri);
  const refuse = (status: 401 | 403 | 404 | 480 | 503, reason: string, cause: RegisterRefusal, detail: string): RegisterOutcome => ({ status, reason, cause, detail });

  // Questions only, asked of the directory's current snapshot (a REGISTER changes nothing in AD): not a
  // command through the actor on every REGISTER of a sign-in storm.
  const auth = adAuthenticateNow(ad, { name: req.account, password: req.password }, req.now);
  if (!auth.ok) return refuse(401, 'Unauthorized', 'badCredentials', `authentication of ${req.account} failed: ${auth.failure.message}`);

  // One indexed-style question for the URI (not every user in the domain: a sign-in storm asks it 10,000 times).
  const found = adSearchNow(ad, { base: adDomainDn(ad), scope: 'sub', filter: `(&(objectClass=user)(msRTCSIP-PrimaryUserAddress=${ldapEscape(uri)}))` }, req.now);
  const entries = found.ok ? found.value : [];
  const owner = entries.find((e) => (attr(e.attributes, 'msRTCSIP-PrimaryUserAddress') ?? '').toLowerCase() === uri);
  if (!owner) return refuse(404, 'Not Found', 'unknownUri', `no user has msRTCSIP-PrimaryUserAddress ${uri}`);
  if (owner.dn.toLowerCase() !== auth.value.dn.toLowerCase()) return refuse(403, 'Forbidden', 'uriNotOwned', `${uri} belongs to ${owner.dn}, not to the authenticated account ${auth.value.dn}`);
  if ((attr(owner.attributes, 'msRTCSIP-UserEnabled') ?? '').toUpperCase() !== 'TRUE') return refuse(403, 'Forbidden', 'userDisabled', `${auth.value.sam} is not enabled for Communications Server (msRTCSIP-UserEnabled is not TRUE)`);
  const flags = Number(attr(owner.attributes, 'msRTCSIP-OptionFlags') ?? '0');
  if (!Number.isFinite(flags) || (flags & ENHANCED_PRESENCE_FLAG) === 0) {
    return refuse(403, 'Forbidden', 'enhancedPresence', `msRTCSIP-OptionFlags of ${auth.value.sam} is ${attr(owner.attributes, 'msRTCSIP-OptionFlags') ?? '(not set)'}: bit 256 (enhanced presence) is not set`);
  }

  const store = ocsStoreOf(system);
  const homeDn = (attr(owner.attributes, 'msRTCSIP-PrimaryHomeServer') ?? '').toLowerCase();
  const pool = store?.pools.find((p) => p.homeServerDn.toLowerCase() === homeDn);
  if (!store || !pool) return refuse(480, 'Temporarily Unavailable', 'notHomed', `msRTCSIP-PrimaryHomeServer ${homeDn || '(not set)'} is not a pool of this deployment`);
  // The registrar serves users from the RTC database: one the User Replicator has not brought in yet is unknown.
  if (!homedUserBySip(store, uri)) return refuse(404, 'Not Found', 'unknownUri', `${uri} is not in the RTC database of ${pool.fqdn} yet (the User Replicator has not synchronized it)`);
  const running = pool.frontEnds.filter((fe) => findServer(store, fe)?.services[FRONT_END_SERVICE] === 'Running');
  if (!running.length) return refuse(503, 'Service Unavailable', 'poolDown', `no front end of ${pool.fqdn} runs the Front-End service (${FRONT_END_SERVICE})`);
  if (req.frontEnd) {
    const fe = findServer(store, req.frontEnd);
    if (!fe || fe.services[FRONT_END_SERVICE] !== 'Running') return refuse(503, 'Service Unavailable', 'poolDown', `the Front-End service on ${req.frontEnd} is not running`);
  }
  return { status: 200, reason: 'OK', user: { sam: auth.value.sam, dn: owner.dn, sipAddress: uri, pool: findPool(store, pool.name)?.name ?? pool.name, frontEnds: running } };
}
