/**
 * One Office Communicator 2007 R2 client as a state machine. The states are the sign-in stages an
 * operator reads in the client's logs; each stage's work happens on real sockets (communicator.wire.ts),
 * and what it saw is kept in the context, so a failed sign-in shows which lookup, which connection, which
 * certificate and which SIP response stopped it.
 *
 *   signedOut --signIn--> discovering --> connecting --> registering --> provisioning --> signedIn
 *       ^                     |               |               |               |             |
 *       |                     +---------------+-------+-------+---------------+      signOut | connection lost
 *       |                                             v                                     v
 *       +----------------------------------------- failed <--signIn (retry)          signingOut --> signedOut
 *
 * The SIP stack (a sip.js UserAgent in `SipSession`) lives in the runtime holder passed as input: the
 * machine owns the decisions, the holder owns the sockets.
 */
import { assign, fromPromise, setup } from 'xstate';
import type { Network } from '../network/lab.network.js';
import type { ParsedProvisioning } from '../ocs/ocs.provisioning.js';
import type { ContactListView } from '../ocs/ocs.presence.js';
import { REGISTER_DIAGNOSTICS } from '../ocs/ocs.registrar.js';
import { discover, discoveryLines, type DiscoveryResult, type Resolver } from './communicator.discovery.js';
import { signInFailure, type CommunicatorMessageKind, type SignInFailure } from './communicator.errors.js';
import type { ClientSettings } from './communicator.events.js';
import { connectFirst, SipSession, type ClientOrigin, type ConnectionAttempt, type ConnectOutcome, type InstantMessage, type NtlmClientOptions, type PresenceView, type SipAnswer, type TlsCheck, type TrustPolicy } from './communicator.wire.js';

/** What a client needs to sign in: who, with what, and the network it runs on. */
export interface ClientRuntime {
  user: string;
  /** The Windows account (Digest user name). */
  account: string;
  network: Network;
  resolver: Resolver;
  trust: TrustPolicy;
  origin: ClientOrigin;
  /** Sign in with NTLM where the front end offers it (as Communicator does); without it, Digest only. */
  ntlm?: NtlmClientOptions;
  /** The SIP session while signed in. */
  session?: SipSession | undefined;
  /** Where the session's own events (an IM arrived, a NOTIFY, the connection dropped) go: the client actor. */
  deliver?: (event: ClientEvent) => void;
}

export interface SignInRequest {
  signInAddress: string;
  password: string;
  settings: ClientSettings;
}

export interface ClientContext {
  runtime: ClientRuntime;
  signInAddress?: string;
  discovery?: DiscoveryResult;
  attempts: ConnectionAttempt[];
  tls?: TlsCheck;
  register?: SipAnswer;
  provisioning?: ParsedProvisioning;
  /** The contact list the server keeps for the user (`vnd-microsoft-roaming-contacts`), or why it is not shown. */
  contactList?: ContactListView;
  contactListError?: string;
  /** The front end (short name) the client is connected to. */
  frontEnd?: string;
  transport?: 'TLS' | 'TCP';
  failure?: SignInFailure;
  inbox: InstantMessage[];
  contacts: Record<string, PresenceView>;
}

export type ClientEvent =
  | { type: 'signIn'; request: SignInRequest }
  | { type: 'signOut' }
  | { type: 'im.received'; message: InstantMessage }
  | { type: 'presence.notified'; target: string; view: PresenceView }
  | { type: 'connection.lost'; error?: string };

/** The registrar's `ms-diagnostics` code for "not enabled for enhanced presence". */
export const ENHANCED_PRESENCE_DIAGNOSTIC = REGISTER_DIAGNOSTICS.enhancedPresence.code;

/** The message Communicator shows for a refused REGISTER. */
export function registerFailureKind(answer: SipAnswer): CommunicatorMessageKind {
  const code = Number(/^\s*(\d+)/.exec(answer.diagnostics ?? '')?.[1] ?? NaN);
  if (code === ENHANCED_PRESENCE_DIAGNOSTIC) return 'enhancedPresence';
  if (answer.status === 401 || answer.status === 403 || answer.status === 404) return 'credentials';
  return 'unavailable';
}

const sipLine = (a: SipAnswer) => `SIP/2.0 ${a.status} ${a.reason}${a.diagnostics ? ` (ms-diagnostics: ${a.diagnostics})` : ''}`;

/** The password of the sign-in under way: kept beside the runtime, never in the inspectable context. */
const pendingPassword = new WeakMap<ClientRuntime, string>();

interface DiscoverInput {
  runtime: ClientRuntime;
  request: SignInRequest;
}

