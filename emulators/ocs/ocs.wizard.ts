/**
 * The Deployment Wizard, the Certificate Wizard, the ADUC OCS pages and the User Replicator, as functions
 * of (store, neighbours, arguments) -> (new store, what to emit, the wizard's answer). The machine calls
 * them from its actions; they never throw for a domain failure.
 */
import { attributeValues } from '../ad/ad.store.js';
import type { LabEnv } from '../../sim/emulator.js';
import type { EventLogWrite } from '../../sim/journal.js';
import { fail, ok, type Result } from '../../sim/result.js';
import type { Topology } from '../../sim/topology.js';
import type { FirewallRule, StartRefusal } from '../host/host.events.js';
import type {
  AddServerArgs,
  ConfigurePoolArgs,
  CreatePoolArgs,
  EnableUsersArgs,
  MoveUsersArgs,
  OcsEvent,
  OcsFailure,
  OcsFailureKind,
  OcsUpdate,
  RequestCertificateArgs,
} from './ocs.events.js';
import type { AttributeChange, DirectoryEntry, OcsPeers } from './ocs.ports.js';
import {
  DEFAULT_INSTALL_PATH,
  FRONT_END_SERVICE,
  IIS_PREREQUISITES,
  MONITORING_AGENT_SERVICE,
  MSMQ_FEATURE,
  OCS_SERVICES,
  SERVICE_ACCOUNTS,
  findPool,
  findServer,
  logWizard,
  replicationOwner,
  serviceSpec,
  sipUri,
  withPool,
  withServer,
  withUser,
  withUsers,
  homedUserBySam,
  type HomedUser,
  type CertificateRecord,
  type OcsStore,
  type PoolRecord,
  type ServerRecord,
} from './ocs.store.js';

export interface WizardContext {
  store: OcsStore;
  topology: Topology;
  env: LabEnv;
  peers: OcsPeers;
}

export type Emitted = OcsEvent | EventLogWrite;

export interface WizardOutcome<T> {
  store: OcsStore;
  emitted: Emitted[];
  result: Result<T>;
  /** Simulated time the wizard runs before its Finish page (the machine's `wizard.running` state). */
  durationMs: number;
}

const failure = (kind: OcsFailureKind, message: string, details: Record<string, unknown> = {}): OcsFailure => ({ kind, message, ...details });

function refused<T>(ctx: WizardContext, kind: OcsFailureKind, message: string, emitted: Emitted[] = [], details: Record<string, unknown> = {}): WizardOutcome<T> {
  return { store: logWizard(ctx.store, [`[Failure] ${message}`]), emitted, result: fail(failure(kind, message, details)), durationMs: 0 };
}

const shortHost = (name: string) => name.toLowerCase().split('.')[0] ?? name.toLowerCase();
const ev = (type: OcsEvent['type'], summary: string, extra: Record<string, unknown> = {}): OcsEvent => ({ type, summary, ...extra });

function prepProblem(peers: OcsPeers): string | undefined {
  const prep = peers.ad.prepState();
  if (prep.schema !== 'Ready') return 'The Active Directory schema has not been prepared (CheckSchemaPrepState: Not Ready). Run Prepare Schema, Prepare Forest and Prepare Domain first.';
  if (prep.forest !== 'Ready') return 'The forest has not been prepared (CheckForestPrepState: Not Ready). Run Prepare Forest and wait for replication.';
  if (prep.domain !== 'Ready') return 'The domain has not been prepared (CheckDomainPrepState: Not Ready). Run Prepare Domain in this domain.';
  return undefined;
}

/** Adds an object, creating missing plain containers above it under `stopAt` first. */
function addWithParents(peers: OcsPeers, dn: string, attributes: Record<string, string[]>, stopAt: string): Result<unknown> {
  const first = peers.ad.add(dn, attributes);
  if (first.ok || !/noSuchObject/i.test(first.failure.kind)) return first;
  const parent = dn.slice(dn.indexOf(',') + 1);
  if (parent.toLowerCase() === stopAt.toLowerCase() || !parent.includes(',')) return first;
  const cn = parent.slice(3, parent.indexOf(','));
  const made = addWithParents(peers, parent, { objectClass: ['top', 'container'], cn: [cn] }, stopAt);
  if (!made.ok) return made;
  return peers.ad.add(dn, attributes);
}

function upsert(peers: OcsPeers, dn: string, attributes: Record<string, string[]>, stopAt: string): Result<unknown> {
  const r = addWithParents(peers, dn, attributes, stopAt);
  if (r.ok || !/exists/i.test(r.failure.kind)) return r;
  const changes = Object.entries(attributes)
    .filter(([a]) => a !== 'objectClass' && a !== 'cn')
    .map(([attribute, values]) => ({ operation: 'replace' as const, attribute, values }));
  return peers.ad.modify(dn, changes);
}

// ---------------------------------------------------------------------------------------------------
// Create Enterprise Pool (LCSCmd /Forest /Action:CreatePool)

export function createPool(ctx: WizardContext, args: CreatePoolArgs): WizardOutcome<{ pool: string; fqdn: string; warnings: string[] }> {
  const { peers, topology } = ctx;
  const problem = prepProblem(peers);
  if (problem) return refused(ctx, 'ocs.prepNotReady', problem);
  if (findPool(ctx.store, args.pool)) return refused(ctx, 'ocs.poolExists', `A pool named ${args.pool} already exists in the forest.`);
  const spec = topology.pools.find((p) => p.name.toLowerCase() === args.pool.toLowerCase());
  const fqdn = (spec?.fqdn ?? `${args.pool}.${topology.forest.fqdn}`).toLowerCase();
  const colliding = topology.hosts.find((h) => h.fqdn === fqdn);
  if (colliding) return refused(ctx, 'ocs.nameCollision', `The pool FQDN ${fqdn} is already used by the computer ${colliding.fqdn}. A pool needs an FQDN of its own, even with a single front end.`);
  const backEnd = shortHost(args.backEnd ?? spec?.backEnd ?? '');
  const backEndHost = topology.hosts.find((h) => h.name === backEnd);
  if (!backEndHost || !peers.sql.exists(backEnd)) return refused(ctx, 'ocs.backEndUnavailable', `The back-end server "${args.backEnd ?? backEnd}" is not a SQL Server in this forest.`);
  if (!peers.sql.online(backEnd)) {
    return refused(ctx, 'ocs.backEndUnavailable', `Cannot connect to the back-end database on ${backEndHost.fqdn}. Verify that SQL Server (MSSQLSERVER) is running and that this computer can reach it, then run Create Pool again.`);
  }
  const dbs = peers.sql.createPoolDatabases(backEnd, args.pool);
  if (!dbs.ok) return refused(ctx, 'ocs.backEndUnavailable', `Creating the pool databases on ${backEndHost.fqdn} failed: ${dbs.failure.message}`);

  const rtc = peers.ad.rtcServiceDn();
  const dn = `CN=${args.pool},CN=Pools,${rtc}`;
  const homeServerDn = `CN=LC Services,CN=Microsoft,${dn}`;
  const poolObj = upsert(
    peers,
    dn,
    { objectClass: ['top', 'msRTCSIP-Pool'], cn: [args.pool], dnsHostName: [fqdn], 'msRTCSIP-PoolDisplayName': [args.pool], 'msRTCSIP-BackEndServer': [`${backEndHost.fqdn}`] },
    rtc,
  );
  if (!poolObj.ok) return refused(ctx, 'ocs.directoryError', `Creating ${dn} failed: ${poolObj.failure.message}`);
  const scp = upsert(peers, homeServerDn, { objectClass: ['top', 'msRTCSIP-PoolService'], cn: ['LC Services'] }, dn);
  if (!scp.ok) return refused(ctx, 'ocs.directoryError', `Creating ${homeServerDn} failed: ${scp.failure.message}`);

  const pool: PoolRecord = {
    name: args.pool,
    fqdn,
    dn,
    homeServerDn,
    backEnd,
    backEndFqdn: backEndHost.fqdn,
    configured: false,
    sipDomains: [...topology.sipDomains],
    defaultSipDomain: topology.sipDomains[0] ?? topology.forest.fqdn,
    automaticSignIn: false,
    internalWebFarmFqdn: fqdn,
    frontEnds: [],
  };
  const warnings: string[] = [];
  const emitted: Emitted[] = [ev('ocs.poolCreated', `Created Enterprise pool ${args.pool} (${fqdn}) with back end ${backEndHost.fqdn}: RTC, RTCConfig, RTCDyn, RTCab`, { pool: args.pool, fqdn, dn })];
  if (peers.dns.resolveA(fqdn).length === 0) {
    const w = `The pool FQDN ${fqdn} could not be resolved in DNS. Create a DNS A record for ${fqdn} that points to the load balancer's virtual IP address.`;
    warnings.push(w);
    emitted.push(ev('ocs.wizardWarning', `Create Pool warning: ${w}`, { wizard: 'CreatePool', pool: args.pool }));
  }
  const store = logWizard(withPool(ctx.store, pool), [
    `[Success] CreatePool ${args.pool}: databases created on ${backEndHost.fqdn}`,
    `[Success] Created ${dn}`,
    `[Success] Created ${homeServerDn}`,
    ...warnings.map((w) => `[Warning] ${w}`),
  ]);
  return { store, emitted, result: ok({ pool: args.pool, fqdn, warnings }), durationMs: 90_000 };
}

