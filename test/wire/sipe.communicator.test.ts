/**
 * pidgin-sipe and the lab's own Communicator on the same front end: sipe signs in as ocsuser2 (its binding
 * becomes the newest), the seed's Communicator is signed in as ocsuser1. sipe's IM arrives as an
 * INVITE-established session with the first message in the INVITE (`ms-text-format`), which Communicator
 * accepts; Communicator's IM reaches sipe.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labNetwork } from '../../emulators/network/lab.network.js';
import { communicatorFleet } from '../../emulators/communicator/communicator.fleet.js';
import type { SipListening } from '../../emulators/ocs/ocs.sip.adapter.js';
import { buildSeedLab, type SeedLab } from '../support/wire-sip.js';
import { Bitlbee, bitlbeeAvailable, type Irc } from '../support/bitlbee.js';

if (!bitlbeeAvailable && process.env.CI) throw new Error('bitlbee with pidgin-sipe is not installed (apt-get install bitlbee-libpurple pidgin-sipe)');

let env: SeedLab;
let sip: SipListening;
let bitlbee: Bitlbee;

beforeAll(async () => {
  if (!bitlbeeAvailable) return;
  env = await buildSeedLab();
  sip = await labNetwork(env.lab).sip('ocsfe01');
  bitlbee = await Bitlbee.start();
}, 60_000);

afterAll(async () => {
  await bitlbee?.stop();
  await env?.lab.close();
});

const eventually = async (f: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!f() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return f();
};

describe.runIf(bitlbeeAvailable)('pidgin-sipe and the emulated Communicator', () => {
  it('exchange IMs both ways: sipe in an IM session (INVITE), Communicator accepting it', async () => {
    const fleet = communicatorFleet(env.lab);
    const ocsuser1 = fleet.get('ocsuser1');
    if (!ocsuser1) throw new Error('the seed did not leave ocsuser1 with a Communicator');
    const irc: Irc = await bitlbee.irc('sipeuser');
    try {
      irc.command('account add sipe ocsuser2@example.com,CORP\\\\ocsuser2 Us3r2-P@ss');
      irc.command(`account sipe set server 127.0.0.1:${sip.tcp.port}`);
      irc.command('account sipe set transport tcp');
      irc.command('account sipe on');
      expect(await irc.waitFor(/sipe - (Logging in: Logged in|Login error: .*)$/, 20_000)).toMatch(/Logged in/);
      irc.command('add sipe sip:ocsuser1@example.com communicator');
      await irc.waitFor(/Adding `sip:ocsuser1@example\.com' to contact list/, 10_000);

      // sipe → Communicator.
      const before = fleet.state(ocsuser1).context.inbox.length;
      irc.send('PRIVMSG communicator :Hello Communicator, from sipe');
      const arrived = await eventually(() => fleet.state(ocsuser1).context.inbox.slice(before).some((m) => m.body === 'Hello Communicator, from sipe'));
      expect(arrived, JSON.stringify(fleet.state(ocsuser1).context.inbox)).toBe(true);
      const got = fleet.state(ocsuser1).context.inbox.slice(before);
      expect(got.filter((m) => m.body === 'Hello Communicator, from sipe')).toHaveLength(1);
      expect(got[0]?.from).toBe('sip:ocsuser2@example.com');

      // Communicator → sipe.
      const answer = await fleet.sendIm(ocsuser1, 'sip:ocsuser2@example.com', 'Hello sipe, from Communicator');
      expect(answer?.status).toBe(200);
      expect(await irc.waitFor(/^:communicator!\S+ PRIVMSG \S+ :Hello sipe, from Communicator$/, 10_000)).toBeTruthy();
      expect(irc.lines.filter((l) => /sipe - .*(signature|rror)/.test(l))).toEqual([]);
    } finally {
      irc.close();
    }
  }, 60_000);
});
