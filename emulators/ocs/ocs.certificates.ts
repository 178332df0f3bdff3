/**
 * The Certificate Wizard of OCS 2007 R2: request a certificate (online to an enterprise CA, or saved to
 * send later), process the pending request, assign an existing certificate.
 */
import { ok } from '../../sim/result.js';
import type { RequestCertificateArgs } from './ocs.events.js';
import { findPool, findServer, logWizard, withServer, type CertificateRecord, type OcsStore, type ServerRecord } from './ocs.store.js';
import { ev, refused, type Emitted, type WizardContext, type WizardOutcome } from './ocs.wizard.js';

// ---------------------------------------------------------------------------------------------------
// Certificate Wizard

export interface CertificateWizardResult {
  status: 'assigned' | 'issued' | 'pending' | 'saved';
  friendlyName: string;
  subjectName: string;
  sans: string[];
  ca?: string;
  thumbprint?: string;
  csrPem?: string;
}

/** What the wizard pre-fills for a server: certificate name = server FQDN, subject = pool FQDN, SANs sip.<domain>. */
export function certificateDefaults(store: OcsStore, server: ServerRecord): { friendlyName: string; subjectName: string; sans: string[] } {
  const pool = findPool(store, server.pool);
  const subjectName = pool?.fqdn ?? server.fqdn;
  // With automatic sign-in the wizard adds sip.<domain> for every SIP domain, and a certificate with a SAN
  // must name the subject in it too: TLS clients that find a SAN ignore the CN (RFC 6125; the same rule
  // Microsoft documents for Lync; that the R2 wizard pre-fills the subject there is [U]).
  return {
    friendlyName: server.fqdn,
    subjectName,
    sans: pool?.automaticSignIn ? [subjectName, ...pool.sipDomains.map((d) => `sip.${d}`)] : [],
  };
}

function assignCert(ctx: WizardContext, server: ServerRecord, cert: CertificateRecord): { store: OcsStore; emitted: Emitted[] } {
  const next: ServerRecord = { ...server, certificate: cert };
  delete next.pendingRequest;
  return {
    store: logWizard(withServer(ctx.store, next), [`[Success] Assigned certificate ${cert.thumbprint} (CN=${cert.subjectCN}) to ${server.fqdn}`]),
    emitted: [ev('ocs.certificateAssigned', `Assigned certificate "${cert.friendlyName}" CN=${cert.subjectCN}${cert.sans.length ? ` SAN ${cert.sans.join(', ')}` : ''} to ${server.fqdn}`, { server: server.host, thumbprint: cert.thumbprint })],
  };
}

function installIssued(ctx: WizardContext, server: ServerRecord, certPem: string, keyId: string, friendlyName: string, assign: boolean): WizardOutcome<CertificateWizardResult> {
  const imported = ctx.peers.host.importCertificate(server.host, { certPem, keyId, friendlyName });
  if (!imported.ok) return refused(ctx, 'ocs.caUnavailable', `Importing the certificate into the local computer's Personal store failed: ${imported.failure.message}`);
  const d = ctx.peers.ca.describe(certPem);
  const cert: CertificateRecord = { thumbprint: imported.value.thumbprint, subjectCN: d.subjectCN, sans: d.sans, friendlyName };
  const base = { friendlyName, subjectName: d.subjectCN, sans: d.sans, thumbprint: cert.thumbprint };
  if (!assign) {
    const s = withServer(ctx.store, { ...server, pendingRequest: undefined } as ServerRecord);
    const cleaned = findServer(s, server.host);
    if (cleaned) delete cleaned.pendingRequest;
    return { store: logWizard(s, [`[Success] Certificate ${cert.thumbprint} installed in LocalMachine\\My (not assigned)`]), emitted: [], result: ok({ status: 'issued', ...base }), durationMs: 20_000 };
  }
  const a = assignCert(ctx, server, cert);
  return { store: a.store, emitted: a.emitted, result: ok({ status: 'assigned', ...base }), durationMs: 20_000 };
}

