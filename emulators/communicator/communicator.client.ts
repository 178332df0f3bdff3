/** How steps, faults and the later SIP client use the Communicator settings: commands and selectors. */
import type { AnyActorRef } from 'xstate';
import { request } from '../../sim/emulator.js';
import type { Result } from '../../sim/result.js';
import type { ClientEventEntry } from './communicator.discovery.js';
import type { ClientSettings, ClientSettingsPatch, CommunicatorEvent } from './communicator.events.js';
import { DEFAULT_CLIENT_SETTINGS, effectiveSettings, type CommunicatorContext } from './communicator.machine.js';

type Ref = AnyActorRef | undefined;

/** Changes one user's client settings, or every client's when `user` is undefined. */
export const communicatorConfigure = (ref: Ref, args: { user?: string; settings: ClientSettingsPatch }): Result<undefined> =>
  request(ref, 'communicator.reply', { type: 'communicator.configure', ...(args.user !== undefined ? { user: args.user } : {}), settings: args.settings });

/** Writes entries to a user's client Application log (source Communicator). */
export const communicatorLogEvents = (ref: Ref, args: { user: string; entries: ClientEventEntry[] }): Result<undefined> =>
  request(ref, 'communicator.reply', { type: 'communicator.logEvents', ...args });

/** Records what a client did on the wire in the journal (a step's "changes"). */
export const communicatorRecord = (ref: Ref, event: CommunicatorEvent): Result<undefined> => request(ref, 'communicator.reply', { type: 'communicator.record', event });

/** A user's effective client settings; the defaults when the lab has no Communicator actor. */
export function communicatorSettings(ref: Ref, user: string): ClientSettings {
  if (!ref) return { ...DEFAULT_CLIENT_SETTINGS };
  return effectiveSettings((ref.getSnapshot() as { context: CommunicatorContext }).context, user);
}