export const communicatorClientMachine = setup({
  types: {
    context: {} as ClientContext,
    input: {} as { runtime: ClientRuntime },
    events: {} as ClientEvent,
  },
  actors: {
    discover: fromPromise<DiscoveryResult, DiscoverInput>(({ input }) => {
      const s = input.request.settings;
      return discover(input.request.signInAddress, input.runtime.resolver, {
        allowTcp: s.allowTcp || s.manual?.transport === 'TCP',
        aFallbacks: s.aFallbacks,
        ...(s.manual ? { manual: s.manual } : {}),
      });
    }),
    connect: fromPromise<ConnectOutcome, { runtime: ClientRuntime; discovery: DiscoveryResult; signInAddress: string }>(async ({ input }) => {
      const rt = input.runtime;
      const o = await connectFirst(rt.network, input.discovery.candidates, rt.origin, rt.trust);
      if (o.ok) {
        // The SIP stack is born on the connection that passed the certificate check.
        rt.session = new SipSession({
          aor: `sip:${input.signInAddress.replace(/^sip:/i, '')}`,
          account: rt.account,
          password: pendingPassword.get(rt) ?? '',
          connected: o.connected,
          ...(rt.ntlm ? { ntlm: rt.ntlm } : {}),
          onMessage: (message) => rt.deliver?.({ type: 'im.received', message }),
          onPresence: (target, view) => rt.deliver?.({ type: 'presence.notified', target, view }),
          onDisconnect: (error) => rt.deliver?.({ type: 'connection.lost', ...(error ? { error: error.message } : {}) }),
        });
      }
      return o;
    }),
    register: fromPromise<SipAnswer, { runtime: ClientRuntime }>(async ({ input }) => {
      const session = input.runtime.session;
      if (!session) return { status: 503, reason: 'Service Unavailable (no connection)' };
      return session.register();
    }),
    // In-band provisioning, then the contact list (a contact list the server cannot give does not stop the
    // sign-in: Communicator signs in and shows its list empty).
    provision: fromPromise<{ answer: SipAnswer; provisioning?: ParsedProvisioning; contactList?: ContactListView; contactListError?: string }, { runtime: ClientRuntime }>(async ({ input }) => {
      const session = input.runtime.session;
      if (!session) return { answer: { status: 503, reason: 'Service Unavailable (no connection)' } };
      const p = await session.provision();
      if (p.answer.status !== 200 || !p.provisioning) return p;
      const c = await session.contactList();
      return c.list ? { ...p, contactList: c.list } : { ...p, contactListError: `SUBSCRIBE vnd-microsoft-roaming-contacts: ${sipLine(c.answer)}` };
    }),
    close: fromPromise<void, { runtime: ClientRuntime }>(async ({ input }) => {
      const session = input.runtime.session;
      input.runtime.session = undefined;
      await session?.close();
    }),
  },
  actions: {
    reset: assign(({ context, event }) => {
      if (event.type !== 'signIn') return {};
      pendingPassword.set(context.runtime, event.request.password);
      return {
        signInAddress: event.request.signInAddress,
        attempts: [],
        inbox: [],
        contacts: {},
        discovery: undefined,
        tls: undefined,
        register: undefined,
        provisioning: undefined,
        contactList: undefined,
        contactListError: undefined,
        frontEnd: undefined,
        transport: undefined,
        failure: undefined,
      };
    }),
  },
}).createMachine({
  id: 'communicatorClient',
  context: ({ input }) => ({ runtime: input.runtime, attempts: [], inbox: [], contacts: {} }),
  initial: 'signedOut',
  on: {
    'im.received': { actions: assign({ inbox: ({ context, event }) => [...context.inbox, event.message] }) },
    'presence.notified': { actions: assign({ contacts: ({ context, event }) => ({ ...context.contacts, [event.target]: event.view }) }) },
  },
  states: {
    signedOut: {
      on: { signIn: { target: 'discovering', actions: 'reset' } },
    },
    discovering: {
      invoke: {
        src: 'discover',
        input: ({ context, event }) => ({ runtime: context.runtime, request: (event as Extract<ClientEvent, { type: 'signIn' }>).request }),
        onDone: [
          {
            guard: ({ event }) => event.output.candidates.length === 0,
            target: 'failed',
            actions: assign(({ event }) => ({
              discovery: event.output,
              failure: signInFailure('discovery', 'unavailable', `no login server found for ${event.output.sipDomain || 'the sign-in address'}`),
            })),
          },
          { target: 'connecting', actions: assign({ discovery: ({ event }) => event.output }) },
        ],
        onError: { target: 'failed', actions: assign({ failure: ({ event }) => signInFailure('discovery', 'unavailable', String(event.error)) }) },
      },
    },
    connecting: {
      invoke: {
        src: 'connect',
        input: ({ context }) => ({ runtime: context.runtime, discovery: context.discovery as DiscoveryResult, signInAddress: context.signInAddress ?? '' }),
        onDone: [
          {
            guard: ({ event }) => !event.output.ok,
            target: 'failed',
            actions: assign(({ event }) => {
              const o = event.output;
              const tls = o.ok ? undefined : o.tls;
              const last = o.attempts[o.attempts.length - 1];
              const failure =
                tls && !tls.handshakeFailed
                  ? signInFailure('tls', 'certificate', tls.error ?? 'certificate rejected')
                  : signInFailure(tls ? 'tls' : 'connect', 'unavailable', tls?.error ?? last?.error ?? 'no connection');
              return { attempts: o.attempts, ...(tls ? { tls } : {}), failure };
            }),
          },
          {
            target: 'registering',
            actions: assign(({ event }) => {
              const o = event.output;
              if (!o.ok) return {};
              const c = o.connected;
              return { attempts: o.attempts, ...(c.tls ? { tls: c.tls } : {}), frontEnd: c.attempt.server ?? '', transport: c.candidate.transport };
            }),
          },
        ],
        onError: { target: 'failed', actions: assign({ failure: ({ event }) => signInFailure('connect', 'unavailable', String(event.error)) }) },
      },
    },
    registering: {
      invoke: {
        src: 'register',
        input: ({ context }) => ({ runtime: context.runtime }),
        onDone: [
          {
            guard: ({ event }) => event.output.status !== 200,
            target: 'closingAfterFailure',
            actions: assign(({ event }) => ({ register: event.output, failure: signInFailure('register', registerFailureKind(event.output), sipLine(event.output)) })),
          },
          { target: 'provisioning', actions: assign({ register: ({ event }) => event.output }) },
        ],
        onError: { target: 'closingAfterFailure', actions: assign({ failure: ({ event }) => signInFailure('register', 'unavailable', String(event.error)) }) },
      },
    },
    provisioning: {
      invoke: {
        src: 'provision',
        input: ({ context }) => ({ runtime: context.runtime }),
        onDone: [
          {
            guard: ({ event }) => event.output.answer.status !== 200 || !event.output.provisioning,
            target: 'closingAfterFailure',
            actions: assign(({ event }) => ({ failure: signInFailure('register', 'unavailable', `in-band provisioning: ${sipLine(event.output.answer)}`) })),
          },
          {
            target: 'signedIn',
            actions: assign(({ event }) => ({
              provisioning: event.output.provisioning,
              ...(event.output.contactList ? { contactList: event.output.contactList } : {}),
              ...(event.output.contactListError ? { contactListError: event.output.contactListError } : {}),
            })),
          },
        ],
        onError: { target: 'closingAfterFailure', actions: assign({ failure: ({ event }) => signInFailure('register', 'unavailable', String(event.error)) }) },
      },
    },
    signedIn: {
      on: {
        signOut: 'signingOut',
        'connection.lost': {
          target: 'closingAfterFailure',
          actions: assign({ failure: ({ event }) => signInFailure('connect', 'unavailable', `the connection to the server was lost${event.error ? ` (${event.error})` : ''}`) }),
        },
      },
    },
    signingOut: {
      invoke: { src: 'close', input: ({ context }) => ({ runtime: context.runtime }), onDone: 'signedOut', onError: 'signedOut' },
    },
    closingAfterFailure: {
      invoke: { src: 'close', input: ({ context }) => ({ runtime: context.runtime }), onDone: 'failed', onError: 'failed' },
    },
    failed: {
      on: { signIn: { target: 'discovering', actions: 'reset' } },
    },
  },
});


