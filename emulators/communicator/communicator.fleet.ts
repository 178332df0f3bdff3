/**
 * The lab's Communicator clients: one client machine per user (or per index, for a sign-in storm), each
 * on its own loopback address, all on the lab's network (`labNetwork`). Created on first use and closed
 * with the lab: signing everyone out closes their connections.
 */
import { createActor, waitFor, type Actor } from 'xstate';
import type { Lab } from '../../sim/lab.js';
import { caInfo } from '../ca/ca.client.js';
import { labNetwork, type Network } from '../network/lab.network.js';
import { dialerNetwork } from '../network/dialer.network.js';
import type { ClientsOnTarget } from '../../sim/plan.js';
import { addressBookFileName } from '../ocs/ocs.addressbook.js';
import type { Resolver } from './communicator.discovery.js';
import { COMMUNICATOR_MESSAGES } from './communicator.errors.js';
import type { ClientSettings } from './communicator.events.js';
import { communicatorClientMachine, type ClientContext, type ClientRuntime } from './communicator.client.machine.js';
import { checkCertificate, handshake, hangUp, httpsGet, openSocket, udpResolver, type ClientOrigin, type SipAnswer } from './communicator.wire.js';

export const FLEET_RESOURCE = 'communicator-clients';
/** How long a sign-in may take on the wire before the step gives up (a bug, not a deployment fault). */
const SIGN_IN_LIMIT_MS = 30_000;

export type ClientActor = Actor<typeof communicatorClientMachine>;

export interface LabClient {
  key: string;
  actor: ClientActor;
  runtime: ClientRuntime;
}

export interface ClientState {
  state: string;
  context: ClientContext;
}

export interface AddressBookDownload {
  ok: boolean;
  url: string;
  lines: string[];
  /** The downloaded file's text (tab-separated entries), when it downloaded. */
  content?: string;
  message?: string;
}

const stateOf = (a: ClientActor): ClientState => {
  const s = a.getSnapshot();
  return { state: typeof s.value === 'string' ? s.value : JSON.stringify(s.value), context: s.context };
};

export class CommunicatorFleet {
  private readonly clients = new Map<string, LabClient>();
  private queryId = 1;

  constructor(
    readonly lab: Lab,
    readonly network: Network,
    /**
     * The clients of a replay sign in to a real target (sim/replay.ts): its certification authority (the
     * target's trust.caFile) instead of the lab's, and the machine's clock instead of the lab's, since a
     * real server checks certificates and NTLM times against its own.
     */
    private readonly options: { trustRoots?: () => string[]; now?: () => number } = {},
  ) {}

  /** The clients' clock: the lab's, or the machine's on a real target. */
  private now(): number {
    return this.options.now ? this.options.now() : this.lab.clock.now();
  }

  /** The lab's DNS server as the clients' resolver (their NIC's DNS server is the DC). */
  resolver(): Resolver {
    return async (name, type) => udpResolver(await this.network.dns(), () => (this.queryId = (this.queryId % 65_535) + 1))(name, type);
  }

  /** A user's client (created on first use), connecting from its own origin (address and source port). */
  client(key: string, account: string, origin: ClientOrigin): LabClient {
    const k = key.toLowerCase();
    const existing = this.clients.get(k);
    if (existing) return existing;
    // NTLM as the logged-on Windows user: the forest's NetBIOS domain, the user's own workstation, and
    // random bytes from a seeded stream of the client's own (it touches no other component's ids).
    const ids = this.lab.ids.fork(`communicator:${k}`);
    const ntlm = { domain: this.lab.topology.forest.netbios, workstation: `${k.replace(/[^a-z0-9]/gi, '').slice(0, 12).toUpperCase()}-PC`, bytes: (n: number) => ids.bytes(n), now: () => this.now() };
    const runtime: ClientRuntime = { user: k, account, network: this.network, resolver: this.resolver(), trust: { roots: [], now: () => this.now() }, origin, ntlm };
    const actor = createActor(communicatorClientMachine, { input: { runtime } });
    runtime.deliver = (e) => actor.send(e);
    actor.start();
    const c = { key: k, actor, runtime };
    this.clients.set(k, c);
    return c;
  }

  get(key: string): LabClient | undefined {
    return this.clients.get(key.toLowerCase());
  }

  all(): LabClient[] {
    return [...this.clients.values()];
  }

  /** Signs a client in and waits until it is signed in or has failed. */
  async signIn(c: LabClient, signInAddress: string, password: string, settings: ClientSettings): Promise<ClientState> {
    const labRoot = () => (this.lab.get('ca') ? [caInfo(this.lab.get('ca')).certPem] : []);
    c.runtime.trust.roots = settings.trustLabCa ? (this.options.trustRoots ?? labRoot)() : [];
    const current = stateOf(c.actor).state;
    if (current === 'signedIn') await this.signOut(c);
    c.actor.send({ type: 'signIn', request: { signInAddress, password, settings } });
    await waitFor(c.actor, (s) => s.matches('signedIn') || s.matches('failed'), { timeout: SIGN_IN_LIMIT_MS });
    return stateOf(c.actor);
  }

