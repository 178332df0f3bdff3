/**
 * PKI building blocks for the CA and its requesters: names, requests (PKCS#10), certificates and CRLs.
 *
 * node-forge builds and parses the ASN.1; every RSA signature is made by node:crypto (PKCS#1 v1.5 over a
 * DigestInfo), because forge's pure-JS RSA takes tens of milliseconds a signature. RSA PKCS#1 v1.5 is
 * deterministic, so the same inputs give the same bytes.
 */
import { constants, createHash, createPublicKey, privateEncrypt, verify as cryptoVerify } from 'node:crypto';
import forge from 'node-forge';
import { fail, ok, type Result } from '../../sim/result.js';
import { keyById, type RingKey } from './keyring.js';

const { asn1, pki } = forge;
type Asn1 = forge.asn1.Asn1;

export type SignatureHash = 'sha256' | 'sha1';

/** DER of DigestInfo's AlgorithmIdentifier + OCTET STRING header (RFC 8017 §9.2 note 1). */
const DIGEST_INFO_PREFIX: Record<SignatureHash, Buffer> = {
  sha1: Buffer.from('3021300906052b0e03021a05000414', 'hex'),
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
};

export const OID = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  domainComponent: '0.9.2342.19200300.100.1.25',
  /** szOID_CERTSRV_CA_VERSION: the CA certificate and key index, "V0.0" for a first CA certificate. */
  caVersion: '1.3.6.1.4.1.311.21.1',
  /** szOID_ENROLL_CERTTYPE_EXTENSION: the name of a version 1 template, as a BMPString. */
  certificateTemplateName: '1.3.6.1.4.1.311.20.2',
  extKeyUsage: '2.5.29.37',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  caIssuers: '1.3.6.1.5.5.7.48.2',
  crlNumber: '2.5.29.20',
  crlReason: '2.5.29.21',
  authorityKeyIdentifier: '2.5.29.35',
  sha1WithRSAEncryption: '1.2.840.113549.1.1.5',
  sha256WithRSAEncryption: '1.2.840.113549.1.1.11',
} as const;

/** EKU names as the Windows certificate dialog shows them. */
export const EKU_NAMES: Record<string, string> = {
  [OID.serverAuth]: 'Server Authentication',
  [OID.clientAuth]: 'Client Authentication',
  '1.3.6.1.5.5.7.3.3': 'Code Signing',
  '1.3.6.1.5.5.7.3.4': 'Secure Email',
  '1.3.6.1.4.1.311.20.2.2': 'Smart Card Logon',
};

/** A forge private key whose `sign(md)` is node:crypto's RSA over forge's digest. */
export function forgeSigner(key: RingKey): forge.pki.rsa.PrivateKey {
  const signer = {
    sign(md: forge.md.MessageDigest): string {
      const algorithm = md.algorithm as SignatureHash;
      const prefix = DIGEST_INFO_PREFIX[algorithm];
      if (!prefix) throw new Error(`forgeSigner: unsupported digest ${md.algorithm}`);
      const digest = Buffer.from(md.digest().getBytes(), 'binary');
      const signature = privateEncrypt({ key: key.privateKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([prefix, digest]));
      return signature.toString('binary');
    },
  };
  return signer as unknown as forge.pki.rsa.PrivateKey;
}

export function digest(hash: SignatureHash): forge.md.MessageDigest {
  return hash === 'sha1' ? forge.md.sha1.create() : forge.md.sha256.create();
}

// ---------------------------------------------------------------------------------------------------------
// ASN.1 helpers

const U = asn1.Class.UNIVERSAL;
const seq = (items: Asn1[]): Asn1 => asn1.create(U, asn1.Type.SEQUENCE, true, items);
const oidNode = (oid: string): Asn1 => asn1.create(U, asn1.Type.OID, false, asn1.oidToDer(oid).getBytes());
/** forge writes PEM with CRLF; the lab keeps LF like OpenSSL. */
const lf = (pem: string): string => pem.replace(/\r\n/g, '\n');
const der = (node: Asn1): string => asn1.toDer(node).getBytes();
const ia5Uri = (uri: string): Asn1 => asn1.create(asn1.Class.CONTEXT_SPECIFIC, 6, false, uri);
/** INTEGER content from lower-case hex, with a leading zero byte when the top bit is set. */
const intFromHex = (hex: string): Asn1 => {
  let bytes = forge.util.hexToBytes(hex.length % 2 ? `0${hex}` : hex);
  if (bytes.charCodeAt(0) & 0x80) bytes = `\x00${bytes}`;
  return asn1.create(U, asn1.Type.INTEGER, false, bytes);
};
const intNode = (n: number): Asn1 => intFromHex(n.toString(16));
const utcOrGeneralized = (ms: number): Asn1 => {
  const d = new Date(ms);
  return d.getUTCFullYear() >= 2050
    ? asn1.create(U, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d))
    : asn1.create(U, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(d));
};
const bmpString = (text: string): Asn1 => {
  let bytes = '';
  for (const ch of text) {
    const c = ch.charCodeAt(0);
    bytes += String.fromCharCode(c >> 8, c & 0xff);
  }
  return asn1.create(U, asn1.Type.BMPSTRING, false, bytes);
};

