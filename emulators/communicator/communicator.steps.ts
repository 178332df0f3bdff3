/**
 * The operator's view of Office Communicator 2007 R2, over the wire: sign a user in (DNS, TLS, REGISTER,
 * in-band provisioning on real sockets) and see what Communicator says; sign out; send an IM and see it
 * delivered; set and watch presence; download the address book over HTTPS; read the client's
 * Application log; change a client's settings (trust the enterprise root CA, manual configuration, the
 * sign-in address the user types).
 */
import { z } from 'zod';
import type { Lab } from '../../sim/lab.js';
import { defineStep, failed, passed, type StepDefinition, type StepOutcome } from '../../sim/steps.js';
import type { Topology } from '../../sim/topology.js';
import { eventually } from '../../sim/wire.js';
import { formatEventRecord } from '../../sim/core.steps.js';
import { adFindUser } from '../ad/ad.client.js';
import { communicatorConfigure, communicatorLogEvents, communicatorRecord, communicatorSettings } from './communicator.client.js';
import { CLIENT_EVENT_LOG } from './communicator.discovery.js';
import { COMMUNICATOR_ID, clientHost, type ClientSettings } from './communicator.events.js';
import { clientLines } from './communicator.client.machine.js';
import { communicatorFleet, type LabClient } from './communicator.fleet.js';
import { imFailureMessage } from './communicator.errors.js';

