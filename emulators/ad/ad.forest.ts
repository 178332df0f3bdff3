/**
 * The forest: every DC's replica, the change log replication works from, and the operations that span
 * DCs — writes that land on one DC and are logged for the others, the seed of a new Windows Server 2008
 * forest, authentication, and the LCSCmd preparation actions (SchemaPrep, ForestPrep, DomainPrep).
 * Plain data and functions; the machine only decides when they run.
 */
import type { LabEnv } from '../../sim/emulator.js';
import { fail, ok } from '../../sim/result.js';
import { domainDn, type Topology } from '../../sim/topology.js';
import { dnKey, escapeRdnValue } from './ad.dn.js';
import {
  LDAP,
  type Ace,
  type AdEmitted,
  type AdFailure,
  type AdModification,
  type AdNewUser,
  type AdResult,
  type GlobalSettingsLocation,
  type PrepState,
} from './ad.events.js';
import {
  BASE_ATTRIBUTES,
  BASE_CLASSES,
  RTC_CLASSES,
  RTC_EXTENDED_CLASSES,
  RTC_SERVICE_ATTRIBUTES,
  RTC_USER_ATTRIBUTES,
  attributeSchemaEntry,
  classSchemaEntry,
  schemaFromDefs,
} from './ad.schema.js';
import { applyChange, type ChangeRecord } from './ad.replication.js';
import { OCS_R2_SCHEMA_VERSION } from './ad.schema.js';
import {
  adFailure,
  adFailures,
  ownReplica,
  fileTime,
  fileTimeToMs,
  findBySam,
  findByUpn,
  first,
  isMember,
  type AdEntry,
  type NamingContexts,
  type Replica,
} from './ad.store.js';
import { addAces, addEntry, deleteEntry, modifyEntry, type WriteEnv } from './ad.writes.js';

export interface DcState {
  /** Short host name, "dc01". */
  name: string;
  fqdn: string;
  /** Host powered on and NTDS Running. */
  available: boolean;
  replica: Replica;
  /** Up-to-dateness vector: highest change seq applied here, per originating DC. */
  applied: Record<string, number>;
  /**
   * Extra time before changes reach this DC (inbound replication on a slower schedule: a branch DC on a
   * site link's interval, a busy or badly connected DC). `repadmin /syncall` ignores it.
   */
  inboundDelayMs?: number;
}

/** When change `c` is due on `dc`. */
const dueOn = (dc: DcState, c: ChangeRecord): number => c.dueAt + (dc.inboundDelayMs ?? 0);

export interface ForestState {
  forestFqdn: string;
  netbios: string;
  ncs: NamingContexts;
  domainSid: string;
  /** Topology order: the first is the PDC emulator, schema master and RID master. */
  dcs: DcState[];
  /** Originating writes not yet applied on every DC, in order. */
  log: ChangeRecord[];
  nextSeq: number;
  nextRid: number;
  /** Account passwords by entry key (unicodePwd is write-only; the lab keeps the secret here). */
  passwords: Record<string, string>;
  replicationDelayMs: number;
  administrator: string;
}

export const UNIVERSAL_SECURITY = '-2147483640';
const GLOBAL_SECURITY = '-2147483646';
const DOMAIN_LOCAL_SECURITY = '-2147483644';
const BUILTIN_LOCAL = '-2147483643';
export const UAC = { disabled: 0x2, normal: 0x200, dontExpirePassword: 0x10000, serverTrust: 0x2000, trustedForDelegation: 0x80000 };
/** Default Domain Policy: maximum password age 42 days. */
export const DEFAULT_MAX_PWD_AGE = '-36288000000000';

export function namingContexts(forestFqdn: string): NamingContexts {
  const domain = domainDn(forestFqdn);
  return { domain, configuration: `CN=Configuration,${domain}`, schema: `CN=Schema,CN=Configuration,${domain}` };
}

export const pdc = (f: ForestState): DcState => f.dcs[0] as DcState;

export function dcNamed(f: ForestState, name: string | undefined): DcState | undefined {
  if (name === undefined) return undefined;
  const lower = name.toLowerCase();
  return f.dcs.find((d) => d.name === lower || d.fqdn === lower);
}

export const unavailable = (what: string): AdFailure =>
  adFailure('ad.unavailable', LDAP.serverDown, `The server is not operational. (${what}: LDAP error 81 (0x51) Server Down; no domain controller could be contacted)`);

// ---------------------------------------------------------------------------------------------------
// A transaction: one command's writes on one DC, logged for replication, with the journal events.

export class ForestTxn {
  readonly emitted: AdEmitted[] = [];
  state: ForestState;
  /** DCs whose replica this transaction has copied, and so may write entries into directly. */
  private readonly owned = new Set<string>();

  constructor(
    state: ForestState,
    private readonly env: LabEnv,
  ) {
    this.state = { ...state, dcs: state.dcs.map((d) => ({ ...d })) };
  }

  /** The replication log and the password table are copied on this transaction's first write to them (10,000 users: not per read). */
  private logCopied = false;
  private passwordsCopied = false;

  private passwords(): Record<string, string> {
    if (!this.passwordsCopied) {
      this.state.passwords = { ...this.state.passwords };
      this.passwordsCopied = true;
    }
    return this.state.passwords;
  }

  /** Records an account's password (seeding: the lab keeps the secret unicodePwd stands for). */
  setPassword(key: string, password: string): void {
    this.passwords()[key] = password;
  }

