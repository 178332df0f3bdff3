/**
 * sip.js's header grammar, remembered. sip.js parses every message's start line and its Via, From, To,
 * Call-ID, CSeq, Contact, Content-Length and Max-Forwards with its PEG grammar, and under a sign-in load
 * that was most of the front end's CPU (issue 11's profile: 40 % of a REGISTER). Those values repeat:
 * a client sends the same start line, Contact and Call-ID again and again, and its From, To and Via
 * differ only by their tag or branch. So `Grammar.parse` is wrapped, once per process, with a bounded
 * cache of the grammar's own results:
 * - the value is looked up with its `tag` (From, To) or `branch` (Via) taken out, and the result given
 *   back with it put in again — the grammar's result for the whole value, its parameters in another order;
 * - CSeq, Content-Length and Max-Forwards in their plain forms (`12 REGISTER`, `0`) are read directly,
 *   to the same values the grammar gives;
 * - every hit is a copy (callers may change what they get);
 * - anything else goes to the grammar unchanged. The cache holds at most `MAX_ENTRIES` values, least
 *   recently used first out, so hostile input cannot grow it.
 * `sip.grammar.test.ts` compares it with the grammar on real traffic and on generated values.
 */
import { Grammar, NameAddrHeader, URI } from 'sip.js';

export const MAX_ENTRIES = 4096;
/** Values longer than this are not remembered (a long value is rare and would crowd the cache). */
const MAX_KEY = 512;

type Parse = (input: string, startRule: string) => unknown;

const TOKEN = "[A-Za-z0-9.!%*_+`'~-]+";
const TAG = new RegExp(`;[ \\t]*tag[ \\t]*=[ \\t]*(${TOKEN})(?=[ \\t]*(?:;|$))`, 'i');
const BRANCH = new RegExp(`;[ \\t]*branch[ \\t]*=[ \\t]*(${TOKEN})(?=[ \\t]*(?:;|$))`, 'i');
const CSEQ = /^(\d{1,9})[ \t]+([A-Z]+)$/;
const DIGITS = /^\d{1,9}$/;

interface Contact {
  position: number;
  offset: number;
  parsed: NameAddrHeader;
}

const isNameAddr = (v: unknown): v is NameAddrHeader => v instanceof NameAddrHeader;

/** A copy of a URI as the grammar built it (sip.js's own clone turns a missing user into ""). */
function copyUri(u: URI): URI {
  const raw = (u as unknown as { raw: { scheme: string; user?: string; host: string; port?: number } }).raw;
  const headers = Object.fromEntries(Object.entries(u.headers).map(([k, v]) => [k, [...(v as string[])]]));
  return new URI(raw.scheme, raw.user as string, raw.host, raw.port, { ...u.parameters }, headers);
}

const copyNameAddr = (h: NameAddrHeader): NameAddrHeader => new NameAddrHeader(copyUri(h.uri), (h as unknown as { _displayName?: string })._displayName as string, { ...h.parameters } as Record<string, string>);

/** A copy of what the grammar gave, safe to hand out again. */
function copy(rule: string, v: unknown): unknown {
  if (v === -1 || v === null || typeof v !== 'object') return v;
  if (isNameAddr(v)) return copyNameAddr(v);
  if (rule === 'Contact' && Array.isArray(v)) return (v as Contact[]).map((c) => ({ ...c, parsed: copyNameAddr(c.parsed) }));
  if (rule === 'Via') {
    const via = v as { params?: Record<string, unknown> };
    return { ...via, ...(via.params ? { params: { ...via.params } } : {}) };
  }
  if (rule === 'Request_Response') {
    const line = v as { uri?: URI };
    return line.uri ? { ...line, uri: copyUri(line.uri) } : { ...line };
  }
  return undefined;
}

const CACHED = new Set(['Request_Response', 'Via', 'From', 'To', 'Contact', 'Call_ID', 'Content_Type']);

/** Wraps a grammar's parse with the cache (exported for the tests; `installGrammarCache` wraps sip.js's). */
export function cachedParse(original: Parse, maxEntries = MAX_ENTRIES): Parse & { size(): number } {
  const cache = new Map<string, unknown>();
  const remember = (key: string, v: unknown) => {
    if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
    cache.set(key, v);
  };
  const lookup = (rule: string, value: string): unknown => {
    const key = `${rule}\u0000${value}`;
    const hit = cache.get(key);
    if (hit !== undefined) {
      cache.delete(key);
      cache.set(key, hit);
      return copy(rule, hit);
    }
    const v = original(value, rule);
    if (v === -1 || v === null || typeof v !== 'object') {
      remember(key, v);
      return v;
    }
    // Only what this module knows how to copy is kept: the grammar's own object stays in the cache, the
    // caller gets the copy.
    const handed = copy(rule, v);
    if (handed === undefined) return v;
    remember(key, v);
    return handed;
  };
  const cachedGrammarParse = (input: string, rule: string): unknown => {
    if (typeof input !== 'string' || input.length > MAX_KEY) return original(input, rule);
    switch (rule) {
      case 'CSeq': {
        const m = CSEQ.exec(input);
        return m ? { value: Number(m[1]), method: m[2] } : original(input, rule);
      }
      case 'Content_Length':
      case 'Max_Forwards':
        return DIGITS.test(input) ? Number(input) : original(input, rule);
      case 'From':
      case 'To': {
        // Only a header parameter: after the `>` of a name-addr (inside it, `;tag=` is a URI parameter),
        // and never in a value with quotes (a display name may say anything).
        if (input.includes('"')) return lookup(rule, input);
        const t = TAG.exec(input.slice(input.lastIndexOf('>') + 1));
        if (t) t.index += input.lastIndexOf('>') + 1;
        if (!t || TAG.test(input.slice((t.index ?? 0) + t[0].length))) return t ? original(input, rule) : lookup(rule, input);
        const base = lookup(rule, input.slice(0, t.index) + input.slice(t.index + t[0].length));
        if (!isNameAddr(base)) return original(input, rule);
        base.setParam('tag', t[1] as string);
        return base;
      }
      case 'Via': {
        if (input.includes('"')) return lookup(rule, input);
        const b = BRANCH.exec(input);
        if (!b || BRANCH.test(input.slice(b.index + b[0].length))) return b ? original(input, rule) : lookup(rule, input);
        const base = lookup(rule, input.slice(0, b.index) + input.slice(b.index + b[0].length));
        if (base === -1 || typeof base !== 'object' || base === null) return original(input, rule);
        (base as { branch?: string }).branch = b[1];
        return base;
      }
      default:
        return CACHED.has(rule) ? lookup(rule, input) : original(input, rule);
    }
  };
  return Object.assign(cachedGrammarParse, { size: () => cache.size });
}

let installed = false;

/** Puts the cache in front of sip.js's grammar, once per process (server and client share it). */
export function installGrammarCache(): void {
  if (installed) return;
  installed = true;
  const g = Grammar as unknown as { parse: Parse };
  g.parse = cachedParse(g.parse.bind(Grammar));
}
