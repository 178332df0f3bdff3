/**
 * `ocslab serve`: the lab at a scenario's end state, opened to real clients on loopback. The lab is
 * rehearsed on a clock started as long before now as the rehearsal takes (so certificates issued during
 * it are already valid for real TLS clients), caught up to the wall clock, then kept following it.
 */
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { followWallClock, SimClock } from '../sim/clock.js';
import { Lab, type LabSnapshot } from '../sim/lab.js';
import { lastSavepoint, rehearsalKey, runScenario, type CachedRehearsal, type Registry, type RunReport, type Savepoint, type SetupCache, type StepResult } from '../sim/runner.js';
import type { FaultPlan } from '../sim/faults.js';
import type { Scenario } from '../sim/scenario.js';
import type { Listening } from '../sim/wire.js';
import { domainDn } from '../sim/topology.js';
import type { SipListening } from '../emulators/ocs/ocs.sip.adapter.js';
import { labNetwork, type LabNetwork } from '../emulators/network/lab.network.js';
import { caInfo } from '../emulators/ca/ca.client.js';
import { adFindUser } from '../emulators/ad/ad.client.js';
import { attributeValues } from '../emulators/ad/ad.store.js';
import { iisNewestFile, iisRequest } from '../emulators/iis/iis.client.js';
import { iisId } from '../emulators/iis/iis.events.js';
import { adAuthenticate } from '../emulators/ad/ad.client.js';
import { dnsQuery } from '../emulators/dns/dns.client.js';
import { DNS_ID, type DnsQueryType } from '../emulators/dns/dns.events.js';
import { hostCertificates } from '../emulators/host/host.client.js';
import { hostId } from '../emulators/host/host.events.js';
import { ocsServer } from '../emulators/ocs/ocs.client.js';

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
  /** Where errors of the running lab go (a timer that throws), instead of ending the process. */
  onError?: (error: unknown) => void;
  /** Saved `from:` chains and rehearsal lengths (decision 0012): one rehearsal instead of two. */
  setupCache?: SetupCache;
  /** The front end also offers Digest on SIP (a lab extension for generic SIP clients such as baresip). */
  sipDigest?: boolean;
}

/** Where each listener goes relative to --port-base. */
export const PORT_OFFSETS = { dns: 0, ldap: 1, https: 2, http: 3, caHttp: 4, sipTls: 5, sipTcp: 6, sipWss: 7 } as const;

/**
 * The example commands `serve` prints, one per service, each chosen from what the served lab answers
 * (a record its DNS holds, an account AD accepts, a page IIS serves with 200, the certificate the front
 * end presents), so a newcomer can paste every one of them. A service with nothing to show has none.
 */
export interface ServeExamples {
  dns?: string;
  ldap?: string;
  https?: string;
  sip?: string;
}

/**
 * How old a saved rehearsal may be for serve to go on from it. Resuming it is resuming a virtual machine
 * from a saved state (`Lab.resumeAfter`): the date jumps to now, and what the lab issued stays dated from
 * when it was saved. A day keeps that well inside the CA's CRL period (7 days and 12 hours) and any
 * certificate's validity; an older one is rehearsed afresh, and saved again.
 */
export const SAVED_REHEARSAL_MAX_AGE_MS = 86_400_000;

/**
 * The lab of a saved rehearsal, restored and resumed at today's date: its clock stands where the rest of
 * the rehearsal ends a minute before now, as a fresh serve's would. Undefined when it is too old (or from
 * the future: the machine's clock went back) or cannot be restored, so serve rehearses afresh.
 */
function resumeRehearsal(o: ServeOptions, saved: CachedRehearsal): { lab: Lab; resume: { before: number; results: StepResult[] }; pausedMs: number } | undefined {
  const { start, now } = saved.snapshot.clock;
  const remaining = saved.simulatedMs - (now - start);
  const gap = Math.floor((Date.now() - remaining - 60_000) / 1000) * 1000 - now;
  if (!(gap >= 0 && gap <= SAVED_REHEARSAL_MAX_AGE_MS)) return undefined;
  let lab: Lab;
  try {
    lab = Lab.restore(o.scenario.topology, o.registry.emulators, saved.snapshot);
  } catch {
    return undefined;
  }
  lab.resumeAfter(gap);
  return { lab, resume: { before: saved.before, results: saved.results }, pausedMs: gap };
}

