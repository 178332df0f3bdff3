import net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../sim/lab.js';
import { curl, openssl, scratch, type Scratch } from '../../test/support/wire-http.js';
import { walkSeed, type SeedWalk } from '../../test/support/wire-http-iis.js';
import { caInfo } from '../ca/ca.client.js';
import { hostCertificates, hostService, hostStartService, hostStopService } from '../host/host.client.js';
import { ocsRequestCertificate } from '../ocs/ocs.client.js';
import { iisBindCertificate, iisBindings, iisPublishFiles, iisRemoveBinding, iisSetAppPoolState } from './iis.client.js';
import { credentialsFrom, hostName, requestPath, startIisHttps, type IisListening } from './iis.https.adapter.js';
import { KERBEROS_STAND_IN, standInTicket } from '../../sim/probes.http.js';

const POOL = 'pool01.corp.example.net';
const FILE = 'F-0a2c.lsabs';
const CONTENT = 'address book test file\n';
const USER = 'CORP\\ocsuser1:Us3r1-P@ss';

describe('IIS on the wire (HTTPS/HTTP) at the end of seed-part3, with real curl and openssl', () => {
  let walk: SeedWalk;
  let lab: Lab;
  let iis: IisListening;
  let tmp: Scratch;
  let rootPem: string;
  const url = (path: string) => `https://${POOL}:${iis.port}${path}`;
  const resolve = () => ['--cacert', rootPem, '--resolve', `${POOL}:${iis.port}:127.0.0.1`];
  const status = (args: string[]) => curl(['-o', '/dev/null', '-w', '%{http_code}', ...args]);

  beforeAll(async () => {
    walk = walkSeed();
    lab = walk.lab;
    await walk.until('iis.bindCertificate');
    iis = await startIisHttps(lab);
    tmp = scratch();
    rootPem = tmp.file('root.pem', caInfo(lab.get('ca')).certPem);
  });
  afterAll(async () => {
    await iis?.stop();
    lab?.stop();
    tmp?.remove();
  });

  it('before the binding step: no TLS listener (connection refused), while http *:80 answers 403.4 for ABS', async () => {
    expect(iis.httpsListening()).toBe(false);
    expect(iis.httpListening()).toBe(true);
    const r = await curl([...resolve(), url('/Abs/Int/Handler/')]);
    expect(r.code).toBe(7);
    const http = await curl(['-w', '\n%{http_code}', `http://127.0.0.1:${iis.httpPort}/Abs/Int/Handler/`]);
    expect(http.stdout).toContain('403.4');
    expect(http.stdout.endsWith('\n403')).toBe(true);
  });

  it('after the binding (and the rest of seed-part3): TLS presents the pool certificate with its chain', async () => {
    await walk.until();
    await iis.settled();
    expect(iis.httpsListening()).toBe(true);
    const bound = iisBindings(lab.get(`iis:${iis.server}`)!).find((b) => b.protocol === 'https');
    expect(iis.presentedThumbprint()).toBe(bound?.certificateHash);
    const leafNames = async (name: string) => {
      const s = await openssl(['s_client', '-connect', `127.0.0.1:${iis.port}`, '-servername', 'sip.example.com', '-CAfile', rootPem, '-verify_return_error', '-verify_hostname', name, '-showcerts'], { input: '' });
      return s;
    };
    const sip = await leafNames('sip.example.com');
    expect(sip.code).toBe(0);
    expect(sip.stdout).toContain('Verify return code: 0 (ok)');
    expect(sip.stdout).toMatch(/1 s:.*CN\s*=\s*corp-DC01-CA/);
    // The seed's certificate: CN=pool01…, SAN sip.example.com only. OpenSSL/curl ignore the CN when a SAN
    // is present, so whether pool01 verifies depends on the SAN the wizard wrote (see the adapter report).
    const leafPem = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(sip.stdout)?.[0] ?? '';
    const poolInSan = new X509Certificate(leafPem).checkHost(POOL) !== undefined;
    const pool = await leafNames(POOL);
    expect(pool.code === 0).toBe(poolInSan);
    const bad = await openssl(['s_client', '-connect', `127.0.0.1:${iis.port}`, '-CAfile', rootPem, '-verify_return_error', '-verify_hostname', 'evil.example.com'], { input: '' });
    expect(bad.code).not.toBe(0);
  });

  it('a certificate with the pool FQDN in the SAN, bound in IIS, is swapped in on the open listener; openssl verifies pool01', async () => {
    const r = ocsRequestCertificate(lab.get('ocs'), {
      server: iis.server, mode: 'online', certificateName: POOL, subjectName: POOL, sans: [POOL, 'sip.example.com'],
      organization: 'Example Corp', organizationalUnit: 'IT', country: 'US', state: 'Washington', city: 'Redmond', assign: true,
    });
    expect(r.ok).toBe(true);
    const cert = hostCertificates(lab.get(`host:${iis.server}`)).find((c) => c.sans.includes(POOL));
    expect(cert).toBeDefined();
    expect(iisBindCertificate(lab.get(`iis:${iis.server}`), { thumbprint: cert?.thumbprint ?? '' }).ok).toBe(true);
    await iis.settled();
    expect(iis.presentedThumbprint()).toBe(cert?.thumbprint);
    const s = await openssl(['s_client', '-connect', `127.0.0.1:${iis.port}`, '-servername', 'sip.example.com', '-CAfile', rootPem, '-verify_return_error', '-verify_hostname', POOL], { input: '' });
    expect(s.code).toBe(0);
    expect(s.stdout).toContain('Verify return code: 0 (ok)');
  });

  it('ABS: 200 with the published file for CORP\\ocsuser1 over Basic/TLS; 401 Negotiate/NTLM without; 401 with a wrong password', async () => {
    const pub = iisPublishFiles(lab.get(`iis:${iis.server}`), { vdir: '/Abs/Int/Handler', files: [{ name: FILE, content: CONTENT }] });
    expect(pub.ok).toBe(true);
    const ok = await curl([...resolve(), '-u', USER, '-w', '\n%{http_code}', url(`/Abs/Int/Handler/${FILE}`)]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(`${CONTENT}\n200`);
    const anon = await curl([...resolve(), '-D', '-', '-o', '/dev/null', url(`/Abs/Int/Handler/${FILE}`)]);
    expect(anon.stdout).toMatch(/^HTTP\/1\.1 401 Unauthorized/);
    expect(anon.stdout).toMatch(/WWW-Authenticate: Negotiate\r\n/i);
    expect(anon.stdout).toMatch(/WWW-Authenticate: NTLM\r\n/i);
    expect(anon.stdout).toMatch(/Server: Microsoft-IIS\/7\.0/);
    expect(await status([...resolve(), '-u', 'CORP\\ocsuser1:wrong', url(`/Abs/Int/Handler/${FILE}`)])).toMatchObject({ stdout: '401' });
    expect(await status([...resolve(), '-u', USER, url('/Abs/Int/Handler/')])).toMatchObject({ stdout: '403' });
    expect(await status([...resolve(), '-u', USER, url('/Abs/Int/Handler/nothing.lsabs')])).toMatchObject({ stdout: '404' });
    expect(await status([...resolve(), '-u', USER, '-I', url(`/Abs/Int/Handler/${FILE}`)])).toMatchObject({ stdout: '200' });
    expect(await status([...resolve(), '-u', USER, '-X', 'POST', url(`/Abs/Int/Handler/${FILE}`)])).toMatchObject({ stdout: '405' });
    // Over plain HTTP ABS is SSL-only: 403.4 even with credentials.
    const http = await curl(['-u', USER, '-w', '\n%{http_code}', `http://127.0.0.1:${iis.httpPort}/Abs/Int/Handler/${FILE}`]);
    expect(http.stdout).toContain('403.4');
  });

  it('NTLM as IIS speaks it over HTTP: curl --ntlm gets the file; a wrong password, another domain, a replayed AUTHENTICATE get 401', async () => {
    const ok = await curl([...resolve(), '--ntlm', '-u', USER, '-w', '\n%{http_code}', url(`/Abs/Int/Handler/${FILE}`)]);
    expect(ok.stdout).toBe(`${CONTENT}\n200`);
    expect(await status([...resolve(), '--ntlm', '-u', 'CORP\\ocsuser1:wrong', url(`/Abs/Int/Handler/${FILE}`)])).toMatchObject({ stdout: '401' });
    expect(await status([...resolve(), '--ntlm', '-u', 'OTHER\\ocsuser1:Us3r1-P@ss', url(`/Abs/Int/Handler/${FILE}`)])).toMatchObject({ stdout: '401' });
    // The CHALLENGE belongs to its connection: an AUTHENTICATE sent on a new one is anonymous.
    const trace = await curl([...resolve(), '--ntlm', '-u', USER, '-v', '-o', '/dev/null', url(`/Abs/Int/Handler/${FILE}`)]);
    const type3 = /> Authorization: NTLM (TlRMTVNTUAADA[A-Za-z0-9+/=]+)/.exec(trace.stderr)?.[1];
    expect(type3).toBeDefined();
    expect(await status([...resolve(), '-H', `Authorization: NTLM ${type3 ?? ''}`, url(`/Abs/Int/Handler/${FILE}`)])).toMatchObject({ stdout: '401' });
    // A NEGOTIATE the server cannot read is not a handshake: the plain 401 offering both schemes.
    const bad = await curl([...resolve(), '-D', '-', '-o', '/dev/null', '-H', 'Authorization: NTLM AAAA', url(`/Abs/Int/Handler/${FILE}`)]);
    expect(bad.stdout).toMatch(/WWW-Authenticate: NTLM\r\n/);
  });

  it("the lab's Kerberos stand-in is honoured only from the lab's own probes: one forged by any other client is no ticket (401)", async () => {
    const forged = Buffer.from(`${KERBEROS_STAND_IN}ocsuser1@example.com`, 'utf8').toString('base64');
    expect(await status([...resolve(), '-H', `Authorization: Negotiate ${forged}`, url(`/Abs/Int/Handler/${FILE}`)])).toMatchObject({ stdout: '401' });
    const guessed = Buffer.from(`${KERBEROS_STAND_IN}ocsuser1@example.com:${'0'.repeat(64)}`, 'utf8').toString('base64');
    expect(await status([...resolve(), '-H', `Authorization: Negotiate ${guessed}`, url(`/Abs/Int/Handler/${FILE}`)])).toMatchObject({ stdout: '401' });
    expect(await status([...resolve(), '-H', `Authorization: ${standInTicket('ocsuser1@example.com')}`, url(`/Abs/Int/Handler/${FILE}`)])).toMatchObject({ stdout: '200' });
  });

  it('the application pool stopped → 503 from HTTP.sys; started again → 200', async () => {
    const ref = lab.get(`iis:${iis.server}`);
    expect(iisSetAppPoolState(ref, { name: 'LsGroupExpAppPool', state: 'Stopped' }).ok).toBe(true);
    const r = await curl([...resolve(), '-u', USER, '-D', '-', url(`/Abs/Int/Handler/${FILE}`)]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 503 Service Unavailable/);
    expect(r.stdout).toContain('Microsoft-HTTPAPI/2.0');
    iisSetAppPoolState(ref, { name: 'LsGroupExpAppPool', state: 'Started' });
    expect(await status([...resolve(), '-u', USER, url(`/Abs/Int/Handler/${FILE}`)])).toMatchObject({ stdout: '200' });
  });

  it('bad input on either port fails that connection only: garbage, plain HTTP on the TLS port, oversized headers, bad URLs', async () => {
    const raw = (port: number, data: Buffer | string) =>
      new Promise<string>((done) => {
        let got = '';
        const s = net.connect(port, '127.0.0.1', () => s.end(data));
        s.on('data', (d: Buffer) => (got += d.toString('latin1')));
        s.on('close', () => done(got));
        s.on('error', () => done(got));
        s.setTimeout(3000, () => s.destroy());
      });
    await raw(iis.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await raw(iis.port, Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3, 4]));
    const garbage = await raw(iis.httpPort, Buffer.from('\x00\x01\x02 nonsense \r\n\r\n', 'latin1'));
    expect(garbage).toMatch(/^HTTP\/1\.1 400/);
    const big = await raw(iis.httpPort, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431/);
    const badUrl = await raw(iis.httpPort, 'GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(badUrl).toMatch(/^HTTP\/1\.1 400/);
    const headers = tmp.file('hdr.txt', `X-Big: ${'a'.repeat(20_000)}\n`);
    expect(await status([...resolve(), '-H', `@${headers}`, url('/')])).toMatchObject({ stdout: '431' });
    // A TLS client that does not trust the root fails the handshake; the server does not care.
    const untrusted = await new Promise<string>((done) => {
      const s = tls.connect({ host: '127.0.0.1', port: iis.port, servername: POOL }, () => done('connected'));
      s.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? 'error'));
    });
    expect(untrusted).toBe('SELF_SIGNED_CERT_IN_CHAIN');
    expect(await status([...resolve(), '-u', USER, url(`/Abs/Int/Handler/${FILE}`)])).toMatchObject({ stdout: '200' });
    expect(await status([`http://127.0.0.1:${iis.httpPort}/`])).toMatchObject({ stdout: '200' });
  });

  it('follows the machine: removing the https binding closes the TLS port, binding again reopens it; W3SVC stopped closes both', async () => {
    const ref = lab.get(`iis:${iis.server}`);
    const thumbprint = iis.presentedThumbprint() ?? '';
    expect(iisRemoveBinding(ref, { protocol: 'https' }).ok).toBe(true);
    await iis.settled();
    expect(iis.httpsListening()).toBe(false);
    expect((await curl([...resolve(), url('/')])).code).toBe(7);
    expect(iisBindCertificate(ref, { thumbprint }).ok).toBe(true);
    await iis.settled();
    expect(iis.httpsListening()).toBe(true);
    expect(await status([...resolve(), '-u', USER, url(`/Abs/Int/Handler/${FILE}`)])).toMatchObject({ stdout: '200' });

    const fe = lab.get(`host:${iis.server}`);
    expect(hostStopService(fe, { name: 'W3SVC' }).ok).toBe(true);
    lab.waitFor(() => hostService(fe, 'W3SVC')?.state === 'Stopped', 120_000);
    await iis.settled();
    expect(iis.httpsListening()).toBe(false);
    expect(iis.httpListening()).toBe(false);
    expect((await curl([`http://127.0.0.1:${iis.httpPort}/`])).code).toBe(7);
    hostStartService(fe, { name: 'W3SVC' });
    lab.waitFor(() => hostService(fe, 'W3SVC')?.state === 'Running', 120_000);
    await iis.settled();
    expect(iis.httpsListening()).toBe(true);
    expect(await status([...resolve(), '-u', USER, url(`/Abs/Int/Handler/${FILE}`)])).toMatchObject({ stdout: '200' });
  });
});

