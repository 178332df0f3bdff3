/**
 * Enhanced presence as OCS 2007 R2 keeps it ([MS-PRES]): the documents a front end reads and writes, and
 * the aggregation of what a user's endpoints publish into what a watcher sees. Pure: no sockets, no time
 * of its own (the caller passes `publishTime`).
 *
 * - A client publishes categories with SERVICE `application/msrtc-category-publish+xml`: each
 *   `publication` names a category (`state`, `note`, `device`, `contactCard`, ...), an instance, a
 *   container and the version it last saw; `expireType` says how long it lives (`endpoint`: while the
 *   endpoint is signed in; `user`: while any endpoint of the user is; `static`: until removed; `time`:
 *   `expires` seconds). A version that is not the server's current one is refused whole with 409 and an
 *   `application/msrtc-fault+xml` `Client.BadCall.WrongDelta` fault naming each publication's current
 *   version, as the product does; `expires="0"` removes a publication.
 * - Containers 2 and 3 are the aggregation containers (the user's own): from the `state` instances
 *   published there (the user's manual `userState`, each endpoint's `machineState`) the server makes the
 *   `aggregateState` that watchers get. A colleague in the same deployment sees container 200
 *   ("Colleagues" [TechNet: Aggregation of Presence States, OCS 2007 R2 SDK]).
 * - A watcher subscribes to `presence` with a `batchSub` body (`application/msrtc-adrl-categorylist+xml`,
 *   `Require: adhoclist, categoryList`) listing resources and the categories wanted, and gets one
 *   `application/msrtc-event-categories+xml` document per resource: `state` (aggregated), `note`,
 *   `contactCard` (the lab makes it from AD: display name, mail, title [U: the product's contactCard
 *   instance 0 comes from the address book data]).
 *
 * The aggregation rule here is simpler than the product's script [U]: the newest `userState` wins; else
 * the most available `machineState`; else Available (3500) while an endpoint is signed in; Offline
 * (18500) when none is.
 */
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { fail, ok, type Result } from '../../sim/result.js';

export const CATEGORY_PUBLISH_TYPE = 'application/msrtc-category-publish+xml';
export const EVENT_CATEGORIES_TYPE = 'application/msrtc-event-categories+xml';
export const BATCH_SUBSCRIBE_TYPE = 'application/msrtc-adrl-categorylist+xml';
export const FAULT_TYPE = 'application/msrtc-fault+xml';
export const ROAMING_CONTACTS_EVENT = 'vnd-microsoft-roaming-contacts';
export const ROAMING_CONTACTS_TYPE = 'application/vnd-microsoft-roaming-contacts+xml';
export const ROAMING_SELF_EVENT = 'vnd-microsoft-roaming-self';
export const ROAMING_SELF_TYPE = 'application/vnd-microsoft-roaming-self+xml';
export const SOAP_TYPE = 'application/soap+xml';

const NS = {
  categories: 'http://schemas.microsoft.com/2006/09/sip/categories',
  state: 'http://schemas.microsoft.com/2006/09/sip/state',
  note: 'http://schemas.microsoft.com/2006/09/sip/note',
  contactCard: 'http://schemas.microsoft.com/2006/09/sip/contactcard',
  roamingSelf: 'http://schemas.microsoft.com/2006/09/sip/roaming-self',
  fault: 'http://schemas.microsoft.com/2006/09/sip/error-fault',
  types: 'http://schemas.microsoft.com/sip/types',
  soap: 'http://schemas.xmlsoap.org/soap/envelope/',
  winrtc: 'http://schemas.microsoft.com/winrtc/2002/11/sip',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
};

/** The availability numbers Communicator publishes for each state ([MS-PRES] 3.7.5.1.1). */
export const AVAILABILITY_NUMBERS = {
  Available: 3500,
  Busy: 6500,
  'Do Not Disturb': 9500,
  'Be Right Back': 12500,
  Away: 15500,
  Offline: 18500,
} as const;
export type AvailabilityName = keyof typeof AVAILABILITY_NUMBERS | 'Inactive' | 'Busy-Idle';

/** What a client shows for an availability number ([MS-PRES] 3.7.5.1.1's ranges). */
export function availabilityName(n: number): AvailabilityName {
  if (!Number.isFinite(n) || n < 3000 || n >= 18000) return 'Offline';
  if (n < 4500) return 'Available';
  if (n < 6000) return 'Inactive';
  if (n < 7500) return 'Busy';
  if (n < 9000) return 'Busy-Idle';
  if (n < 12000) return 'Do Not Disturb';
  if (n < 15000) return 'Be Right Back';
  return 'Away';
}

