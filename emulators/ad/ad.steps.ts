/**
 * The operator's Active Directory vocabulary: the LCSCmd preparation actions, replication, accounts,
 * and checks of what ADSI Edit / LCSCmd check actions / an LDAP bind would show.
 */
import { z } from 'zod';
import { formatDuration, parseDuration } from '../../sim/clock.js';
import { defineCheck, defineStep, failed, passed, type StepDefinition, type StepOutcome } from '../../sim/steps.js';
import { isUnreachable, ldapError, namingContexts, readEntry, unreachableText, values, type LdapBindResult, type LdapEntry, type Probes } from '../../sim/probes.js';
import { OCS_R2_SCHEMA_VERSION } from './ad.schema.js';
import { escapeFilterValue } from '../../sim/ldap.session.js';
import { bytesToSid, decodeSd } from './ad.security.js';
import { DOMAIN_PREP_TARGETS, RTC_GROUPS, rtcServiceLocations } from './ad.forest.js';
import type { Topology } from '../../sim/topology.js';
import type { Lab } from '../../sim/lab.js';
import {
  adCreateUser,
  adDomainPrep,
  adForceReplication,
  adForestPrep,
  adIsConverged,
  adSchemaPrep,
  adSetPassword,
} from './ad.client.js';
import type { AdResult } from './ad.events.js';

const duration = z
  .union([z.string(), z.number()])
  .refine((v) => parseDuration(v) !== undefined, { message: 'a duration such as "90s", "15m", "2h" or a number of milliseconds' });

const prepStateValue = z.enum(['Ready', 'Not Ready']);

const ad = (lab: Lab) => lab.get('ad');

function outcome(r: AdResult<{ log?: string[] }>, details: string[] = []): StepOutcome {
  if (r.ok) return passed(r.value.log ?? (details.length ? details : undefined));
  return failed(r.failure.message, [`${r.failure.kind} (LDAP ${r.failure.ldapResultCode})`]);
}

export const adSchemaPrepStep = defineStep({
  name: 'ad.schemaPrep',
  kind: 'action',
  writes: 'directory',
  summary: 'Prepare the schema for Office Communications Server 2007 R2 (LCSCmd SchemaPrep, on the Schema Master)',
  params: z.strictObject({ runAs: z.string().optional() }),
  title: () => 'LCSCmd.exe /Forest /Action:SchemaPrep',
  emulated: ({ lab }, p) => outcome(adSchemaPrep(ad(lab), p.runAs ? { runAs: p.runAs } : {})),
});

export const adForestPrepStep = defineStep({
  name: 'ad.forestPrep',
  kind: 'action',
  writes: 'directory',
  summary: 'Prepare the forest (LCSCmd ForestPrep): global settings, universal groups, ACEs',
  params: z.strictObject({
    globalSettingsLocation: z.enum(['configuration', 'system']).optional(),
    sipDomain: z.string().optional(),
    groupDomain: z.string().optional(),
    dc: z.string().optional(),
    runAs: z.string().optional(),
  }),
  refs: { sipDomain: 'sipDomain', dc: 'host' },
  title: (p, t) =>
    `LCSCmd.exe /Forest:${t.forest.fqdn} /Action:ForestPrep /Global:${p.globalSettingsLocation ?? 'configuration'} /GroupDomain:${p.groupDomain ?? t.forest.fqdn}${p.dc ? ` (against ${p.dc})` : ''}`,
  emulated: ({ lab, topology }, p) =>
    outcome(
      adForestPrep(ad(lab), {
        sipDomain: p.sipDomain ?? (topology.sipDomains[0] as string),
        ...(p.globalSettingsLocation ? { globalSettingsLocation: p.globalSettingsLocation } : {}),
        ...(p.groupDomain ? { groupDomain: p.groupDomain } : {}),
        ...(p.dc ? { dc: p.dc } : {}),
        ...(p.runAs ? { runAs: p.runAs } : {}),
      }),
    ),
});

export const adDomainPrepStep = defineStep({
  name: 'ad.domainPrep',
  kind: 'action',
  writes: 'directory',
  summary: 'Prepare the domain (LCSCmd DomainPrep): ACEs on the domain root, Users, Computers and Domain Controllers',
  params: z.strictObject({ domain: z.string().optional(), dc: z.string().optional(), runAs: z.string().optional() }),
  refs: { dc: 'host' },
  title: (p, t) => `LCSCmd.exe /Domain:${p.domain ?? t.forest.fqdn} /Action:DomainPrep${p.dc ? ` (against ${p.dc})` : ''}`,
  emulated: ({ lab }, p) =>
    outcome(adDomainPrep(ad(lab), { ...(p.domain ? { domain: p.domain } : {}), ...(p.dc ? { dc: p.dc } : {}), ...(p.runAs ? { runAs: p.runAs } : {}) })),
});

