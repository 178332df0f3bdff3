/**
 * The directory of one domain controller: plain data and pure functions. Entries are keyed by normalised
 * DN; attribute names are stored as the schema spells them (lDAPDisplayName) and looked up
 * case-insensitively. Every write is checked against the DC's own schema cache, which is compiled from
 * the attributeSchema / classSchema objects that have reached that DC.
 */
import { dnKey, canonicalDn, firstRdn, parentDn, parseDn, isUnder, depth } from './ad.dn.js';
import { matches, parseFilter, unescapeValue, type FilterNode } from './ad.filter.js';
import { SYNTAX, OM_SYNTAX, type AttributeDef, type ClassDef } from './ad.schema.js';
import { LDAP, type Ace, type AdFailure, type AdFailureKind, type AdModification, type AdResult, type AdScope, type AdSearchEntry } from './ad.events.js';
import { fail, ok } from '../../sim/result.js';
import { candidateKeys, findIndexed, isIndexed, memberOfIndex, noteWrite } from './ad.index.js';

export interface AdEntry {
  dn: string;
  attributes: Record<string, string[]>;
  /** Access control entries written by the OCS preparation actions (as data). */
  aces?: Ace[];
}

export type Directory = Record<string, AdEntry>;

export interface SchemaIndex {
  attributes: Record<string, AttributeDef>;
  classes: Record<string, ClassDef>;
}

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

/** What a write needs from outside: time, ids, RIDs. `allocateSid` is called only for security principals. */
export interface WriteEnv {
  now: number;
  guid(): string;
  allocateSid(): string;
  token(): string;
  ncs: NamingContexts;
  /** System writes (seeding, replication of system attributes) may set system-only attributes. */
  system?: boolean;
  /**
   * The replica is a private copy owned by the caller's transaction (see `ownReplica`): write into it
   * instead of copying the directory for every entry.
   */
  inPlace?: boolean;
}

const ncHeadKeys = new Map<string, string>();
/** The entry key of a naming context head (three per forest, computed once). */
const ncHeadKey = (dn: string): string => {
  let k = ncHeadKeys.get(dn);
  if (k === undefined) ncHeadKeys.set(dn, (k = dnKey(dn)));
  return k;
};

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

function bestMatch(directory: Directory, dn: string): string {
  let p = parentDn(dn);
  while (p !== undefined && p !== '') {
    const e = directory[dnKey(p)];
    if (e) return e.dn;
    p = parentDn(p);
  }
  return '';
}

function hasChildren(directory: Directory, key: string): boolean {
  const suffix = `,${key}`;
  return Object.keys(directory).some((k) => k.endsWith(suffix));
}

// ---------------------------------------------------------------------------------------------------
// Schema cache

export function schemaFromDefs(attributes: readonly AttributeDef[], classes: readonly ClassDef[]): SchemaIndex {
  const index: SchemaIndex = { attributes: {}, classes: {} };
  for (const a of attributes) index.attributes[a.name.toLowerCase()] = a;
  for (const c of classes) index.classes[c.name.toLowerCase()] = c;
  return index;
}

const values = (e: AdEntry, n: string) => attr(e, n) ?? [];

/** The schema cache with one attributeSchema / classSchema object (added or modified) taken in. */
/** The attribute or class definition a schema object describes, if it describes one. */
function schemaDefinition(e: AdEntry): { attribute: AttributeDef } | { class: ClassDef } | undefined {
  const classes = values(e, 'objectClass').map((x) => x.toLowerCase());
  const name = first(e, 'lDAPDisplayName');
  const cn = first(e, 'cn');
  if (!name || !cn) return undefined;
  const isAttribute = classes.includes('attributeschema');
  const oidValue = first(e, isAttribute ? 'attributeID' : 'governsID');
  const oid = oidValue ? { oid: oidValue } : {};
  if (isAttribute) {
    return {
      attribute: {
        name,
        cn,
        syntax: first(e, 'attributeSyntax') ?? SYNTAX.unicode,
        single: first(e, 'isSingleValued') === 'TRUE',
        ...oid,
        ...(first(e, 'systemOnly') === 'TRUE' ? { systemOnly: true } : {}),
      },
    };
  }
  if (!classes.includes('classschema')) return undefined;
  const category = Number(first(e, 'objectClassCategory') ?? '1');
  const catDn = first(e, 'defaultObjectCategory');
  const catCn = catDn ? firstRdn(catDn)?.value : undefined;
  return {
    class: {
      name,
      cn,
      superior: first(e, 'subClassOf') ?? 'top',
      category: category === 2 || category === 3 ? category : 1,
      must: [...values(e, 'systemMustContain'), ...values(e, 'mustContain')],
      may: [...values(e, 'systemMayContain'), ...values(e, 'mayContain')],
      aux: [...values(e, 'systemAuxiliaryClass'), ...values(e, 'auxiliaryClass')],
      ...oid,
      ...(catCn && catCn !== cn ? { categoryCn: catCn } : {}),
    },
  };
}

