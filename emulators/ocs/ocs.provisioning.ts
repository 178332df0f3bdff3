/**
 * In-band provisioning (the `vnd-microsoft-provisioning-v2` event package), pure over the OCS store: what
 * the front end answers when Communicator asks for its configuration after REGISTER, and a reader for that
 * answer as a client uses it (the Address Book Server and group expansion URLs).
 *
 * Wire format ([MS-SIPREGE] 2.2.2 [V]; pidgin-sipe `sipe_subscribe_roaming_provisioning_v2` /
 * `sipe_process_provisioning_v2` [B]):
 * - request body: `<provisioningGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisioninggrouplist">`
 *   with one `<provisioningGroup name="..."/>` per group wanted (ServerConfiguration, meetingPolicy, ucPolicy).
 * - response body: one plain XML document (not multipart), Content-Type
 *   `application/vnd-microsoft-roaming-provisioning-v2+xml`:
 *   `<provisionGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification">`
 *   with one `<provisionGroup name="...">` per group. ServerConfiguration holds one child element per
 *   setting (`<absInternalServerUrl>…</absInternalServerUrl>`, [MS-SIPREGE] 2.2.2.5.1); meetingPolicy and
 *   ucPolicy hold `<instance><property name="…">…</property></instance>` (2.2.2.5.2, 2.2.2.5.3); the later
 *   (Lync) groups use `<propertyEntryList><property name="…">` — the reader accepts all three shapes.
 */
import { fail, ok, type Result } from '../../sim/result.js';
import { normalizeSipUri } from './ocs.registrar.js';
import { findPool, homedUserBySip, type OcsStore, type PoolRecord } from './ocs.store.js';

export const PROVISIONING_EVENT = 'vnd-microsoft-provisioning-v2';
export const PROVISIONING_CONTENT_TYPE = 'application/vnd-microsoft-roaming-provisioning-v2+xml';
/** Namespace of the request document (`provisioningGroupList`). */
export const PROVISIONING_REQUEST_NS = 'http://schemas.microsoft.com/2006/09/sip/provisioninggrouplist';
/** Namespace of the response document (`provisionGroupList`). */
export const PROVISIONING_RESPONSE_NS = 'http://schemas.microsoft.com/2006/09/sip/provisiongrouplist-notification';
/** The groups an OCS 2007 R2 front end answers, in the order Communicator asks for them ([MS-SIPREGE] 2.2.2.5, sipe). */
export const PROVISION_GROUPS = ['ServerConfiguration', 'meetingPolicy', 'ucPolicy'] as const;
export type ProvisionGroup = (typeof PROVISION_GROUPS)[number];

/** Virtual directories of the Web Components (OCS 2007 R2 "Virtual Directories for Internal Access" [V]). */
export const ABS_INTERNAL_PATH = '/Abs/Int/Handler';
export const ABS_EXTERNAL_PATH = '/Abs/Ext/Handler';
export const GROUP_EXPANSION_INTERNAL_PATH = '/GroupExpansion/Int/service.asmx';
export const GROUP_EXPANSION_EXTERNAL_PATH = '/GroupExpansion/Ext/service.asmx';

export type ProvisioningFailure =
  | { kind: 'ocs.userNotHomed'; message: string; user: string }
  | { kind: 'ocs.badProvisioningRequest'; message: string };

export interface ProvisioningResponse {
  body: string;
  contentType: typeof PROVISIONING_CONTENT_TYPE;
  /** The groups the body carries, in order. */
  groups: ProvisionGroup[];
}

export interface ParsedProvisioning {
  absInternalServerUrl?: string;
  absExternalServerUrl?: string;
  dlxInternalUrl?: string;
  dlxExternalUrl?: string;
  /** Every group's settings by name (ServerConfiguration child elements, or `property name=` values). */
  groups: Record<string, Record<string, string>>;
  /** Why nothing (or not everything) could be read: wrong Content-Type or malformed XML. */
  problem?: string;
}

// ---- the front end's answer ------------------------------------------------------------------------

const httpsUrl = (fqdn: string | undefined, path: string): string => (fqdn ? `https://${fqdn}${path}` : '');

/**
 * The ServerConfiguration group for a user of `pool`, element by element. URLs follow the pool's Web
 * Components settings: the internal web farm FQDN (Configure Pool's default is the pool FQDN) and, when
 * configured, the external one; without an external web farm the external URLs are sent empty [U: the
 * schema makes every element required (2.2.2.5.1); UCMA's Lync example shows unset URLs as empty values].
 */