export type ExpireType = 'static' | 'user' | 'endpoint' | 'time';

/** One category instance as the server holds it. */
export interface Publication {
  name: string;
  instance: number;
  container: number;
  version: number;
  expireType: ExpireType;
  /** The category document as published (one element, its namespace declarations kept). */
  xml: string;
  publishTime: string;
  /** The endpoint (the connection's registration) that published it, for `endpoint` expiry. */
  endpoint?: string;
  /** For `time`: when it ends (the caller's clock, ms). */
  expiresAt?: number;
}

export interface PublicationRequest {
  name: string;
  instance: number;
  container: number;
  version: number;
  expireType: ExpireType;
  /** Seconds (`time`), or 0: remove. */
  expires?: number;
  /** Undefined for a removal. */
  xml?: string;
}

export const publicationKey = (p: { name: string; instance: number; container: number }) => `${p.name}|${p.instance}|${p.container}`;

/** Documents past these are refused (the product's limits are not documented [U]). */
export const MAX_PUBLICATIONS_PER_REQUEST = 64;
export const MAX_PUBLICATIONS_PER_USER = 256;
export const MAX_RESOURCES_PER_BATCH = 1000;

type Node = Record<string, unknown>;
const attrs = { ignoreAttributes: false, attributeNamePrefix: '@', allowBooleanAttributes: true } as const;
/** Reads values: namespace prefixes dropped, every element an array, no value conversion. */
const reader = new XMLParser({ ...attrs, removeNSPrefix: true, parseTagValue: false, parseAttributeValue: false, trimValues: true, processEntities: true, htmlEntities: false, isArray: (_n, _p, _l, isAttribute) => !isAttribute });
/** Keeps a document as written (order, prefixes, CDATA sections), to hand a published category on unchanged. */
const ordered = new XMLParser({ ...attrs, preserveOrder: true, removeNSPrefix: false, parseTagValue: false, parseAttributeValue: false, trimValues: false, processEntities: false, htmlEntities: false, cdataPropName: '#cdata' });
const orderedBuilder = new XMLBuilder({ ...attrs, preserveOrder: true, suppressEmptyNode: true, processEntities: false, cdataPropName: '#cdata' });

export type XmlFailure = { kind: 'presence.badXml'; message: string };

/** Checks a body is one well-formed XML document without a DOCTYPE (no entity definitions reach the parser). */
/** Characters XML 1.0 does not allow (§2.2), raw or as a character reference. */
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const legalCodePoint = (n: number) => n === 0x9 || n === 0xa || n === 0xd || (n >= 0x20 && n <= 0xd7ff) || (n >= 0xe000 && n <= 0xfffd) || (n >= 0x10000 && n <= 0x10ffff);

/**
 * Checks a body is one well-formed XML document without a DOCTYPE (no entity definitions reach the
 * parser). fast-xml-parser's validator is lenient where a client's parser is not (libxml2 in sipe, MSXML
 * in Communicator): undefined entities, a bare `&`, `<` in an attribute value, `]]>` in text, characters
 * XML does not allow, a second root. Those are refused here too, so that nothing this front end keeps and
 * hands on (a published category goes back to the user's endpoints) is a document its clients refuse.
 */
function wellFormed(xml: string): Result<true, XmlFailure> {
  const bad = (message: string) => fail<XmlFailure>({ kind: 'presence.badXml', message });
  if (/<!DOCTYPE/i.test(xml)) return bad('a DOCTYPE is not accepted');
  if (NOT_XML_CHAR.test(xml)) return bad('a character XML does not allow');
  const v = XMLValidator.validate(xml);
  if (v !== true) return bad(`${v.err.msg} (line ${v.err.line}, column ${v.err.col})`);
  // What is left once CDATA sections and comments (where & and ]]> mean nothing) are taken out.
  const outside = xml.replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '').replace(/<!--[\s\S]*?-->/g, '');
  if (outside.includes(']]>')) return bad('"]]>" outside a CDATA section');
  for (const m of outside.matchAll(/&([^;\s<&]{0,12});?/g)) {
    const ref = m[0].endsWith(';') ? (m[1] ?? '') : undefined;
    if (ref === undefined) return bad('a bare "&" (write &amp;)');
    if (['amp', 'lt', 'gt', 'quot', 'apos'].includes(ref)) continue;
    const num = /^#(?:x([0-9a-fA-F]{1,6})|(\d{1,7}))$/.exec(ref);
    if (!num) return bad(`the undefined entity &${ref.slice(0, 12)};`);
    if (!legalCodePoint(num[1] !== undefined ? parseInt(num[1], 16) : Number(num[2]))) return bad(`&${ref}; is not a character XML allows`);
  }
  // Attribute values hold no '<' (one root element: read() counts them in what it parsed).
  for (const tag of outside.matchAll(/<([^!?/][^>]*)>/g)) {
    if (/=\s*(?:"[^"]*<|'[^']*<)/.test(tag[1] ?? '')) return bad('"<" in an attribute value');
  }
  return ok(true);
}

