/**
 * What the OCS tools share: each is a function of (store, neighbours, arguments) -> (new store, what to
 * emit, the tool's answer), which the machine calls from its actions; none throws for a domain failure.
 * The tools: the Deployment Wizard (`ocs.deployment.ts`), the Certificate Wizard (`ocs.certificates.ts`),
 * ADUC's OCS pages (`ocs.users.ts`), the User Replicator (`ocs.replicator.ts`), the Address Book Server
 * (`ocs.addressbook.ts`) and the services' start-up decisions (`ocs.services.ts`).
 */
import { attributeValues } from '../ad/ad.store.js';
import type { LabEnv } from '../../sim/emulator.js';
import type { EventLogWrite } from '../../sim/journal.js';
import { fail, type Result } from '../../sim/result.js';
import type { Topology } from '../../sim/topology.js';
import type { OcsEvent, OcsFailure, OcsFailureKind } from './ocs.events.js';
import type { DirectoryEntry, OcsPeers } from './ocs.ports.js';
import { logWizard, type OcsStore } from './ocs.store.js';

export interface WizardContext {
  store: OcsStore;
  topology: Topology;
  env: LabEnv;
  peers: OcsPeers;
}

export type Emitted = OcsEvent | EventLogWrite;

export interface WizardOutcome<T> {
  store: OcsStore;
  emitted: Emitted[];
  result: Result<T>;
  /** Simulated time the wizard runs before its Finish page (the machine's `wizard.running` state). */
  durationMs: number;
}

export const failure = (kind: OcsFailureKind, message: string, details: Record<string, unknown> = {}): OcsFailure => ({ kind, message, ...details });

export function refused<T>(ctx: WizardContext, kind: OcsFailureKind, message: string, emitted: Emitted[] = [], details: Record<string, unknown> = {}): WizardOutcome<T> {
  return { store: logWizard(ctx.store, [`[Failure] ${message}`]), emitted, result: fail(failure(kind, message, details)), durationMs: 0 };
}

export const ev = (type: OcsEvent['type'], summary: string, extra: Record<string, unknown> = {}): OcsEvent => ({ type, summary, ...extra });

/** The first value of a directory entry's attribute. */
export const attr = (e: DirectoryEntry, name: string): string | undefined => attributeValues(e.attributes, name)?.[0];