export const adForceReplicationStep = defineStep({
  name: 'ad.forceReplication',
  kind: 'action',
  summary: 'Force Active Directory replication between all domain controllers now',
  params: z.strictObject({}),
  title: () => 'repadmin /syncall /AdeP',
  emulated: ({ lab }) => {
    const r = adForceReplication(ad(lab));
    return r.ok ? passed([`${r.value.changes} change(s) replicated`]) : failed(r.failure.message);
  },
});

export const adWaitForReplicationStep = defineStep({
  name: 'ad.waitForReplication',
  kind: 'action',
  summary: 'Wait until every domain controller has every change (default limit 15 minutes)',
  params: z.strictObject({ limit: duration.optional() }),
  title: (p) => `Wait for Active Directory replication${p.limit !== undefined ? ` (at most ${formatDuration(parseDuration(p.limit) ?? 0)})` : ''}`,
  emulated: ({ lab }, p) => {
    const limit = p.limit !== undefined ? (parseDuration(p.limit) ?? 0) : 15 * 60_000;
    const r = lab.waitFor(() => adIsConverged(ad(lab)), limit);
    return r.satisfied ? passed([`converged after ${formatDuration(r.elapsedMs)}`]) : failed(`replication has not converged after ${formatDuration(r.elapsedMs)}`);
  },
});

export const adCreateUserStep = defineStep({
  name: 'ad.createUser',
  kind: 'action',
  writes: 'directory',
  summary: 'Create a user account (Active Directory Users and Computers, New Object - User): a user of the topology by name, or one given in full',
  params: z
    .strictObject({
      user: z.string().optional(),
      sam: z.string().optional(),
      password: z.string().optional(),
      givenName: z.string().optional(),
      sn: z.string().optional(),
      displayName: z.string().optional(),
      mail: z.string().optional(),
      ou: z.string().optional(),
      passwordNeverExpires: z.boolean().optional(),
    })
    .refine((p) => p.user !== undefined || (p.sam !== undefined && p.password !== undefined), {
      message: 'give either user (a user of the topology) or sam and password',
    }),
  refs: { user: 'user' },
  title: (p, t) => `New user ${t.forest.netbios}\\${p.user ?? p.sam ?? ''}`,
  emulated: ({ lab, topology }, p) => {
    const known = p.user ? topology.users.find((u) => u.sam.toLowerCase() === p.user?.toLowerCase()) : undefined;
    const { user: _user, ...explicit } = p;
    const fromTopology = known
      ? { sam: known.sam, password: known.password, givenName: known.givenName, sn: known.sn, ou: known.ou, ...(known.displayName ? { displayName: known.displayName } : {}), ...(known.mail ? { mail: known.mail } : {}) }
      : {};
    const merged = { ...fromTopology, ...Object.fromEntries(Object.entries(explicit).filter(([, v]) => v !== undefined)) } as { sam: string; password: string } & Record<string, unknown>;
    const r = adCreateUser(ad(lab), merged);
    return r.ok ? passed([`Created ${r.value.dn}${merged.mail ? `, mail ${String(merged.mail)}` : ''}`]) : outcome(r);
  },
});

export const adSetPasswordStep = defineStep({
  name: 'ad.setPassword',
  kind: 'action',
  writes: 'directory',
  summary: 'Reset an account password (ADUC Reset Password): a topology user or any account by sAMAccountName (RTCService)',
  params: z.strictObject({ user: z.string(), password: z.string() }),
  title: (p, t) => `Reset password of ${t.forest.netbios}\\${p.user}`,
  emulated: ({ lab }, p) => {
    const r = adSetPassword(ad(lab), { sam: p.user, password: p.password });
    return r.ok ? passed([`Password set for ${r.value.dn}`]) : outcome(r);
  },
});

// ---------------------------------------------------------------------------------------------------
// Checks: each asks over LDAP what LCSCmd, ADSI Edit or a bind would, then judges (decision 0016).