interface RawExtension {
  id: string;
  critical?: boolean;
  value: string;
}

export function ekuExtension(oids: readonly string[]): RawExtension {
  return { id: OID.extKeyUsage, value: der(seq(oids.map(oidNode))) };
}

function aiaExtension(urls: readonly string[]): RawExtension {
  return { id: OID.authorityInfoAccess, value: der(seq(urls.map((u) => seq([oidNode(OID.caIssuers), ia5Uri(u)])))) };
}

function templateNameExtension(name: string): RawExtension {
  return { id: OID.certificateTemplateName, value: der(bmpString(name)) };
}

function caVersionExtension(): RawExtension {
  return { id: OID.caVersion, value: der(intNode(0)) };
}

// ---------------------------------------------------------------------------------------------------------
// Names

export interface SubjectInput {
  CN: string;
  O?: string;
  OU?: string;
  L?: string;
  ST?: string;
  C?: string;
}

type NameAttr = { type: string; value: string; valueTagClass: number };

/** DER order is most significant first (C ... CN); Windows and `certutil` show it the other way round. */
export function subjectAttributes(subject: SubjectInput): NameAttr[] {
  const utf8 = asn1.Type.UTF8;
  const attrs: NameAttr[] = [];
  if (subject.C) attrs.push({ type: '2.5.4.6', value: subject.C, valueTagClass: asn1.Type.PRINTABLESTRING });
  if (subject.ST) attrs.push({ type: '2.5.4.8', value: subject.ST, valueTagClass: utf8 });
  if (subject.L) attrs.push({ type: '2.5.4.7', value: subject.L, valueTagClass: utf8 });
  if (subject.O) attrs.push({ type: '2.5.4.10', value: subject.O, valueTagClass: utf8 });
  if (subject.OU) attrs.push({ type: '2.5.4.11', value: subject.OU, valueTagClass: utf8 });
  attrs.push({ type: '2.5.4.3', value: subject.CN, valueTagClass: utf8 });
  return attrs;
}

/** `CN=corp-DC01-CA, DC=corp, DC=example, DC=net` for a CA named corp-DC01-CA in corp.example.net. */
export function caSubjectAttributes(caName: string, forestFqdn: string): NameAttr[] {
  const dcs = forestFqdn
    .split('.')
    .reverse()
    .map((label) => ({ type: OID.domainComponent, value: label, valueTagClass: asn1.Type.IA5STRING }));
  return [...dcs, { type: '2.5.4.3', value: caName, valueTagClass: asn1.Type.UTF8 }];
}

const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  [OID.domainComponent]: 'DC',
  '1.2.840.113549.1.9.1': 'E',
};
/** Windows writes the state as "S=". */
const WINDOWS_LABEL: Record<string, string> = { ST: 'S' };

export interface NameView {
  /** First value of each attribute by short name (CN, O, OU, L, ST, C, DC, E). */
  fields: Record<string, string>;
  /** As Windows shows it: least significant first, e.g. `CN=pool01.corp.example.net, OU=IT, O=Contoso`. */
  text: string;
}

