/**
 * A network made of fixed endpoints: what `ocslab serve` wrote to its endpoints file (or, later, a real
 * pool's listeners). The client still discovers the pool the way Communicator does (SRV, then the A
 * record of the target) and dials the lab address it learnt; this network is the routing from those lab
 * addresses (the pool's virtual IP, a front end's own address) and the real ports to the listeners:
 *
 * - 5061 → SIP over TLS, 5060 → SIP over TCP (only when the front end's SIP listens);
 * - 443 → the front end's IIS (https);
 * - 53 → the lab's DNS server.
 *
 * Anything else is "connection refused"; an address that is not the pool's is a timeout, as on
 * `LabNetwork`. The load balancer's choice happened on the serving side, so the member that answers is
 * not known here: routes name the pool (or the front end dialled) instead.
 */
import type { LookupType, ResolverAnswer } from '../communicator/communicator.discovery.js';
import type { DialFrom, DialResult, Network, Route } from './lab.network.js';

/** The part of `ocslab serve`'s endpoints (cli/serve.ts `Endpoints`) a client needs to reach the pool. */
export interface ServedEndpoints {
  dns: { host: string; port: number };
  /** `https://host:port` of the front end's IIS. */
  https: string;
  sipTls: { host: string; port: number } | null;
  sipTcp: { host: string; port: number } | null;
  poolFqdn: string;
}

/** A lab address the endpoints answer for, and the name routes give for it. */
export interface EndpointAddress {
  address: string;
  server: string;
}

/** A DNS question, as the client asks it (a `Resolver` from communicator.discovery.ts fits). */
export type AddressLookup = (name: string, type: LookupType) => ResolverAnswer | Promise<ResolverAnswer>;

export class EndpointsNetwork implements Network {
  private readonly servers = new Map<string, string>();
  private readonly https: { host: string; port: number };

  constructor(private readonly endpoints: ServedEndpoints, addresses: readonly EndpointAddress[]) {
    for (const a of addresses) this.servers.set(a.address, a.server.toLowerCase());
    const url = new URL(endpoints.https);
    this.https = { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 443) };
  }

  /**
   * The network for a served pool, its addresses taken from the lab's own DNS: the A records of the
   * pool FQDN (its virtual IP) and of any other names given (a front end's FQDN).
   */
  static async fromDns(endpoints: ServedEndpoints, lookup: AddressLookup, otherNames: readonly string[] = []): Promise<EndpointsNetwork> {
    const addresses: EndpointAddress[] = [];
    for (const name of [endpoints.poolFqdn, ...otherNames]) {
      const answer = await lookup(name, 'A');
      if (answer.rcode !== 'NOERROR') continue;
      const server = (name.split('.')[0] ?? name).toLowerCase();
      for (const r of answer.records) if (r.type === 'A') addresses.push({ address: r.address, server });
    }
    return new EndpointsNetwork(endpoints, addresses);
  }

  /** The addresses this network answers for. */
  addresses(): string[] {
    return [...this.servers.keys()];
  }

  async dns(): Promise<{ host: string; port: number }> {
    return this.endpoints.dns;
  }

  async dial(address: string, port: number, _from: DialFrom): Promise<DialResult> {
    const server = this.servers.get(address);
    if (server === undefined) return { ok: false, error: 'timeout', detail: `no answer from ${address}:${port}: not an address of ${this.endpoints.poolFqdn}` };
    const at = (l: { host: string; port: number }): DialResult => ({ ok: true, route: { host: l.host, port: l.port, server } satisfies Route });
    const refused = (why: string): DialResult => ({ ok: false, error: 'refused', detail: `connection refused by ${server} (${address}:${port}): ${why}` });
    switch (port) {
      case 5061:
        return this.endpoints.sipTls ? at(this.endpoints.sipTls) : refused('SIP over TLS is not listening');
      case 5060:
        return this.endpoints.sipTcp ? at(this.endpoints.sipTcp) : refused('SIP over TCP is not listening');
      case 443:
        return at(this.https);
      case 53:
        return at(this.endpoints.dns);
      default:
        return refused('nothing listens on this port');
    }
  }
}