/** What CheckSchemaPrepState, CheckForestPrepState and CheckDomainPrepState find on a DC, reduced to facts. */
type PrepObservation =
  | { error: string }
  | {
      /** version: rangeUpper of CN=ms-RTC-SIP-SchemaVersion (1008 for R2), null without it. */
      schema: { version: number | null; globalContainer: boolean; userMayContain: boolean };
      forest: { globalSettings: 'configuration' | 'system' | null; groups: number };
      domain: { prepared: number; of: number };
    };

const schemaVersion = (e: LdapEntry | undefined): number | null => {
  const v = Number(values(e, 'rangeUpper')[0]);
  return e && Number.isInteger(v) ? v : null;
};

async function observePrep(probes: Probes, dc: string | undefined, t: Topology): Promise<PrepObservation> {
  const ncs = namingContexts(t);
  const on = dc ? { dc } : {};
  const schema = await probes.ldapSearch({
    ...on,
    base: ncs.schema,
    scope: 'one',
    filter: '(|(lDAPDisplayName=msRTCSIP-SchemaVersion)(lDAPDisplayName=msRTCSIP-GlobalContainer)(lDAPDisplayName=user))',
    attributes: ['lDAPDisplayName', 'mayContain', 'systemMayContain', 'rangeUpper'],
  });
  if (isUnreachable(schema) || !schema.ok) return { error: ldapError(schema) };
  const named = (n: string) => schema.entries.find((e) => values(e, 'lDAPDisplayName').some((v) => v.toLowerCase() === n.toLowerCase()));
  const user = named('user');
  const userMayContain = [...values(user, 'mayContain'), ...values(user, 'systemMayContain')].some((v) => v.toLowerCase() === 'msrtcsip-primaryuseraddress');
  let globalSettings: 'configuration' | 'system' | null = null;
  for (const [where, dn] of Object.entries(rtcServiceLocations(ncs)) as Array<['configuration' | 'system', string]>) {
    const r = await readEntry(probes, dc, `CN=Global Settings,${dn}`, ['1.1']);
    if ('error' in r) return r;
    if (r.entry) {
      globalSettings = where;
      break;
    }
  }
  const groups = await probes.ldapSearch({ ...on, base: ncs.domain, scope: 'sub', filter: `(|${RTC_GROUPS.map((g) => `(sAMAccountName=${g})`).join('')})`, attributes: ['sAMAccountName', 'objectSid'] });
  if (isUnreachable(groups) || !groups.ok) return { error: ldapError(groups) };
  const sids = new Set(groups.entries.flatMap((e) => values(e, 'objectSid')).map((hex) => bytesToSid(Buffer.from(hex, 'hex'))));
  const targets = DOMAIN_PREP_TARGETS(ncs);
  let prepared = 0;
  for (const dn of targets) {
    const r = await readEntry(probes, dc, dn, ['nTSecurityDescriptor']);
    if ('error' in r) return r;
    const sd = values(r.entry, 'nTSecurityDescriptor')[0];
    const decoded = sd ? decodeSd(Buffer.from(sd, 'hex')) : undefined;
    // Explicit ACEs only: an inherited copy of the domain root's is not DomainPrep's work on the object.
    if (decoded?.dacl.some((a) => (a.flags & 0x10) === 0 && sids.has(a.sid))) prepared++;
  }
  return {
    schema: { version: schemaVersion(named('msRTCSIP-SchemaVersion')), globalContainer: named('msRTCSIP-GlobalContainer') !== undefined, userMayContain },
    forest: { globalSettings, groups: groups.entries.length },
    domain: { prepared, of: targets.length },
  };
}