  /** The DC's replica, copied once per transaction so writes go into it directly. */
  private ownedReplica(dc: DcState): void {
    if (this.owned.has(dc.name)) return;
    dc.replica = ownReplica(dc.replica);
    this.owned.add(dc.name);
  }

  private writeEnv(system: boolean): WriteEnv {
    return {
      now: this.env.now(),
      guid: () => this.env.ids.guid(),
      allocateSid: () => `${this.state.domainSid}-${this.state.nextRid++}`,
      token: () => `${this.env.ids.hex(3)}-${this.env.ids.hex(6)}`,
      ncs: this.state.ncs,
      system,
    };
  }

  newGuid(): string {
    return this.env.ids.guid();
  }

  private dc(name: string): DcState {
    const d = dcNamed(this.state, name);
    if (!d) throw new Error(`ForestTxn: no DC ${name}`);
    return d;
  }

  private log(dc: DcState, change: Omit<ChangeRecord, 'seq' | 'origin' | 'dueAt'>): void {
    const seq = this.state.nextSeq++;
    if (!this.logCopied) {
      this.state.log = [...this.state.log];
      this.logCopied = true;
    }
    this.state.log.push({ ...change, seq, origin: dc.name, dueAt: this.env.now() + this.state.replicationDelayMs });
    dc.applied = { ...dc.applied, [dc.name]: seq };
  }

  add(dcName: string, dn: string, attributes: Record<string, string[]>, opts: { system?: boolean } = {}): AdResult<AdEntry> {
    const dc = this.dc(dcName);
    this.ownedReplica(dc);
    const r = addEntry(dc.replica, dn, attributes, { ...this.writeEnv(opts.system === true), inPlace: true });
    if (!r.ok) return r;
    dc.replica = r.value.replica;
    if (r.value.password !== undefined) this.passwords()[r.value.key] = r.value.password;
    this.log(dc, { op: 'add', key: r.value.key, dn: r.value.entry.dn, entry: r.value.entry });
    const classes = r.value.entry.attributes.objectClass ?? [];
    this.emitted.push({ type: 'ad.objectAdded', dn: r.value.entry.dn, dc: dc.name, objectClass: classes[classes.length - 1] ?? 'top', summary: `Created ${r.value.entry.dn} on ${dc.name}` });
    return ok(r.value.entry);
  }

  modify(dcName: string, dn: string, changes: readonly AdModification[], opts: { system?: boolean } = {}): AdResult<AdEntry> {
    const dc = this.dc(dcName);
    this.ownedReplica(dc);
    const r = modifyEntry(dc.replica, dn, changes, { ...this.writeEnv(opts.system === true), inPlace: true });
    if (!r.ok) return r;
    dc.replica = r.value.replica;
    if (r.value.password !== undefined) {
      this.passwords()[r.value.key] = r.value.password;
      this.emitted.push({ type: 'ad.passwordSet', dn: r.value.entry.dn, dc: dc.name, summary: `Password set for ${r.value.entry.dn}` });
    }
    const names = Object.keys(r.value.changed);
    if (names.length) {
      this.log(dc, { op: 'modify', key: r.value.key, dn: r.value.entry.dn, changed: r.value.changed });
      this.emitted.push({ type: 'ad.objectModified', dn: r.value.entry.dn, dc: dc.name, attributes: names, summary: `Modified ${names.join(', ')} on ${r.value.entry.dn} (${dc.name})` });
    }
    return ok(r.value.entry);
  }

  delete(dcName: string, dn: string): AdResult<AdEntry> {
    const dc = this.dc(dcName);
    const r = deleteEntry(dc.replica, dn);
    if (!r.ok) return r;
    dc.replica = r.value.replica;
    delete this.passwords()[r.value.key];
    this.log(dc, { op: 'delete', key: r.value.key, dn: r.value.entry.dn });
    this.emitted.push({ type: 'ad.objectDeleted', dn: r.value.entry.dn, dc: dc.name, summary: `Deleted ${r.value.entry.dn} on ${dc.name}` });
    return ok(r.value.entry);
  }

  aces(dcName: string, dn: string, aces: readonly Ace[]): AdResult<AdEntry> {
    const dc = this.dc(dcName);
    const r = addAces(dc.replica, dn, aces, this.env.now());
    if (!r.ok) return r;
    dc.replica = r.value.replica;
    this.log(dc, { op: 'modify', key: r.value.key, dn: r.value.entry.dn, changed: {}, aces: r.value.entry.aces ?? [] });
    return ok(r.value.entry);
  }
}

// ---------------------------------------------------------------------------------------------------
// Replication

/** Whether `dc` holds change `c` (it originated there or has applied it). */
export function holds(dc: DcState, c: ChangeRecord): boolean {
  return c.origin === dc.name || (dc.applied[c.origin] ?? 0) >= c.seq;
}

/** Changes `dc` still lacks that an available replication partner holds. */
export function deliverable(f: ForestState, dc: DcState): ChangeRecord[] {
  if (!dc.available) return [];
  return f.log.filter((c) => !holds(dc, c) && f.dcs.some((p) => p !== dc && p.available && holds(p, c)));
}

export function pendingCount(f: ForestState): number {
  return f.log.filter((c) => f.dcs.some((d) => !holds(d, c))).length;
}

export function nextDue(f: ForestState): number | undefined {
  let due: number | undefined;
  for (const dc of f.dcs) for (const c of deliverable(f, dc)) if (due === undefined || dueOn(dc, c) < due) due = dueOn(dc, c);
  return due;
}