describe('IIS adapter request translation', () => {
  it('parses Host headers and request targets', async () => {
    expect(hostName('Pool01.corp.example.net:4443')).toBe('pool01.corp.example.net');
    expect(hostName('[::1]:8443')).toBe('::1');
    expect(hostName('bad host')).toBeUndefined();
    expect(requestPath('/Abs/Int/Handler/a.lsabs?x=1')).toBe('/Abs/Int/Handler/a.lsabs');
    expect(requestPath('https://pool01/Abs/')).toBe('/Abs/');
    expect(requestPath('/%zz')).toBeUndefined();
    expect(requestPath('*')).toBeUndefined();
  });

  it('Basic is only honoured over TLS and only with the AD password', async () => {
    const walk = walkSeed();
    await walk.until();
    const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
    expect(credentialsFrom(walk.lab, basic(USER), true)).toEqual({ user: 'CORP\\ocsuser1', password: 'Us3r1-P@ss' });
    expect(credentialsFrom(walk.lab, basic(USER), false)).toBe('anonymous');
    expect(credentialsFrom(walk.lab, basic('CORP\\ocsuser1:nope'), true)).toBe('anonymous');
    expect(credentialsFrom(walk.lab, 'Negotiate YIIB', true)).toBe('anonymous');
    walk.lab.stop();
  });
});