export const adPrepStateStep = defineCheck({
  name: 'ad.prepState',
  summary: 'CheckSchemaPrepState / CheckForestPrepState / CheckDomainPrepState against a domain controller',
  params: z.strictObject({ schema: prepStateValue.optional(), forest: prepStateValue.optional(), domain: prepStateValue.optional(), dc: z.string().optional() }),
  refs: { dc: 'host' },
  title: (p) => {
    const parts = (['schema', 'forest', 'domain'] as const).filter((k) => p[k]).map((k) => `${k[0]?.toUpperCase()}${k.slice(1)} ${p[k]}`);
    return `LCSCmd check prep state${p.dc ? ` on ${p.dc}` : ''}: ${parts.join(', ') || 'report'}`;
  },
  probe: {
    observe: (probes, p, t) => observePrep(probes, p.dc, t),
    judge: (o: PrepObservation, p) => {
      if ('error' in o) return failed(o.error);
      const r = (b: boolean) => (b ? 'Ready' : 'Not Ready');
      const s = {
        schema: r(o.schema.version !== null && o.schema.version >= OCS_R2_SCHEMA_VERSION && o.schema.globalContainer && o.schema.userMayContain),
        forest: r(o.forest.globalSettings !== null && o.forest.groups === RTC_GROUPS.length),
        domain: r(o.domain.prepared === o.domain.of),
      };
      const seen = [`Schema Setting: ${s.schema}`, `Forest Setting: ${s.forest}`, `Domain Setting: ${s.domain}`];
      const wrong = (['schema', 'forest', 'domain'] as const).filter((k) => p[k] !== undefined && p[k] !== s[k]);
      if (!wrong.length) return passed(seen);
      return failed(wrong.map((k) => `${k}: expected ${p[k]}, found ${s[k]}`).join('; '), seen);
    },
  },
});

/** The DN a check names: given, or found by sAMAccountName as ADUC's Find does. */
async function findDn(probes: Probes, t: Topology, p: { dn?: string | undefined; user?: string | undefined; dc?: string | undefined }): Promise<{ dn: string } | { error: string } | { missing: string }> {
  if (p.dn) return { dn: p.dn };
  const r = await probes.ldapSearch({ ...(p.dc ? { dc: p.dc } : {}), base: namingContexts(t).domain, scope: 'sub', filter: `(sAMAccountName=${escapeFilterValue(p.user ?? '')})`, attributes: ['1.1'] });
  if (isUnreachable(r) || !r.ok) return { error: ldapError(r) };
  const found = r.entries[0];
  return found ? { dn: found.dn } : { missing: p.user ?? '' };
}

type AttributeObservation = { error: string } | { missing: string } | { dn: string; values: string[] };

export const adAttributeStep = defineCheck({
  name: 'ad.attribute',
  summary: 'An attribute of a directory object (as ADSI Edit shows it): equals, contains or is absent',
  params: z
    .strictObject({
      dn: z.string().optional(),
      user: z.string().optional(),
      attribute: z.string(),
      equals: z.union([z.string(), z.array(z.string())]).optional(),
      contains: z.string().optional(),
      absent: z.boolean().optional(),
      dc: z.string().optional(),
    })
    .refine((p) => (p.dn === undefined) !== (p.user === undefined), { message: 'give exactly one of dn or user' }),
  refs: { user: 'user', dc: 'host' },
  title: (p) => `${p.attribute} of ${p.dn ?? p.user}${p.absent ? ' is not set' : p.equals !== undefined ? ` is ${[p.equals].flat().join('; ')}` : p.contains !== undefined ? ` contains "${p.contains}"` : ''}`,
  probe: {
    observe: async (probes, p, t): Promise<AttributeObservation> => {
      const where = await findDn(probes, t, p);
      if (!('dn' in where)) return where;
      const r = await readEntry(probes, p.dc, where.dn, [p.attribute]);
      if ('error' in r) return r;
      if (!r.entry) return { error: `${where.dn}: no such object` };
      return { dn: where.dn, values: values(r.entry, p.attribute) };
    },
    judge: (o: AttributeObservation, p) => {
      if ('error' in o) return failed(o.error);
      if ('missing' in o) return failed(`no account named ${o.missing} in the directory`);
      const found = o.values;
      const seen = [`${p.attribute}: ${found.length ? found.join('; ') : '<not set>'}`];
      if (p.absent) return found.length ? failed(`expected ${p.attribute} not set, found ${found.join('; ')}`, seen) : passed(seen);
      if (p.equals !== undefined) {
        const want = [p.equals].flat();
        const same = want.length === found.length && want.every((w) => found.some((v) => v.toLowerCase() === w.toLowerCase()));
        return same ? passed(seen) : failed(`expected ${want.join('; ')}, found ${found.length ? found.join('; ') : '<not set>'}`, seen);
      }
      if (p.contains !== undefined) {
        const needle = p.contains.toLowerCase();
        return found.some((v) => v.toLowerCase().includes(needle)) ? passed(seen) : failed(`expected a value containing "${p.contains}", found ${found.length ? found.join('; ') : '<not set>'}`, seen);
      }
      return found.length ? passed(seen) : failed(`expected ${p.attribute} to be set, found <not set>`, seen);
    },
  },
});

