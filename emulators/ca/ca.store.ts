/**
 * The CA database (what `certutil -view` and the Certification Authority snap-in show) and the pure
 * operations on it. Every operation returns the new database, the result for the caller and the notices
 * to journal; nothing here mutates its input.
 */
import { fail, ok, type Result } from '../../sim/result.js';
import { domainDn } from '../../sim/topology.js';
import type { CaFailure, CaNotice, DenyValue, RetrieveValue, RevokeValue, SubmitValue } from './ca.events.js';
import { keyById } from './keyring.js';
import { OID, buildCrl, issueCertificate, parseCsr, type RevocationReason, type SignatureHash } from './pki.js';

export type RequestStatus = 'Issued' | 'Pending' | 'Denied' | 'Revoked';

export interface CaTemplate {
  /** Template name as certreq's `CertificateTemplate:` attribute gives it. */
  name: string;
  displayName: string;
  validityYears: number;
  /** EKUs the template always grants. */
  ekuOids: string[];
  /** EKUs granted only when the request asks for them. */
  optionalEkuOids: string[];
  /** "CA certificate manager approval" on the template's Issuance Requirements tab. */
  requiresApproval: boolean;
}

/** Templates published on the CA. WebServer is the built-in version 1 template OCS uses. */
export const CA_TEMPLATES: Readonly<Record<string, CaTemplate>> = {
  WebServer: {
    name: 'WebServer',
    displayName: 'Web Server',
    validityYears: 2,
    ekuOids: [OID.serverAuth],
    optionalEkuOids: [OID.clientAuth],
    requiresApproval: false,
  },
  WebServerApproval: {
    name: 'WebServerApproval',
    displayName: 'Web Server (CA certificate manager approval)',
    validityYears: 2,
    ekuOids: [OID.serverAuth],
    optionalEkuOids: [OID.clientAuth],
    requiresApproval: true,
  },
};

export interface CaRequestRow {
  requestId: number;
  status: RequestStatus;
  /** "CORP\Administrator". */
  requester: string;
  template: string;
  /** Subject as Windows shows it. */
  subject: string;
  /** CN of the subject. */
  commonName: string;
  sans: string[];
  csrPem: string;
  submittedAt: string;
  resolvedAt?: string;
  serial?: string;
  certPem?: string;
  notBefore?: string;
  notAfter?: string;
  revokedAt?: string;
  revocationReason?: RevocationReason;
  /** The Request Disposition Message column. */
  disposition: string;
}

export interface CaIdentity {
  name: string;
  hostFqdn: string;
  /** `dc01.corp.example.net\corp-DC01-CA`, as certreq -config and the OCS wizard show it. */
  configString: string;
  keyId: string;
  certPem: string;
  hash: SignatureHash;
  /** CDP: LDAP first, then HTTP, as a Windows Server 2008 CA writes them by default. */
  cdp: string[];
  aia: string[];
  crlUrl: string;
}

export interface CaCrl {
  crlNumber: number;
  thisUpdate: string;
  nextUpdate: string;
  pem: string;
}

export interface CaDatabase {
  identity: CaIdentity;
  /** Request ids start at 2: the CA's own certificate is request 1. */
  nextRequestId: number;
  rows: CaRequestRow[];
  pendAllRequests: boolean;
  crl: CaCrl;
}

const YEAR_MS = 365 * 86_400_000;
/** Windows default CRL period: 1 week, published with an overlap. */
const CRL_PERIOD_MS = 7 * 86_400_000;
const CRL_OVERLAP_MS = 12 * 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** The URLs a Windows Server 2008 enterprise CA puts in the certificates it issues. */
export function caUrls(caName: string, hostFqdn: string, forestFqdn: string): { cdp: string[]; aia: string[]; crlUrl: string } {
  const host = hostFqdn.split('.')[0] ?? hostFqdn;
  const config = `CN=Configuration,${domainDn(forestFqdn)}`;
  const crlUrl = `http://${hostFqdn}/CertEnroll/${caName}.crl`;
  return {
    cdp: [`ldap:///CN=${caName},CN=${host},CN=CDP,CN=Public Key Services,CN=Services,${config}?certificateRevocationList?base?objectClass=cRLDistributionPoint`, crlUrl],
    aia: [
      `ldap:///CN=${caName},CN=AIA,CN=Public Key Services,CN=Services,${config}?cACertificate?base?objectClass=certificationAuthority`,
      `http://${hostFqdn}/CertEnroll/${hostFqdn}_${caName}.crt`,
    ],
    crlUrl,
  };
}

