/**
 * The front end's presence and roaming data on the wire: what SUBSCRIBE, PUBLISH and SERVICE do once a
 * user has signed in. The documents and the aggregation are `ocs.presence.ts`; the contact list lives on
 * the home pool's back end (`ocs.contacts.ts`, changed through the OCS emulator's `ocs.changeContactList`,
 * so every change is in the journal). The listeners and the registrar are `ocs.sip.adapter.ts`.
 *
 * What a client sees:
 * - SUBSCRIBE `Event: presence`
 *   - batched ([MS-PRES] 3.7.5.2: to the subscriber's own URI, `Require: adhoclist, categoryList`, a
 *     `batchSub` body of `application/msrtc-adrl-categorylist+xml`): 200 with Expires, then one NOTIFY per
 *     resource homed in this deployment, `application/msrtc-event-categories+xml` (aggregated `state`,
 *     `note`, `contactCard`); another NOTIFY for a resource whenever what its watchers see changes. A refresh
 *     in the dialog keeps the resources; a body adds (`subscribe`) or removes (`unsubscribe`) some; its end
 *     is a final NOTIFY about each (`terminated`; `reason=timeout` when it ran out). An unreadable body is
 *     400. A connection holds at most 256 subscriptions (403 past that) [U].
 *   - to one user, with `application/msrtc-event-categories+xml` in Accept: the same, for that user;
 *   - otherwise (generic clients): PIDF, the target's last PUBLISHed document, else `open` while signed in.
 * - SUBSCRIBE `vnd-microsoft-roaming-contacts` / `vnd-microsoft-roaming-self` (the subscriber's own URI
 *   only, else 403): 200 carrying the `contactList` / `roamingData` document when the client supports
 *   `ms-piggyback-first-notify` (with `ms-piggyback-cseq` and the Event), else 200 then a NOTIFY. Later
 *   changes follow on the subscription: a `contactDelta` for each contact-list change, the user's
 *   publications after each publish (BENOTIFY where the client supports `ms-benotify`).
 * - SERVICE to the user's own URI:
 *   - `application/msrtc-category-publish+xml`: the publications are applied all or nothing; a stale version
 *     is 409 with the `Client.BadCall.WrongDelta` fault (`application/msrtc-fault+xml`); otherwise 200.
 *   - `application/SOAP+xml` (`setContact`, `deleteContact`, `addGroup`, `modifyGroup`, `deleteGroup`):
 *     applied on the back end; 200 with the SOAP answer (`addGroup` carries the new `groupID`); a change the
 *     back end refuses is 400 or, with the back end down, 503 [U: the product's SOAP faults].
 *   - `application/msrtc-setcontainermembers+xml`, `application/msrtc-presence-setsubscriber+xml`: 200
 *     (access control is not modelled: every colleague sees container 200).
 *   - any other body: 415.
 * - PUBLISH `Event: presence` (PIDF, generic clients) for the sender's own address: 200 with SIP-ETag.
 */
import type { Core } from 'sip.js';
import type { Result } from '../../sim/result.js';
import type { ContactChange, ContactChangeResult, ContactList } from './ocs.contacts.js';
import {
  aggregate,
  applyPublish,
  BATCH_SUBSCRIBE_TYPE,
  CATEGORY_PUBLISH_TYPE,
  categoriesDocument,
  contactDeltaDocument,
  contactListDocument,
  EVENT_CATEGORIES_TYPE,
  FAULT_TYPE,
  parseBatchSubscribe,
  parsePublish,
  parseSoap,
  ROAMING_CONTACTS_EVENT,
  ROAMING_CONTACTS_TYPE,
  ROAMING_SELF_EVENT,
  ROAMING_SELF_TYPE,
  roamingSelfDocument,
  soapResponse,
  SOAP_TYPE,
  wrongDeltaFault,
  type ContactCardData,
  type ContactDelta,
  type Publication,
} from './ocs.presence.js';

