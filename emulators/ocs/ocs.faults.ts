/**
 * Faults of the ocs emulator (see docs/emulator-guide.md, "Faults"). Each changes the lab through ordinary
 * commands (a feature removed, a service stopped, the firewall turned off, an account created) or turns
 * the operator's next step into the mistake (the certificate left named for the server). The behaviour
 * the operator then sees lives in the machines (ocs.services.ts `startRefusal`, `frontEndStartedEvents`,
 * ocs.deployment.ts `applyUpdate`, ocs.users.ts enable/move), driven by that state, never by the fault's id.
 */
import type { AnyActorRef } from 'xstate';
import { firstFrontEnd, firstPool, firstUser, hostWithRole, type FaultContext, type FaultDefinition, type FaultOutcome } from '../../sim/faults.js';
import type { Topology } from '../../sim/topology.js';
import { hostId } from '../host/host.events.js';
import { hostFeatures, hostFirewallEnabled, hostRemoveFeatures, hostService, hostSetFirewall, hostStopService } from '../host/host.client.js';
import { adCreateUser, adFindUser, adModify, adPrepState } from '../ad/ad.client.js';
import { ocsApplyUpdate, ocsRequestCertificate, ocsServer, ocsStore, ocsWizardIdle } from './ocs.client.js';
import { IIS_PREREQUISITES, MONITORING_AGENT_SERVICE, MSMQ_FEATURE, FRONT_END_SERVICE, findPool, type ServerRecord } from './ocs.store.js';
import { certificateDefaults } from './ocs.certificates.js';

const lc = (s: unknown) => String(s ?? '').toLowerCase();
const hostRef = (ctx: FaultContext, name: string): AnyActorRef | undefined => ctx.lab.get(hostId(name));
const ocsRef = (ctx: FaultContext): AnyActorRef | undefined => ctx.lab.get('ocs');
const fqdnOf = (t: Topology, host: string) => t.hosts.find((h) => h.name === lc(host))?.fqdn ?? host;
const sameHost = (t: Topology, a: unknown, b: string) => lc(a).split('.')[0] === lc(b).split('.')[0] || lc(a) === fqdnOf(t, b);
const server = (ctx: FaultContext): ServerRecord | undefined => {
  const ref = ocsRef(ctx);
  return ref ? ocsServer(ref, ctx.target) : undefined;
};
const has = (list: string[], id: string) => list.some((f) => lc(f) === lc(id));

/** The operator's next `host.installFeatures` on the target leaves these features out (when it has others to install). */
function dropFromNextInstall(ctx: FaultContext, features: readonly string[]): void {
  ctx.rewriteNext('host.installFeatures', (p) => {
    if (!sameHost(ctx.topology, p.server, ctx.target)) return undefined;
    const list = Array.isArray(p.features) ? (p.features as string[]) : [];
    const kept = list.filter((f) => !has([...features], f));
    if (kept.length === list.length || kept.length === 0) return undefined;
    return { ...p, features: kept };
  });
}

/** Stops a service if it is running or starting; says what it did. */
function stopIfRunning(ref: AnyActorRef | undefined, name: string): boolean {
  const s = ref ? hostService(ref, name) : undefined;
  if (!s || s.state === 'Stopped' || s.state === 'Stop Pending') return false;
  return hostStopService(ref, { name }).ok;
}

/** Message Queuing absent from the front end: removed now if installed, else left out of the operator's next install. */
function withoutMsmq(ctx: FaultContext): string {
  const host = hostRef(ctx, ctx.target);
  if (!host) return `no host ${ctx.target}`;
  if (has(hostFeatures(host), MSMQ_FEATURE)) {
    const r = hostRemoveFeatures(host, { features: [MSMQ_FEATURE] });
    const stopped = stopIfRunning(host, MONITORING_AGENT_SERVICE);
    return r.ok ? `removed ${MSMQ_FEATURE} from ${ctx.target}${stopped ? ` and stopped ${MONITORING_AGENT_SERVICE}` : ''}` : `could not remove ${MSMQ_FEATURE}: ${r.failure.message}`;
  }
  dropFromNextInstall(ctx, [MSMQ_FEATURE]);
  return `${MSMQ_FEATURE} not installed on ${ctx.target}; the next host.installFeatures there leaves it out`;
}