export function createCaDatabase(p: {
  caName: string;
  hostFqdn: string;
  forestFqdn: string;
  keyId: string;
  rootPem: string;
  now: number;
  hash: SignatureHash;
  pendAllRequests: boolean;
}): CaDatabase {
  const urls = caUrls(p.caName, p.hostFqdn, p.forestFqdn);
  const identity: CaIdentity = {
    name: p.caName,
    hostFqdn: p.hostFqdn,
    configString: `${p.hostFqdn}\\${p.caName}`,
    keyId: p.keyId,
    certPem: p.rootPem,
    hash: p.hash,
    ...urls,
  };
  return { identity, nextRequestId: 2, rows: [], pendAllRequests: p.pendAllRequests, crl: makeCrl(identity, [], 1, p.now) };
}

function makeCrl(identity: CaIdentity, rows: readonly CaRequestRow[], crlNumber: number, now: number): CaCrl {
  const revoked = rows.flatMap((r) =>
    r.status === 'Revoked' && r.serial && r.revokedAt ? [{ serial: r.serial, revokedAt: Date.parse(r.revokedAt), reason: r.revocationReason ?? 'Unspecified' }] : [],
  );
  const nextUpdate = now + CRL_PERIOD_MS + CRL_OVERLAP_MS;
  const pem = buildCrl({ caCertPem: identity.certPem, caKey: keyById(identity.keyId), crlNumber, thisUpdate: now, nextUpdate, revoked, hash: identity.hash });
  return { crlNumber, thisUpdate: iso(now), nextUpdate: iso(nextUpdate), pem };
}

export interface StoreOutcome<T> {
  db: CaDatabase;
  result: Result<T, CaFailure>;
  notices: CaNotice[];
}

const unchanged = <T>(db: CaDatabase, failure: CaFailure): StoreOutcome<T> => ({ db, result: fail(failure), notices: [] });

/** certreq's texts. Sources: winerror.h names; see README for which are verified. */
export const CA_MESSAGES = {
  unavailable: 'The RPC server is unavailable. 0x800706ba (WIN32: 1722)',
  unknownTemplate: (t: string) =>
    `Certificate Request Processor: The requested certificate template is not supported by this CA. 0x80094800 (-2146875392 CERTSRV_E_UNSUPPORTED_CERT_TYPE) (template: ${t})`,
  noSuchRequest: (id: number | string) => `Certificate Request Processor: Cannot find object or property. 0x80092004 (-2146885628 CRYPT_E_NOT_FOUND) (${id})`,
  badStatus: (id: number, status: RequestStatus) =>
    `The request's current status does not allow this operation. 0x80094003 (-2146877437 CERTSRV_E_BAD_REQUESTSTATUS) (request ${id} is ${status})`,
  pending: 'Taken Under Submission',
  issued: 'Issued',
  denied: (by: string) => `Denied by ${by}. The operation was canceled by the user. 0x800704c7 (WIN32: 1223 ERROR_CANCELLED)`,
} as const;

const chainOf = (db: CaDatabase, certPem: string) => `${certPem}${db.identity.certPem}`;

function rowFor(db: CaDatabase, id: number): CaRequestRow | undefined {
  return db.rows.find((r) => r.requestId === id);
}

function replaceRow(db: CaDatabase, row: CaRequestRow): CaDatabase {
  return { ...db, rows: db.rows.map((r) => (r.requestId === row.requestId ? row : r)) };
}

/** Signs the row's request now: the row becomes Issued. */
function issueRow(db: CaDatabase, row: CaRequestRow, now: number, serial: string): { row: CaRequestRow; notice: CaNotice } {
  const template = CA_TEMPLATES[row.template];
  const parsed = parseCsr(row.csrPem);
  // The row was accepted at submission, so both hold; anything else is a bug.
  if (!template || !parsed.ok) throw new Error(`issueRow: request ${row.requestId} is not issuable`);
  const csr = parsed.value;
  const ekuOids = [...template.ekuOids, ...template.optionalEkuOids.filter((o) => csr.ekuOids.includes(o))];
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + template.validityYears);
  const certPem = issueCertificate({
    caCertPem: db.identity.certPem,
    caKey: keyById(db.identity.keyId),
    csr,
    serial,
    notBefore: now,
    notAfter: notAfter.getTime(),
    ekuOids,
    templateName: template.name,
    urls: { cdp: db.identity.cdp, aia: db.identity.aia },
    hash: db.identity.hash,
  });
  const issued: CaRequestRow = { ...row, status: 'Issued', resolvedAt: iso(now), serial, certPem, notBefore: iso(now), notAfter: notAfter.toISOString(), disposition: CA_MESSAGES.issued };
  const sans = issued.sans.length ? `, SAN ${issued.sans.join(', ')}` : '';
  return {
    row: issued,
    notice: {
      type: 'ca.certificateIssued',
      requestId: row.requestId,
      serial,
      subject: row.subject,
      sans: row.sans,
      template: row.template,
      summary: `${db.identity.name} issued certificate ${serial} for ${row.subject} (request ${row.requestId}, template ${row.template}${sans})`,
    },
  };
}