/** The schema cache after a schema object was written; in place when the index is privately owned. */
export function absorbSchemaEntry(index: SchemaIndex, e: AdEntry, inPlace = false): SchemaIndex {
  const def = schemaDefinition(e);
  if (!def) return index;
  if ('attribute' in def) {
    const key = def.attribute.name.toLowerCase();
    if (inPlace) return ((index.attributes[key] = def.attribute), index);
    return { ...index, attributes: { ...index.attributes, [key]: def.attribute } };
  }
  const key = def.class.name.toLowerCase();
  if (inPlace) return ((index.classes[key] = def.class), index);
  return { ...index, classes: { ...index.classes, [key]: def.class } };
}

/** Builds a DC's schema cache from the schema objects in its directory. */
export function compileSchema(directory: Directory, schemaDn: string): SchemaIndex {
  const schemaKey = dnKey(schemaDn);
  let index: SchemaIndex = { attributes: {}, classes: {} };
  for (const [key, e] of Object.entries(directory)) if (key.endsWith(`,${schemaKey}`)) index = absorbSchemaEntry(index, e);
  return index;
}

const inSchema = (key: string, ncs: NamingContexts) => key.endsWith(`,${dnKey(ncs.schema)}`);

/** The attributeSchema object for a definition, as SchemaPrep / the seed write it. */
export function attributeSchemaEntry(def: AttributeDef, schemaDn: string): { dn: string; attributes: Record<string, string[]> } {
  return {
    dn: `CN=${def.cn},${schemaDn}`,
    attributes: {
      objectClass: ['attributeSchema'],
      lDAPDisplayName: [def.name],
      ...(def.oid ? { attributeID: [def.oid] } : {}),
      attributeSyntax: [def.syntax],
      oMSyntax: [String(OM_SYNTAX[def.syntax] ?? 64)],
      isSingleValued: [def.single ? 'TRUE' : 'FALSE'],
      ...(def.systemOnly ? { systemOnly: ['TRUE'] } : {}),
    },
  };
}

export function classSchemaEntry(def: ClassDef, schemaDn: string, base = true): { dn: string; attributes: Record<string, string[]> } {
  const sys = (name: string) => (base ? `system${name}` : name.charAt(0).toLowerCase() + name.slice(1));
  const list = (name: string, xs: string[]) => (xs.length ? { [name]: [...xs] } : {});
  return {
    dn: `CN=${def.cn},${schemaDn}`,
    attributes: {
      objectClass: ['classSchema'],
      lDAPDisplayName: [def.name],
      ...(def.oid ? { governsID: [def.oid] } : {}),
      subClassOf: [def.superior],
      objectClassCategory: [String(def.category)],
      ...list(sys('MustContain'), def.must),
      ...list(sys('MayContain'), def.may),
      ...list(sys('AuxiliaryClass'), def.aux),
      defaultObjectCategory: [`CN=${def.categoryCn ?? def.cn},${schemaDn}`],
    },
  };
}

/** The class and its superclasses, most specific first. */
function classChain(schema: SchemaIndex, name: string): ClassDef[] {
  const chain: ClassDef[] = [];
  let current = schema.classes[name.toLowerCase()];
  while (current && !chain.includes(current)) {
    chain.push(current);
    if (current.name.toLowerCase() === 'top') break;
    current = schema.classes[current.superior.toLowerCase()];
  }
  return chain;
}

