/**
 * Performs a plan's LDAP operations on a real domain controller (decision 0016), one at a time, bound
 * as the target's administrator; the first failure stops the rest, and every operation says what became
 * of it. What AD needs that a plain LDAP write does not say:
 *
 * - `unicodePwd` goes as the UTF-16LE of the quoted password (MS-ADTS 3.1.1.3.1.5.1); Windows accepts
 *   it only over an encrypted connection (LDAPS or sign and seal), Samba with strong auth off.
 * - A grant reads the object's DACL with the SD_FLAGS control (DACL only), resolves the trustee to its
 *   objectSid, a property set to its rightsGuid (CN=Extended-Rights) and a class to its schemaIDGUID,
 *   inserts the ACEs it lacks before the inherited ones (canonical order), and writes the DACL back with
 *   the same control.
 * - An add of what exists is skipped, or adds its values (`ifExists`), so a replay can be run again.
 */
import ldap from 'ldapjs';
import type { Applier, GrantAce, OpResult, PlanOp } from '../../sim/plan.js';
import { namingContexts } from '../../sim/probes.js';
import type { Dialer } from '../../sim/probes.wire.js';
import type { Topology } from '../../sim/topology.js';
import { bytesToSid, CLASS_GUIDS, decodeSd, encodeSd, NAMED_RIGHTS, type AceInfo } from './ad.security.js';

type LdapControl = ldap.Control;
const { Attribute, Change } = ldap as unknown as { Attribute: new (o: { type: string; values: Array<string | Buffer> }) => ldap.Attribute; Change: new (o: { operation: string; modification: ldap.Attribute }) => ldap.Change };
const ControlClass = (ldap as unknown as { Control: new (o: { type: string; criticality: boolean; value: Buffer }) => LdapControl }).Control;
const SD_FLAGS_DACL = () => new ControlClass({ type: '1.2.840.113556.1.4.801', criticality: false, value: Buffer.from([0x30, 0x03, 0x02, 0x01, 0x04]) });

const ALREADY_EXISTS = 68;
const VALUE_EXISTS = 20;

interface Conn {
  client: ldap.Client;
  close(): void;
}

function errorText(e: unknown): { code?: number; text: string } {
  const err = e as { code?: number | string; message?: string };
  return typeof err.code === 'number' ? { code: err.code, text: `LDAP error ${err.code}: ${err.message ?? ''}` } : { text: String(err.code ?? err.message ?? e) };
}

async function open(dialer: Dialer, topology: Topology, admin: { name: string; password: string }, timeoutMs: number): Promise<Conn | { error: string }> {
  const dc = topology.hosts.find((h) => h.roles.includes('domainController'));
  if (!dc) return { error: 'the topology has no domain controller' };
  const dialed = await dialer.dial(dc.ip, 389);
  if (!dialed.ok) return { error: `no answer from ${dc.ip}:389: ${dialed.error}` };
  const client = ldap.createClient({ url: `ldap://${dialed.host}:${dialed.port}`, connectTimeout: timeoutMs, timeout: timeoutMs, reconnect: false });
  const close = () => {
    client.removeAllListeners('error');
    client.on('error', () => undefined);
    client.destroy();
    dialed.release?.();
  };
  const failure = await new Promise<string | undefined>((resolve) => {
    client.once('error', (e: NodeJS.ErrnoException) => resolve(`no answer from ${dc.ip}:389: ${e.code ?? e.message}`));
    client.bind(admin.name, admin.password, (e) => resolve(e ? errorText(e).text : undefined));
  });
  if (failure) {
    close();
    return { error: failure };
  }
  return { client, close };
}

const promise = <T>(f: (cb: (e: Error | null, v?: T) => void) => void) =>
  new Promise<T | undefined>((resolve, reject) => f((e, v) => (e ? reject(e) : resolve(v))));

function values(op: Extract<PlanOp, { op: 'add' }>, name: string, vs: string[]): Array<string | Buffer> {
  return (op.binary ?? []).includes(name) ? vs.map((v) => Buffer.from(v, 'hex')) : vs;
}

async function search(c: Conn, base: string, scope: 'base' | 'sub', filter: string, attributes: string[], controls: LdapControl[] = []): Promise<Array<{ dn: string; attrs: Map<string, Buffer[]> }>> {
  return new Promise((resolve, reject) => {
    const out: Array<{ dn: string; attrs: Map<string, Buffer[]> }> = [];
    c.client.search(base, { scope, filter, attributes }, controls, (e, res) => {
      if (e) return reject(e);
      res.on('searchEntry', (entry) => out.push({ dn: entry.objectName ?? '', attrs: new Map(entry.attributes.map((a) => [a.type.toLowerCase(), a.buffers])) }));
      res.on('searchReference', () => undefined);
      res.on('error', (err) => (err.code === 32 ? resolve(out) : reject(err)));
      res.on('end', () => resolve(out));
    });
  });
}

