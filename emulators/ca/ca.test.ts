import { fakeHostEmulator } from '../hlb/fake-host.testkit.js';
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { Lab } from '../../sim/lab.js';
import { request, type EmulatorDefinition } from '../../sim/emulator.js';
import { defaultTopology } from '../../sim/topology.js';
import { traceText } from '../../sim/journal.js';
import { caEmulator, caSteps } from './index.js';
import { caMachine } from './ca.machine.js';
import { caApprove, caCrlPem, caDeny, caInfo, caRequests, caRetrieve, caRevoke, caSetPendAllRequests, caSubmitRequest } from './ca.client.js';
import { buildCsr } from './pki.js';
import { describeCertificate, verifyChain } from './certificate.js';
import { syncOutcome } from '../../test/support/sync-step.js';
import { stepContext } from '../../test/support/step-context.js';

const topology = defaultTopology();
const POOL = 'pool01.corp.example.net';
const csr = (cn = POOL, keyId = 'k05') => buildCsr({ keyId, subject: { CN: cn, O: 'Contoso', OU: 'IT' }, sans: [cn, 'sip.example.com'] }).csrPem;
const submit = (lab: Lab, template = 'WebServer', cn = POOL) => caSubmitRequest(lab.get('ca'), { csrPem: csr(cn), template, requester: 'CORP\\Administrator' });
const newLab = (seed = '7', registry: EmulatorDefinition[] = [caEmulator]) => new Lab(topology, registry, { seed });
const step = (name: string) => {
  const s = caSteps.find((x) => x.name === name);
  if (!s) throw new Error(name);
  return s;
};
const run = (lab: Lab, name: string, params: Record<string, unknown>) => syncOutcome(step(name).emulated(stepContext(lab), step(name).params.parse(params) as Record<string, unknown>));
const certSvc = (to: 'Running' | 'Stopped', from: 'Running' | 'Stopped' = to === 'Running' ? 'Stopped' : 'Running') => ({
  type: 'host.serviceStateChanged',
  host: 'dc01',
  service: 'CertSvc',
  displayName: 'Active Directory Certificate Services',
  from,
  to,
});