// ---------------------------------------------------------------------------------------------------
// Configure Pool

export function configurePool(ctx: WizardContext, args: ConfigurePoolArgs): WizardOutcome<PoolRecord> {
  const pool = findPool(ctx.store, args.pool);
  if (!pool) return refused(ctx, 'ocs.noSuchPool', `The pool ${args.pool} was not found in Active Directory. Create the pool first.`);
  const sipDomains = args.sipDomains?.length ? args.sipDomains.map((d) => d.toLowerCase()) : pool.sipDomains;
  const defaultSipDomain = (args.defaultSipDomain ?? sipDomains[0] ?? pool.defaultSipDomain).toLowerCase();
  const next: PoolRecord = {
    ...pool,
    configured: true,
    sipDomains,
    defaultSipDomain,
    automaticSignIn: args.automaticSignIn ?? true,
    internalWebFarmFqdn: (args.internalWebFarmFqdn ?? pool.internalWebFarmFqdn).toLowerCase(),
    ...(args.externalWebFarmFqdn ? { externalWebFarmFqdn: args.externalWebFarmFqdn.toLowerCase() } : {}),
  };
  const store = logWizard(withPool(ctx.store, next), [
    `[Success] Configure Pool ${pool.name}: SIP domains ${sipDomains.join(', ')} (default ${defaultSipDomain}); automatic sign-in ${next.automaticSignIn ? 'handled by this pool' : 'not handled by this pool'}`,
  ]);
  return {
    store,
    emitted: [ev('ocs.poolConfigured', `Configured pool ${pool.name}: SIP domains ${sipDomains.join(', ')}, automatic sign-in ${next.automaticSignIn ? 'on' : 'off'}`, { pool: pool.name })],
    result: ok(next),
    durationMs: 30_000,
  };
}

// ---------------------------------------------------------------------------------------------------
// Add Server to Pool (install files and roles, then Activate)

/** The OCS firewall exceptions activation adds (ocs-facts §5 front-end ports). */
export const FIREWALL_RULES: readonly FirewallRule[] = [
  { name: 'Office Communications Server SIP (TCP)', protocol: 'TCP', port: 5060 },
  { name: 'Office Communications Server SIP (TLS)', protocol: 'TCP', port: 5061 },
  { name: 'Office Communications Server Focus', protocol: 'TCP', port: 444 },
  { name: 'Office Communications Server IM Conferencing', protocol: 'TCP', port: 5062 },
  { name: 'Office Communications Server A/V Conferencing', protocol: 'TCP', port: 5063 },
  { name: 'Office Communications Server Telephony Conferencing', protocol: 'TCP', port: 5064 },
  { name: 'Office Communications Server Application Sharing', protocol: 'TCP', port: 5065 },
  { name: 'Office Communications Server QoE Agent', protocol: 'TCP', port: 5069 },
  { name: 'Office Communications Server Response Group', protocol: 'TCP', port: 5071 },
  { name: 'Office Communications Server Conferencing Attendant', protocol: 'TCP', port: 5072 },
  { name: 'Office Communications Server Conferencing Announcement', protocol: 'TCP', port: 5073 },
  { name: 'Office Communications Server Outside Voice Control', protocol: 'TCP', port: 5074 },
  { name: 'Office Communications Server Web Conferencing (PSOM)', protocol: 'TCP', port: 8057 },
];