async function grant(c: Conn, topology: Topology, op: Extract<PlanOp, { op: 'grant' }>): Promise<OpResult> {
  const ncs = namingContexts(topology);
  const [entry] = await search(c, op.dn, 'base', '(objectClass=*)', ['nTSecurityDescriptor'], [SD_FLAGS_DACL()]);
  const bytes = entry?.attrs.get('ntsecuritydescriptor')?.[0];
  const sd = bytes ? decodeSd(bytes) : undefined;
  if (!sd) return { op, status: 'failed', error: `${op.dn}: no readable nTSecurityDescriptor` };
  const sidOf = async (sam: string) => {
    const [g] = await search(c, ncs.domain, 'sub', `(sAMAccountName=${sam})`, ['objectSid']);
    const raw = g?.attrs.get('objectsid')?.[0];
    return raw ? bytesToSid(raw) : undefined;
  };
  const guidOf = async (name: string | undefined) => {
    if (!name) return undefined;
    const known = CLASS_GUIDS[name.toLowerCase()];
    if (known) return known;
    const [r] = await search(c, `CN=${name},CN=Extended-Rights,${ncs.configuration}`, 'base', '(objectClass=*)', ['rightsGuid']);
    return r?.attrs.get('rightsguid')?.[0]?.toString('utf8').toLowerCase();
  };
  const fresh: AceInfo[] = [];
  for (const a of op.aces as GrantAce[]) {
    const sid = await sidOf(a.trustee);
    if (!sid) return { op, status: 'failed', error: `${op.dn}: no account ${a.trustee} to grant to` };
    const objectType = await guidOf(a.objectType);
    const inheritedObjectType = await guidOf(a.inheritedObjectType);
    if (a.objectType && !objectType) return { op, status: 'failed', error: `${op.dn}: no property set or class ${a.objectType}` };
    const mask = a.rights.reduce((m, r) => m | (NAMED_RIGHTS[r] ?? 0), 0);
    const scoped = objectType !== undefined || inheritedObjectType !== undefined;
    const ace: AceInfo = { type: scoped ? 5 : 0, flags: (a.inherit ? 0x02 : 0) | (inheritedObjectType ? 0x08 : 0), mask, sid, ...(objectType ? { objectType } : {}), ...(inheritedObjectType ? { inheritedObjectType } : {}) };
    // An inherited copy (ID) of an ACE on a parent does not count: LCSCmd writes its ACEs on each object.
    const same = (x: AceInfo) => (x.flags & 0x10) === 0 && x.type === ace.type && x.sid === ace.sid && x.mask === ace.mask && x.objectType === ace.objectType && x.inheritedObjectType === ace.inheritedObjectType && (x.flags & 0x0f) === ace.flags;
    if (!sd.dacl.some(same) && !fresh.some(same)) fresh.push(ace);
  }
  if (!fresh.length) return { op, status: 'skipped', note: 'the ACEs are there already' };
  const firstInherited = sd.dacl.findIndex((a) => (a.flags & 0x10) !== 0);
  const at = firstInherited < 0 ? sd.dacl.length : firstInherited;
  const dacl = [...sd.dacl.slice(0, at), ...fresh, ...sd.dacl.slice(at)];
  const { owner: _o, group: _g, ...daclOnly } = sd;
  const change = new Change({ operation: 'replace', modification: new Attribute({ type: 'nTSecurityDescriptor', values: [encodeSd({ ...daclOnly, dacl })] }) });
  await promise((cb) => c.client.modify(op.dn, [change], [SD_FLAGS_DACL()], cb));
  return { op, status: 'done', note: `${fresh.length} ACE(s) added` };
}

async function perform(c: Conn, topology: Topology, op: PlanOp): Promise<OpResult> {
  try {
    switch (op.op) {
      case 'schemaUpdateNow': {
        const change = new Change({ operation: 'add', modification: new Attribute({ type: 'schemaUpdateNow', values: ['1'] }) });
        await promise((cb) => c.client.modify('', [change], cb));
        return { op, status: 'done' };
      }
      case 'add': {
        const attributes = Object.entries(op.attributes).map(([type, vs]) => new Attribute({ type, values: values(op, type, vs) }));
        try {
          await promise((cb) => c.client.add(op.dn, attributes, cb));
          return { op, status: 'done' };
        } catch (e) {
          if (errorText(e).code !== ALREADY_EXISTS || !op.ifExists) throw e;
          if (op.ifExists === 'skip') return { op, status: 'skipped', note: 'exists already' };
          const changes = Object.entries(op.attributes)
            .filter(([type]) => type.toLowerCase() !== 'objectclass')
            .map(([type, vs]) => new Change({ operation: 'add', modification: new Attribute({ type, values: values(op, type, vs) }) }));
          try {
            await promise((cb) => c.client.modify(op.dn, changes, cb));
          } catch (e2) {
            if (errorText(e2).code === VALUE_EXISTS) return { op, status: 'skipped', note: 'the values are there already' };
            throw e2;
          }
          return { op, status: 'done', note: 'added its values to the existing entry' };
        }
      }
      case 'modify': {
        const changes = op.changes.map(
          (ch) =>
            new Change({
              operation: ch.operation,
              modification: new Attribute({ type: ch.attribute, values: ch.attribute.toLowerCase() === 'unicodepwd' ? ch.values.map((v) => Buffer.from(`"${v}"`, 'utf16le')) : ch.values }),
            }),
        );
        try {
          await promise((cb) => c.client.modify(op.dn, changes, cb));
        } catch (e) {
          if (errorText(e).code === VALUE_EXISTS) return { op, status: 'skipped', note: 'the values are there already' };
          throw e;
        }
        return { op, status: 'done' };
      }
      case 'grant':
        return await grant(c, topology, op);
    }
  } catch (e) {
    return { op, status: 'failed', error: errorText(e).text };
  }
}

export const adApplier: Applier = {
  async apply(ops, target) {
    const c = await open(target.dialer, target.topology, target.admin, target.timeoutMs ?? 8000);
    if ('error' in c) return ops.map((op, i) => (i === 0 ? { op, status: 'failed' as const, error: c.error } : { op, status: 'failed' as const, error: 'not attempted' })).slice(0, 1);
    const results: OpResult[] = [];
    try {
      for (const op of ops) {
        const r = await perform(c, target.topology, op);
        results.push(r);
        if (r.status === 'failed') break;
      }
    } finally {
      c.close();
    }
    return results;
  },
};
