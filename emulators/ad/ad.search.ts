/** LDAP search on one DC's directory: base and scope, filters (indexed where it can), attribute selection. */
import { dnKey, parseDn, isUnder, depth } from './ad.dn.js';
import { compileFilterSteps, parseFilter, unescapeValue, type FilterTree } from './ad.filter.js';
import { categoryDn } from './ad.schema.js';
import type { AdResult, AdScope, AdSearchEntry } from './ad.events.js';
import { fail, ok } from '../../sim/result.js';
import { candidateKeys, isIndexed, memberOfIndex } from './ad.index.js';
import { adFailure, adFailures as failures, attr, bestMatch, findBySam, first, type AdEntry, type Directory, type NamingContexts, type Replica } from './ad.store.js';
import { CLASS_GUIDS, NAMED_RIGHTS, toSddl, type AceInfo } from './ad.security.js';

/**
 * The security descriptor of an entry as SDDL, from the access control entries LCSCmd wrote on it: each
 * trustee by its objectSid, a property set by its rightsGuid (CN=Extended-Rights), a class by its
 * schemaIDGUID. Only those ACEs are emulated (README: known differences); a trustee that does not
 * resolve is left out, as Windows shows an unresolvable SID nowhere useful.
 */
function entrySddl(directory: Directory, ncs: NamingContexts, entry: AdEntry): string {
  const guidOf = (name: string | undefined): string | undefined => {
    if (!name) return undefined;
    const known = CLASS_GUIDS[name.toLowerCase()];
    if (known) return known;
    return first(directory[dnKey(`CN=${name},CN=Extended-Rights,${ncs.configuration}`)] ?? { dn: '', attributes: {} }, 'rightsGuid')?.toLowerCase();
  };
  const dacl: AceInfo[] = [];
  for (const a of entry.aces ?? []) {
    const sid = first(findBySam(directory, a.trustee) ?? { dn: '', attributes: {} }, 'objectSid');
    if (!sid) continue;
    const objectType = guidOf(a.objectType);
    const inheritedObjectType = guidOf(a.inheritedObjectType);
    const scoped = objectType !== undefined || inheritedObjectType !== undefined;
    const mask = a.rights.reduce((m, r) => m | (NAMED_RIGHTS[r] ?? 0), 0);
    const flags = (a.inherit ? 0x02 : 0) | (inheritedObjectType ? 0x08 : 0);
    dacl.push({ type: scoped ? 5 : 0, flags, mask, ...(objectType ? { objectType } : {}), ...(inheritedObjectType ? { inheritedObjectType } : {}), sid });
  }
  return toSddl({ dacl });
}

export interface SearchRequest {
  base: string;
  scope: AdScope;
  filter?: string;
  /** The filter already as a tree (the LDAP adapter builds it from the BER); wins over `filter`. */
  filterTree?: FilterTree;
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
function indexedTerm(node: FilterTree): { attribute: string; value: string } | undefined {
  if (node.type === 'EqualityFilter' && node.attribute && isIndexed(node.attribute)) return { attribute: node.attribute, value: unescapeValue(String(node.value ?? '')) };
  if (node.type === 'AndFilter') {
    for (const c of node.clauses ?? []) {
      const t = indexedTerm(c);
      if (t) return t;
    }
  }
  return undefined;
}

/** A search run to the end at once (the machine's own reads). */
export function search(replica: Replica, req: SearchRequest, ncs: NamingContexts): AdResult<AdSearchEntry[]> {
  const steps = searchSteps(replica, req, ncs, [], Infinity);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * A search that gives way: it yields (the number of entries found so far) after about `budget` units
 * of filter work, so the wire adapter can let other clients in between and stop a search that has run
 * past its time limit. Entries go into `out` as they are found (what a timed-out search returns). It
 * reads one replica as it was when the search began, as a snapshot isolation would.
 */
export function* searchSteps(replica: Replica, req: SearchRequest, ncs: NamingContexts, out: AdSearchEntry[], budget: number): Generator<void, AdResult<AdSearchEntry[]>, void> {
  const { directory, schema } = replica;
  const baseKey = dnKey(req.base);
  if (baseKey !== '' && !directory[baseKey]) return fail(failures.noSuchObject(bestMatch(directory, req.base)));
  const filterText = req.filter && req.filter.trim() !== '' ? req.filter.trim() : '(objectClass=*)';
  const filter: FilterTree | undefined = req.filterTree ?? parseFilter(filterText.startsWith('(') ? filterText : `(${filterText})`);
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
      case 'ntsecuritydescriptor':
        return { name: 'nTSecurityDescriptor', values: [entrySddl(directory, ncs, entry)] };
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
  const compiled = yield* compileFilterSteps(filter, { syntax: (a: string) => schema.attributes[a]?.syntax, categoryDn: (short: string) => categoryDn(schema, ncs, short) });
  let work = 0;
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
    work += compiled.cost;
    if (work >= budget) {
      work = 0;
      yield;
    }
    if (!compiled.test((a: string) => derived(key, entry, a)?.values ?? attr(entry, a))) continue;
    const attributes: Record<string, string[]> = {};
    if (!none) {
      for (const [n, vs] of Object.entries(entry.attributes)) {
        const lower = n.toLowerCase();
        if (all || requested.includes(lower)) attributes[n] = [...vs];
      }
      for (const lower of ['memberof', 'canonicalname', 'createtimestamp', 'modifytimestamp', 'ntsecuritydescriptor']) {
        const constructed = CONSTRUCTED.some((x) => x.toLowerCase() === lower);
        // AD returns nTSecurityDescriptor only when it is asked for by name.
        const wanted = requested.includes(lower) || (lower !== 'ntsecuritydescriptor' && (constructed ? plus : all));
        if (!wanted) continue;
        const v = derived(key, entry, lower);
        if (v) attributes[v.name] = [...v.values];
      }
    }
    out.push({ dn: entry.dn, attributes });
  }
  return ok(out);
}
