/**
 * What an action wrote to Active Directory, as LDAP operations for a real domain controller (decision
 * 0016). The planner compares the PDC emulator's directory before and after the action was rehearsed:
 *
 * - new entries become adds, parents first, without what the directory itself maintains (objectGUID,
 *   whenCreated, uSN*, objectCategory …); a user is added disabled, given its password (unicodePwd, a
 *   secret the plan never shows) and then its userAccountControl, as ADUC does;
 * - changed attributes become replaces (deletes when gone); a new password a modify of unicodePwd;
 * - new access control entries become grants: the applier reads the DACL, adds them, writes it back;
 * - schema objects come first, then `schemaUpdateNow`, so the rest can use them. The lab knows the
 *   product's OIDs only for the per-user attributes (ocs-facts §2); for the others the plan is refused
 *   unless the target file allows the lab's OIDs (RFC 5612's documentation arc, 1.3.6.1.4.1.32473),
 *   which is right for a throw-away forest and wrong for a production one. The classes' possible
 *   superiors, which the lab does not model, are inferred from where the rehearsal put their objects.
 */
import type { Lab } from '../../sim/lab.js';
import type { GrantAce, PlanContext, PlanOp, Planner } from '../../sim/plan.js';
import { adPdcView } from './ad.client.js';
import { depth, dnKey } from './ad.dn.js';
import type { AdEntry } from './ad.store.js';
import { RTC_CLASSES, RTC_SERVICE_ATTRIBUTES, RTC_USER_ATTRIBUTES } from './ad.schema.js';

/** What the directory maintains itself: never written by a client. */
const MAINTAINED = new Set(
  [
    'objectGUID', 'objectSid', 'whenCreated', 'whenChanged', 'uSNCreated', 'uSNChanged', 'distinguishedName', 'name', 'instanceType', 'objectCategory',
    'sAMAccountType', 'pwdLastSet', 'primaryGroupID', 'badPwdCount', 'badPasswordTime', 'lastLogon', 'lastLogoff', 'logonCount', 'lastLogonTimestamp',
    'memberOf', 'codePage', 'countryCode', 'accountExpires', 'schemaIDGUID', 'unicodePwd', 'nTSecurityDescriptor',
  ].map((a) => a.toLowerCase()),
);

/** The documentation OID the lab uses for a schema object whose real OID it does not know (stable per name). */
function labOid(kind: 'attribute' | 'class', name: string): string | undefined {
  const list = kind === 'attribute' ? [...RTC_USER_ATTRIBUTES, ...RTC_SERVICE_ATTRIBUTES] : RTC_CLASSES;
  const i = list.findIndex((d) => d.name.toLowerCase() === name.toLowerCase());
  return i < 0 ? undefined : `1.3.6.1.4.1.32473.16.${kind === 'attribute' ? 1 : 2}.${i + 1}`;
}

interface Captured {
  stamps: Map<string, string>;
  entries: Record<string, AdEntry>;
  passwords: Record<string, string>;
}

const stamp = (e: AdEntry) => JSON.stringify([e.attributes, e.aces ?? []]);
const classesOf = (e: AdEntry) => (e.attributes.objectClass ?? []).map((c) => c.toLowerCase());
const structural = (e: AdEntry) => classesOf(e).at(-1) ?? 'top';
const writable = (attributes: Record<string, string[]>) => Object.fromEntries(Object.entries(attributes).filter(([k]) => !MAINTAINED.has(k.toLowerCase())));
const aceKey = (a: GrantAce) => JSON.stringify([a.trustee, a.rights, a.objectType ?? '', a.inheritedObjectType ?? '', a.inherit]);
const grantOf = (a: { trustee: string; rights: string[]; objectType?: string; inheritedObjectType?: string; inherit: boolean }): GrantAce => ({
  trustee: a.trustee,
  rights: [...a.rights],
  ...(a.objectType ? { objectType: a.objectType } : {}),
  ...(a.inheritedObjectType ? { inheritedObjectType: a.inheritedObjectType } : {}),
  inherit: a.inherit,
});

