/**
 * An in-memory stand-in for the OCS emulator's neighbours, for machine tests only: a directory of
 * entries, host feature/service/certificate lists, SQL tables and DNS names as plain data. It implements
 * `OcsPeers`, nothing more; the real components live in their own folders.
 */
import { fail, ok } from '../../sim/result.js';
import type { ServiceStatus } from '../host/host.events.js';
import type { DirectoryEntry, HostCertificate, OcsPeers, PrepState } from './ocs.ports.js';

export interface FakeWorld {
  prep: PrepState;
  directory: DirectoryEntry[];
  features: Record<string, string[]>;
  services: Record<string, ServiceStatus[]>;
  certificates: Record<string, HostCertificate[]>;
  firewall: Record<string, boolean>;
  sqlOnline: Record<string, boolean>;
  tables: Map<string, { key: string; row: Record<string, unknown> }[]>;
  dnsA: Record<string, string[]>;
  caOnline: boolean;
  caPending: boolean;
  issued: number;
  starts: string[];
}

const DOMAIN = 'DC=corp,DC=example,DC=net';
export const RTC_DN = `CN=RTC Service,CN=Services,CN=Configuration,${DOMAIN}`;

export function fakeWorld(): FakeWorld {
  const user = (sam: string, n: number, mail?: string): DirectoryEntry => ({
    dn: `CN=OCS User ${n},CN=Users,${DOMAIN}`,
    attributes: { objectClass: ['top', 'person', 'user'], sAMAccountName: [sam], givenName: ['OCS'], sn: [`User${n}`], userPrincipalName: [`${sam}@corp.example.net`], ...(mail ? { mail: [mail] } : {}) },
  });
  const group = (cn: string): DirectoryEntry => ({ dn: `CN=${cn},CN=Users,${DOMAIN}`, attributes: { objectClass: ['top', 'group'], cn: [cn] } });
  return {
    prep: { schema: 'Ready', forest: 'Ready', domain: 'Ready' },
    directory: [
      user('ocsuser1', 1, 'ocsuser1@example.com'),
      user('ocsuser2', 2, 'ocsuser2@example.com'),
      user('nomail', 3),
      group('RTCHSUniversalServices'),
      group('RTCComponentUniversalServices'),
      group('RTCUniversalGuestAccessGroup'),
    ],
    features: { ocsfe01: ['Web-Server', 'Web-Windows-Auth', 'Web-Mgmt-Compat'] },
    services: { ocsfe01: [] },
    certificates: { ocsfe01: [] },
    firewall: { ocsfe01: true },
    sqlOnline: { sql01: true },
    tables: new Map(),
    dnsA: {},
    caOnline: true,
    caPending: false,
    issued: 0,
    starts: [],
  };
}

export function fakePeers(w: FakeWorld): OcsPeers {
  const find = (dn: string) => w.directory.find((e) => e.dn.toLowerCase() === dn.toLowerCase());
  const table = (host: string, db: string, t: string) => {
    const k = `${host}/${db}/${t}`;
    const rows = w.tables.get(k) ?? [];
    w.tables.set(k, rows);
    return rows;
  };
  return {
    ad: {
      prepState: () => w.prep,
      rtcServiceDn: () => RTC_DN,
      domainDn: () => DOMAIN,
      converged: () => true,
      add: (dn, attributes) => {
        if (find(dn)) return fail({ kind: 'ad.entryAlreadyExists', message: `${dn} exists` });
        w.directory.push({ dn, attributes });
        return ok(undefined);
      },
      modify: (dn, changes) => {
        const e = find(dn);
        if (!e) return fail({ kind: 'ad.noSuchObject', message: `${dn} not found` });
        for (const c of changes) {
          if (c.operation === 'replace') e.attributes[c.attribute] = [...c.values];
          else if (c.operation === 'add') e.attributes[c.attribute] = [...(e.attributes[c.attribute] ?? []), ...c.values];
          else delete e.attributes[c.attribute];
        }
        return ok(undefined);
      },
      modifyMany(items) {
        return ok(items.map((i) => this.modify(i.dn, i.changes)));
      },
      search: (base) => ok(w.directory.filter((e) => e.dn.toLowerCase().endsWith(base.toLowerCase()))),
      findUser: (sam) => w.directory.find((e) => e.attributes.sAMAccountName?.[0]?.toLowerCase() === sam.toLowerCase()),
      createUser: (u) => {
        w.directory.push({ dn: `CN=${u.sam},CN=Users,${DOMAIN}`, attributes: { objectClass: ['top', 'user'], sAMAccountName: [u.sam], passwordNeverExpires: [String(u.passwordNeverExpires)] } });
        return ok(undefined);
      },
      setPassword: () => ok(undefined),
    },
    host: {
      exists: (h) => h in w.features,
      features: (h) => w.features[h] ?? [],
      services: (h) => w.services[h] ?? [],
      certificates: (h) => w.certificates[h] ?? [],
      firewallEnabled: (h) => w.firewall[h] ?? false,
      installService: (h, spec) => {
        (w.services[h] ??= []).push({ ...spec, state: 'Stopped' });
        return ok(undefined);
      },
      startService: (h, name) => {
        w.starts.push(`${h}/${name}`);
        return ok(undefined);
      },
      stopService: () => ok(undefined),
      importCertificate: (h, c) => {
        const thumbprint = `thumb${++w.issued}`;
        const [cn, sans] = c.certPem.split('|');
        (w.certificates[h] ??= []).push({ thumbprint, subjectCN: cn ?? '', sans: (sans ?? '').split(',').filter(Boolean), friendlyName: c.friendlyName, notAfter: '2011-07-06T09:00:00Z', certPem: c.certPem });
        return ok({ thumbprint });
      },
      addFirewallRules: () => ok(undefined),
    },
    sql: {
      exists: (h) => h in w.sqlOnline,
      online: (h) => w.sqlOnline[h] ?? false,
      createPoolDatabases: () => ok(undefined),
      write: (h, db, t, key, row) => {
        const rows = table(h, db, t);
        const i = rows.findIndex((r) => r.key === key);
        if (i >= 0) rows.splice(i, 1);
        rows.push({ key, row });
        return ok(undefined);
      },
      writeRows(h, db, t, rows) {
        for (const r of rows) this.write(h, db, t, r.key, r.row);
        return ok(undefined);
      },
      read: (h, db, t) => ok([...table(h, db, t)]),
      delete: (h, db, t, key) => {
        const rows = table(h, db, t);
        const i = rows.findIndex((r) => r.key === key);
        if (i >= 0) rows.splice(i, 1);
        return ok(undefined);
      },
    },
    dns: { resolveA: (name) => w.dnsA[name] ?? [] },
    ca: {
      info: () => ({ name: 'corp-DC01-CA', hostFqdn: 'dc01.corp.example.net', configString: 'dc01.corp.example.net\\corp-DC01-CA', online: w.caOnline }),
      buildCsr: (subject, sans) => ({ csrPem: `${subject.CN}|${sans.join(',')}`, keyId: 'k1' }),
      submit: (csrPem) => (w.caPending ? ok({ status: 'pending' as const, requestId: 7 }) : ok({ status: 'issued' as const, requestId: 7, certPem: csrPem })),
      retrieve: () => ok({ status: 'pending' as const, requestId: 7 }),
      describe: (pem) => {
        const [cn, sans] = pem.split('|');
        return { subjectCN: cn ?? '', sans: (sans ?? '').split(',').filter(Boolean), thumbprint: '' };
      },
    },
    iis: { exists: () => true, installOcsWebComponents: () => ok(undefined), publishFiles: () => ok(undefined) },
  };
}
