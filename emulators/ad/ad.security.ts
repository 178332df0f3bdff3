/**
 * Binary forms of what AD stores as structures: GUIDs (Microsoft byte order), SIDs, and security
 * descriptors (MS-DTYP §2.4.6, self-relative). The emulator keeps a descriptor as SDDL text — what
 * `dsacls` and ADSI Edit's "Security" tab show — and sends it as bytes; the probes decode whatever a real
 * server sends. The decoder never throws: malformed bytes give `undefined` (a real server's answer is
 * input like any other).
 *
 * The SDDL subset: `O:<sid>` `G:<sid>` `D:` followed by ACEs `(A|D|OA|OD;flags;rights;object;inherited;sid)`
 * with SIDs in S-1-… form, GUIDs in their string form, flags CI OI NP IO ID and the rights tokens below.
 */

const GUID_RE = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i;
const SID_RE = /^S-1-(\d+)((?:-\d+)*)$/i;

/** A GUID string as the 16 bytes AD sends: Data1, Data2, Data3 little-endian, Data4 as is. */
export function guidToBytes(text: string): Buffer | undefined {
  const m = GUID_RE.exec(text);
  if (!m) return undefined;
  const hex = (s: string) => Buffer.from(s, 'hex');
  return Buffer.concat([hex(m[1] as string).reverse(), hex(m[2] as string).reverse(), hex(m[3] as string).reverse(), hex(m[4] as string), hex(m[5] as string)]);
}

export function bytesToGuid(b: Buffer): string {
  const h = (x: Buffer) => x.toString('hex');
  return `${h(Buffer.from(b.subarray(0, 4)).reverse())}-${h(Buffer.from(b.subarray(4, 6)).reverse())}-${h(Buffer.from(b.subarray(6, 8)).reverse())}-${h(b.subarray(8, 10))}-${h(b.subarray(10, 16))}`;
}

/** A SID string (S-1-5-21-…) as its binary form: revision, count, 48-bit authority, sub-authorities LE. */
export function sidToBytes(text: string): Buffer | undefined {
  const m = SID_RE.exec(text);
  if (!m) return undefined;
  const authority = Number(m[1]);
  const subs = (m[2] ?? '').split('-').filter((s) => s !== '').map(Number);
  if (subs.length > 15 || !Number.isSafeInteger(authority) || authority >= 2 ** 48 || subs.some((s) => s > 0xffffffff)) return undefined;
  const b = Buffer.alloc(8 + 4 * subs.length);
  b[0] = 1;
  b[1] = subs.length;
  b.writeUIntBE(authority, 2, 6);
  subs.forEach((s, i) => b.writeUInt32LE(s, 8 + 4 * i));
  return b;
}

export function bytesToSid(b: Buffer): string | undefined {
  if (b.length < 8 || b[0] !== 1) return undefined;
  const count = b[1] as number;
  if (b.length !== 8 + 4 * count) return undefined;
  const subs = Array.from({ length: count }, (_, i) => b.readUInt32LE(8 + 4 * i));
  return ['S', '1', String(b.readUIntBE(2, 6)), ...subs.map(String)].join('-');
}


/** SDDL rights tokens and their ACCESS_MASK bits for directory objects (MS-DTYP §2.5.1.1). */
export const RIGHTS: Record<string, number> = {
  CC: 0x1, DC: 0x2, LC: 0x4, SW: 0x8, RP: 0x10, WP: 0x20, DT: 0x40, LO: 0x80, CR: 0x100,
  SD: 0x10000, RC: 0x20000, WD: 0x40000, WO: 0x80000,
  GA: 0x10000000, GX: 0x20000000, GW: 0x40000000, GR: 0x80000000,
};
/** The rights names the emulator's ACEs use, as masks. GenericRead/Write are what AD stores after mapping. */
export const NAMED_RIGHTS: Record<string, number> = {
  ReadProperty: 0x10, WriteProperty: 0x20, ControlAccess: 0x100, CreateChild: 0x1, DeleteChild: 0x2, ListChildren: 0x4,
  GenericRead: 0x20094, GenericWrite: 0x20028, GenericAll: 0xf01ff,
};
const FLAGS: Record<string, number> = { OI: 0x01, CI: 0x02, NP: 0x04, IO: 0x08, ID: 0x10 };
const TYPES: Record<string, number> = { A: 0x00, D: 0x01, OA: 0x05, OD: 0x06 };

export interface AceInfo {
  /** 0 allowed, 1 denied, 5 allowed-object, 6 denied-object (others are kept by type only). */
  type: number;
  flags: number;
  mask: number;
  objectType?: string;
  inheritedObjectType?: string;
  sid: string;
  /** The ACE as it came (hex), re-encoded verbatim: types the lab does not model keep their data. */
  raw?: string;
}