function read(xml: string): Result<Node, XmlFailure> {
  const w = wellFormed(xml);
  if (!w.ok) return w;
  let doc: Node;
  try {
    doc = reader.parse(xml) as Node;
  } catch (e) {
    return fail({ kind: 'presence.badXml', message: (e as Error).message });
  }
  let roots = 0;
  for (const [k, v] of Object.entries(doc)) if (!k.startsWith('?') && !k.startsWith('#') && !k.startsWith('@')) roots += Array.isArray(v) ? v.length : 1;
  if (roots !== 1) return fail({ kind: 'presence.badXml', message: roots === 0 ? 'no root element' : 'more than one root element' });
  return ok(doc);
}

const kids = (n: unknown, name: string): Node[] => {
  if (!n || typeof n !== 'object') return [];
  const v = (n as Node)[name];
  return Array.isArray(v) ? (v.filter((x) => x !== null && x !== undefined).map((x) => (typeof x === 'object' ? x : { '#text': x })) as Node[]) : [];
};
const kid = (n: unknown, name: string): Node | undefined => kids(n, name)[0];
const attr = (n: Node | undefined, name: string): string | undefined => {
  if (!n) return undefined;
  const want = `@${name}`.toLowerCase();
  for (const [k, v] of Object.entries(n)) {
    if (!k.startsWith('@')) continue;
    const local = `@${k.slice(1).replace(/^[^:]*:/, '')}`.toLowerCase();
    if (local === want) return typeof v === 'string' ? v : String(v);
  }
  return undefined;
};
const text = (n: Node | undefined): string => {
  if (!n) return '';
  const t = n['#text'];
  return typeof t === 'string' ? t : typeof t === 'number' ? String(t) : '';
};
/** The document's root element: its local name and node. */
function root(doc: Node): { name: string; node: Node } | undefined {
  for (const [k, v] of Object.entries(doc)) {
    if (k.startsWith('?') || k.startsWith('#') || k.startsWith('@')) continue;
    const node = Array.isArray(v) ? (v[0] as Node) : undefined;
    if (node && typeof node === 'object') return { name: k, node };
  }
  return undefined;
}

const uint = (v: string | undefined): number | undefined => (v !== undefined && /^\d{1,10}$/.test(v.trim()) && Number(v) <= 0xffffffff ? Number(v) : undefined);

export const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

// ---- publishing -------------------------------------------------------------------------------

export type PublishFailure = XmlFailure | { kind: 'presence.badPublication'; message: string };

/** The publications of a category-publish body for `self` (its `publications@uri` must name the publisher). */
export function parsePublish(xml: string, self: string): Result<PublicationRequest[], PublishFailure> {
  const doc = read(xml);
  if (!doc.ok) return doc;
  const r = root(doc.value);
  if (!r || r.name !== 'publish') return fail({ kind: 'presence.badPublication', message: 'the body is not a publish document' });
  const pubs = kid(r.node, 'publications');
  if (!pubs) return fail({ kind: 'presence.badPublication', message: 'publish has no publications' });
  const uri = attr(pubs, 'uri');
  if (uri !== undefined && uri.toLowerCase() !== self.toLowerCase()) return fail({ kind: 'presence.badPublication', message: `a user may publish only its own presence (publications for ${uri.slice(0, 80)})` });
  // The category documents as written, in order: the n-th `publication` element's child.
  const raw = orderedPublications(xml);
  const list = kids(pubs, 'publication');
  if (list.length === 0) return fail({ kind: 'presence.badPublication', message: 'publications is empty' });
  if (list.length > MAX_PUBLICATIONS_PER_REQUEST) return fail({ kind: 'presence.badPublication', message: `more than ${MAX_PUBLICATIONS_PER_REQUEST} publications in one request` });
  const out: PublicationRequest[] = [];
  for (const [i, p] of list.entries()) {
    const name = attr(p, 'categoryName') ?? '';
    const instance = uint(attr(p, 'instance'));
    const container = uint(attr(p, 'container'));
    const version = uint(attr(p, 'version') ?? '0');
    const expireType = (attr(p, 'expireType') ?? 'static').toLowerCase();
    const expires = uint(attr(p, 'expires'));
    if (!/^[A-Za-z][\w.-]{0,63}$/.test(name) || instance === undefined || container === undefined || version === undefined) {
      return fail({ kind: 'presence.badPublication', message: `publication ${i + 1} needs categoryName, instance, container and version` });
    }
    if (!['static', 'user', 'endpoint', 'time'].includes(expireType)) return fail({ kind: 'presence.badPublication', message: `publication ${i + 1}: unknown expireType ${expireType.slice(0, 20)}` });
    const body = raw[i];
    if (expires !== 0 && !body) return fail({ kind: 'presence.badPublication', message: `publication ${i + 1} has no category document` });
    out.push({ name, instance, container, version, expireType: expireType as ExpireType, ...(expires !== undefined ? { expires } : {}), ...(expires !== 0 && body ? { xml: body } : {}) });
  }
  return ok(out);
}

