/**
 * The OCS deployment as plain data: pools, servers, the Windows services OCS installs, the users the User
 * Replicator has seen, and the wizard log. Pure functions only; the machine owns the one copy.
 */
import type { ServiceSpec, ServiceState, StartupType } from '../host/host.events.js';

export const DEFAULT_INSTALL_PATH = 'C:\\Program Files\\Microsoft Office Communications Server 2007 R2';

/** The per-server phases of the Deployment Wizard's "Add Enterprise Edition Server to Pool" (seed steps 1-5). */
export const SERVER_PHASES = ['notInstalled', 'filesInstalled', 'activated', 'certificateAssigned', 'servicesStarted'] as const;
export type ServerPhase = (typeof SERVER_PHASES)[number];

export type ServiceAccount = 'RTCService' | 'RTCComponentService' | 'RTCGuestAccessUser';

/** The service accounts Add Server to Pool creates and the universal group each joins (ocs-facts §2). */
export const SERVICE_ACCOUNTS: readonly { sam: ServiceAccount; group: string; displayName: string }[] = [
  { sam: 'RTCService', group: 'RTCHSUniversalServices', displayName: 'RTCService' },
  { sam: 'RTCComponentService', group: 'RTCComponentUniversalServices', displayName: 'RTCComponentService' },
  { sam: 'RTCGuestAccessUser', group: 'RTCUniversalGuestAccessGroup', displayName: 'RTCGuestAccessUser' },
];

export interface OcsServiceDef {
  /** Service key name. */
  name: string;
  displayName: string;
  account: ServiceAccount;
  dependsOn: string[];
  startMs: number;
  /** Whether the key name / logon account is sourced (ocs-facts §3) or a design choice flagged [U] in the README. */
  sourced: boolean;
}

/**
 * The services of a consolidated R2 front end, in the admin snap-in's order (ocs-facts §3 [B], Schertz):
 * Front-End, IM Conferencing, Telephony Conferencing, Monitoring Agent, Web Conferencing, A/V Conferencing,
 * Application Sharing, Response Group, Conferencing Attendant, Conferencing Announcement, Outside Voice
 * Control, then Application Host.
 */
export const OCS_SERVICES: readonly OcsServiceDef[] = [
  { name: 'RtcSrv', displayName: 'Office Communications Server Front-End', account: 'RTCService', dependsOn: [], startMs: 30_000, sourced: true },
  { name: 'RTCIMMCU', displayName: 'Office Communications Server IM Conferencing', account: 'RTCService', dependsOn: [], startMs: 12_000, sourced: false },
  { name: 'RTCACPMCU', displayName: 'Office Communications Server Telephony Conferencing', account: 'RTCService', dependsOn: [], startMs: 12_000, sourced: false },
  { name: 'RtcQmsAgent', displayName: 'Office Communications Server Monitoring Agent', account: 'RTCService', dependsOn: [], startMs: 8_000, sourced: false },
  { name: 'RTCDATAMCU', displayName: 'Office Communications Server Web Conferencing', account: 'RTCComponentService', dependsOn: [], startMs: 15_000, sourced: false },
  { name: 'RTCAVMCU', displayName: 'Office Communications Server Audio/Video Conferencing', account: 'RTCComponentService', dependsOn: [], startMs: 15_000, sourced: false },
  { name: 'RTCASMCU', displayName: 'Office Communications Server Application Sharing', account: 'RTCComponentService', dependsOn: [], startMs: 12_000, sourced: false },
  { name: 'RTCRGS', displayName: 'Office Communications Server Response Group', account: 'RTCComponentService', dependsOn: [], startMs: 10_000, sourced: false },
  { name: 'RTCCAA', displayName: 'Office Communications Server Conferencing Attendant', account: 'RTCComponentService', dependsOn: [], startMs: 10_000, sourced: false },
  { name: 'RTCCAS', displayName: 'Office Communications Server Conferencing Announcement', account: 'RTCComponentService', dependsOn: [], startMs: 10_000, sourced: false },
  { name: 'RTCOVC', displayName: 'Office Communications Server Outside Voice Control', account: 'RTCComponentService', dependsOn: [], startMs: 10_000, sourced: false },
  { name: 'RTCHost', displayName: 'Office Communications Server Application Host', account: 'RTCComponentService', dependsOn: ['Winmgmt'], startMs: 10_000, sourced: false },
];

