/**
 * Enhanced presence documents ([MS-PRES]) without a wire: what a category publish does to a user's
 * publications, what a colleague sees, the documents sent to clients and read back, and how unreadable
 * or hostile bodies are refused. Property runs use a fixed seed, so a failure replays.
 */
import fc from 'fast-check';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import {
  aggregate,
  applyPublish,
  AVAILABILITY_NUMBERS,
  availabilityName,
  categoriesDocument,
  contactDeltaDocument,
  contactListDocument,
  MAX_PUBLICATIONS_PER_REQUEST,
  MAX_PUBLICATIONS_PER_USER,
  MAX_RESOURCES_PER_BATCH,
  noteText,
  parseBatchSubscribe,
  parseCategories,
  parseContactList,
  parsePublish,
  parseSoap,
  parseWrongDelta,
  publicationKey,
  roamingSelfDocument,
  soapResponse,
  stateAvailability,
  stateType,
  wrongDeltaFault,
  xmlEscape,
  type ContactListView,
  type Publication,
  type PublicationRequest,
} from './ocs.presence.js';

const SEED = 20090204;
const SELF = 'sip:ocsuser1@example.com';
const NS_STATE = 'http://schemas.microsoft.com/2006/09/sip/state';
const NS_NOTE = 'http://schemas.microsoft.com/2006/09/sip/note';
/** Communicator's user state instance (0x20000000). */
const USER_STATE = 536870912;

interface Pub {
  name: string;
  instance: number;
  container: number;
  version?: number;
  expireType?: string;
  expires?: number;
  xml?: string;
}

const stateXml = (type: 'userState' | 'machineState', availability: number) =>
  `<state xmlns="${NS_STATE}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" manual="${type === 'userState'}" xsi:type="${type}"><availability>${availability}</availability></state>`;
const noteXml = (text: string) => `<note xmlns="${NS_NOTE}"><body type="personal" uri="">${xmlEscape(text)}</body></note>`;

/** A category-publish body as Communicator writes it ([MS-PRES] 4.3). */
function publishBody(pubs: Pub[], uri = SELF): string {
  const items = pubs.map((p) => {
    const a = [`categoryName="${p.name}"`, `instance="${p.instance}"`, `container="${p.container}"`, `version="${p.version ?? 0}"`, `expireType="${p.expireType ?? 'static'}"`, ...(p.expires !== undefined ? [`expires="${p.expires}"`] : [])];
    return p.xml === undefined ? `<publication ${a.join(' ')}/>` : `<publication ${a.join(' ')}>${p.xml}</publication>`;
  });
  return `<publish xmlns="http://schemas.microsoft.com/2006/09/sip/rich-presence"><publications uri="${xmlEscape(uri)}">${items.join('')}</publications></publish>`;
}

const at = (t: number) => new Date(Date.UTC(2009, 1, 4, 9, 0, t)).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Parses and applies a publish body at second `t`; throws (a test bug) when either step refuses it. */
function publish(current: ReadonlyMap<string, Publication>, pubs: Pub[], t = 0): Map<string, Publication> {
  const r = parsePublish(publishBody(pubs), SELF);
  if (!r.ok) throw new Error(r.failure.message);
  const out = applyPublish(current, r.value, { publishTime: at(t), endpoint: SELF, now: t * 1000 });
  if (!out.ok) throw new Error(`refused: ${JSON.stringify(out)}`);
  return out.publications;
}

const pub = (name: string, container: number, xml: string, t = 0, instance = 0): Publication => ({ name, instance, container, version: 1, expireType: 'static', xml, publishTime: at(t) });
const tags = (xml: string) => (xml.match(/</g) ?? []).length;

/** Text built from the characters XML is picky about, with no leading or trailing space (readers trim). */
const HOSTILE = ['"', "'", '<', '>', '&', ']]>', '<![CDATA[', '&amp;', '&lt;', '&#60;', '</body>', '<x a="1"/>', '-->', '<!--', 'é', '中', '😀', 'a', 'Z', ' ', '=', '/', ';'];
const hostile = fc
  .array(fc.constantFrom(...HOSTILE), { minLength: 1, maxLength: 12 })
  .map((a) => a.join(''))
  .filter((s) => s.trim() === s);

