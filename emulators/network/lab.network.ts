/**
 * The lab's network on real sockets. The topology gives every host and pool VIP a loopback address and
 * the real ports (5061, 443, 53, 389, 80), but the listeners that serve them are bound to one address
 * (127.0.0.1 by default) on ports the operating system or `--port-base` chose. `dial(address, port)` is the
 * routing between the two, as the lab's switches and load balancer would do it:
 *
 * - a pool's virtual IP goes through the emulated hardware load balancer (`hlbConnect`): it picks the
 *   member (TCP affinity, health) or refuses, as the F5 would;
 * - a host's own address reaches that host;
 * - then the port picks the service on that host: 5061/5060 the front end's SIP (only while its
 *   Front-End service, RtcSrv, runs), 443/80 the front end's IIS, 53 the DNS server, 389 LDAP on a domain
 *   controller, 80 the CA's web enrollment on the CA.
 * Nothing listening there is "connection refused"; an address no host has is a timeout.
 *
 * Listeners start on first use and stay for the lab's life (`lab.resource`): the lab closes them when it
 * closes. A front end whose RtcSrv stops closes its SIP listeners (the adapter's own rule); the next dial
 * after RtcSrv runs again starts them afresh. `ocslab serve` uses the same network with fixed ports, so
 * real clients and the lab's own Communicator clients meet the same listeners.
 */
import type { Lab } from '../../sim/lab.js';
import type { Listening } from '../../sim/wire.js';
import { startDnsServer } from '../dns/dns.wire.adapter.js';
import { startLdapServer, type LdapListening } from '../ad/ad.ldap.adapter.js';
import { startCaHttp, type CaHttpListening } from '../ca/ca.http.adapter.js';
import { startIisHttps, type IisListening } from '../iis/iis.https.adapter.js';
import { startSipFrontEnd, type SipListening } from '../ocs/ocs.sip.adapter.js';
import { hlbConnect, hlbDisconnect } from '../hlb/hlb.client.js';
import { hostService, hostShutDown } from '../host/host.client.js';
import { dnsOnline } from '../dns/dns.client.js';
import { hostId } from '../host/host.events.js';
import { FRONT_END_SERVICE } from '../ocs/ocs.store.js';

/** Ports for the first instance of each listener (`ocslab serve --port-base`); 0 or absent = free port. */
export interface NetworkPorts {
  dns?: number;
  ldap?: number;
  https?: number;
  http?: number;
  caHttp?: number;
  sipTls?: number;
  sipTcp?: number;
  sipWss?: number;
}

export interface NetworkOptions {
  /** Where every listener binds; default 127.0.0.1. */
  host?: string;
  ports?: NetworkPorts;
  /** Errors of running listeners (a handler that threw); the listener keeps serving. */
  onError?: (error: unknown) => void;
  /** The front ends also offer Digest on SIP, for generic SIP clients (a lab extension; `SipListenOptions.digest`). */
  sipDigest?: boolean;
}

/** Where a dialled lab address and port really are, and which host answered. */
export interface Route {
  host: string;
  port: number;
  /** The topology host (short name) that accepted the connection. */
  server: string;
}

/**
 * Where a dial leads. `hangUp`, when the network gives one, is for the caller to call once its connection
 * to the route has closed (or was never made): the load balancer keeps the connection in its table, and
 * counts it, until then.
 */
export type DialResult = { ok: true; route: Route; hangUp?: () => void } | { ok: false; error: 'refused' | 'timeout'; detail: string };

export interface DialFrom {
  /** The client's own lab address and source port (the load balancer's affinity key). */
  address: string;
  port: number;
}

export const NETWORK_RESOURCE = 'network';

/**
 * What a client needs of a network: its DNS server, and a way to reach an address and port. The lab's
 * own network (below) routes through the emulated load balancer; a network built from `ocslab serve`'s
 * endpoints (or real servers) maps the same addresses to fixed listeners.
 */
export interface Network {
  dns(): Promise<{ host: string; port: number }>;
  dial(address: string, port: number, from: DialFrom): Promise<DialResult>;
}