/** Applies every deliverable change that is due by `now` (all of them when `force`); drops fully replicated ones. */
export function replicate(f: ForestState, now: number, force: boolean): { state: ForestState; emitted: AdEmitted[] } {
  const emitted: AdEmitted[] = [];
  const dcs = f.dcs.map((d) => ({ ...d }));
  let state: ForestState = { ...f, dcs };
  for (const dc of dcs) {
    const due = deliverable(state, dc).filter((c) => force || dueOn(dc, c) <= now);
    if (!due.length) continue;
    dc.replica = ownReplica(dc.replica);
    for (const c of due) {
      dc.replica = applyChange(dc.replica, c, now, f.ncs, true);
      dc.applied = { ...dc.applied, [c.origin]: c.seq };
    }
    const from = [...new Set(due.map((c) => c.origin))];
    emitted.push({ type: 'ad.replicated', dc: dc.name, from, changes: due.length, summary: `${dc.name} applied ${due.length} change(s) replicated from ${from.join(', ')}` });
  }
  state = { ...state, log: state.log.filter((c) => dcs.some((d) => !holds(d, c))) };
  return { state, emitted };
}

// ---------------------------------------------------------------------------------------------------
// Passwords and accounts

/** Default Domain Policy complexity: 7+ characters, three of four character classes, not the account name. */
export function checkPasswordPolicy(sam: string, password: string): AdFailure | undefined {
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(password)).length;
  const containsName = sam.length >= 3 && password.toLowerCase().includes(sam.toLowerCase());
  if (password.length >= 7 && classes >= 3 && !containsName) return undefined;
  return adFailure(
    'ad.constraintViolation',
    LDAP.constraintViolation,
    '0000052D: Constraint violation - the password does not meet the length, complexity, or history requirements of the domain (AtrErr: DSID-03191083, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd))',
    { attribute: 'unicodePwd' },
  );
}

/** The DN the ADUC "New Object - User" dialog would give: CN=<full name>,<container>. */
export function newUserDn(f: ForestState, u: AdNewUser): string {
  const full = u.givenName && u.sn ? `${u.givenName} ${u.sn}` : (u.displayName ?? u.sam);
  const ou = u.ou ?? 'CN=Users';
  const container = dnKey(ou).endsWith(dnKey(f.ncs.domain)) ? ou : `${ou},${f.ncs.domain}`;
  return `CN=${escapeRdnValue(full)},${container}`;
}

export function createUser(txn: ForestTxn, dcName: string, u: AdNewUser): AdResult<{ dn: string }> {
  const bad = checkPasswordPolicy(u.sam, u.password);
  if (bad) return fail(bad);
  const dc = dcNamed(txn.state, dcName) as DcState;
  if (findBySam(dc.replica.directory, u.sam)) return fail(adFailures.exists());
  const uac = UAC.normal | (u.passwordNeverExpires ? UAC.dontExpirePassword : 0);
  const attrs: Record<string, string[]> = {
    objectClass: ['top', 'person', 'organizationalPerson', 'user'],
    sAMAccountName: [u.sam],
    userPrincipalName: [u.userPrincipalName ?? `${u.sam}@${txn.state.forestFqdn}`],
    userAccountControl: [String(uac)],
    unicodePwd: [`"${u.password}"`],
  };
  if (u.givenName) attrs.givenName = [u.givenName];
  if (u.sn) attrs.sn = [u.sn];
  attrs.displayName = [u.displayName ?? ([u.givenName, u.sn].filter(Boolean).join(' ') || u.sam)];
  if (u.mail) attrs.mail = [u.mail];
  const r = txn.add(dcName, newUserDn(txn.state, u), attrs);
  return r.ok ? ok({ dn: r.value.dn }) : r;
}

const authFailure = (kind: 'ad.invalidCredentials' | 'ad.passwordExpired' | 'ad.accountDisabled', data: string): AdFailure =>
  adFailure(kind, LDAP.invalidCredentials, `80090308: LdapErr: DSID-0C09043E, comment: AcceptSecurityContext error, data ${data}, v1db1`, { data });

/** Resolves a bind name (DN, DOMAIN\user, UPN or sAMAccountName) to the account. */
export function resolveAccount(f: ForestState, replica: Replica, name: string): AdEntry | undefined {
  const dir = replica.directory;
  if (name.includes('=')) return dir[dnKey(name)];
  const slash = name.indexOf('\\');
  if (slash >= 0) {
    const domain = name.slice(0, slash).toLowerCase();
    if (domain !== f.netbios.toLowerCase() && domain !== f.forestFqdn.toLowerCase()) return undefined;
    return findBySam(dir, name.slice(slash + 1));
  }
  const at = name.lastIndexOf('@');
  if (at > 0) {
    const byUpn = findByUpn(dir, name);
    if (byUpn) return byUpn;
    // The implicit UPN: sAMAccountName@<DNS domain name>.
    return name.slice(at + 1).toLowerCase() === f.forestFqdn.toLowerCase() ? findBySam(dir, name.slice(0, at)) : undefined;
  }
  return findBySam(dir, name);
}

