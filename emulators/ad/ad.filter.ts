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

function substring(attr: string, node: FilterNode, t: FilterTarget): boolean {
  const initial = node.initial ? unescapeValue(node.initial).toLowerCase() : '';
  const final = node.final ? unescapeValue(node.final).toLowerCase() : '';
  const any = (node.any ?? []).map((x) => unescapeValue(x).toLowerCase());
  return (t.values(attr) ?? []).some((raw) => {
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

function extensible(attr: string, node: FilterNode, t: FilterTarget): boolean {
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