/** The first element child of each `publication` element, serialised as written. */
function orderedPublications(xml: string): Array<string | undefined> {
  const tree = ordered.parse(xml) as Node[];
  const local = (k: string) => k.replace(/^[^:]*:/, '');
  const elementsOf = (nodes: unknown): Node[] => (Array.isArray(nodes) ? (nodes as Node[]).filter((n) => Object.keys(n).some((k) => k !== ':@' && !k.startsWith('#') && !k.startsWith('?'))) : []);
  const nameOf = (n: Node) => Object.keys(n).find((k) => k !== ':@') ?? '';
  const out: Array<string | undefined> = [];
  const publish = elementsOf(tree).find((n) => local(nameOf(n)) === 'publish');
  const pubs = publish ? elementsOf(publish[nameOf(publish)]).find((n) => local(nameOf(n)) === 'publications') : undefined;
  for (const p of pubs ? elementsOf(pubs[nameOf(pubs)]) : []) {
    if (local(nameOf(p)) !== 'publication') continue;
    const child = elementsOf(p[nameOf(p)])[0];
    out.push(child ? (orderedBuilder.build([child]) as string).trim() : undefined);
  }
  return out;
}

export type PublishOutcome =
  | { ok: true; publications: Map<string, Publication> }
  | { ok: false; conflicts: Array<{ index: number; request: PublicationRequest; curVersion: number }> };

/**
 * Applies publication requests to a user's publications, all or nothing: every version must be the
 * current one (0 for a category instance not yet published).
 */
export function applyPublish(current: ReadonlyMap<string, Publication>, requests: PublicationRequest[], o: { publishTime: string; endpoint: string; now: number }): PublishOutcome | { ok: false; tooMany: true } {
  const conflicts: Array<{ index: number; request: PublicationRequest; curVersion: number }> = [];
  for (const [i, r] of requests.entries()) {
    const have = current.get(publicationKey(r))?.version ?? 0;
    if (r.version !== have) conflicts.push({ index: i + 1, request: r, curVersion: have });
  }
  if (conflicts.length) return { ok: false, conflicts };
  const next = new Map(current);
  for (const r of requests) {
    const key = publicationKey(r);
    if (r.expires === 0 || r.xml === undefined) {
      next.delete(key);
      continue;
    }
    next.set(key, {
      name: r.name,
      instance: r.instance,
      container: r.container,
      version: r.version + 1,
      expireType: r.expireType,
      xml: r.xml,
      publishTime: o.publishTime,
      endpoint: o.endpoint,
      ...(r.expireType === 'time' && r.expires ? { expiresAt: o.now + r.expires * 1000 } : {}),
    });
  }
  if (next.size > MAX_PUBLICATIONS_PER_USER) return { ok: false, tooMany: true };
  return { ok: true, publications: next };
}

/** The 409 fault for a publish with stale versions ([MS-PRES]: `Client.BadCall.WrongDelta`). */
export function wrongDeltaFault(conflicts: Array<{ index: number; request: PublicationRequest; curVersion: number }>): string {
  const ops = conflicts.map((c) => `<operation index="${c.index}" curVersion="${c.curVersion}" categoryName="${xmlEscape(c.request.name)}" instance="${c.request.instance}" container="${c.request.container}" />`);
  return `<Fault xmlns="${NS.fault}" xmlns:xsi="${NS.xsi}"><Faultcode>Client.BadCall.WrongDelta</Faultcode><details>${ops.join('')}</details></Fault>`;
}