export interface Served {
  /** When serve went on from a saved rehearsal: before which step, and how long ago it was saved. */
  resumedFrom?: { before: number; pausedMs: number };
  /** Why the front end's SIP is not listening, when it is not. */
  sipProblem?: string;
  report: RunReport;
  endpoints: Endpoints;
  examples: ServeExamples;
  listeners: Listening[];
  stop(): Promise<void>;
}

export interface Endpoints {
  /** The serving process (the node process, whatever launched it: npx, npm run, a supervisor). */
  pid: number;
  dns: { host: string; port: number };
  ldap: string;
  /** IIS on the front end: the address book and the other Web Components (port stands for 443). */
  https: string;
  /** The newest full address book file the Address Book Server published, when there is one. */
  addressBook: string | null;
  /** The CA's HTTP endpoints: /CertEnroll (CRL, root certificate) and /certsrv (web enrollment). */
  caHttp: string;
  /** The front end's SIP listeners; null while its Front-End service is not running (or has no certificate). */
  sipTls: { host: string; port: number } | null;
  sipTcp: { host: string; port: number } | null;
  sipWss: string | null;
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

/** Listens on a port for a moment and lets it go: rejects as `listen` would (code, port) when it is taken. */
function probePort(host: string, port: number, kind: 'tcp' | 'udp'): Promise<void> {
  return new Promise((resolve, reject) => {
    if (kind === 'udp') {
      const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      socket.once('error', (e) => {
        socket.close();
        reject(e);
      });
      socket.bind(port, host, () => socket.close(() => resolve()));
      return;
    }
    const server = createServer();
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve()));
  });
}

/**
 * With fixed ports, every one is tried before the rehearsal starts: a port another process holds is
 * reported at once (as a listen error, so the caller names it), not after the rehearsal has opened half
 * the listeners on it.
 */
async function checkPortsFree(o: ServeOptions): Promise<void> {
  if (o.portBase === 0) return;
  for (const [name, offset] of Object.entries(PORT_OFFSETS)) {
    await probePort(o.host, o.portBase + offset, 'tcp');
    if (name === 'dns') await probePort(o.host, o.portBase + offset, 'udp');
  }
}

