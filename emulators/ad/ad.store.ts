/**
 * The directory of one domain controller: plain data and pure functions. Entries are keyed by normalised
 * DN; attribute names are stored as the schema spells them (lDAPDisplayName) and looked up
 * case-insensitively. Writes, with their checks against the DC's own schema cache, are in `ad.writes.ts`;
 * the schema cache in `ad.schema.ts`; replication in `ad.replication.ts`; search in `ad.search.ts`.
 */
import { dnKey, parentDn } from './ad.dn.js';
import type { SchemaIndex } from './ad.schema.js';
import { LDAP, type Ace, type AdFailure, type AdFailureKind } from './ad.events.js';
import { findIndexed, memberOfIndex, noteWrite } from './ad.index.js';

export interface AdEntry {
  dn: string;
  attributes: Record<string, string[]>;
  /** Access control entries written by the OCS preparation actions (as data). */
  aces?: Ace[];
}

export type Directory = Record<string, AdEntry>;

/** One DC's copy of the forest's naming contexts (one domain: all three NCs are on every DC). */
export interface Replica {
  directory: Directory;
  schema: SchemaIndex;
  /** The DC's highest committed USN. */
  usn: number;
}

export interface NamingContexts {
  domain: string;
  configuration: string;
  schema: string;
}

/** A copy of a replica whose directory and schema index a transaction may then write into. */
export function ownReplica(r: Replica): Replica {
  const directory = { ...r.directory };
  noteWrite(r.directory, directory, '', undefined);
  return { directory, schema: { attributes: { ...r.schema.attributes }, classes: { ...r.schema.classes } }, usn: r.usn };
}

// ---------------------------------------------------------------------------------------------------
// Failures in AD's LDAP diagnostic style. The DSID values are representative: they name a source line
// in the DC's build and vary between builds.

export function adFailure(kind: AdFailureKind, ldapResultCode: number, message: string, extra: Record<string, unknown> = {}): AdFailure {
  return { kind, ldapResultCode, message, ...extra };
}

const failures = {
  noSuchObject: (matchedDN: string) =>
    adFailure('ad.noSuchObject', LDAP.noSuchObject, `0000208D: NameErr: DSID-0310020A, problem 2001 (NO_OBJECT), data 0, best match of:\n\t'${matchedDN}'`, { matchedDN }),
  exists: () => adFailure('ad.entryAlreadyExists', LDAP.entryAlreadyExists, '00000524: UpdErr: DSID-031A11E0, problem 6005 (ENTRY_EXISTS), data 0'),
  undefinedAttribute: (attribute: string) =>
    adFailure('ad.undefinedAttribute', LDAP.undefinedAttributeType, '00000057: LdapErr: DSID-0C090D8A, comment: Error in attribute conversion operation, data 0, v1db1', { attribute }),
  syntax: (attribute: string, value: string) =>
    adFailure('ad.constraintViolation', LDAP.invalidAttributeSyntax, '00000057: LdapErr: DSID-0C090D8A, comment: Error in attribute conversion operation, data 0, v1db1', { attribute, value }),
  constraint: (attribute: string, code: number = LDAP.constraintViolation, problem = 'problem 1005 (CONSTRAINT_ATT_TYPE)') =>
    adFailure('ad.constraintViolation', code, `0000202F: AtrErr: DSID-03151904, #1:\n\t0: 0000202F: DSID-03151904, ${problem}, data 0, Att 0 (${attribute})`, { attribute }),
  classViolation: (detail: string, attribute?: string) =>
    adFailure('ad.objectClassViolation', LDAP.objectClassViolation, `00002014: objErr: DSID-0310091B, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, ${detail}`, attribute ? { attribute } : {}),
  unwilling: (code: number = LDAP.unwillingToPerform, message = '00002035: SvcErr: DSID-031A1254, problem 5003 (WILL_NOT_PERFORM), data 0') =>
    adFailure('ad.unwillingToPerform', code, message),
  nonLeaf: () => adFailure('ad.unwillingToPerform', LDAP.notAllowedOnNonLeaf, '00002015: UpdErr: DSID-031A0D93, problem 6003 (CANT_ON_NON_LEAF), data 0'),
  onRdn: (attribute: string) =>
    adFailure('ad.unwillingToPerform', LDAP.notAllowedOnRDN, '00002016: UpdErr: DSID-031A0D9A, problem 6004 (CANT_ON_RDN), data 0', { attribute }),
  badDn: (dn: string) => adFailure('ad.unwillingToPerform', LDAP.invalidDNSyntax, `00002081: NameErr: DSID-03050F42, problem 2003 (BAD_ATT_SYNTAX), data 0, best match of:\n\t'${dn}'`),
};
export { failures as adFailures };

// ---------------------------------------------------------------------------------------------------
// Time and number formats AD uses.

/** GeneralizedTime as whenCreated shows it: "20090706090000.0Z". */
export function generalizedTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}.0Z`;
}

const FILETIME_EPOCH_OFFSET_MS = 11_644_473_600_000n;
/** A Windows FILETIME (100 ns since 1601) as pwdLastSet stores it. */
export function fileTime(ms: number): string {
  return ((BigInt(ms) + FILETIME_EPOCH_OFFSET_MS) * 10_000n).toString();
}
export function fileTimeToMs(ft: string): number {
  return Number(BigInt(ft) / 10_000n - FILETIME_EPOCH_OFFSET_MS);
}

// ---------------------------------------------------------------------------------------------------
// Entry access

/** An attribute's values by name, case-insensitively, as AD matches attribute names. */
export function attributeValues(attributes: Readonly<Record<string, string[]>>, name: string): string[] | undefined {
  const direct = attributes[name];
  if (direct) return direct;
  const lower = name.toLowerCase();
  for (const k in attributes) if (k.length === name.length && k.toLowerCase() === lower) return attributes[k];
  return undefined;
}

export function attr(entry: AdEntry | undefined, name: string): string[] | undefined {
  return entry ? attributeValues(entry.attributes, name) : undefined;
}

export function first(entry: AdEntry | undefined, name: string): string | undefined {
  return attr(entry, name)?.[0];
}

export function getEntry(replica: Replica, dn: string): AdEntry | undefined {
  return replica.directory[dnKey(dn)];
}

export function bestMatch(directory: Directory, dn: string): string {
  let p = parentDn(dn);
  while (p !== undefined && p !== '') {
    const e = directory[dnKey(p)];
    if (e) return e.dn;
    p = parentDn(p);
  }
  return '';
}

// ---------------------------------------------------------------------------------------------------
// Groups

/** Whether `memberDn` is in `groupDn`, directly or through nested groups. */
export function isMember(directory: Directory, memberDn: string, groupDn: string): boolean {
  const target = dnKey(groupDn);
  const index = memberOfIndex(directory);
  const seen = new Set<string>();
  const queue = [dnKey(memberDn)];
  while (queue.length) {
    const k = queue.shift() as string;
    for (const g of index.get(k) ?? []) {
      const gk = dnKey(g);
      if (gk === target) return true;
      if (!seen.has(gk)) {
        seen.add(gk);
        queue.push(gk);
      }
    }
  }
  return false;
}

export const findBySam = (directory: Directory, sam: string): AdEntry | undefined => findIndexed(directory, 'sAMAccountName', sam);

export const findByUpn = (directory: Directory, upn: string): AdEntry | undefined => findIndexed(directory, 'userPrincipalName', upn);