/** objectClass values as AD stores them (top … structural, then auxiliaries); undefined names the unknown class. */
export function expandObjectClasses(schema: SchemaIndex, given: readonly string[]): { classes: string[]; structural: ClassDef } | { unknown: string } | { noStructural: true } {
  const defs: ClassDef[] = [];
  for (const g of given) {
    const d = schema.classes[g.toLowerCase()];
    if (!d) return { unknown: g };
    defs.push(d);
  }
  let structural: ClassDef | undefined;
  let best = -1;
  for (const d of defs) {
    if (d.category !== 1) continue;
    const len = classChain(schema, d.name).length;
    if (len > best) {
      best = len;
      structural = d;
    }
  }
  if (!structural) return { noStructural: true };
  const chain = classChain(schema, structural.name).reverse();
  const names = chain.map((c) => c.name);
  for (const d of defs) if (d.category === 3 && !names.includes(d.name)) names.push(d.name);
  return { classes: names, structural };
}

/** Lower-cased names of every attribute the classes allow. */
export function allowedAttributes(schema: SchemaIndex, classes: readonly string[]): { may: Set<string>; must: Set<string> } {
  const may = new Set<string>();
  const must = new Set<string>();
  const seen = new Set<string>();
  const visit = (name: string) => {
    for (const c of classChain(schema, name)) {
      if (seen.has(c.name)) continue;
      seen.add(c.name);
      for (const m of c.must) {
        must.add(m.toLowerCase());
        may.add(m.toLowerCase());
      }
      for (const m of c.may) may.add(m.toLowerCase());
      for (const aux of c.aux) visit(aux);
    }
  };
  for (const c of classes) visit(c);
  return { may, must };
}

export function categoryDn(schema: SchemaIndex, ncs: NamingContexts, className: string): string | undefined {
  const d = schema.classes[className.toLowerCase()];
  return d ? `CN=${d.categoryCn ?? d.cn},${ncs.schema}` : undefined;
}

// ---------------------------------------------------------------------------------------------------
// Syntax checks

function checkSyntax(directory: Directory, def: AttributeDef, value: string, system: boolean): AdFailure | undefined {
  switch (def.syntax) {
    case SYNTAX.boolean:
      return value === 'TRUE' || value === 'FALSE' ? undefined : failures.syntax(def.name, value);
    case SYNTAX.integer:
      return /^-?\d+$/.test(value) && Number(value) >= -2147483648 && Number(value) <= 4294967295 ? undefined : failures.syntax(def.name, value);
    case SYNTAX.largeInteger:
      return /^-?\d+$/.test(value) ? undefined : failures.syntax(def.name, value);
    case SYNTAX.time:
      return /^\d{14}(\.\d+)?Z$/.test(value) ? undefined : failures.syntax(def.name, value);
    case SYNTAX.sid:
      return /^S-1-\d+(-\d+)+$/.test(value) ? undefined : failures.syntax(def.name, value);
    case SYNTAX.oid:
      return /^[A-Za-z0-9.-]+$/.test(value) ? undefined : failures.syntax(def.name, value);
    case SYNTAX.dn: {
      if (!parseDn(value) || value.trim() === '') return failures.syntax(def.name, value);
      if (system) return undefined;
      // AD stores a reference to the named object: it must exist on this DC.
      return directory[dnKey(value)] ? undefined : failures.noSuchObject(bestMatch(directory, value));
    }
    case SYNTAX.dnBinary:
      return /^B:\d+:[0-9A-Fa-f]*:.+$/.test(value) ? undefined : failures.syntax(def.name, value);
    default:
      return undefined;
  }
}

function resolveAttribute(schema: SchemaIndex, name: string): AttributeDef | undefined {
  return schema.attributes[name.toLowerCase()];
}

/** Generated attributes a client may leave out of an add even when a class lists them as mandatory. */
const GENERATED = new Set(['objectclass', 'cn', 'ou', 'dc', 'name', 'instancetype', 'objectcategory', 'objectsid', 'samaccountname', 'grouptype']);