export function serverConfiguration(pool: PoolRecord, aor: string): Array<[string, string]> {
  const internal = pool.internalWebFarmFqdn || pool.fqdn;
  const external = pool.externalWebFarmFqdn;
  return [
    ['absInternalServerUrl', httpsUrl(internal, ABS_INTERNAL_PATH)],
    ['absExternalServerUrl', httpsUrl(external, ABS_EXTERNAL_PATH)],
    // R2's Address Book Web Query service shares the group expansion URL ("Address Book Server Enhancements" [V]).
    ['absWebServiceEnabled', 'true'], // [U] default
    ['abwqInternalUrl', httpsUrl(internal, GROUP_EXPANSION_INTERNAL_PATH)],
    ['abwqExternalUrl', httpsUrl(external, GROUP_EXPANSION_EXTERNAL_PATH)],
    ['dlxInternalUrl', httpsUrl(internal, GROUP_EXPANSION_INTERNAL_PATH)],
    ['dlxExternalUrl', httpsUrl(external, GROUP_EXPANSION_EXTERNAL_PATH)],
    ['dlxEnabled', 'true'], // "Enable distribution group expansion" is on by default [V]
    ['qosEnabled', 'false'], // [U] default (QoS marking off)
    // The conferencing focus factory of the user ([B] sipe reads it; UCMA example shows this form).
    ['focusFactoryUri', `${normalizeSipUri(aor)};gruu;opaque=app:conf:focusfactory`],
  ];
}

/** meetingPolicy and ucPolicy of the default policies [U: property names and values]. */
const POLICY_PROPERTIES: Record<Exclude<ProvisionGroup, 'ServerConfiguration'>, Array<[string, string]>> = {
  meetingPolicy: [
    ['MeetingSize', '250'],
    ['AllowIPAudio', 'true'],
    ['AllowIPVideo', 'true'],
    ['AllowAnonymousParticipants', 'false'],
  ],
  ucPolicy: [
    ['AllowSimultaneousRinging', 'true'],
    ['AllowCallForwarding', 'true'],
  ],
};

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function groupXml(group: ProvisionGroup, pool: PoolRecord, aor: string): string[] {
  if (group === 'ServerConfiguration') {
    const children = serverConfiguration(pool, aor).map(([k, v]) => (v ? `    <${k}>${escapeXml(v)}</${k}>` : `    <${k}/>`));
    return [`  <provisionGroup name="${group}">`, ...children, '  </provisionGroup>'];
  }
  const props = POLICY_PROPERTIES[group].map(([k, v]) => `      <property name="${escapeXml(k)}">${escapeXml(v)}</property>`);
  return [`  <provisionGroup name="${group}">`, '    <instance>', ...props, '    </instance>', '  </provisionGroup>'];
}

const isProvisionGroup = (name: string): name is ProvisionGroup => (PROVISION_GROUPS as readonly string[]).includes(name);

/**
 * The response document for `aor` (the subscriber, a user homed in the store) with the requested groups
 * that this server knows, in the order asked; unknown names are left out (sipe asks OCS 2007 R2 for
 * Lync's persistentChatConfiguration and signs in [B]). No `requested` means every group.
 */
export function buildProvisioning(store: OcsStore, aor: string, requested?: readonly string[]): Result<ProvisioningResponse, ProvisioningFailure> {
  const uri = normalizeSipUri(aor);
  const user = homedUserBySip(store, uri);
  const pool = user ? findPool(store, user.pool) : undefined;
  if (!user || !pool) return fail({ kind: 'ocs.userNotHomed', message: `${uri} is not homed on a pool of this deployment`, user: uri });
  const groups = [...new Set(requested ?? PROVISION_GROUPS)].filter(isProvisionGroup);
  const body = [`<provisionGroupList xmlns="${PROVISIONING_RESPONSE_NS}">`, ...groups.flatMap((g) => groupXml(g, pool, uri)), '</provisionGroupList>', ''].join('\r\n');
  return ok({ body, contentType: PROVISIONING_CONTENT_TYPE, groups });
}

/** The SUBSCRIBE body Communicator sends: one `provisioningGroup` per group wanted. */
export function provisioningRequestBody(groups: readonly string[] = PROVISION_GROUPS): string {
  return [`<provisioningGroupList xmlns="${PROVISIONING_REQUEST_NS}">`, ...groups.map((g) => `  <provisioningGroup name="${escapeXml(g)}"/>`), '</provisioningGroupList>'].join('\r\n');
}