/** Parent-class → child-class pairs of the rehearsal's end state involving the OCS classes: what the schema must allow. */
function superiors(end: Lab | undefined): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  if (!end) return out;
  const dir = adPdcView(end.get('ad')).directory;
  for (const [key, e] of Object.entries(dir)) {
    const parentKey = key.slice(key.indexOf(',') + 1);
    const parent = dir[parentKey];
    if (!parent) continue;
    const child = structural(e);
    const up = structural(parent);
    if (!child.startsWith('msrtcsip-') && !up.startsWith('msrtcsip-')) continue;
    const name = (e.attributes.objectClass ?? []).at(-1) ?? child;
    const upName = (parent.attributes.objectClass ?? []).at(-1) ?? up;
    const set = out.get(name) ?? new Set<string>();
    set.add(upName);
    out.set(name, set);
  }
  return out;
}

export const adPlanner: Planner = {
  capture(lab: Lab): Captured {
    const v = adPdcView(lab.get('ad'));
    return { stamps: new Map(Object.entries(v.directory).map(([k, e]) => [k, stamp(e)])), entries: { ...v.directory }, passwords: { ...v.passwords } };
  },

  plan(lab: Lab, before: unknown, ctx: PlanContext): { ops: PlanOp[]; refused?: string } {
    const was = before as Captured;
    const now = adPdcView(lab.get('ad'));
    const schemaKey = dnKey(now.ncs.schema);
    const added = Object.entries(now.directory).filter(([k]) => !was.stamps.has(k));
    const changed = Object.entries(now.directory).filter(([k, e]) => was.stamps.has(k) && was.stamps.get(k) !== stamp(e));
    const inSchema = (k: string) => k.endsWith(`,${schemaKey}`);
    const schemaOps: PlanOp[] = [];
    const missingOids: string[] = [];

    // Schema: attributes, then classes, then what the classes and the existing classes must allow.
    const newSchema = added.filter(([k]) => inSchema(k)).map(([, e]) => e);
    const attrs = newSchema.filter((e) => classesOf(e).includes('attributeschema'));
    const classes = newSchema.filter((e) => classesOf(e).includes('classschema'));
    const withOid = (e: AdEntry, kind: 'attribute' | 'class'): Record<string, string[]> => {
      const a = writable(e.attributes);
      const idName = kind === 'attribute' ? 'attributeID' : 'governsID';
      if (!a[idName]) {
        const name = e.attributes.lDAPDisplayName?.[0] ?? e.dn;
        const oid = ctx.labSchemaOids ? labOid(kind, name) : undefined;
        if (!oid) missingOids.push(name);
        else a[idName] = [oid];
      }
      return a;
    };
    for (const e of attrs) schemaOps.push({ op: 'add', dn: e.dn, attributes: withOid(e, 'attribute'), ifExists: 'skip' });
    if (attrs.length) schemaOps.push({ op: 'schemaUpdateNow' });
    const possible = superiors(ctx.end);
    for (const e of classes) schemaOps.push({ op: 'add', dn: e.dn, attributes: withOid(e, 'class'), ifExists: 'skip' });
    if (classes.length) schemaOps.push({ op: 'schemaUpdateNow' });
    const schemaMods = changed.filter(([k]) => inSchema(k));
    for (const [k, e] of schemaMods) schemaOps.push(...modifies(e, was.entries[k] as AdEntry, now.singleValued));
    if (classes.length) {
      // The schema names classes by their CN; the superiors are lDAPDisplayNames.
      const cnOf = new Map(Object.values(now.directory).filter((e) => e.attributes.lDAPDisplayName).map((e) => [(e.attributes.lDAPDisplayName?.[0] ?? '').toLowerCase(), e.dn]));
      for (const [child, ups] of possible) {
        const dn = cnOf.get(child.toLowerCase());
        if (dn) schemaOps.push({ op: 'modify', dn, changes: [{ operation: 'add', attribute: 'possSuperiors', values: [...ups].sort() }] });
      }
    }
    if (schemaMods.length || classes.length) schemaOps.push({ op: 'schemaUpdateNow' });
    if (missingOids.length) {
      return {
        ops: [],
        refused: `the product's OIDs for ${missingOids.length} schema object(s) (${missingOids.slice(0, 3).join(', ')}${missingOids.length > 3 ? ' …' : ''}) are not known to the lab: run LCSCmd.exe /Forest /Action:SchemaPrep on the Schema Master, or allow the lab's documentation OIDs in the target file (schema: { labOids: true }) for a throw-away forest`,
      };
    }

    const ops: PlanOp[] = [...schemaOps];
    // Entries, parents first (the directory order is not guaranteed to be).
    const entries = added.filter(([k]) => !inSchema(k)).sort(([a], [b]) => depth(a) - depth(b));
    for (const [k, e] of entries) {
      const attributes = writable(e.attributes);
      const isUser = classesOf(e).includes('user') && !classesOf(e).includes('computer');
      const secret = now.passwords[k];
      if (isUser) {
        const uac = attributes.userAccountControl;
        delete attributes.userAccountControl;
        // An account that exists already keeps its password and its state: only a new one gets them.
        const then: PlanOp[] = [];
        if (secret !== undefined) then.push({ op: 'modify', dn: e.dn, changes: [{ operation: 'replace', attribute: 'unicodePwd', values: [secret] }], secret: true });
        if (uac) then.push({ op: 'modify', dn: e.dn, changes: [{ operation: 'replace', attribute: 'userAccountControl', values: uac }] });
        ops.push({ op: 'add', dn: e.dn, attributes: { ...attributes, userAccountControl: ['546'] }, ifExists: 'skip', ...(then.length ? { then } : {}) });
      } else ops.push({ op: 'add', dn: e.dn, attributes, ifExists: 'skip' });
      const aces = (e.aces ?? []).map(grantOf);
      if (aces.length) ops.push({ op: 'grant', dn: e.dn, aces });
    }
    for (const [k, e] of changed.filter(([key]) => !inSchema(key))) {
      ops.push(...modifies(e, was.entries[k] as AdEntry, now.singleValued));
      const had = new Set((was.entries[k]?.aces ?? []).map((a) => aceKey(grantOf(a))));
      const fresh = (e.aces ?? []).map(grantOf).filter((a) => !had.has(aceKey(a)));
      if (fresh.length) ops.push({ op: 'grant', dn: e.dn, aces: fresh });
    }
    // Entries the action removed, deepest first.
    const removed = [...was.stamps.keys()].filter((k) => !now.directory[k]).sort((a, b) => depth(b) - depth(a));
    for (const k of removed) ops.push({ op: 'delete', dn: (was.entries[k] as AdEntry).dn });
    for (const [k, secret] of Object.entries(now.passwords)) {
      const e = now.directory[k];
      if (e && was.stamps.has(k) && was.passwords[k] !== secret) ops.push({ op: 'modify', dn: e.dn, changes: [{ operation: 'replace', attribute: 'unicodePwd', values: [secret] }], secret: true });
    }
    return { ops };
  },
};

