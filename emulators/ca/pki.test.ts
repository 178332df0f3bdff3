import { describe, it, expect } from 'vitest';
import { IdSource } from '../../sim/ids.js';
import { KEY_IDS, keyById, takeKey } from './keyring.js';
import { buildCsr, createRootCertificate, parseCsr } from './pki.js';
import { describeCertificate, verifyChain } from './certificate.js';

const START = Date.UTC(2009, 6, 6, 9);

describe('the lab key ring', () => {
  it('holds 24 RSA-2048 keys and picks the same one for the same id stream', () => {
    expect(KEY_IDS).toHaveLength(24);
    expect(keyById('k07').privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const a = [1, 2, 3].map(() => takeKey(new IdSource('seed/ocs')).id);
    expect(new Set(a).size).toBe(1);
    const s1 = new IdSource('x');
    const s2 = new IdSource('x');
    expect([takeKey(s1).id, takeKey(s1).id]).toEqual([takeKey(s2).id, takeKey(s2).id]);
  });

  it('keeps CA keys apart from requester keys and honours exclude', () => {
    const ids = new IdSource('roles');
    const caKey = takeKey(ids, { role: 'ca' }).id;
    expect(['k01', 'k02', 'k03', 'k04']).toContain(caKey);
    for (let i = 0; i < 20; i++) expect(['k01', 'k02', 'k03', 'k04']).not.toContain(takeKey(ids).id);
    const leafIds = KEY_IDS.slice(4);
    expect(takeKey(ids, { exclude: leafIds.slice(1) }).id).toBe(leafIds[0]);
  });
});

describe('certificate requests', () => {
  const subject = { CN: 'pool01.corp.example.net', O: 'Contoso', OU: 'IT', C: 'US' };
  const sans = ['pool01.corp.example.net', 'sip.example.com'];

  it('are byte-identical for the same inputs and carry subject, SANs and EKUs', () => {
    const a = buildCsr({ keyId: 'k05', subject, sans, exportable: true });
    const b = buildCsr({ keyId: 'k05', subject, sans, exportable: true });
    expect(a.csrPem).toBe(b.csrPem);
    expect(a).toMatchObject({ keyId: 'k05', exportable: true });
    const parsed = parseCsr(a.csrPem);
    expect(parsed.ok && parsed.value.subject.text).toBe('CN=pool01.corp.example.net, OU=IT, O=Contoso, C=US');
    expect(parsed.ok && parsed.value.sans).toEqual(sans);
    expect(parsed.ok && parsed.value.ekuOids).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    const serverOnly = parseCsr(buildCsr({ keyId: 'k05', subject, sans, clientAuth: false }).csrPem);
    expect(serverOnly.ok && serverOnly.value.ekuOids).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  it('are refused when unparseable or when the signature does not match', () => {
    const bad = parseCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n');
    expect(bad).toMatchObject({ ok: false, failure: { kind: 'ca.badRequest' } });
    const pem = buildCsr({ keyId: 'k05', subject, sans }).csrPem;
    const body = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    body[body.length - 5] = (body[body.length - 5] ?? 0) ^ 0xff;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${body.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(parseCsr(tampered)).toMatchObject({ ok: false, failure: { kind: 'ca.badRequest', message: expect.stringContaining('NTE_BAD_SIGNATURE') } });
  });
});

describe('verifyChain', () => {
  const root = (keyId: string) =>
    createRootCertificate({ caName: 'corp-DC01-CA', forestFqdn: 'corp.example.net', key: keyById(keyId), serial: '1122334455', notBefore: START, notAfter: START + 5 * 365 * 864e5, hash: 'sha256' });

  it('accepts a root for itself inside its validity and reports time and trust failures as CryptoAPI does', () => {
    const ca = root('k01');
    expect(describeCertificate(ca)).toMatchObject({ isCa: true, subjectString: 'CN=corp-DC01-CA, DC=corp, DC=example, DC=net' });
    expect(verifyChain(ca, ca, START + 1).ok).toBe(true);
    expect(verifyChain(ca, ca, START - 1)).toMatchObject({ ok: false, failure: { kind: 'certificate.notYetValid', message: expect.stringContaining('CERT_E_EXPIRED') } });
    expect(verifyChain(ca, ca, START + 6 * 365 * 864e5)).toMatchObject({ ok: false, failure: { kind: 'certificate.expired' } });
    expect(verifyChain(ca, root('k02'), START + 1)).toMatchObject({ ok: false, failure: { kind: 'certificate.untrusted', message: expect.stringContaining('CERT_E_UNTRUSTEDROOT') } });
  });
});
