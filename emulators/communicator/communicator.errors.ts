/**
 * What Office Communicator 2007 R2 shows when sign-in or the address book download fails (ocs-facts §6),
 * and the mapping from what went wrong underneath to the one message the user reads.
 */
import type { RegisterOutcome } from '../ocs/ocs.registrar.js';

export const COMMUNICATOR_MESSAGES = {
  /** [V] TechNet R2 "Common Issues with Sign-in and Discovery" (dd637123). */
  credentials:
    'Cannot sign in to Communicator. You may have entered your sign-in address, user name, or password incorrectly, or the authentication service may be incompatible with the version of the program.',
  /** [B/V] Perficient 2007; OCS 2007 Resource Kit. */
  unavailable: 'Cannot sign in because the server is temporarily unavailable. If the problem persists, contact your system administrator.',
  /** [B] InsideOCS. */
  enhancedPresence: 'You will not be able to sign in because your account is not configured to support enhanced presence features',
  /**
   * [U] for MOC 2007 R2: this is the wording confirmed for Lync 2010/2013 (KB 2604176) without its
   * "Cannot sign into Lync." prefix; the exact Communicator 2007 R2 dialog text is not sourced.
   */
  certificate: 'There was a problem verifying the certificate from the server.',
  /** [B] blankmanblog. */
  addressBook: 'Cannot synchronize with the corporate address book. The cause of the problem is unknown. Please contact your system administrator with this information.',
} as const;

export type CommunicatorMessageKind = keyof typeof COMMUNICATOR_MESSAGES;

/** Where sign-in stopped: what the client found underneath the message it shows. */
export type SignInStage = 'discovery' | 'connect' | 'tls' | 'register';

export interface SignInFailure {
  stage: SignInStage;
  kind: CommunicatorMessageKind;
  /** Communicator's own text: all the user sees. */
  message: string;
  /** What the trace shows (a lookup, a refused connection, a SIP response): for the operator's digging. */
  detail: string;
}

export const signInFailure = (stage: SignInStage, kind: CommunicatorMessageKind, detail: string): SignInFailure => ({ stage, kind, message: COMMUNICATOR_MESSAGES[kind], detail });

/** The message for a REGISTER the front end refused. */
export function registerMessageKind(outcome: Exclude<RegisterOutcome, { status: 200 }>): CommunicatorMessageKind {
  switch (outcome.cause) {
    case 'enhancedPresence':
      return 'enhancedPresence';
    case 'notHomed':
    case 'poolDown':
      return 'unavailable';
    case 'badCredentials':
    case 'unknownUri':
    case 'uriNotOwned':
    case 'userDisabled':
      return 'credentials';
  }
}

/** What Communicator shows when an IM is refused, by the SIP answer [B] (ocs-facts §8.19). */
export function imFailureMessage(to: string, a: { status: number; reason: string }): string {
  const name = to.replace(/^sip:/i, '');
  if (a.status === 480 || a.status === 404 || a.status === 408) return `${name} could not be reached and this message was not delivered.`;
  return `This message was not delivered to ${name}. (SIP/2.0 ${a.status} ${a.reason})`;
}