export class LabNetwork implements Network {
  private readonly host: string;
  private readonly ports: NetworkPorts;
  private readonly onError: (error: unknown) => void;
  private readonly sipDigest: boolean;
  private dnsL?: Promise<Listening>;
  private readonly ldapL = new Map<string, Promise<LdapListening>>();
  private caL?: Promise<CaHttpListening>;
  private readonly iisL = new Map<string, Promise<IisListening>>();
  private readonly sipL = new Map<string, Promise<SipListening>>();
  private readonly started: Array<Promise<{ stop(): Promise<void> }>> = [];
  private readonly unwatch: Array<() => void> = [];
  private closed = false;

  constructor(readonly lab: Lab, options: NetworkOptions = {}) {
    this.host = options.host ?? '127.0.0.1';
    this.ports = options.ports ?? {};
    this.onError = options.onError ?? (() => undefined);
    this.sipDigest = options.sipDigest === true;
  }

  private track<T extends { stop(): Promise<void> }>(p: Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the lab network is closed'));
    this.started.push(p);
    return p;
  }

  /** The lab's DNS server (dc01's role), UDP and TCP. */
  dns(): Promise<Listening> {
    return (this.dnsL ??= this.track(startDnsServer(this.lab, { host: this.host, port: this.ports.dns ?? 0 })));
  }

  /**
   * LDAP of a domain controller (short host name; default the first, the PDC emulator, which takes the
   * configured port). Each DC answers from its own replica, so a check against dc02 sees what has
   * replicated to dc02.
   */
  ldap(dc?: string): Promise<LdapListening> {
    const first = this.lab.topology.hosts.find((h) => h.roles.includes('domainController'))?.name.toLowerCase();
    const key = (dc ?? first ?? '').toLowerCase();
    let p = this.ldapL.get(key);
    if (!p) {
      const isFirst = key === first;
      p = this.track(startLdapServer(this.lab, { host: this.host, port: isFirst ? (this.ports.ldap ?? 0) : 0, ...(isFirst ? {} : { dc: key }) }));
      this.ldapL.set(key, p);
    }
    return p;
  }

  caHttp(): Promise<CaHttpListening> {
    return (this.caL ??= this.track(startCaHttp(this.lab, { host: this.host, port: this.ports.caHttp ?? 0 })));
  }

  /** IIS of a front end (short host name); the first one takes the configured ports. */
  iis(server: string): Promise<IisListening> {
    const key = server.toLowerCase();
    let p = this.iisL.get(key);
    if (!p) {
      const first = this.iisL.size === 0;
      p = this.track(startIisHttps(this.lab, { host: this.host, server: key, httpsPort: first ? (this.ports.https ?? 0) : 0, httpPort: first ? (this.ports.http ?? 0) : 0 }));
      this.iisL.set(key, p);
    }
    return p;
  }

  /** Whether a front end's Front-End service (RtcSrv) runs: its SIP listeners exist only then. */
  frontEndRunning(server: string): boolean {
    return hostService(this.lab.get(hostId(server.toLowerCase())), FRONT_END_SERVICE)?.state === 'Running';
  }

  /** A front end's SIP listeners (TLS, TCP, WSS); rejects while RtcSrv is not running. */
  sip(server: string): Promise<SipListening> {
    const key = server.toLowerCase();
    const existing = this.sipL.get(key);
    if (existing) return existing;
    if (!this.frontEndRunning(key)) return Promise.reject(new Error(`the ${FRONT_END_SERVICE} service on ${key} is not running`));
    const first = [...this.sipL.keys()].length === 0 && !this.sipEverStarted;
    this.sipEverStarted = true;
    const p = this.track(
      startSipFrontEnd(this.lab, {
        host: this.host,
        frontEnd: key,
        tlsPort: first ? (this.ports.sipTls ?? 0) : 0,
        tcpPort: first ? (this.ports.sipTcp ?? 0) : 0,
        wssPort: first ? (this.ports.sipWss ?? 0) : 0,
        onError: this.onError,
        digest: this.sipDigest,
      }),
    );
    this.sipL.set(key, p);
    p.catch(() => this.sipL.delete(key));
    // The adapter closes itself when RtcSrv stops; forget it then, so the next dial starts it again.
    const hostRef = this.lab.get(hostId(key));
    const sub = hostRef?.subscribe({
      next: () => {
        if (!this.frontEndRunning(key) && this.sipL.get(key) === p) {
          this.sipL.delete(key);
          sub?.unsubscribe();
        }
      },
      error: () => undefined,
    });
    if (sub) this.unwatch.push(() => sub.unsubscribe());
    return p;
  }

  private sipEverStarted = false;