export function addServerToPool(ctx: WizardContext, args: AddServerArgs): WizardOutcome<{ server: string; pool: string; warnings: string[]; setupLog: string[] }> {
  const { peers, topology } = ctx;
  const hostSpec = topology.hosts.find((h) => h.name === shortHost(args.server) || h.fqdn === args.server.toLowerCase());
  if (!hostSpec || !peers.host.exists(hostSpec.name)) return refused(ctx, 'ocs.noSuchServer', `The computer ${args.server} is not in this forest.`);
  const host = hostSpec.name;
  const features = peers.host.features(host);
  const missing = IIS_PREREQUISITES.filter((f) => !features.includes(f.id));
  if (missing.length) {
    return refused(
      ctx,
      'ocs.prerequisiteMissing',
      `Prerequisites not satisfied: ${missing.map((m) => `${m.displayName} (${m.id})`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} not installed on ${hostSpec.fqdn}. Install IIS 7.0 with Windows Authentication and all IIS 6 Management Compatibility role services, then restart Setup.`,
      [],
      { missing: missing.map((m) => m.id) },
    );
  }
  const problem = prepProblem(peers);
  if (problem) return refused(ctx, 'ocs.prepNotReady', problem);
  const pool = findPool(ctx.store, args.pool);
  if (!pool) {
    return refused(ctx, 'ocs.noSuchPool', `No Enterprise pool named ${args.pool} was found in Active Directory. Run Create Enterprise Pool before adding a server to the pool.`);
  }
  const already = findServer(ctx.store, host);
  if (already?.activated && already.pool.toLowerCase() === pool.name.toLowerCase()) return reactivate(ctx, already, hostSpec.fqdn);
  const installPath = args.installPath ?? DEFAULT_INSTALL_PATH;
  const netbios = topology.forest.netbios;
  const log: string[] = [`Installing Office Communications Server 2007 R2 Enterprise Edition (consolidated) to ${installPath}`];
  const warnings: string[] = [];
  const emitted: Emitted[] = [];

  // Service accounts: created, or their passwords reset, and added to their universal groups (ocs-facts §2).
  const domainDn = peers.ad.domainDn();
  const groups = peers.ad.search(domainDn, 'sub', '(objectClass=group)');
  for (const acct of SERVICE_ACCOUNTS) {
    const password = args.passwords[acct.sam];
    const existing = peers.ad.findUser(acct.sam);
    const r = existing ? peers.ad.setPassword(acct.sam, password) : peers.ad.createUser({ sam: acct.sam, displayName: acct.displayName, password, passwordNeverExpires: false });
    if (!r.ok) return refused(ctx, 'ocs.directoryError', `Setting up the service account ${netbios}\\${acct.sam} failed: ${r.failure.message}`);
    log.push(`[Success] ${existing ? 'Reset the password of' : 'Created'} service account ${netbios}\\${acct.sam}`);
    const user = peers.ad.findUser(acct.sam);
    const group = groups.ok ? groups.value.find((g) => (g.attributes.cn?.[0] ?? g.dn.slice(3, g.dn.indexOf(','))).toLowerCase() === acct.group.toLowerCase()) : undefined;
    if (user && group && !(group.attributes.member ?? []).some((m) => m.toLowerCase() === user.dn.toLowerCase())) {
      const m = peers.ad.modify(group.dn, [{ operation: 'add', attribute: 'member', values: [user.dn] }]);
      if (!m.ok) return refused(ctx, 'ocs.directoryError', `Adding ${acct.sam} to ${acct.group} failed: ${m.failure.message}`);
      log.push(`[Success] Added ${acct.sam} to ${acct.group}`);
    } else if (!group) {
      warnings.push(`The group ${acct.group} was not found; ${acct.sam} was not added to it.`);
    }
  }

  // Files, roles and the Windows services.
  for (const def of OCS_SERVICES) {
    const r = peers.host.installService(host, serviceSpec(def, netbios), args.passwords[def.account]);
    if (!r.ok) return refused(ctx, 'ocs.prerequisiteMissing', `Installing the ${def.displayName} service failed: ${r.failure.message}`);
    log.push(`[Success] Installed ${def.displayName} (${def.name}), log on as ${netbios}\\${def.account}`);
  }
  if (peers.iis.exists(host)) {
    const w = peers.iis.installOcsWebComponents(host, {
      pool: pool.name,
      poolFqdn: pool.fqdn,
      internalWebFqdn: pool.internalWebFarmFqdn,
      appPoolIdentity: `${netbios}\\RTCComponentService`,
      disableKernelMode: true,
    });
    if (!w.ok) return refused(ctx, 'ocs.prerequisiteMissing', `Installing Web Components failed: ${w.failure.message}`);
    log.push('[Success] Installed Web Components Server; disabled IIS kernel-mode authentication on the Default Web Site');
  }

  // Activation: AD settings for the server, the server joins the pool (ocs-facts §1.7).
  const rtc = peers.ad.rtcServiceDn();
  const guid = `{${ctx.env.ids.guid().toUpperCase()}}`;
  const trusted = upsert(
    peers,
    `CN=${guid},CN=Trusted Services,${rtc}`,
    { objectClass: ['top', 'msRTCSIP-TrustedService'], cn: [guid], 'msRTCSIP-TrustedServerFQDN': [hostSpec.fqdn], 'msRTCSIP-TrustedServiceType': ['Registrar'], 'msRTCSIP-TrustedServicePort': ['5061'] },
    rtc,
  );
  if (!trusted.ok) return refused(ctx, 'ocs.directoryError', `Activation failed: ${trusted.failure.message}`);
  const server: ServerRecord = {
    ...(findServer(ctx.store, host) ?? { certificate: undefined, updates: [], services: {}, replicatedDomains: [] }),
    fqdn: hostSpec.fqdn,
    host,
    pool: pool.name,
    installPath,
    filesInstalled: true,
    activated: true,
    firewallExceptions: 'added',
    setupLog: [],
  } as ServerRecord;
  if (!server.certificate) delete server.certificate;
  const fe = upsert(
    peers,
    `CN=${hostSpec.fqdn},${pool.dn}`,
    { objectClass: ['top', 'msRTCSIP-TrustedServer'], cn: [hostSpec.fqdn], 'msRTCSIP-TrustedServerFQDN': [hostSpec.fqdn], 'msRTCSIP-TrustedServerVersion': ['3'] },
    pool.dn,
  );
  if (!fe.ok) return refused(ctx, 'ocs.directoryError', `Activation failed: ${fe.failure.message}`);
  log.push(`[Success] Activated ${hostSpec.fqdn} in pool ${pool.name} (${pool.fqdn})`);

  if (peers.host.firewallEnabled(host)) {
    const fw = peers.host.addFirewallRules(host, [...FIREWALL_RULES]);
    if (fw.ok) log.push(`[Success] Added Windows Firewall exceptions for Office Communications Server`);
  } else {
    server.firewallExceptions = 'skippedFirewallOff';
    const w = 'Windows Firewall is not running, so the Office Communications Server firewall exceptions were not added. Start Windows Firewall and run activation again before starting the services.';
    warnings.push(w);
    log.push(`[Warning] ${w}`);
    emitted.push(ev('ocs.wizardWarning', `Activation warning on ${host}: ${w}`, { wizard: 'AddServerToPool', server: host }));
  }
  for (const w of warnings.filter((x) => !x.startsWith('Windows Firewall'))) {
    log.push(`[Warning] ${w}`);
    emitted.push(ev('ocs.wizardWarning', `Add Server to Pool warning on ${host}: ${w}`, { wizard: 'AddServerToPool', server: host }));
  }
  server.setupLog = log;
  const nextPool: PoolRecord = { ...pool, frontEnds: pool.frontEnds.includes(hostSpec.fqdn) ? pool.frontEnds : [...pool.frontEnds, hostSpec.fqdn] };
  emitted.unshift(ev('ocs.serverActivated', `Installed and activated ${hostSpec.fqdn} in pool ${pool.name}`, { server: host, pool: pool.name }));
  const store = logWizard(withPool(withServer(ctx.store, server), nextPool), log);
  return { store, emitted, result: ok({ server: host, pool: pool.name, warnings, setupLog: log }), durationMs: 240_000 };
}

/**
 * Add Server to Pool on a server already activated in that pool: the files are there, so Setup only runs
 * local activation again, which adds the firewall exceptions if the firewall is now on (ocs-facts §8.13).
 */
function reactivate(ctx: WizardContext, server: ServerRecord, fqdn: string): WizardOutcome<{ server: string; pool: string; warnings: string[]; setupLog: string[] }> {
  const { peers } = ctx;
  const log: string[] = [`Office Communications Server 2007 R2 is already installed on ${fqdn}; running local activation again`];
  const warnings: string[] = [];
  const emitted: Emitted[] = [];
  let next: ServerRecord = server;
  if (peers.host.firewallEnabled(server.host)) {
    const fw = peers.host.addFirewallRules(server.host, [...FIREWALL_RULES]);
    if (fw.ok) {
      log.push('[Success] Added Windows Firewall exceptions for Office Communications Server');
      next = { ...server, firewallExceptions: 'added' };
      emitted.push(ev('ocs.serverActivated', `Activated ${fqdn} again: Windows Firewall exceptions for Office Communications Server added`, { server: server.host, pool: server.pool }));
    }
  } else {
    const w = 'Windows Firewall is not running, so the Office Communications Server firewall exceptions were not added. Start Windows Firewall and run activation again before starting the services.';
    warnings.push(w);
    log.push(`[Warning] ${w}`);
    emitted.push(ev('ocs.wizardWarning', `Activation warning on ${server.host}: ${w}`, { wizard: 'AddServerToPool', server: server.host }));
  }
  log.push(`[Success] Activated ${fqdn} in pool ${server.pool}`);
  const store = logWizard(withServer(ctx.store, { ...next, setupLog: log }), log);
  return { store, emitted, result: ok({ server: server.host, pool: server.pool, warnings, setupLog: log }), durationMs: 60_000 };
}

// ---------------------------------------------------------------------------------------------------
// Certificate Wizard

export interface CertificateWizardResult {
  status: 'assigned' | 'issued' | 'pending' | 'saved';
  friendlyName: string;
  subjectName: string;
  sans: string[];
  ca?: string;
  thumbprint?: string;
  csrPem?: string;
}

/** What the wizard pre-fills for a server: certificate name = server FQDN, subject = pool FQDN, SANs sip.<domain>. */
export function certificateDefaults(store: OcsStore, server: ServerRecord): { friendlyName: string; subjectName: string; sans: string[] } {
  const pool = findPool(store, server.pool);
  const subjectName = pool?.fqdn ?? server.fqdn;
  // With automatic sign-in the wizard adds sip.<domain> for every SIP domain, and a certificate with a SAN
  // must name the subject in it too: TLS clients that find a SAN ignore the CN (RFC 6125; the same rule
  // Microsoft documents for Lync; that the R2 wizard pre-fills the subject there is [U]).
  return {
    friendlyName: server.fqdn,
    subjectName,
    sans: pool?.automaticSignIn ? [subjectName, ...pool.sipDomains.map((d) => `sip.${d}`)] : [],
  };
}