export const MAX_EXPIRES = 3600;
/** Subscriptions one connection may hold at once [U: the product's limit is not documented]. */
export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 256;
/** NOTIFYs whose answer is still awaited, at most (the oldest is forgotten first). */
const MAX_NOTIFIES_IN_FLIGHT = 4096;

export interface SipConn {
  transport: 'TLS' | 'TCP' | 'WSS';
  send(raw: string): void;
  closed: boolean;
  aors: Set<string>;
}

type SubscriptionKind = 'pidf' | 'categories' | 'roaming-contacts' | 'roaming-self';

export interface Subscription {
  id: string;
  kind: SubscriptionKind;
  subscriber: SipConn;
  /** The subscriber's address of record. */
  owner: string;
  /** Whose presence it watches (one for PIDF and single-user subscriptions, the batch's resources otherwise). */
  targets: Set<string>;
  /** The categories asked for (empty: all). */
  categories: string[];
  /** BENOTIFY instead of NOTIFY for changes (the client said `Supported: ms-benotify`). */
  benotify: boolean;
  /** Opened as a batched subscription (its refreshes in the dialog keep its resources). */
  batched?: boolean;
  callId: string;
  /** The subscriber's From (with its tag): our NOTIFY's To. */
  remote: string;
  /** Our side of the dialog: the To of the SUBSCRIBE. */
  local: string;
  localTag: string;
  contactUri: string;
  cseq: number;
  expiresAt: number;
  cancel: () => void;
}

/** What the pool keeps for presence; the front ends of a pool share it. */
export interface PresenceState {
  subscriptions: Map<string, Subscription>;
  /** PIDF documents generic clients PUBLISHed. */
  published: Map<string, string>;
  /** Enhanced-presence category instances, by user, by `name|instance|container`. */
  publications: Map<string, Map<string, Publication>>;
  /** The ends of `time` publications still to come (their cancels). */
  expiries: Set<() => void>;
}

export const newPresenceState = (): PresenceState => ({ subscriptions: new Map(), published: new Map(), publications: new Map(), expiries: new Set() });

export function clearPresenceState(s: PresenceState): void {
  for (const x of s.subscriptions.values()) x.cancel();
  for (const cancel of s.expiries) cancel();
  s.expiries.clear();
  s.subscriptions.clear();
  s.published.clear();
  s.publications.clear();
}

type Respond = (
  conn: SipConn,
  req: Core.IncomingRequestMessage,
  status: number,
  extra?: { reason?: string; headers?: string[]; toTag?: string; body?: { contentType: string; content: string } },
) => void;

export interface PresenceContext {
  state: PresenceState;
  viaHost: string;
  /** The clock registrations and subscriptions run on (ms). */
  now(): number;
  /** A timer on that clock; returns its cancel. */
  after(ms: number, run: () => void): () => void;
  token(bytes?: number): string;
  respond: Respond;
  warning(detail: string): string;
  homed(aor: string): boolean;
  /** Whether the user has a signed-in endpoint. */
  online(aor: string): boolean;
  /** Which of the user's endpoints registered on this connection (what its publications belong to). */
  endpointOf(conn: SipConn, aor: string): string;
  /** The registered address of the sender on this connection, if it is. */
  senderAllowed(conn: SipConn, req: Core.IncomingRequestMessage): string | undefined;
  aorOf(uri: { user?: string; host?: string } | undefined): string | undefined;
  contactCard(aor: string): ContactCardData | undefined;
  contactList(aor: string): Result<ContactList>;
  changeContactList(aor: string, change: ContactChange): Result<ContactChangeResult>;
  /** Journal a presence or contact-list change. */
  record(type: string, summary: string, details: Record<string, unknown>): void;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
/** Character data as XML writes it, read back (the five entities and character references). */
const xmlText = (raw: string): string =>
  raw.replace(/&(amp|lt|gt|quot|apos|#x[0-9a-fA-F]{1,6}|#\d{1,7});/g, (_m, e: string) => {
    if (e.startsWith('#')) {
      const code = e[1] === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1));
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '';
    }
    return ENTITIES[e] ?? '';
  });