// ---- aggregation ------------------------------------------------------------------------------

/** What aggregation reads of a category document: a state's availability and type, a note's text. */
interface CategoryFacts {
  availability?: number;
  type?: string;
  note?: { text: string; type: string };
}

function categoryFacts(xml: string): CategoryFacts {
  const doc = read(xml);
  const r = doc.ok ? root(doc.value) : undefined;
  if (r?.name === 'state') {
    const availability = uint(text(kid(r.node, 'availability')));
    const type = attr(r.node, 'type');
    return { ...(availability !== undefined ? { availability } : {}), ...(type !== undefined ? { type } : {}) };
  }
  const body = r?.name === 'note' ? kid(r.node, 'body') : undefined;
  return body ? { note: { text: text(body), type: attr(body, 'type') ?? 'personal' } } : {};
}

/** Publications are never changed once made (a publish replaces them): each document is read once. */
const factsRead = new WeakMap<Publication, CategoryFacts>();
function factsOf(p: Publication): CategoryFacts {
  let f = factsRead.get(p);
  if (!f) {
    f = categoryFacts(p.xml);
    factsRead.set(p, f);
  }
  return f;
}

/** The availability number of a `state` category document, if it has one. */
export const stateAvailability = (xml: string): number | undefined => categoryFacts(xml).availability;

/** `xsi:type` of a `state` category document (`userState`, `machineState`, ...). */
export const stateType = (xml: string): string | undefined => categoryFacts(xml).type;

/** The text of a `note` category document (its first `body`), and its type (`personal`, `OOF`). */
export const noteText = (xml: string): { text: string; type: string } | undefined => categoryFacts(xml).note;

export interface AggregateInput {
  publications: Iterable<Publication>;
  /** Whether any endpoint of the user is signed in. */
  online: boolean;
  /** Availability from a generic (PIDF) publisher, when the user published PIDF instead of categories. */
  pidf?: { open: boolean; note?: string };
}

export interface PresenceView {
  availability: number;
  note?: { text: string; type: string };
  publishTime?: string;
}

/** What a colleague sees: the aggregated availability and the note of container 200 (or another shared one). */
export function aggregate(input: AggregateInput): PresenceView {
  const publications = [...input.publications];
  if (!input.online) {
    const note = pickNote(publications);
    return { availability: AVAILABILITY_NUMBERS.Offline, ...(note ? { note: note.note, publishTime: note.publishTime } : {}) };
  }
  let user: { availability: number; publishTime: string } | undefined;
  let machine: { availability: number; publishTime: string } | undefined;
  for (const p of publications) {
    if (p.name !== 'state' || (p.container !== 2 && p.container !== 3)) continue;
    const { availability: a, type } = factsOf(p);
    if (a === undefined || a === 0) continue;
    if (type === 'userState') {
      if (!user || p.publishTime >= user.publishTime) user = { availability: a, publishTime: p.publishTime };
    } else if (!machine || a < machine.availability) machine = { availability: a, publishTime: p.publishTime };
  }
  const note = pickNote(publications);
  const pidfNote = input.pidf?.note ? { text: input.pidf.note, type: 'personal' } : undefined;
  const chosen = user ?? machine;
  const availability = chosen?.availability ?? (input.pidf && !input.pidf.open ? AVAILABILITY_NUMBERS.Offline : AVAILABILITY_NUMBERS.Available);
  const n = note?.note ?? pidfNote;
  return { availability, ...(n ? { note: n } : {}), ...((chosen ?? note) ? { publishTime: (chosen ?? note)?.publishTime } : {}) };
}

/** The note a colleague sees: container 200's, else 400's or 300's (never the aggregation containers). */
function pickNote(pubs: Iterable<Publication>): { note: { text: string; type: string }; publishTime: string } | undefined {
  const rank = (c: number) => (c === 200 ? 0 : c === 400 ? 1 : c === 300 ? 2 : c === 100 ? 3 : 9);
  let best: { note: { text: string; type: string }; publishTime: string; rank: number } | undefined;
  for (const p of pubs) {
    if (p.name !== 'note' || p.container === 2 || p.container === 3) continue;
    const n = factsOf(p).note;
    if (!n || !n.text) continue;
    const r = rank(p.container);
    if (!best || r < best.rank || (r === best.rank && p.publishTime > best.publishTime)) best = { note: n, publishTime: p.publishTime, rank: r };
  }
  return best && { note: best.note, publishTime: best.publishTime };
}