export async function serve(o: ServeOptions): Promise<Served> {
  const { scenario, registry } = o;
  await checkPortsFree(o);
  const seed = o.seed ?? scenario.seed ?? 'ocslab';
  const key = rehearsalKey(scenario, seed, registry, o.faults);
  const cache = o.setupCache;
  // One network for the lab: the rehearsal's own Communicator clients and the real clients meet the same
  // listeners, on the ports asked for.
  const networkOptions = {
    host: o.host,
    ports: {
      dns: port(o, PORT_OFFSETS.dns),
      ldap: port(o, PORT_OFFSETS.ldap),
      https: port(o, PORT_OFFSETS.https),
      http: port(o, PORT_OFFSETS.http),
      caHttp: port(o, PORT_OFFSETS.caHttp),
      sipTls: port(o, PORT_OFFSETS.sipTls),
      sipTcp: port(o, PORT_OFFSETS.sipTcp),
      sipWss: port(o, PORT_OFFSETS.sipWss),
    },
    ...(o.onError ? { onError: o.onError } : {}),
    sipDigest: o.sipDigest === true,
  };
  const saved = cache?.rehearsal?.(key);
  const resumed = saved ? resumeRehearsal(o, saved) : undefined;
  let lab: Lab;
  let network: LabNetwork;
  let report: RunReport;
  if (resumed) {
    lab = resumed.lab;
    network = labNetwork(lab, networkOptions);
    try {
      report = await runScenario({ scenario, registry, lab, seed, faults: o.faults, resume: resumed.resume });
    } catch (e) {
      await lab.close();
      throw e;
    }
  } else {
    // A rehearsal is deterministic, so a first run on a throwaway lab says how much simulated time it
    // takes; the served lab starts that long (plus a minute) before now, and everything it issues is valid.
    // An earlier serve of the same rehearsal has said already.
    const known = cache?.length?.(key);
    // The throwaway run also says where the rehearsal's last savepoint is: the served run saves only there.
    let lastFree: number | undefined;
    const noteFree = (point: Savepoint) => {
      if (!point.holding.length) lastFree = point.before;
    };
    const rehearsal =
      known ?? (await runScenario({ scenario, registry, seed, faults: o.faults, ...(cache ? { setupCache: cache } : {}), ...(cache?.putRehearsal ? { onSavepoint: noteFree } : {}) })).totals.simulatedMs;
    lab = new Lab(scenario.topology, registry.emulators, { seed, clock: new SimClock(Math.floor((Date.now() - rehearsal - 60_000) / 1000) * 1000) });
    network = labNetwork(lab, networkOptions);
    // The last point before the rehearsal's clients sign in is kept, so the next serve goes on from there.
    const keeper = cache?.putRehearsal ? lastSavepoint(lastFree) : undefined;
    const onSavepoint = keeper?.onSavepoint;
    try {
      report = await runScenario({ scenario, registry, lab, seed, faults: o.faults, ...(onSavepoint ? { onSavepoint } : {}) });
    } catch (e) {
      await lab.close();
      throw e;
    }
    // Kept for the next serve (again each time, so a changed rehearsal corrects it).
    if (report.status !== 'error') {
      if (report.totals.simulatedMs !== known) cache?.putLength?.(key, report.totals.simulatedMs);
      const last = keeper?.kept();
      if (last) cache?.putRehearsal?.(key, { snapshot: JSON.parse(last.text) as LabSnapshot, before: last.before, results: last.results, simulatedMs: report.totals.simulatedMs });
    }
  }
  const clock = lab.clock;
  const behind = Date.now() - clock.now();
  if (behind > 0) clock.advance(behind);
  const stopFollowing = followWallClock(clock, { speed: o.speed, ...(o.onError ? { onError: o.onError } : {}) });

  const listeners: Listening[] = [];
  let tempDir: string | undefined;
  /** What this serve wrote for other processes to read (the endpoints file, its root certificate). */
  /** What this serve wrote; `decidedBy`: the endpoints file whose pid says whether it is still ours. */
  const ownFiles: Array<{ file: string; decidedBy?: string }> = [];
  const stopAll = async () => {
    stopFollowing();
    // The addresses stop being true first: a reader during a restart finds no file rather than old ports.
    for (const f of ownFiles.splice(0)) removeIfOurs(f.file, f.decidedBy);
    await lab.close();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  };
  let sip: SipListening | undefined;
  let sipProblem: string | undefined;
  let dns: Listening, ldap: Listening, https: Listening & { url: string }, caHttp: Listening & { url: string };
  try {
    const frontEnd = scenario.topology.pools[0]?.frontEnds[0] ?? scenario.topology.hosts.find((h) => h.roles.includes('ocsFrontEnd'))?.name ?? '';
    listeners.push((dns = await network.dns()));
    listeners.push((ldap = await network.ldap()));
    listeners.push((https = await network.iis(frontEnd)));
    listeners.push((caHttp = await network.caHttp()));
    try {
      sip = await network.sip(frontEnd);
      listeners.push(sip);
    } catch (e) {
      // A scenario whose front end is not running has no SIP to offer: say why, serve the rest.
      sipProblem = e instanceof Error ? e.message.replace(/^startSipFrontEnd: /, '') : String(e);
    }

  const t = scenario.topology;
  if (!o.endpointsFile) tempDir = join(tmpdir(), `ocslab-${process.pid}`);
  const caDir = o.endpointsFile ? dirname(resolve(o.endpointsFile)) : (tempDir as string);
  mkdirSync(caDir, { recursive: true });
  // Each serve's own trust anchor, named after its endpoints file: two serves in one folder never share
  // (or overwrite) each other's root certificate.
  const caCertFile = o.endpointsFile ? join(caDir, `${basename(o.endpointsFile).replace(/\.json$/i, '')}.root-ca.pem`) : join(caDir, 'ocslab-root-ca.pem');
  writeFileSync(caCertFile, caInfo(lab.get('ca')).certPem);
  // Another serve started on the same endpoints file has written its own root here: it is theirs then.
  ownFiles.push({ file: caCertFile, ...(o.endpointsFile ? { decidedBy: o.endpointsFile } : {}) });
  const users = t.users.flatMap((u) => {
    const entry = adFindUser(lab.get('ad'), u.sam);
    const sipUri = entry ? attributeValues(entry.attributes, 'msRTCSIP-PrimaryUserAddress')?.[0] : undefined;
    return sipUri ? [{ sam: u.sam, sipUri, password: u.password }] : [];
  });
  const fe = t.hosts.find((h) => h.roles.includes('ocsFrontEnd'));
  const iis = fe ? lab.get(iisId(fe.name)) : undefined;
  const abs = iis ? iisNewestFile(iis, '/Abs/Int/Handler', '.lsabs') : undefined;
  const absHost = t.pools[0]?.fqdn ?? '127.0.0.1';
  const endpoints: Endpoints = {
    pid: process.pid,
    dns: { host: dns.host, port: dns.port },
    ldap: ldap.url ?? `ldap://${ldap.host}:${ldap.port}`,
    https: https.url,
    addressBook: abs ? `https://${absHost}:${https.port}/Abs/Int/Handler/${abs}` : null,
    caHttp: caHttp.url,
    sipTls: sip ? sip.tls : null,
    sipTcp: sip ? sip.tcp : null,
    sipWss: sip ? sip.wss : null,
    caCertFile,
    baseDn: domainDn(t.forest.fqdn),
    bindDn: `${t.forest.netbios}\\${t.administrator.sam}`,
    bindPassword: t.administrator.password,
    adDomain: t.forest.fqdn,
    sipDomain: t.sipDomains[0] ?? '',
    poolFqdn: t.pools[0]?.fqdn ?? '',
    users,
  };
  if (o.endpointsFile) {
    // Written aside and renamed into place: whoever waits for the file never reads half of it.
    const partial = `${o.endpointsFile}.${process.pid}.partial`;
    writeFileSync(partial, `${JSON.stringify(endpoints, null, 2)}\n`);
    renameSync(partial, o.endpointsFile);
    ownFiles.push({ file: o.endpointsFile, decidedBy: o.endpointsFile });
  }
  const resumedFrom = resumed ? { before: resumed.resume.before, pausedMs: resumed.pausedMs } : undefined;
  return { report, endpoints, examples: examplesFor(lab, endpoints, frontEnd), listeners, stop: stopAll, ...(sipProblem ? { sipProblem } : {}), ...(resumedFrom ? { resumedFrom } : {}) };
  } catch (e) {
    // Whatever fails after the first listener opened, nothing may be left listening.
    await stopAll();
    throw e;
  }
}