/** A simple bind as a DC checks it; subcodes as AcceptSecurityContext reports them (52e, 532, 533, 773, 775). */
export function authenticate(f: ForestState, replica: Replica, name: string, password: string, now: number): AdResult<{ dn: string; sam: string }> {
  const account = resolveAccount(f, replica, name);
  const key = account ? dnKey(account.dn) : '';
  if (!account || f.passwords[key] === undefined || f.passwords[key] !== password) return fail(authFailure('ad.invalidCredentials', '52e'));
  const uac = Number(first(account, 'userAccountControl') ?? '0');
  if (uac & UAC.disabled) return fail(authFailure('ad.accountDisabled', '533'));
  if (Number(first(account, 'lockoutTime') ?? '0') > 0) return fail(authFailure('ad.accountDisabled', '775'));
  const pwdLastSet = first(account, 'pwdLastSet') ?? '0';
  if (pwdLastSet === '0') return fail(authFailure('ad.passwordExpired', '773'));
  if (!(uac & UAC.dontExpirePassword)) {
    const maxAge = BigInt(first(replica.directory[dnKey(f.ncs.domain)], 'maxPwdAge') ?? DEFAULT_MAX_PWD_AGE);
    const maxAgeMs = Number(-maxAge / 10_000n);
    if (maxAgeMs > 0 && now - fileTimeToMs(pwdLastSet) > maxAgeMs) return fail(authFailure('ad.passwordExpired', '532'));
  }
  return ok({ dn: account.dn, sam: first(account, 'sAMAccountName') ?? '' });
}

// ---------------------------------------------------------------------------------------------------
// The seed: what dcpromo leaves in a new Windows Server 2008 forest root domain (the part the lab needs).

export interface SeedResult {
  state: ForestState;
}