// ---- documents to watchers --------------------------------------------------------------------

export interface ContactCardData {
  displayName?: string;
  email?: string;
  title?: string;
  company?: string;
  department?: string;
}

/** The categories document a watcher gets for `uri` ([MS-PRES] `categories`), with the categories it asked for. */
export function categoriesDocument(uri: string, view: PresenceView, o: { card?: ContactCardData; categories?: readonly string[]; publishTime: string }): string {
  const wanted = (c: string) => !o.categories || o.categories.length === 0 || o.categories.includes(c);
  const time = view.publishTime ?? o.publishTime;
  const parts: string[] = [];
  if (wanted('state')) {
    parts.push(
      `<category name="state" instance="0" publishTime="${xmlEscape(time)}"><state xmlns="${NS.state}" xmlns:xsi="${NS.xsi}" xsi:type="aggregateState"><availability>${view.availability}</availability></state></category>`,
    );
  }
  if (wanted('note') && view.note) {
    parts.push(`<category name="note" instance="0" publishTime="${xmlEscape(time)}"><note xmlns="${NS.note}"><body type="${xmlEscape(view.note.type)}" uri="">${xmlEscape(view.note.text)}</body></note></category>`);
  }
  if (wanted('contactCard') && o.card) {
    const c = o.card;
    const el = (n: string, v: string | undefined) => (v ? `<${n}>${xmlEscape(v)}</${n}>` : '');
    const identity = `<identity>${c.displayName ? `<name><displayName>${xmlEscape(c.displayName)}</displayName></name>` : ''}${el('email', c.email)}</identity>`;
    parts.push(`<category name="contactCard" instance="0" publishTime="${xmlEscape(o.publishTime)}"><contactCard xmlns="${NS.contactCard}">${identity}${el('company', c.company)}${el('department', c.department)}${el('title', c.title)}</contactCard></category>`);
  }
  return `<categories xmlns="${NS.categories}" uri="${xmlEscape(uri)}">${parts.join('')}</categories>`;
}

/** What a subscriber to `vnd-microsoft-roaming-self` gets: the user's own publications, each with its version. */
export function roamingSelfDocument(uri: string, pubs: Iterable<Publication>): string {
  const cats = [...pubs]
    .sort((a, b) => (publicationKey(a) < publicationKey(b) ? -1 : 1))
    .map((p) => `<category name="${xmlEscape(p.name)}" instance="${p.instance}" publishTime="${xmlEscape(p.publishTime)}" container="${p.container}" version="${p.version}" expireType="${p.expireType}">${p.xml}</category>`);
  return `<roamingData xmlns="${NS.roamingSelf}" xmlns:xsi="${NS.xsi}"><categories xmlns="${NS.categories}" uri="${xmlEscape(uri)}">${cats.join('')}</categories></roamingData>`;
}

// ---- batched subscriptions --------------------------------------------------------------------

export interface BatchSubscribe {
  action: 'subscribe' | 'unsubscribe';
  resources: string[];
  /** The categories asked for; empty: the default set. */
  categories: string[];
}

export type BatchFailure = XmlFailure | { kind: 'presence.badBatch'; message: string };

/** A `batchSub` body ([MS-PRES] 2.2.2: adhocList resources and a categoryList). */
export function parseBatchSubscribe(xml: string): Result<BatchSubscribe, BatchFailure> {
  const doc = read(xml);
  if (!doc.ok) return doc;
  const r = root(doc.value);
  if (!r || r.name !== 'batchSub') return fail({ kind: 'presence.badBatch', message: 'the body is not a batchSub document' });
  const action = kid(r.node, 'action');
  const name = (attr(action, 'name') ?? 'subscribe').toLowerCase();
  if (name !== 'subscribe' && name !== 'unsubscribe') return fail({ kind: 'presence.badBatch', message: `unknown batchSub action ${name.slice(0, 20)}` });
  const list = kid(action, 'adhocList');
  const resources = kids(list, 'resource')
    .map((x) => (attr(x, 'uri') ?? '').trim().toLowerCase())
    .filter((u, i, all) => /^sip:[^@\s]+@[^@\s]+$/.test(u) && all.indexOf(u) === i);
  if (resources.length > MAX_RESOURCES_PER_BATCH) return fail({ kind: 'presence.badBatch', message: `more than ${MAX_RESOURCES_PER_BATCH} resources in one subscription` });
  const categories = kids(kid(action, 'categoryList'), 'category')
    .map((x) => (attr(x, 'name') ?? '').trim())
    .filter(Boolean);
  return ok({ action: name, resources: [...new Set(resources)], categories });
}

