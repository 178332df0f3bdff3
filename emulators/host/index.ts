import type { EmulatorDefinition } from '../../sim/emulator.js';
import { baseServices, featureInfo, roleServices } from './host.catalog.js';
import { resolveFeatures } from './host.store.js';
import { hostId, type HostInput, type ServiceStatus } from './host.events.js';
import { hostMachine } from './host.machine.js';

export { hostSteps } from './host.steps.js';
export { hostMachine } from './host.machine.js';

/** One actor per server of the topology; roles decide the services and features present at start. */
export const hostEmulator: EmulatorDefinition = {
  kind: 'host',
  instances: (topology, env) =>
    topology.hosts.map((spec) => {
      const roles = spec.roles.map((r) => roleServices(r, spec.name));
      const roleFeatures = roles.flatMap((r) => r.features);
      const features = [...roleFeatures, ...resolveFeatures(roleFeatures, spec.features).add];
      const featureServices = features.flatMap((id) => featureInfo(id)?.services?.(spec.name) ?? []);
      const services: ServiceStatus[] = [...baseServices(), ...roles.flatMap((r) => r.services), ...featureServices];
      const input: HostInput = { env: env(hostId(spec.name)), spec, netbios: topology.forest.netbios, services, features, firewallEnabled: true, certificates: [], firewallRules: [] };
      return { systemId: hostId(spec.name), logic: hostMachine, input };
    }),
};
