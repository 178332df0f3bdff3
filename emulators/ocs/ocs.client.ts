/**
 * How steps and tools use the OCS emulator: commands through `request()`, reads from the snapshot.
 */
import type { AnyActorRef } from 'xstate';
import { request } from '../../sim/emulator.js';
import type { Result } from '../../sim/result.js';
import type { AddServerArgs, ConfigurePoolArgs, CreatePoolArgs, EnableUsersArgs, MoveUsersArgs, OcsUpdate, RequestCertificateArgs } from './ocs.events.js';
import { deploymentPhase, type OcsContext } from './ocs.machine.js';
import { findPool, findServer, serverPhase, type OcsStore, type PoolRecord, type ServerPhase, type ServerRecord } from './ocs.store.js';
import type { CertificateWizardResult } from './ocs.certificates.js';
import type { UserOutcome } from './ocs.users.js';
import type { ContactChange, ContactChangeResult } from './ocs.contacts.js';

type Ref = AnyActorRef | undefined;
const call = <T>(ref: Ref, cmd: { type: string; [k: string]: unknown }): Result<T> => request<T>(ref, 'ocs.reply', cmd);

export const ocsCreatePool = (ref: Ref, a: CreatePoolArgs) => call<{ pool: string; fqdn: string; warnings: string[] }>(ref, { type: 'ocs.createPool', ...a });
export const ocsConfigurePool = (ref: Ref, a: ConfigurePoolArgs) => call<PoolRecord>(ref, { type: 'ocs.configurePool', ...a });
export const ocsAddServerToPool = (ref: Ref, a: AddServerArgs) => call<{ server: string; pool: string; warnings: string[]; setupLog: string[] }>(ref, { type: 'ocs.addServerToPool', ...a });
export const ocsRequestCertificate = (ref: Ref, a: RequestCertificateArgs) => call<CertificateWizardResult>(ref, { type: 'ocs.requestCertificate', ...a });
export const ocsCompletePendingCertificate = (ref: Ref, a: { server: string; assign?: boolean }) => call<CertificateWizardResult>(ref, { type: 'ocs.completePendingCertificate', ...a });
export const ocsEnableUsers = (ref: Ref, a: EnableUsersArgs) => call<{ users: UserOutcome[] }>(ref, { type: 'ocs.enableUsers', ...a });
export const ocsMoveUsers = (ref: Ref, a: MoveUsersArgs) => call<{ users: UserOutcome[] }>(ref, { type: 'ocs.moveUsers', ...a });
export const ocsApplyUpdate = (ref: Ref, a: { server: string; update: OcsUpdate }) => call<{ server: string; update: OcsUpdate }>(ref, { type: 'ocs.applyUpdate', ...a });
export const ocsRemoveUsers = (ref: Ref, a: { users: string[] }) => call<{ users: UserOutcome[] }>(ref, { type: 'ocs.removeUsers', ...a });
export const ocsAddContact = (ref: Ref, a: { user: string; contact: string; group?: string }) => call<{ user: string; contact: string; pool: string }>(ref, { type: 'ocs.addContact', ...a });
export const ocsChangeContactList = (ref: Ref, a: { user: string; change: ContactChange }) => call<ContactChangeResult>(ref, { type: 'ocs.changeContactList', ...a });
export const ocsReplicateNow = (ref: Ref) => call<undefined>(ref, { type: 'ocs.replicateNow' });
export const ocsSyncAddressBook = (ref: Ref, args: { pool: string }) => call<{ files: string[]; users: number }>(ref, { type: 'ocs.syncAddressBook', ...args });

function context(ref: Ref): OcsContext {
  if (!ref) throw new Error('ocs: no such actor in this lab');
  return (ref.getSnapshot() as { context: OcsContext }).context;
}

export const ocsStore = (ref: Ref): OcsStore => context(ref).store;
export const ocsPool = (ref: Ref, name: string): PoolRecord | undefined => findPool(ocsStore(ref), name);
export const ocsServer = (ref: Ref, name: string): ServerRecord | undefined => findServer(ocsStore(ref), name);
export const ocsServerPhase = (ref: Ref, name: string): ServerPhase => serverPhase(ocsServer(ref, name));
export const ocsDeploymentPhase = (ref: Ref): string => deploymentPhase(ocsStore(ref));
export const ocsWizardIdle = (ref: Ref): boolean => context(ref).running.durationMs === 0;