function assignCert(ctx: WizardContext, server: ServerRecord, cert: CertificateRecord): { store: OcsStore; emitted: Emitted[] } {
  const next: ServerRecord = { ...server, certificate: cert };
  delete next.pendingRequest;
  return {
    store: logWizard(withServer(ctx.store, next), [`[Success] Assigned certificate ${cert.thumbprint} (CN=${cert.subjectCN}) to ${server.fqdn}`]),
    emitted: [ev('ocs.certificateAssigned', `Assigned certificate "${cert.friendlyName}" CN=${cert.subjectCN}${cert.sans.length ? ` SAN ${cert.sans.join(', ')}` : ''} to ${server.fqdn}`, { server: server.host, thumbprint: cert.thumbprint })],
  };
}

function installIssued(ctx: WizardContext, server: ServerRecord, certPem: string, keyId: string, friendlyName: string, assign: boolean): WizardOutcome<CertificateWizardResult> {
  const imported = ctx.peers.host.importCertificate(server.host, { certPem, keyId, friendlyName });
  if (!imported.ok) return refused(ctx, 'ocs.caUnavailable', `Importing the certificate into the local computer's Personal store failed: ${imported.failure.message}`);
  const d = ctx.peers.ca.describe(certPem);
  const cert: CertificateRecord = { thumbprint: imported.value.thumbprint, subjectCN: d.subjectCN, sans: d.sans, friendlyName };
  const base = { friendlyName, subjectName: d.subjectCN, sans: d.sans, thumbprint: cert.thumbprint };
  if (!assign) {
    const s = withServer(ctx.store, { ...server, pendingRequest: undefined } as ServerRecord);
    const cleaned = findServer(s, server.host);
    if (cleaned) delete cleaned.pendingRequest;
    return { store: logWizard(s, [`[Success] Certificate ${cert.thumbprint} installed in LocalMachine\\My (not assigned)`]), emitted: [], result: ok({ status: 'issued', ...base }), durationMs: 20_000 };
  }
  const a = assignCert(ctx, server, cert);
  return { store: a.store, emitted: a.emitted, result: ok({ status: 'assigned', ...base }), durationMs: 20_000 };
}

export function requestCertificate(ctx: WizardContext, args: RequestCertificateArgs): WizardOutcome<CertificateWizardResult> {
  const server = findServer(ctx.store, args.server);
  if (!server || !server.filesInstalled) return refused(ctx, 'ocs.noSuchServer', `Office Communications Server is not installed on ${args.server}. Run Add Server to Pool first.`);
  const defaults = certificateDefaults(ctx.store, server);
  const friendlyName = args.certificateName ?? defaults.friendlyName;
  const subjectName = (args.subjectName ?? defaults.subjectName).toLowerCase();
  const sans = (args.sans ?? defaults.sans).map((s) => s.toLowerCase());
  const assign = args.assign ?? true;
  const subject = { CN: subjectName, O: args.organization, OU: args.organizationalUnit, L: args.city, ST: args.state, C: args.country };
  const requested = ev('ocs.certificateRequested', `Certificate Wizard on ${server.host}: "${friendlyName}" CN=${subjectName}${sans.length ? ` SAN ${sans.join(', ')}` : ''} (${args.mode === 'online' ? 'sent to an online CA' : 'request saved to send later'})`, { server: server.host });

  if (args.mode === 'online') {
    const ca = ctx.peers.ca.info();
    if (!ca || !ca.online) {
      if (!ca) return refused(ctx, 'ocs.caUnavailable', 'No enterprise certification authority was found in Active Directory. Prepare the request now and send it later to a certification authority.');
      return refused(ctx, 'ocs.caUnavailable', `The request could not be sent to the certification authority ${ca.configString}: The RPC server is unavailable. 0x800706ba (WIN32: 1722). Verify that Certificate Services is running on the certification authority, or prepare the request now and send it later.`);
    }
    if (args.ca && args.ca.toLowerCase() !== ca.configString.toLowerCase()) {
      return refused(ctx, 'ocs.caUnavailable', `The certification authority ${args.ca} was not found. Available: ${ca.configString}`);
    }
    const csr = ctx.peers.ca.buildCsr(subject, sans, args.exportable ?? false);
    const submitted = ctx.peers.ca.submit(csr.csrPem, `${ctx.topology.forest.netbios}\\${server.host.toUpperCase()}$`);
    if (!submitted.ok) return refused(ctx, 'ocs.caUnavailable', `The request could not be submitted to ${ca.configString}: ${submitted.failure.message}`);
    if (submitted.value.status === 'pending') {
      const pending = { mode: 'online' as const, csrPem: csr.csrPem, keyId: csr.keyId, friendlyName, subjectCN: subjectName, sans, caRequestId: submitted.value.requestId, assign };
      const store = logWizard(withServer(ctx.store, { ...server, pendingRequest: pending }), [`[Warning] The certificate request ${submitted.value.requestId} is pending at ${ca.configString}; no certificate was assigned.`]);
      return {
        store,
        emitted: [requested, ev('ocs.wizardWarning', `Certificate request ${submitted.value.requestId} is pending at ${ca.configString}; nothing assigned`, { wizard: 'Certificate', server: server.host })],
        result: ok({ status: 'pending', friendlyName, subjectName, sans, ca: ca.configString }),
        durationMs: 20_000,
      };
    }
    const done = installIssued(ctx, server, submitted.value.certPem, csr.keyId, friendlyName, assign);
    return { ...done, emitted: [requested, ...done.emitted], result: done.result.ok ? ok({ ...done.result.value, ca: ca.configString }) : done.result };
  }

  const csr = ctx.peers.ca.buildCsr(subject, sans, args.exportable ?? false);
  const pending = { mode: 'offline' as const, csrPem: csr.csrPem, keyId: csr.keyId, friendlyName, subjectCN: subjectName, sans, assign };
  const store = logWizard(withServer(ctx.store, { ...server, pendingRequest: pending }), [`[Success] Certificate request for CN=${subjectName} saved to C:\\certreq.txt`]);
  return { store, emitted: [requested], result: ok({ status: 'saved', friendlyName, subjectName, sans, csrPem: csr.csrPem }), durationMs: 15_000 };
}

/** "Process the pending request": retrieve (online, pending) or submit (offline) the saved request, import and assign. */
export function completePendingCertificate(ctx: WizardContext, args: { server: string; assign?: boolean }): WizardOutcome<CertificateWizardResult> {
  const server = findServer(ctx.store, args.server);
  const pending = server?.pendingRequest;
  if (!server || !pending) return refused(ctx, 'ocs.noPendingRequest', `There is no pending certificate request on ${args.server}.`);
  const ca = ctx.peers.ca.info();
  if (!ca || !ca.online) return refused(ctx, 'ocs.caUnavailable', `The certification authority ${ca?.configString ?? ''} could not be contacted: The RPC server is unavailable. 0x800706ba (WIN32: 1722).`.replace('  ', ' '));
  const r = pending.caRequestId !== undefined ? ctx.peers.ca.retrieve(pending.caRequestId) : ctx.peers.ca.submit(pending.csrPem, `${ctx.topology.forest.netbios}\\${server.host.toUpperCase()}$`);
  if (!r.ok) return refused(ctx, 'ocs.caUnavailable', r.failure.message);
  if (r.value.status === 'pending') {
    const store = withServer(ctx.store, { ...server, pendingRequest: { ...pending, caRequestId: r.value.requestId } });
    return { store, emitted: [], result: ok({ status: 'pending', friendlyName: pending.friendlyName, subjectName: pending.subjectCN, sans: pending.sans, ca: ca.configString }), durationMs: 10_000 };
  }
  return installIssued(ctx, server, r.value.certPem, pending.keyId, pending.friendlyName, args.assign ?? pending.assign);
}

