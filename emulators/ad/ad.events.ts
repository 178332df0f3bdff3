/**
 * Active Directory (Windows Server 2008 forest): commands in, events out, failure kinds. The command
 * shapes follow LDAP operations one to one (add, modify, delete, search, bind) so the wire adapter can
 * translate requests without logic of its own; the LCSCmd preparation actions are commands too.
 */
import type { EventLogWrite, LabEvent } from '../../sim/journal.js';
import type { LabEnv } from '../../sim/emulator.js';
import type { Failure, Result } from '../../sim/result.js';
import type { Topology } from '../../sim/topology.js';
import type { ServiceStartingQuery, ServiceStateChanged } from '../host/host.events.js';

export type AdScope = 'base' | 'one' | 'sub';

export interface AdModification {
  operation: 'add' | 'replace' | 'delete';
  attribute: string;
  values: string[];
}

export interface AdSearchEntry {
  dn: string;
  attributes: Record<string, string[]>;
}

export type PrepState = 'Ready' | 'Not Ready';
export type GlobalSettingsLocation = 'configuration' | 'system';

export type AdFailureKind =
  | 'ad.noSuchObject'
  | 'ad.entryAlreadyExists'
  | 'ad.constraintViolation'
  | 'ad.undefinedAttribute'
  | 'ad.objectClassViolation'
  | 'ad.invalidCredentials'
  | 'ad.passwordExpired'
  | 'ad.accountDisabled'
  | 'ad.insufficientAccess'
  | 'ad.unwillingToPerform'
  | 'ad.unavailable'
  | 'ad.prepNotReady';

export interface AdFailure extends Failure {
  kind: AdFailureKind;
  /** The LDAP result code (RFC 4511) the wire adapter sends: 32 noSuchObject, 68 entryAlreadyExists ... */
  ldapResultCode: number;
  /** For noSuchObject: the deepest existing ancestor ("best match"). */
  matchedDN?: string;
}

export type AdResult<T> = Result<T, AdFailure>;

/** Who runs a preparation action; defaults to the topology's administrator (the lab's operator). */
interface RunAs {
  runAs?: string;
}

export type AdCommand =
  | { type: 'ad.add'; requestId: string; dn: string; attributes: Record<string, string[]>; dc?: string }
  | { type: 'ad.modify'; requestId: string; dn: string; changes: AdModification[]; dc?: string }
  /**
   * Several modify operations from one client in a row (a wizard enabling 500 users), each applied or
   * refused on its own as LDAP would; the reply holds each one's result, in order.
   */
  | { type: 'ad.modifyMany'; requestId: string; items: Array<{ dn: string; changes: AdModification[] }>; dc?: string }
  | { type: 'ad.delete'; requestId: string; dn: string; dc?: string }
  | { type: 'ad.search'; requestId: string; base: string; scope: AdScope; filter?: string; attributes?: string[]; dc?: string }
  | { type: 'ad.authenticate'; requestId: string; name: string; password: string }
  | ({ type: 'ad.createUser'; requestId: string; dc?: string } & AdNewUser)
  | { type: 'ad.setPassword'; requestId: string; sam: string; password: string; dc?: string }
  | ({ type: 'ad.schemaPrep'; requestId: string; dc?: string } & RunAs)
  | ({ type: 'ad.forestPrep'; requestId: string; sipDomain: string; globalSettingsLocation?: GlobalSettingsLocation; groupDomain?: string; dc?: string } & RunAs)
  | ({ type: 'ad.domainPrep'; requestId: string; domain?: string; dc?: string } & RunAs)
  | { type: 'ad.forceReplication'; requestId: string }
  /** Changes reach `dc` `delayMs` after they would otherwise (0 = the ordinary intra-site delay). */
  | { type: 'ad.setInboundReplicationDelay'; requestId: string; dc: string; delayMs: number };

export type AdCommandType = AdCommand['type'];

export interface AdNewUser {
  sam: string;
  password: string;
  givenName?: string;
  sn?: string;
  displayName?: string;
  mail?: string;
  /** Relative to the domain ("CN=Users", "OU=Staff") or a full DN. */
  ou?: string;
  userPrincipalName?: string;
  passwordNeverExpires?: boolean;
}

export type AdEvent = AdCommand | ServiceStartingQuery | ServiceStateChanged;

interface Change extends LabEvent {
  dn: string;
  dc: string;
  summary: string;
}

export type AdEmitted =
  | { type: 'ad.reply'; requestId: string; result: AdResult<unknown> }
  | (Change & { type: 'ad.objectAdded'; objectClass: string })
  | (Change & { type: 'ad.objectModified'; attributes: string[] })
  | (Change & { type: 'ad.objectDeleted' })
  | { type: 'ad.replicated'; dc: string; from: string[]; changes: number; summary: string }
  | { type: 'ad.replicationScheduleChanged'; dc: string; delayMs: number; summary: string }
  | { type: 'ad.dcAvailability'; dc: string; available: boolean; summary: string }
  | { type: 'ad.passwordSet'; dn: string; dc: string; summary: string }
  | { type: 'ad.schemaPrepared'; dc: string; summary: string; log: string[] }
  | { type: 'ad.forestPrepared'; dc: string; rtcServiceDn: string; summary: string; log: string[] }
  | { type: 'ad.domainPrepared'; dc: string; domain: string; summary: string; log: string[] }
  | { type: 'ad.prepFailed'; action: 'SchemaPrep' | 'ForestPrep' | 'DomainPrep'; kind: AdFailureKind; summary: string }
  | EventLogWrite;

export interface AdInput {
  env: LabEnv;
  topology: Topology;
  /** Intra-site replication latency for every naming context; 15 s by default. */
  replicationDelayMs?: number;
}

/** An access control entry, recorded as data (what LCSCmd grants, not a binary security descriptor). */
export interface Ace {
  /** sAMAccountName of the trustee group, e.g. "RTCUniversalServerAdmins". */
  trustee: string;
  rights: string[];
  /** Property set, extended right or class the ACE is scoped to. */
  objectType?: string;
  /** Object class the ACE is inherited by. */
  inheritedObjectType?: string;
  inherit: boolean;
  /** The LCSCmd action that wrote it. */
  source: 'ForestPrep' | 'DomainPrep';
}

/** LDAP result codes used by the emulator (RFC 4511 §4.1.9; 81 is the client-side "server down"). */
export const LDAP = {
  noSuchAttribute: 16,
  undefinedAttributeType: 17,
  constraintViolation: 19,
  attributeOrValueExists: 20,
  invalidAttributeSyntax: 21,
  noSuchObject: 32,
  invalidDNSyntax: 34,
  invalidCredentials: 49,
  insufficientAccessRights: 50,
  unwillingToPerform: 53,
  objectClassViolation: 65,
  notAllowedOnNonLeaf: 66,
  notAllowedOnRDN: 67,
  entryAlreadyExists: 68,
  serverDown: 81,
} as const;
