/** Test topology for the AD emulator: the default one, with its users already in the directory. */
import { defaultTopology, type Topology } from '../../sim/topology.js';

export function topologyWithUsers(): Topology {
  const t = defaultTopology();
  return { ...t, users: t.users.map((u) => ({ ...u, existsAtStart: true })) };
}