  async signOut(c: LabClient): Promise<ClientState> {
    if (!c.actor.getSnapshot().matches('signedIn')) return stateOf(c.actor);
    c.actor.send({ type: 'signOut' });
    await waitFor(c.actor, (s) => s.matches('signedOut'), { timeout: SIGN_IN_LIMIT_MS });
    return stateOf(c.actor);
  }

  state(c: LabClient): ClientState {
    return stateOf(c.actor);
  }

  /** Sends an IM from a signed-in client; the final SIP answer. */
  async sendIm(c: LabClient, to: string, text: string): Promise<SipAnswer | undefined> {
    return c.runtime.session?.sendIm(to, text);
  }

  /**
   * The address book download: the internal URL in-band provisioning gave, the host resolved on the
   * lab's DNS, a TLS connection through the lab network checked as the client checks certificates, then
   * GET of the newest full file (`F-<day>.lsabs`, today's first, then back a day at a time over the 30
   * days the Address Book Server keeps full files).
   */
  async downloadAddressBook(c: LabClient, credentials: { user: string; password: string }): Promise<AddressBookDownload> {
    const { context } = stateOf(c.actor);
    const base = context.provisioning?.absInternalServerUrl ?? '';
    const failed = (lines: string[]): AddressBookDownload => ({ ok: false, url: base, lines, message: COMMUNICATOR_MESSAGES.addressBook });
    if (!c.actor.getSnapshot().matches('signedIn')) return failed([`${c.key} is not signed in: no Address Book URL yet`]);
    if (!base) return failed(['In-band provisioning gave no internal Address Book URL']);
    let url: URL;
    try {
      url = new URL(base);
    } catch {
      return failed([`In-band provisioning gave an unusable Address Book URL: ${base}`]);
    }
    const host = url.hostname.toLowerCase();
    const a = await c.runtime.resolver(host, 'A');
    const address = a.rcode === 'NOERROR' ? a.records.find((r) => r.type === 'A') : undefined;
    if (!address || address.type !== 'A') return failed([`DNS A ${host}: ${a.rcode === 'NOERROR' ? 'no records' : a.rcode}`]);
    const lines = [`DNS A ${host}: ${address.address}`];
    const path = url.pathname.replace(/\/+$/, '');
    const now = this.now();
    for (let day = 0; day < 30; day++) {
      const file = addressBookFileName(now - day * 86_400_000, 'lsabs');
      const dialled = await this.network.dial(address.address, 443, c.runtime.origin);
      if (!dialled.ok) return failed([...lines, `Connect ${host} (${address.address}:443): ${dialled.detail}`]);
      let raw;
      try {
        raw = await openSocket(dialled.route);
      } catch (e) {
        dialled.hangUp?.();
        return failed([...lines, `Connect ${host} (${address.address}:443): ${(e as Error).message}`]);
      }
      if (dialled.hangUp) raw.once('close', dialled.hangUp);
      let secured;
      try {
        secured = await handshake(raw, host);
      } catch (e) {
        hangUp(raw, dialled);
        return failed([...lines, `TLS with ${dialled.route.server} for ${host}: ${(e as Error).message}`]);
      }
      const tls = checkCertificate(secured.peer, host, dialled.route.server, c.runtime.trust);
      if (!tls.ok) {
        hangUp(secured.socket, dialled);
        return failed([...lines, `TLS certificate from ${dialled.route.server} for ${host}: ${tls.certificate?.subject ?? '?'} — ${tls.error ?? 'rejected'}`]);
      }
      let answer;
      try {
        answer = await httpsGet(secured.socket, host, `${path}/${file}`, credentials);
      } catch (e) {
        hangUp(secured.socket, dialled);
        return failed([...lines, `GET ${base}/${file}: ${(e as Error).message}`]);
      }
      hangUp(secured.socket, dialled);
      const line = `GET ${url.origin}${path}/${file}: HTTP ${answer.status} ${answer.statusText} from ${dialled.route.server}`;
      if (answer.status === 200) return { ok: true, url: `${url.origin}${path}/${file}`, lines: [...lines, line], content: answer.body };
      if (answer.status !== 404) return failed([...lines, line]);
      if (day === 0) lines.push(line);
    }
    return failed([...lines, `No full address book file in ${base} for the last 30 days`]);
  }

  /** Signs every client out and stops them. */
  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.allSettled(all.map(async (c) => {
      await c.runtime.session?.close();
      c.runtime.session = undefined;
      c.actor.stop();
    }));
  }
}

/** The lab's clients, on the lab's network; closed with the lab. */
export function communicatorFleet(lab: Lab): CommunicatorFleet {
  const network = labNetwork(lab);
  return lab.resource(FLEET_RESOURCE, () => {
    const fleet = new CommunicatorFleet(lab, network);
    return { value: fleet, close: () => fleet.close() };
  });
}

/**
 * A replay's clients (sim/replay.ts): the lab's Communicator machines, signing in to the target through
 * its dialer, trusting its certification authority, on the machine's clock. Registered before the first
 * client step, so `communicatorFleet(lab)` finds them instead of clients on the lab's own network.
 */
export const communicatorsOnTarget: ClientsOnTarget = (lab, target) => {
  lab.resource(FLEET_RESOURCE, () => {
    const fleet = new CommunicatorFleet(lab, dialerNetwork(target.dialer, target.topology), { trustRoots: target.trustRoots, now: () => Date.now() });
    return { value: fleet, close: () => fleet.close() };
  });
};