/** Certificate Wizard "Assign an existing certificate". */
export function assignExistingCertificate(ctx: WizardContext, args: { server: string; thumbprint: string }): WizardOutcome<CertificateRecord> {
  const server = findServer(ctx.store, args.server);
  if (!server || !server.filesInstalled) return refused(ctx, 'ocs.noSuchServer', `Office Communications Server is not installed on ${args.server}.`);
  const c = ctx.peers.host.certificates(server.host).find((x) => x.thumbprint.toLowerCase() === args.thumbprint.toLowerCase());
  if (!c) return refused(ctx, 'ocs.noSuchServer', `No certificate with thumbprint ${args.thumbprint} is in the local computer's Personal store on ${server.host}.`);
  const cert: CertificateRecord = { thumbprint: c.thumbprint, subjectCN: c.subjectCN, sans: c.sans, friendlyName: c.friendlyName };
  const a = assignCert(ctx, server, cert);
  return { ...a, result: ok(cert), durationMs: 5_000 };
}

// ---------------------------------------------------------------------------------------------------
// ADUC: Enable users for Communications Server

export interface UserOutcome {
  user: string;
  ok: boolean;
  sipAddress?: string;
  message: string;
}

const attr = (e: DirectoryEntry, name: string): string | undefined => attributeValues(e.attributes, name)?.[0];

function sipEnabledEntries(peers: OcsPeers): DirectoryEntry[] {
  const r = peers.ad.search(peers.ad.domainDn(), 'sub', '(objectClass=user)');
  return r.ok ? r.value.filter((e) => attr(e, 'msRTCSIP-PrimaryUserAddress')) : [];
}

export function enableUsers(ctx: WizardContext, args: EnableUsersArgs): WizardOutcome<{ users: UserOutcome[] }> {
  const pool = findPool(ctx.store, args.pool);
  if (!pool) return refused(ctx, 'ocs.noSuchPool', `The pool ${args.pool} was not found. Select a server or pool that exists.`);
  const sipDomain = (args.sipDomain ?? pool.sipDomains[0] ?? ctx.topology.sipDomains[0] ?? '').toLowerCase();
  const taken = new Map<string, string>();
  for (const e of sipEnabledEntries(ctx.peers)) taken.set((attr(e, 'msRTCSIP-PrimaryUserAddress') ?? '').toLowerCase(), e.dn.toLowerCase());
  const outcomes: UserOutcome[] = [];
  const emitted: Emitted[] = [];
  // The users' modifies go to AD together (one request), in order; a user whose address or entry is
  // still waiting in the batch sends the batch first, so each user sees what the ones before it did.
  const pending: Array<{ slot: number; sam: string; uri: string; dn: string; changes: AttributeChange[] }> = [];
  /** What waits in the batch: account names and DNs lower-cased, SIP URIs as built. */
  const waitingNames = new Set<string>();
  const flush = () => {
    if (!pending.length) return;
    const r = ctx.peers.ad.modifyMany(pending.map((p) => ({ dn: p.dn, changes: p.changes })));
    pending.forEach((p, i) => {
      const m = r.ok ? (r.value[i] as Result<unknown>) : r;
      if (!m.ok) {
        outcomes[p.slot] = { user: p.sam, ok: false, sipAddress: p.uri, message: `${p.sam}: ${m.failure.message}` };
        return;
      }
      taken.set(p.uri, p.dn.toLowerCase());
      outcomes[p.slot] = { user: p.sam, ok: true, sipAddress: p.uri, message: `${p.sam}: enabled as ${p.uri} on ${pool.fqdn}` };
      emitted.push(ev('ocs.userEnabled', `Enabled ${p.sam} for Communications Server as ${p.uri}, homed on ${pool.name}`, { user: p.sam, sipAddress: p.uri, pool: pool.name }));
    });
    pending.length = 0;
    waitingNames.clear();
  };
  const waiting = (uri: string, dn: string) => waitingNames.has(`uri:${uri}`) || waitingNames.has(`dn:${dn.toLowerCase()}`);
  for (const sam of args.users) {
    if (waitingNames.has(`sam:${sam.toLowerCase()}`)) flush();
    const entry = ctx.peers.ad.findUser(sam);
    if (!entry) {
      outcomes.push({ user: sam, ok: false, message: `${sam}: the user was not found in Active Directory.` });
      continue;
    }
    let address: string | undefined;
    switch (args.signInName) {
      case 'email':
        address = attr(entry, 'mail');
        if (!address) outcomes.push({ user: sam, ok: false, message: `${sam}: cannot generate a SIP URI from the e-mail address because the user does not have an e-mail address.` });
        break;
      case 'upn':
        address = attr(entry, 'userPrincipalName');
        if (!address) outcomes.push({ user: sam, ok: false, message: `${sam}: cannot generate a SIP URI because the user does not have a user principal name.` });
        break;
      case 'firstLast': {
        const given = attr(entry, 'givenName');
        const sn = attr(entry, 'sn');
        if (given && sn) address = `${given}.${sn}@${sipDomain}`;
        else outcomes.push({ user: sam, ok: false, message: `${sam}: cannot generate a SIP URI because the first name or last name is empty.` });
        break;
      }
      case 'sam':
        address = `${attr(entry, 'sAMAccountName') ?? sam}@${sipDomain}`;
        break;
    }
    if (!address) continue;
    const uri = sipUri(address.toLowerCase());
    if (waiting(uri, entry.dn)) flush();
    const owner = taken.get(uri);
    if (owner && owner !== entry.dn.toLowerCase()) {
      outcomes.push({ user: sam, ok: false, sipAddress: uri, message: `${sam}: the SIP URI ${uri} is already in use by another user or contact.` });
      continue;
    }
    const proxies = (entry.attributes.proxyAddresses ?? []).filter((p) => !/^sip:/i.test(p));
    pending.push({
      slot: outcomes.length,
      sam,
      uri,
      dn: entry.dn,
      changes: [
        { operation: 'replace', attribute: 'msRTCSIP-UserEnabled', values: ['TRUE'] },
        { operation: 'replace', attribute: 'msRTCSIP-PrimaryUserAddress', values: [uri] },
        { operation: 'replace', attribute: 'msRTCSIP-PrimaryHomeServer', values: [pool.homeServerDn] },
        { operation: 'replace', attribute: 'msRTCSIP-OptionFlags', values: ['256'] },
        { operation: 'replace', attribute: 'proxyAddresses', values: [...proxies, uri] },
        { operation: 'replace', attribute: 'msRTCSIP-ArchivingEnabled', values: ['0'] },
        { operation: 'replace', attribute: 'msRTCSIP-FederationEnabled', values: ['FALSE'] },
        { operation: 'replace', attribute: 'msRTCSIP-InternetAccessEnabled', values: ['FALSE'] },
      ],
    });
    for (const name of [`sam:${sam.toLowerCase()}`, `uri:${uri}`, `dn:${entry.dn.toLowerCase()}`]) waitingNames.add(name);
    outcomes.push({ user: sam, ok: false, message: `${sam}: waiting for Active Directory` });
  }
  flush();
  const store = logWizard(ctx.store, outcomes.map((o) => `[${o.ok ? 'Success' : 'Failure'}] ${o.message}`));
  return { store, emitted, result: ok({ users: outcomes }), durationMs: 5_000 * Math.max(1, args.users.length) };
}

// ---------------------------------------------------------------------------------------------------
// Move Users (ocs-facts §7)