/** A client machine per user, on its own loopback address and source port (the load balancer's affinity key). */
export function clientOrigin(topology: Topology, user: string): { address: string; port: number } {
  const i = Math.max(0, topology.users.findIndex((u) => u.sam.toLowerCase() === user.toLowerCase()));
  return { address: `127.0.50.${(i % 250) + 1}`, port: 50_000 + i };
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

function compare(expect: 'signedIn' | 'downloaded' | 'delivered' | { message: string }, ok: boolean, message: string | undefined, okWord: string, lines: string[]): StepOutcome {
  if (typeof expect === 'string') return ok ? passed(lines) : failed(`expected ${okWord}, found "${message ?? ''}"`, lines);
  if (ok) return failed(`expected "${expect.message}", found ${okWord}`, lines);
  return (message ?? '').toLowerCase().includes(expect.message.toLowerCase()) ? passed(lines) : failed(`expected "${expect.message}", found "${message ?? ''}"`, lines);
}

const password = (topology: Topology, user: string) => topology.users.find((u) => u.sam.toLowerCase() === user.toLowerCase())?.password ?? '';

function labClient(lab: Lab, topology: Topology, user: string): LabClient {
  return communicatorFleet(lab).client(user, user, clientOrigin(topology, user));
}

/** The SIP address a user is known by (the primary SIP address, else what it signs in with). */
function sipAddressOf(lab: Lab, topology: Topology, user: string): string {
  const settings = communicatorSettings(lab.get(COMMUNICATOR_ID), user);
  return `sip:${defaultSignInAddress(lab, topology, user, { ...settings, signInAddress: undefined } as ClientSettings).toLowerCase()}`;
}

const record = (lab: Lab, event: Parameters<typeof communicatorRecord>[1]) => {
  const ref = lab.get(COMMUNICATOR_ID);
  if (ref) communicatorRecord(ref, event);
};

const signInStep = defineStep({
  name: 'communicator.signIn',
  client: 'reads',
  kind: 'check',
  summary: "Sign a user in with Office Communicator 2007 R2 over the wire (DNS, TLS, REGISTER, in-band provisioning) and compare Communicator's outcome (signed in, or its message)",
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
  emulated: async ({ lab, topology }, p) => {
    const base = communicatorSettings(lab.get(COMMUNICATOR_ID), p.user);
    const settings: ClientSettings = p.server ? { ...base, manual: { server: p.server, transport: p.transport ?? 'TLS' } } : base;
    const address = p.signInAddress ?? defaultSignInAddress(lab, topology, p.user, settings);
    const fleet = communicatorFleet(lab);
    const r = await fleet.signIn(labClient(lab, topology, p.user), address, p.password ?? password(topology, p.user), settings);
    const ok = r.state === 'signedIn';
    const c = r.context;
    if (!ok && c.discovery?.events.length && lab.get(COMMUNICATOR_ID)) communicatorLogEvents(lab.get(COMMUNICATOR_ID), { user: p.user, entries: c.discovery.events });
    record(
      lab,
      ok
        ? { type: 'communicator.signedIn', user: p.user, summary: `${p.user}'s Communicator signed in as ${address} over ${c.transport ?? '?'} (${c.frontEnd ?? '?'})` }
        : { type: 'communicator.signInFailed', user: p.user, summary: `${p.user}'s Communicator did not sign in (${c.failure?.stage ?? '?'}): ${c.failure?.detail ?? ''}` },
    );
    return compare(p.expect, ok, c.failure?.message, 'signed in', clientLines(c, r.state));
  },
});

const signOutStep = defineStep({
  name: 'communicator.signOut',
  client: 'reads',
  kind: 'action',
  summary: 'Sign a user out of Communicator (unregister, close the connection)',
  params: z.strictObject({ user: z.string() }),
  refs: { user: 'user' },
  title: (p) => `${p.user} signs out of Communicator`,
  emulated: async ({ lab, topology }, p) => {
    const fleet = communicatorFleet(lab);
    const c = fleet.get(p.user);
    if (!c || fleet.state(c).state !== 'signedIn') return failed(`${p.user} is not signed in to Communicator`);
    const r = await fleet.signOut(c);
    if (r.state !== 'signedOut') return failed(`${p.user}'s Communicator is ${r.state}, not signed out`);
    record(lab, { type: 'communicator.signedOut', user: p.user, summary: `${p.user}'s Communicator signed out` });
    return passed([`Signed out (${sipAddressOf(lab, topology, p.user)})`]);
  },
});

const sendImStep = defineStep({
  name: 'communicator.sendIm',
  client: 'reads',
  kind: 'check',
  summary: "Send an IM from one signed-in user to another and expect it delivered (the recipient's Communicator shows it), or Communicator's message",
  params: z.strictObject({
    from: z.string(),
    to: z.string(),
    text: z.string().min(1).default('Hello from ocslab'),
    expect: z.union([z.literal('delivered'), z.strictObject({ message: z.string().min(1) })]).default('delivered'),
  }),
  refs: { from: 'user', to: 'user' },
  title: (p) => `${p.from} sends an IM to ${p.to}: "${p.text}"`,
  emulated: async ({ lab, topology }, p) => {
    const fleet = communicatorFleet(lab);
    const sender = fleet.get(p.from);
    if (!sender || fleet.state(sender).state !== 'signedIn') return failed(`${p.from} is not signed in to Communicator`);
    const target = sipAddressOf(lab, topology, p.to);
    const receiver = fleet.get(p.to);
    const before = receiver ? fleet.state(receiver).context.inbox.length : 0;
    const answer = (await fleet.sendIm(sender, target, p.text)) ?? { status: 503, reason: 'Service Unavailable (not connected)' };
    const lines = [`MESSAGE ${target}: SIP/2.0 ${answer.status} ${answer.reason}`];
    let ok = answer.status === 200;
    if (ok && receiver) {
      const arrived = await eventually(() => fleet.state(receiver).context.inbox.length > before);
      const got = fleet.state(receiver).context.inbox.slice(before);
      const match = got.find((m) => m.body === p.text);
      lines.push(arrived && match ? `${p.to}'s Communicator shows from ${match.from}: "${match.body}"` : `${p.to}'s Communicator did not show the message`);
      ok = Boolean(match);
    }
    if (ok) record(lab, { type: 'communicator.imSent', user: p.from, summary: `${p.from} sent an IM to ${target}, delivered` });
    const message = ok ? undefined : answer.status === 200 ? `${p.to}'s Communicator did not show the message` : imFailureMessage(target, answer);
    if (message) lines.push(`Communicator: ${message}`);
    return compare(p.expect, ok, message, 'delivered', lines);
  },
});

const AVAILABILITY = ['Available', 'Busy', 'Do Not Disturb', 'Be Right Back', 'Away', 'Appear Offline'] as const;

const setPresenceStep = defineStep({
  name: 'communicator.setPresence',
  client: 'writes',
  kind: 'action',
  summary: "A signed-in user sets Communicator's presence (Available, Busy, Do Not Disturb, Be Right Back, Away, Appear Offline) and optionally a personal note: SERVICE with the enhanced-presence categories",
  params: z.strictObject({ user: z.string(), availability: z.enum(AVAILABILITY), note: z.string().max(500).optional() }),
  refs: { user: 'user' },
  title: (p) => `${p.user} sets presence to ${p.availability}${p.note !== undefined ? ` with the note "${p.note}"` : ''}`,
  emulated: async ({ lab }, p) => {
    const fleet = communicatorFleet(lab);
    const c = fleet.get(p.user);
    if (!c?.runtime.session || fleet.state(c).state !== 'signedIn') return failed(`${p.user} is not signed in to Communicator`);
    const a = await c.runtime.session.publishPresence(p.availability === 'Appear Offline' ? 'Offline' : p.availability, p.note);
    const line = `SERVICE category publish (state ${p.availability}${p.note !== undefined ? `, note "${p.note}"` : ''}): SIP/2.0 ${a.status} ${a.reason}`;
    if (a.status !== 200) return failed(`the front end refused the presence publication: SIP/2.0 ${a.status} ${a.reason}`, [line]);
    record(lab, { type: 'communicator.presencePublished', user: p.user, summary: `${p.user} published presence ${p.availability}${p.note !== undefined ? ` with a note` : ''}` });
    return passed([line]);
  },
});

const addContactStep = defineStep({
  name: 'communicator.addContact',
  client: 'writes',
  kind: 'action',
  summary: "A signed-in user adds a contact in Communicator (SERVICE with the SOAP setContact; the front end stores it in the user's contact list on the home pool's back end)",
  params: z.strictObject({ user: z.string(), contact: z.string() }),
  refs: { user: 'user', contact: 'user' },
  title: (p) => `${p.user} adds ${p.contact} to the contact list in Communicator`,
  emulated: async ({ lab, topology }, p) => {
    const fleet = communicatorFleet(lab);
    const c = fleet.get(p.user);
    if (!c?.runtime.session || fleet.state(c).state !== 'signedIn') return failed(`${p.user} is not signed in to Communicator`);
    const target = sipAddressOf(lab, topology, p.contact);
    const list = await c.runtime.session.contactList();
    const a = await c.runtime.session.addContact(target, list.list?.deltaNum ?? 0);
    const line = `SERVICE setContact ${target}: SIP/2.0 ${a.status} ${a.reason}`;
    if (a.status !== 200) return failed(`the front end refused the contact: SIP/2.0 ${a.status} ${a.reason}${a.warning ? ` (${a.warning})` : ''}`, [line]);
    record(lab, { type: 'communicator.contactAdded', user: p.user, summary: `${p.user} added ${target} to the contact list` });
    return passed([line]);
  },
});

const expectPresenceStep = defineStep({
  name: 'communicator.expectPresence',
  client: 'reads',
  kind: 'check',
  summary: "A signed-in user's Communicator shows a contact's presence (batched SUBSCRIBE presence; the categories NOTIFY's availability and note, or Offline)",
  params: z.strictObject({ user: z.string(), contact: z.string(), availability: z.enum([...AVAILABILITY, 'Offline']), note: z.string().optional() }),
  refs: { user: 'user', contact: 'user' },
  title: (p) => `${p.user}'s Communicator shows ${p.contact} as ${p.availability}${p.note !== undefined ? ` with the note "${p.note}"` : ''}`,
  emulated: async ({ lab, topology }, p) => {
    const fleet = communicatorFleet(lab);
    const c = fleet.get(p.user);
    if (!c?.runtime.session || fleet.state(c).state !== 'signedIn') return failed(`${p.user} is not signed in to Communicator`);
    const target = sipAddressOf(lab, topology, p.contact);
    const a = await c.runtime.session.subscribePresence(target);
    const lines = [`SUBSCRIBE presence ${target}: SIP/2.0 ${a.status} ${a.reason}`];
    if (a.status !== 200) return failed(`the front end refused the presence subscription: SIP/2.0 ${a.status} ${a.reason}`, lines);
    const view = () => fleet.state(c).context.contacts[target];
    const shown = (): string | undefined => {
      const v = view();
      if (!v) return undefined;
      if (v.availability) return v.availability;
      // A generic client's PIDF: open or closed.
      return v.basic === 'closed' ? 'Offline' : v.basic === 'open' ? 'Available' : 'Unknown';
    };
    const want = p.availability === 'Appear Offline' ? 'Offline' : p.availability;
    const matches = () => shown() === want && (p.note === undefined || view()?.note === p.note);
    await eventually(matches, 3000);
    const seen = shown() ?? '(no NOTIFY)';
    const note = view()?.note;
    lines.push(`NOTIFY presence ${target}: ${seen}${note ? ` — "${note}"` : ''}`);
    if (seen !== want) return failed(`expected ${p.contact} to show as ${p.availability}, found ${seen}`, lines);
    return matches() ? passed(lines) : failed(`expected ${p.contact}'s note "${p.note ?? ''}", found ${note ? `"${note}"` : 'none'}`, lines);
  },
});

const addressBookStep = defineStep({
  name: 'communicator.addressBook',
  client: 'reads',
  kind: 'check',
  summary: "A signed-in user's Communicator downloads the address book over HTTPS from the URL in-band provisioning gave, and what Communicator says",
  params: z.strictObject({
    user: z.string(),
    expect: z.union([z.literal('downloaded'), z.strictObject({ message: z.string().min(1) })]).default('downloaded'),
    contains: z.array(z.string()).default([]),
  }),
  refs: { user: 'user' },
  title: (p) => `${p.user}'s Communicator downloads the address book`,
  emulated: async ({ lab, topology }, p) => {
    const fleet = communicatorFleet(lab);
    // Communicator downloads the address book once signed in: a client that is not signs in first.
    const c = labClient(lab, topology, p.user);
    const lines: string[] = [];
    if (fleet.state(c).state !== 'signedIn') {
      const settings = communicatorSettings(lab.get(COMMUNICATOR_ID), p.user);
      const s = await fleet.signIn(c, defaultSignInAddress(lab, topology, p.user, settings), password(topology, p.user), settings);
      if (s.state !== 'signedIn') return compare(p.expect, false, s.context.failure?.message, 'the address book downloaded', clientLines(s.context, s.state));
      lines.push(`Signed in as ${s.context.signInAddress ?? ''} (${s.context.frontEnd ?? '?'})`);
    }
    const r = await fleet.downloadAddressBook(c, { user: `${topology.forest.netbios}\\${p.user}`, password: password(topology, p.user) });
    lines.push(...r.lines);
    let ok = r.ok;
    let message = r.message;
    if (ok && p.contains.length) {
      const text = (r.content ?? '').toLowerCase();
      const missing = p.contains.filter((x) => !text.includes(x.toLowerCase()));
      lines.push(missing.length ? `The address book lacks ${missing.join(', ')}` : `The address book lists ${p.contains.join(', ')}`);
      if (missing.length) {
        ok = false;
        message = `the address book lacks ${missing.join(', ')}`;
      }
    }
    return compare(p.expect, ok, message, 'the address book downloaded', lines);
  },
});

const clientEventStep = defineStep({
  name: 'communicator.clientEvent',
  client: 'reads',
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
  client: 'reads',
  kind: 'action',
  summary: "Add (or remove) the enterprise root CA in a client's Trusted Root Certification Authorities; without a user, every client (Group Policy)",
  params: z.strictObject({ user: z.string().optional(), trust: z.boolean() }),
  refs: { user: 'user' },
  title: (p) => `${p.trust ? 'Trust' : 'Stop trusting'} the enterprise root CA on ${p.user ? clientHost(p.user) : 'every client'}`,
  emulated: ({ lab }, p) => configured(communicatorConfigure(lab.get(COMMUNICATOR_ID), { ...(p.user ? { user: p.user } : {}), settings: { trustLabCa: p.trust } }), `Trusted root ${p.trust ? 'added' : 'removed'}`),
});

const configureManualStep = defineStep({
  name: 'communicator.configureManual',
  client: 'reads',
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
  client: 'reads',
  kind: 'action',
  summary: 'The user types a sign-in address in Communicator (remembered for the next sign-in); without an address, the one the operator gave',
  params: z.strictObject({ user: z.string(), address: z.string().optional() }),
  refs: { user: 'user' },
  title: (p) => (p.address ? `${p.user} signs in to Communicator as ${p.address}` : `${p.user} uses the sign-in address the administrator gave`),
  emulated: ({ lab }, p) => configured(communicatorConfigure(lab.get(COMMUNICATOR_ID), { user: p.user, settings: { signInAddress: p.address ?? null } }), `Sign-in address: ${p.address ?? '(the primary SIP address)'}`),
});

export const communicatorSteps: StepDefinition[] = [signInStep, signOutStep, sendImStep, setPresenceStep, addContactStep, expectPresenceStep, addressBookStep, clientEventStep, setTrustStep, configureManualStep, setSignInAddressStep];