/**
 * The changes of one entry: a single-valued attribute is replaced, a multi-valued one gets only its new
 * values added and its gone ones deleted (a replace would drop what the real entry holds beside the
 * lab's: a user's other proxyAddresses, a class's own mayContain), a removed attribute is deleted.
 */
function modifies(now: AdEntry, was: AdEntry, singleValued: (attribute: string) => boolean | undefined): PlanOp[] {
  const changes: Array<{ operation: 'add' | 'replace' | 'delete'; attribute: string; values: string[] }> = [];
  const a = writable(now.attributes);
  const b = writable(was.attributes);
  for (const [name, values] of Object.entries(a)) {
    const old = b[name];
    if (old && JSON.stringify(old) === JSON.stringify(values)) continue;
    if (singleValued(name) === false || values.length > 1 || (old?.length ?? 0) > 1) {
      const fresh = values.filter((v) => !(old ?? []).includes(v));
      const gone = (old ?? []).filter((v) => !values.includes(v));
      if (fresh.length) changes.push({ operation: 'add', attribute: name, values: fresh });
      if (gone.length) changes.push({ operation: 'delete', attribute: name, values: gone });
      continue;
    }
    changes.push({ operation: 'replace', attribute: name, values });
  }
  for (const [name, values] of Object.entries(b)) if (!(name in a)) changes.push({ operation: 'delete', attribute: name, values: singleValued(name) === false ? values : [] });
  return changes.length ? [{ op: 'modify', dn: now.dn, changes }] : [];
}