export function nameView(attrs: ReadonlyArray<{ type: string; value: unknown }>): NameView {
  const fields: Record<string, string> = {};
  const parts: string[] = [];
  for (const a of attrs) {
    const short = SHORT_NAMES[a.type] ?? a.type;
    const value = String(a.value);
    if (!(short in fields)) fields[short] = value;
    parts.push(`${WINDOWS_LABEL[short] ?? short}=${value}`);
  }
  return { fields, text: parts.reverse().join(', ') };
}

// ---------------------------------------------------------------------------------------------------------
// Certificate requests (PKCS#10)

export interface BuildCsrOptions {
  /** A key-ring key id ("k07"); or pass `key`. */
  keyId?: string;
  key?: RingKey;
  subject: SubjectInput;
  /** DNS names for subjectAltName, in the order given. */
  sans: string[];
  /** Whether the requester marks the private key exportable. A property of the requester's key store, not of the request. */
  exportable?: boolean;
  /** Ask for Client Authentication besides Server Authentication (OCS R2 MTLS). Default true. */
  clientAuth?: boolean;
}

export interface BuiltCsr {
  csrPem: string;
  keyId: string;
  exportable: boolean;
}

/**
 * A request as the OCS certificate wizard makes it: subject, an extensionRequest with key usage
 * digitalSignature+keyEncipherment (0xa0), EKU serverAuth (+clientAuth) and the DNS SANs, signed sha1RSA.
 */
export function buildCsr(options: BuildCsrOptions): BuiltCsr {
  const key = options.key ?? (options.keyId ? keyById(options.keyId) : undefined);
  if (!key) throw new Error('buildCsr: give keyId or key');
  const csr = pki.createCertificationRequest();
  csr.publicKey = key.forgePublicKey;
  csr.setSubject(subjectAttributes(options.subject));
  const ekus = options.clientAuth === false ? [OID.serverAuth] : [OID.serverAuth, OID.clientAuth];
  const extensions: object[] = [
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    ekuExtension(ekus),
  ];
  if (options.sans.length) extensions.push({ name: 'subjectAltName', altNames: options.sans.map((value) => ({ type: 2, value })) });
  csr.setAttributes([{ name: 'extensionRequest', extensions }]);
  csr.sign(forgeSigner(key), forge.md.sha1.create());
  return { csrPem: lf(pki.certificationRequestToPem(csr)), keyId: key.id, exportable: options.exportable ?? false };
}

export interface ParsedCsr {
  subjectAttributes: NameAttr[];
  subject: NameView;
  sans: string[];
  ekuOids: string[];
  publicKey: forge.pki.rsa.PublicKey;
}

export interface CsrFailure {
  kind: 'ca.badRequest';
  message: string;
  [detail: string]: unknown;
}

/** Parses and checks a PEM request. Failure messages are what certreq prints for such a request. */
export function parseCsr(csrPem: string): Result<ParsedCsr, CsrFailure> {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = pki.certificationRequestFromPem(csrPem);
  } catch {
    return fail({ kind: 'ca.badRequest', message: 'Certificate Request Processor: ASN1 bad tag value met. 0x8009310b (ASN: 267 CRYPT_E_ASN1_BADTAG)' });
  }
  const verified = verifyCsrSignature(csr);
  if (!verified) {
    return fail({ kind: 'ca.badRequest', message: 'Certificate Request Processor: Invalid Signature. 0x80090006 (-2146893818 NTE_BAD_SIGNATURE)' });
  }
  const attrs = csr.subject.attributes.map((a) => ({ type: String(a.type), value: String(a.value), valueTagClass: Number(a.valueTagClass) }));
  const extensions = extensionRequest(csr);
  const sanExt = extensions.find((e) => e.id === '2.5.29.17');
  const ekuExt = extensions.find((e) => e.id === OID.extKeyUsage);
  return ok({
    subjectAttributes: attrs,
    subject: nameView(attrs),
    sans: sanExt ? dnsNames(sanExt.value) : [],
    ekuOids: ekuExt ? oidList(ekuExt.value) : [],
    publicKey: csr.publicKey as forge.pki.rsa.PublicKey,
  });
}

