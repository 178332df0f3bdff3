import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { Grammar, NameAddrHeader, URI } from 'sip.js';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../test/support/scenarios.js';
import { cachedParse } from './sip.grammar.js';

type Parse = (input: string, rule: string) => unknown;
// sip.js's own grammar (the process may have the cache installed: take the one it wraps).
const pegjs = (await import('../../node_modules/sip.js/lib/grammar/pegjs/dist/grammar.js')) as unknown as { parse(input: string, options: { startRule: string; data?: unknown }): void };
const grammar: Parse = (input, startRule) => {
  const options: { startRule: string; data?: unknown } = { startRule };
  try {
    pegjs.parse(input, options);
  } catch {
    options.data = -1;
  }
  return options.data;
};

/** What a parse result means, with parameter order left out (the cache puts `tag`/`branch` back last). */
function canon(v: unknown): unknown {
  const sorted = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
  if (v instanceof URI) return { raw: (v as unknown as { raw: unknown }).raw, normal: (v as unknown as { normal: unknown }).normal, parameters: sorted(v.parameters), headers: sorted(v.headers) };
  if (v instanceof NameAddrHeader) return { displayName: v.displayName, uri: canon(v.uri), parameters: sorted(v.parameters) };
  if (Array.isArray(v)) return v.map(canon);
  if (v && typeof v === 'object') return sorted(Object.fromEntries(Object.entries(v).map(([k, x]) => [k, canon(x)])));
  return v;
}

const RULES: Record<string, string> = { Via: 'Via', From: 'From', To: 'To', Contact: 'Contact', 'Call-ID': 'Call_ID', CSeq: 'CSeq', 'Content-Length': 'Content_Length', 'Max-Forwards': 'Max_Forwards', 'Content-Type': 'Content_Type' };

/** Header values from real traffic (pidgin-sipe and the lab's Communicator against the front end). */
const corpus = readFileSync(`${projectRoot}/test/fixtures/sip-header-corpus.txt`, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((line) => {
    const m = /^([A-Za-z-]+): (.*)$/.exec(line);
    return m && RULES[m[1] as string] ? { rule: RULES[m[1] as string] as string, value: m[2] as string } : { rule: 'Request_Response', value: line };
  });

function agrees(parse: Parse, rule: string, value: string): void {
  const want = canon(grammar(value, rule));
  // The first time (a miss) and again (a hit, a copy of what was kept).
  expect(canon(parse(value, rule)), `${rule}: ${value}`).toEqual(want);
  expect(canon(parse(value, rule)), `${rule} again: ${value}`).toEqual(want);
}

describe("the grammar cache gives sip.js's grammar's answers", () => {
  it(`on ${corpus.length} header values of real traffic`, () => {
    const parse = cachedParse(grammar);
    for (const { rule, value } of corpus) agrees(parse, rule, value);
  });

  it('on generated From/To/Via values: any tag or branch, spacing, case, and repeated or missing ones', () => {
    const parse = cachedParse(grammar, 64);
    const token = fc.stringMatching(/^[A-Za-z0-9.!%*_+`'~-]{1,12}$/);
    const junk = fc.constantFrom('', ';epid=ab12', ';x=Y', ';tag=second', ';branch=again', ' ;tag = t1', ';TAG=Up', ';lr', '>', ';tag=', ';tag="q"');
    // A tag inside the angle brackets is a URI parameter, and a display name may hold anything.
    fc.assert(
      fc.property(fc.constantFrom('From', 'To'), token, fc.constantFrom('<sip:a@b;tag=', '"Bob;tag=x;" <sip:a@b>;tag=', '"x" <sip:a@b;tag=q>;tag=', 'sip:a@b;transport=tcp;tag='), fc.constantFrom('', ';transport=tcp>', '>', '>;epid=1'), (rule, tag, head, tail) => {
        agrees(parse, rule, `${head}${tag}${tail}`);
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.constantFrom('From', 'To'), fc.constantFrom('<sip:ocsuser1@example.com>', '"OCS User 1" <sip:ocsuser1@example.com;transport=tcp>', 'sip:ocsuser2@example.com', '<sips:a@b.c:5061>'), fc.constantFrom(';tag=', '; tag=', ';Tag='), token, junk, (rule, addr, sep, tag, tail) => {
        agrees(parse, rule, `${addr}${sep}${tag}${tail}`);
        agrees(parse, rule, `${addr}${tail}`);
      }),
      { numRuns: 400 },
    );
    fc.assert(
      fc.property(fc.constantFrom('SIP/2.0/TCP 127.0.0.1:5060', 'SIP/2.0/TLS ocsfe01.corp.example.net', 'SIP/2.0/WSS abc.invalid', 'SIP/2.0/tcp 127.0.0.1:49194'), token, junk, fc.constantFrom('', ';rport', ';received=1.2.3.4', ';ms-received-port=1'), (start, branch, tail, more) => {
        agrees(parse, 'Via', `${start};branch=${branch}${more}${tail}`);
        agrees(parse, 'Via', `${start}${more}${tail}`);
      }),
      { numRuns: 400 },
    );
  });

  it('on CSeq, Content-Length and Max-Forwards, plain or not', () => {
    const parse = cachedParse(grammar);
    for (const v of ['1 REGISTER', '4294967295 INVITE', '12  MESSAGE', '7 register', 'x REGISTER', '1', ' 2 BYE']) agrees(parse, 'CSeq', v);
    for (const v of ['0', '070', '999999999', '1e3', '-1', '', '12345678901']) {
      agrees(parse, 'Content_Length', v);
      agrees(parse, 'Max_Forwards', v);
    }
  });

  it('hands out copies: changing one answer changes neither the next nor the kept one', () => {
    const parse = cachedParse(grammar);
    const a = parse('<sip:a@example.com>;tag=1', 'From') as NameAddrHeader;
    a.setParam('tag', 'changed');
    a.uri.setParam('transport', 'udp');
    const b = parse('<sip:a@example.com>;tag=2', 'From') as NameAddrHeader;
    expect(b.getParam('tag')).toBe('2');
    expect(b.uri.hasParam('transport')).toBe(false);
    const v = parse('SIP/2.0/TCP h;branch=z9hG4bK1;x=1', 'Via') as { branch: string; params: Record<string, unknown> };
    v.params.y = 'changed';
    const w = parse('SIP/2.0/TCP h;branch=z9hG4bK2;x=1', 'Via') as { branch: string; params: unknown };
    expect(isDeepStrictEqual(w.params, { x: '1' })).toBe(true);
    expect(w.branch).toBe('z9hG4bK2');
  });

  it('keeps at most its bound of values, however many different ones come', () => {
    const parse = cachedParse(grammar, 100);
    for (let i = 0; i < 1000; i++) parse(`<sip:user${i}@example.com>;tag=${i}`, 'From');
    expect(parse.size()).toBe(100);
  });

  it('is what sip.js parses with once the front end is loaded', async () => {
    await import('./ocs.sip.adapter.js');
    const g = Grammar as unknown as { parse: Parse };
    expect(canon(g.parse('<sip:x@example.com>;tag=9', 'From'))).toEqual(canon(grammar('<sip:x@example.com>;tag=9', 'From')));
    expect(g.parse.name).not.toBe('parse');
  });
});
