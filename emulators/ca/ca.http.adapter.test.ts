import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lab } from '../../sim/lab.js';
import { curl, openssl, scratch, wallClockLab, type Scratch } from '../../test/support/wire-http.js';
import { hostService, hostStartService, hostStopService } from '../host/host.client.js';
import { caApprove, caDeny, caInfo, caRevoke, caSetPendAllRequests, caSubmitRequest } from './ca.client.js';
import { normalizeCsr, startCaHttp, templateFromAttrib, type CaHttpListening } from './ca.http.adapter.js';
import { buildCsr } from './pki.js';

const csrFor = (keyId: string, cn: string) => buildCsr({ keyId, subject: { CN: cn, O: 'Example Corp' }, sans: [cn, 'sip.example.com'] }).csrPem;

describe('CA over HTTP (/CertEnroll, /certsrv) with real curl and openssl', () => {
  let lab: Lab;
  let server: CaHttpListening;
  let tmp: Scratch;
  let leafPem: string;
  let leafSerial: string;

  beforeAll(async () => {
    lab = wallClockLab('1');
    server = await startCaHttp(lab);
    tmp = scratch();
    const r = caSubmitRequest(lab.get('ca'), { csrPem: csrFor('k07', 'pool01.corp.example.net'), template: 'WebServer', requester: 'CORP\\Administrator' });
    if (!r.ok || r.value.status !== 'issued') throw new Error('issue failed');
    leafPem = r.value.certPem;
    tmp.file('leaf.pem', leafPem);
    const x = await openssl(['x509', '-noout', '-serial', '-in', tmp.file('leaf.pem')]);
    leafSerial = x.stdout.trim().replace(/^serial=/, '');
  });
  afterAll(async () => {
    await server.stop();
    lab.stop();
    tmp.remove();
  });

  it('serves the CRL and the CA certificate at the CDP and AIA paths, and openssl verify -crl_check passes', async () => {
    expect(server.crlPath).toBe('/CertEnroll/corp-DC01-CA.crl');
    expect(server.caCertPath).toBe('/CertEnroll/dc01.corp.example.net_corp-DC01-CA.crt');
    const crl = await curl(['-o', tmp.file('crl.der'), '-w', '%{http_code} %{content_type}', `${server.url}${server.crlPath}`]);
    expect(crl.stdout).toBe('200 application/pkix-crl');
    const root = await curl(['-o', tmp.file('root.der'), '-w', '%{http_code} %{content_type}', `${server.url}${server.caCertPath}`]);
    expect(root.stdout).toBe('200 application/pkix-cert');
    expect((await openssl(['crl', '-inform', 'DER', '-in', tmp.file('crl.der'), '-out', tmp.file('crl.pem')])).code).toBe(0);
    expect((await openssl(['x509', '-inform', 'DER', '-in', tmp.file('root.der'), '-out', tmp.file('root.pem')])).code).toBe(0);
    const v = await openssl(['verify', '-crl_check', '-CAfile', tmp.file('root.pem'), '-CRLfile', tmp.file('crl.pem'), tmp.file('leaf.pem')]);
    expect(v.stderr).toBe('');
    expect(v.stdout.trim()).toBe(`${tmp.file('leaf.pem')}: OK`);
    // The CDP in the leaf names exactly the URL path served.
    const text = await openssl(['x509', '-noout', '-text', '-in', tmp.file('leaf.pem')]);
    expect(text.stdout).toContain(`URI:${caInfo(lab.get('ca')).crlUrl}`);
    expect(text.stdout).toContain(`http://dc01.corp.example.net${server.caCertPath}`);
  });

  it('paths are case-insensitive, as on IIS; unknown files are 404', async () => {
    const r = await curl(['-o', '/dev/null', '-w', '%{http_code}', `${server.url}/certenroll/CORP-DC01-CA.CRL`]);
    expect(r.stdout).toBe('200');
    const n = await curl(['-o', '/dev/null', '-w', '%{http_code}', `${server.url}/CertEnroll/nothing.crl`]);
    expect(n.stdout).toBe('404');
  });

  it('web enrollment: certfnsh.asp issues a WebServer certificate that chains to the root', async () => {
    const csrPath = tmp.file('req.pem', csrFor('k08', 'web01.corp.example.net'));
    const r = await curl([
      '-w', '\n%{http_code}',
      '--data-urlencode', 'Mode=newreq',
      '--data-urlencode', `CertRequest@${csrPath}`,
      '--data-urlencode', 'CertAttrib=CertificateTemplate:WebServer',
      `${server.url}/certsrv/certfnsh.asp`,
    ]);
    const [pem, status] = [r.stdout.slice(0, r.stdout.lastIndexOf('\n')), r.stdout.slice(r.stdout.lastIndexOf('\n') + 1)];
    expect(status).toBe('200');
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    tmp.file('web01.pem', pem);
    await curl(['-o', tmp.file('root2.der'), `${server.url}${server.caCertPath}`]);
    await openssl(['x509', '-inform', 'DER', '-in', tmp.file('root2.der'), '-out', tmp.file('root2.pem')]);
    const v = await openssl(['verify', '-CAfile', tmp.file('root2.pem'), tmp.file('web01.pem')]);
    expect(v.stdout.trim()).toBe(`${tmp.file('web01.pem')}: OK`);
    const s = await openssl(['x509', '-noout', '-subject', '-in', tmp.file('web01.pem')]);
    expect(s.stdout).toContain('web01.corp.example.net');
  });

  it('answers JSON for tools, and the certificate is retrievable by ReqID (b64 and bin)', async () => {
    const form = new URLSearchParams({ Mode: 'newreq', CertRequest: csrFor('k09', 'tool.corp.example.net'), CertAttrib: 'CertificateTemplate:WebServer' });
    const r = await curl(['-H', 'Accept: application/json', '--data-binary', form.toString(), `${server.url}/certsrv/certfnsh.asp`]);
    const body = JSON.parse(r.stdout) as { status: string; requestId: number; certPem: string };
    expect(body.status).toBe('issued');
    expect(body.certPem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    const b64 = await curl([`${server.url}/certsrv/certnew.cer?ReqID=${body.requestId}&Enc=b64`]);
    expect(b64.stdout).toBe(body.certPem);
    const bin = await curl(['-o', tmp.file('tool.der'), '-w', '%{http_code}', `${server.url}/certsrv/certnew.cer?ReqID=${body.requestId}&Enc=bin`]);
    expect(bin.stdout).toBe('200');
    const x = await openssl(['x509', '-inform', 'DER', '-noout', '-subject', '-in', tmp.file('tool.der')]);
    expect(x.stdout).toContain('tool.corp.example.net');
    const cacert = await curl([`${server.url}/certsrv/certnew.cer?ReqID=CACert&Enc=b64`]);
    expect(cacert.stdout).toBe(caInfo(lab.get('ca')).certPem);
  });

  it('pending flow: "Your Request Id is N", then the certificate once the manager issues it; a denied request shows the disposition', async () => {
    expect(caSetPendAllRequests(lab.get('ca'), true).ok).toBe(true);
    try {
      const csrPath = tmp.file('pending.pem', csrFor('k10', 'pending.corp.example.net'));
      const r = await curl(['-w', '\n%{http_code}', '--data-urlencode', 'Mode=newreq', '--data-urlencode', `CertRequest@${csrPath}`, '--data-urlencode', 'CertAttrib=CertificateTemplate:WebServer', `${server.url}/certsrv/certfnsh.asp`]);
      expect(r.stdout).toContain('Your certificate request has been received');
      expect(r.stdout.endsWith('\n200')).toBe(true);
      const id = Number(/Your Request Id is (\d+)/.exec(r.stdout)?.[1]);
      expect(id).toBeGreaterThan(1);
      const waiting = await curl([`${server.url}/certsrv/certnew.cer?ReqID=${id}&Enc=b64`]);
      expect(waiting.stdout).toContain('Certificate Pending');
      expect(waiting.stdout).toContain(`Your Request Id is ${id}.`);
      expect(caApprove(lab.get('ca'), { requestId: id }).ok).toBe(true);
      const issued = await curl([`${server.url}/certsrv/certnew.cer?ReqID=${id}&Enc=b64`]);
      expect(issued.stdout).toMatch(/^-----BEGIN CERTIFICATE-----/);

      const second = await curl(['-H', 'Accept: application/json', '--data-urlencode', 'Mode=newreq', '--data-urlencode', `CertRequest@${tmp.file('pending.pem')}`, '--data-urlencode', 'CertAttrib=CertificateTemplate:WebServer', `${server.url}/certsrv/certfnsh.asp`]);
      const pending = JSON.parse(second.stdout) as { status: string; requestId: number };
      expect(pending.status).toBe('pending');
      expect(caDeny(lab.get('ca'), { requestId: pending.requestId }).ok).toBe(true);
      const denied = await curl([`${server.url}/certsrv/certnew.cer?ReqID=${pending.requestId}&Enc=b64`]);
      expect(denied.stdout).toContain('Certificate Request Denied');
      expect(denied.stdout).toContain('Denied by');
    } finally {
      caSetPendAllRequests(lab.get('ca'), false);
    }
  });

  it('bad input: bad CSR and unknown template are 400, unknown ReqID 404, oversize form 413, garbage on the socket — and the server keeps serving', async () => {
    const bad = await curl(['-o', '/dev/null', '-w', '%{http_code}', '--data-urlencode', 'Mode=newreq', '--data-urlencode', 'CertRequest=not a request', `${server.url}/certsrv/certfnsh.asp`]);
    expect(bad.stdout).toBe('400');
    const junk = await curl(['-w', '\n%{http_code}', '--data-urlencode', 'Mode=newreq', '--data-urlencode', 'CertRequest=AAAAAAAA', '--data-urlencode', 'CertAttrib=CertificateTemplate:WebServer', `${server.url}/certsrv/certfnsh.asp`]);
    expect(junk.stdout.endsWith('\n400')).toBe(true);
    const tpl = await curl(['-w', '\n%{http_code}', '--data-urlencode', 'Mode=newreq', '--data-urlencode', `CertRequest@${tmp.file('req.pem')}`, '--data-urlencode', 'CertAttrib=CertificateTemplate:NoSuchTemplate', `${server.url}/certsrv/certfnsh.asp`]);
    expect(tpl.stdout).toContain('CERTSRV_E_UNSUPPORTED_CERT_TYPE');
    expect(tpl.stdout.endsWith('\n400')).toBe(true);
    const unknown = await curl(['-w', '\n%{http_code}', `${server.url}/certsrv/certnew.cer?ReqID=99999&Enc=b64`]);
    expect(unknown.stdout).toContain('CRYPT_E_NOT_FOUND');
    expect(unknown.stdout.endsWith('\n404')).toBe(true);
    const big = await curl(['-o', '/dev/null', '-w', '%{http_code}', '--data-binary', `@${tmp.file('big.txt', `CertRequest=${'A'.repeat(200_000)}`)}`, `${server.url}/certsrv/certfnsh.asp`]);
    expect(big.stdout).toBe('413');
    const hdr = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-H', `@${tmp.file('hdr.txt', `X-Big: ${'a'.repeat(20_000)}\n`)}`, `${server.url}${server.crlPath}`]);
    expect(hdr.stdout).toBe('431');
    const badUrl = await curl(['-o', '/dev/null', '-w', '%{http_code}', `${server.url}/CertEnroll/%zz.crl`]);
    expect(badUrl.stdout).toBe('400');
    const put = await curl(['-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', `${server.url}/certsrv/certfnsh.asp`]);
    expect(put.stdout).toBe('405');
    await new Promise<void>((resolve) => {
      const s = net.connect(server.port, server.host, () => s.end(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0, 1, 2, 3, 0x0d, 0x0a, 0x0d, 0x0a])));
      s.on('data', () => undefined);
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    const ok = await curl(['-o', '/dev/null', '-w', '%{http_code}', `${server.url}${server.crlPath}`]);
    expect(ok.stdout).toBe('200');
  });

  it('a revocation shows in the CRL served next, and openssl reports the leaf revoked', async () => {
    expect(caRevoke(lab.get('ca'), { serial: leafSerial, reason: 'KeyCompromise' }).ok).toBe(true);
    await curl(['-o', tmp.file('crl2.der'), `${server.url}${server.crlPath}`]);
    await openssl(['crl', '-inform', 'DER', '-in', tmp.file('crl2.der'), '-out', tmp.file('crl2.pem')]);
    const v = await openssl(['verify', '-crl_check', '-CAfile', tmp.file('root.pem'), '-CRLfile', tmp.file('crl2.pem'), tmp.file('leaf.pem')]);
    expect(v.code).not.toBe(0);
    expect(`${v.stdout}${v.stderr}`).toContain('certificate revoked');
  });

  it('CA offline (CertSvc stopped): enrollment gets 503 with the RPC error; publication still serves', async () => {
    const dc = lab.get('host:dc01');
    expect(hostStopService(dc, { name: 'CertSvc' }).ok).toBe(true);
    lab.waitFor(() => hostService(dc, 'CertSvc')?.state === 'Stopped' && !caInfo(lab.get('ca')).online, 120_000);
    expect(caInfo(lab.get('ca')).online).toBe(false);
    const r = await curl(['-w', '\n%{http_code}', '--data-urlencode', 'Mode=newreq', '--data-urlencode', `CertRequest@${tmp.file('req.pem')}`, '--data-urlencode', 'CertAttrib=CertificateTemplate:WebServer', `${server.url}/certsrv/certfnsh.asp`]);
    expect(r.stdout).toContain('The RPC server is unavailable. 0x800706ba (WIN32: 1722)');
    expect(r.stdout.endsWith('\n503')).toBe(true);
    const crl = await curl(['-o', '/dev/null', '-w', '%{http_code}', `${server.url}${server.crlPath}`]);
    expect(crl.stdout).toBe('200');
    hostStartService(dc, { name: 'CertSvc' });
    lab.waitFor(() => caInfo(lab.get('ca')).online, 120_000);
  });
});

describe('certfnsh.asp form helpers', () => {
  it('normalizes bare base64 and NEW CERTIFICATE REQUEST headers; rejects non-base64', () => {
    const pem = csrFor('k11', 'x.corp.example.net');
    const bare = pem.replace(/-----[^-]+-----/g, '').replace(/\n/g, '\r\n');
    expect(normalizeCsr(bare)).toBe(pem);
    expect(normalizeCsr(pem.replace(/CERTIFICATE REQUEST/g, 'NEW CERTIFICATE REQUEST'))).toBe(pem);
    expect(normalizeCsr('<script>')).toBeUndefined();
    expect(normalizeCsr('')).toBeUndefined();
    expect(templateFromAttrib('SAN:dns=a\r\nCertificateTemplate:WebServer\r\n')).toBe('WebServer');
    expect(templateFromAttrib('nothing')).toBeUndefined();
  });
});