/** Removes a file this serve wrote, unless another serve has since written its own there (its pid). */
function removeIfOurs(file: string, decidedBy: string | undefined): void {
  try {
    if (decidedBy && existsSync(decidedBy)) {
      const pid = (JSON.parse(readFileSync(decidedBy, 'utf8')) as { pid?: unknown }).pid;
      if (pid !== process.pid) return;
    }
    rmSync(file, { force: true });
  } catch {
    /* already gone, or not ours to judge: leave it */
  }
}

/** A word for a POSIX shell: as it is when it is safe, else in single quotes. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
const command = (words: readonly string[]) => words.map(shellWord).join(' ');

/** The example commands for the served lab (see ServeExamples), from its state once it listens. */
export function examplesFor(lab: Lab, e: Endpoints, frontEnd: string): ServeExamples {
  const t = lab.topology;
  const examples: ServeExamples = {};
  // DNS: the automatic sign-in SRV record when the zone has it, else an A record it has.
  const candidates: Array<{ name: string; type: DnsQueryType }> = [
    { name: `_sipinternaltls._tcp.${e.sipDomain}`, type: 'SRV' },
    { name: `sip.${e.sipDomain}`, type: 'A' },
    { name: e.poolFqdn, type: 'A' },
    ...t.hosts.map((h) => ({ name: h.fqdn, type: 'A' as const })),
  ];
  const dnsRef = lab.get(DNS_ID);
  const answered = candidates.find((c) => {
    const r = dnsQuery(dnsRef, c);
    return r.ok && r.value.rcode === 'NOERROR' && r.value.answers.some((a) => a.type === c.type);
  });
  if (answered) examples.dns = command(['dig', `@${e.dns.host}`, '-p', String(e.dns.port), '-t', answered.type, answered.name]);
  // LDAP: the administrator's simple bind, when AD accepts it.
  if (adAuthenticate(lab.get('ad'), { name: e.bindDn, password: e.bindPassword }).ok) {
    examples.ldap = command(['ldapsearch', '-x', '-H', e.ldap, '-D', e.bindDn, '-w', e.bindPassword, '-b', e.baseDn, '(msRTCSIP-UserEnabled=TRUE)', 'msRTCSIP-PrimaryUserAddress']);
  }
  // HTTPS: a page IIS answers 200 for a SIP user (else the administrator), named as the certificate names it.
  const httpsPort = new URL(e.https).port;
  const iis = lab.get(iisId(frontEnd));
  const account = e.users[0] ? { sam: e.users[0].sam, password: e.users[0].password } : { sam: t.administrator.sam, password: t.administrator.password };
  const user = `${t.forest.netbios}\\${account.sam}`;
  const pages = ['/GroupExpansion/Int/service.asmx', ...(e.addressBook ? [new URL(e.addressBook).pathname] : [])];
  const page = iis ? pages.find((path) => {
    const r = iisRequest(iis, { scheme: 'https', path, hostHeader: e.poolFqdn, credentials: { user, password: account.password } });
    return r.ok && r.value.status === 200;
  }) : undefined;
  if (page) examples.https = command(['curl', '--fail', '--cacert', e.caCertFile, '--resolve', `${e.poolFqdn}:${httpsPort}:127.0.0.1`, '-u', `${user}:${account.password}`, `https://${e.poolFqdn}:${httpsPort}${page}`]);
  // SIP over TLS: the handshake with the certificate the front end presents, verified when the lab's
  // root issued it, it is valid now and it carries the name (sip.<domain>, else the pool FQDN, else its CN).
  const assigned = ocsServer(lab.get('ocs'), frontEnd)?.certificate;
  const presented = assigned && hostCertificates(lab.get(hostId(frontEnd))).find((c) => c.thumbprint === assigned.thumbprint);
  if (e.sipTls && presented) {
    const names = [presented.subjectCN, ...presented.sans].map((n) => n.toLowerCase());
    const name = [`sip.${e.sipDomain}`, e.poolFqdn].find((n) => names.includes(n.toLowerCase())) ?? presented.subjectCN;
    const now = Date.now();
    const verifiable = Date.parse(presented.notBefore) <= now && now < Date.parse(presented.notAfter) && presented.issuer.includes(`CN=${t.ca.name}`);
    const connect = ['openssl', 's_client', '-connect', `${e.sipTls.host}:${e.sipTls.port}`, '-servername', name];
    examples.sip = `${command(verifiable ? [...connect, '-CAfile', e.caCertFile, '-verify_return_error', '-verify_hostname', name] : [...connect, '-showcerts'])} </dev/null`;
  }
  return examples;
}