export function seedForest(topology: Topology, env: LabEnv, replicationDelayMs: number): ForestState {
  const forestFqdn = topology.forest.fqdn.toLowerCase();
  const ncs = namingContexts(forestFqdn);
  const domainSid = env.ids.domainSid();
  const dcHosts = topology.hosts.filter((h) => h.roles.includes('domainController'));
  const replica0: Replica = { directory: {}, schema: schemaFromDefs(BASE_ATTRIBUTES, BASE_CLASSES), usn: 12000 };
  const first0 = dcHosts[0];
  if (!first0) throw new Error('AD emulator: the topology has no domainController');
  const dcs: DcState[] = dcHosts.map((h) => ({ name: h.name, fqdn: h.fqdn, available: true, replica: replica0, applied: {} }));
  const state: ForestState = {
    forestFqdn,
    netbios: topology.forest.netbios,
    ncs,
    domainSid,
    dcs,
    log: [],
    nextSeq: 1,
    nextRid: 1103,
    passwords: {},
    replicationDelayMs,
    administrator: topology.administrator.sam,
  };
  const txn = new ForestTxn(state, env);
  const dc0 = first0.name;
  const add = (dn: string, attributes: Record<string, string[]>, rid?: number) => {
    if (rid !== undefined) attributes.objectSid = [`${domainSid}-${rid}`];
    const r = txn.add(dc0, dn, attributes, { system: true });
    if (!r.ok) throw new Error(`AD seed: ${dn}: ${r.failure.message}`);
  };
  const D = ncs.domain;
  const C = ncs.configuration;
  const S = ncs.schema;
  const crit = { isCriticalSystemObject: ['TRUE'] };
  const container = (dn: string, description?: string, extra: Record<string, string[]> = {}) =>
    add(dn, { objectClass: ['container'], ...(description ? { description: [description] } : {}), ...extra });

  // Schema and configuration naming contexts first: objectCategory values point into the schema.
  add(C, { objectClass: ['configuration'] });
  add(S, { objectClass: ['dMD'] });
  for (const a of BASE_ATTRIBUTES) {
    const e = attributeSchemaEntry(a, S);
    add(e.dn, e.attributes);
  }
  for (const c of BASE_CLASSES) {
    const e = classSchemaEntry(c, S);
    add(e.dn, e.attributes);
  }
  container(`CN=Services,${C}`);
  container(`CN=Extended-Rights,${C}`);
  add(`CN=Sites,${C}`, { objectClass: ['sitesContainer'] });
  add(`CN=Default-First-Site-Name,CN=Sites,${C}`, { objectClass: ['site'] });
  add(`CN=Servers,CN=Default-First-Site-Name,CN=Sites,${C}`, { objectClass: ['serversContainer'] });
  add(`CN=Partitions,${C}`, { objectClass: ['crossRefContainer'], 'msDS-Behavior-Version': ['3'] });

  // Domain naming context.
  add(D, { objectClass: ['domainDNS'], maxPwdAge: [DEFAULT_MAX_PWD_AGE], minPwdAge: ['-864000000000'], minPwdLength: ['7'], pwdProperties: ['1'], pwdHistoryLength: ['24'], lockoutThreshold: ['0'], 'msDS-Behavior-Version': ['3'], ...crit, objectSid: [domainSid] });
  add(`CN=${topology.forest.netbios},CN=Partitions,${C}`, { objectClass: ['crossRef'], nCName: [D], dnsRoot: [forestFqdn], nETBIOSName: [topology.forest.netbios] });
  container(`CN=Users,${D}`, 'Default container for upgraded user accounts', crit);
  container(`CN=Computers,${D}`, 'Default container for upgraded computer accounts', crit);
  add(`OU=Domain Controllers,${D}`, { objectClass: ['organizationalUnit'], description: ['Default container for domain controllers'], ...crit });
  container(`CN=System,${D}`, 'Builtin system settings', crit);
  container(`CN=ForeignSecurityPrincipals,${D}`, 'Default container for security identifiers (SIDs) associated with objects from external, trusted domains', crit);
  add(`CN=Builtin,${D}`, { objectClass: ['builtinDomain'], ...crit, objectSid: ['S-1-5-32'] });

  const U = `CN=Users,${D}`;
  const admin = topology.administrator.sam;
  const adminDn = `CN=${admin},${U}`;
  const user = (cn: string, rid: number, uac: number, description: string) =>
    add(`CN=${cn},${U}`, { objectClass: ['user'], sAMAccountName: [cn], userAccountControl: [String(uac)], description: [description], ...crit, pwdLastSet: [fileTime(env.now())] }, rid);
  user(admin, 500, UAC.normal, 'Built-in account for administering the computer/domain');
  txn.setPassword(dnKey(adminDn), topology.administrator.password);
  user('Guest', 501, UAC.normal | UAC.disabled | UAC.dontExpirePassword | 0x20, 'Built-in account for guest access to the computer/domain');
  user('krbtgt', 502, UAC.normal | UAC.disabled, 'Key Distribution Center Service Account');
  const group = (dn: string, sam: string, rid: number | undefined, groupType: string, description: string, members: string[] = []) =>
    add(dn, { objectClass: ['group'], sAMAccountName: [sam], groupType: [groupType], description: [description], ...(members.length ? { member: members } : {}), ...(rid !== undefined && rid < 1000 ? crit : {}) }, rid);
  const domainGroup = (cn: string, rid: number, groupType: string, description: string, members: string[] = []) => group(`CN=${cn},${U}`, cn, rid, groupType, description, members);
  domainGroup('Domain Admins', 512, GLOBAL_SECURITY, 'Designated administrators of the domain', [adminDn]);
  domainGroup('Domain Users', 513, GLOBAL_SECURITY, 'All domain users');
  domainGroup('Domain Guests', 514, GLOBAL_SECURITY, 'All domain guests');
  domainGroup('Domain Computers', 515, GLOBAL_SECURITY, 'All workstations and servers joined to the domain');
  domainGroup('Domain Controllers', 516, GLOBAL_SECURITY, 'All domain controllers in the domain');
  domainGroup('Cert Publishers', 517, DOMAIN_LOCAL_SECURITY, 'Members of this group are permitted to publish certificates to the directory');
  domainGroup('Schema Admins', 518, UNIVERSAL_SECURITY, 'Designated administrators of the schema', [adminDn]);
  domainGroup('Enterprise Admins', 519, UNIVERSAL_SECURITY, 'Designated administrators of the enterprise', [adminDn]);
  domainGroup('Group Policy Creator Owners', 520, GLOBAL_SECURITY, 'Members in this group can modify group policy for the domain', [adminDn]);
  domainGroup('RAS and IAS Servers', 553, DOMAIN_LOCAL_SECURITY, 'Servers in this group can access remote access properties of users');
  const B = `CN=Builtin,${D}`;
  const builtin = (cn: string, rid: number, description: string, members: string[] = []) =>
    add(`CN=${cn},${B}`, { objectClass: ['group'], sAMAccountName: [cn], groupType: [BUILTIN_LOCAL], description: [description], objectSid: [`S-1-5-32-${rid}`], ...crit, ...(members.length ? { member: members } : {}) });
  builtin('Administrators', 544, 'Administrators have complete and unrestricted access to the computer/domain', [adminDn, `CN=Domain Admins,${U}`, `CN=Enterprise Admins,${U}`]);
  builtin('Users', 545, 'Users are prevented from making accidental or intentional system-wide changes and can run most applications', [`CN=Domain Users,${U}`]);
  builtin('Guests', 546, 'Guests have the same access as members of the Users group by default, except for the Guest account which is further restricted', [`CN=Domain Guests,${U}`]);

  // Domain controllers: computer account, server object and NTDS Settings.
  const osName = 'Windows Server\u00ae 2008 Enterprise';
  dcHosts.forEach((h, i) => {
    const cn = h.name.toUpperCase();
    const computerDn = `CN=${cn},OU=Domain Controllers,${D}`;
    const rid = i === 0 ? 1000 : txn.state.nextRid++;
    add(computerDn, {
      objectClass: ['computer'],
      sAMAccountName: [`${cn}$`],
      dNSHostName: [h.fqdn],
      userAccountControl: [String(UAC.serverTrust | UAC.trustedForDelegation)],
      primaryGroupID: ['516'],
      operatingSystem: [osName],
      operatingSystemVersion: ['6.0 (6002)'],
      operatingSystemServicePack: ['Service Pack 2'],
      servicePrincipalName: [`ldap/${h.fqdn}`, `HOST/${h.fqdn}`, `HOST/${cn}`, `GC/${h.fqdn}/${forestFqdn}`],
      ...crit,
    }, rid);
    const serverDn = `CN=${cn},CN=Servers,CN=Default-First-Site-Name,CN=Sites,${C}`;
    add(serverDn, { objectClass: ['server'], dNSHostName: [h.fqdn], serverReference: [computerDn] });
    add(`CN=NTDS Settings,${serverDn}`, { objectClass: ['nTDSDSA'], options: ['1'] });
    if (i === 0) {
      domainGroup('DnsAdmins', 1101, DOMAIN_LOCAL_SECURITY, 'DNS Administrators Group');
      domainGroup('DnsUpdateProxy', 1102, GLOBAL_SECURITY, 'DNS clients who are permitted to perform dynamic updates on behalf of some other clients (such as DHCP servers).');
    }
  });
  const fsmo = `CN=NTDS Settings,CN=${first0.name.toUpperCase()},CN=Servers,CN=Default-First-Site-Name,CN=Sites,${C}`;
  for (const dn of [D, S]) {
    const r = txn.modify(dc0, dn, [{ operation: 'replace', attribute: 'fSMORoleOwner', values: [fsmo] }], { system: true });
    if (!r.ok) throw new Error(`AD seed: ${r.failure.message}`);
  }

  // The topology's people that exist when the lab starts: plain AD users, mailboxes in the SIP
  // domain, not SIP-enabled. The others are created by the scenario (ADUC, `ad.createUser`).
  for (const u of topology.users.filter((x) => x.existsAtStart)) {
    const r = createUser(txn, dc0, { sam: u.sam, password: u.password, givenName: u.givenName, sn: u.sn, ou: u.ou, ...(u.displayName ? { displayName: u.displayName } : {}), ...(u.mail ? { mail: u.mail } : {}) });
    if (!r.ok) throw new Error(`AD seed: user ${u.sam}: ${r.failure.message}`);
  }

  // Every DC starts with the same converged copy (dcpromo replicated it in full).
  const seeded = txn.state;
  const master = pdc(seeded).replica;
  return { ...seeded, log: [], dcs: seeded.dcs.map((d) => ({ ...d, replica: master, applied: {} })) };
}

