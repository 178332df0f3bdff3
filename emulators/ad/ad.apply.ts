/**
 * Performs a plan's LDAP operations on a real domain controller (decision 0016), one at a time, bound
 * as the target's administrator; the first failure stops the rest, and every operation says what became
 * of it. Each operation has its own time limit, and a server that closes or talks nonsense ends the run
 * with that said, never a hang (sim/ldap.session.ts). What AD needs that a plain LDAP write does not say:
 *
 * - `unicodePwd` goes as the UTF-16LE of the quoted password (MS-ADTS 3.1.1.3.1.5.1), over TLS (StartTLS,
 *   the default, or LDAPS) as Windows requires; over plain LDAP only when the target file allows it
 *   (`ldap: { tls: none, plainPasswords: true }`, a lab DC such as Samba with strong auth off).
 * - A user's password and final userAccountControl are set only when the add created the account: an
 *   account that was there keeps its password.
 * - Values are added with the permissive-modify control (LDAP_SERVER_PERMISSIVE_MODIFY_OID), so a value
 *   already there does not make the others fail; an add of what exists is skipped or adds its values
 *   (`ifExists`). A replay can be run again.
 * - A grant reads the object's DACL with the SD_FLAGS control (DACL only), resolves the trustee to its
 *   objectSid, a property set to its rightsGuid (CN=Extended-Rights) and a class to its schemaIDGUID,
 *   inserts the explicit ACEs it lacks before the inherited ones (canonical order), and writes the DACL
 *   back with the same control bits. Anything it cannot resolve fails the grant; so does an object
 *   without a DACL, whose access a grant would narrow.
 */
import ldap from 'ldapjs';
import { escapeFilterValue, openDcLdap, permissiveModify, sdFlagsDacl, type LdapFailure, type LdapSession } from '../../sim/ldap.session.js';
import type { Applier, ApplyTarget, GrantAce, OpResult, PlanOp } from '../../sim/plan.js';
import { namingContexts } from '../../sim/probes.js';
import { bytesToGuid, bytesToSid, CLASS_GUIDS, decodeSd, encodeSd, NAMED_RIGHTS, type AceInfo } from './ad.security.js';

type LdapControl = ldap.Control;
const { Attribute, Change } = ldap as unknown as { Attribute: new (o: { type: string; values: Array<string | Buffer> }) => ldap.Attribute; Change: new (o: { operation: string; modification: ldap.Attribute }) => ldap.Change };

const ALREADY_EXISTS = 68;
const NO_SUCH_OBJECT = 32;

const isFailure = (v: unknown): v is LdapFailure => typeof v === 'object' && v !== null && ('unreachable' in v || (v as { ok?: unknown }).ok === false);
const failureText = (f: LdapFailure) => ('unreachable' in f ? `no answer from ${f.address}: ${f.error}` : `LDAP error ${f.code}: ${f.message}`);
const codeOf = (f: LdapFailure) => ('unreachable' in f ? undefined : f.code);

class Stop extends Error {}

interface Found {
  dn: string;
  attrs: Map<string, Buffer[]>;
}

function modify(s: LdapSession, dn: string, changes: ldap.Change[], controls: LdapControl[] = []): Promise<true | LdapFailure> {
  return s.run<true>((settle) => s.client.modify(dn, changes, controls, (e) => settle(e ? s.failure(e) : true)));
}

function search(s: LdapSession, base: string, scope: 'base' | 'sub', filter: string, attributes: string[], controls: LdapControl[] = []): Promise<Found[] | LdapFailure> {
  return s.run<Found[]>((settle) => {
    const out: Found[] = [];
    s.client.search(base, { scope, filter, attributes }, controls, (e, res) => {
      if (e) return settle(s.failure(e));
      res.on('searchEntry', (entry) => out.push({ dn: String(entry.objectName ?? ''), attrs: new Map(entry.attributes.map((a) => [a.type.toLowerCase(), a.buffers])) }));
      res.on('searchReference', () => undefined);
      res.on('error', (err) => {
        const f = s.failure(err);
        settle(codeOf(f) === NO_SUCH_OBJECT ? out : f);
      });
      res.on('end', () => settle(out));
    });
  });
}