export const FRONT_END_SERVICE = 'RtcSrv';
export const MONITORING_AGENT_SERVICE = 'RtcQmsAgent';
/** The Message Queuing feature the Monitoring Agent needs (ServerManagerCmd ID). */
export const MSMQ_FEATURE = 'MSMQ-Server';
/** What Add Server to Pool needs on Windows Server 2008 (seed Step 1; ocs-facts §1.0). */
export const IIS_PREREQUISITES: readonly { id: string; displayName: string }[] = [
  { id: 'Web-Server', displayName: 'Web Server (IIS)' },
  { id: 'Web-Windows-Auth', displayName: 'Windows Authentication' },
  { id: 'Web-Mgmt-Compat', displayName: 'IIS 6 Management Compatibility' },
];

export function serviceSpec(def: OcsServiceDef, netbios: string, startupType: StartupType = 'Automatic'): ServiceSpec {
  return {
    name: def.name,
    displayName: def.displayName,
    startupType,
    logOnAs: `${netbios}\\${def.account}`,
    dependsOn: def.dependsOn,
    startMs: def.startMs,
    owner: 'ocs',
  };
}

export interface PoolRecord {
  name: string;
  fqdn: string;
  /** CN=<pool>,CN=Pools,<RTC Service DN> (msRTCSIP-Pool). */
  dn: string;
  /** CN=LC Services,CN=Microsoft,<pool DN>: what users' msRTCSIP-PrimaryHomeServer points at. */
  homeServerDn: string;
  backEnd: string;
  backEndFqdn: string;
  configured: boolean;
  sipDomains: string[];
  defaultSipDomain: string;
  automaticSignIn: boolean;
  internalWebFarmFqdn: string;
  externalWebFarmFqdn?: string;
  frontEnds: string[];
}

export interface CertificateRecord {
  thumbprint: string;
  subjectCN: string;
  sans: string[];
  friendlyName: string;
}

export interface PendingRequest {
  mode: 'online' | 'offline';
  csrPem: string;
  keyId: string;
  friendlyName: string;
  subjectCN: string;
  sans: string[];
  caRequestId?: string | number;
  assign: boolean;
}

export interface ServerRecord {
  fqdn: string;
  host: string;
  pool: string;
  installPath: string;
  filesInstalled: boolean;
  activated: boolean;
  /** Activation added the OCS firewall exceptions, or the firewall was off and the ports stayed closed (ocs-facts §1.0). */
  firewallExceptions: 'added' | 'skippedFirewallOff';
  certificate?: CertificateRecord;
  pendingRequest?: PendingRequest;
  updates: string[];
  /** Last state the host reported for each OCS service. */
  services: Record<string, ServiceState>;
  /** Domains this server's User Replicator finished an initial synchronization of (event 30024 written). */
  replicatedDomains: string[];
  setupLog: string[];
}

export interface HomedUser {
  sam: string;
  dn: string;
  sipAddress: string;
  pool: string;
}

export interface OcsStore {
  pools: PoolRecord[];
  servers: ServerRecord[];
  /** What the User Replicator has written into the pools' RTC databases. */
  users: HomedUser[];
  wizardLog: string[];
}

export const emptyStore = (): OcsStore => ({ pools: [], servers: [], users: [], wizardLog: [] });

const lc = (s: string) => s.toLowerCase();

export function findPool(store: OcsStore, name: string): PoolRecord | undefined {
  const n = lc(name);
  return store.pools.find((p) => lc(p.name) === n || lc(p.fqdn) === n);
}

/** By short host name or FQDN. */
export function findServer(store: OcsStore, name: string): ServerRecord | undefined {
  const n = lc(name);
  return store.servers.find((s) => lc(s.host) === n || lc(s.fqdn) === n);
}