export function submitRequest(
  db: CaDatabase,
  p: { csrPem: string; template: string; requester: string; now: number; nextSerial: () => string },
): StoreOutcome<SubmitValue> {
  const template = CA_TEMPLATES[p.template];
  if (!template) return unchanged(db, { kind: 'ca.unknownTemplate', message: CA_MESSAGES.unknownTemplate(p.template), template: p.template });
  const parsed = parseCsr(p.csrPem);
  if (!parsed.ok) return unchanged(db, parsed.failure);
  const requestId = db.nextRequestId;
  const row: CaRequestRow = {
    requestId,
    status: 'Pending',
    requester: p.requester,
    template: template.name,
    subject: parsed.value.subject.text,
    commonName: parsed.value.subject.fields.CN ?? '',
    sans: parsed.value.sans,
    csrPem: p.csrPem,
    submittedAt: iso(p.now),
    disposition: CA_MESSAGES.pending,
  };
  const next: CaDatabase = { ...db, nextRequestId: requestId + 1, rows: [...db.rows, row] };
  if (template.requiresApproval || db.pendAllRequests) {
    return {
      db: next,
      result: ok({ status: 'pending', requestId }),
      notices: [
        {
          type: 'ca.requestPending',
          requestId,
          subject: row.subject,
          template: row.template,
          summary: `Request ${requestId} for ${row.subject} is pending: ${CA_MESSAGES.pending}`,
        },
      ],
    };
  }
  const { row: issued, notice } = issueRow(next, row, p.now, p.nextSerial());
  return {
    db: replaceRow(next, issued),
    result: ok({ status: 'issued', requestId, certPem: issued.certPem ?? '', chainPem: chainOf(db, issued.certPem ?? '') }),
    notices: [notice],
  };
}

export function retrieve(db: CaDatabase, requestId: number): Result<RetrieveValue, CaFailure> {
  const row = rowFor(db, requestId);
  if (!row) return fail({ kind: 'ca.noSuchRequest', message: CA_MESSAGES.noSuchRequest(requestId), requestId });
  switch (row.status) {
    case 'Pending':
      return ok({ status: 'pending', requestId });
    case 'Denied':
      return fail({ kind: 'ca.denied', message: row.disposition, requestId });
    case 'Issued':
      return ok({ status: 'issued', requestId, certPem: row.certPem ?? '', chainPem: chainOf(db, row.certPem ?? '') });
    case 'Revoked':
      return ok({
        status: 'revoked',
        requestId,
        certPem: row.certPem ?? '',
        chainPem: chainOf(db, row.certPem ?? ''),
        revokedAt: row.revokedAt ?? '',
        reason: row.revocationReason ?? 'Unspecified',
      });
  }
}

function pendingRow(db: CaDatabase, requestId: number): Result<CaRequestRow, CaFailure> {
  const row = rowFor(db, requestId);
  if (!row) return fail({ kind: 'ca.noSuchRequest', message: CA_MESSAGES.noSuchRequest(requestId), requestId });
  if (row.status !== 'Pending') return fail({ kind: 'ca.badRequestStatus', message: CA_MESSAGES.badStatus(requestId, row.status), requestId, status: row.status });
  return ok(row);
}

/** "Issue" in the Pending Requests folder (`certutil -resubmit`). */
export function approveRequest(db: CaDatabase, p: { requestId: number; now: number; nextSerial: () => string }): StoreOutcome<SubmitValue> {
  const found = pendingRow(db, p.requestId);
  if (!found.ok) return unchanged(db, found.failure);
  const { row, notice } = issueRow(db, found.value, p.now, p.nextSerial());
  return { db: replaceRow(db, row), result: ok({ status: 'issued', requestId: row.requestId, certPem: row.certPem ?? '', chainPem: chainOf(db, row.certPem ?? '') }), notices: [notice] };
}