// ---- roaming contacts ------------------------------------------------------------------------

export interface ContactListView {
  deltaNum: number;
  groups: Array<{ id: number; name: string }>;
  contacts: Array<{ uri: string; name: string; groups: number[]; subscribed: boolean }>;
}

/** The full contact list ([MS-SIP] `contactList`; contact URIs without the `sip:` scheme, as the product writes them). */
export function contactListDocument(list: ContactListView): string {
  const groups = list.groups.map((g) => `<group id="${g.id}" name="${xmlEscape(g.name)}" externalURI="" />`);
  const contacts = list.contacts.map(
    (c) => `<contact uri="${xmlEscape(c.uri.replace(/^sip:/i, ''))}" name="${xmlEscape(c.name)}" groups="${c.groups.join(' ')}" subscribed="${c.subscribed}" externalURI="" />`,
  );
  return `<contactList deltaNum="${list.deltaNum}" xmlns="${NS.types}">${groups.join('')}${contacts.join('')}</contactList>`;
}

export type ContactDelta =
  | { kind: 'addedContact' | 'modifiedContact'; uri: string; name: string; groups: number[]; subscribed: boolean }
  | { kind: 'deletedContact'; uri: string }
  | { kind: 'addedGroup' | 'modifiedGroup'; id: number; name: string }
  | { kind: 'deletedGroup'; id: number };

/**
 * A change to the contact list, sent to the user's other subscriptions ([MS-SIP] `contactDelta`). Its URIs
 * keep the `sip:` scheme, unlike the full list's: pidgin-sipe keys a delta's contact by the URI as written,
 * and its contacts are keyed `sip:user@domain` [U: no capture of the product's delta at hand].
 */
export function contactDeltaDocument(deltaNum: number, changes: ContactDelta[]): string {
  const els = changes.map((c) => {
    switch (c.kind) {
      case 'addedContact':
      case 'modifiedContact':
        return `<${c.kind} uri="${xmlEscape(c.uri)}" name="${xmlEscape(c.name)}" groups="${c.groups.join(' ')}" subscribed="${c.subscribed}" externalURI="" />`;
      case 'deletedContact':
        return `<deletedContact uri="${xmlEscape(c.uri)}" />`;
      case 'addedGroup':
      case 'modifiedGroup':
        return `<${c.kind} id="${c.id}" name="${xmlEscape(c.name)}" externalURI="" />`;
      case 'deletedGroup':
        return `<deletedGroup id="${c.id}" />`;
    }
  });
  return `<contactDelta deltaNum="${deltaNum}" prevDeltaNum="${deltaNum - 1}" xmlns="${NS.types}">${els.join('')}</contactDelta>`;
}

export type SoapRequest =
  | { method: 'setContact'; uri: string; name: string; groups: number[]; subscribed: boolean; deltaNum?: number }
  | { method: 'deleteContact'; uri: string; deltaNum?: number }
  | { method: 'addGroup'; name: string; deltaNum?: number }
  | { method: 'modifyGroup'; id: number; name: string; deltaNum?: number }
  | { method: 'deleteGroup'; id: number; deltaNum?: number };

export type SoapFailure = XmlFailure | { kind: 'presence.badSoap'; message: string };

/** A contact-list SOAP request (`s:Envelope/s:Body/m:<method>`, [MS-SIP] 3.6). */
export function parseSoap(xml: string): Result<SoapRequest, SoapFailure> {
  const doc = read(xml);
  if (!doc.ok) return doc;
  const r = root(doc.value);
  const body = r?.name === 'Envelope' ? kid(r.node, 'Body') : undefined;
  if (!body) return fail({ kind: 'presence.badSoap', message: 'not a SOAP envelope with a Body' });
  const method = Object.keys(body).find((k) => !k.startsWith('@') && !k.startsWith('#')) ?? '';
  const m = kid(body, method);
  const field = (n: string) => text(kid(m, n)).trim();
  const delta = uint(field('deltaNum'));
  const d = delta !== undefined ? { deltaNum: delta } : {};
  const groupsOf = (s: string) => s.split(/\s+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0);
  const id = uint(field('groupID'));
  switch (method) {
    case 'setContact': {
      const uri = field('URI').toLowerCase();
      if (!uri) return fail({ kind: 'presence.badSoap', message: 'setContact needs a URI' });
      return ok({ method, uri: /^sip:/.test(uri) ? uri : `sip:${uri}`, name: field('displayName'), groups: groupsOf(field('groups')), subscribed: field('subscribed') !== 'false', ...d });
    }
    case 'deleteContact': {
      const uri = field('URI').toLowerCase();
      if (!uri) return fail({ kind: 'presence.badSoap', message: 'deleteContact needs a URI' });
      return ok({ method, uri: /^sip:/.test(uri) ? uri : `sip:${uri}`, ...d });
    }
    case 'addGroup':
      return ok({ method, name: field('name'), ...d });
    case 'modifyGroup':
      if (id === undefined) return fail({ kind: 'presence.badSoap', message: 'modifyGroup needs a groupID' });
      return ok({ method, id, name: field('name'), ...d });
    case 'deleteGroup':
      if (id === undefined) return fail({ kind: 'presence.badSoap', message: 'deleteGroup needs a groupID' });
      return ok({ method, id, ...d });
    default:
      return fail({ kind: 'presence.badSoap', message: `unknown SOAP method ${method.slice(0, 40) || '(none)'}` });
  }
}