export const adObjectExistsStep = defineCheck({
  name: 'ad.objectExists',
  summary: 'A directory object exists (or does not) on a domain controller',
  params: z.strictObject({ dn: z.string(), exists: z.boolean().default(true), dc: z.string().optional() }),
  refs: { dc: 'host' },
  title: (p) => `${p.dn} ${p.exists ? 'exists' : 'does not exist'}${p.dc ? ` on ${p.dc}` : ''}`,
  probe: {
    observe: async (probes, p): Promise<{ error: string } | { exists: boolean }> => {
      const r = await readEntry(probes, p.dc, p.dn, ['1.1']);
      return 'error' in r ? r : { exists: r.entry !== undefined };
    },
    judge: (o: { error: string } | { exists: boolean }, p) => {
      if ('error' in o) return failed(o.error);
      if (o.exists === p.exists) return passed();
      return failed(p.exists ? `expected ${p.dn} to exist, found no such object` : `expected ${p.dn} not to exist, found it`);
    },
  },
});

const EXPECT = ['success', 'invalidCredentials', 'passwordExpired', 'accountDisabled', 'unavailable'] as const;

/**
 * AD's bind failures by the data code in the diagnostic (MS-ADTS; "80090308: LdapErr: DSID-…, data 532"):
 * 52e wrong password, 532 password expired, 533 account disabled, 773 must change password, 775 locked.
 */
function bindOutcome(r: LdapBindResult): { got: (typeof EXPECT)[number] | 'other'; seen: string } {
  if (isUnreachable(r)) return { got: 'unavailable', seen: unreachableText(r) };
  if (r.ok) return { got: 'success', seen: 'bound' };
  const data = /data ([0-9a-f]+)/i.exec(r.message)?.[1]?.toLowerCase();
  if (r.code === 49 && (data === '532' || data === '773')) return { got: 'passwordExpired', seen: r.message };
  if (r.code === 49 && data === '533') return { got: 'accountDisabled', seen: r.message };
  if (r.code === 49) return { got: 'invalidCredentials', seen: r.message };
  if (r.code === 51 || r.code === 52 || r.code === 81) return { got: 'unavailable', seen: r.message };
  return { got: 'other', seen: `LDAP error ${r.code}: ${r.message}` };
}

export const adAuthenticateStep = defineCheck({
  name: 'ad.authenticate',
  summary: 'A simple LDAP bind with a user name and password succeeds or fails as expected',
  params: z.strictObject({ user: z.string(), password: z.string(), expect: z.enum(EXPECT).default('success'), as: z.enum(['netbios', 'upn', 'dn', 'sam']).default('netbios') }),
  refs: { user: 'user' },
  title: (p, t) => `Bind as ${p.as === 'upn' ? `${p.user}@${t.forest.fqdn}` : `${t.forest.netbios}\\${p.user}`}: expect ${p.expect}`,
  leavesTrace: (p) => (p.expect === 'success' ? undefined : `a bind expected to fail counts a bad password on a real DC (badPwdCount, lockout); a read-only replay does not try it`),
  probe: {
    observe: async (probes, p, t): Promise<{ name: string; got: string; seen: string } | { error: string }> => {
      let name = p.as === 'upn' ? `${p.user}@${t.forest.fqdn}` : p.as === 'sam' ? p.user : `${t.forest.netbios}\\${p.user}`;
      if (p.as === 'dn') {
        const where = await findDn(probes, t, { user: p.user });
        if ('error' in where) return where;
        name = 'dn' in where ? where.dn : p.user;
      }
      const { got, seen } = bindOutcome(await probes.ldapBind({ name, password: p.password }));
      return { name, got, seen: got === 'success' ? `bound as ${name}` : seen };
    },
    judge: (o: { name: string; got: string; seen: string } | { error: string }, p) => {
      if ('error' in o) return failed(o.error);
      return o.got === p.expect ? passed([o.seen]) : failed(`expected ${p.expect}, found ${o.got}`, [o.seen]);
    },
  },
});

export const adSteps: StepDefinition[] = [
  adSchemaPrepStep,
  adForestPrepStep,
  adDomainPrepStep,
  adForceReplicationStep,
  adWaitForReplicationStep,
  adCreateUserStep,
  adSetPasswordStep,
  adPrepStateStep,
  adAttributeStep,
  adObjectExistsStep,
  adAuthenticateStep,
];