describe('the enterprise root CA', () => {
  it('makes its root at lab start: CN=corp-DC01-CA under the forest DCs, 5 years from the simulated clock', () => {
    const lab = newLab();
    const info = caInfo(lab.get('ca'));
    expect(info).toMatchObject({ name: 'corp-DC01-CA', hostFqdn: 'dc01.corp.example.net', configString: 'dc01.corp.example.net\\corp-DC01-CA', online: true });
    expect(info.crlUrl).toBe('http://dc01.corp.example.net/CertEnroll/corp-DC01-CA.crl');
    const root = describeCertificate(info.certPem);
    expect(root).toMatchObject({ subjectString: 'CN=corp-DC01-CA, DC=corp, DC=example, DC=net', isCa: true, notBefore: '2009-07-06T09:00:00.000Z', notAfter: '2014-07-06T09:00:00.000Z' });
    lab.stop();
  });

  it('issues a Web Server certificate from a CSR at once, with the names, EKUs and URLs of the real CA', () => {
    const lab = newLab();
    lab.advance(90_000);
    const t = performance.now();
    const r = submit(lab);
    const ms = performance.now() - t;
    console.log(`issuance (cold, incl. CSR parse+verify): ${ms.toFixed(1)} ms`);
    expect(r.ok).toBe(true);
    if (!r.ok || r.value.status !== 'issued') throw new Error('not issued');
    expect(r.value.requestId).toBe(2);
    const d = describeCertificate(r.value.certPem);
    expect(d.subject.CN).toBe(POOL);
    expect(d.issuerString).toBe('CN=corp-DC01-CA, DC=corp, DC=example, DC=net');
    expect(d.sans).toEqual([POOL, 'sip.example.com']);
    expect(d.ekus).toEqual(['Server Authentication (1.3.6.1.5.5.7.3.1)', 'Client Authentication (1.3.6.1.5.5.7.3.2)']);
    expect(d.crlDistributionPoints).toContain('http://dc01.corp.example.net/CertEnroll/corp-DC01-CA.crl');
    expect(d.crlDistributionPoints).toContain(
      'ldap:///CN=corp-DC01-CA,CN=dc01,CN=CDP,CN=Public Key Services,CN=Services,CN=Configuration,DC=corp,DC=example,DC=net?certificateRevocationList?base?objectClass=cRLDistributionPoint',
    );
    expect(d.authorityInfoAccess).toContain('http://dc01.corp.example.net/CertEnroll/dc01.corp.example.net_corp-DC01-CA.crt');
    expect(d.templateName).toBe('WebServer');
    expect(d.thumbprint).toMatch(/^[0-9A-F]{40}$/);
    expect(d.notBefore).toBe(new Date(lab.clock.now()).toISOString());
    expect(d.notAfter).toBe('2011-07-06T09:01:30.000Z');
    const info = caInfo(lab.get('ca'));
    const leaf = new X509Certificate(r.value.certPem);
    expect(leaf.verify(new X509Certificate(info.certPem).publicKey)).toBe(true);
    expect(leaf.checkHost('sip.example.com')).toBe('sip.example.com');
    expect(r.value.chainPem).toBe(r.value.certPem + info.certPem);
    expect(verifyChain(r.value.certPem, info.certPem, lab.clock.now()).ok).toBe(true);
    const issued = lab.journal.entries.find((e) => e.event.type === 'ca.certificateIssued');
    expect(issued?.event).toMatchObject({ requestId: 2, subject: `CN=${POOL}, OU=IT, O=Contoso`, sans: [POOL, 'sip.example.com'] });
    expect(caRequests(lab.get('ca'))[0]).toMatchObject({ requestId: 2, status: 'Issued', template: 'WebServer', requester: 'CORP\\Administrator' });
    lab.stop();
  });

  it('publishes a CRL that openssl accepts, and after a revocation openssl says "certificate revoked"', () => {
    const lab = newLab();
    const r = submit(lab);
    if (!r.ok || r.value.status !== 'issued') throw new Error('not issued');
    const dir = mkdtempSync(join(tmpdir(), 'ocslab-ca-'));
    const atTime = String(Math.floor(lab.clock.now() / 1000) + 60);
    const verify = () => {
      writeFileSync(join(dir, 'root.pem'), caInfo(lab.get('ca')).certPem);
      writeFileSync(join(dir, 'leaf.pem'), r.value.status === 'issued' ? r.value.certPem : '');
      writeFileSync(join(dir, 'crl.pem'), caCrlPem(lab.get('ca')));
      try {
        return execFileSync('openssl', ['verify', '-attime', atTime, '-CAfile', join(dir, 'root.pem'), '-crl_check', '-CRLfile', join(dir, 'crl.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8', stdio: 'pipe' });
      } catch (e) {
        const err = e as { stdout?: string; stderr?: string };
        return `${err.stdout ?? ''}${err.stderr ?? ''}`;
      }
    };
    try {
      expect(verify()).toContain('leaf.pem: OK');
      lab.advance(60_000);
      const serial = describeCertificate(r.value.certPem).serialNumber;
      const rev = caRevoke(lab.get('ca'), { serial, reason: 'KeyCompromise' });
      expect(rev).toMatchObject({ ok: true, value: { requestId: 2, serial, reason: 'KeyCompromise' } });
      expect(verify()).toContain('certificate revoked');
      expect(caRetrieve(lab.get('ca'), { requestId: 2 })).toMatchObject({ ok: true, value: { status: 'revoked', reason: 'KeyCompromise' } });
      expect(lab.journal.entries.map((e) => e.event.type)).toEqual(['ca.certificateIssued', 'ca.certificateRevoked', 'ca.crlPublished']);
      expect(run(lab, 'ca.requestStatus', { requestId: 2, status: 'Revoked' }).ok).toBe(true);
      expect(caRevoke(lab.get('ca'), { serial })).toMatchObject({ ok: false, failure: { kind: 'ca.badRequestStatus' } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      lab.stop();
    }
  });

  it('leaves requests on an approval template pending until a manager issues or denies them', () => {
    const lab = newLab();
    const a = submit(lab, 'WebServerApproval');
    const b = submit(lab, 'WebServerApproval', 'ocsfe01.corp.example.net');
    expect(a).toEqual({ ok: true, value: { status: 'pending', requestId: 2 } });
    expect(b).toEqual({ ok: true, value: { status: 'pending', requestId: 3 } });
    expect(caRetrieve(lab.get('ca'), { requestId: 2 })).toEqual({ ok: true, value: { status: 'pending', requestId: 2 } });
    expect(run(lab, 'ca.requestStatus', { subject: POOL, status: 'Issued' })).toMatchObject({ ok: false, reason: 'expected Issued, found Pending (a request for pool01.corp.example.net)' });
    expect(run(lab, 'ca.approveRequest', {})).toMatchObject({ ok: true, details: ['Request 2 issued'] });
    expect(run(lab, 'ca.requestStatus', { subject: POOL, status: 'Issued' }).ok).toBe(true);
    expect(run(lab, 'ca.denyRequest', {})).toMatchObject({ ok: true, details: ['Request 3 denied'] });
    expect(caRetrieve(lab.get('ca'), { requestId: 3 })).toMatchObject({ ok: false, failure: { kind: 'ca.denied', message: expect.stringContaining('Denied by CORP\\Administrator') } });
    expect(caApprove(lab.get('ca'), { requestId: 3 })).toMatchObject({ ok: false, failure: { kind: 'ca.badRequestStatus' } });
    expect(caDeny(lab.get('ca'), { requestId: 99 })).toMatchObject({ ok: false, failure: { kind: 'ca.noSuchRequest' } });
    expect(run(lab, 'ca.approveRequest', {})).toMatchObject({ ok: false, reason: 'There are no pending requests on the CA' });
    expect(caRetrieve(lab.get('ca'), { requestId: 2 })).toMatchObject({ ok: true, value: { status: 'issued' } });
    // The policy-module switch pends every template.
    expect(caSetPendAllRequests(lab.get('ca'), true).ok).toBe(true);
    expect(submit(lab)).toEqual({ ok: true, value: { status: 'pending', requestId: 4 } });
    expect(lab.journal.entries.map((e) => e.event.type)).toEqual([
      'ca.requestPending',
      'ca.requestPending',
      'ca.certificateIssued',
      'ca.requestDenied',
      'ca.policyChanged',
      'ca.requestPending',
    ]);
    lab.stop();
  });

  it('refuses unknown templates and bad requests with certreq wording', () => {
    const lab = newLab();
    expect(submit(lab, 'WebServr')).toMatchObject({ ok: false, failure: { kind: 'ca.unknownTemplate', message: expect.stringContaining('0x80094800') } });
    expect(caSubmitRequest(lab.get('ca'), { csrPem: 'not a request', template: 'WebServer', requester: 'x' })).toMatchObject({ ok: false, failure: { kind: 'ca.badRequest' } });
    expect(caRequests(lab.get('ca'))).toHaveLength(0);
    lab.stop();
  });

  it('goes offline when CertSvc stops and answers "The RPC server is unavailable" until it runs again', () => {
    const lab = newLab();
    expect(request(lab.get('ca'), 'ca.reply', { type: 'host.serviceStarting', host: 'dc01', service: 'CertSvc' })).toEqual({ ok: true, value: undefined });
    lab.send('ca', certSvc('Stopped'));
    expect(lab.snapshot('ca').value).toBe('offline');
    expect(run(lab, 'ca.online', { online: false }).ok).toBe(true);
    expect(run(lab, 'ca.online', { online: true })).toMatchObject({ ok: false, reason: 'expected online, found offline' });
    const r = submit(lab);
    expect(r).toEqual({ ok: false, failure: { kind: 'ca.unavailable', message: 'The RPC server is unavailable. 0x800706ba (WIN32: 1722)', config: 'dc01.corp.example.net\\corp-DC01-CA' } });
    expect(caRequests(lab.get('ca'))).toHaveLength(0);
    lab.send('ca', certSvc('Running'));
    expect(caInfo(lab.get('ca')).online).toBe(true);
    expect(submit(lab).ok).toBe(true);
    expect(lab.journal.entries.map((e) => e.event.summary)).toEqual([
      'dc01.corp.example.net\\corp-DC01-CA is offline (CertSvc Stopped)',
      'dc01.corp.example.net\\corp-DC01-CA is online (CertSvc Running)',
      expect.stringMatching(/^corp-DC01-CA issued certificate [0-9a-f]{20} for CN=pool01/),
    ]);
    lab.stop();
  });

  it('starts offline when its host is there with CertSvc stopped', () => {
    const lab = newLab('7', [fakeHostEmulator('dc01', [{ name: 'CertSvc', state: 'Stopped', owner: 'ca' }]), caEmulator]);
    expect(caInfo(lab.get('ca')).online).toBe(false);
    expect(submit(lab)).toMatchObject({ ok: false, failure: { kind: 'ca.unavailable' } });
    lab.stop();
  });

  it('gives the same bytes for the same seed, and other serials and keys for another', () => {
    const once = (seed: string) => {
      const lab = newLab(seed);
      const r = submit(lab);
      const out = { root: caInfo(lab.get('ca')).certPem, leaf: r.ok && r.value.status === 'issued' ? r.value.certPem : '', crl: caCrlPem(lab.get('ca')), trace: traceText(lab.journal.entries) };
      lab.stop();
      return out;
    };
    const a = once('42');
    expect(once('42')).toEqual(a);
    const c = once('43');
    expect(c.leaf).not.toBe(a.leaf);
    expect(describeCertificate(c.root).serialNumber).not.toBe(describeCertificate(a.root).serialNumber);
  });

  it('signs sha1RSA when asked for the period default', () => {
    const sha1: EmulatorDefinition = { kind: 'ca', instances: (t, env) => [{ systemId: 'ca', logic: caMachine, input: { env: env('ca'), topology: t, signatureHash: 'sha1' } }] };
    const lab = newLab('7', [sha1]);
    const r = submit(lab);
    if (!r.ok || r.value.status !== 'issued') throw new Error('not issued');
    expect(new X509Certificate(r.value.certPem).verify(new X509Certificate(caInfo(lab.get('ca')).certPem).publicKey)).toBe(true);
    expect(execFileSync('openssl', ['x509', '-noout', '-text'], { input: r.value.certPem, encoding: 'utf8' })).toContain('sha1WithRSAEncryption');
    lab.stop();
  });

  it('issues in a few milliseconds once warm', () => {
    const lab = newLab();
    submit(lab);
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const pem = csr(`fe${i}.corp.example.net`);
      const t = performance.now();
      caSubmitRequest(lab.get('ca'), { csrPem: pem, template: 'WebServer', requester: 'CORP\\Administrator' });
      times.push(performance.now() - t);
    }
    times.sort((x, y) => x - y);
    console.log(`issuance warm: median ${times[5]?.toFixed(2)} ms, max ${times[9]?.toFixed(2)} ms`);
    expect(times[5]).toBeLessThan(20);
    lab.stop();
  });
});