describe('availabilityName', () => {
  it('names every range at both of its boundaries ([MS-PRES] 3.7.5.1.1)', () => {
    const cases: Array<[number, string]> = [
      [0, 'Offline'],
      [2999, 'Offline'],
      [3000, 'Available'],
      [4499, 'Available'],
      [4500, 'Inactive'],
      [5999, 'Inactive'],
      [6000, 'Busy'],
      [7499, 'Busy'],
      [7500, 'Busy-Idle'],
      [8999, 'Busy-Idle'],
      [9000, 'Do Not Disturb'],
      [11999, 'Do Not Disturb'],
      [12000, 'Be Right Back'],
      [14999, 'Be Right Back'],
      [15000, 'Away'],
      [17999, 'Away'],
      [18000, 'Offline'],
      [18500, 'Offline'],
    ];
    expect(cases.map(([n]) => [n, availabilityName(n)])).toEqual(cases);
  });

  it('names each number Communicator publishes as the state it was published for', () => {
    for (const [name, n] of Object.entries(AVAILABILITY_NUMBERS)) expect(availabilityName(n)).toBe(name);
  });
});

describe('category publish', () => {
  it('reads each publication with its category document as written, and stores it at version 1', () => {
    const r = parsePublish(publishBody([{ name: 'state', instance: USER_STATE, container: 2, xml: stateXml('userState', 6500) }, { name: 'note', instance: 0, container: 200, xml: noteXml('In a meeting') }]), SELF);
    expect(r).toEqual({
      ok: true,
      value: [
        { name: 'state', instance: USER_STATE, container: 2, version: 0, expireType: 'static', xml: stateXml('userState', 6500) },
        { name: 'note', instance: 0, container: 200, version: 0, expireType: 'static', xml: noteXml('In a meeting') },
      ],
    });
    const stored = publish(new Map(), [{ name: 'note', instance: 0, container: 200, xml: noteXml('In a meeting') }], 5);
    expect([...stored.values()]).toEqual([{ name: 'note', instance: 0, container: 200, version: 1, expireType: 'static', xml: noteXml('In a meeting'), publishTime: at(5), endpoint: SELF }]);
  });

  it('refuses a publish for another user, and one without publications, their attributes or their documents', () => {
    const kinds = [
      parsePublish(publishBody([{ name: 'note', instance: 0, container: 200, xml: noteXml('x') }], 'sip:ocsuser2@example.com'), SELF),
      parsePublish('<publish><publications uri="sip:ocsuser1@example.com"/></publish>', SELF),
      parsePublish('<publish/>', SELF),
      parsePublish('<categories/>', SELF),
      parsePublish(publishBody([{ name: '1bad', instance: 0, container: 200, xml: '<x/>' }]), SELF),
      parsePublish(publishBody([{ name: 'note', instance: -1, container: 200, xml: '<x/>' }]), SELF),
      parsePublish(publishBody([{ name: 'note', instance: 4294967296, container: 200, xml: '<x/>' }]), SELF),
      parsePublish(publishBody([{ name: 'note', instance: 0, container: 200, expireType: 'forever', xml: '<x/>' }]), SELF),
      parsePublish(publishBody([{ name: 'note', instance: 0, container: 200 }]), SELF),
    ].map((r) => (r.ok ? 'accepted' : r.failure.kind));
    expect(kinds).toEqual(Array(9).fill('presence.badPublication'));
  });

  it(`takes ${MAX_PUBLICATIONS_PER_REQUEST} publications in one request and refuses one more`, () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => ({ name: 'note', instance: i, container: 200, xml: noteXml(`n${i}`) }));
    expect(parsePublish(publishBody(many(MAX_PUBLICATIONS_PER_REQUEST)), SELF).ok).toBe(true);
    const over = parsePublish(publishBody(many(MAX_PUBLICATIONS_PER_REQUEST + 1)), SELF);
    expect(over.ok ? undefined : over.failure.message).toContain(`more than ${MAX_PUBLICATIONS_PER_REQUEST}`);
  });

  it(`refuses a publish that would leave a user more than ${MAX_PUBLICATIONS_PER_USER} category instances`, () => {
    const full = new Map(Array.from({ length: MAX_PUBLICATIONS_PER_USER }, (_, i) => pub('note', 300, noteXml('x'), 0, i)).map((p) => [publicationKey(p), p]));
    const one: PublicationRequest = { name: 'note', instance: 999, container: 200, version: 0, expireType: 'static', xml: noteXml('x') };
    expect(applyPublish(full, [one], { publishTime: at(1), endpoint: SELF, now: 1000 })).toEqual({ ok: false, tooMany: true });
    const replace: PublicationRequest = { name: 'note', instance: 0, container: 300, version: 1, expireType: 'static', xml: noteXml('y') };
    expect(applyPublish(full, [replace], { publishTime: at(1), endpoint: SELF, now: 1000 }).ok).toBe(true);
  });

  it('raises the version on each publish of an instance and removes it on expires="0" (with its current version)', () => {
    let p = publish(new Map(), [{ name: 'note', instance: 0, container: 200, xml: noteXml('one') }]);
    p = publish(p, [{ name: 'note', instance: 0, container: 200, version: 1, xml: noteXml('two') }], 1);
    expect(p.get('note|0|200')?.version).toBe(2);
    expect(noteText(p.get('note|0|200')?.xml ?? '')?.text).toBe('two');
    p = publish(p, [{ name: 'note', instance: 0, container: 200, version: 2, expires: 0 }], 2);
    expect(p.size).toBe(0);
    // A request made in code, with its document still attached, is a removal all the same.
    const again = publish(new Map(), [{ name: 'note', instance: 0, container: 200, xml: noteXml('one') }]);
    const removal: PublicationRequest = { name: 'note', instance: 0, container: 200, version: 1, expireType: 'static', expires: 0, xml: noteXml('one') };
    expect(applyPublish(again, [removal], { publishTime: at(3), endpoint: SELF, now: 3000 })).toEqual({ ok: true, publications: new Map() });
  });

  it('an expires="0" with a stale version is a conflict, not a removal', () => {
    const p = publish(new Map(), [{ name: 'note', instance: 0, container: 200, xml: noteXml('one') }]);
    const r = parsePublish(publishBody([{ name: 'note', instance: 0, container: 200, version: 5, expires: 0 }]), SELF);
    expect(r.ok && applyPublish(p, r.value, { publishTime: at(1), endpoint: SELF, now: 1000 })).toMatchObject({ ok: false, conflicts: [{ index: 1, curVersion: 1 }] });
  });

  it('gives a time publication its end on the caller\'s clock', () => {
    const p = publish(new Map(), [{ name: 'note', instance: 0, container: 200, expireType: 'time', expires: 60, xml: noteXml('back soon') }], 10);
    expect(p.get('note|0|200')).toMatchObject({ expireType: 'time', expiresAt: 70_000 });
  });

  it('refuses a publish with stale versions whole, naming each stale publication by its 1-based index and current version', () => {
    const current = publish(new Map(), [
      { name: 'state', instance: USER_STATE, container: 2, xml: stateXml('userState', 3500) },
      { name: 'note', instance: 0, container: 200, xml: noteXml('old') },
    ]);
    const snapshot = new Map(current);
    const r = parsePublish(
      publishBody([
        { name: 'state', instance: USER_STATE, container: 2, version: 1, xml: stateXml('userState', 6500) }, // current
        { name: 'note', instance: 0, container: 200, version: 0, xml: noteXml('new') }, // stale: it is at 1
        { name: 'note', instance: 0, container: 300, version: 4, xml: noteXml('new') }, // stale: not published, so 0
      ]),
      SELF,
    );
    if (!r.ok) throw new Error(r.failure.message);
    const out = applyPublish(current, r.value, { publishTime: at(1), endpoint: SELF, now: 1000 });
    if (out.ok || !('conflicts' in out)) throw new Error('the stale publish was applied');
    expect(out.conflicts.map((c) => ({ index: c.index, curVersion: c.curVersion }))).toEqual([
      { index: 2, curVersion: 1 },
      { index: 3, curVersion: 0 },
    ]);
    expect(current).toEqual(snapshot);
    expect(parseWrongDelta(wrongDeltaFault(out.conflicts))).toEqual([
      { index: 2, curVersion: 1 },
      { index: 3, curVersion: 0 },
    ]);
  });

  it('property: a publish applies when every version is current and otherwise names exactly the stale ones, leaving the publications as they were', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ instance: fc.integer({ min: 0, max: 5 }), container: fc.constantFrom(2, 3, 200, 300), version: fc.integer({ min: 1, max: 4 }) }), { selector: (x) => `${x.instance}|${x.container}`, maxLength: 8 }),
        fc.array(fc.record({ instance: fc.integer({ min: 0, max: 5 }), container: fc.constantFrom(2, 3, 200, 300), version: fc.integer({ min: 0, max: 4 }), remove: fc.boolean() }), { minLength: 1, maxLength: 8 }),
        (have, want) => {
          const current = new Map(have.map((h) => [`note|${h.instance}|${h.container}`, { ...pub('note', h.container, noteXml('x'), 0, h.instance), version: h.version }]));
          const before = JSON.stringify([...current]);
          const requests: PublicationRequest[] = want.map((w) => ({ name: 'note', instance: w.instance, container: w.container, version: w.version, expireType: 'static', ...(w.remove ? { expires: 0 } : { xml: noteXml('y') }) }));
          const out = applyPublish(current, requests, { publishTime: at(1), endpoint: SELF, now: 1000 });
          const stale = requests.flatMap((r, i) => (r.version !== (current.get(publicationKey(r))?.version ?? 0) ? [i + 1] : []));
          expect(JSON.stringify([...current])).toBe(before);
          if (stale.length) {
            expect(out.ok).toBe(false);
            expect('conflicts' in out && out.conflicts.map((c) => c.index)).toEqual(stale);
          } else {
            expect(out.ok).toBe(true);
          }
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });
});