const ORG = { organization: 'Example Corp', organizationalUnit: 'IT', country: 'US', state: 'Washington', city: 'Redmond' };

/**
 * A certificate mistake: the operator's next Certificate Wizard run on the target is rewritten; if a
 * certificate is already assigned, the operator runs the wizard again now and gets it wrong.
 */
function certificateMistake(
  ctx: FaultContext,
  what: string,
  wrong: (p: { subjectName: string; sans: string[] }, srv: ServerRecord | undefined) => { subjectName: string; sans: string[] },
): FaultOutcome {
  const srv = server(ctx);
  const ref = ocsRef(ctx);
  if (srv?.certificate && ref) {
    if (!ocsWizardIdle(ref)) {
      registerCertRewrite(ctx, wrong);
      return { applied: true, note: `a wizard is running on ${ctx.target}; the next Certificate Wizard run there will be ${what}` };
    }
    const w = wrong({ subjectName: srv.certificate.subjectCN, sans: srv.certificate.sans }, srv);
    const r = ocsRequestCertificate(ref, { server: ctx.target, mode: 'online', certificateName: srv.certificate.friendlyName, subjectName: w.subjectName, sans: w.sans, ...ORG, assign: true });
    if (r.ok) return { applied: true, note: `the Certificate Wizard was run again on ${ctx.target}: ${what} (CN=${w.subjectName}, SAN ${w.sans.join(', ') || 'none'}); the Front-End service keeps the old certificate until it restarts` };
    registerCertRewrite(ctx, wrong);
    return { applied: false, note: `re-running the Certificate Wizard failed (${r.failure.message}); the next run on ${ctx.target} will be ${what}` };
  }
  registerCertRewrite(ctx, wrong);
  return { applied: true, note: `the next ocs.requestCertificate on ${ctx.target} will be ${what}` };
}

function registerCertRewrite(ctx: FaultContext, wrong: (p: { subjectName: string; sans: string[] }, srv: ServerRecord | undefined) => { subjectName: string; sans: string[] }): void {
  ctx.rewriteNext('ocs.requestCertificate', (p) => {
    if (!sameHost(ctx.topology, p.server, ctx.target)) return undefined;
    const srv = server(ctx);
    const ref = ocsRef(ctx);
    const defaults = srv && ref ? certificateDefaults(ocsStore(ref), srv) : { subjectName: ctx.topology.pools[0]?.fqdn ?? fqdnOf(ctx.topology, ctx.target), sans: ctx.topology.sipDomains.map((d) => `sip.${d}`) };
    const w = wrong({ subjectName: typeof p.subjectName === 'string' ? p.subjectName : defaults.subjectName, sans: Array.isArray(p.sans) ? (p.sans as string[]) : defaults.sans }, srv);
    return { ...p, subjectName: w.subjectName, sans: w.sans };
  });
}

const poolFqdnOf = (ctx: FaultContext, srv: ServerRecord | undefined): string | undefined => {
  const ref = ocsRef(ctx);
  const pool = srv && ref ? findPool(ocsStore(ref), srv.pool) : undefined;
  return pool?.fqdn ?? ctx.topology.pools.find((p) => p.frontEnds.includes(lc(ctx.target)))?.fqdn;
};

function stopServiceFault(ctx: FaultContext, host: string, service: string, label: string): FaultOutcome {
  const ref = hostRef(ctx, host);
  const s = ref ? hostService(ref, service) : undefined;
  if (!s) return { applied: false, note: `${host} has no ${service} service` };
  if (s.state === 'Stopped' || s.state === 'Stop Pending') return { applied: true, note: `${label} was already stopped on ${host}` };
  const r = hostStopService(ref, { name: service });
  return r.ok ? { applied: true, note: `stopped ${service} on ${host}` } : { applied: false, note: `could not stop ${service} on ${host}: ${r.failure.message}` };
}

