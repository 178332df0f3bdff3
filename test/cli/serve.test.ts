import { describe, it, expect, afterAll } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket as createUdpSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { projectRoot } from '../support/scenarios.js';
import { endpointsTable, type Endpoints } from '../../cli/serve.js';

const dir = mkdtempSync(join(tmpdir(), 'ocslab-serve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));


/**
 * Serve keeps the rehearsals it ran (decision 0012): these tests keep theirs here, not in the project's
 * cache, so that which serve rehearses and which goes on from a saved one depends on this file alone.
 */
const serveCache = join(dir, 'cache');

async function startServe(file: string, extra: string[] = [], cache = serveCache): Promise<{ child: ChildProcess; endpoints: Endpoints; output: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [join(projectRoot, 'bin', 'ocslab.js'), 'serve', '--port-base', '0', '--endpoints-file', file, ...extra], { cwd: projectRoot, env: { ...process.env, NO_COLOR: '1', OCSLAB_SNAPSHOT_CACHE: cache } });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 15_000;
  // The endpoints file, then the table's last row on stdout.
  while (!existsSync(file) || !/^ {2}Users /m.test(out)) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`serve did not write its endpoints file:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, endpoints: JSON.parse(readFileSync(file, 'utf8')) as Endpoints, output: () => out, exited };
}

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });

describe('ocslab serve', () => {
  it('opens the seed end state to real dig and ldapsearch, and stops cleanly on SIGTERM', async () => {
    const file = join(dir, 'endpoints.json');
    const t0 = Date.now();
    const { child, endpoints, output, exited } = await startServe(file);
    try {
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(endpoints).toMatchObject({ baseDn: 'DC=corp,DC=example,DC=net', bindDn: 'CORP\\Administrator', adDomain: 'corp.example.net', sipDomain: 'example.com', poolFqdn: 'pool01.corp.example.net' });
      expect(endpoints.users.map((u) => u.sipUri)).toEqual(['sip:ocsuser1@example.com', 'sip:ocsuser2@example.com']);
      expect(readFileSync(endpoints.caCertFile, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
      const dig = spawnSync('dig', ['@127.0.0.1', '-p', String(endpoints.dns.port), 'pool01.corp.example.net', 'A', '+short', '+time=2', '+tries=1'], { encoding: 'utf8' });
      expect(dig.stdout.trim()).toBe('127.0.10.30');
      const search = spawnSync('ldapsearch', ['-x', '-LLL', '-H', endpoints.ldap, '-D', endpoints.bindDn, '-w', endpoints.bindPassword, '-b', endpoints.baseDn, '(msRTCSIP-UserEnabled=TRUE)', 'msRTCSIP-PrimaryUserAddress'], { encoding: 'utf8', env: { ...process.env, LDAPNOINIT: '1' } });
      expect(search.status).toBe(0);
      expect(search.stdout).toContain('msRTCSIP-PrimaryUserAddress: sip:ocsuser2@example.com');
      expect(output()).toContain('seed-part3 rehearsed: 37 passed');
      // IIS over HTTPS with the pool certificate, verified by curl against the lab root as the pool FQDN.
      const httpsPort = new URL(endpoints.https).port;
      const curl = spawnSync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', endpoints.caCertFile, '--resolve', `${endpoints.poolFqdn}:${httpsPort}:127.0.0.1`, '-u', 'CORP\\ocsuser1:Us3r1-P@ss', `https://${endpoints.poolFqdn}:${httpsPort}/GroupExpansion/Int/service.asmx`], { encoding: 'utf8' });
      expect(curl.stdout).toBe('200');
      // The address book the Address Book Server generated from the users in AD, over HTTPS.
      expect(endpoints.addressBook).toMatch(/\/Abs\/Int\/Handler\/F-[0-9a-f]{4}\.lsabs$/);
      const abs = spawnSync('curl', ['-sS', '--cacert', endpoints.caCertFile, '--resolve', `${endpoints.poolFqdn}:${httpsPort}:127.0.0.1`, '-u', 'CORP\\ocsuser2:Us3r2-P@ss', endpoints.addressBook ?? ''], { encoding: 'utf8' });
      expect(abs.stdout).toContain('sip:ocsuser1@example.com\tOCS User 1');
      // The front end's SIP over TLS presents a certificate valid for sip.example.com.
      expect(endpoints.sipTls).not.toBeNull();
      const tls = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${endpoints.sipTls?.port}`, '-servername', 'sip.example.com', '-CAfile', endpoints.caCertFile, '-verify_return_error', '-verify_hostname', 'sip.example.com'], { encoding: 'utf8', input: '' });
      expect(tls.stdout).toContain('Verify return code: 0 (ok)');
      expect(endpoints.sipWss).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
      const crl = spawnSync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', `${endpoints.caHttp}/CertEnroll/corp-DC01-CA.crl`], { encoding: 'utf8' });
      expect(crl.stdout).toBe('200');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(output()).toContain('ocslab serve: stopped (SIGTERM)');
    expect(await portOpen(Number(new URL(endpoints.ldap).port))).toBe(false);
    // What it wrote for others to read goes with it: no reader finds old addresses after a stop. Its root
    // certificate is its own, named after its endpoints file (two serves in one folder never share one).
    expect(basename(endpoints.caCertFile)).toBe('endpoints.root-ca.pem');
    expect(existsSync(file)).toBe(false);
    expect(existsSync(endpoints.caCertFile)).toBe(false);
  });

  it('leaves the files of a later serve on the same endpoints file when it stops: the endpoints and the root certificate are theirs', async () => {
    const file = join(dir, 'shared-endpoints.json');
    const first = await startServe(file);
    await new Promise((r) => setTimeout(r, 50));
    rmSync(file);
    const second = await startServe(file);
    try {
      expect(second.endpoints.pid).not.toBe(first.endpoints.pid);
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);
      expect(existsSync(file)).toBe(true);
      expect(existsSync(second.endpoints.caCertFile)).toBe(true);
    } finally {
      second.child.kill('SIGTERM');
    }
    expect(await second.exited).toBe(0);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(second.endpoints.caCertFile)).toBe(false);
  });

  it('refuses a port another process holds with exit 2 and a clear message, leaving nothing listening', async () => {
    // Held below the ephemeral range (32768 and up), so the ports beside it are not some other test's
    // client sockets at the moment serve tries them.
    const holder = createServer();
    const held = await holdPortBelowEphemeral(holder);
    try {
      const base = held - 2; // the HTTPS listener's offset from --port-base is 2
      const r = spawnSync(process.execPath, [join(projectRoot, 'bin', 'ocslab.js'), 'serve', '--port-base', String(base)], { cwd: projectRoot, encoding: 'utf8', timeout: 30_000 });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^ocslab serve: cannot listen on 127\\.0\\.0\\.1:${held} \\(EADDRINUSE\\)`));
      expect(r.stderr).not.toContain('internal error');
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(await portOpen(base)).toBe(false);
    } finally {
      holder.close();
    }
  });
});


