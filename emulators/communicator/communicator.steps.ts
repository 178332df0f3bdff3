/**
 * The operator's view of Office Communicator 2007 R2: sign a user in and see what Communicator says,
 * download the address book, read the client's Application log, and change a client's settings (trust
 * the enterprise root CA, manual configuration, the sign-in address the user types).
 */
import { z } from 'zod';
import type { Lab } from '../../sim/lab.js';
import { defineStep, failed, passed, type StepDefinition, type StepOutcome } from '../../sim/steps.js';
import type { Topology } from '../../sim/topology.js';
import { formatEventRecord } from '../../sim/core.steps.js';
import { adFindUser } from '../ad/ad.client.js';
import { communicatorConfigure, communicatorLogEvents, communicatorSettings } from './communicator.client.js';
import { CLIENT_EVENT_LOG } from './communicator.discovery.js';
import { COMMUNICATOR_ID, clientHost, type ClientSettings } from './communicator.events.js';
import { downloadAddressBook, signIn, signInLines, type ClientEnv } from './communicator.signin.js';

const env = (lab: Lab, topology: Topology): ClientEnv => ({ system: { get: (id) => lab.get(id) }, topology, now: () => lab.clock.now() });

/** A client machine per user, on its own loopback address. */
function clientEndpoint(topology: Topology, user: string): { address: string; port: number } {
  const i = Math.max(0, topology.users.findIndex((u) => u.sam.toLowerCase() === user.toLowerCase()));
  return { address: `127.0.50.${i + 1}`, port: 50_000 + i };
}

/** The address a user signs in with: what the user typed last, else the primary SIP address, else the e-mail address. */
export function defaultSignInAddress(lab: Lab, topology: Topology, user: string, settings: ClientSettings): string {
  if (settings.signInAddress) return settings.signInAddress;
  const ad = lab.get('ad');
  const entry = ad ? adFindUser(ad, user) : undefined;
  const key = entry ? Object.keys(entry.attributes).find((k) => k.toLowerCase() === 'msrtcsip-primaryuseraddress') : undefined;
  const primary = key ? entry?.attributes[key]?.[0] : undefined;
  if (primary) return primary.replace(/^sip:/i, '');
  const spec = topology.users.find((u) => u.sam.toLowerCase() === user.toLowerCase());
  return spec?.mail ?? `${user}@${topology.sipDomains[0] ?? ''}`;
}

const expectation = z.union([z.literal('signedIn'), z.strictObject({ message: z.string().min(1) })]);

function compare(expect: 'signedIn' | 'downloaded' | { message: string }, ok: boolean, message: string | undefined, okWord: string, lines: string[]): StepOutcome {
  if (expect === 'signedIn' || expect === 'downloaded') return ok ? passed(lines) : failed(`expected ${okWord}, found "${message ?? ''}"`, lines);
  if (ok) return failed(`expected "${expect.message}", found ${okWord}`, lines);
  return (message ?? '').toLowerCase().includes(expect.message.toLowerCase()) ? passed(lines) : failed(`expected "${expect.message}", found "${message ?? ''}"`, lines);
}

const signInStep = defineStep({
  name: 'communicator.signIn',
  kind: 'check',
  summary: "Sign a user in with Office Communicator 2007 R2 and compare Communicator's outcome (signed in, or its message)",
  params: z.strictObject({
    user: z.string(),
    signInAddress: z.string().optional(),
    password: z.string().optional(),
    server: z.string().optional(),
    transport: z.enum(['TLS', 'TCP']).optional(),
    expect: expectation.default('signedIn'),
  }),
  refs: { user: 'user' },
  title: (p) => `${p.user} signs in to Communicator${p.signInAddress ? ` as ${p.signInAddress}` : ''}${p.server ? ` (manual: ${p.server})` : ''}`,
  emulated: ({ lab, topology }, p) => {
    const base = communicatorSettings(lab.get(COMMUNICATOR_ID), p.user);
    const settings: ClientSettings = p.server ? { ...base, manual: { server: p.server, transport: p.transport ?? 'TLS' } } : base;
    const spec = topology.users.find((u) => u.sam.toLowerCase() === p.user.toLowerCase());
    const address = p.signInAddress ?? defaultSignInAddress(lab, topology, p.user, settings);
    const r = signIn(env(lab, topology), { user: p.user, signInAddress: address, password: p.password ?? spec?.password ?? '', settings, ...endpoint(topology, p.user) });
    if (!r.ok && r.discovery.events.length && lab.get(COMMUNICATOR_ID)) communicatorLogEvents(lab.get(COMMUNICATOR_ID), { user: p.user, entries: r.discovery.events });
    return compare(p.expect, r.ok, r.failure?.message, 'signed in', signInLines(r));
  },
});

function endpoint(topology: Topology, user: string): { clientAddress: string; clientPort: number } {
  const e = clientEndpoint(topology, user);
  return { clientAddress: e.address, clientPort: e.port };
}