describe('aggregation: what a colleague sees', () => {
  it('a userState beats every machineState, even a more available one', () => {
    const view = aggregate({ online: true, publications: [pub('state', 2, stateXml('machineState', 3500)), pub('state', 2, stateXml('userState', 9500), 0, USER_STATE)] });
    expect(view.availability).toBe(9500);
  });

  it('the newest userState wins, in whichever order the instances are held', () => {
    const older = pub('state', 3, stateXml('userState', 15500), 1, USER_STATE);
    const newer = pub('state', 2, stateXml('userState', 6500), 2, USER_STATE);
    expect(aggregate({ online: true, publications: [older, newer] })).toMatchObject({ availability: 6500, publishTime: at(2) });
    expect(aggregate({ online: true, publications: [newer, older] })).toMatchObject({ availability: 6500, publishTime: at(2) });
  });

  it('without a userState, the most available machineState wins', () => {
    const view = aggregate({ online: true, publications: [pub('state', 2, stateXml('machineState', 15500), 0, 1), pub('state', 3, stateXml('machineState', 3500), 0, 2), pub('state', 2, stateXml('machineState', 6500), 0, 3)] });
    expect(view.availability).toBe(3500);
  });

  it('a signed-in user with no state in containers 2 or 3 is Available; one not signed in is Offline whatever it published', () => {
    const elsewhere = [pub('state', 200, stateXml('userState', 9500), 0, USER_STATE), pub('state', 400, stateXml('userState', 9500), 0, USER_STATE)];
    expect(aggregate({ online: true, publications: elsewhere }).availability).toBe(AVAILABILITY_NUMBERS.Available);
    expect(aggregate({ online: true, publications: [] }).availability).toBe(AVAILABILITY_NUMBERS.Available);
    expect(aggregate({ online: false, publications: [pub('state', 2, stateXml('userState', 3500), 0, USER_STATE)] }).availability).toBe(AVAILABILITY_NUMBERS.Offline);
  });

  it('a state of availability 0 or none is not a state', () => {
    const view = aggregate({ online: true, publications: [pub('state', 2, stateXml('userState', 0), 0, USER_STATE), pub('state', 2, '<state xmlns="x"/>', 0, 1), pub('state', 3, stateXml('machineState', 12500), 0, 2)] });
    expect(view.availability).toBe(12500);
  });

  it('a PIDF publisher that said closed is Offline; open is Available, and its note is shown', () => {
    expect(aggregate({ online: true, publications: [], pidf: { open: false } }).availability).toBe(AVAILABILITY_NUMBERS.Offline);
    expect(aggregate({ online: true, publications: [], pidf: { open: true, note: 'lunch' } })).toMatchObject({ availability: AVAILABILITY_NUMBERS.Available, note: { text: 'lunch' } });
  });

  it('the note of container 200 wins over 400 and 300, whatever their order or age; 400 wins over 300', () => {
    const n = (c: number, text: string, t: number) => pub('note', c, noteXml(text), t);
    expect(aggregate({ online: true, publications: [n(300, 'three', 9), n(400, 'four', 8), n(200, 'colleagues', 1)] }).note?.text).toBe('colleagues');
    expect(aggregate({ online: true, publications: [n(200, 'colleagues', 1), n(400, 'four', 8), n(300, 'three', 9)] }).note?.text).toBe('colleagues');
    expect(aggregate({ online: true, publications: [n(300, 'three', 9), n(400, 'four', 1)] }).note?.text).toBe('four');
    expect(aggregate({ online: false, publications: [n(300, 'three', 9), n(200, 'colleagues', 1)] }).note?.text).toBe('colleagues');
  });

  it('the aggregation containers are never a note source, and an empty note is no note', () => {
    const view = aggregate({ online: true, publications: [pub('note', 2, noteXml('two')), pub('note', 3, noteXml('three')), pub('note', 200, '<note xmlns="x"><body type="personal"></body></note>')] });
    expect(view.note).toBeUndefined();
  });

  it('reads a state document\'s availability and xsi:type, and a note\'s text and type', () => {
    expect([stateAvailability(stateXml('machineState', 3500)), stateType(stateXml('machineState', 3500))]).toEqual([3500, 'machineState']);
    expect(stateAvailability('<note/>')).toBeUndefined();
    expect(noteText(`<note xmlns="${NS_NOTE}"><body type="OOF" uri="">away until Monday</body></note>`)).toEqual({ text: 'away until Monday', type: 'OOF' });
  });
});