// ---------------------------------------------------------------------------------------------------
// LCSCmd preparation: state checks

const RTC_GROUPS = [
  'RTCHSUniversalServices',
  'RTCComponentUniversalServices',
  'RTCProxyUniversalServices',
  'RTCUniversalGuestAccessGroup',
  'RTCUniversalServerAdmins',
  'RTCUniversalUserAdmins',
  'RTCUniversalReadOnlyAdmins',
  'RTCUniversalGlobalWriteGroup',
  'RTCUniversalGlobalReadOnlyGroup',
  'RTCUniversalUserReadOnlyGroup',
  'RTCUniversalServerReadOnlyGroup',
] as const;
export { RTC_GROUPS };

export function rtcServiceLocations(ncs: NamingContexts): Record<GlobalSettingsLocation, string> {
  return { configuration: `CN=RTC Service,CN=Services,${ncs.configuration}`, system: `CN=RTC Service,CN=Microsoft,CN=System,${ncs.domain}` };
}

export function schemaReady(replica: Replica): boolean {
  const user = replica.schema.classes.user;
  // What the R2 guide checks (rangeUpper of ms-RTC-SIP-SchemaVersion is 1008), and what ForestPrep needs.
  const version = replica.schema.attributes['msrtcsip-schemaversion']?.rangeUpper ?? 0;
  return Boolean(replica.schema.classes['msrtcsip-globalcontainer'] && version >= OCS_R2_SCHEMA_VERSION && user?.may.includes('msRTCSIP-PrimaryUserAddress'));
}

/** The CN=RTC Service container ForestPrep created, as this replica sees it. */
export function findRtcService(replica: Replica, ncs: NamingContexts): string | undefined {
  const locs = rtcServiceLocations(ncs);
  for (const dn of [locs.configuration, locs.system]) if (replica.directory[dnKey(`CN=Global Settings,${dn}`)]) return replica.directory[dnKey(dn)]?.dn;
  return undefined;
}

export function forestReady(replica: Replica, ncs: NamingContexts): boolean {
  return findRtcService(replica, ncs) !== undefined && RTC_GROUPS.every((g) => findBySam(replica.directory, g));
}

export const DOMAIN_PREP_TARGETS = (ncs: NamingContexts) => [ncs.domain, `CN=Users,${ncs.domain}`, `CN=Computers,${ncs.domain}`, `OU=Domain Controllers,${ncs.domain}`];

export function domainReady(replica: Replica, ncs: NamingContexts): boolean {
  return DOMAIN_PREP_TARGETS(ncs).every((dn) => (replica.directory[dnKey(dn)]?.aces ?? []).some((a) => a.source === 'DomainPrep'));
}

export function prepState(f: ForestState, dc: DcState): { schema: PrepState; forest: PrepState; domain: PrepState } {
  const r = (b: boolean): PrepState => (b ? 'Ready' : 'Not Ready');
  return { schema: r(schemaReady(dc.replica)), forest: r(forestReady(dc.replica, f.ncs)), domain: r(domainReady(dc.replica, f.ncs)) };
}

// ---------------------------------------------------------------------------------------------------
// LCSCmd preparation: actions

const prepNotReady = (message: string): AdFailure => adFailure('ad.prepNotReady', LDAP.unwillingToPerform, message);
const accessDenied = (message: string): AdFailure => adFailure('ad.insufficientAccess', LDAP.insufficientAccessRights, message);

function runAsDn(f: ForestState, replica: Replica, runAs: string | undefined): AdEntry | undefined {
  return findBySam(replica.directory, runAs ?? f.administrator);
}

function memberOfAny(replica: Replica, who: AdEntry, groups: string[], ncs: NamingContexts): boolean {
  return groups.some((g) => isMember(replica.directory, who.dn, `CN=${g},CN=Users,${ncs.domain}`));
}

