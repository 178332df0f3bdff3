/**
 * `OcsPeers` over a lab's actor system: the neighbours' clients by systemId. AD is reached with its
 * commands (`ad.*` through `request()`, see ad.events.ts); the preparation state and replication are
 * the AD emulator's own LCSCmd Check*PrepState view.
 */
import { request } from '../../sim/emulator.js';
import type { IdSource } from '../../sim/ids.js';
import { fail, ok, type Result } from '../../sim/result.js';
import { domainDn as domainDnOf, type Topology } from '../../sim/topology.js';
import type { AdCommand, AdSearchEntry } from '../ad/ad.events.js';
import { adFindUser, adIsConverged, adPrepState, adRtcServiceDn } from '../ad/ad.client.js';
import { caInfo, caRetrieve, caSubmitRequest } from '../ca/ca.client.js';
import { describeCertificate } from '../ca/certificate.js';
import { takeKey } from '../ca/keyring.js';
import { buildCsr } from '../ca/pki.js';
import { dnsQuery } from '../dns/dns.client.js';
import { hostId } from '../host/host.events.js';
import {
  hostAddFirewallRules,
  hostCertificates,
  hostFeatures,
  hostFirewallEnabled,
  hostImportCertificate,
  hostInstallService,
  hostServices,
  hostStartService,
  hostStopService,
} from '../host/host.client.js';
import { iisInstallOcsWebComponents, iisPublishFiles } from '../iis/iis.client.js';
import { sqlCreatePoolDatabases, sqlDelete, sqlOnline, sqlRead, sqlWrite, sqlWriteRows } from '../sql/sql.client.js';
import { sqlId } from '../sql/sql.events.js';
import type { ActorLookup, DirectoryEntry, OcsPeers, PrepState } from './ocs.ports.js';

type AdRequest = AdCommand extends infer C ? (C extends { requestId: string } ? Omit<C, 'requestId'> : never) : never;

export function systemPeers(topology: Topology, ids: IdSource): (system: ActorLookup) => OcsPeers {
  const domain = domainDnOf(topology.forest.fqdn);
  return (system) => {
    const ad = <T>(cmd: AdRequest): Result<T> => request<T>(system.get('ad'), 'ad.reply', cmd as { type: string });
    const search = (base: string, scope: 'base' | 'one' | 'sub', filter: string): Result<DirectoryEntry[]> => {
      const r = ad<AdSearchEntry[]>({ type: 'ad.search', base, scope, filter });
      return r.ok ? ok(r.value.map((e) => ({ dn: e.dn, attributes: e.attributes }))) : r;
    };
    const rtcServiceDn = () => adRtcServiceDn(system.get('ad')) ?? `CN=RTC Service,CN=Services,CN=Configuration,${domain}`;
    const findUser = (sam: string) => adFindUser(system.get('ad'), sam);
    const host = (name: string) => system.get(hostId(name));
    const sql = (name: string) => system.get(sqlId(name));
    return {
      ad: {
        prepState: (): PrepState => adPrepState(system.get('ad')),
        rtcServiceDn,
        domainDn: () => domain,
        converged: () => adIsConverged(system.get('ad')),
        add: (dn, attributes) => ad({ type: 'ad.add', dn, attributes }),
        modify: (dn, changes) => ad({ type: 'ad.modify', dn, changes }),
        modifyMany: (items) => ad({ type: 'ad.modifyMany', items }),
        search,
        findUser,
        createUser: (u) => ad({ type: 'ad.createUser', sam: u.sam, ...(u.givenName ? { givenName: u.givenName } : {}), ...(u.sn ? { sn: u.sn } : {}), displayName: u.displayName, password: u.password, passwordNeverExpires: u.passwordNeverExpires } as AdRequest),
        setPassword: (sam, password) => ad({ type: 'ad.setPassword', sam, password }),
      },
      host: {
        exists: (name) => !!host(name),
        features: (name) => hostFeatures(host(name)),
        services: (name) => hostServices(host(name)),
        certificates: (name) => hostCertificates(host(name)),
        firewallEnabled: (name) => hostFirewallEnabled(host(name)),
        installService: (name, service, password) => hostInstallService(host(name), password === undefined ? { service } : { service, password }),
        startService: (name, svc) => hostStartService(host(name), { name: svc }),
        stopService: (name, svc) => hostStopService(host(name), { name: svc }),
        importCertificate: (name, c) => hostImportCertificate(host(name), c),
        addFirewallRules: (name, rules) => hostAddFirewallRules(host(name), { rules }),
      },
      sql: {
        exists: (name) => !!sql(name),
        online: (name) => !!sql(name) && sqlOnline(sql(name)),
        createPoolDatabases: (name, pool) => sqlCreatePoolDatabases(sql(name), { pool }),
        write: (name, database, table, key, row) => sqlWrite(sql(name), { database, table, key, row }),
        writeRows: (name, database, table, rows) => sqlWriteRows(sql(name), { database, table, rows }),
        read: (name, database, table, key) => {
          const r = sqlRead(sql(name), key === undefined ? { database, table } : { database, table, key });
          return r.ok ? ok(r.value.map((x) => ({ key: x.key, row: x.row as Record<string, unknown> }))) : r;
        },
        delete: (name, database, table, key) => sqlDelete(sql(name), { database, table, key }),
      },
      dns: {
        resolveA: (name) => {
          const ref = system.get('dns');
          if (!ref) return [];
          const r = dnsQuery(ref, { name, type: 'A' });
          return r.ok && r.value.rcode === 'NOERROR' ? r.value.answers.filter((a) => a.type === 'A').map((a) => String(a.data)) : [];
        },
      },
      ca: {
        info: () => {
          const ref = system.get('ca');
          if (!ref) return undefined;
          const i = caInfo(ref);
          return { name: i.name, hostFqdn: i.hostFqdn, configString: i.configString, online: i.online };
        },
        buildCsr: (subject, sans, exportable) => {
          const key = takeKey(ids);
          const csr = buildCsr({ key, subject, sans, exportable });
          return { csrPem: csr.csrPem, keyId: csr.keyId };
        },
        submit: (csrPem, requester) => {
          const r = caSubmitRequest(system.get('ca'), { csrPem, template: 'WebServer', requester });
          return r.ok ? ok(r.value) : fail({ kind: r.failure.kind, message: r.failure.message });
        },
        retrieve: (requestId) => {
          const r = caRetrieve(system.get('ca'), { requestId: Number(requestId) });
          if (!r.ok) return fail({ kind: r.failure.kind, message: r.failure.message });
          if (r.value.status === 'revoked') return fail({ kind: 'ca.badRequestStatus', message: `Request ${r.value.requestId} was issued and then revoked.` });
          return ok(r.value);
        },
        describe: (pem) => {
          const d = describeCertificate(pem);
          return { subjectCN: d.subject.CN ?? '', sans: d.sans, thumbprint: '' };
        },
      },
      iis: {
        exists: (name) => !!system.get(`iis:${name}`),
        installOcsWebComponents: (name, args) => iisInstallOcsWebComponents(system.get(`iis:${name}`), args),
        publishFiles: (name, vdir, files) => iisPublishFiles(system.get(`iis:${name}`), { vdir, files }),
      },
    };
  };
}