export interface SecurityDescriptor {
  owner?: string;
  group?: string;
  /** SECURITY_DESCRIPTOR_CONTROL as read (auto-inherit and protection bits are kept when written back). */
  control?: number;
  /** As decoded: whether the descriptor had a DACL at all (absent or NULL means "everyone, everything"). */
  daclPresent?: boolean;
  dacl: AceInfo[];
}

const mask = (tokens: string): number | undefined => {
  if (/^0x[0-9a-f]+$/i.test(tokens)) return Number(tokens);
  let m = 0;
  for (let i = 0; i < tokens.length; i += 2) {
    const bit = RIGHTS[tokens.slice(i, i + 2)];
    if (bit === undefined) return undefined;
    m |= bit;
  }
  return m >>> 0;
};

/** Parses the SDDL subset; undefined for anything outside it. */
export function parseSddl(text: string): SecurityDescriptor | undefined {
  const m = /^(?:O:(S-[0-9-]+))?(?:G:(S-[0-9-]+))?D:[A-Z]*((?:\([^()]*\))*)$/.exec(text);
  if (!m) return undefined;
  const dacl: AceInfo[] = [];
  for (const ace of (m[3] ?? '').match(/\(([^()]*)\)/g) ?? []) {
    const [type, flags, rights, object, inherited, sid] = ace.slice(1, -1).split(';');
    const t = TYPES[type ?? ''];
    const r = mask(rights ?? '');
    if (t === undefined || r === undefined || !sid || !sidToBytes(sid)) return undefined;
    let f = 0;
    for (let i = 0; i < (flags ?? '').length; i += 2) {
      const bit = FLAGS[(flags ?? '').slice(i, i + 2)];
      if (bit === undefined) return undefined;
      f |= bit;
    }
    if ((object && !GUID_RE.test(object)) || (inherited && !GUID_RE.test(inherited))) return undefined;
    dacl.push({ type: t, flags: f, mask: r, ...(object ? { objectType: object.toLowerCase() } : {}), ...(inherited ? { inheritedObjectType: inherited.toLowerCase() } : {}), sid });
  }
  return { ...(m[1] ? { owner: m[1] } : {}), ...(m[2] ? { group: m[2] } : {}), dacl };
}

const rightsText = (m: number) => {
  let rest = m >>> 0;
  let out = '';
  for (const [k, bit] of Object.entries(RIGHTS)) if ((rest & bit) === bit) (out += k), (rest &= ~bit);
  return rest ? `0x${(m >>> 0).toString(16)}` : out;
};

export function toSddl(sd: SecurityDescriptor): string {
  const typeName = (t: number) => Object.entries(TYPES).find(([, v]) => v === t)?.[0] ?? 'A';
  const flagText = (f: number) => Object.entries(FLAGS).filter(([, b]) => (f & b) === b).map(([k]) => k).join('');
  const aces = sd.dacl.map((a) => `(${typeName(a.type)};${flagText(a.flags)};${rightsText(a.mask)};${a.objectType ?? ''};${a.inheritedObjectType ?? ''};${a.sid})`);
  return `${sd.owner ? `O:${sd.owner}` : ''}${sd.group ? `G:${sd.group}` : ''}D:${aces.join('')}`;
}

/** The self-relative binary form of a descriptor: header, owner, group, DACL (revision 4 when it has object ACEs). */
export function encodeSd(sd: SecurityDescriptor): Buffer {
  const aces = sd.dacl.map((a) => {
    if (a.raw) return Buffer.from(a.raw, 'hex');
    const sid = sidToBytes(a.sid) as Buffer;
    const object = a.type === 5 || a.type === 6;
    const guids = object ? [a.objectType, a.inheritedObjectType].filter((g): g is string => g !== undefined).map((g) => guidToBytes(g) as Buffer) : [];
    const body = Buffer.alloc(4 + (object ? 4 : 0));
    body.writeUInt32LE(a.mask >>> 0, 0);
    if (object) body.writeUInt32LE((a.objectType ? 1 : 0) | (a.inheritedObjectType ? 2 : 0), 4);
    const size = 4 + body.length + 16 * guids.length + sid.length;
    const header = Buffer.from([a.type, a.flags, size & 0xff, size >> 8]);
    return Buffer.concat([header, body, ...guids, sid]);
  });
  const aclSize = 8 + aces.reduce((n, a) => n + a.length, 0);
  const acl = Buffer.alloc(8);
  acl[0] = sd.dacl.some((a) => a.type === 5 || a.type === 6) ? 4 : 2;
  acl.writeUInt16LE(aclSize, 2);
  acl.writeUInt16LE(aces.length, 4);
  const owner = sd.owner ? (sidToBytes(sd.owner) as Buffer) : Buffer.alloc(0);
  const group = sd.group ? (sidToBytes(sd.group) as Buffer) : Buffer.alloc(0);
  const header = Buffer.alloc(20);
  header[0] = 1;
  header.writeUInt16LE(((sd.control ?? 0) & ~0x0010 & ~0x0008) | 0x8000 | 0x0004, 2);
  let at = 20;
  if (owner.length) header.writeUInt32LE(at, 4), (at += owner.length);
  if (group.length) header.writeUInt32LE(at, 8), (at += group.length);
  header.writeUInt32LE(at, 16);
  return Buffer.concat([header, owner, group, acl, ...aces]);
}

