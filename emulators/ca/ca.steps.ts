/**
 * The CA operator's vocabulary: what an administrator does in the Certification Authority snap-in
 * (issue or deny a pending request, revoke a certificate) and what a check reads there.
 */
import { z } from 'zod';
import { defineStep, failed, passed, type StepDefinition } from '../../sim/steps.js';
import { caApprove, caDatabase, caDeny, caInfo, caRevoke } from './ca.client.js';
import { REVOCATION_REASONS, type RevocationReason } from './pki.js';
import { newestForSubject, oldestPending, type CaRequestRow } from './ca.store.js';

const CA = 'ca';
const reasons = Object.keys(REVOCATION_REASONS) as [RevocationReason, ...RevocationReason[]];
const describeRow = (r: CaRequestRow) => `request ${r.requestId}: ${r.subject}, ${r.status}${r.serial ? `, serial ${r.serial}` : ''} (${r.disposition})`;

const approveRequest = defineStep({
  name: 'ca.approveRequest',
  kind: 'action',
  summary: 'Issue a pending certificate request in the Certification Authority snap-in (default: the oldest pending)',
  params: z.strictObject({ requestId: z.number().int().positive().optional() }),
  title: (p, t) => `Issue pending request ${p.requestId ?? '(oldest)'} on ${t.ca.name}`,
  emulated: ({ lab }, p) => {
    const ref = lab.get(CA);
    const id = p.requestId ?? (ref ? oldestPending(caDatabase(ref))?.requestId : undefined);
    if (id === undefined) return failed('There are no pending requests on the CA');
    const r = caApprove(ref, { requestId: id });
    if (!r.ok) return failed(r.failure.message);
    return passed([`Request ${id} issued`]);
  },
});

const denyRequest = defineStep({
  name: 'ca.denyRequest',
  kind: 'action',
  summary: 'Deny a pending certificate request (default: the oldest pending)',
  params: z.strictObject({ requestId: z.number().int().positive().optional() }),
  title: (p, t) => `Deny pending request ${p.requestId ?? '(oldest)'} on ${t.ca.name}`,
  emulated: ({ lab }, p) => {
    const ref = lab.get(CA);
    const id = p.requestId ?? (ref ? oldestPending(caDatabase(ref))?.requestId : undefined);
    if (id === undefined) return failed('There are no pending requests on the CA');
    const r = caDeny(ref, { requestId: id });
    if (!r.ok) return failed(r.failure.message);
    return passed([`Request ${id} denied`]);
  },
});

const revokeCertificate = defineStep({
  name: 'ca.revokeCertificate',
  kind: 'action',
  summary: 'Revoke an issued certificate by serial number or subject (newest issued for that subject) and publish a new CRL',
  params: z
    .strictObject({ serial: z.string().min(1).optional(), subject: z.string().min(1).optional(), reason: z.enum(reasons).default('Unspecified') })
    .refine((p) => (p.serial === undefined) !== (p.subject === undefined), { message: 'give exactly one of serial or subject' }),
  title: (p, t) => `Revoke ${p.serial ? `certificate ${p.serial}` : `the certificate of ${p.subject ?? ''}`} on ${t.ca.name} (${p.reason})`,
  emulated: ({ lab }, p) => {
    const ref = lab.get(CA);
    let serial = p.serial;
    if (!serial && p.subject) {
      const row = ref ? newestForSubject(caDatabase(ref), p.subject, 'Issued') : undefined;
      if (!row?.serial) return failed(`No issued certificate for ${p.subject} on the CA`);
      serial = row.serial;
    }
    if (!serial) return failed('give serial or subject');
    const r = caRevoke(ref, { serial, reason: p.reason });
    if (!r.ok) return failed(r.failure.message);
    return passed([`Revoked ${r.value.serial} (request ${r.value.requestId}), reason ${r.value.reason}; CRL ${caDatabase(ref).crl.crlNumber} published`]);
  },
});

const requestStatus = defineStep({
  name: 'ca.requestStatus',
  kind: 'check',
  summary: 'A certificate request (by id, or the newest for a subject) has the expected status',
  params: z
    .strictObject({
      requestId: z.number().int().positive().optional(),
      subject: z.string().min(1).optional(),
      status: z.enum(['Issued', 'Pending', 'Denied', 'Revoked']),
    })
    .refine((p) => p.requestId !== undefined || p.subject !== undefined, { message: 'give requestId or subject' }),
  title: (p) => `Request ${p.requestId ?? `for ${p.subject ?? ''}`} is ${p.status}`,
  console: (p, t) => `Certification Authority (certsrv.msc) on ${t.ca.host}: ${t.ca.name} → Issued, Pending, Failed and Revoked Certificates, ${p.requestId !== undefined ? `Request ID ${p.requestId}` : `the newest request for ${p.subject ?? ''}`}`,
  emulated: ({ lab }, p) => {
    const db = caDatabase(lab.get(CA));
    const row = p.requestId !== undefined ? db.rows.find((r) => r.requestId === p.requestId) : newestForSubject(db, p.subject ?? '');
    const what = p.requestId !== undefined ? `request ${p.requestId}` : `a request for ${p.subject ?? ''}`;
    if (!row) return failed(`expected ${p.status}, found no ${what} on ${db.identity.name}`, db.rows.map(describeRow));
    if (row.status !== p.status) return failed(`expected ${p.status}, found ${row.status} (${what})`, [describeRow(row)]);
    return passed([describeRow(row)]);
  },
});

const online = defineStep({
  name: 'ca.online',
  kind: 'check',
  summary: 'The CA answers requests (CertSvc running) or does not',
  params: z.strictObject({ online: z.boolean().default(true) }),
  title: (p, t) => `${t.ca.name} is ${p.online ? 'online' : 'offline'}`,
  console: (_p, t) => `Certification Authority (certsrv.msc) on ${t.ca.host}: ${t.ca.name} with a green check (running) or a black square (stopped); or sc query CertSvc`,
  emulated: ({ lab }, p) => {
    const info = caInfo(lab.get(CA));
    const word = (b: boolean) => (b ? 'online' : 'offline');
    if (info.online !== p.online) return failed(`expected ${word(p.online)}, found ${word(info.online)}`, [info.configString]);
    return passed([`${info.configString} is ${word(info.online)}`]);
  },
});

export const caSteps: StepDefinition[] = [approveRequest, denyRequest, revokeCertificate, requestStatus, online];
