/**
 * The OCS 2007 R2 Deployment Wizard: Create Enterprise Pool, Configure Pool, Add Server to Pool (install
 * files, roles and services, then activate), and the updates installed on a front end.
 */
import type { EventLogWrite } from '../../sim/journal.js';
import { fail, ok, type Result } from '../../sim/result.js';
import type { FirewallRule } from '../host/host.events.js';
import type { AddServerArgs, ConfigurePoolArgs, CreatePoolArgs, OcsUpdate } from './ocs.events.js';
import type { OcsPeers } from './ocs.ports.js';
import {
  DEFAULT_INSTALL_PATH,
  IIS_PREREQUISITES,
  MSMQ_FEATURE,
  OCS_SERVICES,
  SERVICE_ACCOUNTS,
  findPool,
  findServer,
  logWizard,
  serviceSpec,
  withPool,
  withServer,
  type PoolRecord,
  type ServerRecord,
} from './ocs.store.js';
import { ev, failure, refused, type Emitted, type WizardContext, type WizardOutcome } from './ocs.wizard.js';

const shortHost = (name: string) => name.toLowerCase().split('.')[0] ?? name.toLowerCase();

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
