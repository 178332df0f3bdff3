/**
 * The operator vocabulary for OCS: the Deployment Wizard steps, the Certificate Wizard, ADUC's OCS pages,
 * and the checks an operator (or LCSCmd / the Validation Wizard) would make.
 */
import { z } from 'zod';
import { defineCheck, defineStep, failed, passed, type StepDefinition, type StepOutcome } from '../../sim/steps.js';
import { isUnreachable, ldapError, namingContexts, readEntry, values } from '../../sim/probes.js';
import { escapeFilterValue } from '../../sim/ldap.session.js';
import { rtcServiceLocations } from '../ad/ad.client.js';

type UserObservation = { error: string } | { found: false } | { found: true; enabled: boolean; sipAddress: string | null; homePool: string | null };
type PoolObservation = { error: string } | { exists: false } | { exists: true; fqdn: string; frontEnds: string[] };
import type { Lab } from '../../sim/lab.js';
import { hostId } from '../host/host.events.js';
import { hostFirewallEnabled, hostFirewallRules, hostServices, hostStartService } from '../host/host.client.js';
import { dnsQuery } from '../dns/dns.client.js';
import { sqlOnline, sqlRead } from '../sql/sql.client.js';
import { sqlId } from '../sql/sql.events.js';
import { observeGet } from '../iis/iis.steps.js';
import { addressBookFileName } from './ocs.addressbook.js';
import type { Result } from '../../sim/result.js';
import * as c from './ocs.client.js';
import { OCS_SERVICES, SERVER_PHASES, sipUri as sipUriOf } from './ocs.store.js';
import { FIREWALL_RULES } from './ocs.deployment.js';
import { userContacts } from './ocs.users.js';

const WIZARD_LIMIT_MS = 3_600_000;
const ocs = (lab: Lab) => lab.actor('ocs');

/** Runs a wizard command and lets its simulated time pass until its Finish page. */
function wizard<T>(lab: Lab, run: () => Result<T>): Result<T> {
  // An operator starts a wizard once the previous one has closed.
  lab.waitFor(() => c.ocsWizardIdle(ocs(lab)), WIZARD_LIMIT_MS);
  const r = run();
  lab.waitFor(() => c.ocsWizardIdle(ocs(lab)), WIZARD_LIMIT_MS);
  return r;
}
const outcome = <T>(r: Result<T>, details: (v: T) => string[]): StepOutcome => (r.ok ? passed(details(r.value)) : failed(r.failure.message));
const perUser = (r: Result<{ users: { ok: boolean; message: string }[] }>): StepOutcome => {
  if (!r.ok) return failed(r.failure.message);
  const bad = r.value.users.filter((u) => !u.ok);
  const lines = r.value.users.map((u) => `${u.ok ? 'Success' : 'Failure'}: ${u.message}`);
  return bad.length ? failed(bad.map((u) => u.message).join('; '), lines) : passed(lines);
};

/** What an address book download saw. */
interface AddressBookObservation {
  url: string;
  /** "answered", or why there was no answer to judge. */
  outcome: string;
  status?: number;
  statusText?: string;
  /** How many days before the target's today the newest full file was written (its name holds the date). */
  fileAgeDays?: number;
  found?: string[];
  missing?: string[];
  entries?: number;
}

const passwords = z.strictObject({ RTCService: z.string().min(1), RTCComponentService: z.string().min(1), RTCGuestAccessUser: z.string().min(1) });

