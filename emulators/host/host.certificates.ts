/**
 * How an operator names a certificate of a server's LocalMachine\My store in a step, the way the tools
 * let them: `pool` (the pool certificate: the newest whose subject CN is the server's pool FQDN, as the
 * OCS Certificate Wizard requests it), a thumbprint (40 hex digits, spaced or not, as the Certificates
 * snap-in shows it), or a subject name (the CN or a SAN DNS name; the newest when several carry it).
 * Anything else is refused with the store's certificates as the choices.
 */
import { z } from 'zod';
import type { HostCertificate } from './host.events.js';

export const POOL_CERTIFICATE = 'pool';

/** What a certificate parameter accepts, as the scenario reader's "expected …" reads it. */
export const CERTIFICATE_REFERENCE = 'a certificate: pool, a thumbprint (40 hex digits, spaces allowed) or a subject name (CN or SAN DNS name)';

const HEX40 = /^[0-9a-f]{40}$/i;
const DNS_NAME = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/**
 * A thumbprint as typed or pasted: the snap-in's Details tab shows it in pairs separated by spaces, and
 * copying it from there adds an invisible left-to-right mark (U+200E) in front. Upper-case hex, or
 * undefined when it is not 40 hex digits.
 */
export function thumbprintOf(text: string): string | undefined {
  const t = text.replace(/[\s\u200e]/g, '');
  return HEX40.test(t) ? t.toUpperCase() : undefined;
}

const isPool = (text: string) => text.trim().toLowerCase() === POOL_CERTIFICATE;
const nameOf = (text: string) => text.trim().toLowerCase().replace(/\.$/, '');

export function isCertificateReference(text: string): boolean {
  return isPool(text) || /^[0-9a-f\s\u200e]+$/i.test(text) || DNS_NAME.test(text.trim());
}

/** The schema of a certificate parameter (default: the pool certificate). */
export const certificateReference = () => z.string().min(1).refine(isCertificateReference, CERTIFICATE_REFERENCE).default(POOL_CERTIFICATE);

export type CertificateChoice = { ok: true; certificate: HostCertificate } | { ok: false; message: string; choices: string[] };

/** One line per certificate of the store (thumbprint, subject, SAN), then `pool`: what a parameter may name. */
export function certificateChoices(store: readonly HostCertificate[], poolFqdn?: string): string[] {
  return [
    ...store.map((c) => `${c.thumbprint.toUpperCase()}  ${c.subject}${c.sans.length ? ` (SAN ${c.sans.join(', ')})` : ''}`),
    `${POOL_CERTIFICATE}  the pool certificate${poolFqdn ? ` (subject CN=${poolFqdn})` : ''}`,
  ];
}

/** The certificate of `store` that `reference` names on `server` (of pool `poolFqdn`, when it is a front end). */
export function chooseCertificate(store: readonly HostCertificate[], reference: string, where: { server: string; poolFqdn?: string }): CertificateChoice {
  const inStore = `in LocalMachine\\My on ${where.server}`;
  const refuse = (message: string): CertificateChoice => ({ ok: false, message: `${message}; choose one of:`, choices: certificateChoices(store, where.poolFqdn) });
  const newest = (matching: HostCertificate[]) => matching[matching.length - 1];
  if (isPool(reference)) {
    if (!where.poolFqdn) return refuse(`${where.server} is not a front end of any pool in the topology, so it has no pool certificate; name a certificate ${inStore}`);
    const poolFqdn = where.poolFqdn.toLowerCase();
    const chosen = newest(store.filter((c) => c.subjectCN.toLowerCase() === poolFqdn));
    if (!chosen) return { ok: false, message: `no certificate with subject CN=${where.poolFqdn} ${inStore}; run the OCS Certificate Wizard first`, choices: store.map((c) => `${c.thumbprint.toUpperCase()}  ${c.subject}`) };
    return { ok: true, certificate: chosen };
  }
  const thumbprint = thumbprintOf(reference);
  if (thumbprint) {
    const chosen = store.find((c) => c.thumbprint.toUpperCase() === thumbprint);
    return chosen ? { ok: true, certificate: chosen } : refuse(`no certificate with thumbprint ${thumbprint} ${inStore}`);
  }
  const digits = reference.replace(/[\s\u200e]/g, '');
  if (/^[0-9a-f]+$/i.test(digits) && /\d/.test(digits)) return refuse(`no certificate with thumbprint ${digits.toUpperCase()} ${inStore}: a thumbprint has 40 hex digits, this has ${digits.length}`);
  if (!DNS_NAME.test(reference.trim())) return refuse(`"${reference}" names no certificate: give ${CERTIFICATE_REFERENCE.replace(/^a certificate: /, '')}`);
  const name = nameOf(reference);
  const chosen = newest(store.filter((c) => c.subjectCN.toLowerCase() === name || c.sans.some((s) => s.toLowerCase() === name)));
  return chosen ? { ok: true, certificate: chosen } : refuse(`no certificate for ${name} ${inStore} (no subject CN or SAN DNS name ${name})`);
}
