/**
 * What other emulators and steps call: commands over `request()` and read-only selectors on the snapshot.
 * Pass `system.get('ca')` (inside a machine) or `lab.get('ca')` (in a step).
 */
import type { AnyActorRef } from 'xstate';
import { request } from '../../sim/emulator.js';
import type { Result } from '../../sim/result.js';
import type { CaContext, CaFailure, DenyValue, RetrieveValue, RevocationReason, RevokeValue, SubmitValue } from './ca.events.js';
import type { CaDatabase, CaRequestRow } from './ca.store.js';

export type { CaFailure, CaFailureKind, DenyValue, RetrieveValue, RevokeValue, SubmitValue } from './ca.events.js';

type Ref = AnyActorRef | undefined;

/** certreq -submit -config "<configString>" -attrib "CertificateTemplate:<template>". */
export function caSubmitRequest(ref: Ref, p: { csrPem: string; template: string; requester: string }): Result<SubmitValue, CaFailure> {
  return request<SubmitValue>(ref, 'ca.reply', { type: 'ca.submitRequest', ...p }) as Result<SubmitValue, CaFailure>;
}

/** certreq -retrieve <requestId>. */
export function caRetrieve(ref: Ref, p: { requestId: number }): Result<RetrieveValue, CaFailure> {
  return request<RetrieveValue>(ref, 'ca.reply', { type: 'ca.retrieve', certRequestId: p.requestId }) as Result<RetrieveValue, CaFailure>;
}

/** Pending Requests → All Tasks → Issue (certutil -resubmit <requestId>). */
export function caApprove(ref: Ref, p: { requestId: number }): Result<SubmitValue, CaFailure> {
  return request<SubmitValue>(ref, 'ca.reply', { type: 'ca.approve', certRequestId: p.requestId }) as Result<SubmitValue, CaFailure>;
}

/** Pending Requests → All Tasks → Deny (certutil -deny <requestId>). */
export function caDeny(ref: Ref, p: { requestId: number }): Result<DenyValue, CaFailure> {
  return request<DenyValue>(ref, 'ca.reply', { type: 'ca.deny', certRequestId: p.requestId }) as Result<DenyValue, CaFailure>;
}

/** certutil -revoke <serial> <reason>; publishes a new CRL. */
export function caRevoke(ref: Ref, p: { serial: string; reason?: RevocationReason }): Result<RevokeValue, CaFailure> {
  return request<RevokeValue>(ref, 'ca.reply', { type: 'ca.revoke', serial: p.serial, reason: p.reason ?? 'Unspecified' }) as Result<RevokeValue, CaFailure>;
}

/** CA properties → Policy Module → "Set the certificate request status to pending". */
export function caSetPendAllRequests(ref: Ref, pendAllRequests: boolean): Result<{ pendAllRequests: boolean }, CaFailure> {
  return request<{ pendAllRequests: boolean }>(ref, 'ca.reply', { type: 'ca.setPolicy', pendAllRequests }) as Result<{ pendAllRequests: boolean }, CaFailure>;
}

// ---------------------------------------------------------------------------------------------------------
// Selectors

interface CaSnapshotView {
  context: CaContext;
  value: unknown;
}

function view(ref: Ref): CaSnapshotView {
  if (!ref) throw new Error('ca selector: no "ca" actor in this lab');
  return ref.getSnapshot() as CaSnapshotView;
}

export function caDatabase(ref: Ref): CaDatabase {
  return view(ref).context.db;
}

export interface CaInfo {
  name: string;
  hostFqdn: string;
  /** `dc01.corp.example.net\corp-DC01-CA`. */
  configString: string;
  certPem: string;
  online: boolean;
  /** The HTTP CRL distribution point. */
  crlUrl: string;
}

export function caInfo(ref: Ref): CaInfo {
  const v = view(ref);
  const id = v.context.db.identity;
  return { name: id.name, hostFqdn: id.hostFqdn, configString: id.configString, certPem: id.certPem, online: v.value === 'online', crlUrl: id.crlUrl };
}

/** The CRL last published (at CA start and after every revocation). */
export function caCrlPem(ref: Ref): string {
  return caDatabase(ref).crl.pem;
}

/** Every request row, oldest first. */
export function caRequests(ref: Ref): readonly CaRequestRow[] {
  return caDatabase(ref).rows;
}
