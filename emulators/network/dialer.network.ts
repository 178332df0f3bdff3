/**
 * A client network built from a replay's `Dialer` (sim/replay.ts): the lab's Communicator, signing in to
 * a real target (or to `ocslab serve` through its endpoints file), reaches the target's servers at the
 * addresses the target file gives for the topology's hosts and pool VIPs, and asks the target's DNS
 * server. An address the topology does not have (what a real DNS server answers) is dialled as it is,
 * as a real client would.
 */
import type { Dialer } from '../../sim/probes.wire.js';
import type { Topology } from '../../sim/topology.js';
import type { Network } from './lab.network.js';

export function dialerNetwork(dialer: Dialer, topology: Topology): Network {
  const nameOf = (address: string): string | undefined => topology.hosts.find((h) => h.ip === address)?.name ?? topology.pools.find((p) => p.vip === address)?.name;
  return {
    async dns() {
      const server = topology.hosts.find((h) => h.roles.includes('dnsServer'));
      if (!server) throw new Error('the topology has no DNS server');
      const r = await dialer.dial(server.ip, 53);
      // Without a real address for it, the question goes nowhere useful: the client sees its DNS time out.
      return r.ok ? { host: r.host, port: r.port } : { host: server.ip, port: 53 };
    },
    async dial(address, port) {
      const name = nameOf(address);
      if (!name) return { ok: true, route: { host: address, port, server: address } };
      const r = await dialer.dial(address, port);
      if (!r.ok) return { ok: false, error: 'refused', detail: `connection refused by ${name} (${address}:${port}): ${r.error}` };
      return { ok: true, route: { host: r.host, port: r.port, server: name }, ...(r.release ? { hangUp: r.release } : {}) };
    },
  };
}