function unquotePassword(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

const PRINCIPAL_CLASSES = ['user', 'group', 'computer'];
const SAM_TYPE = { user: '805306368', computer: '805306369', globalGroup: '268435456', localGroup: '536870912' };

export interface AddOutcome {
  replica: Replica;
  entry: AdEntry;
  key: string;
  /** A password given as unicodePwd (kept out of the directory). */
  password?: string;
}

/** LDAP add, with AD's schema checks and generated attributes. */
export function addEntry(replica: Replica, dnText: string, given: Record<string, string[]>, env: WriteEnv): AdResult<AddOutcome> {
  const rdns = parseDn(dnText);
  if (!rdns || rdns.length === 0) return fail(failures.badDn(dnText));
  const dn = canonicalDn(dnText);
  const key = dnKey(dn);
  const { directory, schema } = replica;
  if (directory[key]) return fail(failures.exists());
  const parent = parentDn(dn) ?? '';
  const isNcHead = key === ncHeadKey(env.ncs.domain) || key === ncHeadKey(env.ncs.configuration) || key === ncHeadKey(env.ncs.schema);
  if (!isNcHead && !directory[dnKey(parent)]) return fail(failures.noSuchObject(bestMatch(directory, dn)));

  const attrs: Record<string, string[]> = {};
  let password: string | undefined;
  let classValues: string[] = [];
  for (const [rawName, rawValues] of Object.entries(given)) {
    const def = resolveAttribute(schema, rawName);
    if (!def) return fail(failures.undefinedAttribute(rawName));
    if (def.name === 'unicodePwd') {
      password = unquotePassword(rawValues[0] ?? '');
      continue;
    }
    if (def.name === 'objectClass') {
      classValues = [...rawValues];
      continue;
    }
    if (def.systemOnly && !env.system) return fail(failures.unwilling());
    if (rawValues.length === 0) continue;
    if (def.single && rawValues.length > 1) return fail(failures.constraint(def.name));
    for (const v of rawValues) {
      const bad = checkSyntax(directory, def, v, env.system === true);
      if (bad) return fail(bad);
    }
    attrs[def.name] = [...rawValues];
  }
  if (classValues.length === 0) return fail(failures.classViolation('objectClass missing', 'objectClass'));
  const expanded = expandObjectClasses(schema, classValues);
  if ('unknown' in expanded) return fail(failures.classViolation(`objectClass ${expanded.unknown} is not defined`, 'objectClass'));
  if ('noStructural' in expanded) return fail(failures.classViolation('no structural object class', 'objectClass'));
  const { classes, structural } = expanded;
  const allowed = allowedAttributes(schema, classes);

  // Naming attribute and generated attributes.
  const rdn = rdns[0] as { type: string; value: string };
  const rdnDef = resolveAttribute(schema, rdn.type);
  if (!rdnDef || !allowed.may.has(rdnDef.name.toLowerCase())) return fail(failures.classViolation(`naming attribute ${rdn.type} not allowed`, rdn.type));
  const rdnValue = rdn.value.replace(/\\(.)/g, '$1');
  attrs[rdnDef.name] = [rdnValue];
  const chainNames = classes.map((x) => x.toLowerCase());
  const isPrincipal = PRINCIPAL_CLASSES.some((p) => chainNames.includes(p));
  const generated: Record<string, string[]> = {
    objectClass: classes,
    name: [rdnValue],
    distinguishedName: [dn],
    objectGUID: [env.guid()],
    instanceType: [isNcHead ? '5' : '4'],
    whenCreated: [generalizedTime(env.now)],
    whenChanged: [generalizedTime(env.now)],
    uSNCreated: [String(replica.usn + 1)],
    uSNChanged: [String(replica.usn + 1)],
    objectCategory: [attrs.objectCategory?.[0] ?? categoryDn(schema, env.ncs, structural.name) ?? ''],
  };
  if (isPrincipal) {
    if (!attrs.objectSid) generated.objectSid = [env.allocateSid()];
    if (!attrs.sAMAccountName) generated.sAMAccountName = [`$${env.token().toUpperCase()}`];
    if (chainNames.includes('group')) {
      const groupType = attrs.groupType?.[0] ?? '-2147483646';
      generated.groupType = [groupType];
      generated.sAMAccountType = [(Number(groupType) & 0x4) !== 0 ? SAM_TYPE.localGroup : SAM_TYPE.globalGroup];
    } else {
      const computer = chainNames.includes('computer');
      generated.sAMAccountType = [computer ? SAM_TYPE.computer : SAM_TYPE.user];
      if (!attrs.userAccountControl) generated.userAccountControl = [computer ? '4096' : '546'];
      if (!attrs.primaryGroupID) generated.primaryGroupID = [computer ? '515' : '513'];
      if (!attrs.pwdLastSet) generated.pwdLastSet = [password !== undefined ? fileTime(env.now) : '0'];
      if (!attrs.accountExpires) generated.accountExpires = ['9223372036854775807'];
    }
  }
  const finalAttrs: Record<string, string[]> = { objectClass: classes };
  for (const [k, v] of Object.entries(attrs)) finalAttrs[k] = v;
  for (const [k, v] of Object.entries(generated)) if (!finalAttrs[k] || k === 'objectClass') finalAttrs[k] = v;

  for (const name of Object.keys(finalAttrs)) {
    if (!allowed.may.has(name.toLowerCase()) && name !== 'objectClass') {
      return fail(failures.classViolation(`Att 0 (${name}) is not allowed on ${structural.name}`, name));
    }
  }
  for (const m of allowed.must) {
    if (GENERATED.has(m)) continue;
    if (!Object.keys(finalAttrs).some((k) => k.toLowerCase() === m)) return fail(failures.classViolation(`mandatory attribute ${m} missing`, m));
  }
  const entry: AdEntry = { dn, attributes: finalAttrs };
  let next: Replica;
  if (env.inPlace) {
    directory[key] = entry;
    noteWrite(directory, directory, key, entry);
    replica.usn += 1;
    next = replica;
  } else {
    next = { ...replica, directory: { ...directory, [key]: entry }, usn: replica.usn + 1 };
    noteWrite(directory, next.directory, key, entry);
  }
  if (inSchema(key, env.ncs)) next = { ...next, schema: absorbSchemaEntry(next.schema, entry, env.inPlace === true) };
  if (env.inPlace && next !== replica) Object.assign(replica, next);
  return ok({ replica: env.inPlace ? replica : next, entry, key, ...(password !== undefined ? { password } : {}) });
}

export interface ModifyOutcome {
  replica: Replica;
  entry: AdEntry;
  key: string;
  /** Post-change values of every changed attribute (null: removed) — what replication carries. */
  changed: Record<string, string[] | null>;
  password?: string;
}

/** LDAP modify with AD's schema checks. */
export function modifyEntry(replica: Replica, dnText: string, changes: readonly AdModification[], env: WriteEnv): AdResult<ModifyOutcome> {
  const key = dnKey(dnText);
  const { directory, schema } = replica;
  const current = directory[key];
  if (!parseDn(dnText)) return fail(failures.badDn(dnText));
  if (!current) return fail(failures.noSuchObject(bestMatch(directory, dnText)));
  const attrs: Record<string, string[]> = { ...current.attributes };
  const changedNames = new Set<string>();
  let password: string | undefined;
  const classes = attrs.objectClass ?? [];
  const rdnType = firstRdn(current.dn)?.type.toLowerCase();
  for (const ch of changes) {
    const def = resolveAttribute(schema, ch.attribute);
    if (!def) return fail(failures.undefinedAttribute(ch.attribute));
    const lower = def.name.toLowerCase();
    if (def.name === 'unicodePwd') {
      if (ch.operation === 'delete') continue;
      password = unquotePassword(ch.values[0] ?? '');
      continue;
    }
    if (def.systemOnly && !env.system) return fail(failures.unwilling());
    if (lower === rdnType || lower === 'name' || lower === 'distinguishedname') return fail(failures.onRdn(def.name));
    if (lower === 'objectclass') {
      const added = ch.operation === 'add' ? ch.values : [];
      if (ch.operation !== 'add' || added.some((v) => schema.classes[v.toLowerCase()]?.category !== 3)) {
        return fail(failures.classViolation('objectClass can only be extended with auxiliary classes', 'objectClass'));
      }
    } else {
      const allowed = allowedAttributes(schema, [...classes, ...(ch.operation === 'add' && lower === 'objectclass' ? ch.values : [])]);
      if (!allowed.may.has(lower)) return fail(failures.classViolation(`Att 0 (${def.name}) is not allowed on ${classes[classes.length - 1] ?? 'top'}`, def.name));
    }
    for (const v of ch.values) {
      const bad = checkSyntax(directory, def, v, env.system === true);
      if (bad) return fail(bad);
    }
    const existing = attrs[def.name] ?? [];
    const same = (a: string, b: string) => (def.syntax === SYNTAX.dn ? dnKey(a) === dnKey(b) : a.toLowerCase() === b.toLowerCase());
    if (ch.operation === 'add') {
      for (const v of ch.values) {
        if (existing.some((x) => same(x, v))) return fail(failures.constraint(def.name, LDAP.attributeOrValueExists, 'problem 1006 (ATT_OR_VALUE_EXISTS)'));
      }
      attrs[def.name] = [...existing, ...ch.values];
    } else if (ch.operation === 'replace') {
      if (ch.values.length) attrs[def.name] = [...ch.values];
      else delete attrs[def.name];
    } else {
      if (!existing.length) return fail(failures.constraint(def.name, LDAP.noSuchAttribute, 'problem 1001 (NO_ATTRIBUTE_OR_VAL)'));
      if (ch.values.length === 0) delete attrs[def.name];
      else {
        for (const v of ch.values) if (!existing.some((x) => same(x, v))) return fail(failures.constraint(def.name, LDAP.noSuchAttribute, 'problem 1001 (NO_ATTRIBUTE_OR_VAL)'));
        const rest = existing.filter((x) => !ch.values.some((v) => same(x, v)));
        if (rest.length) attrs[def.name] = rest;
        else delete attrs[def.name];
      }
    }
    if (def.single && (attrs[def.name]?.length ?? 0) > 1) return fail(failures.constraint(def.name));
    changedNames.add(def.name);
  }
  const finalClasses = attrs.objectClass ?? classes;
  const allowed = allowedAttributes(schema, finalClasses);
  for (const m of allowed.must) {
    if (!Object.keys(attrs).some((k) => k.toLowerCase() === m)) return fail(failures.classViolation(`mandatory attribute ${m} missing`, m));
  }
  if (password !== undefined) {
    attrs.pwdLastSet = [fileTime(env.now)];
    changedNames.add('pwdLastSet');
  }
  const changed: Record<string, string[] | null> = {};
  for (const n of changedNames) changed[n] = attrs[n] ? [...(attrs[n] as string[])] : null;
  const usn = replica.usn + 1;
  attrs.uSNChanged = [String(usn)];
  attrs.whenChanged = [generalizedTime(env.now)];
  const entry: AdEntry = { ...current, attributes: attrs };
  let next: Replica;
  if (env.inPlace) {
    directory[key] = entry;
    noteWrite(directory, directory, key, entry);
    replica.usn = usn;
    next = replica;
  } else {
    next = { ...replica, directory: { ...directory, [key]: entry }, usn };
    noteWrite(directory, next.directory, key, entry);
  }
  if (inSchema(key, env.ncs)) {
    const schemaNext = absorbSchemaEntry(next.schema, entry, env.inPlace === true);
    if (env.inPlace) replica.schema = schemaNext;
    else next = { ...next, schema: schemaNext };
  }
  return ok({ replica: next, entry, key, changed, ...(password !== undefined ? { password } : {}) });
}

/** LDAP delete: leaf objects only; critical system objects are refused. */
export function deleteEntry(replica: Replica, dnText: string): AdResult<{ replica: Replica; entry: AdEntry; key: string }> {
  const key = dnKey(dnText);
  const entry = replica.directory[key];
  if (!entry) return fail(failures.noSuchObject(bestMatch(replica.directory, dnText)));
  if (hasChildren(replica.directory, key)) return fail(failures.nonLeaf());
  if (first(entry, 'isCriticalSystemObject') === 'TRUE') return fail(failures.unwilling());
  const directory = { ...replica.directory };
  delete directory[key];
  noteWrite(replica.directory, directory, key, undefined);
  return ok({ replica: { ...replica, directory, usn: replica.usn + 1 }, entry, key });
}

/** Records ACEs on an entry (ForestPrep/DomainPrep); returns the post-image for replication. */
export function addAces(replica: Replica, dn: string, aces: readonly Ace[], now: number): AdResult<{ replica: Replica; entry: AdEntry; key: string }> {
  const key = dnKey(dn);
  const current = replica.directory[key];
  if (!current) return fail(failures.noSuchObject(bestMatch(replica.directory, dn)));
  const have = current.aces ?? [];
  const same = (x: Ace, y: Ace) => JSON.stringify(x) === JSON.stringify(y);
  const merged = [...have, ...aces.filter((a) => !have.some((h) => same(h, a)))];
  const usn = replica.usn + 1;
  const entry: AdEntry = { ...current, aces: merged, attributes: { ...current.attributes, uSNChanged: [String(usn)], whenChanged: [generalizedTime(now)] } };
  const directory = { ...replica.directory, [key]: entry };
  noteWrite(replica.directory, directory, key, entry);
  return ok({ replica: { ...replica, directory, usn }, entry, key });
}

// ---------------------------------------------------------------------------------------------------
// Replication: applying another DC's change to this replica (last writer wins per attribute).

export interface ChangeRecord {
  seq: number;
  origin: string;
  dueAt: number;
  op: 'add' | 'modify' | 'delete';
  key: string;
  dn: string;
  entry?: AdEntry;
  changed?: Record<string, string[] | null>;
  aces?: Ace[];
}

export function applyChange(replica: Replica, change: ChangeRecord, now: number, ncs: NamingContexts, inPlace = false): Replica {
  const usn = replica.usn + 1;
  const directory = inPlace ? replica.directory : { ...replica.directory };
  if (change.op === 'delete') delete directory[change.key];
  else if (change.op === 'add' && change.entry) {
    const attrs = { ...change.entry.attributes, uSNCreated: [String(usn)], uSNChanged: [String(usn)], whenChanged: [generalizedTime(now)] };
    directory[change.key] = { ...change.entry, attributes: attrs };
  } else {
    const current = directory[change.key];
    if (current) {
      const attrs = { ...current.attributes };
      for (const [n, v] of Object.entries(change.changed ?? {})) {
        if (v) attrs[n] = [...v];
        else delete attrs[n];
      }
      attrs.uSNChanged = [String(usn)];
      attrs.whenChanged = [generalizedTime(now)];
      directory[change.key] = { ...current, attributes: attrs, ...(change.aces ? { aces: change.aces } : {}) };
    }
  }
  const applied = directory[change.key];
  noteWrite(replica.directory, directory, change.key, applied);
  const schema = applied && inSchema(change.key, ncs) ? absorbSchemaEntry(replica.schema, applied, inPlace) : replica.schema;
  if (inPlace) return Object.assign(replica, { usn, schema });
  return { directory, usn, schema };
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

// ---------------------------------------------------------------------------------------------------
// Search

export interface SearchRequest {
  base: string;
  scope: AdScope;
  filter?: string;
  attributes?: string[];
}

/** Constructed attributes, returned only when asked for by name or with "+". */
const CONSTRUCTED = ['canonicalName', 'createTimeStamp', 'modifyTimeStamp'];

function canonicalName(dn: string): string {
  const rdns = parseDn(dn) ?? [];
  const dcs = rdns.filter((r) => r.type.toLowerCase() === 'dc').map((r) => r.value);
  const rest = rdns.filter((r) => r.type.toLowerCase() !== 'dc').map((r) => r.value).reverse();
  return [dcs.join('.'), ...rest].join('/') + (rest.length ? '' : '/');
}

/** An equality on an indexed attribute every match must satisfy: the filter itself, or a clause of its AND. */
function indexedTerm(node: FilterNode): { attribute: string; value: string } | undefined {
  if (node.type === 'EqualityFilter' && node.attribute && isIndexed(node.attribute)) return { attribute: node.attribute, value: unescapeValue(String(node.value ?? '')) };
  if (node.type === 'AndFilter') {
    for (const c of node.clauses ?? []) {
      const t = indexedTerm(c);
      if (t) return t;
    }
  }
  return undefined;
}

export function search(replica: Replica, req: SearchRequest, ncs: NamingContexts): AdResult<AdSearchEntry[]> {
  const { directory, schema } = replica;
  const baseKey = dnKey(req.base);
  if (baseKey !== '' && !directory[baseKey]) return fail(failures.noSuchObject(bestMatch(directory, req.base)));
  const filterText = req.filter && req.filter.trim() !== '' ? req.filter.trim() : '(objectClass=*)';
  const filter = parseFilter(filterText.startsWith('(') ? filterText : `(${filterText})`);
  if (!filter) return fail(adFailure('ad.unwillingToPerform', 87, `00000057: LdapErr: DSID-0C0C0968, comment: The search filter cannot be recognized, data 0, v1db1`));
  const baseDepth = depth(baseKey);
  // The member-of index is built only if a filter or the attribute list needs it.
  const memberOf = () => memberOfIndex(directory);
  const requested = (req.attributes ?? []).map((x) => x.toLowerCase());
  const all = requested.length === 0 || requested.includes('*');
  const plus = requested.includes('+');
  const none = requested.length === 1 && requested[0] === '1.1';
  /** Constructed and back-linked attributes, computed on demand for one entry. */
  const derived = (key: string, entry: AdEntry, lower: string): { name: string; values: string[] } | undefined => {
    switch (lower) {
      case 'memberof': {
        const groups = memberOf().get(key);
        return groups?.length ? { name: 'memberOf', values: groups } : undefined;
      }
      case 'canonicalname':
        return { name: 'canonicalName', values: [canonicalName(entry.dn)] };
      case 'createtimestamp': {
        const wc = first(entry, 'whenCreated');
        return wc ? { name: 'createTimeStamp', values: [wc] } : undefined;
      }
      case 'modifytimestamp': {
        const wch = first(entry, 'whenChanged');
        return wch ? { name: 'modifyTimeStamp', values: [wch] } : undefined;
      }
      default:
        return undefined;
    }
  };
  const out: AdSearchEntry[] = [];
  // An equality on an indexed attribute (alone or in an AND) narrows the entries to look at; the whole
  // filter is still evaluated on each.
  const term = indexedTerm(filter);
  const keys: Iterable<string> = term ? candidateKeys(directory, term.attribute, term.value) : Object.keys(directory);
  for (const key of keys) {
    const entry = directory[key] as AdEntry;
    if (!isUnder(key, baseKey)) continue;
    const d = depth(key) - baseDepth;
    if (req.scope === 'base' && d !== 0) continue;
    if (req.scope === 'one' && d !== 1) continue;
    const target = {
      values: (a: string) => derived(key, entry, a)?.values ?? attr(entry, a),
      syntax: (a: string) => schema.attributes[a]?.syntax,
      categoryDn: (short: string) => categoryDn(schema, ncs, short),
    };
    if (!matches(filter, target)) continue;
    const attributes: Record<string, string[]> = {};
    if (!none) {
      for (const [n, vs] of Object.entries(entry.attributes)) {
        const lower = n.toLowerCase();
        if (all || requested.includes(lower)) attributes[n] = [...vs];
      }
      for (const lower of ['memberof', 'canonicalname', 'createtimestamp', 'modifytimestamp']) {
        const constructed = CONSTRUCTED.some((x) => x.toLowerCase() === lower);
        const wanted = requested.includes(lower) || (constructed ? plus : all);
        if (!wanted) continue;
        const v = derived(key, entry, lower);
        if (v) attributes[v.name] = [...v.values];
      }
    }
    out.push({ dn: entry.dn, attributes });
  }
  return ok(out);
}

export { dnKey, canonicalDn };
