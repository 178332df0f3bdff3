/**
 * Office Communicator 2007 R2 clients: the settings each user's client holds, the commands that change
 * them, and what the clients write to the journal.
 */
import type { LabEnv } from '../../sim/emulator.js';
import type { EventLogWrite, LabEvent } from '../../sim/journal.js';
import type { Result } from '../../sim/result.js';
import type { ClientEventEntry, ManualServer } from './communicator.discovery.js';

export const COMMUNICATOR_ID = 'communicator';

/** The pseudo-host whose Application log holds a user's client events ("client-ocsuser1"). */
export const clientHost = (user: string): string => `client-${user.toLowerCase()}`;

export interface ClientSettings {
  /** Whether the client's Trusted Root Certification Authorities hold the lab's enterprise root CA. */
  trustLabCa: boolean;
  /** A-record fallback labels, in order (`sipinternal`, `sip`, `sipexternal`). */
  aFallbacks: string[];
  /** Whether the client may use TCP (adds `_sipinternal._tcp`). */
  allowTcp: boolean;
  /** Manual configuration (Tools > Options > Personal > Advanced); absent means automatic. */
  manual?: ManualServer;
  /** The sign-in address the user types (remembered by Communicator); absent means the address the operator gave. */
  signInAddress?: string;
}

/** A change of settings; `null` clears an optional setting. */
export interface ClientSettingsPatch {
  trustLabCa?: boolean;
  aFallbacks?: string[];
  allowTcp?: boolean;
  manual?: ManualServer | null;
  signInAddress?: string | null;
}

export interface CommunicatorInput {
  env: LabEnv;
  defaults?: Partial<ClientSettings>;
}

export type CommunicatorCommand =
  /** `user` undefined: every client (Group Policy). */
  | { type: 'communicator.configure'; requestId: string; user?: string; settings: ClientSettingsPatch }
  | { type: 'communicator.logEvents'; requestId: string; user: string; entries: ClientEventEntry[] }
  /** What a client did on the wire (signed in, failed, sent an IM): into the journal, so reports show it. */
  | { type: 'communicator.record'; requestId: string; event: CommunicatorEvent };

export interface CommunicatorEvent extends LabEvent {
  type: 'communicator.settingsChanged' | 'communicator.signedIn' | 'communicator.signInFailed' | 'communicator.signedOut' | 'communicator.imSent' | 'communicator.presencePublished' | 'communicator.contactAdded';
  summary: string;
  user: string;
}

export type CommunicatorEmitted = { type: 'communicator.reply'; requestId: string; result: Result<unknown> } | CommunicatorEvent | EventLogWrite;