export function moveUsers(ctx: WizardContext, args: MoveUsersArgs): WizardOutcome<{ users: UserOutcome[] }> {
  const { peers } = ctx;
  const to = findPool(ctx.store, args.toPool);
  if (!to) return refused(ctx, 'ocs.noSuchPool', `The destination pool ${args.toPool} was not found.`);
  const outcomes: UserOutcome[] = [];
  const emitted: Emitted[] = [];
  let store = ctx.store;
  for (const sam of args.users) {
    const entry = peers.ad.findUser(sam);
    const uri = entry ? attr(entry, 'msRTCSIP-PrimaryUserAddress') : undefined;
    if (!entry || !uri) {
      outcomes.push({ user: sam, ok: false, message: `${sam}: the user is not enabled for Communications Server.` });
      continue;
    }
    const homeDn = (attr(entry, 'msRTCSIP-PrimaryHomeServer') ?? '').toLowerCase();
    const from = store.pools.find((p) => p.homeServerDn.toLowerCase() === homeDn);
    if (from && from.name === to.name) {
      outcomes.push({ user: sam, ok: true, sipAddress: uri, message: `${sam}: already homed on ${to.name}` });
      continue;
    }
    if (!peers.sql.online(to.backEnd)) {
      outcomes.push({ user: sam, ok: false, sipAddress: uri, message: `${sam}: the destination pool ${to.name} is not available (back end ${to.backEndFqdn} cannot be reached).` });
      continue;
    }
    const sourceUp = !!from && peers.sql.online(from.backEnd);
    if (!sourceUp && !args.force) {
      outcomes.push({ user: sam, ok: false, sipAddress: uri, message: `${sam}: the source pool ${from?.name ?? '(unknown)'} is not available. Both pools must be running to move a user; use a forced move only if the source pool is lost (server-stored data will be lost).` });
      continue;
    }
    let moved = 0;
    let lost = false;
    if (sourceUp && from) {
      for (const table of ['Resource', 'Contact']) {
        const rows = peers.sql.read(from.backEnd, 'RTC', table);
        if (!rows.ok) continue;
        for (const r of rows.value.filter((x) => x.key.toLowerCase() === uri.toLowerCase() || x.key.toLowerCase().startsWith(`${uri.toLowerCase()}|`))) {
          peers.sql.write(to.backEnd, 'RTC', table, r.key, r.row as Record<string, string | number | boolean | null>);
          peers.sql.delete(from.backEnd, 'RTC', table, r.key);
          moved++;
        }
      }
    } else {
      lost = true;
      peers.sql.write(to.backEnd, 'RTC', 'Resource', uri, { sipAddress: uri, sam, dn: entry.dn, homePool: to.name });
    }
    const m = peers.ad.modify(entry.dn, [{ operation: 'replace', attribute: 'msRTCSIP-PrimaryHomeServer', values: [to.homeServerDn] }]);
    if (!m.ok) {
      outcomes.push({ user: sam, ok: false, sipAddress: uri, message: `${sam}: ${m.failure.message}` });
      continue;
    }
    store = withUser(store, { sam, dn: entry.dn, sipAddress: uri, pool: to.name });
    const message = lost
      ? `${sam}: forced move to ${to.name}; the source pool was unavailable, so contacts and other server-stored data were not moved and are lost`
      : `${sam}: moved to ${to.name} with ${moved} server-stored record(s)`;
    outcomes.push({ user: sam, ok: true, sipAddress: uri, message });
    emitted.push(ev('ocs.userMoved', `Moved ${sam} (${uri}) from ${from?.name ?? 'an unavailable pool'} to ${to.name}${lost ? ' (forced; server-stored data lost)' : ''}`, { user: sam, from: from?.name ?? null, to: to.name, forced: lost }));
  }
  store = logWizard(store, outcomes.map((o) => `[${o.ok ? 'Success' : 'Failure'}] ${o.message}`));
  return { store, emitted, result: ok({ users: outcomes }), durationMs: 10_000 * Math.max(1, args.users.length) };
}

// ---------------------------------------------------------------------------------------------------
// ADUC: Remove users from Communications Server (clears the msRTCSIP attributes; the User Replicator
// then drops the user from the pool's RTC database).

export function removeUsers(ctx: WizardContext, args: { users: string[] }): WizardOutcome<{ users: UserOutcome[] }> {
  const outcomes: UserOutcome[] = [];
  const emitted: Emitted[] = [];
  let store = ctx.store;
  for (const sam of args.users) {
    const entry = ctx.peers.ad.findUser(sam);
    if (!entry) {
      outcomes.push({ user: sam, ok: false, message: `${sam}: the user was not found in Active Directory.` });
      continue;
    }
    const uri = attr(entry, 'msRTCSIP-PrimaryUserAddress');
    if (!uri) {
      outcomes.push({ user: sam, ok: true, message: `${sam}: not enabled for Communications Server; nothing to remove` });
      continue;
    }
    const present = ['msRTCSIP-UserEnabled', 'msRTCSIP-PrimaryUserAddress', 'msRTCSIP-PrimaryHomeServer', 'msRTCSIP-OptionFlags', 'msRTCSIP-ArchivingEnabled', 'msRTCSIP-FederationEnabled', 'msRTCSIP-InternetAccessEnabled'].filter((a) => attr(entry, a) !== undefined);
    const proxies = (entry.attributes.proxyAddresses ?? []).filter((p) => !/^sip:/i.test(p));
    const m = ctx.peers.ad.modify(entry.dn, [
      ...present.map((attribute) => ({ operation: 'delete' as const, attribute, values: [] })),
      ...(proxies.length ? [{ operation: 'replace' as const, attribute: 'proxyAddresses', values: proxies }] : entry.attributes.proxyAddresses ? [{ operation: 'delete' as const, attribute: 'proxyAddresses', values: [] }] : []),
    ]);
    if (!m.ok) {
      outcomes.push({ user: sam, ok: false, sipAddress: uri, message: `${sam}: ${m.failure.message}` });
      continue;
    }
    const homed = homedUserBySam(store, sam);
    if (homed) {
      const pool = findPool(store, homed.pool);
      if (pool && ctx.peers.sql.online(pool.backEnd)) ctx.peers.sql.delete(pool.backEnd, 'RTC', 'Resource', homed.sipAddress);
      store = { ...store, users: store.users.filter((u) => u !== homed) };
    }
    outcomes.push({ user: sam, ok: true, sipAddress: uri, message: `${sam}: removed from Communications Server (${uri} released)` });
    emitted.push(ev('ocs.userRemoved', `Removed ${sam} (${uri}) from Communications Server`, { user: sam, sipAddress: uri }));
  }
  store = logWizard(store, outcomes.map((o) => `[${o.ok ? 'Success' : 'Failure'}] ${o.message}`));
  return { store, emitted, result: ok({ users: outcomes }), durationMs: 5_000 * Math.max(1, args.users.length) };
}

// ---------------------------------------------------------------------------------------------------
// Server-stored contacts: what Communicator's "Add a Contact" makes the user's home front end write into
// the RTC database (RTC.Contact, keyed "<owner URI>|<contact URI>"; ocs-facts §7).

export function addContact(ctx: WizardContext, args: { user: string; contact: string; group?: string }): { store: OcsStore; emitted: Emitted[]; result: Result<{ user: string; contact: string; pool: string }> } {
  const entry = ctx.peers.ad.findUser(args.user);
  const uri = entry ? attr(entry, 'msRTCSIP-PrimaryUserAddress') : undefined;
  const no = (kind: OcsFailureKind, message: string) => ({ store: ctx.store, emitted: [], result: fail(failure(kind, message)) });
  if (!entry || !uri) return no('ocs.noSuchUser', `${args.user} is not enabled for Communications Server and cannot sign in.`);
  const homeDn = (attr(entry, 'msRTCSIP-PrimaryHomeServer') ?? '').toLowerCase();
  const pool = ctx.store.pools.find((p) => p.homeServerDn.toLowerCase() === homeDn);
  const up = pool ? ctx.store.servers.some((s) => s.pool === pool.name && s.activated && s.services[FRONT_END_SERVICE] === 'Running') : false;
  if (!pool || !up || !ctx.peers.sql.online(pool.backEnd)) return no('ocs.sourcePoolUnavailable', `Cannot sign in to Communicator as ${uri}: the server is temporarily unavailable.`);
  const contact = sipUri(args.contact.toLowerCase());
  const w = ctx.peers.sql.write(pool.backEnd, 'RTC', 'Contact', `${uri.toLowerCase()}|${contact}`, { owner: uri.toLowerCase(), contact, group: args.group ?? 'Other Contacts' });
  if (!w.ok) return no('ocs.backEndUnavailable', w.failure.message);
  return {
    store: ctx.store,
    emitted: [ev('ocs.contactAdded', `${uri} added ${contact} to "${args.group ?? 'Other Contacts'}" (stored on ${pool.name})`, { user: args.user, contact, pool: pool.name })],
    result: ok({ user: args.user, contact, pool: pool.name }),
  };
}