const SIGNATURE_HASHES: Record<string, string> = {
  [OID.sha1WithRSAEncryption]: 'sha1',
  [OID.sha256WithRSAEncryption]: 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};

/** The request's self-signature, checked by node:crypto over the CertificationRequestInfo as received. */
function verifyCsrSignature(csr: forge.pki.CertificateSigningRequest): boolean {
  const hash = csr.signatureOid ? SIGNATURE_HASHES[csr.signatureOid] : undefined;
  if (!hash || !csr.publicKey || !csr.certificationRequestInfo || typeof csr.signature !== 'string') return false;
  try {
    const info = Buffer.from(asn1.toDer(csr.certificationRequestInfo).getBytes(), 'binary');
    const publicKey = createPublicKey(pki.publicKeyToPem(csr.publicKey));
    return cryptoVerify(hash, info, publicKey, Buffer.from(csr.signature, 'binary'));
  } catch {
    return false;
  }
}

function extensionRequest(csr: forge.pki.CertificateSigningRequest): Array<{ id: string; value: string }> {
  const attr = csr.getAttribute({ name: 'extensionRequest' }) as { extensions?: Array<{ id?: string; value?: unknown }> } | null;
  return (attr?.extensions ?? []).flatMap((e) => (typeof e.id === 'string' && typeof e.value === 'string' ? [{ id: e.id, value: e.value }] : []));
}

/** The dNSName entries of a GeneralNames value (raw DER bytes). */
export function dnsNames(value: string): string[] {
  const node = asn1.fromDer(value);
  const items = Array.isArray(node.value) ? node.value : [];
  return items.flatMap((n) => (n.tagClass === asn1.Class.CONTEXT_SPECIFIC && n.type === 2 && typeof n.value === 'string' ? [n.value] : []));
}

/** A SEQUENCE OF OBJECT IDENTIFIER (raw DER bytes), as dotted OIDs. */
export function oidList(value: string): string[] {
  const node = asn1.fromDer(value);
  const items = Array.isArray(node.value) ? node.value : [];
  return items.flatMap((n) => (n.type === asn1.Type.OID && typeof n.value === 'string' ? [asn1.derToOid(n.value)] : []));
}

// ---------------------------------------------------------------------------------------------------------
// Certificates

export interface CaUrls {
  /** CRL distribution points, in the order the extension lists them. */
  cdp: string[];
  /** Authority information access (caIssuers) URLs. */
  aia: string[];
}

function newCertificate(serial: string, notBefore: number, notAfter: number): forge.pki.Certificate {
  const cert = pki.createCertificate();
  cert.version = 2;
  cert.serialNumber = serial;
  cert.validity.notBefore = new Date(notBefore);
  cert.validity.notAfter = new Date(notAfter);
  return cert;
}

const rootCache = new Map<string, forge.pki.Certificate>();
function parsedRoot(pem: string): forge.pki.Certificate {
  let cert = rootCache.get(pem);
  if (!cert) {
    cert = pki.certificateFromPem(pem);
    rootCache.set(pem, cert);
  }
  return cert;
}

/** A self-signed enterprise root CA certificate, with the extensions a Windows Server 2008 root carries. */
export function createRootCertificate(p: {
  caName: string;
  forestFqdn: string;
  key: RingKey;
  serial: string;
  notBefore: number;
  notAfter: number;
  hash: SignatureHash;
}): string {
  const cert = newCertificate(p.serial, p.notBefore, p.notAfter);
  cert.publicKey = p.key.forgePublicKey;
  const name = caSubjectAttributes(p.caName, p.forestFqdn);
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'keyUsage', digitalSignature: true, keyCertSign: true, cRLSign: true },
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    caVersionExtension(),
  ]);
  cert.sign(forgeSigner(p.key), digest(p.hash));
  return lf(pki.certificateToPem(cert));
}