const lower = (s: string | undefined) => (s ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

/** Header values split at commas, trimmed and lower-cased (`Supported`, `Accept`, `Require`). */
export const headerTokens = (req: Core.IncomingRequestMessage, name: string): string[] =>
  req
    .getHeaders(name)
    .flatMap((v) => v.split(','))
    .map((v) => (v.split(';')[0] ?? '').trim().toLowerCase())
    .filter(Boolean);

export function presence(ctx: PresenceContext) {
  const { state, viaHost } = ctx;
  const { subscriptions, published, publications } = state;
  /** The NOTIFYs sent and not answered yet: their branch, and the subscription they belong to. */
  const notified = new Map<string, string>();
  const iso = () => new Date(ctx.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');

  const pidf = (entity: string, open: boolean): string =>
    [
      '<?xml version="1.0" encoding="UTF-8"?>',
      `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="${entity}">`,
      `  <tuple id="t${Buffer.from(entity).toString('hex').slice(0, 8)}">`,
      `    <status><basic>${open ? 'open' : 'closed'}</basic></status>`,
      '  </tuple>',
      '</presence>',
      '',
    ].join('\r\n');

  /** What a PIDF publisher said, as enhanced presence reads it. */
  const pidfView = (aor: string): { open: boolean; note?: string } | undefined => {
    const doc = published.get(aor);
    if (!doc) return undefined;
    const open = /<basic>\s*open\s*<\/basic>/i.test(doc);
    // The note's text as XML escapes it; categoriesDocument escapes it again for the watcher.
    const note = xmlText(/<note(?:\s[^>]{0,200})?>([^<]{0,512})<\/note>/i.exec(doc)?.[1]?.trim() ?? '');
    return { open, ...(note ? { note } : {}) };
  };

  /** The user's publications still in force: a `time` publication past its end is dropped here. */
  const live = (aor: string): Publication[] => {
    const mine = publications.get(aor);
    if (!mine) return [];
    const now = ctx.now();
    for (const [k, p] of mine) if (p.expiresAt !== undefined && p.expiresAt <= now) mine.delete(k);
    if (mine.size === 0) publications.delete(aor);
    return [...mine.values()];
  };

  const viewOf = (aor: string) => {
    const p = pidfView(aor);
    return aggregate({ publications: live(aor), online: ctx.online(aor), ...(p ? { pidf: p } : {}) });
  };

  const categoriesFor = (s: Subscription, target: string): string => {
    const card = ctx.contactCard(target);
    return categoriesDocument(target, viewOf(target), { publishTime: iso(), categories: s.categories, ...(card ? { card } : {}) });
  };

  /** How a subscription ends: it ran out (RFC 6665 `reason=timeout`), or the subscriber ended it. */
  type Ending = 'timeout' | 'unsubscribed';
  const send = (s: Subscription, o: { event: string; contentType?: string; body?: string; terminated?: Ending | boolean; benotify?: boolean }) => {
    if (s.subscriber.closed) return;
    const remaining = Math.max(0, Math.round((s.expiresAt - ctx.now()) / 1000));
    const method = o.benotify && s.benotify ? 'BENOTIFY' : 'NOTIFY';
    const body = o.body ?? '';
    const branch = `z9hG4bK${ctx.token(8)}`;
    // A NOTIFY is answered (a BENOTIFY is not): its answer may say the subscription is gone there.
    if (method === 'NOTIFY' && !o.terminated) {
      if (notified.size >= MAX_NOTIFIES_IN_FLIGHT) notified.delete(notified.keys().next().value as string);
      notified.set(branch, s.id);
    }
    const lines = [
      `${method} ${s.contactUri} SIP/2.0`,
      `Via: SIP/2.0/${s.subscriber.transport} ${viaHost};branch=${branch}`,
      'Max-Forwards: 70',
      `From: ${s.local};tag=${s.localTag}`,
      `To: ${s.remote}`,
      `Call-ID: ${s.callId}`,
      `CSeq: ${s.cseq++} ${method}`,
      `Contact: <sip:${viaHost};transport=${s.subscriber.transport.toLowerCase()}>`,
      `Event: ${o.event}`,
      `Subscription-State: ${o.terminated ? (o.terminated === 'unsubscribed' ? 'terminated' : 'terminated;reason=timeout') : `active;expires=${remaining}`}`,
      ...(o.contentType ? [`Content-Type: ${o.contentType}`] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ];
    s.subscriber.send(lines.join('\r\n'));
  };

  /** What a presence subscription is sent about `target` now. */
  const notifyPresence = (s: Subscription, target: string, terminated: Ending | false = false) => {
    if (s.kind === 'pidf') send(s, { event: 'presence', contentType: 'application/pidf+xml', body: published.get(target) ?? pidf(target, ctx.online(target)), terminated });
    else send(s, { event: 'presence', contentType: EVENT_CATEGORIES_TYPE, body: categoriesFor(s, target), terminated });
  };

  /** Everyone watching `aor` hears what they now see. */
  const notifyWatchers = (aor: string): void => {
    for (const s of subscriptions.values()) if ((s.kind === 'pidf' || s.kind === 'categories') && s.targets.has(aor)) notifyPresence(s, aor);
  };

  const notifySelf = (aor: string): void => {
    const doc = roamingSelfDocument(aor, live(aor));
    for (const s of subscriptions.values()) if (s.kind === 'roaming-self' && s.owner === aor) send(s, { event: ROAMING_SELF_EVENT, contentType: ROAMING_SELF_TYPE, body: doc, benotify: true });
  };

  const endSubscription = (id: string) => {
    const s = subscriptions.get(id);
    if (!s) return;
    s.cancel();
    subscriptions.delete(id);
  };

  const contactOf = (req: Core.IncomingRequestMessage): string | undefined => {
    try {
      const c = req.parseHeader('contact', 0) as { uri: { toString(): string } } | undefined;
      return c?.uri.toString();
    } catch {
      return undefined;
    }
  };

  const expiresOf = (req: Core.IncomingRequestMessage) => {
    const e = req.getHeader('expires');
    return Math.min(e !== undefined && /^\d+$/.test(e.trim()) ? Number(e.trim()) : MAX_EXPIRES, MAX_EXPIRES);
  };

  /** Opens (or refreshes) the subscription the request asks for; undefined when it was answered with an error. */
  const open = (conn: SipConn, req: Core.IncomingRequestMessage, kind: SubscriptionKind, o: { owner: string; targets?: string[]; categories?: string[] }, answer: (s: Subscription, expires: number) => void): void => {
    const contactUri = contactOf(req);
    if (!contactUri) return ctx.respond(conn, req, 400, { headers: [ctx.warning('SUBSCRIBE without a readable Contact')] });
    const expires = expiresOf(req);
    const id = `${req.callId}|${req.fromTag}`;
    const existing = subscriptions.get(id);
    if (existing && existing.subscriber !== conn) return ctx.respond(conn, req, 481, { headers: [ctx.warning('that subscription belongs to another connection')] });
    if (!existing && expires > 0) {
      let held = 0;
      for (const x of subscriptions.values()) if (x.subscriber === conn) held++;
      if (held >= MAX_SUBSCRIPTIONS_PER_CONNECTION) return ctx.respond(conn, req, 403, { headers: [ctx.warning(`this connection already holds ${MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions`)] });
    }
    existing?.cancel();
    const localTag = existing?.localTag ?? req.toTag ?? ctx.token(4);
    const s: Subscription = existing ?? {
      id,
      kind,
      subscriber: conn,
      owner: o.owner,
      targets: new Set(),
      categories: [],
      benotify: false,
      callId: req.callId,
      remote: req.getHeader('from') ?? `<${o.owner}>`,
      local: (req.getHeader('to') ?? `<${o.owner}>`).replace(/;\s*tag=[^;]*/i, ''),
      localTag,
      contactUri,
      cseq: 1,
      expiresAt: 0,
      cancel: () => undefined,
    };
    s.contactUri = contactUri;
    s.benotify = headerTokens(req, 'supported').includes('ms-benotify');
    for (const t of o.targets ?? []) s.targets.add(t);
    if (o.categories?.length) s.categories = o.categories;
    s.expiresAt = ctx.now() + expires * 1000;
    s.cancel = ctx.after(expires * 1000, () => {
      if (s.kind === 'pidf' || s.kind === 'categories') for (const t of s.targets) notifyPresence(s, t, 'timeout');
      endSubscription(id);
    });
    subscriptions.set(id, s);
    answer(s, expires);
    if (expires === 0) endSubscription(id);
  };

  /** The subscription a request within its dialog refreshes or ends (whatever headers it carries). */
  const existingOf = (conn: SipConn, req: Core.IncomingRequestMessage): Subscription | undefined => {
    const s = subscriptions.get(`${req.callId}|${req.fromTag}`);
    return s && s.subscriber === conn && req.toTag === s.localTag ? s : undefined;
  };

  const okHeaders = (conn: SipConn, expires: number, event: string) => [`Expires: ${expires}`, `Contact: <sip:${viaHost};transport=${conn.transport.toLowerCase()}>`, `Event: ${event}`];

  // ---- SUBSCRIBE ---------------------------------------------------------------------------------

  const onPresenceSubscribe = (conn: SipConn, req: Core.IncomingRequestMessage) => {
    const from = ctx.senderAllowed(conn, req);
    if (!from) return ctx.respond(conn, req, 403, { headers: [ctx.warning('the subscriber is not registered on this connection')] });
    const target = ctx.aorOf(req.ruri) ?? ctx.aorOf(req.to?.uri);
    const bodyType = lower(req.getHeader('content-type'));
    const existing = existingOf(conn, req);
    // A refresh or an unsubscribe in the dialog (sip.js and sipe send them without the batch's headers):
    // the subscription as it was, its resources kept.
    const batched = existing ? existing.batched === true : bodyType === BATCH_SUBSCRIBE_TYPE || headerTokens(req, 'require').includes('adhoclist');
    if (existing && !batched) {
      return open(conn, req, existing.kind, { owner: from }, (s, expires) => {
        ctx.respond(conn, req, 200, { toTag: s.localTag, headers: okHeaders(conn, expires, 'presence') });
        if (expires === 0) for (const t of s.targets) notifyPresence(s, t, 'unsubscribed');
      });
    }
    if (batched) {
      if (target !== from) return ctx.respond(conn, req, 403, { headers: [ctx.warning('a batched subscription is sent to the subscriber\'s own address')] });
      let resources: string[] = [];
      let categories: string[] = [];
      let remove: string[] = [];
      if ((req.body ?? '').trim()) {
        if (bodyType !== BATCH_SUBSCRIBE_TYPE) return ctx.respond(conn, req, 415, { headers: [`Accept: ${BATCH_SUBSCRIBE_TYPE}`] });
        const b = parseBatchSubscribe(req.body ?? '');
        if (!b.ok) return ctx.respond(conn, req, 400, { headers: [ctx.warning(`unreadable batchSub: ${b.failure.message}`)] });
        categories = b.value.categories;
        if (b.value.action === 'subscribe') resources = b.value.resources.filter((r) => ctx.homed(r));
        else remove = b.value.resources;
      }
      return open(conn, req, 'categories', { owner: from, targets: resources, categories }, (s, expires) => {
        s.batched = true;
        for (const r of remove) {
          if (s.targets.delete(r)) notifyPresence(s, r, 'unsubscribed');
        }
        ctx.respond(conn, req, 200, { toTag: s.localTag, headers: okHeaders(conn, expires, 'presence') });
        if (expires === 0) {
          for (const t of s.targets) notifyPresence(s, t, 'unsubscribed');
          return;
        }
        // A refresh without a body is answered alone; new resources get their first NOTIFY now.
        for (const r of resources) notifyPresence(s, r);
      });
    }
    if (!target || !ctx.homed(target)) return ctx.respond(conn, req, 404, { headers: [ctx.warning(`${target ?? ''} is not a user of this deployment`)] });
    const kind: SubscriptionKind = headerTokens(req, 'accept').includes(EVENT_CATEGORIES_TYPE) ? 'categories' : 'pidf';
    open(conn, req, kind, { owner: from, targets: [target] }, (s, expires) => {
      ctx.respond(conn, req, 200, { toTag: s.localTag, headers: okHeaders(conn, expires, 'presence') });
      notifyPresence(s, target, expires === 0 ? 'unsubscribed' : false);
    });
  };

  /** roaming-contacts and roaming-self: the subscriber's own data, in the 200 where the client takes it there. */
  const onRoamingSubscribe = (conn: SipConn, req: Core.IncomingRequestMessage, event: typeof ROAMING_CONTACTS_EVENT | typeof ROAMING_SELF_EVENT) => {
    const from = ctx.senderAllowed(conn, req);
    if (!from) return ctx.respond(conn, req, 403, { headers: [ctx.warning('the subscriber is not registered on this connection')] });
    if (ctx.aorOf(req.to?.uri) !== from) return ctx.respond(conn, req, 403, { headers: [ctx.warning(`${event} is given to the subscriber itself only`)] });
    let document: { contentType: string; content: string };
    if (event === ROAMING_CONTACTS_EVENT) {
      const list = ctx.contactList(from);
      if (!list.ok) return ctx.respond(conn, req, 503, { headers: [ctx.warning(list.failure.message)] });
      document = { contentType: ROAMING_CONTACTS_TYPE, content: contactListDocument(list.value) };
    } else {
      document = { contentType: ROAMING_SELF_TYPE, content: roamingSelfDocument(from, live(from)) };
    }
    open(conn, req, event === ROAMING_CONTACTS_EVENT ? 'roaming-contacts' : 'roaming-self', { owner: from }, (s, expires) => {
      if (headerTokens(req, 'supported').includes('ms-piggyback-first-notify')) {
        // The piggybacked document counts as this side's request in the dialog: later NOTIFYs go on from it.
        ctx.respond(conn, req, 200, { toTag: s.localTag, headers: [...okHeaders(conn, expires, event), `ms-piggyback-cseq: ${s.cseq++}`, 'Supported: ms-benotify, ms-piggyback-first-notify'], body: document });
        return;
      }
      ctx.respond(conn, req, 200, { toTag: s.localTag, headers: okHeaders(conn, expires, event) });
      send(s, { event, contentType: document.contentType, body: document.content, terminated: expires === 0 ? 'unsubscribed' : false });
    });
  };

  // ---- SERVICE -----------------------------------------------------------------------------------

  const onService = (conn: SipConn, req: Core.IncomingRequestMessage) => {
    const from = ctx.senderAllowed(conn, req);
    if (!from) return ctx.respond(conn, req, 403, { headers: [ctx.warning('the sender is not registered on this connection')] });
    const target = ctx.aorOf(req.ruri) ?? ctx.aorOf(req.to?.uri);
    if (target !== from) return ctx.respond(conn, req, 403, { headers: [ctx.warning('a user may change only its own presence and contact list')] });
    const type = lower(req.getHeader('content-type'));
    const body = req.body ?? '';
    if (type === CATEGORY_PUBLISH_TYPE) return publishCategories(conn, req, from, body);
    if (type === SOAP_TYPE) return contactListRequest(conn, req, from, body);
    if (type === 'application/msrtc-setcontainermembers+xml' || type === 'application/msrtc-presence-setsubscriber+xml') return ctx.respond(conn, req, 200);
    ctx.respond(conn, req, 415, { headers: [`Accept: ${CATEGORY_PUBLISH_TYPE}, ${SOAP_TYPE}`] });
  };

  const publishCategories = (conn: SipConn, req: Core.IncomingRequestMessage, from: string, body: string) => {
    const requests = parsePublish(body, from);
    if (!requests.ok) return ctx.respond(conn, req, 400, { headers: [ctx.warning(requests.failure.message)] });
    live(from);
    const current = publications.get(from) ?? new Map<string, Publication>();
    const outcome = applyPublish(current, requests.value, { publishTime: iso(), endpoint: endpointOf(conn, from), now: ctx.now() });
    if (!outcome.ok) {
      if ('tooMany' in outcome) return ctx.respond(conn, req, 413, { headers: [ctx.warning('too many category instances for one user')] });
      return ctx.respond(conn, req, 409, { reason: 'Conflict', body: { contentType: FAULT_TYPE, content: wrongDeltaFault(outcome.conflicts) } });
    }
    publications.set(from, outcome.publications);
    ctx.respond(conn, req, 200);
    // A `time` publication ends on its own: when it does, the user's endpoints and watchers hear of it.
    for (const r of requests.value) {
      if (r.expireType !== 'time' || !r.expires) continue;
      const cancel = ctx.after(r.expires * 1000, () => {
        state.expiries.delete(cancel);
        live(from);
        notifySelf(from);
        notifyWatchers(from);
      });
      state.expiries.add(cancel);
    }
    const view = viewOf(from);
    ctx.record('ocs.presencePublished', `${from} published ${requests.value.map((r) => `${r.name}/${r.container}`).join(', ')}: watchers see availability ${view.availability}${view.note ? ` with the note "${view.note.text}"` : ''}`, {
      user: from,
      availability: view.availability,
      ...(view.note ? { note: view.note.text } : {}),
    });
    notifySelf(from);
    notifyWatchers(from);
  };

  const contactListRequest = (conn: SipConn, req: Core.IncomingRequestMessage, from: string, body: string) => {
    const soap = parseSoap(body);
    if (!soap.ok) return ctx.respond(conn, req, 400, { headers: [ctx.warning(soap.failure.message)] });
    const r = soap.value;
    const change: ContactChange =
      r.method === 'setContact'
        ? { op: 'setContact', uri: r.uri, name: r.name, groups: r.groups, subscribed: r.subscribed }
        : r.method === 'deleteContact'
          ? { op: 'deleteContact', uri: r.uri }
          : r.method === 'addGroup'
            ? { op: 'addGroup', name: r.name }
            : r.method === 'modifyGroup'
              ? { op: 'modifyGroup', id: r.id, name: r.name }
              : { op: 'deleteGroup', id: r.id };
    const done = ctx.changeContactList(from, change);
    if (!done.ok) {
      const down = done.failure.kind === 'ocs.backEndUnavailable' || done.failure.kind === 'ocs.sourcePoolUnavailable';
      return ctx.respond(conn, req, down ? 503 : 400, { headers: [ctx.warning(done.failure.message)] });
    }
    ctx.respond(conn, req, 200, { body: { contentType: SOAP_TYPE, content: soapResponse(r.method, done.value.groupId !== undefined ? { groupId: done.value.groupId } : {}) } });
    const deltas = contactDeltas(done.value.before, done.value.list);
    if (deltas.length === 0) return;
    const doc = contactDeltaDocument(done.value.deltaNum, deltas);
    for (const s of subscriptions.values()) if (s.kind === 'roaming-contacts' && s.owner === from) send(s, { event: ROAMING_CONTACTS_EVENT, contentType: ROAMING_CONTACTS_TYPE, body: doc, benotify: true });
  };

  // ---- PUBLISH (PIDF) ------------------------------------------------------------------------------

  const onPublish = (conn: SipConn, req: Core.IncomingRequestMessage) => {
    const event = lower(req.getHeader('event'));
    if (event !== 'presence') return ctx.respond(conn, req, 489, { headers: ['Allow-Events: presence'] });
    const from = ctx.senderAllowed(conn, req);
    const target = ctx.aorOf(req.ruri) ?? ctx.aorOf(req.to?.uri);
    if (!from || from !== target) return ctx.respond(conn, req, 403, { headers: [ctx.warning('a user may publish only its own presence')] });
    const expires = expiresOf(req);
    if (expires === 0) published.delete(from);
    else if (req.body) published.set(from, req.body);
    ctx.respond(conn, req, 200, { headers: [`SIP-ETag: ${ctx.token(6)}`, `Expires: ${expires}`] });
    notifyWatchers(from);
  };

  const endpointOf = ctx.endpointOf;

  return {
    onPresenceSubscribe,
    onRoamingSubscribe,
    onService,
    onPublish,
    notifyWatchers,
    /**
     * One of the user's endpoints signed out: what it published with `endpoint` expiry goes; with the
     * last one, the `user` publications and a PIDF document go too. Watchers hear what they now see.
     */
    signedOut(aor: string, endpoint: string, last: boolean, conn?: SipConn): void {
      // The endpoint's subscriptions end with it (on a connection that stays open, signed out or
      // signed in as someone else, they would go on delivering the user's data).
      if (conn) for (const x of [...subscriptions.values()]) if (x.subscriber === conn && x.owner === aor) endSubscription(x.id);
      if (last) published.delete(aor);
      const mine = publications.get(aor);
      if (mine) {
        for (const [k, p] of mine) if ((p.expireType === 'endpoint' && p.endpoint === endpoint) || (last && p.expireType === 'user')) mine.delete(k);
        if (mine.size === 0) publications.delete(aor);
      }
      notifySelf(aor);
      notifyWatchers(aor);
    },
    /**
     * The answer to a NOTIFY this front end sent (by its Via branch); false if it sent none such. A 481
     * (the subscriber knows no such subscription) or a 404/410 ends it (RFC 6665 §4.2.2).
     */
    notifyAnswered(branch: string, status: number): boolean {
      const id = notified.get(branch);
      if (id === undefined) return false;
      if (status >= 200) notified.delete(branch);
      if (status === 481 || status === 404 || status === 410) endSubscription(id);
      return true;
    },
    connectionClosed(conn: SipConn): void {
      for (const s of [...subscriptions.values()]) if (s.subscriber === conn) endSubscription(s.id);
    },
  };
}

/** What changed between two versions of a contact list, as `contactDelta` elements. */
export function contactDeltas(before: ContactList, after: ContactList): ContactDelta[] {
  const out: ContactDelta[] = [];
  const groupsBefore = new Map(before.groups.map((g) => [g.id, g.name]));
  const groupsAfter = new Map(after.groups.map((g) => [g.id, g.name]));
  for (const [id, name] of groupsAfter) {
    if (!groupsBefore.has(id)) out.push({ kind: 'addedGroup', id, name });
    else if (groupsBefore.get(id) !== name) out.push({ kind: 'modifiedGroup', id, name });
  }
  const cb = new Map(before.contacts.map((c) => [c.uri, c]));
  const ca = new Map(after.contacts.map((c) => [c.uri, c]));
  for (const [uri, c] of ca) {
    const was = cb.get(uri);
    if (!was) out.push({ kind: 'addedContact', uri, name: c.name, groups: c.groups, subscribed: c.subscribed });
    else if (was.name !== c.name || was.groups.join(' ') !== c.groups.join(' ') || was.subscribed !== c.subscribed) out.push({ kind: 'modifiedContact', uri, name: c.name, groups: c.groups, subscribed: c.subscribed });
  }
  for (const uri of cb.keys()) if (!ca.has(uri)) out.push({ kind: 'deletedContact', uri });
  for (const id of groupsBefore.keys()) if (!groupsAfter.has(id)) out.push({ kind: 'deletedGroup', id });
  return out;
}
