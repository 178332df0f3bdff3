/**
 * Reading certificates as an operator would in the Windows certificate dialog or `certutil -dump`, and
 * checking a leaf against its issuing CA the way CryptoAPI reports the outcome.
 */
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { fail, ok, type Result } from '../../sim/result.js';
import { EKU_NAMES, OID, dnsNames, nameView, oidList, sha1Hex } from './pki.js';

const { asn1, pki } = forge;

export interface CertificateDescription {
  /** First value of each subject attribute: CN, O, OU, L, ST, C, DC, E. */
  subject: Record<string, string>;
  /** As Windows shows it: `CN=pool01.corp.example.net, OU=IT, O=Contoso`. */
  subjectString: string;
  issuerCn: string;
  issuerString: string;
  /** Lower-case hex, no separators. */
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  /** DNS names of subjectAltName, in certificate order. */
  sans: string[];
  /** Enhanced key usages as Windows shows them: "Server Authentication (1.3.6.1.5.5.7.3.1)". */
  ekus: string[];
  ekuOids: string[];
  /** SHA-1 of the DER, upper-case hex without separators (the Thumbprint field). */
  thumbprint: string;
  /** URIs of the CRL distribution points. */
  crlDistributionPoints: string[];
  /** caIssuers URIs of authority information access. */
  authorityInfoAccess: string[];
  /** The Certificate Template Name extension of a version 1 template ("WebServer"), if present. */
  templateName?: string;
  isCa: boolean;
}

/** Pure: what the certificate says. Throws only for text that is not a PEM RSA certificate (a bug in the caller). */
export function describeCertificate(pem: string): CertificateDescription {
  const cert = pki.certificateFromPem(pem);
  const subject = nameView(cert.subject.attributes.map((a) => ({ type: String(a.type), value: a.value })));
  const issuer = nameView(cert.issuer.attributes.map((a) => ({ type: String(a.type), value: a.value })));
  const raw = (id: string): string | undefined => {
    const e = (cert.extensions as Array<{ id?: string; value?: unknown }>).find((x) => x.id === id);
    return typeof e?.value === 'string' ? e.value : undefined;
  };
  const san = raw('2.5.29.17');
  const eku = raw(OID.extKeyUsage);
  const cdp = raw('2.5.29.31');
  const aia = raw(OID.authorityInfoAccess);
  const template = raw(OID.certificateTemplateName);
  const basic = raw('2.5.29.19');
  const ekuOids = eku ? oidList(eku) : [];
  const derBytes = asn1.toDer(pki.certificateToAsn1(cert)).getBytes();
  const description: CertificateDescription = {
    subject: subject.fields,
    subjectString: subject.text,
    issuerCn: issuer.fields.CN ?? '',
    issuerString: issuer.text,
    serialNumber: cert.serialNumber.toLowerCase(),
    notBefore: cert.validity.notBefore.toISOString(),
    notAfter: cert.validity.notAfter.toISOString(),
    sans: san ? dnsNames(san) : [],
    ekus: ekuOids.map((o) => `${EKU_NAMES[o] ?? 'Unknown Key Usage'} (${o})`),
    ekuOids,
    thumbprint: sha1Hex(derBytes).toUpperCase(),
    crlDistributionPoints: cdp ? uris(cdp) : [],
    authorityInfoAccess: aia ? uris(aia) : [],
    isCa: basic ? isCaConstraint(basic) : false,
  };
  if (template) description.templateName = bmpText(template);
  return description;
}

/** Every uniformResourceIdentifier ([6] IA5String) anywhere inside a DER value. */
function uris(value: string): string[] {
  const out: string[] = [];
  const walk = (n: forge.asn1.Asn1): void => {
    if (n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 6 && !n.constructed && typeof n.value === 'string') out.push(n.value);
    else if (Array.isArray(n.value)) n.value.forEach(walk);
  };
  walk(asn1.fromDer(value));
  return out;
}

function isCaConstraint(value: string): boolean {
  const node = asn1.fromDer(value);
  const first = Array.isArray(node.value) ? node.value[0] : undefined;
  return first?.type === asn1.Type.BOOLEAN && first.value === '\xff';
}

function bmpText(value: string): string {
  const node = asn1.fromDer(value);
  const bytes = typeof node.value === 'string' ? node.value : '';
  let text = '';
  for (let i = 0; i + 1 < bytes.length; i += 2) text += String.fromCharCode((bytes.charCodeAt(i) << 8) | bytes.charCodeAt(i + 1));
  return text;
}

export type ChainFailureKind = 'certificate.untrusted' | 'certificate.expired' | 'certificate.notYetValid';

export interface ChainFailure {
  kind: ChainFailureKind;
  message: string;
  [detail: string]: unknown;
}

/** CryptoAPI's texts for the chain errors (winerror.h CERT_E_UNTRUSTEDROOT, CERT_E_EXPIRED). */
const UNTRUSTED = 'A certificate chain processed, but terminated in a root certificate which is not trusted by the trust provider. 0x800b0109 (-2146762487 CERT_E_UNTRUSTEDROOT)';
const EXPIRED =
  'A required certificate is not within its validity period when verifying against the current system clock or the timestamp in the signed file. 0x800b0101 (-2146762495 CERT_E_EXPIRED)';

/**
 * Checks that `leafPem` was issued and signed by `caPem` and that both are valid at `atMs` (simulated
 * time). Revocation is not checked here; the CA's CRL is (`caCrlPem`).
 */
/** What a chain check learns from the two certificates alone (not the time): remembered per pair. */
interface ChainFacts {
  issued: boolean;
  leaf: CertificateDescription;
  /** Read only when the CA issued the leaf (a root of another kind need not parse). */
  ca?: CertificateDescription;
}
const chainFacts = new Map<string, ChainFacts>();
const MAX_CHAIN_FACTS = 256;

function factsOf(leafPem: string, caPem: string): ChainFacts {
  const key = `${leafPem}\u0000${caPem}`;
  const known = chainFacts.get(key);
  if (known) return known;
  const leaf = new X509Certificate(leafPem);
  const ca = new X509Certificate(caPem);
  const issued = leaf.checkIssued(ca) && leaf.verify(ca.publicKey);
  const facts: ChainFacts = { issued, leaf: describeCertificate(leafPem), ...(issued ? { ca: describeCertificate(caPem) } : {}) };
  // A storm of clients checks the same pool certificate against the same root: parse and verify it once.
  if (chainFacts.size >= MAX_CHAIN_FACTS) chainFacts.delete(chainFacts.keys().next().value as string);
  chainFacts.set(key, facts);
  return facts;
}

export function verifyChain(leafPem: string, caPem: string, atMs: number): Result<CertificateDescription, ChainFailure> {
  const { issued, leaf: d, ca: caDesc } = factsOf(leafPem, caPem);
  if (!issued || !caDesc) {
    return fail({ kind: 'certificate.untrusted', message: UNTRUSTED, subject: d.subjectString, issuer: d.issuerString });
  }
  for (const c of [d, caDesc]) {
    if (atMs < Date.parse(c.notBefore)) return fail({ kind: 'certificate.notYetValid', message: EXPIRED, subject: c.subjectString, notBefore: c.notBefore });
    if (atMs > Date.parse(c.notAfter)) return fail({ kind: 'certificate.expired', message: EXPIRED, subject: c.subjectString, notAfter: c.notAfter });
  }
  // A copy: the remembered description stays as it was read.
  return ok(structuredClone(d));
}
