/**
 * The emulated target's probes (decision 0016): the wire probes of sim/probes.wire.ts, dialling through
 * a lab network of their own, so a check reaches dc01's LDAP or the lab DNS exactly as a client on the
 * lab's network would (refused when nothing listens there, a timeout for an address no host has). The
 * network lives for one step and is closed after it: a check leaves no listener behind, and a lab
 * stays saveable between steps.
 */
import type { Lab } from '../../sim/lab.js';
import type { Probes } from '../../sim/probes.js';
import { WireProbes, type Dialer } from '../../sim/probes.wire.js';
import { LabNetwork } from './lab.network.js';
import { caInfo } from '../ca/ca.client.js';

/** Where the probes say they come from: the operator's workstation on the lab network. */
const OPERATOR = { address: '127.0.10.5', port: 0 };

/**
 * The lab answers on loopback in milliseconds, and what would keep silent on a real network (a host shut
 * down, a stopped DNS server behind its firewall) the lab network says at once; so a timeout here is a
 * bug in the lab, given long enough that a loaded CI machine never makes one up.
 */
const EMULATED_TIMEOUT_MS = 5000;

export interface ProbeSession {
  probes: Probes;
  close(): Promise<void>;
}

export function labProbes(lab: Lab): ProbeSession {
  let network: LabNetwork | undefined;
  const dialer: Dialer = {
    async dial(address, port) {
      network ??= new LabNetwork(lab);
      const r = await network.dial(address, port, OPERATOR);
      // The network's sentence names the address already; the probe adds it itself.
      const why = r.ok ? '' : r.detail.replace(/^no answer from [^ ]+: /, '').replace(/^connection refused by [^ ]+ \([^)]*\): /, '');
      if (!r.ok) return { ok: false, error: r.error === 'refused' ? `ECONNREFUSED (${why})` : `timeout (${why})` };
      return { ok: true, host: r.route.host, port: r.route.port, ...(r.hangUp ? { release: r.hangUp } : {}) };
    },
  };
  const t = lab.topology;
  // The operator's workstation is in the domain: it trusts the enterprise root CA once there is one.
  const httpsTrust = (): string[] => {
    const ca = lab.get('ca');
    if (!ca) return [];
    try {
      return [caInfo(ca).certPem];
    } catch {
      return [];
    }
  };
  const ids = lab.ids.fork('probes');
  const probes = new WireProbes({
    target: 'emulated',
    topology: t,
    dialer,
    admin: { name: `${t.forest.netbios}\\${t.administrator.sam}`, password: t.administrator.password },
    timeoutMs: EMULATED_TIMEOUT_MS,
    httpsTrust,
    bytes: (n) => ids.bytes(n),
    now: () => lab.clock.now(),
    kerberosStandIn: true,
  });
  return {
    probes,
    close: async () => {
      await probes.close();
      await network?.close();
    },
  };
}