/** The table `ocslab serve` prints once everything listens: each service, and an example command that works on it. */
export function endpointsTable(e: Endpoints, examples: ServeExamples = {}): string[] {
  const example = (text: string | undefined) => (text ? `   ${text}` : '');
  return [
    `DNS     ${e.dns.host}:${e.dns.port} (UDP and TCP)${example(examples.dns)}`,
    `LDAP    ${e.ldap}${example(examples.ldap)}`,
    `HTTPS   ${e.https}${example(examples.https)}`,
    `SIP     ${e.sipTls ? `TLS ${e.sipTls.host}:${e.sipTls.port}, TCP ${e.sipTcp?.host}:${e.sipTcp?.port}, ${e.sipWss}${example(examples.sip)}` : 'not listening'}`,
    `CA      ${e.caHttp}/CertEnroll/ (CRL, root certificate), ${e.caHttp}/certsrv/ (web enrollment); root certificate in ${e.caCertFile}`,
    `Users   ${usersLine(e)}`,
  ];
}

/** How many SIP-enabled users the table names before it only counts the rest (the endpoints file has them all). */
const USERS_SHOWN = 10;

function usersLine(e: Endpoints): string {
  if (!e.users.length) return '(none SIP-enabled)';
  const domain = e.bindDn.split('\\')[0] ?? '';
  const shown = e.users.slice(0, USERS_SHOWN).map((u) => `${u.sipUri} (${domain}\\${u.sam})`);
  const rest = e.users.length - shown.length;
  return rest > 0 ? `${shown.join(', ')} and ${rest.toLocaleString('en-US')} more (--endpoints-file lists them all)` : shown.join(', ');
}