/** The server-stored contacts of a user on its home pool's back end (undefined: the back end cannot be read). */
export function userContacts(store: OcsStore, sipAddress: string, pool: string, read: OcsPeers['sql']['read']): string[] | undefined {
  const p = findPool(store, pool);
  if (!p) return undefined;
  const rows = read(p.backEnd, 'RTC', 'Contact');
  if (!rows.ok) return undefined;
  const prefix = `${sipAddress.toLowerCase()}|`;
  return rows.value.filter((r) => r.key.toLowerCase().startsWith(prefix)).map((r) => r.key.slice(prefix.length));
}

// ---------------------------------------------------------------------------------------------------
// User Replicator (in RtcSrv.exe; polls AD about every 60 s, ocs-facts §3, §1.10)

export const USER_REPLICATOR_POLL_MS = 60_000;

export function replicateUsers(ctx: WizardContext): { store: OcsStore; emitted: Emitted[] } {
  let store = ctx.store;
  const emitted: Emitted[] = [];
  const { peers } = ctx;
  if (!peers.ad.converged()) return { store, emitted };
  for (const pool of store.pools) {
    const owner = replicationOwner(store, pool.name);
    if (!owner || owner.services[FRONT_END_SERVICE] !== 'Running' || !peers.sql.online(pool.backEnd)) continue;
    const r = peers.ad.search(peers.ad.domainDn(), 'sub', '(objectClass=user)');
    if (!r.ok) continue;
    const homed = r.value.filter((e) => (attr(e, 'msRTCSIP-UserEnabled') ?? '').toUpperCase() === 'TRUE' && (attr(e, 'msRTCSIP-PrimaryHomeServer') ?? '').toLowerCase() === pool.homeServerDn.toLowerCase());
    const changes: HomedUser[] = [];
    for (const e of homed) {
      const uri = attr(e, 'msRTCSIP-PrimaryUserAddress') ?? '';
      const sam = attr(e, 'sAMAccountName') ?? e.dn.slice(3, e.dn.indexOf(','));
      const known = homedUserBySam(store, sam);
      if (known && known.pool === pool.name && known.sipAddress === uri) continue;
      changes.push({ sam, dn: e.dn, sipAddress: uri, pool: pool.name });
    }
    // The pass's changes go to the RTC database in one batch; should it fail, the next pass tries again.
    const rows = changes.map((u) => ({ key: u.sipAddress, row: { sipAddress: u.sipAddress, sam: u.sam, dn: u.dn, homePool: u.pool } }));
    const written = rows.length && !peers.sql.writeRows(pool.backEnd, 'RTC', 'Resource', rows).ok ? [] : changes;
    store = withUsers(store, written);
    const changed = written.length;
    const domain = ctx.topology.forest.fqdn;
    if (!owner.replicatedDomains.includes(domain)) {
      store = withServer(store, { ...owner, replicatedDomains: [...owner.replicatedDomains, domain] });
      emitted.push({
        type: 'eventlog.write',
        summary: `User Replicator on ${owner.host}: initial synchronization of ${domain} complete (event 30024)`,
        entry: {
          host: owner.host,
          log: 'Office Communications Server',
          source: 'OCS User Replicator',
          eventId: 30024,
          level: 'Information',
          message: `User Replicator has completed initial synchronization of Active Directory domain ${domain}. Users and contacts homed on this pool are now available.`,
        },
      } as EventLogWrite);
    }
    if (changed) emitted.push(ev('ocs.usersReplicated', `User Replicator on ${owner.host} wrote ${changed} user(s) homed on ${pool.name} into the RTC database`, { pool: pool.name, count: changed }));
  }
  return { store, emitted };
}

// ---------------------------------------------------------------------------------------------------
// Address Book Server (ABServer.exe -syncNow, ocs-facts §6): the pool's users from the RTC database,
// with their directory attributes, written as full address book files and published to the ABS
// virtual directories of every front end of the pool.

/** The full file's name: F-<day number in hex> (the real naming scheme's day base is [U]). */
export const addressBookFileName = (now: number, extension: 'lsabs' | 'dabs') => `F-${Math.floor(now / 86_400_000).toString(16).padStart(4, '0')}.${extension}`;

export function syncAddressBook(ctx: WizardContext, args: { pool: string }): WizardOutcome<{ files: string[]; users: number }> {
  const pool = findPool(ctx.store, args.pool);
  if (!pool) return refused(ctx, 'ocs.noSuchPool', `ABServer: the pool ${args.pool} does not exist.`);
  const { peers } = ctx;
  if (!peers.sql.online(pool.backEnd)) return refused(ctx, 'ocs.backEndUnavailable', `ABServer: cannot connect to the RTC database on ${pool.backEndFqdn}.`);
  const rows = peers.sql.read(pool.backEnd, 'RTC', 'Resource');
  if (!rows.ok) return refused(ctx, 'ocs.backEndUnavailable', `ABServer: reading the RTC database failed: ${rows.failure.message}`);
  const entries = rows.value
    .map((r) => r.row)
    .filter((row) => row.homePool === pool.name)
    .map((row) => {
      const user = peers.ad.findUser(String(row.sam ?? ''));
      const a = (name: string) => (user ? (attr(user, name) ?? '') : '');
      return [String(row.sipAddress ?? ''), a('displayName'), a('givenName'), a('sn'), a('mail'), a('telephoneNumber'), a('title'), a('department')].join('\t');
    })
    .sort();
  // The real .lsabs/.dabs formats are binary; the lab writes the same content as tab-separated text.
  const content = ['ocslab address book (emulated ABServer output; the real file is binary)', `pool\t${pool.fqdn}`, `generated\t${new Date(ctx.env.now()).toISOString()}`, 'sipAddress\tdisplayName\tgivenName\tsn\tmail\ttelephoneNumber\ttitle\tdepartment', ...entries, ''].join('\r\n');
  const files = [
    { name: addressBookFileName(ctx.env.now(), 'lsabs'), content },
    { name: addressBookFileName(ctx.env.now(), 'dabs'), content },
  ];
  const published: string[] = [];
  for (const server of ctx.store.servers.filter((s) => s.pool === pool.name && s.activated)) {
    for (const vdir of ['/Abs/Int/Handler', '/Abs/Ext/Handler']) {
      const r = peers.iis.publishFiles(server.host, vdir, files);
      if (!r.ok) return refused(ctx, 'ocs.prerequisiteMissing', `ABServer: publishing to ${server.fqdn}${vdir} failed: ${r.failure.message}`);
    }
    published.push(server.host);
  }
  const names = files.map((f) => f.name);
  return {
    store: logWizard(ctx.store, [`[Success] ABServer wrote ${entries.length} entries to ${names.join(', ')}`]),
    emitted: [ev('ocs.addressBookGenerated', `Address Book Server: ${entries.length} user(s) of ${pool.name} in ${names.join(', ')}, published on ${published.join(', ') || 'no front end'}`, { pool: pool.name, files: names, users: entries.length })],
    result: ok({ files: names, users: entries.length }),
    durationMs: 10_000,
  };
}

// ---------------------------------------------------------------------------------------------------
// Service start decisions (host.serviceStarting)

