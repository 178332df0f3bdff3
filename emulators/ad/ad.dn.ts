/**
 * Distinguished names as AD handles them (RFC 4514 string form): RDNs separated by unescaped commas,
 * attribute types case-insensitive, values compared case-insensitively. The canonical form keeps the
 * value as written and upper-cases the well-known types (CN, OU, DC), as AD returns them.
 */

export interface Rdn {
  type: string;
  value: string;
}

/** Splits `text` on unescaped `sep` characters. */
function splitUnescaped(text: string, sep: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === '\\' && i + 1 < text.length) {
      current += ch + (text[i + 1] as string);
      i++;
    } else if (ch === sep) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts;
}

/** Parses a DN into RDNs (leaf first); undefined when it is not a DN. The empty string is the root. */
export function parseDn(dn: string): Rdn[] | undefined {
  if (dn.trim() === '') return [];
  const rdns: Rdn[] = [];
  for (const part of splitUnescaped(dn, ',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return undefined;
    const type = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!/^[A-Za-z][A-Za-z0-9-]*$|^\d+(\.\d+)*$/.test(type) || value === '') return undefined;
    rdns.push({ type, value });
  }
  return rdns;
}

const UPPER_TYPES = new Set(['cn', 'ou', 'dc', 'o', 'c', 'l', 'st']);

function canonicalType(type: string): string {
  return UPPER_TYPES.has(type.toLowerCase()) ? type.toUpperCase() : type;
}

export function formatDn(rdns: readonly Rdn[]): string {
  return rdns.map((r) => `${canonicalType(r.type)}=${r.value}`).join(',');
}

/** The form AD returns: types upper-cased, spaces around separators removed, values as written. */
export function canonicalDn(dn: string): string {
  const rdns = parseDn(dn);
  return rdns ? formatDn(rdns) : dn.trim();
}

/** The key entries are stored under: canonical form, lower-cased. */
export function dnKey(dn: string): string {
  return canonicalDn(dn).toLowerCase();
}

/** The parent DN, or '' for a naming context head's parent / undefined for the root. */
export function parentDn(dn: string): string | undefined {
  const rdns = parseDn(dn);
  if (!rdns || rdns.length === 0) return undefined;
  return formatDn(rdns.slice(1));
}

export function firstRdn(dn: string): Rdn | undefined {
  return parseDn(dn)?.[0];
}

/** Whether `dn` equals `base` or lies below it (keys compared). */
export function isUnder(dnKeyText: string, baseKey: string): boolean {
  if (baseKey === '') return true;
  return dnKeyText === baseKey || dnKeyText.endsWith(`,${baseKey}`);
}

/** Number of RDNs. */
export function depth(dnKeyText: string): number {
  return dnKeyText === '' ? 0 : splitUnescaped(dnKeyText, ',').length;
}

/** Escapes a value for use in an RDN (RFC 4514 section 2.4). */
export function escapeRdnValue(value: string): string {
  return value.replace(/([,+"\\<>;=])/g, '\\$1').replace(/^([ #])/, '\\$1').replace(/ $/, '\\ ');
}
