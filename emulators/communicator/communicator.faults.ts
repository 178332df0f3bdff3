/** Faults of the communicator emulator (see docs/emulator-guide.md, "Faults"): what users meet at sign-in. */
import { request } from '../../sim/emulator.js';
import { firstFrontEnd, firstUser, type FaultContext, type FaultDefinition } from '../../sim/faults.js';
import { adFindUser, adModify } from '../ad/ad.client.js';
import { attributeValues } from '../ad/ad.store.js';
import { caDatabase } from '../ca/ca.client.js';
import { keyById, takeKey } from '../ca/keyring.js';
import { buildCsr, issueCertificate, OID, parseCsr, type SubjectInput } from '../ca/pki.js';
import { describeCertificate } from '../ca/certificate.js';
import { hostCertificates, hostImportCertificate, hostRemoveCertificate } from '../host/host.client.js';
import { hostId } from '../host/host.events.js';
import { iisBindings, iisBindCertificate } from '../iis/iis.client.js';
import { iisId } from '../iis/iis.events.js';
import { ocsServer, ocsWizardIdle } from '../ocs/ocs.client.js';
import { communicatorConfigure } from './communicator.client.js';
import { COMMUNICATOR_ID } from './communicator.events.js';

const attr = (attributes: Record<string, string[]>, name: string): string | undefined => attributeValues(attributes, name)?.[0];

const sipEnabled = (ctx: FaultContext) => {
  const entry = adFindUser(ctx.lab.get('ad'), ctx.target);
  return entry && attr(entry.attributes, 'msRTCSIP-PrimaryUserAddress') ? entry : undefined;
};

const CREDENTIALS = 'Communicator: "Cannot sign in to Communicator. You may have entered your sign-in address, user name, or password incorrectly, or the authentication service may be incompatible with the version of the program."';
const CERTIFICATE = 'Communicator: "There was a problem verifying the certificate from the server."';
const ADDRESS_BOOK = 'Communicator: "Cannot synchronize with the corporate address book. The cause of the problem is unknown. Please contact your system administrator with this information."';

const YEAR_MS = 365 * 86_400_000;

