/**
 * `ocslab serve`: the lab at a scenario's end state, opened to real clients on loopback. The lab is
 * rehearsed on a clock started an hour in the past (so certificates issued during the rehearsal are
 * already valid for real TLS clients), caught up to the wall clock, then kept following it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { followWallClock, SimClock } from '../sim/clock.js';
import { Lab } from '../sim/lab.js';
import { runScenario, type Registry, type RunReport } from '../sim/runner.js';
import type { FaultPlan } from '../sim/faults.js';
import type { Scenario } from '../sim/scenario.js';
import type { Listening } from '../sim/wire.js';
import { domainDn } from '../sim/topology.js';
import { startDnsServer } from '../emulators/dns/dns.wire.adapter.js';
import { startLdapServer } from '../emulators/ad/ad.ldap.adapter.js';
import { caInfo } from '../emulators/ca/ca.client.js';
import { adFindUser } from '../emulators/ad/ad.client.js';

export interface ServeOptions {
  scenario: Scenario;
  registry: Registry;
  faults: readonly FaultPlan[];
  seed?: string;
  host: string;
  /** 0: every listener on a free port; otherwise consecutive ports from here (see PORT_OFFSETS). */
  portBase: number;
  endpointsFile?: string;
  /** Simulated seconds per wall second once serving. */
  speed: number;
}

/** Where each listener goes relative to --port-base. */
export const PORT_OFFSETS = { dns: 0, ldap: 1 } as const;

export interface Served {
  report: RunReport;
  endpoints: Endpoints;
  listeners: Listening[];
  stop(): Promise<void>;
}

export interface Endpoints {
  dns: { host: string; port: number };
  ldap: string;
  caCertFile: string;
  baseDn: string;
  bindDn: string;
  bindPassword: string;
  adDomain: string;
  sipDomain: string;
  poolFqdn: string;
  users: Array<{ sam: string; sipUri: string; password: string }>;
}

const port = (o: ServeOptions, offset: number) => (o.portBase === 0 ? 0 : o.portBase + offset);

export async function serve(o: ServeOptions): Promise<Served> {
  const { scenario, registry } = o;
  const clock = new SimClock(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
  const seed = o.seed ?? scenario.seed ?? 'ocslab';
  const lab = new Lab(scenario.topology, registry.emulators, { seed, clock });
  const report = runScenario({ scenario, registry, lab, seed, faults: o.faults });
  const behind = Date.now() - clock.now();
  if (behind > 0) clock.advance(behind);
  const stopFollowing = followWallClock(clock, { speed: o.speed });

  const listeners: Listening[] = [];
  const stopAll = async () => {
    stopFollowing();
    await Promise.allSettled(listeners.map((l) => l.stop()));
    lab.stop();
  };
  try {
    listeners.push(await startDnsServer(lab, { host: o.host, port: port(o, PORT_OFFSETS.dns) }));
    listeners.push(await startLdapServer(lab, { host: o.host, port: port(o, PORT_OFFSETS.ldap) }));
  } catch (e) {
    await stopAll();
    throw e;
  }
  const [dns, ldap] = listeners as [Listening, Listening];

  const t = scenario.topology;
  const caDir = o.endpointsFile ? dirname(resolve(o.endpointsFile)) : join(tmpdir(), `ocslab-${process.pid}`);
  mkdirSync(caDir, { recursive: true });
  const caCertFile = join(caDir, 'ocslab-root-ca.pem');
  writeFileSync(caCertFile, caInfo(lab.get('ca')).certPem);
  const users = t.users.flatMap((u) => {
    const entry = adFindUser(lab.get('ad'), u.sam);
    const key = entry && Object.keys(entry.attributes).find((k) => k.toLowerCase() === 'msrtcsip-primaryuseraddress');
    const sipUri = key ? entry?.attributes[key]?.[0] : undefined;
    return sipUri ? [{ sam: u.sam, sipUri, password: u.password }] : [];
  });
  const endpoints: Endpoints = {
    dns: { host: dns.host, port: dns.port },
    ldap: ldap.url ?? `ldap://${ldap.host}:${ldap.port}`,
    caCertFile,
    baseDn: domainDn(t.forest.fqdn),
    bindDn: `${t.forest.netbios}\\${t.administrator.sam}`,
    bindPassword: t.administrator.password,
    adDomain: t.forest.fqdn,
    sipDomain: t.sipDomains[0] ?? '',
    poolFqdn: t.pools[0]?.fqdn ?? '',
    users,
  };
  if (o.endpointsFile) writeFileSync(o.endpointsFile, `${JSON.stringify(endpoints, null, 2)}\n`);
  return { report, endpoints, listeners, stop: stopAll };
}

/** The table `ocslab serve` prints once everything listens. */
export function endpointsTable(e: Endpoints): string[] {
  return [
    `DNS     ${e.dns.host}:${e.dns.port} (UDP and TCP)   dig @${e.dns.host} -p ${e.dns.port} -t SRV _sipinternaltls._tcp.${e.sipDomain}`,
    `LDAP    ${e.ldap}   ldapsearch -x -H ${e.ldap} -D '${e.bindDn}' -w '${e.bindPassword}' -b '${e.baseDn}' '(msRTCSIP-UserEnabled=TRUE)' msRTCSIP-PrimaryUserAddress`,
    `CA      root certificate in ${e.caCertFile}`,
    `Users   ${e.users.map((u) => `${u.sipUri} (${e.bindDn.split('\\')[0] ?? ''}\\${u.sam})`).join(', ') || '(none SIP-enabled)'}`,
  ];
}