/** "Deny" in the Pending Requests folder (`certutil -deny`). */
export function denyRequest(db: CaDatabase, p: { requestId: number; now: number; by: string }): StoreOutcome<DenyValue> {
  const found = pendingRow(db, p.requestId);
  if (!found.ok) return unchanged(db, found.failure);
  const row: CaRequestRow = { ...found.value, status: 'Denied', resolvedAt: iso(p.now), disposition: CA_MESSAGES.denied(p.by) };
  return {
    db: replaceRow(db, row),
    result: ok({ requestId: row.requestId, status: 'Denied' }),
    notices: [{ type: 'ca.requestDenied', requestId: row.requestId, subject: row.subject, summary: `${db.identity.name} denied request ${row.requestId} for ${row.subject}` }],
  };
}

/** Lower-case hex without spaces: certutil accepts "61 1f 3c ..." too. */
export const normalizeSerial = (serial: string) => serial.replace(/[\s:]/g, '').toLowerCase();

/** `certutil -revoke <serial> <reason>`, then publish a new CRL (as `certutil -crl` would). */
export function revokeCertificate(db: CaDatabase, p: { serial: string; reason: RevocationReason; now: number }): StoreOutcome<RevokeValue> {
  const serial = normalizeSerial(p.serial);
  const row = db.rows.find((r) => r.serial === serial);
  if (!row) return unchanged(db, { kind: 'ca.noSuchRequest', message: CA_MESSAGES.noSuchRequest(serial), serial });
  if (row.status !== 'Issued') return unchanged(db, { kind: 'ca.badRequestStatus', message: CA_MESSAGES.badStatus(row.requestId, row.status), serial, status: row.status });
  const revoked: CaRequestRow = { ...row, status: 'Revoked', revokedAt: iso(p.now), revocationReason: p.reason };
  const withRow = replaceRow(db, revoked);
  const published = publishCrl(withRow, p.now);
  return {
    db: published.db,
    result: ok({ requestId: row.requestId, serial, revokedAt: iso(p.now), reason: p.reason }),
    notices: [
      {
        type: 'ca.certificateRevoked',
        requestId: row.requestId,
        serial,
        subject: row.subject,
        reason: p.reason,
        summary: `${db.identity.name} revoked certificate ${serial} for ${row.subject} (reason: ${p.reason})`,
      },
      published.notice,
    ],
  };
}

export function publishCrl(db: CaDatabase, now: number): { db: CaDatabase; notice: CaNotice } {
  const crl = makeCrl(db.identity, db.rows, db.crl.crlNumber + 1, now);
  const revoked = db.rows.filter((r) => r.status === 'Revoked').length;
  return {
    db: { ...db, crl },
    notice: {
      type: 'ca.crlPublished',
      crlNumber: crl.crlNumber,
      revoked,
      thisUpdate: crl.thisUpdate,
      nextUpdate: crl.nextUpdate,
      summary: `${db.identity.name} published CRL ${crl.crlNumber} (${revoked} revoked) to ${db.identity.crlUrl}, next update ${crl.nextUpdate}`,
    },
  };
}

export function setPendAll(db: CaDatabase, pendAllRequests: boolean): StoreOutcome<{ pendAllRequests: boolean }> {
  return {
    db: { ...db, pendAllRequests },
    result: ok({ pendAllRequests }),
    notices: [
      {
        type: 'ca.policyChanged',
        pendAllRequests,
        summary: pendAllRequests
          ? `${db.identity.name}: policy module set to "Set the certificate request status to pending"`
          : `${db.identity.name}: policy module set to "Follow the settings in the certificate template, if applicable. Otherwise, automatically issue the certificate"`,
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------------------
// Selectors

/** Rows oldest first. */
export const requestsOf = (db: CaDatabase): readonly CaRequestRow[] => db.rows;

export const oldestPending = (db: CaDatabase): CaRequestRow | undefined => db.rows.find((r) => r.status === 'Pending');

/** The newest row whose CN or full subject matches (case-insensitive). */
export function newestForSubject(db: CaDatabase, subject: string, status?: RequestStatus): CaRequestRow | undefined {
  const s = subject.toLowerCase();
  const want = s.startsWith('cn=') ? s : `cn=${s}`;
  const match = (r: CaRequestRow) => (r.commonName.toLowerCase() === s || r.subject.toLowerCase() === s || r.subject.toLowerCase().startsWith(`${want},`) || r.subject.toLowerCase() === want) && (!status || r.status === status);
  for (let i = db.rows.length - 1; i >= 0; i--) {
    const r = db.rows[i];
    if (r && match(r)) return r;
  }
  return undefined;
}