/** What an operator reads of a sign-in: each lookup, each connection, the certificate, the SIP responses. */
export function clientLines(c: ClientContext, state: string): string[] {
  const lines: string[] = [];
  if (c.signInAddress) lines.push(`Sign-in address: ${c.signInAddress}`);
  if (c.discovery) lines.push(...discoveryLines(c.discovery));
  for (const a of c.attempts) lines.push(`Connect ${a.host} (${a.address}:${a.port} ${a.transport}): ${a.error ?? `connected, served by ${a.server ?? '?'}`}`);
  if (c.tls?.certificate) {
    const t = c.tls.certificate;
    lines.push(`TLS certificate from ${c.tls.server} for ${c.tls.host}: ${t.subject}; SAN ${t.sans.join(', ') || '(none)'}; issuer ${t.issuer}; valid ${t.notBefore} to ${t.notAfter}${c.tls.ok ? ' — trusted' : ` — ${c.tls.error ?? 'rejected'}`}`);
  } else if (c.tls && !c.tls.ok) lines.push(`TLS with ${c.tls.server} for ${c.tls.host}: ${c.tls.error ?? 'failed'}`);
  if (c.register) lines.push(`REGISTER sip:${(c.signInAddress ?? '').replace(/^sip:/i, '').toLowerCase()}: ${sipLine(c.register)}`);
  if (c.provisioning) {
    lines.push(`In-band provisioning: address book ${c.provisioning.absInternalServerUrl ?? '(none)'}; group expansion ${c.provisioning.dlxInternalUrl ?? '(none)'}`);
  }
  if (c.contactList) {
    const l = c.contactList;
    lines.push(`Contact list (deltaNum ${l.deltaNum}): ${l.contacts.length ? l.contacts.map((x) => x.uri).join(', ') : 'no contacts'}`);
  } else if (c.contactListError) lines.push(`Contact list not available: ${c.contactListError}`);
  if (state === 'signedIn') lines.push(`Signed in over ${c.transport ?? '?'} (${c.frontEnd ?? '?'})`);
  else if (c.failure) lines.push(`Communicator: ${c.failure.message}`);
  return lines;
}
