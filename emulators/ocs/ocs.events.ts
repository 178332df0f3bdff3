/**
 * Office Communications Server 2007 R2 (the deployment in the forest): commands in, events out, input,
 * failure kinds. Steps and other tools use these types through `ocs.client.ts`; only `ocs.machine.ts`
 * handles them.
 */
import type { EventLogWrite, LabEvent } from '../../sim/journal.js';
import type { Failure, Result } from '../../sim/result.js';
import type { Topology } from '../../sim/topology.js';
import type { ServiceStartingQuery, ServiceStateChanged } from '../host/host.events.js';
import type { ContactChange } from './ocs.contacts.js';

export type OcsFailureKind =
  | 'ocs.prerequisiteMissing'
  | 'ocs.prepNotReady'
  | 'ocs.noSuchPool'
  | 'ocs.poolExists'
  | 'ocs.nameCollision'
  | 'ocs.backEndUnavailable'
  | 'ocs.noSuchServer'
  | 'ocs.notActivated'
  | 'ocs.caUnavailable'
  | 'ocs.certificatePending'
  | 'ocs.noPendingRequest'
  | 'ocs.serviceCannotStart'
  | 'ocs.noSuchUser'
  | 'ocs.noEmailAddress'
  | 'ocs.duplicateSipAddress'
  | 'ocs.sourcePoolUnavailable'
  | 'ocs.wizardBusy'
  | 'ocs.directoryError'
  | 'ocs.updateFailed'
  | 'ocs.badContactListChange';

export interface OcsFailure extends Failure {
  kind: OcsFailureKind;
}

export type SignInNameOption = 'email' | 'upn' | 'firstLast' | 'sam';

export interface CreatePoolArgs {
  pool: string;
  /** Back-end SQL host (short name); default the topology's back end for the pool. */
  backEnd?: string;
  /** UNC paths of the five shares (ocs-facts §1.4). */
  shares?: { meetingContent?: string; meetingMeta?: string; addressBook?: string; appData?: string; clientUpdate?: string };
}

export interface ConfigurePoolArgs {
  pool: string;
  sipDomains?: string[];
  defaultSipDomain?: string;
  automaticSignIn?: boolean;
  internalWebFarmFqdn?: string;
  externalWebFarmFqdn?: string;
}

export interface AddServerArgs {
  server: string;
  pool: string;
  installPath?: string;
  passwords: { RTCService: string; RTCComponentService: string; RTCGuestAccessUser: string };
}

export interface RequestCertificateArgs {
  server: string;
  mode: 'online' | 'offline';
  certificateName?: string;
  subjectName?: string;
  sans?: string[];
  organization: string;
  organizationalUnit: string;
  country: string;
  state: string;
  city: string;
  ca?: string;
  exportable?: boolean;
  assign?: boolean;
}

export interface EnableUsersArgs {
  users: string[];
  pool: string;
  signInName: SignInNameOption;
  sipDomain?: string;
}

export interface MoveUsersArgs {
  users: string[];
  toPool: string;
  force?: boolean;
}

export type OcsUpdate = 'KB967831' | 'KB972041';

type Req = { requestId: string };

export type OcsCommand =
  | ({ type: 'ocs.createPool' } & CreatePoolArgs & Req)
  | ({ type: 'ocs.configurePool' } & ConfigurePoolArgs & Req)
  | ({ type: 'ocs.addServerToPool' } & AddServerArgs & Req)
  | ({ type: 'ocs.requestCertificate' } & RequestCertificateArgs & Req)
  | ({ type: 'ocs.completePendingCertificate'; server: string; assign?: boolean } & Req)
  | ({ type: 'ocs.assignCertificate'; server: string; thumbprint: string } & Req)
  | ({ type: 'ocs.enableUsers' } & EnableUsersArgs & Req)
  | ({ type: 'ocs.moveUsers' } & MoveUsersArgs & Req)
  | ({ type: 'ocs.applyUpdate'; server: string; update: OcsUpdate } & Req)
  | ({ type: 'ocs.removeUsers'; users: string[] } & Req)
  | ({ type: 'ocs.addContact'; user: string; contact: string; group?: string } & Req)
  | ({ type: 'ocs.changeContactList'; user: string; change: ContactChange } & Req)
  | ({ type: 'ocs.replicateNow' } & Req)
  | ({ type: 'ocs.syncAddressBook'; pool: string } & Req)
  | ServiceStartingQuery
  | ServiceStateChanged;

export interface OcsEvent extends LabEvent {
  type: 'ocs.poolCreated' | 'ocs.poolConfigured' | 'ocs.serverActivated' | 'ocs.certificateAssigned' | 'ocs.certificateRequested' | 'ocs.userEnabled' | 'ocs.userMoved' | 'ocs.wizardWarning' | 'ocs.wizardCompleted' | 'ocs.usersReplicated' | 'ocs.updateApplied' | 'ocs.userRemoved' | 'ocs.contactAdded' | 'ocs.contactListChanged' | 'ocs.addressBookGenerated';
  summary: string;
}

export type OcsEmitted = { type: 'ocs.reply'; requestId: string; result: Result<unknown> } | OcsEvent | EventLogWrite;

export interface OcsInput {
  topology: Topology;
}