describe('documents and their readers: round trips', () => {
  it('property: a published state and note reach a watcher\'s categories document unchanged, and nothing in the text becomes markup', () => {
    fc.assert(
      fc.property(fc.integer({ min: 3000, max: 17999 }), hostile, hostile, (availability, note, name) => {
        const p = publish(new Map(), [
          { name: 'state', instance: USER_STATE, container: 2, xml: stateXml('userState', availability) },
          { name: 'note', instance: 0, container: 200, xml: noteXml(note) },
        ]);
        const view = aggregate({ publications: p.values(), online: true });
        const doc = categoriesDocument(SELF, view, { publishTime: at(0), card: { displayName: name, email: 'ocsuser1@example.com' } });
        expect(parseCategories(doc)).toEqual({ uri: SELF, availability, note, displayName: name });
        const plain = categoriesDocument(SELF, { ...view, note: { text: 'n', type: 'personal' } }, { publishTime: at(0), card: { displayName: 'd', email: 'ocsuser1@example.com' } });
        expect(tags(doc)).toBe(tags(plain));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('sends only the categories asked for', () => {
    const view = { availability: 6500, note: { text: 'n', type: 'personal' } };
    const doc = categoriesDocument(SELF, view, { publishTime: at(0), categories: ['state'], card: { displayName: 'OCS User1' } });
    expect(parseCategories(doc)).toEqual({ uri: SELF, availability: 6500 });
  });

  it('property: a contact list document reads back as the list it was made from, hostile names and all', () => {
    const uri = fc.tuple(fc.stringMatching(/^[a-z0-9._"'<>&-]{1,12}$/), fc.stringMatching(/^[a-z0-9.-]{1,12}$/)).map(([u, d]) => `sip:${u}@${d}`);
    const list = fc.record({
      deltaNum: fc.nat({ max: 0xffffffff }),
      groups: fc.uniqueArray(fc.record({ id: fc.integer({ min: 1, max: 64 }), name: hostile }), { selector: (g) => g.id, maxLength: 6 }),
      contacts: fc.array(fc.record({ uri, name: hostile, groups: fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 3 }), subscribed: fc.boolean() }), { maxLength: 6 }),
    });
    fc.assert(
      fc.property(list, (l: ContactListView) => {
        const doc = contactListDocument(l);
        expect(parseContactList(doc)).toEqual(l);
        expect(tags(doc)).toBe(1 + l.groups.length + l.contacts.length + 1);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('property: a WrongDelta fault reads back as the indexes and current versions it names, whatever the category names', () => {
    const conflicts = fc.array(fc.record({ index: fc.integer({ min: 1, max: 64 }), curVersion: fc.nat({ max: 0xffffffff }), name: hostile, instance: fc.nat(), container: fc.nat({ max: 400 }) }), { maxLength: 8 });
    fc.assert(
      fc.property(conflicts, (cs) => {
        const doc = wrongDeltaFault(cs.map((c) => ({ index: c.index, curVersion: c.curVersion, request: { name: c.name, instance: c.instance, container: c.container, version: 0, expireType: 'static' } })));
        expect(parseWrongDelta(doc)).toEqual(cs.map((c) => ({ index: c.index, curVersion: c.curVersion })));
        expect(tags(doc)).toBe(4 + cs.length + 2);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('a contact delta escapes what it names and counts from the previous deltaNum', () => {
    const evil = '"/><contact uri="x" a="&';
    const doc = contactDeltaDocument(7, [
      { kind: 'addedContact', uri: `sip:${evil}@x`, name: evil, groups: [1, 2], subscribed: true },
      { kind: 'deletedContact', uri: `sip:${evil}@y` },
      { kind: 'modifiedGroup', id: 2, name: evil },
      { kind: 'deletedGroup', id: 3 },
    ]);
    expect(XMLValidator.validate(doc)).toBe(true);
    expect(tags(doc)).toBe(1 + 4 + 1);
    expect(doc).toMatch(/^<contactDelta deltaNum="7" prevDeltaNum="6" /);
  });

  it('roaming-self gives the user its publications, each with container and version, in a stable order', () => {
    const p = publish(new Map(), [
      { name: 'note', instance: 0, container: 200, xml: noteXml('n') },
      { name: 'state', instance: USER_STATE, container: 2, xml: stateXml('userState', 6500) },
    ]);
    const doc = roamingSelfDocument(`sip:"<&@example.com`, p.values());
    expect(XMLValidator.validate(doc)).toBe(true);
    expect([...doc.matchAll(/<category name="(\w+)" instance="\d+" publishTime="[^"]+" container="(\d+)" version="(\d+)"/g)].map((m) => m.slice(1))).toEqual([
      ['note', '200', '1'],
      ['state', '2', '1'],
    ]);
    expect(doc).toContain(noteXml('n'));
  });

  it('a note published as CDATA stays character data: watchers read its text, and roaming-self stays well-formed', () => {
    const text = '</body><evil a="1"/>&amp;';
    const p = publish(new Map(), [{ name: 'note', instance: 0, container: 200, xml: `<note xmlns="${NS_NOTE}"><body type="personal" uri=""><![CDATA[${text}]]></body></note>` }]);
    expect(aggregate({ publications: p.values(), online: true }).note?.text).toBe(text);
    const self = roamingSelfDocument(SELF, p.values());
    expect(XMLValidator.validate(self)).toBe(true);
    const read = new XMLParser({ ignoreAttributes: true }).parse(self) as { roamingData: { categories: { category: { note: { body: unknown } } } } };
    expect(read.roamingData.categories.category.note.body).toBe(text);
  });
});

describe('refused bodies', () => {
  const readers: Array<[string, (xml: string) => boolean]> = [
    ['parsePublish', (x) => parsePublish(x, SELF).ok],
    ['parseBatchSubscribe', (x) => parseBatchSubscribe(x).ok],
    ['parseSoap', (x) => parseSoap(x).ok],
    ['parseCategories', (x) => parseCategories(x) !== undefined],
    ['parseWrongDelta', (x) => parseWrongDelta(x) !== undefined],
    ['parseContactList', (x) => parseContactList(x) !== undefined],
  ];
  const lol = Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`).join('');
  const dtds = {
    'a billion laughs': `<?xml version="1.0"?><!DOCTYPE publish [<!ENTITY lol0 "lol">${lol}]><publish>&lol9;</publish>`,
    'an external entity': '<!DOCTYPE contactList [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><contactList deltaNum="1"><group id="1" name="&xxe;"/></contactList>',
    'a lower-case doctype': '<!doctype batchSub><batchSub><action name="subscribe"/></batchSub>',
    'an external DTD': '<!DOCTYPE categories SYSTEM "http://dtd.invalid/categories.dtd"><categories uri="sip:a@b"/>',
  };

  it.each(Object.entries(dtds))('refuses %s in every reader, with presence.badXml where the reader gives a reason', (_, body) => {
    expect(readers.map(([name, accepts]) => [name, accepts(body)])).toEqual(readers.map(([name]) => [name, false]));
    for (const r of [parsePublish(body, SELF), parseBatchSubscribe(body), parseSoap(body)]) expect(r).toEqual({ ok: false, failure: { kind: 'presence.badXml', message: 'a DOCTYPE is not accepted' } });
  });

  const malformed = {
    empty: '',
    'plain text': 'hello',
    'an unclosed element': '<publish><publications>',
    'mismatched tags': '<Envelope><Body></Envelope></Body>',
    'a bare ampersand in text': '<categories uri="sip:a@b"><category name="note">a & b</category></categories>',
    'a bare < in text': '<contactList deltaNum="1">a < b</contactList>',
    'a repeated attribute': '<batchSub><action name="subscribe" name="unsubscribe"/></batchSub>',
    'an entity declaration without a DOCTYPE': '<?xml version="1.0"?><!ENTITY a "b"><Fault/>',
    'nesting past the parser\'s limit': `<Envelope><Body>${'<a>'.repeat(5000)}${'</a>'.repeat(5000)}</Body></Envelope>`,
    'a tag named for an Object prototype member': '<Envelope><Body><__proto__><URI>sip:a@b</URI></__proto__></Body></Envelope>',
  };

  it.each(Object.entries(malformed))('refuses %s in every reader', (_, body) => {
    expect(readers.map(([name, accepts]) => [name, accepts(body)])).toEqual(readers.map(([name]) => [name, false]));
    for (const r of [parsePublish(body, SELF), parseBatchSubscribe(body), parseSoap(body)]) expect(r.ok ? undefined : r.failure.kind).toMatch(/^presence\.bad/);
  });

  it('property: any text into any reader returns a value or a failure, and never throws', () => {
    const tokens = ['<publish>', '</publish>', '<publications uri="sip:ocsuser1@example.com">', '</publications>', '<publication categoryName="note" instance="0" container="200" version="0">', '</publication>', '<note>', '<body>', '</body>', '</note>', '<![CDATA[', ']]>', '<!--', '-->', '<?xml version="1.0"?>', '<!DOCTYPE x [', '<!ENTITY e "v">', '&e;', '&amp;', '&#0;', '&', '<', '>', '"', '=', ' ', '<Envelope>', '<Body>', '<setContact>', '<URI>sip:a@b</URI>', '</setContact>', '</Body>', '</Envelope>', '<batchSub>', '<action name="subscribe">', '<adhocList>', '<resource uri="sip:a@b"/>', '</adhocList>', '<categories uri="x">', '<category name="state">', '<availability>3500</availability>', '<Fault>', '<Faultcode>Client.BadCall.WrongDelta</Faultcode>', '<details>', '<operation index="1" curVersion="2"/>', '<contactList deltaNum="1">', '<group id="1" name="~"/>', '<contact uri="a@b" groups="1"/>', '__proto__', 'constructor', '<a:b xmlns:a="u">', '</a:b>', '\u0000', '\uD800', '\uFFFF'];
    const xmlish = fc.array(fc.oneof(fc.constantFrom(...tokens), fc.string({ maxLength: 4 })), { maxLength: 40 }).map((a) => a.join(''));
    const isResult = (r: { ok: boolean; value?: unknown; failure?: { kind: string; message: string } }) => (r.ok ? r.value !== undefined : /^presence\.\w+$/.test(r.failure?.kind ?? '') && typeof r.failure?.message === 'string');
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), xmlish), (s) => {
        expect(isResult(parsePublish(s, SELF))).toBe(true);
        expect(isResult(parseBatchSubscribe(s))).toBe(true);
        expect(isResult(parseSoap(s))).toBe(true);
        for (const v of [parseCategories(s), parseWrongDelta(s), parseContactList(s), noteText(s)]) expect(v === undefined || typeof v === 'object').toBe(true);
        for (const v of [stateAvailability(s), stateType(s)]) expect(['undefined', 'number', 'string']).toContain(typeof v);
      }),
      { seed: SEED, numRuns: 5000 },
    );
  });
});

describe('documents a client parser would refuse are refused here too', () => {
  const note = (body: string) => `<publish><publications uri="${SELF}"><publication categoryName="note" instance="0" container="200" version="0" expireType="static"><note xmlns="http://schemas.microsoft.com/2006/09/sip/note">${body}</note></publication></publications></publish>`;
  it.each([
    ['an undefined entity', note('<body type="personal">&lol;</body>')],
    ['a bare ampersand', note('<body type="personal">Tom & Jerry</body>')],
    ['"<" in an attribute value', note('<body type="x < y">hi</body>')],
    ['"]]>" in text', note('<body type="personal">a ]]> b</body>')],
    ['the character reference &#0;', note('<body type="personal">&#0;</body>')],
    ['a raw control character', note('<body type="personal">a\u0001b</body>')],
    ['a second root element', `${note('<body type="personal">hi</body>')}<x/>`],
  ])('%s', (_what, xml) => {
    const r = parsePublish(xml, SELF);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.failure.kind).toBe('presence.badXml');
  });

  it('while the five entities, character references and CDATA are read as text', () => {
    const r = parsePublish(note('<body type="personal">&lt;Tom &amp; Jerry&gt; &#233;&#x41; <![CDATA[a & b ]]></body>'), SELF);
    expect(r.ok).toBe(true);
  });
});

describe('batched subscription (batchSub)', () => {
  const batch = (resources: string[], action = 'subscribe', categories = ['calendarData', 'contactCard', 'note', 'state']) =>
    `<batchSub xmlns="http://schemas.microsoft.com/2006/01/sip/batch-subscribe" uri="${SELF}" name=""><action name="${action}" id="63792024"><adhocList>${resources.map((r) => `<resource uri="${xmlEscape(r)}"/>`).join('')}</adhocList><categoryList xmlns="http://schemas.microsoft.com/2006/09/sip/categorylist">${categories.map((c) => `<category name="${c}"/>`).join('')}</categoryList></action></batchSub>`;

  it('reads Communicator\'s body: the resources lower-cased, the categories asked for', () => {
    expect(parseBatchSubscribe(batch(['sip:OCSUser2@Example.com', 'sip:ocsuser3@example.com']))).toEqual({
      ok: true,
      value: { action: 'subscribe', resources: ['sip:ocsuser2@example.com', 'sip:ocsuser3@example.com'], categories: ['calendarData', 'contactCard', 'note', 'state'] },
    });
  });

  it('de-duplicates resources whatever their case or spacing, and drops what is not a SIP address', () => {
    const r = parseBatchSubscribe(batch(['sip:a@x', 'SIP:A@X', ' sip:a@x ', 'tel:+15551234', 'sip:', 'sip:a@b@c', 'ocsuser2@example.com', 'sip:b@x']));
    expect(r.ok && r.value.resources).toEqual(['sip:a@x', 'sip:b@x']);
  });

  it(`takes ${MAX_RESOURCES_PER_BATCH} resources and refuses one more`, () => {
    const uris = (n: number) => Array.from({ length: n }, (_, i) => `sip:u${i}@example.com`);
    const full = parseBatchSubscribe(batch(uris(MAX_RESOURCES_PER_BATCH)));
    expect(full.ok && full.value.resources.length).toBe(MAX_RESOURCES_PER_BATCH);
    const over = parseBatchSubscribe(batch(uris(MAX_RESOURCES_PER_BATCH + 1)));
    expect(over.ok ? undefined : over.failure).toEqual({ kind: 'presence.badBatch', message: `more than ${MAX_RESOURCES_PER_BATCH} resources in one subscription` });
  });

  it('reads an unsubscribe, a batchSub without categories, and refuses an unknown action or another document', () => {
    expect(parseBatchSubscribe(batch(['sip:a@x'], 'UNSUBSCRIBE', []))).toEqual({ ok: true, value: { action: 'unsubscribe', resources: ['sip:a@x'], categories: [] } });
    expect(parseBatchSubscribe(batch(['sip:a@x'], 'resubscribe')).ok).toBe(false);
    expect(parseBatchSubscribe('<categories uri="sip:a@x"/>')).toMatchObject({ ok: false, failure: { kind: 'presence.badBatch' } });
  });
});

describe('contact-list SOAP', () => {
  const envelope = (method: string, fields: string) =>
    `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip"><s:Body><m:${method}>${fields}</m:${method}></s:Body></s:Envelope>`;

  it('reads each method Communicator sends', () => {
    const reads = [
      parseSoap(envelope('setContact', '<m:displayName>Bob</m:displayName><m:groups>1 3</m:groups><m:subscribed>false</m:subscribed><m:URI>OCSUser2@Example.com</m:URI><m:externalURI /><m:deltaNum>4</m:deltaNum>')),
      parseSoap(envelope('deleteContact', '<m:URI>sip:ocsuser2@example.com</m:URI><m:deltaNum>5</m:deltaNum>')),
      parseSoap(envelope('addGroup', '<m:name>Team</m:name><m:externalURI /><m:deltaNum>6</m:deltaNum>')),
      parseSoap(envelope('modifyGroup', '<m:groupID>2</m:groupID><m:name>Team B</m:name><m:externalURI /><m:deltaNum>7</m:deltaNum>')),
      parseSoap(envelope('deleteGroup', '<m:groupID>2</m:groupID><m:deltaNum>8</m:deltaNum>')),
    ];
    expect(reads).toEqual([
      { ok: true, value: { method: 'setContact', uri: 'sip:ocsuser2@example.com', name: 'Bob', groups: [1, 3], subscribed: false, deltaNum: 4 } },
      { ok: true, value: { method: 'deleteContact', uri: 'sip:ocsuser2@example.com', deltaNum: 5 } },
      { ok: true, value: { method: 'addGroup', name: 'Team', deltaNum: 6 } },
      { ok: true, value: { method: 'modifyGroup', id: 2, name: 'Team B', deltaNum: 7 } },
      { ok: true, value: { method: 'deleteGroup', id: 2, deltaNum: 8 } },
    ]);
  });

  it('a setContact without groups or subscribed is subscribed in no group; group ids that are not positive integers are dropped', () => {
    expect(parseSoap(envelope('setContact', '<m:URI>sip:a@x</m:URI>'))).toEqual({ ok: true, value: { method: 'setContact', uri: 'sip:a@x', name: '', groups: [], subscribed: true } });
    const r = parseSoap(envelope('setContact', '<m:URI>sip:a@x</m:URI><m:groups>2 x -1 0 2.5 4</m:groups>'));
    expect(r.ok && r.value.method === 'setContact' && r.value.groups).toEqual([2, 4]);
  });

  it('refuses a method without what it needs, an unknown method (naming it) and a body that is not a SOAP envelope', () => {
    const failures = [
      parseSoap(envelope('setContact', '<m:displayName>x</m:displayName>')),
      parseSoap(envelope('deleteContact', '')),
      parseSoap(envelope('modifyGroup', '<m:groupID>two</m:groupID><m:name>x</m:name>')),
      parseSoap(envelope('deleteGroup', '<m:groupID>-2</m:groupID>')),
      parseSoap(envelope('setPresence', '')),
      parseSoap('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>'),
      parseSoap('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/></s:Envelope>'),
      parseSoap('<Body><addGroup><name>x</name></addGroup></Body>'),
    ].map((r) => (r.ok ? 'accepted' : r.failure.message));
    expect(failures).toEqual([
      'setContact needs a URI',
      'deleteContact needs a URI',
      'modifyGroup needs a groupID',
      'deleteGroup needs a groupID',
      'unknown SOAP method setPresence',
      'unknown SOAP method (none)',
      'not a SOAP envelope with a Body',
      'not a SOAP envelope with a Body',
    ]);
  });

  it('answers addGroup with the new group\'s id, other methods with an empty element, as well-formed envelopes', () => {
    const added = soapResponse('addGroup', { groupId: 7 });
    expect(XMLValidator.validate(added)).toBe(true);
    expect(added).toContain('<m:addGroup xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip"><m:groupID>7</m:groupID></m:addGroup>');
    expect(soapResponse('deleteGroup')).toContain('<m:deleteGroup xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip"></m:deleteGroup>');
  });
});