const need = <T>(v: T | LdapFailure): T => {
  if (isFailure(v)) throw new Stop(failureText(v));
  return v;
};

async function grant(s: LdapSession, target: ApplyTarget, op: Extract<PlanOp, { op: 'grant' }>): Promise<OpResult> {
  const ncs = namingContexts(target.topology);
  const [entry] = need(await search(s, op.dn, 'base', '(objectClass=*)', ['nTSecurityDescriptor'], [sdFlagsDacl()]));
  const bytes = entry?.attrs.get('ntsecuritydescriptor')?.[0];
  const sd = bytes ? decodeSd(bytes) : undefined;
  if (!sd) return { op, status: 'failed', error: `${op.dn}: no readable nTSecurityDescriptor` };
  if (!sd.daclPresent) return { op, status: 'failed', error: `${op.dn}: the object has no DACL (everyone has every right); a grant would take rights away, so it is left to the operator` };
  const one = async (base: string, scope: 'base' | 'sub', filter: string, attribute: string): Promise<Buffer | undefined> => need(await search(s, base, scope, filter, [attribute]))[0]?.attrs.get(attribute.toLowerCase())?.[0];
  const sidOf = async (sam: string) => {
    const raw = await one(ncs.domain, 'sub', `(sAMAccountName=${escapeFilterValue(sam)})`, 'objectSid');
    return raw ? bytesToSid(raw) : undefined;
  };
  const guidOf = async (name: string) => {
    const known = CLASS_GUIDS[name.toLowerCase()];
    if (known) return known;
    const right = await one(`CN=${name},CN=Extended-Rights,${ncs.configuration}`, 'base', '(objectClass=*)', 'rightsGuid');
    if (right) return right.toString('utf8').replace(/[{}]/g, '').toLowerCase();
    const schema = await one(ncs.schema, 'sub', `(lDAPDisplayName=${escapeFilterValue(name)})`, 'schemaIDGUID');
    return schema && schema.length === 16 ? bytesToGuid(schema) : undefined;
  };
  const fresh: AceInfo[] = [];
  for (const a of op.aces as GrantAce[]) {
    const sid = await sidOf(a.trustee);
    if (!sid) return { op, status: 'failed', error: `${op.dn}: no account ${a.trustee} to grant to` };
    const objectType = a.objectType ? await guidOf(a.objectType) : undefined;
    if (a.objectType && !objectType) return { op, status: 'failed', error: `${op.dn}: no property set, extended right or class named ${a.objectType}` };
    const inheritedObjectType = a.inheritedObjectType ? await guidOf(a.inheritedObjectType) : undefined;
    if (a.inheritedObjectType && !inheritedObjectType) return { op, status: 'failed', error: `${op.dn}: no class named ${a.inheritedObjectType}` };
    const unknown = a.rights.filter((r) => NAMED_RIGHTS[r] === undefined);
    if (unknown.length || !a.rights.length) return { op, status: 'failed', error: `${op.dn}: rights the lab cannot express as an access mask: ${unknown.join(', ') || 'none given'}` };
    const mask = a.rights.reduce((m, r) => m | (NAMED_RIGHTS[r] as number), 0);
    const scoped = objectType !== undefined || inheritedObjectType !== undefined;
    // Inherit-only makes sense only with container inheritance: an ACE for a class's objects below.
    const inherits = a.inherit || inheritedObjectType !== undefined;
    const ace: AceInfo = { type: scoped ? 5 : 0, flags: (inherits ? 0x02 : 0) | (inheritedObjectType ? 0x08 : 0), mask, sid, ...(objectType ? { objectType } : {}), ...(inheritedObjectType ? { inheritedObjectType } : {}) };
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
  need(await modify(s, op.dn, [change], [sdFlagsDacl()]));
  return { op, status: 'done', note: `${fresh.length} ACE(s) added` };
}

function attribute(op: Extract<PlanOp, { op: 'add' }>, type: string, vs: string[]): ldap.Attribute {
  return new Attribute({ type, values: (op.binary ?? []).includes(type) ? vs.map((v) => Buffer.from(v, 'hex')) : vs });
}

async function perform(s: LdapSession, target: ApplyTarget, op: PlanOp, results: OpResult[]): Promise<void> {
  switch (op.op) {
    case 'schemaUpdateNow': {
      need(await modify(s, '', [new Change({ operation: 'add', modification: new Attribute({ type: 'schemaUpdateNow', values: ['1'] }) })]));
      results.push({ op, status: 'done' });
      return;
    }
    case 'delete': {
      const r = await s.run<true>((settle) => s.client.del(op.dn, (e) => settle(e ? s.failure(e) : true)));
      if (isFailure(r) && codeOf(r) === NO_SUCH_OBJECT) return void results.push({ op, status: 'skipped', note: 'not there' });
      need(r);
      results.push({ op, status: 'done' });
      return;
    }
    case 'add': {
      const attrs = Object.entries(op.attributes).map(([type, vs]) => attribute(op, type, vs));
      const r = await s.run<true>((settle) => s.client.add(op.dn, attrs, (e) => settle(e ? s.failure(e) : true)));
      if (r === true) {
        results.push({ op, status: 'done' });
        for (const next of op.then ?? []) {
          try {
            await perform(s, target, next, results);
          } catch (e) {
            if (!(e instanceof Stop)) throw e;
            results.push({ op: next, status: 'failed', error: e.message });
          }
          if (results.at(-1)?.status === 'failed') return;
        }
        return;
      }
      if (codeOf(r) !== ALREADY_EXISTS || !op.ifExists) throw new Stop(failureText(r));
      if (op.ifExists === 'skip') return void results.push({ op, status: 'skipped', note: `exists already${op.then?.length ? '; left as it is' : ''}` });
      const changes = Object.entries(op.attributes)
        .filter(([type]) => type.toLowerCase() !== 'objectclass')
        .map(([type, vs]) => new Change({ operation: 'add', modification: attribute(op, type, vs) }));
      need(await modify(s, op.dn, changes, [permissiveModify()]));
      results.push({ op, status: 'done', note: 'added its values to the existing entry' });
      return;
    }
    case 'modify': {
      const password = op.changes.some((c) => c.attribute.toLowerCase() === 'unicodepwd');
      if (password && !s.encrypted && !target.plainLdapPasswords) {
        results.push({ op, status: 'failed', error: 'a password is set only over an encrypted connection (ldap: { tls: starttls } or ldaps in the target file); or, for a lab DC that takes it in clear, ldap: { plainPasswords: true }' });
        return;
      }
      const changes = op.changes.map(
        (c) =>
          new Change({
            operation: c.operation,
            modification: new Attribute({ type: c.attribute, values: c.attribute.toLowerCase() === 'unicodepwd' ? c.values.map((v) => Buffer.from(`"${v}"`, 'utf16le')) : c.values }),
          }),
      );
      need(await modify(s, op.dn, changes, [permissiveModify()]));
      results.push({ op, status: 'done' });
      return;
    }
    case 'grant':
      results.push(await grant(s, target, op));
      return;
  }
}

export const adApplier: Applier = {
  async apply(ops, target) {
    const dc = target.topology.hosts.find((h) => h.roles.includes('domainController'));
    const first = ops[0];
    if (!dc || !first) return [];
    const s = await openDcLdap(target.dialer, dc, target.admin, { timeoutMs: target.timeoutMs ?? 8000, tls: target.tls, showRealAddress: true });
    if (!('client' in s)) return [{ op: first, status: 'failed', error: failureText(s) }];
    const results: OpResult[] = [];
    try {
      for (const op of ops) {
        try {
          await perform(s, target, op, results);
        } catch (e) {
          if (!(e instanceof Stop)) throw e;
          results.push({ op, status: 'failed', error: e.message });
        }
        if (results.at(-1)?.status === 'failed') break;
      }
    } finally {
      s.close();
    }
    return results;
  },
};