const addressBookStep = defineStep({
  name: 'communicator.addressBook',
  kind: 'check',
  summary: "Communicator's address book download (HTTPS GET of the internal Address Book URL) and what Communicator says",
  params: z.strictObject({ user: z.string(), expect: z.union([z.literal('downloaded'), z.strictObject({ message: z.string().min(1) })]).default('downloaded') }),
  refs: { user: 'user' },
  title: (p) => `${p.user}'s Communicator downloads the address book`,
  emulated: ({ lab, topology }, p) => {
    const settings = communicatorSettings(lab.get(COMMUNICATOR_ID), p.user);
    const r = downloadAddressBook(env(lab, topology), p.user, settings, clientEndpoint(topology, p.user));
    return compare(p.expect, r.ok, r.message, 'the address book downloaded', r.lines);
  },
});

const clientEventStep = defineStep({
  name: 'communicator.clientEvent',
  kind: 'check',
  summary: "An entry is (or is not) in a user's client Application log (source Communicator)",
  params: z.strictObject({ user: z.string(), eventId: z.number().int().nonnegative(), present: z.boolean().default(true), messageContains: z.string().optional() }),
  refs: { user: 'user' },
  title: (p) => `Client ${clientHost(p.user)}: ${p.present ? '' : 'no '}Communicator event ${p.eventId}${p.messageContains ? ` mentioning "${p.messageContains}"` : ''}`,
  emulated: ({ lab }, p) => {
    const all = lab.journal.eventLog(clientHost(p.user), CLIENT_EVENT_LOG).filter((r) => r.source === 'Communicator');
    const found = all.filter((r) => r.eventId === p.eventId && (!p.messageContains || r.message.toLowerCase().includes(p.messageContains.toLowerCase())));
    const lines = found.map(formatEventRecord);
    if (p.present && found.length) return passed(lines);
    if (!p.present && !found.length) return passed();
    if (p.present) return failed(`expected Communicator event ${p.eventId}${p.messageContains ? ` mentioning "${p.messageContains}"` : ''} on ${clientHost(p.user)}, found none`, all.slice(-5).map(formatEventRecord));
    return failed(`expected no Communicator event ${p.eventId} on ${clientHost(p.user)}, found ${found.length}`, lines);
  },
});

const configured = (r: { ok: boolean; failure?: { message: string } }, line: string): StepOutcome => (r.ok ? passed([line]) : failed(r.failure?.message ?? 'failed'));

const setTrustStep = defineStep({
  name: 'communicator.setTrustLabCa',
  kind: 'action',
  summary: "Add (or remove) the enterprise root CA in a client's Trusted Root Certification Authorities; without a user, every client (Group Policy)",
  params: z.strictObject({ user: z.string().optional(), trust: z.boolean() }),
  refs: { user: 'user' },
  title: (p) => `${p.trust ? 'Trust' : 'Stop trusting'} the enterprise root CA on ${p.user ? clientHost(p.user) : 'every client'}`,
  emulated: ({ lab }, p) => configured(communicatorConfigure(lab.get(COMMUNICATOR_ID), { ...(p.user ? { user: p.user } : {}), settings: { trustLabCa: p.trust } }), `Trusted root ${p.trust ? 'added' : 'removed'}`),
});

const configureManualStep = defineStep({
  name: 'communicator.configureManual',
  kind: 'action',
  summary: 'Communicator Options > Advanced: a manual server name and transport, or back to automatic configuration (no server)',
  params: z.strictObject({ user: z.string(), server: z.string().optional(), transport: z.enum(['TLS', 'TCP']).default('TLS') }),
  refs: { user: 'user' },
  title: (p) => (p.server ? `Configure ${p.user}'s Communicator manually: ${p.server} (${p.transport})` : `Set ${p.user}'s Communicator to automatic configuration`),
  emulated: ({ lab }, p) =>
    configured(
      communicatorConfigure(lab.get(COMMUNICATOR_ID), { user: p.user, settings: { manual: p.server ? { server: p.server, transport: p.transport } : null } }),
      p.server ? `Manual configuration: ${p.server} (${p.transport})` : 'Automatic configuration',
    ),
});

const setSignInAddressStep = defineStep({
  name: 'communicator.setSignInAddress',
  kind: 'action',
  summary: 'The user types a sign-in address in Communicator (remembered for the next sign-in); without an address, the one the operator gave',
  params: z.strictObject({ user: z.string(), address: z.string().optional() }),
  refs: { user: 'user' },
  title: (p) => (p.address ? `${p.user} signs in to Communicator as ${p.address}` : `${p.user} uses the sign-in address the administrator gave`),
  emulated: ({ lab }, p) => configured(communicatorConfigure(lab.get(COMMUNICATOR_ID), { user: p.user, settings: { signInAddress: p.address ?? null } }), `Sign-in address: ${p.address ?? '(the primary SIP address)'}`),
});

export const communicatorSteps: StepDefinition[] = [signInStep, addressBookStep, clientEventStep, setTrustStep, configureManualStep, setSignInAddressStep];
