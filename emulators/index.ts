/**
 * The registry: every emulator and its step vocabulary. The CLI hands this to the kernel (see
 * docs/decisions/0001-layers-and-registry.md). Order matters at start: hosts first, because components
 * read their host's services when they start; OCS after its neighbours; Communicator clients last.
 */
import type { EmulatorDefinition } from '../sim/emulator.js';
import type { StepDefinition } from '../sim/steps.js';
import type { FaultDefinition } from '../sim/faults.js';
import { coreSteps } from '../sim/core.steps.js';
import { hostEmulator, hostSteps } from './host/index.js';
import { adEmulator, adSteps } from './ad/index.js';
import { dnsEmulator, dnsSteps } from './dns/index.js';
import { caEmulator, caSteps } from './ca/index.js';
import { sqlEmulator, sqlSteps } from './sql/index.js';
import { iisEmulator, iisSteps } from './iis/index.js';
import { hlbEmulator, hlbSteps } from './hlb/index.js';
import { ocsEmulator, ocsSteps } from './ocs/index.js';
import { communicatorEmulator, communicatorSteps, communicatorsOnTarget } from './communicator/index.js';
import { hostFaults } from './host/host.faults.js';
import { adFaults } from './ad/ad.faults.js';
import { dnsFaults } from './dns/dns.faults.js';
import { iisFaults } from './iis/iis.faults.js';
import { ocsFaults } from './ocs/ocs.faults.js';
import { communicatorFaults } from './communicator/communicator.faults.js';
import { labProbes } from './network/lab.probes.js';
import { adPlanner } from './ad/ad.plan.js';
import { adApplier } from './ad/ad.apply.js';
import { dnsPlanner } from './dns/dns.plan.js';

export const emulators: readonly EmulatorDefinition[] = [hostEmulator, adEmulator, dnsEmulator, caEmulator, sqlEmulator, iisEmulator, hlbEmulator, ocsEmulator, communicatorEmulator];

export const steps: readonly StepDefinition[] = [...coreSteps, ...hostSteps, ...adSteps, ...dnsSteps, ...caSteps, ...sqlSteps, ...iisSteps, ...hlbSteps, ...ocsSteps, ...communicatorSteps];

/** The fault catalogue (`ocslab faults`): what goes wrong, each with its symptoms and fix. */
export const faults: readonly FaultDefinition[] = [...hostFaults, ...adFaults, ...dnsFaults, ...iisFaults, ...ocsFaults, ...communicatorFaults];

export const registry = {
  emulators: [...emulators],
  steps: [...steps],
  faults: [...faults],
  probes: labProbes,
  replay: { planners: [adPlanner, dnsPlanner], applier: adApplier, clients: communicatorsOnTarget },
};