/** The group names a SUBSCRIBE body asks for; an empty body asks for every group [U]. */
export function requestedProvisionGroups(body: string): Result<string[], ProvisioningFailure> {
  if (!body.trim()) return ok([...PROVISION_GROUPS]);
  const root = parseXml(body);
  if (!root || root.name !== 'provisioningGroupList') {
    return fail({ kind: 'ocs.badProvisioningRequest', message: 'the body is not a provisioningGroupList document' });
  }
  return ok(root.children.filter((c) => c.name === 'provisioningGroup' && c.attrs.name).map((c) => c.attrs.name ?? ''));
}

// ---- the client's reading ----------------------------------------------------------------------------

const mediaType = (contentType: string): string => (contentType.split(';')[0] ?? '').trim().toLowerCase();

function mediaParam(contentType: string, name: string): string | undefined {
  for (const part of contentType.split(';').slice(1)) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim().toLowerCase() !== name) continue;
    const v = part.slice(eq + 1).trim();
    return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
  }
  return undefined;
}

/** The provisioning documents in a body: the body itself, or each provisioning part of a multipart body. */
function documents(body: string, contentType: string): { docs: string[]; problem?: string } {
  const type = mediaType(contentType);
  if (type === PROVISIONING_CONTENT_TYPE) return { docs: [body] };
  if (!type.startsWith('multipart/')) return { docs: [], problem: `unexpected Content-Type ${contentType || '(none)'}` };
  const boundary = mediaParam(contentType, 'boundary');
  if (!boundary) return { docs: [], problem: 'multipart body without a boundary' };
  const docs: string[] = [];
  for (const part of body.split(`--${boundary}`).slice(1)) {
    if (part.startsWith('--')) break;
    const split = part.indexOf('\r\n\r\n');
    if (split < 0) continue;
    const headers = part.slice(0, split).split('\r\n');
    const ct = headers.find((h) => h.toLowerCase().startsWith('content-type:'));
    if (ct && mediaType(ct.slice(ct.indexOf(':') + 1)) === PROVISIONING_CONTENT_TYPE) docs.push(part.slice(split + 4).replace(/\r\n$/, ''));
  }
  return { docs, ...(docs.length ? {} : { problem: 'no provisioning part in the multipart body' }) };
}

function groupValues(group: XmlElement): Map<string, string> {
  const out = new Map<string, string>();
  const property = (p: XmlElement) => {
    if (p.name === 'property' && p.attrs.name !== undefined) out.set(p.attrs.name, p.text.trim());
  };
  for (const child of group.children) {
    if (child.name === 'instance' || child.name === 'propertyEntryList') child.children.forEach(property);
    else if (child.name === 'property') property(child);
    else out.set(child.name, child.text.trim());
  }
  return out;
}

/**
 * Reads a provisioning response (the 200's or the NOTIFY's body) as a client: every group's settings,
 * and the address book / group expansion URLs from ServerConfiguration (absent when empty).
 */
export function parseProvisioning(body: string, contentType: string): ParsedProvisioning {
  const { docs, problem } = documents(body, contentType);
  const groups = new Map<string, Map<string, string>>();
  const problems = problem ? [problem] : [];
  for (const doc of docs) {
    const root = parseXml(doc);
    if (!root || root.name !== 'provisionGroupList') {
      problems.push('the body is not a provisionGroupList document');
      continue;
    }
    for (const g of root.children) {
      const name = g.name === 'provisionGroup' ? g.attrs.name : undefined;
      if (name === undefined) continue;
      const merged = groups.get(name) ?? new Map<string, string>();
      for (const [k, v] of groupValues(g)) merged.set(k, v);
      groups.set(name, merged);
    }
  }
  const server = groups.get('ServerConfiguration');
  const url = (k: string): string | undefined => server?.get(k) || undefined;
  const found: ParsedProvisioning = { groups: Object.fromEntries([...groups].map(([k, v]) => [k, Object.fromEntries(v)])) };
  for (const k of ['absInternalServerUrl', 'absExternalServerUrl', 'dlxInternalUrl', 'dlxExternalUrl'] as const) {
    const v = url(k);
    if (v) found[k] = v;
  }
  if (problems.length) found.problem = problems.join('; ');
  return found;
}

// ---- a small XML reader ------------------------------------------------------------------------------

/** An element with its local name (prefix dropped), attributes, child elements and character data. */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const MAX_DEPTH = 32;
const MAX_ELEMENTS = 10_000;