/** A certificate for a checked request, signed by the CA: subject and SANs from the request. */
export function issueCertificate(p: {
  caCertPem: string;
  caKey: RingKey;
  csr: ParsedCsr;
  serial: string;
  notBefore: number;
  notAfter: number;
  ekuOids: string[];
  templateName: string;
  urls: CaUrls;
  hash: SignatureHash;
}): string {
  const ca = parsedRoot(p.caCertPem);
  const cert = newCertificate(p.serial, p.notBefore, p.notAfter);
  cert.publicKey = p.csr.publicKey;
  cert.setSubject(p.csr.subjectAttributes);
  cert.setIssuer(ca.subject.attributes);
  const extensions: object[] = [
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    ekuExtension(p.ekuOids),
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
    { name: 'cRLDistributionPoints', altNames: p.urls.cdp.map((value) => ({ type: 6, value })) },
    aiaExtension(p.urls.aia),
    templateNameExtension(p.templateName),
  ];
  if (p.csr.sans.length) extensions.push({ name: 'subjectAltName', altNames: p.csr.sans.map((value) => ({ type: 2, value })) });
  cert.setExtensions(extensions);
  cert.sign(forgeSigner(p.caKey), digest(p.hash));
  return lf(pki.certificateToPem(cert));
}

// ---------------------------------------------------------------------------------------------------------
// CRLs (RFC 5280 §5); forge does not build them, so the ASN.1 is written here.

/** CRLReason codes (RFC 5280 §5.3.1), named as `certutil -revoke` names them. */
export const REVOCATION_REASONS = {
  Unspecified: 0,
  KeyCompromise: 1,
  CACompromise: 2,
  AffiliationChanged: 3,
  Superseded: 4,
  CessationOfOperation: 5,
  CertificateHold: 6,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

export interface RevokedEntry {
  serial: string;
  revokedAt: number;
  reason: RevocationReason;
}

export function buildCrl(p: {
  caCertPem: string;
  caKey: RingKey;
  crlNumber: number;
  thisUpdate: number;
  nextUpdate: number;
  revoked: readonly RevokedEntry[];
  hash: SignatureHash;
}): string {
  const ca = parsedRoot(p.caCertPem);
  const sigAlg = seq([oidNode(p.hash === 'sha1' ? OID.sha1WithRSAEncryption : OID.sha256WithRSAEncryption), asn1.create(U, asn1.Type.NULL, false, '')]);
  const ext = (id: string, value: Asn1): Asn1 => seq([oidNode(id), asn1.create(U, asn1.Type.OCTETSTRING, false, der(value))]);
  const tbsItems: Asn1[] = [intNode(1), sigAlg, pki.distinguishedNameToAsn1(ca.subject), utcOrGeneralized(p.thisUpdate), utcOrGeneralized(p.nextUpdate)];
  if (p.revoked.length) {
    tbsItems.push(
      seq(
        p.revoked.map((r) => {
          const entry = [intFromHex(r.serial), utcOrGeneralized(r.revokedAt)];
          // Windows omits the reason code for "Unspecified".
          if (r.reason !== 'Unspecified') entry.push(seq([ext(OID.crlReason, asn1.create(U, asn1.Type.ENUMERATED, false, String.fromCharCode(REVOCATION_REASONS[r.reason])))]));
          return seq(entry);
        }),
      ),
    );
  }
  const aki = seq([asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, ca.generateSubjectKeyIdentifier().getBytes())]);
  tbsItems.push(
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [seq([ext(OID.authorityKeyIdentifier, aki), ext(OID.caVersion, intNode(0)), ext(OID.crlNumber, intNode(p.crlNumber))])]),
  );
  const tbs = seq(tbsItems);
  const md = digest(p.hash);
  md.update(der(tbs));
  const signature = forgeSigner(p.caKey).sign(md);
  const crl = seq([tbs, sigAlg, asn1.create(U, asn1.Type.BITSTRING, false, `\x00${signature}`)]);
  return lf(forge.pem.encode({ type: 'X509 CRL', body: der(crl) }));
}

export function sha1Hex(bytes: string): string {
  return createHash('sha1').update(Buffer.from(bytes, 'binary')).digest('hex');
}