export function schemaPrep(txn: ForestTxn, runAs: string | undefined, remoteRegistryRunning: boolean): AdResult<{ log: string[] }> {
  const f = txn.state;
  const master = pdc(f);
  const who = runAsDn(f, master.replica, runAs);
  const account = `${f.netbios}\\${runAs ?? f.administrator}`;
  if (!master.available) return fail(unavailable(`Schema Master ${master.fqdn}`));
  if (!who || !memberOfAny(master.replica, who, ['Schema Admins'], f.ncs)) {
    return fail(accessDenied(`Schema preparation failed: ${account} is not a member of the Schema Admins group. Access is denied. (0x80070005)`));
  }
  if (!remoteRegistryRunning) {
    return fail(adFailure('ad.unavailable', LDAP.serverDown, `Schema preparation failed: cannot connect to the Schema Master ${master.fqdn} through the Remote Registry service (RemoteRegistry is not running). The RPC server is unavailable. (0x800706BA)`));
  }
  const log = [`Schema Master: ${master.fqdn}`];
  if (schemaReady(master.replica)) return ok({ log: [...log, 'The schema is already prepared for Office Communications Server 2007 R2.', 'Execution Result: <Success>'] });
  const S = f.ncs.schema;
  for (const a of [...RTC_USER_ATTRIBUTES, ...RTC_SERVICE_ATTRIBUTES]) {
    if (master.replica.schema.attributes[a.name.toLowerCase()]) continue;
    const e = attributeSchemaEntry(a, S);
    const r = txn.add(master.name, e.dn, e.attributes, { system: true });
    if (!r.ok) return r;
  }
  for (const c of RTC_CLASSES) {
    if (master.replica.schema.classes[c.name.toLowerCase()]) continue;
    const e = classSchemaEntry(c, S, false);
    const r = txn.add(master.name, e.dn, e.attributes, { system: true });
    if (!r.ok) return r;
  }
  for (const [cls, attrs] of Object.entries(RTC_EXTENDED_CLASSES)) {
    const def = BASE_CLASSES.find((c) => c.name === cls);
    if (!def) continue;
    const r = txn.modify(master.name, `CN=${def.cn},${S}`, [{ operation: 'add', attribute: 'mayContain', values: attrs }], { system: true });
    if (!r.ok) return r;
  }
  const added = RTC_USER_ATTRIBUTES.length + RTC_SERVICE_ATTRIBUTES.length;
  return ok({ log: [...log, `Imported Schema.ldf: ${added} attributes and ${RTC_CLASSES.length} classes added; user and contact extended.`, 'Execution Result: <Success>'] });
}

export interface ForestPrepArgs {
  sipDomain: string;
  globalSettingsLocation?: GlobalSettingsLocation;
  groupDomain?: string;
  runAs?: string;
}