/** SDDL text of the subset as bytes (the adapter's wire form); undefined when it is not that subset. */
export function sdToBytes(sddl: string): Buffer | undefined {
  const sd = parseSddl(sddl);
  return sd ? encodeSd(sd) : undefined;
}

/** Decodes a self-relative descriptor's owner, group and DACL; undefined when the bytes are not one. */
export function decodeSd(b: Buffer): SecurityDescriptor | undefined {
  if (b.length < 20 || b[0] !== 1) return undefined;
  const control = b.readUInt16LE(2);
  if (!(control & 0x8000)) return undefined;
  const sidAt = (off: number): string | undefined => {
    if (off === 0) return undefined;
    if (off + 8 > b.length) return undefined;
    const count = b[off + 1] as number;
    const end = off + 8 + 4 * count;
    return end <= b.length ? bytesToSid(b.subarray(off, end)) : undefined;
  };
  const owner = sidAt(b.readUInt32LE(4));
  const group = sidAt(b.readUInt32LE(8));
  const daclAt = b.readUInt32LE(16);
  const dacl: AceInfo[] = [];
  if (control & 0x0004 && daclAt !== 0) {
    if (daclAt + 8 > b.length) return undefined;
    const size = b.readUInt16LE(daclAt + 2);
    const count = b.readUInt16LE(daclAt + 4);
    const end = daclAt + size;
    if (end > b.length || size < 8) return undefined;
    let at = daclAt + 8;
    for (let i = 0; i < count; i++) {
      if (at + 8 > end) return undefined;
      const type = b[at] as number;
      const flags = b[at + 1] as number;
      const aceSize = b.readUInt16LE(at + 2);
      if (aceSize < 8 || at + aceSize > end) return undefined;
      const ace = b.subarray(at, at + aceSize);
      const m = ace.readUInt32LE(4);
      let sidOff = 8;
      const info: AceInfo = { type, flags, mask: m, sid: '', raw: ace.toString('hex') };
      if (type === 5 || type === 6 || type === 7 || type === 8) {
        if (aceSize < 12) return undefined;
        const present = ace.readUInt32LE(8);
        sidOff = 12;
        if (present & 1) {
          if (sidOff + 16 > aceSize) return undefined;
          info.objectType = bytesToGuid(ace.subarray(sidOff, sidOff + 16));
          sidOff += 16;
        }
        if (present & 2) {
          if (sidOff + 16 > aceSize) return undefined;
          info.inheritedObjectType = bytesToGuid(ace.subarray(sidOff, sidOff + 16));
          sidOff += 16;
        }
      }
      if (sidOff + 8 <= aceSize) {
        const n = ace[sidOff + 1] as number;
        const sid = sidOff + 8 + 4 * n <= aceSize ? bytesToSid(ace.subarray(sidOff, sidOff + 8 + 4 * n)) : undefined;
        if (sid === undefined) return undefined;
        info.sid = sid;
      }
      dacl.push(info);
      at += aceSize;
    }
  }
  return { ...(owner ? { owner } : {}), ...(group ? { group } : {}), control, daclPresent: (control & 0x0004) !== 0 && daclAt !== 0, dacl };
}

/** schemaIDGUIDs of the base classes ACEs are inherited by (the same in every forest, MS-ADSC). */
export const CLASS_GUIDS: Record<string, string> = {
  user: 'bf967aba-0de6-11d0-a285-00aa003049e2',
  computer: 'bf967a86-0de6-11d0-a285-00aa003049e2',
  contact: '5cb41ed0-0e4c-11d0-a286-00aa003049e2',
  group: 'bf967a9c-0de6-11d0-a285-00aa003049e2',
};