/** The SOAP answer to a contact-list request; `addGroup` names the new group's id. */
export function soapResponse(method: string, o: { groupId?: number } = {}): string {
  const inner = method === 'addGroup' && o.groupId !== undefined ? `<m:groupID>${o.groupId}</m:groupID>` : '';
  return `<s:Envelope xmlns:s="${NS.soap}"><s:Body><m:${method} xmlns:m="${NS.winrtc}">${inner}</m:${method}></s:Body></s:Envelope>`;
}

// ---- what a client reads ---------------------------------------------------------------------

/** A categories document as a client reads it: whose, the aggregated availability, the note, the name. */
export function parseCategories(xml: string): { uri: string; availability?: number; note?: string; displayName?: string } | undefined {
  const doc = read(xml);
  if (!doc.ok) return undefined;
  const r = root(doc.value);
  if (!r || r.name !== 'categories') return undefined;
  const out: { uri: string; availability?: number; note?: string; displayName?: string } = { uri: (attr(r.node, 'uri') ?? '').toLowerCase() };
  for (const c of kids(r.node, 'category')) {
    const name = attr(c, 'name');
    if (name === 'state') {
      const a = uint(text(kid(kid(c, 'state'), 'availability')));
      if (a !== undefined) out.availability = a;
    } else if (name === 'note') {
      const t = text(kid(kid(c, 'note'), 'body'));
      if (t) out.note = t;
    } else if (name === 'contactCard') {
      const d = text(kid(kid(kid(kid(c, 'contactCard'), 'identity'), 'name'), 'displayName'));
      if (d) out.displayName = d;
    }
  }
  return out;
}

/** The current versions a 409 WrongDelta fault names, by the publication's 1-based index in the request. */
export function parseWrongDelta(xml: string): Array<{ index: number; curVersion: number }> | undefined {
  const doc = read(xml);
  if (!doc.ok) return undefined;
  const r = root(doc.value);
  if (!r || r.name !== 'Fault' || text(kid(r.node, 'Faultcode')).trim() !== 'Client.BadCall.WrongDelta') return undefined;
  const ops = kids(kid(r.node, 'details'), 'operation').flatMap((o) => {
    const index = uint(attr(o, 'index'));
    const curVersion = uint(attr(o, 'curVersion'));
    return index !== undefined && curVersion !== undefined ? [{ index, curVersion }] : [];
  });
  return ops;
}

/** A `contactList` document as a client reads it (contact URIs given back with `sip:`). */
export function parseContactList(xml: string): ContactListView | undefined {
  const doc = read(xml);
  if (!doc.ok) return undefined;
  const r = root(doc.value);
  if (!r || r.name !== 'contactList') return undefined;
  const deltaNum = uint(attr(r.node, 'deltaNum')) ?? 0;
  const groups = kids(r.node, 'group').flatMap((g) => {
    const id = uint(attr(g, 'id'));
    return id !== undefined ? [{ id, name: attr(g, 'name') ?? '' }] : [];
  });
  const contacts = kids(r.node, 'contact').map((c) => {
    const u = (attr(c, 'uri') ?? '').toLowerCase();
    return {
      uri: u.startsWith('sip:') ? u : `sip:${u}`,
      name: attr(c, 'name') ?? '',
      groups: (attr(c, 'groups') ?? '').split(/\s+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n)),
      subscribed: attr(c, 'subscribed') !== 'false',
    };
  });
  return { deltaNum, groups, contacts };
}
