/**
 * The load side of the wire benchmark, run as its own process (so the server's figures are not shared
 * with the client's): `tsx bench/wire-load.ts <ldap|sip|hold> <endpoints.json> <seconds|count>`.
 * Prints one JSON line with what it did.
 */
import { readFileSync } from 'node:fs';
import ldap from 'ldapjs';
import { RawSipClient } from '../test/support/wire-sip.js';

interface Endpoints {
  ldap: string;
  bindDn: string;
  bindPassword: string;
  baseDn: string;
  sipTcp: { host: string; port: number } | null;
  users: Array<{ sam: string; sipUri: string; password: string }>;
}

const [mode = '', file = '', arg = '5'] = process.argv.slice(2);
const e = JSON.parse(readFileSync(file, 'utf8')) as Endpoints;

async function ldapLoad(seconds: number): Promise<void> {
  const clients = 4;
  const deadline = Date.now() + seconds * 1000;
  let searches = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const c = ldap.createClient({ url: e.ldap });
      c.on('error', () => undefined);
      await new Promise<void>((res, rej) => c.bind(e.bindDn, e.bindPassword, (err) => (err ? rej(err) : res())));
      while (Date.now() < deadline) {
        await new Promise<void>((res, rej) =>
          c.search(e.baseDn, { scope: 'sub', filter: '(sAMAccountName=ocsuser1)', attributes: ['msRTCSIP-PrimaryUserAddress'] }, (err, r) => {
            if (err) return rej(err);
            r.on('error', rej);
            r.on('end', () => res());
          }),
        );
        searches++;
      }
      await new Promise<void>((res) => c.unbind(() => res()));
    }),
  );
  console.log(JSON.stringify({ mode, seconds, clients, searches, perSecond: searches / seconds }));
}

async function sipLoad(seconds: number): Promise<void> {
  if (!e.sipTcp) throw new Error('the front end is not listening for SIP');
  const clients = 16;
  const deadline = Date.now() + seconds * 1000;
  let registrations = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, i) => {
      const u = e.users[i % e.users.length];
      if (!u) return;
      const c = await RawSipClient.tcp(e.sipTcp?.port ?? 0);
      while (Date.now() < deadline) {
        const r = await c.register(u.sipUri, u.sam, u.password, 300);
        if (r.status !== 200) throw new Error(`REGISTER answered ${r.status}`);
        registrations++;
      }
      c.close();
    }),
  );
  console.log(JSON.stringify({ mode, seconds, clients, registrations, perSecond: registrations / seconds }));
}

/** Registers `count` endpoints (one TCP connection each), says so, and holds them until stdin closes. */
async function hold(count: number): Promise<void> {
  if (!e.sipTcp) throw new Error('the front end is not listening for SIP');
  const held: RawSipClient[] = [];
  for (let i = 0; i < count; i++) {
    const u = e.users[i % e.users.length];
    if (!u) break;
    const c = await RawSipClient.tcp(e.sipTcp.port);
    const r = await c.register(u.sipUri, u.sam, u.password, 3600);
    if (r.status !== 200) throw new Error(`REGISTER answered ${r.status}`);
    held.push(c);
  }
  console.log(JSON.stringify({ mode, registered: held.length }));
  process.stdin.resume();
  process.stdin.on('end', () => {
    for (const c of held) c.close();
    process.exit(0);
  });
}

const n = Number(arg);
await (mode === 'ldap' ? ldapLoad(n) : mode === 'sip' ? sipLoad(n) : mode === 'hold' ? hold(n) : Promise.reject(new Error(`unknown mode ${mode}`)));