export const communicatorFaults: FaultDefinition[] = [
  {
    id: 'user-not-enabled',
    title: 'A user is not enabled for Communications Server',
    category: 'users',
    target: 'user',
    defaultTarget: firstUser,
    where: 'Any time. Before the user is enabled, the operator leaves the user out of the Enable Users wizard (when others are enabled with it); once enabled, the user is disabled for Communications Server in ADUC.',
    symptoms: [CREDENTIALS, 'ADUC: msRTCSIP-UserEnabled is FALSE (or the user has no msRTCSIP-* attributes)', 'The other users sign in normally'],
    fix: 'Enable the user for Communications Server (ADUC → Enable users for Communications Server, with the e-mail address as sign-in name).',
    certainty: 'verified',
    note: 'The message is sourced (dd637123); the SIP response the registrar gives (403) is a design choice.',
    inject: (ctx) => {
      const entry = sipEnabled(ctx);
      if (entry) {
        const r = adModify(ctx.lab.get('ad'), { dn: entry.dn, changes: [{ operation: 'replace', attribute: 'msRTCSIP-UserEnabled', values: ['FALSE'] }] });
        return r.ok ? { applied: true, note: `msRTCSIP-UserEnabled FALSE on ${entry.dn}` } : { applied: false, note: r.failure.message };
      }
      const target = ctx.target.toLowerCase();
      ctx.rewriteNext('ocs.enableUsers', (p) => {
        const users = Array.isArray(p.users) ? p.users.map(String) : [];
        const rest = users.filter((u) => u.toLowerCase() !== target);
        return rest.length && rest.length < users.length ? { ...p, users: rest } : undefined;
      });
      return { applied: true, note: `the next ocs.enableUsers that includes ${ctx.target} with other users leaves ${ctx.target} out` };
    },
  },
  {
    id: 'enhanced-presence-missing',
    title: 'A user is enabled without enhanced presence (msRTCSIP-OptionFlags lacks 256)',
    category: 'users',
    target: 'user',
    defaultTarget: firstUser,
    where: 'After the user is enabled for Communications Server (e.g. a script or a migration from LCS 2005 set msRTCSIP-OptionFlags without bit 256).',
    symptoms: ['Communicator: "You will not be able to sign in because your account is not configured to support enhanced presence features"', 'ADUC: msRTCSIP-OptionFlags without 256 (e.g. 0)'],
    fix: 'Enable enhanced presence for the user: re-run Enable users for Communications Server (writes msRTCSIP-OptionFlags 256).',
    certainty: 'practitioner',
    note: 'Message from InsideOCS [B]; the lab has the registrar refuse with 403 and the client show the message (where exactly MOC decides is not sourced).',
    inject: (ctx) => {
      const entry = sipEnabled(ctx);
      if (!entry) return { applied: false, note: `${ctx.target} is not enabled for Communications Server yet; inject after ocs.enableUsers` };
      const flags = Number(attr(entry.attributes, 'msRTCSIP-OptionFlags') ?? '0') || 0;
      const next = String(flags & ~256);
      const r = adModify(ctx.lab.get('ad'), { dn: entry.dn, changes: [{ operation: 'replace', attribute: 'msRTCSIP-OptionFlags', values: [next] }] });
      return r.ok ? { applied: true, note: `msRTCSIP-OptionFlags ${flags} -> ${next} on ${entry.dn}` } : { applied: false, note: r.failure.message };
    },
  },
  {
    id: 'signin-address-mismatch',
    title: 'The user signs in with an address that is not the primary SIP address',
    category: 'users',
    target: 'user',
    defaultTarget: firstUser,
    where: 'Any time: the user was told first.last@<SIP domain> while the account was enabled with the e-mail address (Communicator remembers the address typed).',
    symptoms: [CREDENTIALS, 'Discovery, connection and certificate are fine: the REGISTER is refused (SIP/2.0 404 Not Found)'],
    fix: 'Sign in with the msRTCSIP-PrimaryUserAddress (the e-mail address here), or re-enable the user with the sign-in name option users were told.',
    certainty: 'verified',
    inject: (ctx) => {
      const spec = ctx.topology.users.find((u) => u.sam.toLowerCase() === ctx.target.toLowerCase());
      const domain = ctx.topology.sipDomains[0] ?? '';
      if (!spec) return { applied: false, note: `no user ${ctx.target}` };
      const entry = adFindUser(ctx.lab.get('ad'), ctx.target);
      const primary = (entry ? attr(entry.attributes, 'msRTCSIP-PrimaryUserAddress') : undefined)?.replace(/^sip:/i, '').toLowerCase();
      let wrong = `${spec.givenName}.${spec.sn}@${domain}`.replace(/\s+/g, '').toLowerCase();
      if (wrong === primary) wrong = `${spec.sam}@${domain}`.toLowerCase();
      if (wrong === primary) wrong = `${spec.sn}.${spec.givenName}@${domain}`.replace(/\s+/g, '').toLowerCase();
      const r = communicatorConfigure(ctx.lab.get(COMMUNICATOR_ID), { user: spec.sam, settings: { signInAddress: wrong } });
      return r.ok ? { applied: true, note: `${spec.sam} types ${wrong}` } : { applied: false, note: r.failure.message };
    },
  },
  {
    id: 'certificate-expired',
    title: "The front end's pool certificate has expired",
    category: 'certificates',
    target: 'frontEnd',
    defaultTarget: firstFrontEnd,
    where: 'After the pool certificate is assigned (and bound in IIS): the assigned certificate is one whose validity ended yesterday.',
    symptoms: [CERTIFICATE, ADDRESS_BOOK, 'Certificates MMC (LocalMachine\\My) on the front end: the pool certificate\'s "Valid to" date is in the past'],
    fix: 'Request and assign a new pool certificate with the OCS Certificate Wizard (ocs.requestCertificate), bind it in IIS (iis.bindCertificate), and restart the Front-End service if it does not pick it up.',
    certainty: 'unverified',
    note: 'The certificate message is Lync-era wording [U] for MOC 2007 R2. The lab cannot let two years pass on its clock cheaply, so the fault swaps in a certificate of the same names from the lab CA whose validity already ended (notBefore two years and a day ago, notAfter a day ago), assigns it and rebinds IIS. Server-side event 14428 is not written (it concerns the server\'s outgoing TLS). The fault waits the Certificate Wizard\'s 5 s so the next wizard is not refused as busy.',
    inject: (ctx) => {
      const ocs = ctx.lab.get('ocs');
      const ca = ctx.lab.get('ca');
      const host = ctx.lab.get(hostId(ctx.target));
      if (!ocs || !ca || !host) return { applied: false, note: 'no OCS, CA or host actor' };
      const server = ocsServer(ocs, ctx.target);
      const current = server?.certificate;
      if (!server || !current) return { applied: false, note: `${ctx.target} has no certificate assigned yet` };
      if (!ocsWizardIdle(ocs)) return { applied: false, note: 'a wizard is running on the deployment' };
      const old = hostCertificates(host).find((c) => c.thumbprint.toLowerCase() === current.thumbprint.toLowerCase());
      if (!old) return { applied: false, note: `the assigned certificate ${current.thumbprint} is not in LocalMachine\\My` };
      const identity = caDatabase(ca).identity;
      const key = takeKey(ctx.lab.ids.fork('fault:certificate-expired'));
      const f = describeCertificate(old.certPem).subject;
      const subject: SubjectInput = { CN: old.subjectCN };
      for (const k of ['O', 'OU', 'L', 'ST', 'C'] as const) if (f[k]) subject[k] = f[k];
      const csr = parseCsr(buildCsr({ key, subject, sans: old.sans, exportable: true }).csrPem);
      if (!csr.ok) return { applied: false, note: 'could not build the request' };
      const now = ctx.lab.clock.now();
      const certPem = issueCertificate({
        caCertPem: identity.certPem,
        caKey: keyById(identity.keyId),
        csr: csr.value,
        serial: `7e${now.toString(16)}`,
        notBefore: now - 2 * YEAR_MS - 86_400_000,
        notAfter: now - 86_400_000,
        ekuOids: [OID.serverAuth],
        templateName: 'WebServer',
        urls: { cdp: identity.cdp, aia: identity.aia },
        hash: identity.hash,
      });
      const imported = hostImportCertificate(host, { certPem, keyId: key.id, friendlyName: old.friendlyName });
      if (!imported.ok) return { applied: false, note: imported.failure.message };
      const assigned = request(ocs, 'ocs.reply', { type: 'ocs.assignCertificate', server: server.host, thumbprint: imported.value.thumbprint });
      if (!assigned.ok) return { applied: false, note: assigned.failure.message };
      ctx.lab.waitFor(() => ocsWizardIdle(ocs), 60_000);
      const iis = ctx.lab.get(iisId(ctx.target));
      const https = iis ? iisBindings(iis).find((b) => b.protocol === 'https') : undefined;
      if (iis && https) {
        const [ip = '*', port = '443'] = https.bindingInformation.split(':');
        iisBindCertificate(iis, { site: https.site, ip, port: Number(port), thumbprint: imported.value.thumbprint });
      }
      hostRemoveCertificate(host, { thumbprint: old.thumbprint });
      return { applied: true, note: `replaced ${old.thumbprint} with expired ${imported.value.thumbprint} on ${ctx.target}${https ? ' (IIS rebound)' : ''}` };
    },
  },
  {
    id: 'client-does-not-trust-ca',
    title: "The clients do not trust the enterprise root CA that issued the pool certificate",
    category: 'certificates',
    target: 'lab',
    defaultTarget: () => undefined,
    where: 'Any time (e.g. clients outside the domain, or the root CA certificate never reached them).',
    symptoms: [CERTIFICATE, `${ADDRESS_BOOK} (the HTTPS download fails silently: no certificate prompt)`],
    fix: "Install the enterprise root CA certificate in the clients' Trusted Root Certification Authorities (Group Policy, or communicator.setTrustLabCa per client).",
    certainty: 'practitioner',
    note: 'Certificate message wording is Lync-era [U] for MOC 2007 R2; the silent HTTPS failure of the address book is sourced [V].',
    inject: (ctx) => {
      const r = communicatorConfigure(ctx.lab.get(COMMUNICATOR_ID), { settings: { trustLabCa: false } });
      return r.ok ? { applied: true, note: 'every client lost the enterprise root CA' } : { applied: false, note: r.failure.message };
    },
  },
];