/** A process's state letter from /proc (Z: exited, not yet reaped), or undefined when it is gone. */
function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}
const running = (pid: number) => {
  const state = processState(pid);
  return state !== undefined && state !== 'Z';
};

/** The processes a process started (esbuild's service under tsx), read from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Whether this process can bind the port now (TCP, or UDP for DNS): nothing holds it any more. */
function bindable(port: number, kind: 'tcp' | 'udp'): Promise<boolean> {
  return new Promise((resolve) => {
    if (kind === 'udp') {
      const socket = createUdpSocket('udp4');
      socket.once('error', () => (socket.close(), resolve(false)));
      socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
      return;
    }
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

async function until(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** The example commands the table printed, each after the service's address. */
const printedExamples = (output: string) => output.split('\n').flatMap((line) => {
  const m = /^ {2}(DNS|LDAP|HTTPS|SIP) .*? {3}((?:dig|ldapsearch|curl|openssl) .*)$/.exec(line);
  return m?.[1] && m[2] ? [{ service: m[1], command: m[2] }] : [];
});

describe('ocslab serve after an earlier serve of the same rehearsal', () => {
  it('goes on from the point the earlier one saved, before the first client signs in, and serves the same end state', async () => {
    const cache = join(dir, 'resume-cache');
    const first = await startServe(join(dir, 'first.json'), [], cache);
    const firstCa = readFileSync(first.endpoints.caCertFile, 'utf8');
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.output()).not.toContain('went on from');
    const second = await startServe(join(dir, 'second.json'), [], cache);
    try {
      expect(await until(() => /^ {2}Users /m.test(second.output()), 15_000), second.output()).toBe(true);
      // The rest of the rehearsal ran again, from its first sign-in, and passed.
      expect(second.output()).toMatch(/seed-part3 rehearsed: 37 passed, 0 failed, 0 skipped \(went on from step 22 \(communicator\.signIn\) of the rehearsal an earlier serve saved \d+ s ago; --no-cache rehearses it all\)/);
      const e = second.endpoints;
      // The same CA, users and address book as the serve that saved it: the saved lab, not another one.
      expect(readFileSync(e.caCertFile, 'utf8')).toBe(firstCa);
      expect(e.users).toEqual(first.endpoints.users);
      expect(e.addressBook?.replace(/:\d+\//, ':PORT/')).toBe(first.endpoints.addressBook?.replace(/:\d+\//, ':PORT/'));
      // Resumed at today's date: what it issued before the pause is valid now, to a real TLS client.
      const tls = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${e.sipTls?.port}`, '-servername', 'sip.example.com', '-CAfile', e.caCertFile, '-verify_return_error', '-verify_hostname', 'sip.example.com'], { encoding: 'utf8', input: '' });
      expect(tls.stdout).toContain('Verify return code: 0 (ok)');
      const search = spawnSync('ldapsearch', ['-x', '-LLL', '-H', e.ldap, '-D', e.bindDn, '-w', e.bindPassword, '-b', e.baseDn, '(msRTCSIP-UserEnabled=TRUE)', 'msRTCSIP-PrimaryUserAddress'], { encoding: 'utf8', env: { ...process.env, LDAPNOINIT: '1' } });
      expect(search.stdout).toContain('msRTCSIP-PrimaryUserAddress: sip:ocsuser1@example.com');
    } finally {
      second.child.kill('SIGTERM');
    }
    expect(await second.exited).toBe(0);
    // --no-cache rehearses it all again.
    const third = await startServe(join(dir, 'third.json'), ['--no-cache'], cache);
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
    expect(third.output()).toContain('seed-part3 rehearsed: 37 passed, 0 failed, 0 skipped;');
  }, 60_000);
});

describe('the example commands ocslab serve prints', () => {
  for (const [scenario, dnsQuestion] of [
    ['seed-part3', /-t A pool01\.corp\.example\.net$/],
    ['full-deployment', /-t SRV _sipinternaltls\._tcp\.example\.com$/],
  ] as const) {
    it(`each works, pasted into a shell, against the lab it serves (${scenario})`, async () => {
      const file = join(dir, `examples-${scenario}.json`);
      const { child, output, exited } = await startServe(file, ['--scenario', scenario]);
      try {
        // The endpoints file can appear before the table is on stdout: wait for the table's last row.
        expect(await until(() => /^ {2}SIP /m.test(output()), 15_000), output()).toBe(true);
        const examples = printedExamples(output());
        expect(examples.map((e) => e.service), output()).toEqual(['DNS', 'LDAP', 'HTTPS', 'SIP']);
        expect(examples[0]?.command).toMatch(dnsQuestion);
        for (const { service, command } of examples) {
          // Nothing to fill in (no <user>:<password>); the machine's own resolver is never asked (dig @, curl --resolve).
          expect(command).not.toMatch(/<[a-z]+>|…|\.\.\./i);
          const r = spawnSync('sh', ['-c', command], { encoding: 'utf8', timeout: 15_000, env: { ...process.env, LDAPNOINIT: '1' } });
          expect(r.status, `${service}: ${command}\n${r.stdout}\n${r.stderr}`).toBe(0);
          if (service === 'DNS') {
            expect(r.stdout).toContain('status: NOERROR');
            expect(r.stdout).toMatch(/ANSWER: [1-9]/);
          }
          if (service === 'LDAP') expect(r.stdout).toContain('msRTCSIP-PrimaryUserAddress: sip:ocsuser1@example.com');
          if (service === 'SIP') expect(r.stdout).toContain('Verify return code: 0 (ok)');
        }
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited).toBe(0);
    }, 60_000);
  }
});

describe('a scenario replayed against ocslab serve through its endpoints file (issue 10)', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [join(projectRoot, 'bin', 'ocslab.js'), 'run', ...args], { cwd: projectRoot, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });

  it('judges the seed end state over the wire as the lab does, writes nothing, and fails the checks of a stopped server with its address', async () => {
    const file = join(dir, 'replay-endpoints.json');
    const { child, endpoints, exited } = await startServe(file);
    try {
      const usn = () =>
        spawnSync('ldapsearch', ['-x', '-LLL', '-o', 'ldif-wrap=no', '-H', endpoints.ldap, '-D', endpoints.bindDn, '-w', endpoints.bindPassword, '-b', endpoints.baseDn, '(objectClass=*)', 'uSNChanged'], { encoding: 'utf8', env: { ...process.env, LDAPNOINIT: '1' } }).stdout;
      const before = usn();
      const r = run(['seed-part3', '--target', file, '--json']);
      expect(r.status, r.stderr).toBe(0);
      const { replay, parity } = JSON.parse(r.stdout) as {
        replay: { status: string; mode: string; steps: Array<{ phase: string; index: number; name: string; kind: string; status: string; observedBy?: string; details: string[] }> };
        parity: { different: number; same: number };
      };
      expect(replay.mode).toBe('end-state');
      // Every expectation a probe reaches passes on the served lab; the rest say they were not observed.
      const expectations = replay.steps.filter((s) => s.phase === 'expect');
      expect(expectations.filter((s) => s.status === 'failed')).toEqual([]);
      expect(expectations.find((s) => s.name === 'ad.attribute')).toMatchObject({ status: 'passed' });
      // Over HTTPS with NTLM as ocsuser1, the pool certificate checked against the served lab's root.
      expect(expectations.find((s) => s.name === 'ocs.addressBookDownload')).toMatchObject({ status: 'passed' });
      expect(new Set(expectations.map((s) => s.status))).toEqual(new Set(['passed', 'not observed']));
      // The checks of states the pool has left behind are superseded, never failed.
      const earlier = replay.steps.filter((s) => s.kind === 'check' && s.phase !== 'expect');
      expect(earlier.filter((s) => !s.name.startsWith('communicator.')).every((s) => s.status === 'superseded')).toBe(true);
      // The lab's Communicator signs in to the served pool from this process, IMs both ways, downloads
      // the address book and sees the presence serve's own ocsuser2 published; what would change the
      // pool's store (adding a contact, publishing presence) is only planned.
      const client = replay.steps.filter((s) => s.name.startsWith('communicator.'));
      expect(client.filter((s) => s.kind === 'check').map((s) => [s.index, s.status, s.observedBy])).toEqual([
        [22, 'passed', 'client'],
        [23, 'passed', 'client'],
        [24, 'passed', 'client'],
        [25, 'passed', 'client'],
        [28, 'passed', 'client'],
        [29, 'passed', 'client'],
      ]);
      expect(client.filter((s) => s.kind === 'action' && s.status === 'planned').map((s) => s.name)).toEqual(['communicator.addContact', 'communicator.setPresence']);
      expect(replay.steps.find((s) => s.index === 29)?.details).toContain('NOTIFY presence sip:ocsuser2@example.com: Busy — "Rehearsing the pool01 deployment"');
      expect(replay.status).toBe('incomplete');
      expect(parity.different).toBe(0);
      expect(parity.same).toBeGreaterThan(0);
      expect(usn()).toBe(before);
      // A copy of the target (serve removes its own files when it stops), for the run after the stop.
      const copyCa = join(dir, 'replay-copy.root-ca.pem');
      writeFileSync(copyCa, readFileSync(endpoints.caCertFile));
      writeFileSync(join(dir, 'replay-copy.json'), JSON.stringify({ ...endpoints, caCertFile: copyCa }));
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    // The server is gone: the checks fail with the address and the error, and the run goes on to the end.
    const gone = run(['part2-prepare-environment', '--target', join(dir, 'replay-copy.json')]);
    expect(gone.status).toBe(1);
    expect(gone.stdout).toMatch(/failed +part2-prepare-environment expect 15 Pool pool01 exists: no answer from 127\.0\.10\.11:389 \(127\.0\.0\.1:\d+\): ECONNREFUSED/);
    expect(gone.stdout).toMatch(/failed +part2-prepare-environment expect 16 nslookup -type=A pool01\.corp\.example\.net: DNS request timed out\./);
  }, 90_000);
});

describe('a read-only replay after client writes it only plans (issue 10)', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [join(projectRoot, 'bin', 'ocslab.js'), 'run', ...args], { cwd: projectRoot, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });

  it('reports the checks of presence and contacts the target lacks as not observed, naming the write, and leaves them out of parity', async () => {
    // The pool as Part 3 leaves it, except that nobody has added a contact or published Busy.
    const seed = readFileSync(join(projectRoot, 'scenarios', 'seed', 'part3-add-front-end.yaml'), 'utf8');
    const cut = (text: string, from: string, to: string) => {
      const a = text.indexOf(from);
      const b = text.indexOf(to, a);
      expect(a >= 0 && b > a).toBe(true);
      return text.slice(0, a) + text.slice(b);
    };
    let pool = seed.replace(/^id: seed-part3$/m, 'id: seed-part3-no-client-writes');
    pool = cut(pool, '  - action: communicator.addContact', 'expect:');
    pool = cut(pool, '  - check: communicator.expectPresence', '  - check: ocs.addressBookDownload');
    const scenario = join(dir, 'no-client-writes.yaml');
    writeFileSync(scenario, pool);
    const file = join(dir, 'unmade-endpoints.json');
    const { child, exited } = await startServe(file, ['--scenario', scenario]);
    try {
      const r = run(['seed-part3', '--target', file, '--json']);
      const { replay, parity } = JSON.parse(r.stdout) as {
        replay: { status: string; steps: Array<{ index: number; name: string; kind: string; status: string; details: string[] }> };
        parity: { different: number; rows: Array<{ name: string; verdict: string; why?: string }> };
      };
      // ocsuser1's Communicator sees ocsuser2 without Busy: the write it follows was never made.
      const presence = replay.steps.find((s) => s.name === 'communicator.expectPresence');
      expect(presence?.status).toBe('not observed');
      expect(presence?.details[0]).toMatch(/^it follows ".+" \(seed-part3 step \d+\), which a read-only replay only plans; run with --apply/);
      expect(presence?.details[1]).toMatch(/^the target shows: /);
      // No protocol reaches the contact list, so the operator is asked (here: nobody answers).
      expect(replay.steps.find((s) => s.name === 'ocs.userContacts')?.status).toBe('not observed');
      for (const name of ['communicator.expectPresence', 'ocs.userContacts']) expect(parity.rows.find((row) => row.name === name)).toMatchObject({ verdict: 'not compared', why: 'not observed' });
      expect(replay.steps.filter((s) => s.kind === 'check' && s.status === 'failed').map((s) => s.name)).toEqual([]);
      expect(parity.different).toBe(0);
      expect(replay.status).toBe('incomplete');
      expect(r.status, r.stderr).toBe(0);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 90_000);
});

describe.runIf(process.platform === 'linux')('a replay on a terminal asks the operator what no protocol reaches (issue 10)', () => {
  it('y passes a check, n fails it, the end of input leaves the rest not observed; parity compares the answers with the lab', async () => {
    const file = join(dir, 'ask-endpoints.json');
    const { child, exited } = await startServe(file);
    let out = '';
    let status: number | null = null;
    try {
      // script(1) gives the run a terminal (a pseudo-terminal) whose input is the operator's answers.
      const command = [process.execPath, join(projectRoot, 'bin', 'ocslab.js'), 'run', 'seed-part3', '--target', file].map((a) => `'${a}'`).join(' ');
      const r = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: projectRoot, input: 'y\nn\n', encoding: 'utf8', timeout: 90_000, env: { ...process.env, NO_COLOR: '1' } });
      out = r.stdout.replace(/\r/g, '');
      status = r.status;
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).toContain("look at ocsuser1's contact list in Communicator once signed in");
    expect(out).toMatch(/passed +seed-part3 expect 30 ocsuser1's contact list/);
    expect(out).toMatch(/failed +seed-part3 expect 32 ocsfe01 is servicesStarted: the operator did not see it at LCSCmd\.exe \/Server:ocsfe01/);
    expect(out).toMatch(/not observed seed-part3 expect 36 /);
    expect(out).toMatch(/= seed-part3 expect 30 .*\(answered by the operator\)/);
    expect(out).toMatch(/≠ seed-part3 expect 32 .*\(answered by the operator\)\n +lab: +passed\n +operator: not seen/);
    expect(status).toBe(1);
  }, 120_000);
});

describe.runIf(process.platform === 'linux')('ocslab serve started through npm, stopped by the PID a supervisor knows (the launcher)', () => {
  const launchers: Array<[string, string, string[]]> = [
    ['npx ocslab serve', 'npx', ['ocslab', 'serve']],
    ['npm run ocslab -- serve', 'npm', ['run', '--silent', 'ocslab', '--', 'serve']],
  ];
  for (const [name, command, args] of launchers) {
    it(`${name}: SIGTERM to npm's PID leaves no process serving and every port free`, async () => {
      const file = join(dir, `${command}-endpoints.json`);
      const launcher = spawn(command, [...args, '--port-base', '0', '--endpoints-file', file], { cwd: projectRoot, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      launcher.stdout.on('data', (d: Buffer) => (out += d.toString()));
      launcher.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const launcherExited = new Promise<void>((resolve) => launcher.on('exit', () => resolve()));
      let servingPid: number | undefined;
      try {
        expect(await until(() => existsSync(file) || launcher.exitCode !== null, 60_000), `no endpoints file:\n${out}`).toBe(true);
        const endpoints = JSON.parse(readFileSync(file, 'utf8')) as Endpoints;
        servingPid = endpoints.pid;
        expect(servingPid).not.toBe(launcher.pid);
        expect(running(servingPid)).toBe(true);
        const helpers = childrenOf(servingPid);
        const ports: Array<[number, 'tcp' | 'udp']> = [
          [endpoints.dns.port, 'tcp'],
          [endpoints.dns.port, 'udp'],
          [Number(new URL(endpoints.ldap).port), 'tcp'],
          [Number(new URL(endpoints.https).port), 'tcp'],
          [Number(new URL(endpoints.caHttp).port), 'tcp'],
          [endpoints.sipTls?.port ?? 0, 'tcp'],
          [endpoints.sipTcp?.port ?? 0, 'tcp'],
          [Number(new URL(endpoints.sipWss ?? 'wss://x:0').port), 'tcp'],
        ];
        expect(await bindable(Number(new URL(endpoints.ldap).port), 'tcp')).toBe(false);

        launcher.kill('SIGTERM');
        await launcherExited;
        const pid = servingPid;
        expect(await until(() => !running(pid), 10_000), `PID ${pid} still serving after its launcher stopped:\n${out}`).toBe(true);
        for (const helper of helpers) expect(await until(() => !running(helper), 10_000), `PID ${helper} (started by ${pid}) still running`).toBe(true);
        for (const [port, kind] of ports) expect(await bindable(port, kind), `${kind} port ${port} still held`).toBe(true);
      } finally {
        if (launcher.exitCode === null) launcher.kill('SIGKILL');
        if (servingPid !== undefined && running(servingPid)) process.kill(servingPid, 'SIGKILL');
      }
    }, 90_000);
  }
});

async function holdPortBelowEphemeral(holder: ReturnType<typeof createServer>): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const candidate = 20_000 + Math.floor(Math.random() * 12_000);
    const ok = await new Promise<boolean>((resolve) => {
      const refused = () => resolve(false);
      holder.once('error', refused);
      holder.listen(candidate, '127.0.0.1', () => {
        holder.off('error', refused);
        resolve(true);
      });
    });
    if (ok) return (holder.address() as AddressInfo).port;
    if (attempt > 50) throw new Error('no free port below 32768 to hold');
  }
}

describe('the endpoints table', () => {
  const endpoints = (users: number): Endpoints => ({
    pid: 1,
    dns: { host: '127.0.0.1', port: 53 },
    ldap: 'ldap://127.0.0.1:389',
    https: 'https://127.0.0.1:443',
    addressBook: null,
    caHttp: 'http://127.0.0.1:80',
    sipTls: null,
    sipTcp: null,
    sipWss: null,
    caCertFile: '/tmp/ca.pem',
    baseDn: 'DC=corp,DC=example,DC=net',
    bindDn: 'CORP\\Administrator',
    bindPassword: 'x',
    adDomain: 'corp.example.net',
    sipDomain: 'example.com',
    poolFqdn: 'pool01.corp.example.net',
    users: Array.from({ length: users }, (_, i) => ({ sam: `u${i + 1}`, sipUri: `sip:u${i + 1}@example.com`, password: 'p' })),
  });
  const usersLine = (n: number) => endpointsTable(endpoints(n)).find((l) => l.startsWith('Users'));

  it('names a few users and counts the rest, so 10,000 users stay one short line', () => {
    expect(usersLine(2)).toBe('Users   sip:u1@example.com (CORP\\u1), sip:u2@example.com (CORP\\u2)');
    expect(usersLine(10_002)).toMatch(/^Users   sip:u1@example\.com \(CORP\\u1\), .*sip:u10@example\.com \(CORP\\u10\) and 9,992 more \(--endpoints-file lists them all\)$/);
    expect(usersLine(0)).toBe('Users   (none SIP-enabled)');
  });
});
