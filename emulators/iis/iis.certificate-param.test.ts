/**
 * iis.bindCertificate's `certificate`: `pool`, a thumbprint (as the Certificates snap-in shows it) or a
 * subject name (CN or SAN DNS name) of a certificate in the server's LocalMachine\My; anything else is
 * refused with the store's certificates as the choices.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { Lab } from '../../sim/lab.js';
import type { EmulatorDefinition } from '../../sim/emulator.js';
import { defaultTopology } from '../../sim/topology.js';
import type { HostCertificate } from '../host/host.events.js';
import { iisBindings, iisInstallOcsWebComponents } from './iis.client.js';
import { iisEmulator, iisSteps } from './index.js';
import { stepContext } from '../../test/support/step-context.js';

const OCS_FEATURES = ['Web-Server', 'Web-Static-Content', 'Web-Asp-Net', 'Web-Windows-Auth', 'Web-Mgmt-Compat', 'Web-Metabase', 'Web-WMI', 'Web-Lgcy-Scripting', 'Web-Lgcy-Mgmt-Console'];
const POOL_THUMB = '3F2A9C0B7D1E44A5B6C7D8E9F00112233445566A';
const SERVER_THUMB = '11'.repeat(20);

const certificate = (thumbprint: string, cn: string, sans: string[]): HostCertificate => ({
  thumbprint,
  subject: `CN=${cn}, OU=IT, O=Example Corp`,
  subjectCN: cn,
  issuer: 'CN=corp-DC01-CA, DC=corp, DC=example, DC=net',
  sans,
  notBefore: '2009-07-06T00:00:00.000Z',
  notAfter: '2011-07-06T00:00:00.000Z',
  friendlyName: cn,
  certPem: '',
  keyId: thumbprint,
});
const poolCertificate = certificate(POOL_THUMB, 'pool01.corp.example.net', ['pool01.corp.example.net', 'sip.example.com']);
const serverCertificate = certificate(SERVER_THUMB, 'ocsfe01.corp.example.net', []);

/** A stand-in host actor: only ocsfe01's LocalMachine\My, which is all IIS reads of it. */
const hostWith = (certificates: HostCertificate[]): EmulatorDefinition => ({
  kind: 'host',
  instances: () => [{ systemId: 'host:ocsfe01', logic: createMachine({ context: { certificates } }), input: {} }],
});

function labWith(certificates: HostCertificate[]): Lab {
  const topology = defaultTopology();
  topology.hosts = topology.hosts.map((h) => (h.name === 'ocsfe01' ? { ...h, features: OCS_FEATURES } : h));
  const lab = new Lab(topology, [iisEmulator, hostWith(certificates)], { seed: '1' });
  expect(iisInstallOcsWebComponents(lab.actor('iis:ocsfe01'), { pool: 'pool01', poolFqdn: 'pool01.corp.example.net', appPoolIdentity: 'CORP\\RTCComponentService', disableKernelMode: true }).ok).toBe(true);
  return lab;
}

const bindStep = iisSteps.find((s) => s.name === 'iis.bindCertificate');
if (!bindStep) throw new Error('no step iis.bindCertificate');

function bind(lab: Lab, certificateParam: string) {
  const step = bindStep as NonNullable<typeof bindStep>;
  return step.emulated(stepContext(lab), step.params.parse({ server: 'ocsfe01', certificate: certificateParam }));
}

const boundThumbprint = (lab: Lab) => iisBindings(lab.actor('iis:ocsfe01')).find((b) => b.protocol === 'https')?.certificateHash;

describe('iis.bindCertificate certificate: which certificate of LocalMachine\\My it names', () => {
  it('takes a subject name: the certificate whose CN it is (not the hex letters of the name)', () => {
    const lab = labWith([serverCertificate, poolCertificate]);
    expect(bind(lab, 'ocsfe01.corp.example.net')).toMatchObject({ ok: true });
    expect(boundThumbprint(lab)).toBe(SERVER_THUMB);
  });

  it('takes a SAN DNS name, in any case', () => {
    const lab = labWith([serverCertificate, poolCertificate]);
    expect(bind(lab, 'SIP.example.com')).toMatchObject({ ok: true });
    expect(boundThumbprint(lab)).toBe(POOL_THUMB);
  });

  it('takes a thumbprint as the Certificates snap-in shows it: lower case, in spaced pairs, with the invisible mark a copy adds', () => {
    const lab = labWith([serverCertificate, poolCertificate]);
    const spaced = `\u200e${POOL_THUMB.toLowerCase().replace(/(..)(?!$)/g, '$1 ')}`;
    expect(bind(lab, spaced)).toMatchObject({ ok: true });
    expect(boundThumbprint(lab)).toBe(POOL_THUMB);
  });

  it('takes pool: the certificate whose subject CN is the pool FQDN, as the Certificate Wizard requested it', () => {
    const lab = labWith([serverCertificate, poolCertificate]);
    expect(bind(lab, 'pool')).toMatchObject({ ok: true });
    expect(boundThumbprint(lab)).toBe(POOL_THUMB);
  });

  it('refuses a name no certificate carries, listing the store by thumbprint and subject, and pool', () => {
    const lab = labWith([poolCertificate]);
    const r = bind(lab, 'ocsfe01.corp.example.net');
    expect(r).toEqual({
      ok: false,
      reason: 'no certificate for ocsfe01.corp.example.net in LocalMachine\\My on ocsfe01 (no subject CN or SAN DNS name ocsfe01.corp.example.net); choose one of:',
      details: [`${POOL_THUMB}  CN=pool01.corp.example.net, OU=IT, O=Example Corp (SAN pool01.corp.example.net, sip.example.com)`, 'pool  the pool certificate (subject CN=pool01.corp.example.net)'],
    });
    expect(JSON.stringify(r)).not.toContain('CFE01CEAEE');
    expect(boundThumbprint(lab)).toBeUndefined();
  });

  it('refuses a thumbprint that is not in the store, or a short one, with the same choices', () => {
    const lab = labWith([poolCertificate]);
    expect(bind(lab, '3F2A 9C0B')).toMatchObject({ ok: false, reason: expect.stringContaining('a thumbprint has 40 hex digits, this has 8') });
    expect(bind(lab, 'AB'.repeat(20))).toMatchObject({ ok: false, reason: `no certificate with thumbprint ${'AB'.repeat(20)} in LocalMachine\\My on ocsfe01; choose one of:`, details: expect.arrayContaining(['pool  the pool certificate (subject CN=pool01.corp.example.net)']) });
  });

  it('refuses, as bad input, a value that is neither pool, a thumbprint nor a name', () => {
    for (const bad of ['not a certificate', 'CN=pool01.corp.example.net', 'pool01.corp.example.net/443']) {
      const r = bindStep.params.safeParse({ server: 'ocsfe01', certificate: bad });
      expect(r.success, bad).toBe(false);
      expect(JSON.stringify(r.error?.issues)).toContain('a certificate: pool, a thumbprint (40 hex digits, spaces allowed) or a subject name (CN or SAN DNS name)');
    }
  });
});
