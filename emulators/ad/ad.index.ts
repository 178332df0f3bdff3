/**
 * Finding entries by an indexed attribute (sAMAccountName, userPrincipalName, the SIP address) without
 * scanning the directory, as a DC's indexed attributes do; and the memberOf back-links, built once per
 * directory instead of once per search. With 10,000 users, a scan per lookup made every wizard run, every
 * User Replicator pass and every REGISTER's user search cost the whole directory.
 *
 * Directories are immutable snapshots (a write makes a new one, or writes into a copy its transaction
 * owns), so the index is not one directory's: it belongs to a lineage. A write notes the entry it wrote
 * and hands the index on to the directory it made. The index may then name keys that no longer hold the
 * value (or that a sibling snapshot wrote), never misses one that does: every lookup checks the
 * candidate in its own directory. A directory nobody handed an index to gets one built on first lookup.
 */
import { dnKey } from './ad.dn.js';
import type { AdEntry, Directory } from './ad.store.js';

/** Lower-cased attribute names this DC indexes. */
const INDEXED = new Set(['samaccountname', 'userprincipalname', 'msrtcsip-primaryuseraddress']);

/** attribute → value (lower case) → keys of entries that held it in some snapshot of the lineage. */
type ValueIndex = Map<string, Map<string, Set<string>>>;

const indexes = new WeakMap<Directory, ValueIndex>();

function note(index: ValueIndex, key: string, entry: AdEntry): void {
  for (const name in entry.attributes) {
    const lower = name.toLowerCase();
    if (!INDEXED.has(lower)) continue;
    let byValue = index.get(lower);
    if (!byValue) index.set(lower, (byValue = new Map()));
    for (const v of entry.attributes[name] ?? []) {
      const value = v.toLowerCase();
      let keys = byValue.get(value);
      if (!keys) byValue.set(value, (keys = new Set()));
      keys.add(key);
    }
  }
}

function indexOf(directory: Directory): ValueIndex {
  let index = indexes.get(directory);
  if (!index) {
    index = new Map();
    for (const key in directory) note(index, key, directory[key] as AdEntry);
    indexes.set(directory, index);
  }
  return index;
}

/**
 * Records a write: `to` is the directory made from `from` (or `from` itself, written in place), `entry`
 * what `key` now holds (absent when it was deleted). Every write to a directory goes through here.
 */
export function noteWrite(from: Directory, to: Directory, key: string, entry: AdEntry | undefined): void {
  if (to === from) memberOfIndexes.delete(to);
  const index = indexes.get(from);
  if (!index) return;
  if (to !== from) indexes.set(to, index);
  if (entry) note(index, key, entry);
}

/**
 * The entry whose first value of an indexed `attribute` equals `value`, case-insensitively. AD keeps these
 * values unique; should two entries hold one anyway, the oldest wins, as a scan of the directory finds it.
 */
export function findIndexed(directory: Directory, attribute: string, value: string): AdEntry | undefined {
  const lower = attribute.toLowerCase();
  if (!INDEXED.has(lower)) throw new Error(`findIndexed: ${attribute} is not indexed`);
  const wanted = value.toLowerCase();
  for (const key of candidateKeys(directory, lower, wanted)) {
    const e = directory[key] as AdEntry;
    if (firstValue(e, lower)?.toLowerCase() === wanted) return e;
  }
  return undefined;
}

function firstValue(e: AdEntry, lowerName: string): string | undefined {
  for (const name in e.attributes) if (name.toLowerCase() === lowerName) return e.attributes[name]?.[0];
  return undefined;
}

export const isIndexed = (attribute: string): boolean => INDEXED.has(attribute.toLowerCase());

/**
 * Keys of the entries that may hold `value` in an indexed attribute (case-insensitively), oldest entry
 * first (uSNCreated: the order the directory holds them in); a superset the caller filters.
 */
export function candidateKeys(directory: Directory, attribute: string, value: string): string[] {
  const keys = indexOf(directory).get(attribute.toLowerCase())?.get(value.toLowerCase());
  if (!keys) return [];
  const present = [...keys].filter((k) => directory[k] !== undefined);
  if (present.length < 2) return present;
  const created = (k: string) => Number(firstValue(directory[k] as AdEntry, 'usncreated') ?? Infinity);
  return present.sort((a, b) => created(a) - created(b) || (a < b ? -1 : a > b ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------------
// memberOf

const memberOfIndexes = new WeakMap<Directory, Map<string, string[]>>();

/** Groups whose `member` names each entry (the memberOf back-link), by entry key; one build per directory. */
export function memberOfIndex(directory: Directory): Map<string, string[]> {
  let index = memberOfIndexes.get(directory);
  if (index) return index;
  index = new Map<string, string[]>();
  for (const key in directory) {
    const e = directory[key] as AdEntry;
    for (const name in e.attributes) {
      if (name.toLowerCase() !== 'member') continue;
      for (const m of e.attributes[name] ?? []) {
        const k = dnKey(m);
        const list = index.get(k);
        if (list) list.push(e.dn);
        else index.set(k, [e.dn]);
      }
    }
  }
  memberOfIndexes.set(directory, index);
  return index;
}
