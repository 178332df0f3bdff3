/**
 * The operator's Active Directory vocabulary: the LCSCmd preparation actions, replication, accounts,
 * and checks of what ADSI Edit / LCSCmd check actions / an LDAP bind would show.
 */
import { z } from 'zod';
import { formatDuration, parseDuration } from '../../sim/clock.js';
import { defineStep, failed, passed, type StepDefinition, type StepOutcome } from '../../sim/steps.js';
import type { Topology } from '../../sim/topology.js';
import type { Lab } from '../../sim/lab.js';
import {
  adAuthenticate,
  adCreateUser,
  adDomainPrep,
  adFindUser,
  adForceReplication,
  adForestPrep,
  adIsConverged,
  adPrepState,
  adSchemaPrep,
  adSearch,
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
  summary: 'Prepare the schema for Office Communications Server 2007 R2 (LCSCmd SchemaPrep, on the Schema Master)',
  params: z.strictObject({ runAs: z.string().optional() }),
  title: () => 'LCSCmd.exe /Forest /Action:SchemaPrep',
  emulated: ({ lab }, p) => outcome(adSchemaPrep(ad(lab), p.runAs ? { runAs: p.runAs } : {})),
});

export const adForestPrepStep = defineStep({
  name: 'ad.forestPrep',
  kind: 'action',
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
  summary: 'Reset an account password (ADUC Reset Password): a topology user or any account by sAMAccountName (RTCService)',
  params: z.strictObject({ user: z.string(), password: z.string() }),
  title: (p, t) => `Reset password of ${t.forest.netbios}\\${p.user}`,
  emulated: ({ lab }, p) => {
    const r = adSetPassword(ad(lab), { sam: p.user, password: p.password });
    return r.ok ? passed([`Password set for ${r.value.dn}`]) : outcome(r);
  },
});

export const adPrepStateStep = defineStep({
  name: 'ad.prepState',
  kind: 'check',
  summary: 'CheckSchemaPrepState / CheckForestPrepState / CheckDomainPrepState against a domain controller',
  params: z.strictObject({ schema: prepStateValue.optional(), forest: prepStateValue.optional(), domain: prepStateValue.optional(), dc: z.string().optional() }),
  refs: { dc: 'host' },
  title: (p) => {
    const parts = (['schema', 'forest', 'domain'] as const).filter((k) => p[k]).map((k) => `${k[0]?.toUpperCase()}${k.slice(1)} ${p[k]}`);
    return `LCSCmd check prep state${p.dc ? ` on ${p.dc}` : ''}: ${parts.join(', ') || 'report'}`;
  },
  emulated: ({ lab }, p) => {
    const s = adPrepState(ad(lab), p.dc);
    const seen = [`Schema Setting: ${s.schema}`, `Forest Setting: ${s.forest}`, `Domain Setting: ${s.domain}`];
    const wrong = (['schema', 'forest', 'domain'] as const).filter((k) => p[k] !== undefined && p[k] !== s[k]);
    if (!wrong.length) return passed(seen);
    return failed(wrong.map((k) => `${k}: expected ${p[k]}, found ${s[k]}`).join('; '), seen);
  },
});

function resolveDn(lab: Lab, p: { dn?: string | undefined; user?: string | undefined }): string | undefined {
  if (p.dn) return p.dn;
  if (p.user) return adFindUser(ad(lab), p.user)?.dn;
  return undefined;
}

export const adAttributeStep = defineStep({
  name: 'ad.attribute',
  kind: 'check',
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
  emulated: ({ lab }, p) => {
    const dn = resolveDn(lab, p);
    if (!dn) return failed(`no account named ${p.user} in the directory`);
    const r = adSearch(ad(lab), { base: dn, scope: 'base', attributes: [p.attribute], ...(p.dc ? { dc: p.dc } : {}) });
    if (!r.ok) return failed(r.failure.message);
    const entry = r.value[0];
    const values = entry ? (Object.entries(entry.attributes).find(([k]) => k.toLowerCase() === p.attribute.toLowerCase())?.[1] ?? []) : [];
    const seen = [`${p.attribute}: ${values.length ? values.join('; ') : '<not set>'}`];
    if (p.absent) return values.length ? failed(`expected ${p.attribute} not set, found ${values.join('; ')}`, seen) : passed(seen);
    if (p.equals !== undefined) {
      const want = [p.equals].flat();
      const same = want.length === values.length && want.every((w) => values.some((v) => v.toLowerCase() === w.toLowerCase()));
      return same ? passed(seen) : failed(`expected ${want.join('; ')}, found ${values.length ? values.join('; ') : '<not set>'}`, seen);
    }
    if (p.contains !== undefined) {
      const needle = p.contains.toLowerCase();
      return values.some((v) => v.toLowerCase().includes(needle)) ? passed(seen) : failed(`expected a value containing "${p.contains}", found ${values.length ? values.join('; ') : '<not set>'}`, seen);
    }
    return values.length ? passed(seen) : failed(`expected ${p.attribute} to be set, found <not set>`, seen);
  },
});

export const adObjectExistsStep = defineStep({
  name: 'ad.objectExists',
  kind: 'check',
  summary: 'A directory object exists (or does not) on a domain controller',
  params: z.strictObject({ dn: z.string(), exists: z.boolean().default(true), dc: z.string().optional() }),
  refs: { dc: 'host' },
  title: (p) => `${p.dn} ${p.exists ? 'exists' : 'does not exist'}${p.dc ? ` on ${p.dc}` : ''}`,
  emulated: ({ lab }, p) => {
    const r = adSearch(ad(lab), { base: p.dn, scope: 'base', attributes: ['1.1'], ...(p.dc ? { dc: p.dc } : {}) });
    const found = r.ok && r.value.length > 0;
    if (!r.ok && r.failure.kind !== 'ad.noSuchObject') return failed(r.failure.message);
    if (found === p.exists) return passed();
    return failed(p.exists ? `expected ${p.dn} to exist, found no such object` : `expected ${p.dn} not to exist, found it`);
  },
});

const EXPECT = ['success', 'invalidCredentials', 'passwordExpired', 'accountDisabled', 'unavailable'] as const;

function bindName(t: Topology, lab: Lab, user: string, form: 'netbios' | 'upn' | 'dn' | 'sam'): string {
  if (form === 'upn') return `${user}@${t.forest.fqdn}`;
  if (form === 'dn') return adFindUser(ad(lab), user)?.dn ?? user;
  if (form === 'sam') return user;
  return `${t.forest.netbios}\\${user}`;
}

export const adAuthenticateStep = defineStep({
  name: 'ad.authenticate',
  kind: 'check',
  summary: 'A simple LDAP bind with a user name and password succeeds or fails as expected',
  params: z.strictObject({ user: z.string(), password: z.string(), expect: z.enum(EXPECT).default('success'), as: z.enum(['netbios', 'upn', 'dn', 'sam']).default('netbios') }),
  refs: { user: 'user' },
  title: (p, t) => `Bind as ${p.as === 'upn' ? `${p.user}@${t.forest.fqdn}` : `${t.forest.netbios}\\${p.user}`}: expect ${p.expect}`,
  emulated: ({ lab, topology }, p) => {
    const r = adAuthenticate(ad(lab), { name: bindName(topology, lab, p.user, p.as), password: p.password });
    const got = r.ok ? 'success' : r.failure.kind.slice('ad.'.length);
    const seen = r.ok ? [`bound as ${r.value.dn}`] : [r.failure.message];
    return got === p.expect ? passed(seen) : failed(`expected ${p.expect}, found ${got}`, seen);
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
