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

/** A sipe account signing in as ocsuser1 (sign-in address, then the Windows login) over `transport`. */
async function signIn(irc: Irc, transport: 'tcp' | 'tls', password: string): Promise<string> {
  const port = transport === 'tls' ? endpoints.sipTls?.port : endpoints.sipTcp?.port;
  // bitlbee reads a backslash as an escape: CORP\\ocsuser1 reaches sipe as CORP\ocsuser1.
  irc.command(`account add sipe ocsuser1@example.com,CORP\\\\ocsuser1 ${password}`);
  // Always a server and a transport: with `auto`, sipe would look the domain's SRV records up through the
  // machine's own resolver.
  irc.command(`account sipe set server ${transport === 'tls' ? endpoints.poolFqdn : '127.0.0.1'}:${port}`);
  irc.command(`account sipe set transport ${transport}`);
  irc.command('account sipe set authentication ntlm');
  irc.command('account sipe on');
  const line = await irc.waitFor(/sipe - (Logging in: Logged in|Login error: .*|Couldn't connect.*)$/, 20_000);
  // Signed in, sipe goes on (provisioning, subscriptions) over the association: every answer it gets must
  // carry a signature it accepts, or it drops the connection ("Invalid message signature received").
  if (line.includes('Logged in')) await new Promise((r) => setTimeout(r, 1500));
  irc.command('account sipe off');
  irc.command('account sipe del');
  return line.replace(/^.*sipe - /, '');
}

describe.runIf(bitlbeeAvailable)('pidgin-sipe against ocslab serve', () => {
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
    const on = async (irc: Irc, user: string, password: string) => {
      irc.command(`account add sipe ${user}@example.com,CORP\\\\${user} ${password}`);
      irc.command(`account sipe set server 127.0.0.1:${endpoints.sipTcp?.port}`);
      irc.command('account sipe set transport tcp');
      irc.command('account sipe on');
      expect(await irc.waitFor(/sipe - (Logging in: Logged in|Login error: .*)$/, 20_000)).toMatch(/Logged in/);
    };
    try {
      await on(alice, 'ocsuser1', 'Us3r1-P@ss');
      await on(bob, 'ocsuser2', 'Us3r2-P@ss');
      alice.command('add sipe sip:ocsuser2@example.com bob2');
      await alice.waitFor(/Adding `sip:ocsuser2@example\.com' to contact list/, 10_000);
      alice.send('PRIVMSG bob2 :hello from ocsuser1');
      // bitlbee shows a message from someone not in the list in the control channel, nick first.
      const got = await bob.waitFor(/PRIVMSG \S+ :(\S+: )?hello from ocsuser1$/, 15_000);
      const from = /^:([^!]+)!/.exec(got)?.[1] ?? '';
      expect(got).toContain('ocsuser1@example.com');
      bob.send(`PRIVMSG ${from} :hello back from ocsuser2`);
      expect(await alice.waitFor(/hello back from ocsuser2$/, 15_000)).toMatch(/^:bob2!/);
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
