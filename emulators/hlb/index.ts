import type { EmulatorDefinition } from '../../sim/emulator.js';
import { HLB_ID, type HlbInput } from './hlb.events.js';
import { hlbMachine } from './hlb.machine.js';

export { hlbSteps } from './hlb.steps.js';
export * from './hlb.client.js';
export * from './hlb.events.js';

/** The one hardware load balancer of the lab, able to front every pool of the topology. */
export const hlbEmulator: EmulatorDefinition = {
  kind: 'hlb',
  instances: (topology) => {
    const ipOf = (name: string) => topology.hosts.find((h) => h.name === name.toLowerCase())?.ip ?? '';
    const input: HlbInput = {
      name: topology.hlb.name,
      pools: topology.pools.map((p) => ({ name: p.name.toLowerCase(), fqdn: p.fqdn, vip: p.vip, members: p.frontEnds.map((fe) => ({ server: fe.toLowerCase(), ip: ipOf(fe) })) })),
    };
    return [{ systemId: HLB_ID, logic: hlbMachine, input }];
  },
};