export function startRefusal(ctx: WizardContext, host: string, service: string): StartRefusal | undefined {
  const server = findServer(ctx.store, host);
  if (!server) return undefined;
  const def = OCS_SERVICES.find((s) => s.name.toLowerCase() === service.toLowerCase());
  if (!def) return undefined;
  const ocsLog = (source: string, eventId: number, message: string): EventLogWrite['entry'] => ({ host: server.host, log: 'Office Communications Server', source, eventId, level: 'Error', message });
  if (def.name === FRONT_END_SERVICE) {
    if (!server.certificate) {
      return {
        scmEventId: 7024,
        // SCM prints the service-specific error as "%%<code>"; CRYPT_E_NOT_FOUND (0x80092004) [U].
        error: '%%-2146885628',
        events: [ocsLog('OCS Protocol Stack', 14397, `No certificate is configured for ${server.fqdn}. The server cannot listen on TLS port 5061. Run the Certificate Wizard to request and assign a certificate whose subject name is the pool FQDN.`)],
      };
    }
    const wildcard = [server.certificate.subjectCN, ...server.certificate.sans].find((n) => n.includes('*'));
    if (wildcard) {
      // ocs-facts §4, §8.11 [B]: wildcard entries stop the OCS services from starting. Event ID and text [U].
      return {
        scmEventId: 7024,
        // CERT_E_INVALID_NAME (0x800B0114) [U].
        error: '%%-2146762476',
        events: [
          ocsLog(
            'OCS Protocol Stack',
            14397,
            `The certificate configured for ${server.fqdn} (CN=${server.certificate.subjectCN}, thumbprint ${server.certificate.thumbprint}) cannot be used: its subject alternative name contains the wildcard entry "${wildcard}", which is not supported. The server cannot listen on TLS port 5061. Request a certificate without wildcard entries and assign it with the Certificate Wizard.`,
          ),
        ],
      };
    }
    const pool = findPool(ctx.store, server.pool);
    if (pool && !ctx.peers.sql.online(pool.backEnd)) {
      return {
        scmEventId: 7024,
        // E_FAIL (0x80004005) [U].
        error: '%%-2147467259',
        events: [ocsLog('OCS User Services', 32174, `Server startup is being delayed because the back-end database ${pool.backEndFqdn} cannot be reached. Verify SQL Server is running and reachable.`)],
      };
    }
  }
  if (def.name === MONITORING_AGENT_SERVICE && !ctx.peers.host.features(server.host).includes(MSMQ_FEATURE)) {
    return {
      scmEventId: 7024,
      // MQ_ERROR_SERVICE_NOT_AVAILABLE (0xC00E000B): Message Queuing is not there [U].
      error: '%%-1072824309',
      events: [ocsLog('OCS Monitoring Agent', 32062, `The Monitoring Agent cannot create the administrative message queue on ${server.fqdn}. Message Queuing (MSMQ) is not installed. Install Message Queuing Server and start the service again.`)],
    };
  }
  return undefined;
}

/** Whether a certificate names the pool (subject or SAN), as peers dialling the pool FQDN require (ocs-facts §4). */
export function certificateCoversPool(cert: CertificateRecord, pool: PoolRecord): boolean {
  const want = pool.fqdn.toLowerCase();
  return cert.subjectCN.toLowerCase() === want || cert.sans.some((s) => s.toLowerCase() === want);
}

/**
 * What RtcSrv logs once it is running: with a certificate that does not name the pool FQDN, the server's
 * own outgoing MTLS connections to the pool (conferencing servers, web components, other front ends) fail
 * the name check, event 14428 (ocs-facts §4, §8.7 [V]).
 */
export function frontEndStartedEvents(ctx: WizardContext, host: string): Emitted[] {
  const server = findServer(ctx.store, host);
  const pool = server ? findPool(ctx.store, server.pool) : undefined;
  if (!server?.certificate || !pool || certificateCoversPool(server.certificate, pool)) return [];
  const cert = server.certificate;
  return [
    {
      type: 'eventlog.write',
      summary: `${server.host}: OCS Protocol Stack event 14428 (TLS outgoing connection failures to ${pool.fqdn})`,
      entry: {
        host: server.host,
        log: 'Office Communications Server',
        source: 'OCS Protocol Stack',
        eventId: 14428,
        level: 'Error',
        message: `TLS outgoing connection failures.\n\nOver the past 1 minutes, Office Communications Server has experienced TLS outgoing connection failures 4 time(s). The error code of the last failure is 0x80090322 (The target principal name is incorrect.) while trying to connect to the host "${pool.fqdn}".\nCause: Wrong principal error could happen if the peer presents a certificate whose subject name does not match the peer name. The certificate presented by this server has subject CN=${cert.subjectCN}${cert.sans.length ? ` and SAN ${cert.sans.join(', ')}` : ''}.\nResolution: Check that the certificate has the pool FQDN ${pool.fqdn} as its subject name, reissue it with the Certificate Wizard and restart the Front-End service.`,
      },
    } as EventLogWrite,
  ];
}

// ---------------------------------------------------------------------------------------------------
// Updates (April 2009 KB967831 / June 2009 KB972041; ocs-facts §3)

export function applyUpdate(ctx: WizardContext, args: { server: string; update: OcsUpdate }): WizardOutcome<{ server: string; update: OcsUpdate }> {
  const server = findServer(ctx.store, args.server);
  if (!server || !server.filesInstalled) return refused(ctx, 'ocs.noSuchServer', `Office Communications Server is not installed on ${args.server}.`);
  const hasMsmq = ctx.peers.host.features(server.host).includes(MSMQ_FEATURE);
  const fixed = server.updates.includes('KB972041');
  if (args.update === 'KB967831' && !hasMsmq && !fixed) {
    // The installer stops the services, fails on the Monitoring Agent's queue and does not roll back.
    for (const def of OCS_SERVICES) {
      const st = ctx.peers.host.services(server.host).find((s) => s.name === def.name);
      if (st && st.state !== 'Stopped') ctx.peers.host.stopService(server.host, def.name);
    }
    const message = `Installation of the April 2009 update (KB967831) for Office Communications Server 2007 R2 Front-End Server components failed on ${server.fqdn}: Message Queuing is not installed. The Front-End services were stopped and were not restarted. Install Message Queuing and run the update again, or apply KB972041.`;
    const store = logWizard(withServer(ctx.store, { ...server, updates: [...server.updates.filter((u) => u !== 'KB967831 (failed)'), 'KB967831 (failed)'] }), [`[Failure] ${message}`]);
    const log = (l: string, source: string, eventId: number, text: string): EventLogWrite =>
      ({ type: 'eventlog.write', summary: `${server.host}: ${source} ${eventId}`, entry: { host: server.host, log: l, source, eventId, level: 'Error', message: text } }) as EventLogWrite;
    return {
      store,
      // The events do not mention Message Queuing (fishbrains: "misleading events"); the setup log does.
      emitted: [
        log('Application', 'MsiInstaller', 11708, 'Product: Office Communications Server 2007 R2, Front End Server -- Installation operation failed.'),
        log('Application', 'MsiInstaller', 1023, 'Product: Office Communications Server 2007 R2, Front End Server - Update \'Update for Office Communications Server 2007 R2 Front-End Server (KB967831)\' could not be installed. Error code 1603. Additional information is available in the log file.'),
        log('System', 'Microsoft-Windows-WindowsUpdateClient', 20, 'Installation Failure: Windows failed to install the following update with error 0x80070643: Update for Office Communications Server 2007 R2 Front-End Server (KB967831).'),
      ],
      result: fail(failure('ocs.updateFailed', message)),
      durationMs: 300_000,
    };
  }
  const store = logWizard(withServer(ctx.store, { ...server, updates: [...server.updates.filter((u) => u !== `${args.update} (failed)`), args.update] }), [`[Success] Installed ${args.update} on ${server.fqdn}`]);
  return { store, emitted: [ev('ocs.updateApplied', `Installed ${args.update} on ${server.fqdn}`, { server: server.host, update: args.update })], result: ok({ server: server.host, update: args.update }), durationMs: 300_000 };
}
