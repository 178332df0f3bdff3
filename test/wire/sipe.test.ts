/**
 * pidgin-sipe, the independent OCS client, signs in to `ocslab serve` as a real OCS 2007 R2 front end
 * wants it: NTLM ([MS-SIPAE]) over TCP, and over TLS with the lab's root CA its only trusted root. It runs
 * headless inside bitlbee (test/support/bitlbee.ts), which runs in a mount namespace of its own so that the
 * pool's name resolves to the served listener without asking the machine's resolver.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Endpoints } from '../../cli/serve.js';
import { projectRoot } from '../support/scenarios.js';
import { Bitlbee, bitlbeeAvailable, type Irc } from '../support/bitlbee.js';

// CI installs bitlbee-libpurple and pidgin-sipe (.ci/run): there, their absence is a failure, not a skip.
if (!bitlbeeAvailable && process.env.CI) throw new Error('bitlbee with pidgin-sipe is not installed (apt-get install bitlbee-libpurple pidgin-sipe)');

const dir = mkdtempSync(join(tmpdir(), 'ocslab-sipe-'));
let serve: ChildProcess;
let endpoints: Endpoints;
let bitlbee: Bitlbee;

beforeAll(async () => {
  if (!bitlbeeAvailable) return;
  const file = join(dir, 'endpoints.json');
  serve = spawn(process.execPath, [join(projectRoot, 'bin', 'ocslab.js'), 'serve', '--port-base', '0', '--endpoints-file', file], { cwd: projectRoot, env: { ...process.env, OCSLAB_SNAPSHOT_CACHE: join(dir, 'cache') }, stdio: 'ignore' });
  const deadline = Date.now() + 20_000;
  while (!existsSync(file)) {
    if (Date.now() > deadline || serve.exitCode !== null) throw new Error('ocslab serve did not write its endpoints file');
    await new Promise((r) => setTimeout(r, 50));
  }
  endpoints = JSON.parse(readFileSync(file, 'utf8')) as Endpoints;
  bitlbee = await Bitlbee.start({ trust: [readFileSync(endpoints.caCertFile, 'utf8')], hosts: { [endpoints.poolFqdn]: '127.0.0.1' } });
}, 40_000);

afterAll(async () => {
  await bitlbee?.stop();
  if (serve && serve.exitCode === null) {
    const exited = new Promise((r) => serve.once('exit', r));
    serve.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Adds a sipe account for `user` (sign-in address, then the Windows login) and signs it in over
 * `transport`; resolves with sipe's sign-in line.
 */