export function forestPrep(txn: ForestTxn, dcName: string, args: ForestPrepArgs): AdResult<{ log: string[]; rtcServiceDn: string }> {
  const f = txn.state;
  const dc = dcNamed(f, dcName) as DcState;
  const account = `${f.netbios}\\${args.runAs ?? f.administrator}`;
  const who = runAsDn(f, dc.replica, args.runAs);
  if (!who || !memberOfAny(dc.replica, who, ['Enterprise Admins', 'Domain Admins'], f.ncs)) {
    return fail(accessDenied(`Forest preparation failed: ${account} must be a member of Enterprise Admins (or Domain Admins of the forest root domain). Access is denied. (0x80070005)`));
  }
  if (args.groupDomain && args.groupDomain.toLowerCase() !== f.forestFqdn) {
    return fail(adFailures.noSuchObject(f.ncs.domain));
  }
  if (!schemaReady(dc.replica)) {
    return fail(prepNotReady(`Forest preparation failed on ${dc.fqdn}: the schema is not prepared (CheckSchemaPrepState: Not Ready). Run LCSCmd.exe /Forest /Action:SchemaPrep and wait for the schema changes to replicate, then run ForestPrep again.`));
  }
  const location = args.globalSettingsLocation ?? 'configuration';
  const rtcService = rtcServiceLocations(f.ncs)[location];
  const log = [`Domain controller: ${dc.fqdn}`, `Global settings location: ${location === 'configuration' ? 'Configuration partition' : 'System container of the root domain'}`];
  const existing = findRtcService(dc.replica, f.ncs);
  if (existing && dnKey(existing) !== dnKey(rtcService)) {
    return fail(adFailure('ad.unwillingToPerform', LDAP.unwillingToPerform, `Forest preparation failed: global settings already exist at ${existing}; rerun ForestPrep with the same /Global location.`));
  }
  const ensure = (dn: string, attributes: Record<string, string[]>): AdResult<unknown> => {
    if (txn.state.dcs.find((d) => d.name === dc.name)?.replica.directory[dnKey(dn)]) return ok(undefined);
    const r = txn.add(dc.name, dn, attributes);
    if (r.ok) log.push(`Created ${dn}`);
    return r;
  };
  const steps: Array<[string, Record<string, string[]>]> = [];
  if (location === 'system') steps.push([`CN=Microsoft,CN=System,${f.ncs.domain}`, { objectClass: ['container'] }]);
  steps.push(
    [rtcService, { objectClass: ['container'] }],
    [`CN=Global Settings,${rtcService}`, { objectClass: ['msRTCSIP-GlobalContainer'] }],
    [`CN=Pools,${rtcService}`, { objectClass: ['msRTCSIP-Pools'] }],
    [`CN=Trusted Services,${rtcService}`, { objectClass: ['msRTCSIP-TrustedServices'] }],
    [`CN=Trusted MCUs,${rtcService}`, { objectClass: ['msRTCSIP-TrustedMCUs'] }],
    [`CN=Trusted Proxies,${rtcService}`, { objectClass: ['msRTCSIP-TrustedProxies'] }],
  );
  for (const [dn, attributes] of steps) {
    const r = ensure(dn, attributes);
    if (!r.ok) return r;
  }
  const current = () => (txn.state.dcs.find((d) => d.name === dc.name) as DcState).replica;
  const hasDomain = Object.values(current().directory).some((e) => dnKey(e.dn).endsWith(dnKey(`CN=Global Settings,${rtcService}`)) && first(e, 'msRTCSIP-DomainName')?.toLowerCase() === args.sipDomain.toLowerCase());
  if (!hasDomain) {
    const r = ensure(`CN={${txn.newGuid().toUpperCase()}},CN=Global Settings,${rtcService}`, { objectClass: ['msRTCSIP-Domain'], 'msRTCSIP-DomainName': [args.sipDomain] });
    if (!r.ok) return r;
  }
  for (const g of RTC_GROUPS) {
    if (findBySam(current().directory, g)) continue;
    const r = ensure(`CN=${g},CN=Users,${f.ncs.domain}`, { objectClass: ['group'], sAMAccountName: [g], groupType: [UNIVERSAL_SECURITY] });
    if (!r.ok) return r;
  }
  for (const right of ['RTCPropertySet', 'RTCUserSearchPropertySet']) {
    const r = ensure(`CN=${right},CN=Extended-Rights,${f.ncs.configuration}`, { objectClass: ['controlAccessRight'], displayName: [right], rightsGuid: [txn.newGuid()], validAccesses: ['48'] });
    if (!r.ok) return r;
  }
  const aces: Ace[] = [
    { trustee: 'RTCUniversalServerAdmins', rights: ['GenericAll'], inherit: true, source: 'ForestPrep' },
    { trustee: 'RTCUniversalGlobalWriteGroup', rights: ['GenericRead', 'GenericWrite', 'CreateChild', 'DeleteChild'], inherit: true, source: 'ForestPrep' },
    { trustee: 'RTCUniversalGlobalReadOnlyGroup', rights: ['GenericRead'], inherit: true, source: 'ForestPrep' },
    { trustee: 'RTCHSUniversalServices', rights: ['GenericRead'], inherit: true, source: 'ForestPrep' },
    { trustee: 'RTCComponentUniversalServices', rights: ['GenericRead'], inherit: true, source: 'ForestPrep' },
  ];
  const r = txn.aces(dc.name, rtcService, aces);
  if (!r.ok) return r;
  log.push(`Granted ${aces.length} access control entries on ${rtcService}`, 'Execution Result: <Success>');
  return ok({ log, rtcServiceDn: (current().directory[dnKey(rtcService)] as AdEntry).dn });
}

export function domainPrep(txn: ForestTxn, dcName: string, args: { domain?: string; runAs?: string }): AdResult<{ log: string[]; domain: string }> {
  const f = txn.state;
  const dc = dcNamed(f, dcName) as DcState;
  const domain = (args.domain ?? f.forestFqdn).toLowerCase();
  if (domain !== f.forestFqdn) return fail(adFailures.noSuchObject(f.ncs.domain));
  const who = runAsDn(f, dc.replica, args.runAs);
  if (!who || !memberOfAny(dc.replica, who, ['Domain Admins', 'Enterprise Admins'], f.ncs)) {
    return fail(accessDenied(`Domain preparation failed: ${f.netbios}\\${args.runAs ?? f.administrator} must be a member of Domain Admins in ${domain}. Access is denied. (0x80070005)`));
  }
  if (!forestReady(dc.replica, f.ncs)) {
    return fail(prepNotReady(`Domain preparation failed on ${dc.fqdn}: the forest is not prepared (CheckForestPrepState: Not Ready). Run LCSCmd.exe /Forest /Action:ForestPrep and wait for Active Directory replication, then run DomainPrep again.`));
  }
  const log = [`Domain controller: ${dc.fqdn}`, `Domain: ${domain}`];
  const userAces: Ace[] = [
    { trustee: 'RTCUniversalUserReadOnlyGroup', rights: ['ReadProperty'], objectType: 'RTCUserSearchPropertySet', inheritedObjectType: 'user', inherit: true, source: 'DomainPrep' },
    { trustee: 'RTCUniversalUserAdmins', rights: ['ReadProperty', 'WriteProperty'], objectType: 'RTCPropertySet', inheritedObjectType: 'user', inherit: true, source: 'DomainPrep' },
    { trustee: 'RTCHSUniversalServices', rights: ['ReadProperty', 'WriteProperty'], objectType: 'RTCPropertySet', inheritedObjectType: 'user', inherit: true, source: 'DomainPrep' },
    { trustee: 'RTCUniversalServerReadOnlyGroup', rights: ['ReadProperty'], inheritedObjectType: 'computer', inherit: true, source: 'DomainPrep' },
  ];
  for (const dn of DOMAIN_PREP_TARGETS(f.ncs)) {
    const r = txn.aces(dc.name, dn, userAces);
    if (!r.ok) return r;
    log.push(`Granted ${userAces.length} access control entries on ${dn}`);
  }
  log.push('Execution Result: <Success>');
  return ok({ log, domain });
}
