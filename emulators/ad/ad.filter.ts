/**
 * RFC 4515 search filters: parsed by @ldapjs/filter, evaluated here with AD's matching rules —
 * case-insensitive string matching, integer ordering for integer syntaxes, DN comparison on normalised
 * names, the objectCategory short form ("(objectCategory=person)"), and the bitwise matching rules
 * LDAP_MATCHING_RULE_BIT_AND (1.2.840.113556.1.4.803) and LDAP_MATCHING_RULE_BIT_OR (…804).
 */
import filterPkg, { type FilterNode } from '@ldapjs/filter';
import { dnKey } from './ad.dn.js';
import { SYNTAX } from './ad.schema.js';

export type { FilterNode };

export function parseFilter(text: string): FilterNode | undefined {
  try {
    return filterPkg.parseString(text);
  } catch {
    return undefined;
  }
}

/** Decodes RFC 4515 `\XX` escapes in an assertion value. */
export function unescapeValue(value: string): string {
  if (!value.includes('\\')) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const hex = value.slice(i + 1, i + 3);
    if (value[i] === '\\' && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(...Buffer.from(value[i] as string, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

export interface FilterTarget {
  /** Values of an attribute by lower-cased name (undefined when absent). */
  values(attributeLower: string): readonly string[] | undefined;
  /** attributeSyntax of an attribute, when the schema knows it. */
  syntax(attributeLower: string): string | undefined;
  /** The objectCategory DN a short class name stands for ("person" → CN=Person,CN=Schema,...). */
  categoryDn(shortName: string): string | undefined;
}

const isInt = (s: string) => /^-?\d+$/.test(s);

function normalise(value: string, syntax: string | undefined): string {
  if (syntax === SYNTAX.dn) return dnKey(value);
  return value.toLowerCase();
}

function equals(attr: string, asserted: string, t: FilterTarget): boolean {
  const syntax = t.syntax(attr);
  let wanted = asserted;
  if (attr === 'objectcategory' && !asserted.includes('=')) wanted = t.categoryDn(asserted) ?? asserted;
  const vals = t.values(attr) ?? [];
  if ((syntax === SYNTAX.integer || syntax === SYNTAX.largeInteger) && isInt(wanted)) return vals.some((v) => isInt(v) && BigInt(v) === BigInt(wanted));
  const w = normalise(wanted, syntax);
  return vals.some((v) => normalise(v, syntax) === w);
}

function compare(attr: string, asserted: string, t: FilterTarget, ge: boolean): boolean {
  const vals = t.values(attr) ?? [];
  return vals.some((v) => {
    if (isInt(v) && isInt(asserted)) return ge ? BigInt(v) >= BigInt(asserted) : BigInt(v) <= BigInt(asserted);
    const a = v.toLowerCase();
    const b = asserted.toLowerCase();
    return ge ? a >= b : a <= b;
  });
}

/** A substring assertion with its parts unescaped and lower-cased once. */
function substringTest(node: FilterTree): (values: readonly string[]) => boolean {
  const initial = node.initial ? unescapeValue(node.initial).toLowerCase() : '';
  const final = node.final ? unescapeValue(node.final).toLowerCase() : '';
  const any = (node.any ?? []).map((x) => unescapeValue(x).toLowerCase());
  return (values) =>
    values.some((raw) => {
      const v = raw.toLowerCase();
      if (!v.startsWith(initial)) return false;
      let pos = initial.length;
      for (const part of any) {
        const at = v.indexOf(part, pos);
        if (at < 0) return false;
        pos = at + part.length;
      }
      return v.length - final.length >= pos && v.endsWith(final);
    });
}

function substring(attr: string, node: FilterTree, t: FilterTarget): boolean {
  return substringTest(node)(t.values(attr) ?? []);
}

function extensible(attr: string, node: FilterTree, t: FilterTarget): boolean {
  const asserted = unescapeValue(String(node.value ?? ''));
  const rule = node.matchingRule ?? '';
  if (rule === '1.2.840.113556.1.4.803' || rule === '1.2.840.113556.1.4.804') {
    if (!isInt(asserted)) return false;
    const mask = BigInt.asUintN(64, BigInt(asserted));
    return (t.values(attr) ?? []).some((v) => {
      if (!isInt(v)) return false;
      const x = BigInt.asUintN(64, BigInt(v)) & mask;
      return rule.endsWith('803') ? x === mask : x !== 0n;
    });
  }
  if (rule === '') return equals(attr, asserted, t);
  return false;
}

/**
 * A filter as a tree: what `compileFilter` reads of @ldapjs/filter's nodes. The LDAP adapter builds it
 * straight from the BER it receives (no string to parse again); assertion values are in their RFC 4515
 * escaped form, as @ldapjs/filter's nodes give them.
 */
export interface FilterTree {
  type: string;
  attribute?: string;
  value?: unknown;
  clauses?: FilterTree[];
  filter?: FilterTree;
  initial?: string;
  any?: string[];
  final?: string;
  matchingRule?: string;
}

/** What a compiled filter needs of the schema (the same for every entry of a search). */
export type FilterSchema = Pick<FilterTarget, 'syntax' | 'categoryDn'>;

export interface CompiledFilter {
  /** Whether an entry (its attribute values by lower-cased name) matches. */
  test(values: FilterTarget['values']): boolean;
  /** Roughly how much work one entry costs: the filter's terms after grouping. */
  cost: number;
}

/**
 * A filter compiled once per search: each assertion's value unescaped and normalised once, the schema
 * asked once per attribute, and an OR of equality assertions on one string attribute (a client's
 * "(|(cn=a)(cn=b)…)") turned into a set lookup. Same answers as `matches`, without redoing per entry
 * what does not depend on it: a 40,000-term OR costs a lookup per value, not 40,000 comparisons.
 */
export function compileFilter(root: FilterTree, schema: FilterSchema): CompiledFilter {
  const steps = compileFilterSteps(root, schema);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Filter nodes compiled between the points where a large filter lets other clients in. */
const COMPILE_SLICE = 200;

/** `compileFilter` that gives way every COMPILE_SLICE nodes (a search over the wire compiles in slices). */
export function* compileFilterSteps(root: FilterTree, schema: FilterSchema): Generator<void, CompiledFilter, void> {
  const syntaxes = new Map<string, string | undefined>();
  const syntaxOf = (a: string) => {
    if (!syntaxes.has(a)) syntaxes.set(a, schema.syntax(a));
    return syntaxes.get(a);
  };
  const target = (values: FilterTarget['values']): FilterTarget => ({ values, syntax: syntaxOf, categoryDn: (x) => schema.categoryDn(x) });
  let cost = 0;
  let grouped = 0;
  type Test = (values: FilterTarget['values']) => boolean;
  /** An equality on a string attribute as a normalised value; undefined when it needs the general path. */
  const plainEquality = (node: FilterTree): { attr: string; value: string } | undefined => {
    if (node.type !== 'EqualityFilter' && node.type !== 'ApproximateFilter') return undefined;
    const attr = (node.attribute ?? '').toLowerCase();
    const syntax = syntaxOf(attr);
    if (attr === 'objectcategory' || syntax === SYNTAX.integer || syntax === SYNTAX.largeInteger) return undefined;
    return { attr, value: normalise(unescapeValue(String(node.value ?? '')), syntax) };
  };
  function* compile(node: FilterTree): Generator<void, Test, void> {
    if (++cost % COMPILE_SLICE === 0) yield;
    const attr = (node.attribute ?? '').toLowerCase();
    switch (node.type) {
      case 'AndFilter': {
        const parts: Test[] = [];
        for (const c of node.clauses ?? []) parts.push(yield* compile(c));
        return (v) => parts.every((p) => p(v));
      }
      case 'OrFilter': {
        const sets = new Map<string, Set<string>>();
        const rest: Test[] = [];
        for (const c of node.clauses ?? []) {
          // Grouped clauses are work too: a 40,000-term OR gives way while its set is built.
          if (++grouped % COMPILE_SLICE === 0) yield;
          const eq = plainEquality(c);
          if (!eq) {
            rest.push(yield* compile(c));
            continue;
          }
          let set = sets.get(eq.attr);
          if (!set) {
            set = new Set();
            sets.set(eq.attr, set);
            cost++;
          }
          set.add(eq.value);
        }
        const lookups = [...sets].map(([a, set]): Test => {
          const syntax = syntaxOf(a);
          return (v) => (v(a) ?? []).some((x) => set.has(normalise(x, syntax)));
        });
        const all = [...lookups, ...rest];
        return (v) => all.some((p) => p(v));
      }
      case 'NotFilter': {
        const inner = node.filter ? yield* compile(node.filter) : undefined;
        return (v) => (inner ? !inner(v) : false);
      }
      case 'PresenceFilter':
        return (v) => (v(attr)?.length ?? 0) > 0;
      case 'EqualityFilter':
      case 'ApproximateFilter': {
        const eq = plainEquality(node);
        if (eq) {
          const syntax = syntaxOf(attr);
          return (v) => (v(attr) ?? []).some((x) => normalise(x, syntax) === eq.value);
        }
        const asserted = unescapeValue(String(node.value ?? ''));
        return (v) => equals(attr, asserted, target(v));
      }
      case 'GreaterThanEqualsFilter':
      case 'LessThanEqualsFilter': {
        const asserted = unescapeValue(String(node.value ?? ''));
        const ge = node.type === 'GreaterThanEqualsFilter';
        return (v) => compare(attr, asserted, target(v), ge);
      }
      case 'SubstringFilter': {
        const sub = substringTest(node);
        return (v) => sub(v(attr) ?? []);
      }
      case 'ExtensibleFilter':
        return (v) => extensible(attr, node, target(v));
      default:
        return () => false;
    }
  }
  const test = yield* compile(root);
  return { test, cost };
}

export function matches(node: FilterNode, t: FilterTarget): boolean {
  const attr = (node.attribute ?? '').toLowerCase();
  switch (node.type) {
    case 'AndFilter':
      return (node.clauses ?? []).every((c) => matches(c, t));
    case 'OrFilter':
      return (node.clauses ?? []).some((c) => matches(c, t));
    case 'NotFilter':
      return node.filter ? !matches(node.filter, t) : false;
    case 'PresenceFilter':
      return (t.values(attr)?.length ?? 0) > 0;
    case 'EqualityFilter':
    case 'ApproximateFilter':
      return equals(attr, unescapeValue(String(node.value ?? '')), t);
    case 'GreaterThanEqualsFilter':
      return compare(attr, unescapeValue(String(node.value ?? '')), t, true);
    case 'LessThanEqualsFilter':
      return compare(attr, unescapeValue(String(node.value ?? '')), t, false);
    case 'SubstringFilter':
      return substring(attr, node, t);
    case 'ExtensibleFilter':
      return extensible(attr, node, t);
    default:
      return false;
  }
}