export function withPool(store: OcsStore, pool: PoolRecord): OcsStore {
  const i = store.pools.findIndex((p) => lc(p.name) === lc(pool.name));
  const pools = i < 0 ? [...store.pools, pool] : store.pools.map((p, j) => (j === i ? pool : p));
  return { ...store, pools };
}

export function withServer(store: OcsStore, server: ServerRecord): OcsStore {
  const i = store.servers.findIndex((s) => lc(s.fqdn) === lc(server.fqdn));
  const servers = i < 0 ? [...store.servers, server] : store.servers.map((s, j) => (j === i ? server : s));
  return { ...store, servers };
}

export function withUser(store: OcsStore, user: HomedUser): OcsStore {
  return withUsers(store, [user]);
}

/** As many `withUser` in a row: each user replaces the one with its account name and goes last. */
export function withUsers(store: OcsStore, users: readonly HomedUser[]): OcsStore {
  if (!users.length) return store;
  const bySam = new Map(store.users.map((u) => [lc(u.sam), u]));
  for (const u of users) {
    bySam.delete(lc(u.sam));
    bySam.set(lc(u.sam), u);
  }
  return { ...store, users: [...bySam.values()] };
}

/** "sip:" plus the address, trimmed and lower-cased: how the registrar and the RTC database compare SIP URIs. */
export const normalizeSipUri = (uri: string): string => `sip:${uri.trim().replace(/^sip:/i, '')}`.toLowerCase();

// The RTC database's users by SIP URI and by account name, built once per users array (the store is
// immutable, so a new array is a new table): every REGISTER, SUBSCRIBE and MESSAGE looks a user up, and
// with 10,000 users a scan each was a registrar's whole budget.
const bySipIndex = new WeakMap<readonly HomedUser[], Map<string, HomedUser>>();
const bySamIndex = new WeakMap<readonly HomedUser[], Map<string, HomedUser>>();

function indexed(users: readonly HomedUser[], cache: WeakMap<readonly HomedUser[], Map<string, HomedUser>>, key: (u: HomedUser) => string): Map<string, HomedUser> {
  let index = cache.get(users);
  if (!index) {
    index = new Map();
    // The first holder wins, as a scan would find it.
    for (const u of users) if (!index.has(key(u))) index.set(key(u), u);
    cache.set(users, index);
  }
  return index;
}

/** The homed user with this SIP URI (any case, with or without "sip:"). */
export function homedUserBySip(store: OcsStore, uri: string): HomedUser | undefined {
  return indexed(store.users, bySipIndex, (u) => normalizeSipUri(u.sipAddress)).get(normalizeSipUri(uri));
}

/** The homed user with this account name (any case). */
export function homedUserBySam(store: OcsStore, sam: string): HomedUser | undefined {
  return indexed(store.users, bySamIndex, (u) => lc(u.sam)).get(lc(sam));
}

export function logWizard(store: OcsStore, lines: string[]): OcsStore {
  return { ...store, wizardLog: [...store.wizardLog, ...lines] };
}

/** The deployment phase a server is in, read from what the wizard did and what the host reported. */
export function serverPhase(server: ServerRecord | undefined): ServerPhase {
  if (!server || !server.filesInstalled) return 'notInstalled';
  if (!server.activated) return 'filesInstalled';
  if (!server.certificate) return 'activated';
  if (server.services[FRONT_END_SERVICE] !== 'Running') return 'certificateAssigned';
  return 'servicesStarted';
}

/** The server that owns User Replication for a pool: the first front end that was activated (ocs-facts §1.10). */
export function replicationOwner(store: OcsStore, pool: string): ServerRecord | undefined {
  return store.servers.find((s) => lc(s.pool) === lc(pool) && s.activated);
}

/** Every OCS service except Disabled ones, in snap-in order, as the host reports their startup types. */
export function ocsServiceNames(): string[] {
  return OCS_SERVICES.map((s) => s.name);
}

/** "sip:ocsuser1@example.com" from an address with or without the scheme. */
export function sipUri(address: string): string {
  return /^sip:/i.test(address) ? `sip:${address.slice(4)}` : `sip:${address}`;
}
