import type { EmulatorDefinition } from '../../sim/emulator.js';
import { DNS_ID, type DnsInput } from './dns.events.js';
import { dnsMachine } from './dns.machine.js';

export { dnsSteps } from './dns.steps.js';
export * from './dns.client.js';
export * from './dns.events.js';

/** One DNS view for the lab, served by every host with the dnsServer role. */
export const dnsEmulator: EmulatorDefinition = {
  kind: 'dns',
  instances: (topology) => {
    const input: DnsInput = {
      servers: topology.hosts.filter((h) => h.roles.includes('dnsServer')).map((h) => ({ name: h.name, fqdn: h.fqdn })),
      forest: topology.forest.fqdn,
      hosts: topology.hosts.map((h) => ({ name: h.name, fqdn: h.fqdn, ip: h.ip, domainController: h.roles.includes('domainController') })),
      sipDomains: topology.sipDomains,
    };
    return [{ systemId: DNS_ID, logic: dnsMachine, input }];
  },
};
