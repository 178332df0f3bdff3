/**
 * Writes to one DC's directory (LDAP add, modify, delete; the ACEs of the preparation actions), each
 * checked as AD checks it: against the DC's schema cache, attribute syntaxes, naming, generated attributes.
 */
import { dnKey, canonicalDn, firstRdn, parentDn, parseDn } from './ad.dn.js';
import { SYNTAX, absorbSchemaEntry, allowedAttributes, categoryDn, expandObjectClasses, inSchema, type AttributeDef, type SchemaIndex } from './ad.schema.js';
import { LDAP, type Ace, type AdFailure, type AdModification, type AdResult } from './ad.events.js';
import { fail, ok } from '../../sim/result.js';
import { noteWrite } from './ad.index.js';
import { adFailures as failures, bestMatch, fileTime, first, generalizedTime, type AdEntry, type Directory, type NamingContexts, type Replica } from './ad.store.js';

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


function hasChildren(directory: Directory, key: string): boolean {
  const suffix = `,${key}`;
  return Object.keys(directory).some((k) => k.endsWith(suffix));
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