export const ocsSteps: StepDefinition[] = [
  defineCheck({
    name: 'ocs.addressBookDownload',
    summary: "A user downloads the newest full address book file over HTTPS from a front end's /Abs/Int/Handler, as Communicator does, and finds the pool's users in it",
    params: z.strictObject({ user: z.string(), server: z.string().optional(), contains: z.array(z.string()).optional() }), refs: { user: 'user', server: 'frontEnd' },
    title: (p) => `${p.user} downloads the address book over HTTPS${p.server ? ` from ${p.server}` : ''}`,
    probe: {
      /**
       * As Communicator looks for it: F-<day>.lsabs for today (the target's date), then a day back at a
       * time over the 30 days the Address Book Server keeps full files, with NTLM as the user. What the
       * file lists is looked for as text (the lab's files) and as UTF-16 (the product's binary format).
       */
      async observe(probes, p, t): Promise<AddressBookObservation> {
        const server = p.server ?? t.hosts.find((h) => h.roles.includes('ocsFrontEnd'))?.name ?? '';
        const pool = t.pools.find((x) => x.frontEnds.some((fe) => fe.toLowerCase() === server.toLowerCase()));
        const user = t.users.find((u) => u.sam.toLowerCase() === p.user.toLowerCase());
        const address = t.hosts.find((h) => h.name.toLowerCase() === server.toLowerCase())?.ip;
        if (!pool || !user || !address) return { url: '', outcome: `${server} is not a front end of a pool` };
        const now = probes.now();
        const wanted = p.contains ?? t.users.map((u) => u.mail ?? '').filter(Boolean);
        let first: AddressBookObservation | undefined;
        for (let day = 0; day < 30; day++) {
          const path = `/Abs/Int/Handler/${addressBookFileName(now - day * 86_400_000, 'lsabs')}`;
          const url = `https://${pool.fqdn}${path}`;
          const r = await probes.httpRequest({ address, port: 443, scheme: 'https', host: pool.fqdn, path, auth: { user: user.sam, domain: t.forest.netbios, password: user.password }, trust: 'target' });
          const seen = observeGet(url, r);
          if (seen.outcome !== 'answered' || isUnreachable(r) || !r.ok) return { url, outcome: seen.detail ?? seen.outcome };
          if (r.status === 200) {
            const text = r.body.toString('utf8').toLowerCase();
            const wide = r.body.toString('utf16le').toLowerCase();
            const has = (x: string) => text.includes(x.toLowerCase()) || wide.includes(x.toLowerCase());
            // The file's name holds its date, which differs between targets: the observation says how old it is.
            return { url: `https://${pool.fqdn}/Abs/Int/Handler/`, outcome: 'answered', status: 200, fileAgeDays: day, found: wanted.filter(has), missing: p.contains ? p.contains.filter((x) => !has(x)) : [], entries: text.split('\r\n').filter((l) => l.startsWith('sip:')).length };
          }
          first ??= { url, outcome: 'answered', status: r.status, statusText: r.statusText };
          if (r.status !== 404) return first;
        }
        return first?.status === 404 ? { ...first, outcome: 'no full address book file for the last 30 days (the Address Book Server has not run)' } : (first ?? { url: '', outcome: 'no answer' });
      },
      judge(o) {
        if (o.outcome !== 'answered') return failed(`GET ${o.url || 'the address book'}: ${o.outcome}`);
        if (o.status !== 200) return failed(`GET ${o.url}: ${o.status ?? 0} ${o.statusText ?? ''}`.trim());
        if (o.missing?.length) return failed(`the address book does not list ${o.missing.join(', ')}`, [`GET ${o.url}: 200`]);
        return passed([`GET ${o.url}: 200 (the full file of ${o.fileAgeDays ? `${o.fileAgeDays} day(s) ago` : 'today'})`, `${o.entries ?? 0} entries`, ...(o.found?.length ? [`lists ${o.found.join(', ')}`] : [])]);
      },
    },
  }),
  defineStep({
    name: 'ocs.syncAddressBook', kind: 'action', summary: 'Address Book Server: ABServer.exe -syncNow (generate the address book files and publish them to /Abs)',
    params: z.strictObject({ pool: z.string() }), refs: { pool: 'pool' },
    title: (p) => `ABServer.exe -syncNow for pool ${p.pool}`,
    emulated: ({ lab }, p) => outcome(wizard(lab, () => c.ocsSyncAddressBook(ocs(lab), p)), (v) => [`${v.users} user(s) written to ${v.files.join(', ')}`]),
  }),
  defineStep({
    name: 'ocs.createPool', kind: 'action', summary: 'Create Enterprise Pool (LCSCmd /Forest /Action:CreatePool)',
    params: z.strictObject({ pool: z.string(), backEnd: z.string().optional() }), refs: { pool: 'pool' },
    title: (p) => `Create Enterprise pool ${p.pool}`,
    emulated: ({ lab }, p) => outcome(wizard(lab, () => c.ocsCreatePool(ocs(lab), p)), (v) => [`Created ${v.fqdn}`, ...v.warnings.map((w) => `Warning: ${w}`)]),
  }),
  defineStep({
    name: 'ocs.configurePool', kind: 'action', summary: 'Configure Pool: SIP domains, automatic sign-in, web farm FQDNs',
    params: z.strictObject({ pool: z.string(), sipDomains: z.array(z.string()).optional(), defaultSipDomain: z.string().optional(), automaticSignIn: z.boolean().optional(), internalWebFarmFqdn: z.string().optional(), externalWebFarmFqdn: z.string().optional() }),
    refs: { pool: 'pool' }, title: (p) => `Configure pool ${p.pool}`,
    emulated: ({ lab }, p) => outcome(wizard(lab, () => c.ocsConfigurePool(ocs(lab), p)), (v) => [`SIP domains: ${v.sipDomains.join(', ')}`, `Automatic sign-in: ${v.automaticSignIn}`]),
  }),
  defineStep({
    name: 'ocs.addServerToPool', kind: 'action', summary: 'Add Server to Pool: install the consolidated roles and activate (seed Step 1)',
    params: z.strictObject({ server: z.string(), pool: z.string(), installPath: z.string().optional(), passwords }), refs: { server: 'frontEnd', pool: 'pool' },
    title: (p) => `Add ${p.server} to pool ${p.pool}`,
    emulated: ({ lab }, p) => outcome(wizard(lab, () => c.ocsAddServerToPool(ocs(lab), p)), (v) => [...v.setupLog, ...v.warnings.map((w) => `Warning: ${w}`)]),
  }),
  defineStep({
    name: 'ocs.requestCertificate', kind: 'action', summary: 'Certificate Wizard: request (online/offline) and assign the pool certificate (seed Step 2)',
    params: z.strictObject({
      server: z.string(), mode: z.enum(['online', 'offline']).default('online'), certificateName: z.string().optional(), subjectName: z.string().optional(), sans: z.array(z.string()).optional(),
      organization: z.string(), organizationalUnit: z.string(), country: z.string(), state: z.string(), city: z.string(), ca: z.string().optional(), exportable: z.boolean().optional(), assign: z.boolean().optional(),
    }),
    refs: { server: 'frontEnd' }, title: (p) => `Request and assign a certificate on ${p.server}`,
    emulated: ({ lab }, p) => {
      const r = wizard(lab, () => c.ocsRequestCertificate(ocs(lab), p));
      if (!r.ok) return failed(r.failure.message);
      const lines = [`Certificate name: ${r.value.friendlyName}`, `Subject: CN=${r.value.subjectName}`, `SAN: ${r.value.sans.join(', ') || '(none)'}`, `Status: ${r.value.status}`];
      return r.value.status === 'pending' ? failed(`The certificate request is pending at ${r.value.ca ?? 'the CA'}; no certificate was assigned.`, lines) : passed(lines);
    },
  }),
  defineStep({
    name: 'ocs.completePendingCertificate', kind: 'action', summary: 'Certificate Wizard: process the pending request and assign the certificate',
    params: z.strictObject({ server: z.string(), assign: z.boolean().optional() }), refs: { server: 'frontEnd' },
    title: (p) => `Process the pending certificate request on ${p.server}`,
    emulated: ({ lab }, p) => {
      const r = wizard(lab, () => c.ocsCompletePendingCertificate(ocs(lab), p));
      if (!r.ok) return failed(r.failure.message);
      return r.value.status === 'pending' ? failed('The certificate request is still pending.') : passed([`Status: ${r.value.status}`, `Thumbprint: ${r.value.thumbprint ?? ''}`]);
    },
  }),
  defineStep({
    name: 'ocs.startServices', kind: 'action', summary: 'Start Services: start every OCS service in snap-in order (seed Step 5)',
    params: z.strictObject({ server: z.string() }), refs: { server: 'frontEnd' }, title: (p) => `Start the OCS services on ${p.server}`,
    emulated: ({ lab }, p) => {
      const host = lab.actor(hostId(p.server));
      const ours = () => hostServices(host).filter((s) => OCS_SERVICES.some((d) => d.name === s.name));
      if (ours().length === 0) return failed(`Office Communications Server is not installed on ${p.server}.`);
      const problems: string[] = [];
      for (const def of OCS_SERVICES) {
        const s = ours().find((x) => x.name === def.name);
        if (!s || s.startupType === 'Disabled' || s.state === 'Running') continue;
        const r = hostStartService(host, { name: def.name });
        if (!r.ok) problems.push(r.failure.message);
      }
      lab.waitFor(() => ours().every((s) => s.state !== 'Start Pending'), 10 * 60_000);
      const lines = ours().map((s) => `${s.displayName} (${s.name}): ${s.state}${s.startupType === 'Disabled' ? ' (Disabled)' : ''}`);
      for (const s of ours()) if (s.startupType !== 'Disabled' && s.state !== 'Running') problems.push(`The ${s.displayName} service failed to start (state ${s.state}); see the System and Office Communications Server event logs.`);
      return problems.length ? failed(problems.join(' '), lines) : passed(lines);
    },
  }),
  defineStep({
    name: 'ocs.verifyReplication', kind: 'action', summary: 'Verify Replication: wait for the User Replicator (event 30024) and show CheckPoolState',
    params: z.strictObject({ pool: z.string(), server: z.string().optional(), limit: z.number().optional() }), refs: { pool: 'pool' },
    title: (p) => `Verify replication for pool ${p.pool}`,
    emulated: ({ lab }, p) => {
      const pool = c.ocsPool(ocs(lab), p.pool);
      if (!pool) return failed(`LCSCmd /Forest /Action:CheckPoolState /PoolName:${p.pool}: the pool was not found.`);
      const owner = () => c.ocsStore(ocs(lab)).servers.find((s) => s.pool === pool.name && s.activated && (!p.server || s.host === p.server.toLowerCase()));
      const done = () => !!owner()?.replicatedDomains.length;
      lab.waitFor(done, p.limit ?? 5 * 60_000);
      const lines = [`Pool ${pool.name} (${pool.fqdn}), back end ${pool.backEndFqdn}`, ...pool.frontEnds.map((f) => `  EE server ${f}: ${c.ocsServerPhase(ocs(lab), f)}`)];
      const o = owner();
      if (!o || !done()) return failed(`No event 30024 from the User Replicator${o ? ` on ${o.host}` : ''}: the Front-End service must be running and AD converged.`, lines);
      return passed([...lines, `Event 30024 on ${o.host}: initial synchronization of ${o.replicatedDomains.join(', ')} complete`]);
    },
  }),
  defineStep({
    name: 'ocs.validate', kind: 'action', summary: 'Validate Server and Pool Functionality (local checks; SIP logon/IM comes later)',
    params: z.strictObject({ server: z.string(), pool: z.string(), users: z.array(z.string()).optional() }), refs: { server: 'frontEnd', pool: 'pool', users: 'user' },
    title: (p) => `Validate ${p.server} and pool ${p.pool}`,
    emulated: ({ lab }, p) => {
      const ref = ocs(lab);
      const server = c.ocsServer(ref, p.server);
      const pool = c.ocsPool(ref, p.pool);
      const lines: string[] = [];
      const check = (name: string, good: boolean, why = '') => lines.push(`${name}: ${good ? 'Success' : `Failure${why ? ` (${why})` : ''}`}`);
      check('Server activated in pool', !!server?.activated && server.pool === pool?.name);
      const svc = lab.get(hostId(p.server)) ? hostServices(lab.get(hostId(p.server))).filter((s) => OCS_SERVICES.some((d) => d.name === s.name) && s.startupType !== 'Disabled') : [];
      const down = svc.filter((s) => s.state !== 'Running').map((s) => s.name);
      check('Services running', svc.length > 0 && down.length === 0, down.join(', '));
      const cert = server?.certificate;
      check('Certificate assigned for the pool FQDN', !!cert && !!pool && (cert.subjectCN === pool.fqdn || cert.sans.includes(pool.fqdn)), cert ? `CN=${cert.subjectCN}` : 'no certificate');
      if (pool?.automaticSignIn && cert) {
        const missingSans = pool.sipDomains.map((d) => `sip.${d}`).filter((n) => !cert.sans.includes(n));
        check('Certificate SAN covers automatic sign-in', missingSans.length === 0, missingSans.length ? `SAN lacks ${missingSans.join(', ')}` : '');
      }
      check('Back-end database reachable', !!pool && sqlOnline(lab.get(sqlId(pool.backEnd))));
      const dnsRef = lab.get('dns');
      const a = pool && dnsRef ? dnsQuery(dnsRef, { name: pool.fqdn, type: 'A' }) : undefined;
      check(`DNS A record for ${pool?.fqdn ?? p.pool}`, !!a && a.ok && a.value.answers.length > 0);
      const homed = c.ocsStore(ref).users;
      for (const u of p.users ?? []) {
        const h = homed.find((x) => x.sam.toLowerCase() === u.toLowerCase());
        check(`User ${u} enabled and homed on ${p.pool}`, !!h && h.pool === pool?.name, h ? `homed on ${h.pool}` : 'not seen by the User Replicator');
      }
      lines.push('SIP logon and IM between the test users: not run by this lab yet');
      const bad = lines.filter((l) => l.includes(': Failure'));
      return bad.length ? failed(bad.join('; '), lines) : passed(lines);
    },
  }),
  defineStep({
    name: 'ocs.enableUsers', kind: 'action', writes: 'directory', summary: 'ADUC: Enable users for Communications Server',
    params: z.strictObject({ users: z.array(z.string()).min(1), pool: z.string(), signInName: z.enum(['email', 'upn', 'firstLast', 'sam']), sipDomain: z.string().optional() }),
    refs: { users: 'user', pool: 'pool', sipDomain: 'sipDomain' }, title: (p) => `Enable ${p.users.join(', ')} for Communications Server on ${p.pool}`,
    emulated: ({ lab }, p) => perUser(wizard(lab, () => c.ocsEnableUsers(ocs(lab), p))),
  }),
  defineStep({
    name: 'ocs.moveUsers', kind: 'action', summary: 'Move users to another pool (force when the source pool is lost)',
    params: z.strictObject({ users: z.array(z.string()).min(1), toPool: z.string(), force: z.boolean().optional() }), refs: { users: 'user', toPool: 'pool' },
    title: (p) => `Move ${p.users.join(', ')} to ${p.toPool}${p.force ? ' (forced)' : ''}`,
    emulated: ({ lab }, p) => perUser(wizard(lab, () => c.ocsMoveUsers(ocs(lab), p))),
  }),
  defineStep({
    name: 'ocs.applyUpdate', kind: 'action', summary: 'Install an OCS 2007 R2 update (KB967831 April 2009, KB972041 June 2009)',
    params: z.strictObject({ server: z.string(), update: z.enum(['KB967831', 'KB972041']) }), refs: { server: 'frontEnd' },
    title: (p) => `Install ${p.update} on ${p.server}`,
    emulated: ({ lab }, p) => outcome(wizard(lab, () => c.ocsApplyUpdate(ocs(lab), p)), (v) => [`Installed ${v.update} on ${v.server}`]),
  }),
  defineStep({
    name: 'ocs.removeUsers', kind: 'action', summary: 'ADUC: Remove users from Communications Server (any account, by sAMAccountName)',
    params: z.strictObject({ users: z.array(z.string()).min(1) }),
    title: (p) => `Remove ${p.users.join(', ')} from Communications Server`,
    emulated: ({ lab }, p) => perUser(wizard(lab, () => c.ocsRemoveUsers(ocs(lab), p))),
  }),
  defineStep({
    name: 'ocs.addContact', kind: 'action', summary: "Communicator: the user adds a contact (stored on the home pool's back end)",
    params: z.strictObject({ user: z.string(), contact: z.string(), group: z.string().optional() }), refs: { user: 'user' },
    title: (p) => `${p.user} adds ${p.contact} to the contact list`,
    emulated: ({ lab }, p) => outcome(c.ocsAddContact(ocs(lab), p), (v) => [`${v.user}: ${v.contact} stored on ${v.pool}`]),
  }),
  // ---------------------------------------------------------------------------------------------- checks
  defineStep({
    name: 'ocs.userContacts', kind: 'check', observesClientWrites: true, summary: "A user's server-stored contacts on the home pool's back end (RTC.Contact), as Communicator shows them at sign-in",
    params: z.strictObject({ user: z.string(), count: z.number().int().nonnegative().optional(), contains: z.array(z.string()).optional() }), refs: { user: 'user' },
    title: (p) => `${p.user}'s contact list${p.count !== undefined ? ` has ${p.count} contact(s)` : ''}${p.contains?.length ? ` includes ${p.contains.join(', ')}` : ''}`,
    console: (p) => `${p.user}'s contact list in Communicator once signed in (the server-stored list, RTC.Contact on the pool's back end)`,
    emulated: ({ lab }, p) => {
      const store = c.ocsStore(ocs(lab));
      const u = store.users.find((x) => x.sam.toLowerCase() === p.user.toLowerCase());
      if (!u) return failed(`expected ${p.user} homed on a pool, found no replicated SIP-enabled user`);
      const pool = c.ocsPool(ocs(lab), u.pool);
      const list = userContacts(store, u.sipAddress, u.pool, (host, database, table) => sqlRead(lab.get(sqlId(host)), { database, table }));
      if (!pool || !list) return failed(`the contact list of ${u.sipAddress} cannot be read: the back end of ${u.pool} is not available`);
      const lines = [`${u.sipAddress} on ${pool.name} (${pool.backEndFqdn}): ${list.length ? list.join(', ') : 'no contacts'}`];
      if (p.count !== undefined && list.length !== p.count) return failed(`expected ${p.count} contact(s), found ${list.length}`, lines);
      const missing = (p.contains ?? []).map((x) => sipUriOf(x)).filter((x) => !list.includes(x));
      return missing.length ? failed(`expected the contact list to include ${missing.join(', ')}, found ${list.join(', ') || 'none'}`, lines) : passed(lines);
    },
  }),
  defineStep({
    name: 'ocs.firewallExceptions', kind: 'check', summary: 'The Windows Firewall exceptions Office Communications Server activation adds (SIP 5061 and the conferencing ports)',
    params: z.strictObject({ server: z.string(), present: z.boolean().default(true) }), refs: { server: 'frontEnd' },
    console: (p) => `Windows Firewall exceptions on ${p.server} (netsh advfirewall firewall show rule name=all)`,
    title: (p) => `Office Communications Server firewall exceptions ${p.present ? 'present' : 'absent'} on ${p.server}`,
    emulated: ({ lab }, p) => {
      const host = lab.actor(hostId(p.server));
      const rules = hostFirewallRules(host);
      const have = FIREWALL_RULES.filter((r) => rules.some((x) => x.port === r.port && x.protocol === r.protocol));
      const lines = [`Windows Firewall ${hostFirewallEnabled(host) ? 'on' : 'off'}`, `OCS exceptions: ${have.length ? have.map((r) => `${r.protocol} ${r.port}`).join(', ') : 'none'}`];
      const present = have.length === FIREWALL_RULES.length;
      if (present === p.present) return passed(lines);
      return failed(p.present ? `expected the OCS exceptions, found ${have.length ? `only ${have.length} of ${FIREWALL_RULES.length}` : 'none'}` : `expected no OCS exceptions, found ${have.length}`, lines);
    },
  }),
  defineStep({
    name: 'ocs.serverState', kind: 'check', summary: `A server's deployment phase (${SERVER_PHASES.join(', ')})`,
    params: z.strictObject({ server: z.string(), state: z.enum(SERVER_PHASES) }), refs: { server: 'frontEnd' },
    console: (p) => `LCSCmd.exe /Server:${p.server} /Action:CheckLCServerState on ${p.server}, or the Office Communications Server 2007 R2 console`,
    title: (p) => `${p.server} is ${p.state}`,
    emulated: ({ lab }, p) => {
      const found = c.ocsServerPhase(ocs(lab), p.server);
      return found === p.state ? passed([`${p.server}: ${found}`]) : failed(`expected ${p.state}, found ${found}`);
    },
  }),
  defineCheck({
    name: 'ocs.poolState', summary: 'CheckPoolState: the pool exists, with its front ends',
    params: z.strictObject({ pool: z.string(), exists: z.boolean().default(true), servers: z.array(z.string()).optional() }), refs: { pool: 'pool' },
    title: (p) => `Pool ${p.pool} ${p.exists ? 'exists' : 'does not exist'}`,
    probe: {
      // What CheckPoolState reads: the pool's object under CN=Pools of CN=RTC Service and its front ends'
      // msRTCSIP-TrustedServer objects under it (ocs-facts §1.6, §2).
      observe: async (probes, p, t): Promise<PoolObservation> => {
        let rtc: string | undefined;
        for (const dn of Object.values(rtcServiceLocations(namingContexts(t)))) {
          const r = await readEntry(probes, undefined, dn, ['1.1']);
          if ('error' in r) return r;
          if (r.entry) {
            rtc = dn;
            break;
          }
        }
        if (!rtc) return { exists: false };
        const poolDn = `CN=${p.pool},CN=Pools,${rtc}`;
        const pool = await readEntry(probes, undefined, poolDn, ['dNSHostName']);
        if ('error' in pool) return pool;
        if (!pool.entry) return { exists: false };
        const fes = await probes.ldapSearch({ base: poolDn, scope: 'one', filter: '(objectClass=msRTCSIP-TrustedServer)', attributes: ['msRTCSIP-TrustedServerFQDN'] });
        if (isUnreachable(fes) || !fes.ok) return { error: ldapError(fes) };
        const frontEnds = fes.entries.flatMap((e) => values(e, 'msRTCSIP-TrustedServerFQDN')).map((f) => (f.split('.')[0] ?? f).toLowerCase()).sort();
        return { exists: true, fqdn: (values(pool.entry, 'dNSHostName')[0] ?? '').toLowerCase(), frontEnds };
      },
      judge: (o: PoolObservation, p) => {
        if ('error' in o) return failed(o.error);
        if (o.exists !== p.exists) return failed(`expected the pool to ${p.exists ? 'exist' : 'be absent'}, found it ${o.exists ? 'present' : 'absent'}`);
        if (!o.exists) return passed([`${p.pool}: absent`]);
        const missing = (p.servers ?? []).filter((x) => !o.frontEnds.includes(x.toLowerCase()));
        return missing.length ? failed(`expected front ends ${p.servers?.join(', ')}, found ${o.frontEnds.join(', ') || 'none'}`) : passed([`${o.fqdn}: front ends ${o.frontEnds.join(', ') || 'none'}`]);
      },
    },
  }),
  defineCheck({
    name: 'ocs.userEnabled', summary: 'A user is (or is not) enabled for Communications Server, with address and home pool',
    params: z.strictObject({ user: z.string(), sipAddress: z.string().optional(), enabled: z.boolean().default(true), homePool: z.string().optional() }), refs: { user: 'user' },
    title: (p) => `${p.user} is ${p.enabled ? '' : 'not '}enabled for Communications Server`,
    probe: {
      // What the Communications tab of ADUC shows: the account's msRTCSIP-UserEnabled, its SIP address
      // and its home server (the pool's LC Services object), read over LDAP.
      observe: async (probes, p, t): Promise<UserObservation> => {
        const r = await probes.ldapSearch({
          base: namingContexts(t).domain,
          scope: 'sub',
          filter: `(sAMAccountName=${escapeFilterValue(p.user)})`,
          attributes: ['msRTCSIP-UserEnabled', 'msRTCSIP-PrimaryUserAddress', 'msRTCSIP-PrimaryHomeServer'],
        });
        if (isUnreachable(r) || !r.ok) return { error: ldapError(r) };
        const e = r.entries[0];
        if (!e) return { found: false };
        const home = values(e, 'msRTCSIP-PrimaryHomeServer')[0];
        const pool = home ? /,CN=([^,]+),CN=Pools,/i.exec(home)?.[1] : undefined;
        return {
          found: true,
          enabled: (values(e, 'msRTCSIP-UserEnabled')[0] ?? '').toUpperCase() === 'TRUE',
          sipAddress: values(e, 'msRTCSIP-PrimaryUserAddress')[0] ?? null,
          homePool: pool ? pool.toLowerCase() : null,
        };
      },
      judge: (o: UserObservation, p) => {
        if ('error' in o) return failed(o.error);
        if (!o.found) return p.enabled ? failed(`expected ${p.user} enabled, found no such account`) : passed([`${p.user}: no such account`]);
        if (!o.enabled) return p.enabled ? failed(`expected ${p.user} enabled, found it not enabled for Communications Server`) : passed([`${p.user}: not enabled`]);
        if (!p.enabled) return failed(`expected ${p.user} not enabled, found ${o.sipAddress ?? 'it enabled'}`);
        const want = p.sipAddress ? (p.sipAddress.startsWith('sip:') ? p.sipAddress : `sip:${p.sipAddress}`).toLowerCase() : undefined;
        if (want && (o.sipAddress ?? '').toLowerCase() !== want) return failed(`expected ${want}, found ${o.sipAddress ?? '<not set>'}`);
        if (p.homePool && o.homePool !== p.homePool.toLowerCase()) return failed(`expected home pool ${p.homePool}, found ${o.homePool ?? '<not set>'}`);
        return passed([`${p.user}: ${o.sipAddress ?? ''} on ${o.homePool ?? ''}`]);
      },
    },
  }),
  defineStep({
    name: 'ocs.certificateAssigned', kind: 'check', summary: 'The server has a certificate assigned, with subject and SAN',
    params: z.strictObject({ server: z.string(), subject: z.string().optional(), sanContains: z.array(z.string()).optional() }), refs: { server: 'frontEnd' },
    title: (p) => `${p.server} has its certificate assigned`,
    console: (p) => `the Office Communications Server 2007 R2 console: ${p.server} → Properties → Front End Properties → Certificates (the certificate's subject and SAN)`,
    emulated: ({ lab }, p) => {
      const cert = c.ocsServer(ocs(lab), p.server)?.certificate;
      if (!cert) return failed('expected a certificate assigned, found none');
      if (p.subject && cert.subjectCN.toLowerCase() !== p.subject.toLowerCase()) return failed(`expected subject CN=${p.subject}, found CN=${cert.subjectCN}`);
      const missing = (p.sanContains ?? []).filter((s) => !cert.sans.includes(s.toLowerCase()));
      if (missing.length) return failed(`expected SAN to contain ${missing.join(', ')}, found ${cert.sans.join(', ') || 'no SAN'}`);
      return passed([`CN=${cert.subjectCN}`, `SAN: ${cert.sans.join(', ')}`, `Thumbprint: ${cert.thumbprint}`]);
    },
  }),
  defineStep({
    name: 'ocs.servicesRunning', kind: 'check', summary: 'OCS services are Running (default: all except Disabled)',
    params: z.strictObject({ server: z.string(), services: z.array(z.string()).optional() }), refs: { server: 'frontEnd' },
    console: (p) => `Services (services.msc) on ${p.server}: the Office Communications Server services`,
    title: (p) => `OCS services running on ${p.server}`,
    emulated: ({ lab }, p) => {
      const all = hostServices(lab.actor(hostId(p.server))).filter((s) => OCS_SERVICES.some((d) => d.name === s.name));
      const wanted = p.services ? all.filter((s) => p.services?.some((n) => n.toLowerCase() === s.name.toLowerCase())) : all.filter((s) => s.startupType !== 'Disabled');
      if (wanted.length === 0) return failed(`expected OCS services on ${p.server}, found none installed`);
      const down = wanted.filter((s) => s.state !== 'Running');
      const lines = wanted.map((s) => `${s.name}: ${s.state}`);
      return down.length ? failed(`expected Running, found ${down.map((s) => `${s.name} ${s.state}`).join(', ')}`, lines) : passed(lines);
    },
  }),
];