export const ocsFaults: FaultDefinition[] = [
  {
    id: 'msmq-not-installed',
    title: 'Message Queuing not installed on the front end',
    category: 'prerequisites',
    target: 'frontEnd',
    defaultTarget: firstFrontEnd,
    where: 'a front end, any time before Start Services (the seed author left MSMQ out of the IIS install)',
    symptoms: [
      'Start Services fails: "The Office Communications Server Monitoring Agent service failed to start"',
      'System/Service Control Manager/7024: The Office Communications Server Monitoring Agent service terminated with service-specific error ...',
      'Office Communications Server/OCS Monitoring Agent/32062: The Monitoring Agent cannot create the administrative message queue ... Message Queuing (MSMQ) is not installed [U: event ID and text unsourced, chosen by the lab]',
      'RtcQmsAgent Stopped; every other OCS service Running. Setting the Monitoring Agent to Disabled hides the failure',
    ],
    fix: 'Install Message Queuing Server (ServerManagerCmd -install MSMQ-Server) on the front end, then Start Services again. Disabling the Monitoring Agent only hides it (and breaks the April 2009 update until KB972041).',
    certainty: 'practitioner',
    note: 'Seed [B] and ocs-facts §3/§8.1: the agent cannot create its administrative queue. Service key RtcQmsAgent and event 32062 (source "OCS Monitoring Agent") are [U] choices; the SCM 7024 form is the standard service-specific-error event.',
    inject: (ctx) => ({ applied: true, note: withoutMsmq(ctx) }),
  },
  {
    id: 'april-2009-update-without-msmq',
    title: 'April 2009 update (KB967831) on a front end without Message Queuing',
    category: 'platform',
    target: 'frontEnd',
    defaultTarget: firstFrontEnd,
    where: 'a front end with OCS installed and MSMQ missing (Microsoft Update pushes KB967831); injected earlier, MSMQ is left out and the update fails when the operator installs it',
    symptoms: [
      'All Office Communications Server services on the front end Stopped after the update; Start Services not attempted by the installer',
      'Application/MsiInstaller/11708: Product: Office Communications Server 2007 R2, Front End Server -- Installation operation failed. [U: event ID and text unsourced, chosen by the lab]',
      "Application/MsiInstaller/1023: ... Update 'Update for Office Communications Server 2007 R2 Front-End Server (KB967831)' could not be installed. Error code 1603.",
      'System/Microsoft-Windows-WindowsUpdateClient/20: Installation Failure: Windows failed to install the following update with error 0x80070643 ... (KB967831)',
      'No event mentions Message Queuing (misleading); only the setup log does',
    ],
    fix: 'Install Message Queuing (MSMQ-Server) and run KB967831 again, then start the services; or apply KB972041 (June 2009), after which the Monitoring Agent may be set to Disabled safely, and start the services.',
    certainty: 'practitioner',
    note: 'ocs-facts §3/§8.2 [B] (fishbrains, Tiensivu): the update fails without MSMQ, does not roll back and leaves the services stopped; KB972041 fixes it. Event IDs 11708/1023/WindowsUpdateClient 20 are the generic MSI/Windows Update failure events, chosen [U]; the Edge side is not modelled.',
    inject: (ctx) => {
      const msmq = withoutMsmq(ctx);
      const srv = server(ctx);
      const ref = ocsRef(ctx);
      if (!srv?.filesInstalled || !ref) return { applied: true, note: `${msmq}; OCS is not installed on ${ctx.target} yet, so KB967831 fails when it is installed` };
      if (srv.updates.includes('KB967831') || srv.updates.includes('KB972041')) return { applied: false, note: `${msmq}; ${ctx.target} already has ${srv.updates.join(', ')}` };
      if (!ocsWizardIdle(ref)) return { applied: true, note: `${msmq}; a wizard is running on ${ctx.target}, so Microsoft Update has not installed KB967831 yet (it fails when installed)` };
      const r = ocsApplyUpdate(ref, { server: ctx.target, update: 'KB967831' });
      return { applied: true, note: `${msmq}; Microsoft Update installed KB967831 on ${ctx.target}: ${r.ok ? 'succeeded' : 'failed, services left stopped'}` };
    },
  },
  {
    id: 'iis-not-installed',
    title: 'IIS prerequisites missing when adding the server to the pool',
    category: 'prerequisites',
    target: 'frontEnd',
    defaultTarget: firstFrontEnd,
    where: 'a front end before Add Server to Pool',
    symptoms: [
      'Add Server to Pool stops: "Prerequisites not satisfied: Web Server (IIS) (Web-Server), Windows Authentication (Web-Windows-Auth), IIS 6 Management Compatibility (Web-Mgmt-Compat) are not installed ... then restart Setup."',
      'ocsfe01 stays notInstalled; no OCS services exist',
    ],
    fix: 'Install IIS 7.0 with Windows Authentication and all IIS 6 Management Compatibility role services (ServerManagerCmd -install Web-Server Web-Windows-Auth Web-Mgmt-Compat ...), then restart Setup (Add Server to Pool).',
    certainty: 'practitioner',
    note: 'Seed Step 1 and ocs-facts §1.0 [B]; the wizard text is modelled on the seed, exact wording [U].',
    inject: (ctx) => {
      if (server(ctx)?.filesInstalled) return { applied: false, note: `OCS is already installed on ${ctx.target}; IIS was present when it was added` };
      const host = hostRef(ctx, ctx.target);
      if (!host) return { applied: false, note: `no host ${ctx.target}` };
      const ids = IIS_PREREQUISITES.map((f) => f.id);
      const present = ids.filter((id) => has(hostFeatures(host), id));
      if (present.length) {
        const r = hostRemoveFeatures(host, { features: present });
        return r.ok ? { applied: true, note: `removed ${present.join(', ')} from ${ctx.target}` } : { applied: false, note: `could not remove IIS: ${r.failure.message}` };
      }
      dropFromNextInstall(ctx, ids);
      return { applied: true, note: `the next host.installFeatures on ${ctx.target} leaves out ${ids.join(', ')}` };
    },
  },
  {
    id: 'certificate-named-for-server',
    title: 'Pool certificate requested with the server name as subject',
    category: 'certificates',
    target: 'frontEnd',
    defaultTarget: firstFrontEnd,
    where: 'a front end at the Certificate Wizard (or after: the wizard is run again with the wrong name)',
    symptoms: [
      'Certificate Wizard succeeds; the certificate subject is CN=<server FQDN> instead of the pool FQDN',
      'Office Communications Server/OCS Protocol Stack/14428 once the Front-End service starts: TLS outgoing connection failures ... 0x80090322 (The target principal name is incorrect.) while trying to connect to the host "<pool FQDN>"',
      'Validate: "Certificate assigned for the pool FQDN: Failure (CN=<server FQDN>)"',
      'Clients connecting to the pool FQDN or sip.<domain> get a certificate name mismatch (Communicator side)',
    ],
    fix: 'Run the Certificate Wizard again with the pool FQDN as the subject name (the certificate name may stay), assign it, and restart the Front-End service.',
    certainty: 'verified',
    note: 'ocs-facts §4 [V] (subject = pool FQDN for a consolidated EE pool) and §8.7 [V] (event 14428, wrong principal). Which internal connection triggers 14428 on a single-FE pool is a modelling choice: the event is written when RtcSrv starts with a certificate not naming the pool.',
    inject: (ctx) =>
      certificateMistake(ctx, 'named for the server instead of the pool', (p, srv) => {
        const poolFqdn = poolFqdnOf(ctx, srv);
        return { subjectName: fqdnOf(ctx.topology, ctx.target), sans: p.sans.filter((s) => lc(s) !== lc(poolFqdn)) };
      }),
  },
  {
    id: 'certificate-sip-san-missing',
    title: 'Pool certificate without sip.<SIP domain> in the subject alternative name',
    category: 'certificates',
    target: 'frontEnd',
    defaultTarget: firstFrontEnd,
    where: 'a front end at the Certificate Wizard (the operator clears the SAN), or after (the wizard is run again without it)',
    symptoms: [
      'ocs.certificateAssigned: the SAN lacks sip.<SIP domain>',
      'Validate: "Certificate SAN covers automatic sign-in: Failure (SAN lacks sip.example.com)"',
      'Communicator using automatic sign-in (SRV to sip.<domain>) gets a certificate name mismatch (Communicator side)',
    ],
    fix: 'Run the Certificate Wizard again with sip.<SIP domain> in the SAN for every SIP domain (let the wizard pre-fill it; Configure Pool must say the pool handles automatic sign-in), assign it and restart the Front-End service.',
    certainty: 'verified',
    note: 'ocs-facts §4 [V]: the SAN gets sip.<domain> when automatic configuration is on; §6 for the client. The server itself logs nothing for this in the lab ([U]: no server event is known).',
    inject: (ctx) => certificateMistake(ctx, 'without sip.<domain> in the SAN', (p) => ({ subjectName: p.subjectName, sans: p.sans.filter((s) => !/^sip\./i.test(s)) })),
  },
  {
    id: 'certificate-wildcard-san',
    title: 'Pool certificate with a wildcard entry in the subject alternative name',
    category: 'certificates',
    target: 'frontEnd',
    defaultTarget: firstFrontEnd,
    where: 'a front end at the Certificate Wizard, or after (the wizard is run again with a wildcard SAN)',
    symptoms: [
      'Start Services fails: the Office Communications Server Front-End service failed to start',
      'System/Service Control Manager/7024: The Office Communications Server Front-End service terminated with service-specific error ...',
      'Office Communications Server/OCS Protocol Stack/14397: The certificate configured ... contains the wildcard entry "*.example.com", which is not supported. The server cannot listen on TLS port 5061. [U: event ID and text unsourced, chosen by the lab]',
    ],
    fix: 'Request a certificate without wildcard entries (subject = pool FQDN, SAN sip.<domain>), assign it, then start the services.',
    certainty: 'practitioner',
    note: 'ocs-facts §4/§8.11 [B] (SearchUnifiedCommunications Q&A): wildcard SAN entries stop OCS services starting. Chosen [U]: RtcSrv refuses to start with SCM 7024 and OCS Protocol Stack event 14397 (the certificate event the lab uses for an unusable certificate); the real event ID and text are not sourced.',
    inject: (ctx) => certificateMistake(ctx, 'with a wildcard SAN entry', (p) => ({ subjectName: p.subjectName, sans: [...p.sans, `*.${ctx.topology.sipDomains[0] ?? ctx.topology.forest.fqdn}`] })),
  },
  {
    id: 'ca-offline-during-request',
    title: 'Certificate Services stopped when the Certificate Wizard sends the request',
    category: 'certificates',
    target: 'host',
    defaultTarget: (t) => t.ca.host,
    where: 'the CA host (CertSvc), before the online certificate request',
    symptoms: [
      'Certificate Wizard: "The request could not be sent to the certification authority dc01.corp.example.net\\corp-DC01-CA: The RPC server is unavailable. 0x800706ba (WIN32: 1722)."',
      'CertSvc Stopped on the CA; the front end has no certificate (phase activated)',
    ],
    fix: 'Start Active Directory Certificate Services on the CA (net start certsvc) and run the Certificate Wizard again.',
    certainty: 'practitioner',
    note: 'The RPC error text is what certreq/the enrollment APIs report for a stopped CA (0x800706ba); the wizard dialog wording around it is [U].',
    inject: (ctx) => stopServiceFault(ctx, ctx.target, 'CertSvc', 'Certificate Services'),
  },
  {
    id: 'sql-backend-down',
    title: 'SQL Server stopped on the pool back end',
    category: 'services',
    target: 'host',
    defaultTarget: hostWithRole('sqlServer'),
    where: 'the back-end SQL host, before Create Pool or Start Services',
    symptoms: [
      'Create Pool: "Cannot connect to the back-end database on sql01.corp.example.net. Verify that SQL Server (MSSQLSERVER) is running ..."',
      'Start Services: the Front-End service fails to start; System/Service Control Manager/7024 for RtcSrv',
      'Office Communications Server/OCS User Services/32174: Server startup is being delayed because the back-end database ... cannot be reached [U: event ID and text unsourced, chosen by the lab]',
      'MSSQLSERVER Stopped on the back end; Validate "Back-end database reachable: Failure"',
    ],
    fix: 'Start SQL Server (MSSQLSERVER) on the back end, then Start Services (or run Create Pool again).',
    certainty: 'unverified',
    note: 'ocs-facts §8 gives no IDs for a back end outage: OCS User Services 32174 and the SCM 7024 refusal are [U] choices. A Front-End already running is not stopped when SQL goes down afterwards (not modelled).',
    inject: (ctx) => stopServiceFault(ctx, ctx.target, 'MSSQLSERVER', 'SQL Server'),
  },
  {
    id: 'firewall-off-during-activation',
    title: 'Windows Firewall off when Add Server to Pool activates the server',
    category: 'platform',
    target: 'frontEnd',
    defaultTarget: firstFrontEnd,
    where: 'a front end before Add Server to Pool',
    symptoms: [
      'Add Server to Pool warns: "Windows Firewall is not running, so the Office Communications Server firewall exceptions were not added ..."',
      'No OCS firewall exceptions (SIP 5061, conferencing ports) on the front end: once the firewall is turned on, clients and the load balancer cannot reach those ports',
    ],
    fix: 'Turn Windows Firewall on and run activation again (Add Server to Pool on the activated server re-runs local activation and adds the exceptions).',
    certainty: 'verified',
    note: 'ocs-facts §1.0/§8.13 [V]. The load balancer emulator probes service state only, not the firewall, so hlb.memberHealth does not show the ports down here; the symptom checked is the missing exceptions.',
    inject: (ctx) => {
      if (server(ctx)?.activated) return { applied: false, note: `${ctx.target} is already activated; its firewall exceptions were decided then` };
      const host = hostRef(ctx, ctx.target);
      if (!host) return { applied: false, note: `no host ${ctx.target}` };
      if (!hostFirewallEnabled(host)) return { applied: true, note: `Windows Firewall was already off on ${ctx.target}` };
      const r = hostSetFirewall(host, { enabled: false });
      return r.ok ? { applied: true, note: `turned Windows Firewall off on ${ctx.target}` } : { applied: false, note: `could not turn the firewall off: ${r.failure.message}` };
    },
  },
  {
    id: 'duplicate-sip-address',
    title: "Another account already holds the user's SIP address",
    category: 'users',
    target: 'user',
    defaultTarget: firstUser,
    where: 'a user before it is enabled for Communications Server (an old account already has its address)',
    symptoms: [
      'Enable Users: "<user>: the SIP URI sip:<address> is already in use by another user or contact."',
      'The user stays not enabled; an old account (<user>-old) carries msRTCSIP-PrimaryUserAddress sip:<address>',
      'If both end up SIP-enabled: IM to the address "could not be reached and this message was not delivered" (Communicator side)',
    ],
    fix: 'Find the other object with that SIP address and remove it from Communications Server (or delete it), then enable the user again.',
    certainty: 'practitioner',
    note: 'ocs-facts §8.19 [B] (user + mail-enabled group sharing an address). The duplicate here is an old SIP-enabled user account, so ADUC\'s "Remove users from Communications Server" fixes it; the enable wizard\'s wording is [U].',
    inject: (ctx) => {
      const user = ctx.topology.users.find((u) => lc(u.sam) === lc(ctx.target));
      if (!user) return { applied: false, note: `no user ${ctx.target}` };
      const address = `sip:${lc(user.mail ?? `${user.sam}@${ctx.topology.sipDomains[0] ?? ctx.topology.forest.fqdn}`)}`;
      const create = (): string => {
        // Looked up each time: a later rewrite may run on a lab restored from a snapshot.
        const ad = ctx.lab.get('ad');
        if (!ad) return 'no directory';
        if (adPrepState(ad).schema !== 'Ready') return 'the schema is not prepared for Communications Server';
        const sam = `${user.sam}-old`.slice(0, 20);
        const existing = adFindUser(ad, sam);
        if (!existing) {
          const r = adCreateUser(ad, { sam, password: `${user.password}-0ld`, displayName: `${user.displayName ?? user.sam} (old)` });
          if (!r.ok) return r.failure.message;
        }
        const dn = adFindUser(ad, sam)?.dn;
        if (!dn) return `${sam} not found after creation`;
        const home = ocsRef(ctx) ? ocsStore(ocsRef(ctx)).pools[0]?.homeServerDn : undefined;
        const m = adModify(ad, {
          dn,
          changes: [
            { operation: 'replace', attribute: 'msRTCSIP-PrimaryUserAddress', values: [address] },
            { operation: 'replace', attribute: 'msRTCSIP-UserEnabled', values: ['TRUE'] },
            ...(home ? [{ operation: 'replace' as const, attribute: 'msRTCSIP-PrimaryHomeServer', values: [home] }] : []),
          ],
        } as Parameters<typeof adModify>[1]);
        return m.ok ? '' : m.failure.message;
      };
      const now = create();
      if (now === '') return { applied: true, note: `${user.sam}-old holds ${address}` };
      // Not possible yet (schema not prepared): the duplicate exists by the time the user is enabled.
      ctx.rewriteNext('ocs.enableUsers', (p) => {
        if (!(Array.isArray(p.users) && (p.users as string[]).some((u) => lc(u) === lc(user.sam)))) return undefined;
        ctx.lab.journal.withCause('fault:duplicate-sip-address', () => create());
        return { ...p };
      });
      return { applied: true, note: `${now}; the duplicate of ${address} appears before ${user.sam} is enabled` };
    },
  },
  {
    id: 'forced-move-source-pool-down',
    title: "Moving users while their pool's back end and front ends are down",
    category: 'users',
    target: 'pool',
    defaultTarget: firstPool,
    where: 'the source pool of a move (two pools), before Move Users',
    symptoms: [
      'Move Users (not forced): "<user>: the source pool pool01 is not available. Both pools must be running to move a user ..."',
      'Forced move succeeds: the account is rehomed on the destination pool, but its server-stored contacts are not carried (contact list empty)',
      'MSSQLSERVER on the source back end and the Front-End service on its front ends Stopped',
    ],
    fix: 'Bring the source pool back (start SQL Server and the OCS services) and do a normal move; force the move only when the source pool is lost, and expect users to rebuild their contact lists (export them with DBImpExp beforehand).',
    certainty: 'lync-era',
    note: 'ocs-facts §7: both pools up for a normal move [V]; forced move loses server-stored data [V for Lync, L for OCS; seed B]. The wizard wording is [U].',
    inject: (ctx) => {
      const spec = ctx.topology.pools.find((p) => lc(p.name) === lc(ctx.target));
      if (!spec) return { applied: false, note: `no pool ${ctx.target}` };
      const done: string[] = [];
      for (const fe of spec.frontEnds) if (stopIfRunning(hostRef(ctx, fe), FRONT_END_SERVICE)) done.push(`${FRONT_END_SERVICE} on ${fe}`);
      if (stopIfRunning(hostRef(ctx, spec.backEnd), 'MSSQLSERVER')) done.push(`MSSQLSERVER on ${spec.backEnd}`);
      return { applied: true, note: done.length ? `stopped ${done.join(', ')}` : `pool ${spec.name} was already down` };
    },
  },
];