export function requestCertificate(ctx: WizardContext, args: RequestCertificateArgs): WizardOutcome<CertificateWizardResult> {
  const server = findServer(ctx.store, args.server);
  if (!server || !server.filesInstalled) return refused(ctx, 'ocs.noSuchServer', `Office Communications Server is not installed on ${args.server}. Run Add Server to Pool first.`);
  const defaults = certificateDefaults(ctx.store, server);
  const friendlyName = args.certificateName ?? defaults.friendlyName;
  const subjectName = (args.subjectName ?? defaults.subjectName).toLowerCase();
  const sans = (args.sans ?? defaults.sans).map((s) => s.toLowerCase());
  const assign = args.assign ?? true;
  const subject = { CN: subjectName, O: args.organization, OU: args.organizationalUnit, L: args.city, ST: args.state, C: args.country };
  const requested = ev('ocs.certificateRequested', `Certificate Wizard on ${server.host}: "${friendlyName}" CN=${subjectName}${sans.length ? ` SAN ${sans.join(', ')}` : ''} (${args.mode === 'online' ? 'sent to an online CA' : 'request saved to send later'})`, { server: server.host });

  if (args.mode === 'online') {
    const ca = ctx.peers.ca.info();
    if (!ca || !ca.online) {
      if (!ca) return refused(ctx, 'ocs.caUnavailable', 'No enterprise certification authority was found in Active Directory. Prepare the request now and send it later to a certification authority.');
      return refused(ctx, 'ocs.caUnavailable', `The request could not be sent to the certification authority ${ca.configString}: The RPC server is unavailable. 0x800706ba (WIN32: 1722). Verify that Certificate Services is running on the certification authority, or prepare the request now and send it later.`);
    }
    if (args.ca && args.ca.toLowerCase() !== ca.configString.toLowerCase()) {
      return refused(ctx, 'ocs.caUnavailable', `The certification authority ${args.ca} was not found. Available: ${ca.configString}`);
    }
    const csr = ctx.peers.ca.buildCsr(subject, sans, args.exportable ?? false);
    const submitted = ctx.peers.ca.submit(csr.csrPem, `${ctx.topology.forest.netbios}\\${server.host.toUpperCase()}$`);
    if (!submitted.ok) return refused(ctx, 'ocs.caUnavailable', `The request could not be submitted to ${ca.configString}: ${submitted.failure.message}`);
    if (submitted.value.status === 'pending') {
      const pending = { mode: 'online' as const, csrPem: csr.csrPem, keyId: csr.keyId, friendlyName, subjectCN: subjectName, sans, caRequestId: submitted.value.requestId, assign };
      const store = logWizard(withServer(ctx.store, { ...server, pendingRequest: pending }), [`[Warning] The certificate request ${submitted.value.requestId} is pending at ${ca.configString}; no certificate was assigned.`]);
      return {
        store,
        emitted: [requested, ev('ocs.wizardWarning', `Certificate request ${submitted.value.requestId} is pending at ${ca.configString}; nothing assigned`, { wizard: 'Certificate', server: server.host })],
        result: ok({ status: 'pending', friendlyName, subjectName, sans, ca: ca.configString }),
        durationMs: 20_000,
      };
    }
    const done = installIssued(ctx, server, submitted.value.certPem, csr.keyId, friendlyName, assign);
    return { ...done, emitted: [requested, ...done.emitted], result: done.result.ok ? ok({ ...done.result.value, ca: ca.configString }) : done.result };
  }

  const csr = ctx.peers.ca.buildCsr(subject, sans, args.exportable ?? false);
  const pending = { mode: 'offline' as const, csrPem: csr.csrPem, keyId: csr.keyId, friendlyName, subjectCN: subjectName, sans, assign };
  const store = logWizard(withServer(ctx.store, { ...server, pendingRequest: pending }), [`[Success] Certificate request for CN=${subjectName} saved to C:\\certreq.txt`]);
  return { store, emitted: [requested], result: ok({ status: 'saved', friendlyName, subjectName, sans, csrPem: csr.csrPem }), durationMs: 15_000 };
}

/** "Process the pending request": retrieve (online, pending) or submit (offline) the saved request, import and assign. */
export function completePendingCertificate(ctx: WizardContext, args: { server: string; assign?: boolean }): WizardOutcome<CertificateWizardResult> {
  const server = findServer(ctx.store, args.server);
  const pending = server?.pendingRequest;
  if (!server || !pending) return refused(ctx, 'ocs.noPendingRequest', `There is no pending certificate request on ${args.server}.`);
  const ca = ctx.peers.ca.info();
  if (!ca || !ca.online) return refused(ctx, 'ocs.caUnavailable', `The certification authority ${ca?.configString ?? ''} could not be contacted: The RPC server is unavailable. 0x800706ba (WIN32: 1722).`.replace('  ', ' '));
  const r = pending.caRequestId !== undefined ? ctx.peers.ca.retrieve(pending.caRequestId) : ctx.peers.ca.submit(pending.csrPem, `${ctx.topology.forest.netbios}\\${server.host.toUpperCase()}$`);
  if (!r.ok) return refused(ctx, 'ocs.caUnavailable', r.failure.message);
  if (r.value.status === 'pending') {
    const store = withServer(ctx.store, { ...server, pendingRequest: { ...pending, caRequestId: r.value.requestId } });
    return { store, emitted: [], result: ok({ status: 'pending', friendlyName: pending.friendlyName, subjectName: pending.subjectCN, sans: pending.sans, ca: ca.configString }), durationMs: 10_000 };
  }
  return installIssued(ctx, server, r.value.certPem, pending.keyId, pending.friendlyName, args.assign ?? pending.assign);
}

/** Certificate Wizard "Assign an existing certificate". */
export function assignExistingCertificate(ctx: WizardContext, args: { server: string; thumbprint: string }): WizardOutcome<CertificateRecord> {
  const server = findServer(ctx.store, args.server);
  if (!server || !server.filesInstalled) return refused(ctx, 'ocs.noSuchServer', `Office Communications Server is not installed on ${args.server}.`);
  const c = ctx.peers.host.certificates(server.host).find((x) => x.thumbprint.toLowerCase() === args.thumbprint.toLowerCase());
  if (!c) return refused(ctx, 'ocs.noSuchServer', `No certificate with thumbprint ${args.thumbprint} is in the local computer's Personal store on ${server.host}.`);
  const cert: CertificateRecord = { thumbprint: c.thumbprint, subjectCN: c.subjectCN, sans: c.sans, friendlyName: c.friendlyName };
  const a = assignCert(ctx, server, cert);
  return { ...a, result: ok(cert), durationMs: 5_000 };
}
