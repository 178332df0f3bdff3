/** compileFilter against the reference evaluation, on generated filters and entries (issue 13). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compileFilter, matches, parseFilter } from './ad.filter.js';
const attrs = ['cn', 'objectCategory', 'userAccountControl', 'member', 'mail'];
const syntax = (a: string) => (a === 'useraccountcontrol' ? '2.5.5.9' : a === 'member' ? '2.5.5.1' : undefined);
const categoryDn = (s: string) => (s === 'person' ? 'CN=Person,CN=Schema,CN=Configuration,DC=x' : undefined);
const val = fc.constantFrom('a', 'B', 'ab*', '2', '512', 'person', 'CN=Person,CN=Schema,CN=Configuration,DC=x', 'cn=A,dc=x', 'CN=a, DC=X', '\\2a');
const leaf = fc.tuple(fc.constantFrom(...attrs), fc.constantFrom('=', '>=', '<=', '~=', ':1.2.840.113556.1.4.803:=', '=*'), val).map(([a, op, v]) => (op === '=*' ? `(${a}=*)` : `(${a}${op}${v})`));
const sub = fc.tuple(fc.constantFrom(...attrs), fc.constantFrom('a*', '*b', 'a*b', '*a*')).map(([a, p]) => `(${a}=${p})`);
const { tree } = fc.letrec((tie) => ({ tree: fc.oneof({ depthSize: 'small' }, leaf, sub, fc.array(tie('tree'), { minLength: 1, maxLength: 5 }).map((xs) => `(|${xs.join('')})`), fc.array(tie('tree'), { minLength: 1, maxLength: 3 }).map((xs) => `(&${xs.join('')})`), tie('tree').map((x) => `(!${x})`)) }));
const entry = fc.dictionary(fc.constantFrom(...attrs.map((a) => a.toLowerCase())), fc.array(val, { maxLength: 3 }));
describe('compiled filters', () => {
  it('give the same answer as matches() for any filter and entry (grouped ORs, NOT, integers, DNs, objectCategory, substrings, bit rules)', () => {
    fc.assert(
      fc.property(tree as fc.Arbitrary<string>, entry, (f, e) => {
        const n = parseFilter(f);
        if (!n) return;
        const values = (a: string) => e[a];
        expect(compileFilter(n, { syntax, categoryDn }).test(values)).toBe(matches(n, { values, syntax, categoryDn }));
      }),
      { numRuns: 3000 },
    );
  });
});
