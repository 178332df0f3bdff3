/**
 * Enterprise root CA (Active Directory Certificate Services on Windows Server 2008): commands in, events
 * out, input, failure kinds. Other emulators import this module and `ca.client.ts`, never the machine.
 */
import type { LabEnv } from '../../sim/emulator.js';
import type { IdPosition } from '../../sim/ids.js';
import type { Result } from '../../sim/result.js';
import type { Topology } from '../../sim/topology.js';
import type { ServiceSpec, ServiceStartingQuery, ServiceStateChanged, ServiceStateReported } from '../host/host.events.js';
import type { CaDatabase, RequestStatus } from './ca.store.js';
import type { RevocationReason, SignatureHash } from './pki.js';

export type { RevocationReason } from './pki.js';

/** The Windows service that is the CA; the host runs it, this emulator owns it. */
export const CERTSVC: ServiceSpec = {
  name: 'CertSvc',
  displayName: 'Active Directory Certificate Services',
  startupType: 'Automatic',
  logOnAs: 'LocalSystem',
  dependsOn: [],
  startMs: 3000,
  owner: 'ca',
};

export interface CaInput {
  env: LabEnv;
  topology: Topology;
  /** Policy module "set the certificate request status to pending": every request waits for a manager. */
  pendAllRequests?: boolean;
  /** Signature hash of the CA (default sha256; see README for why not sha1). */
  signatureHash?: SignatureHash;
}

export type CaFailureKind =
  | 'ca.unavailable'
  | 'ca.badRequest'
  | 'ca.denied'
  | 'ca.unknownTemplate'
  | 'ca.noSuchRequest'
  | 'ca.badRequestStatus';

export interface CaFailure {
  kind: CaFailureKind;
  message: string;
  [detail: string]: unknown;
}

export type SubmitValue = { status: 'issued'; requestId: number; certPem: string; chainPem: string } | { status: 'pending'; requestId: number };

export type RetrieveValue =
  | SubmitValue
  | { status: 'revoked'; requestId: number; certPem: string; chainPem: string; revokedAt: string; reason: RevocationReason };

export interface DenyValue {
  requestId: number;
  status: 'Denied';
}

export interface RevokeValue {
  requestId: number;
  serial: string;
  revokedAt: string;
  reason: RevocationReason;
}

export type CaCommand =
  | { type: 'ca.submitRequest'; requestId: string; csrPem: string; template: string; requester: string }
  | { type: 'ca.retrieve'; requestId: string; certRequestId: number }
  | { type: 'ca.approve'; requestId: string; certRequestId: number }
  | { type: 'ca.deny'; requestId: string; certRequestId: number }
  | { type: 'ca.revoke'; requestId: string; serial: string; reason: RevocationReason }
  | { type: 'ca.setPolicy'; requestId: string; pendAllRequests: boolean };

export type CaEvent = CaCommand | ServiceStartingQuery | ServiceStateChanged | ServiceStateReported | { type: 'host.powerChanged'; host: string; power: 'on' | 'off' };

export type CaNotice =
  | { type: 'ca.certificateIssued'; requestId: number; serial: string; subject: string; sans: string[]; template: string; summary: string }
  | { type: 'ca.requestPending'; requestId: number; subject: string; template: string; summary: string }
  | { type: 'ca.requestDenied'; requestId: number; subject: string; summary: string }
  | { type: 'ca.certificateRevoked'; requestId: number; serial: string; subject: string; reason: RevocationReason; summary: string }
  | { type: 'ca.crlPublished'; crlNumber: number; revoked: number; thisUpdate: string; nextUpdate: string; summary: string }
  | { type: 'ca.policyChanged'; pendAllRequests: boolean; summary: string }
  | { type: 'ca.availabilityChanged'; online: boolean; summary: string };

export type CaEmitted = { type: 'ca.reply'; requestId: string; result: Result<unknown> } | CaNotice;

export interface CaContext {
  /** Where the CA's seeded id stream is (serial numbers): drawn in transitions, so it lives in the context. */
  ids: IdPosition;
  /** Short name of the CA's host ("dc01"). */
  host: string;
  /** Who denies and approves in the CA snap-in: "CORP\\Administrator". */
  administrator: string;
  db: CaDatabase;
}

export type { RequestStatus };