  /**
   * Connects a lab address and port to the listener that serves it. The caller opens the real socket to
   * the route (and sees ECONNREFUSED itself when, say, IIS has no https binding yet).
   */
  async dial(address: string, port: number, from: DialFrom): Promise<DialResult> {
    const t = this.lab.topology;
    let server: string | undefined;
    let hangUp: (() => void) | undefined;
    const pool = t.pools.find((p) => p.vip === address);
    if (pool) {
      const args = { pool: pool.name, clientAddress: from.address, clientPort: from.port, port };
      const r = hlbConnect(this.lab.get('hlb'), args);
      if (!r.ok) return { ok: false, error: 'refused', detail: `${address}:${port} (${pool.fqdn}): ${r.failure.message}` };
      let open = true;
      hangUp = () => {
        if (!open) return;
        open = false;
        if (!this.closed) hlbDisconnect(this.lab.get('hlb'), args);
      };
      server = (r.value.server.split('.')[0] ?? r.value.server).toLowerCase();
    } else {
      server = t.hosts.find((h) => h.ip === address)?.name.toLowerCase();
    }
    const routed = await this.route(address, port, server);
    if (!routed.ok) hangUp?.();
    return routed.ok && hangUp ? { ...routed, hangUp } : routed;
  }

  /** The listener behind a host's address and port. */
  private async route(address: string, port: number, server: string | undefined): Promise<DialResult> {
    const t = this.lab.topology;
    if (!server) return { ok: false, error: 'timeout', detail: `no answer from ${address}:${port}: no host has this address` };
    const spec = t.hosts.find((h) => h.name.toLowerCase() === server);
    const roles = spec?.roles ?? [];
    const refused = (why: string): DialResult => ({ ok: false, error: 'refused', detail: `connection refused by ${server} (${address}:${port}): ${why}` });
    const silent = (why: string): DialResult => ({ ok: false, error: 'timeout', detail: `no answer from ${address}:${port}: ${why}` });
    // A host that is shut down answers nothing; a stopped DNS Server behind the Windows Firewall drops
    // queries (the adapter's own rule, told here so a client need not wait for its timeout).
    const hostRef = this.lab.get(hostId(server));
    if (hostRef && hostShutDown(hostRef)) return silent(`${server} is shut down`);
    if (port === 53 && roles.includes('dnsServer') && this.lab.get('dns') && !dnsOnline(this.lab.get('dns'))) return silent('the DNS Server service is not running on any DNS server');
    const at = (l: { host: string; port: number }): DialResult => ({ ok: true, route: { host: l.host, port: l.port, server } });
    try {
      if ((port === 5061 || port === 5060) && roles.includes('ocsFrontEnd')) {
        if (!this.frontEndRunning(server)) return refused(`the ${FRONT_END_SERVICE} service is not running`);
        const sip = await this.sip(server);
        return at(port === 5061 ? sip.tls : sip.tcp);
      }
      if ((port === 443 || port === 80) && roles.includes('ocsFrontEnd')) {
        const iis = await this.iis(server);
        return at({ host: iis.host, port: port === 443 ? iis.port : iis.httpPort });
      }
      if (port === 53 && roles.includes('dnsServer')) return at(await this.dns());
      if (port === 389 && roles.includes('domainController')) return at(await this.ldap(server));
      if (port === 80 && roles.includes('enterpriseRootCa')) return at(await this.caHttp());
    } catch (e) {
      return refused(e instanceof Error ? e.message.replace(/^\w+: /, '') : String(e));
    }
    return refused('nothing listens on this port');
  }

  /** Whether any listener was started on this network. */
  used(): boolean {
    return this.started.length > 0;
  }

  /** Closes every listener this network started. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const u of this.unwatch.splice(0)) u();
    const all = await Promise.allSettled(this.started.splice(0));
    await Promise.allSettled(all.flatMap((r) => (r.status === 'fulfilled' ? [r.value.stop()] : [])));
  }
}

/** The lab's network, created on first use with these options and closed with the lab. */
export function labNetwork(lab: Lab, options: NetworkOptions = {}): LabNetwork {
  return lab.resource(NETWORK_RESOURCE, () => {
    const network = new LabNetwork(lab, options);
    // A network nothing has used yet (serve's, made before the rehearsal reaches a client) holds nothing.
    return { value: network, close: () => network.close(), holds: () => network.used() };
  });
}