async function on(irc: Irc, user: string, password: string, transport: 'tcp' | 'tls' = 'tcp'): Promise<string> {
  const port = transport === 'tls' ? endpoints.sipTls?.port : endpoints.sipTcp?.port;
  // bitlbee reads a backslash as an escape: CORP\\user reaches sipe as CORP\user.
  irc.command(`account add sipe ${user}@example.com,CORP\\\\${user} ${password}`);
  // Always a server and a transport: with `auto`, sipe would look the domain's SRV records up through the
  // machine's own resolver.
  irc.command(`account sipe set server ${transport === 'tls' ? endpoints.poolFqdn : '127.0.0.1'}:${port}`);
  irc.command(`account sipe set transport ${transport}`);
  irc.command('account sipe set authentication ntlm');
  irc.command('account sipe on');
  return irc.waitFor(/sipe - (Logging in: Logged in|Login error: .*|Couldn't connect.*)$/, 20_000);
}

/** ocsuser1 signs in over `transport`, stays a moment, and leaves; resolves with what sipe said of the sign-in. */
async function signIn(irc: Irc, transport: 'tcp' | 'tls', password: string): Promise<string> {
  const line = await on(irc, 'ocsuser1', password, transport);
  // Signed in, sipe goes on (provisioning, subscriptions) over the association: every answer it gets must
  // carry a signature it accepts, or it drops the connection ("Invalid message signature received").
  if (line.includes('Logged in')) await new Promise((r) => setTimeout(r, 1500));
  irc.command('account sipe off');
  irc.command('account sipe del');
  return line.replace(/^.*sipe - /, '');
}

/** The gateway's contact-list line for `handle` (`blist all`: nick, handle, status), once it matches `status`. */
async function buddyLine(irc: Irc, handle: string, status: RegExp = /./): Promise<string> {
  const escaped = handle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const line = new RegExp(`:(\\S+)\\s+${escaped} sipe\\s+(.*)$`);
  for (let i = 0; i < 40; i++) {
    irc.command('blist all');
    const end = await irc.waitFor(/\d+ buddies \(/, 5000);
    const at = irc.lines.lastIndexOf(end);
    const found = irc.lines.slice(Math.max(0, at - 50), at).reverse().find((l) => line.test(l));
    if (found && status.test(line.exec(found)?.[2] ?? '')) return found;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${handle} never showed as ${status} in the contact list; last lines:\n${irc.lines.slice(-12).join('\n')}`);
}

const nickOf = (line: string) => /^:root!root@localhost PRIVMSG &bitlbee :(\S+)/.exec(line)?.[1] ?? '';

describe.runIf(bitlbeeAvailable)('pidgin-sipe against ocslab serve', () => {
  // First, while ocsuser2 is signed in only as the lab's own Communicator inside serve (a sipe sign-in as
  // ocsuser2 would publish its own state: the newest user state is what watchers see).
  it("sees ocsuser2 (the lab's Communicator) in ocsuser1's server-stored contact list, Busy with the note ocsuser2 set", async () => {
    const irc = await bitlbee.irc('presence');
    try {
      expect(await on(irc, 'ocsuser1', 'Us3r1-P@ss')).toMatch(/Logged in/);
      // The contact list came from vnd-microsoft-roaming-contacts (ocsuser1 added ocsuser2 in the seed),
      // the availability and note from the categories NOTIFY of the batched presence subscription, and
      // the name from the contact card.
      const line = await buddyLine(irc, 'sip:ocsuser2@example.com', /^Busy \(Busy - Rehearsing the pool01 deployment\)$/);
      expect(line).toContain('Busy (Busy - Rehearsing the pool01 deployment)');
      expect(irc.lines.filter((l) => /sipe - .*(signature|rror)/.test(l))).toEqual([]);
    } finally {
      irc.command('account sipe off');
      irc.close();
    }
  }, 60_000);

  it("stores a contact sipe adds on the user's home back end: the next sign-in, from a fresh client, lists it", async () => {
    const partner = 'sip:partner@fabrikam.example';
    const first = await bitlbee.irc('adder');
    try {
      expect(await on(first, 'ocsuser1', 'Us3r1-P@ss')).toMatch(/Logged in/);
      // Once the server's list is in (ocsuser2 shows), as a user adds contacts: sipe drops a contact added
      // before the list arrives that the list does not hold.
      await buddyLine(first, 'sip:ocsuser2@example.com');
      // SOAP over SERVICE: addGroup for the gateway's group, then setContact.
      first.command(`add sipe ${partner}`);
      await first.waitFor(/Adding `sip:partner@fabrikam\.example' to contact list/, 10_000);
      await buddyLine(first, partner);
      await new Promise((r) => setTimeout(r, 1000));
      first.command('account sipe off');
    } finally {
      first.close();
    }
    // Another gateway user: no local buddy list, only what the server keeps.
    const second = await bitlbee.irc('readder');
    try {
      expect(await on(second, 'ocsuser1', 'Us3r1-P@ss')).toMatch(/Logged in/);
      expect(await buddyLine(second, partner)).toContain(partner);
      expect(await buddyLine(second, 'sip:ocsuser2@example.com')).toContain('sip:ocsuser2@example.com');
      second.command('account sipe off');
    } finally {
      second.close();
    }
  }, 90_000);

  it('signs in as ocsuser1 with NTLM over TCP', async () => {
    const irc = await bitlbee.irc('tcpuser');
    try {
      expect(await signIn(irc, 'tcp', 'Us3r1-P@ss')).toBe('Logging in: Logged in');
      expect(irc.lines.filter((l) => /sipe - .*(signature|error|Error)/.test(l))).toEqual([]);
    } finally {
      irc.close();
    }
  }, 40_000);

  it('signs in with NTLM over TLS, the certificate verified for the pool name against the lab root alone', async () => {
    const irc = await bitlbee.irc('tlsuser');
    try {
      expect(await signIn(irc, 'tls', 'Us3r1-P@ss')).toBe('Logging in: Logged in');
      // Nothing was accepted by hand: no certificate question was asked.
      expect(irc.lines.some((l) => /Accept certificate/.test(l))).toBe(false);
    } finally {
      irc.close();
    }
  }, 40_000);

  it('exchanges IMs both ways between two sipe users, as INVITE-established sessions through the front end', async () => {
    const alice = await bitlbee.irc('alice');
    const bob = await bitlbee.irc('bob');
    try {
      expect(await on(alice, 'ocsuser1', 'Us3r1-P@ss')).toMatch(/Logged in/);
      expect(await on(bob, 'ocsuser2', 'Us3r2-P@ss')).toMatch(/Logged in/);
      // ocsuser2 is in ocsuser1's server-stored contact list: the gateway gives it a nick.
      const bob2 = nickOf(await buddyLine(alice, 'sip:ocsuser2@example.com'));
      alice.send(`PRIVMSG ${bob2} :hello from ocsuser1`);
      // bitlbee shows a message from someone not in the list in the control channel, nick first.
      const got = await bob.waitFor(/PRIVMSG \S+ :(\S+: )?hello from ocsuser1$/, 15_000);
      const from = /^:([^!]+)!/.exec(got)?.[1] ?? '';
      expect(got).toContain('ocsuser1@example.com');
      bob.send(`PRIVMSG ${from} :hello back from ocsuser2`);
      expect(await alice.waitFor(/hello back from ocsuser2$/, 15_000)).toMatch(new RegExp(`^:${bob2}!`));
      for (const irc of [alice, bob]) expect(irc.lines.filter((l) => /sipe - .*(signature|rror)/.test(l))).toEqual([]);
    } finally {
      alice.close();
      bob.close();
    }
  }, 60_000);

  it('reports a wrong password as sipe does against OCS: "Authentication failed"', async () => {
    const irc = await bitlbee.irc('wrongpass');
    try {
      expect(await signIn(irc, 'tcp', 'Not-the-Passw0rd')).toBe('Login error: Authentication failed');
    } finally {
      irc.close();
    }
  }, 40_000);
});