const localName = (qname: string): string => qname.slice(qname.indexOf(':') + 1);

function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|lt|gt|amp|quot|apos);/g, (whole, e: string) => {
    if (e === 'lt') return '<';
    if (e === 'gt') return '>';
    if (e === 'amp') return '&';
    if (e === 'quot') return '"';
    if (e === 'apos') return "'";
    const code = e.startsWith('#x') ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';

/** `name attr="v" attr2='w'` (the inside of a start tag without `<`, `>` and a trailing `/`). */
function parseTag(inner: string): { name: string; attrs: Record<string, string> } | undefined {
  let i = 0;
  const n = inner.length;
  while (i < n && !isSpace(inner[i])) i++;
  const name = inner.slice(0, i);
  if (!name) return undefined;
  const attrs = new Map<string, string>();
  for (;;) {
    while (i < n && isSpace(inner[i])) i++;
    if (i >= n) break;
    const start = i;
    while (i < n && inner[i] !== '=' && !isSpace(inner[i])) i++;
    const attr = inner.slice(start, i);
    while (i < n && isSpace(inner[i])) i++;
    if (!attr || inner[i] !== '=') return undefined;
    i++;
    while (i < n && isSpace(inner[i])) i++;
    const quote = inner[i];
    if (quote !== '"' && quote !== "'") return undefined;
    const end = inner.indexOf(quote, i + 1);
    if (end < 0) return undefined;
    attrs.set(attr.startsWith('xmlns') ? attr : localName(attr), decodeEntities(inner.slice(i + 1, end)));
    i = end + 1;
  }
  return { name, attrs: Object.fromEntries(attrs) };
}

/**
 * Parses a small XML document (elements, attributes, text, CDATA, comments, processing instructions) into
 * its root element; undefined when it is not well formed. No DTDs (so no entity expansion), bounded
 * depth and element count; every step moves forward with indexOf, so time is linear in the input.
 */
export function parseXml(src: string): XmlElement | undefined {
  const stack: Array<{ el: XmlElement; qname: string }> = [];
  let root: XmlElement | undefined;
  let count = 0;
  let pos = 0;
  const addText = (t: string): boolean => {
    const top = stack[stack.length - 1];
    if (top) top.el.text += t;
    return top !== undefined || !t.trim();
  };
  while (pos < src.length) {
    const lt = src.indexOf('<', pos);
    if (!addText(decodeEntities(src.slice(pos, lt < 0 ? src.length : lt)))) return undefined;
    if (lt < 0) break;
    if (src.startsWith('<?', lt)) {
      const end = src.indexOf('?>', lt + 2);
      if (end < 0) return undefined;
      pos = end + 2;
    } else if (src.startsWith('<!--', lt)) {
      const end = src.indexOf('-->', lt + 4);
      if (end < 0) return undefined;
      pos = end + 3;
    } else if (src.startsWith('<![CDATA[', lt)) {
      const end = src.indexOf(']]>', lt + 9);
      if (end < 0 || !stack.length) return undefined;
      addText(src.slice(lt + 9, end));
      pos = end + 3;
    } else if (src.startsWith('<!', lt)) {
      return undefined; // DOCTYPE and other declarations are refused
    } else if (src.startsWith('</', lt)) {
      const end = src.indexOf('>', lt + 2);
      const open = stack.pop();
      if (end < 0 || !open || src.slice(lt + 2, end).trim() !== open.qname) return undefined;
      pos = end + 1;
    } else {
      // Find the tag's end outside quoted attribute values.
      let i = lt + 1;
      let quote = '';
      for (; i < src.length; i++) {
        const c = src[i];
        if (quote) {
          if (c === quote) quote = '';
        } else if (c === '"' || c === "'") quote = c;
        else if (c === '>' || c === '<') break;
      }
      if (src[i] !== '>') return undefined;
      let inner = src.slice(lt + 1, i);
      const selfClosing = inner.endsWith('/');
      if (selfClosing) inner = inner.slice(0, -1);
      const tag = parseTag(inner);
      if (!tag || ++count > MAX_ELEMENTS || stack.length >= MAX_DEPTH) return undefined;
      const el: XmlElement = { name: localName(tag.name), attrs: tag.attrs, children: [], text: '' };
      const parent = stack[stack.length - 1];
      if (parent) parent.el.children.push(el);
      else if (root) return undefined; // a second root
      else root = el;
      if (!selfClosing) stack.push({ el, qname: tag.name });
      pos = i + 1;
    }
  }
  return stack.length === 0 ? root : undefined;
}
