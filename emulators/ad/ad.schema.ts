/**
 * Schema definitions: the base schema a new Windows Server 2008 forest holds (the part the lab needs) and
 * the Office Communications Server 2007 R2 extension that SchemaPrep adds. Each definition becomes an
 * attributeSchema / classSchema object in CN=Schema,CN=Configuration; the DC's schema cache (below) is
 * compiled back from those objects, so a DC only knows what has replicated to it.
 *
 * attributeID / governsID are given only where they are known (ocs-facts §2 for the msRTCSIP-*
 * attributes); the lab never invents an OID.
 */
import { dnKey, firstRdn } from './ad.dn.js';
import { attr, first, type AdEntry, type Directory, type NamingContexts } from './ad.store.js';

/** attributeSyntax values (the 2.5.5.x syntaxes AD uses). */
export const SYNTAX = {
  dn: '2.5.5.1',
  oid: '2.5.5.2',
  caseExact: '2.5.5.3',
  caseIgnore: '2.5.5.4',
  ia5: '2.5.5.5',
  numeric: '2.5.5.6',
  dnBinary: '2.5.5.7',
  boolean: '2.5.5.8',
  integer: '2.5.5.9',
  octet: '2.5.5.10',
  time: '2.5.5.11',
  unicode: '2.5.5.12',
  ntsd: '2.5.5.15',
  largeInteger: '2.5.5.16',
  sid: '2.5.5.17',
} as const;

export interface AttributeDef {
  /** lDAPDisplayName. */
  name: string;
  /** The schema object's CN ("Display-Name"). */
  cn: string;
  syntax: string;
  single: boolean;
  oid?: string;
  /** Only the system may write it (objectGUID, uSNChanged ...). */
  systemOnly?: boolean;
  /** rangeUpper of the attributeSchema object (ms-RTC-SIP-SchemaVersion carries the schema's version in it). */
  rangeUpper?: number;
}

export interface ClassDef {
  name: string;
  cn: string;
  superior: string;
  /** objectClassCategory: 1 structural, 2 abstract, 3 auxiliary. */
  category: 1 | 2 | 3;
  must: string[];
  may: string[];
  aux: string[];
  oid?: string;
  /** CN of the class whose DN goes in objectCategory ("Person" for user). Defaults to the class's own CN. */
  categoryCn?: string;
}

const S = SYNTAX;
const a = (name: string, cn: string, syntax: string, single: boolean, oid?: string, systemOnly?: boolean): AttributeDef => ({
  name,
  cn,
  syntax,
  single,
  ...(oid ? { oid } : {}),
  ...(systemOnly ? { systemOnly } : {}),
});
const c = (name: string, cn: string, superior: string, category: 1 | 2 | 3, must: string[], may: string[], extra: Partial<ClassDef> = {}): ClassDef => ({
  name,
  cn,
  superior,
  category,
  must,
  may,
  aux: [],
  ...extra,
});

export const BASE_ATTRIBUTES: AttributeDef[] = [
  a('objectClass', 'Object-Class', S.oid, false, '2.5.4.0'),
  a('cn', 'Common-Name', S.unicode, true, '2.5.4.3'),
  a('name', 'RDN', S.unicode, true, '1.2.840.113556.1.4.1', true),
  a('distinguishedName', 'Obj-Dist-Name', S.dn, true, '2.5.4.49', true),
  a('objectGUID', 'Object-Guid', S.octet, true, '1.2.840.113556.1.4.2', true),
  a('objectSid', 'Object-Sid', S.sid, true, '1.2.840.113556.1.4.146', true),
  a('objectCategory', 'Object-Category', S.dn, true, '1.2.840.113556.1.4.782'),
  a('instanceType', 'Instance-Type', S.integer, true, '1.2.840.113556.1.2.1', true),
  a('whenCreated', 'When-Created', S.time, true, '1.2.840.113556.1.2.2', true),
  a('whenChanged', 'When-Changed', S.time, true, '1.2.840.113556.1.2.3', true),
  a('uSNCreated', 'USN-Created', S.largeInteger, true, '1.2.840.113556.1.2.19', true),
  a('uSNChanged', 'USN-Changed', S.largeInteger, true, '1.2.840.113556.1.2.120', true),
  a('description', 'Description', S.unicode, false, '2.5.4.13'),
  a('displayName', 'Display-Name', S.unicode, true, '1.2.840.113556.1.2.13'),
  a('showInAdvancedViewOnly', 'Show-In-Advanced-View-Only', S.boolean, true),
  a('isCriticalSystemObject', 'Is-Critical-System-Object', S.boolean, true),
  a('systemFlags', 'System-Flags', S.integer, true),
  a('adminDescription', 'Admin-Description', S.unicode, true, '1.2.840.113556.1.2.226'),
  a('adminDisplayName', 'Admin-Display-Name', S.unicode, true, '1.2.840.113556.1.2.194'),
  a('memberOf', 'Is-Member-Of-DL', S.dn, false, '1.2.840.113556.1.2.102', true),
  a('member', 'Member', S.dn, false, '2.5.4.31'),
  a('dc', 'Domain-Component', S.unicode, true, '0.9.2342.19200300.100.1.25'),
  a('ou', 'Organizational-Unit-Name', S.unicode, false, '2.5.4.11'),
  a('givenName', 'Given-Name', S.unicode, true, '2.5.4.42'),
  a('sn', 'Surname', S.unicode, true, '2.5.4.4'),
  a('initials', 'Initials', S.unicode, true),
  a('mail', 'E-mail-Addresses', S.unicode, true, '0.9.2342.19200300.100.1.3'),
  a('proxyAddresses', 'Proxy-Addresses', S.unicode, false, '1.2.840.113556.1.2.210'),
  a('telephoneNumber', 'Telephone-Number', S.unicode, true),
  a('title', 'Title', S.unicode, true),
  a('department', 'Department', S.unicode, true),
  a('company', 'Company', S.unicode, true),
  a('info', 'Comment', S.unicode, true),
  a('sAMAccountName', 'SAM-Account-Name', S.unicode, true, '1.2.840.113556.1.4.221'),
  a('sAMAccountType', 'SAM-Account-Type', S.integer, true, undefined, true),
  a('userPrincipalName', 'User-Principal-Name', S.unicode, true, '1.2.840.113556.1.4.656'),
  a('userAccountControl', 'User-Account-Control', S.integer, true, '1.2.840.113556.1.4.8'),
  a('pwdLastSet', 'Pwd-Last-Set', S.largeInteger, true, '1.2.840.113556.1.4.96'),
  a('accountExpires', 'Account-Expires', S.largeInteger, true),
  a('lockoutTime', 'Lockout-Time', S.largeInteger, true),
  a('primaryGroupID', 'Primary-Group-ID', S.integer, true),
  a('adminCount', 'Admin-Count', S.integer, true),
  a('unicodePwd', 'Unicode-Pwd', S.octet, true),
  a('groupType', 'Group-Type', S.integer, true, '1.2.840.113556.1.4.750'),
  a('dNSHostName', 'DNS-Host-Name', S.unicode, true, '1.2.840.113556.1.4.619'),
  a('servicePrincipalName', 'Service-Principal-Name', S.unicode, false),
  a('operatingSystem', 'Operating-System', S.unicode, true),
  a('operatingSystemVersion', 'Operating-System-Version', S.unicode, true),
  a('operatingSystemServicePack', 'Operating-System-Service-Pack', S.unicode, true),
  a('serverReference', 'Server-Reference', S.dn, true),
  a('fSMORoleOwner', 'FSMO-Role-Owner', S.dn, true),
  a('wellKnownObjects', 'Well-Known-Objects', S.dnBinary, false),
  a('maxPwdAge', 'Max-Pwd-Age', S.largeInteger, true),
  a('minPwdAge', 'Min-Pwd-Age', S.largeInteger, true),
  a('minPwdLength', 'Min-Pwd-Length', S.integer, true),
  a('pwdProperties', 'Pwd-Properties', S.integer, true),
  a('pwdHistoryLength', 'Pwd-History-Length', S.integer, true),
  a('lockoutThreshold', 'Lockout-Threshold', S.integer, true),
  a('msDS-Behavior-Version', 'ms-DS-Behavior-Version', S.integer, true),
  a('nETBIOSName', 'NETBIOS-Name', S.unicode, true),
  a('dnsRoot', 'Dns-Root', S.unicode, false),
  a('nCName', 'NC-Name', S.dn, true),
  a('options', 'Options', S.integer, true),
  a('rightsGuid', 'Rights-Guid', S.unicode, true),
  a('appliesTo', 'Applies-To', S.unicode, false),
  a('validAccesses', 'Valid-Accesses', S.integer, true),
  // attributes of schema objects
  a('lDAPDisplayName', 'LDAP-Display-Name', S.unicode, true, '1.2.840.113556.1.2.460'),
  a('attributeID', 'Attribute-ID', S.oid, true, '1.2.840.113556.1.2.30'),
  a('attributeSyntax', 'Attribute-Syntax', S.oid, true, '1.2.840.113556.1.2.32'),
  a('oMSyntax', 'OM-Syntax', S.integer, true),
  a('isSingleValued', 'Is-Single-Valued', S.boolean, true),
  a('systemOnly', 'System-Only', S.boolean, true),
  a('rangeLower', 'Range-Lower', S.integer, true),
  a('rangeUpper', 'Range-Upper', S.integer, true),
  a('searchFlags', 'Search-Flags', S.integer, true),
  a('isMemberOfPartialAttributeSet', 'Is-Member-Of-Partial-Attribute-Set', S.boolean, true),
  a('governsID', 'Governs-ID', S.oid, true, '1.2.840.113556.1.2.22'),
  a('subClassOf', 'Sub-Class-Of', S.oid, true),
  a('objectClassCategory', 'Object-Class-Category', S.integer, true),
  a('mustContain', 'Must-Contain', S.oid, false),
  a('mayContain', 'May-Contain', S.oid, false),
  a('systemMustContain', 'System-Must-Contain', S.oid, false),
  a('systemMayContain', 'System-May-Contain', S.oid, false),
  a('auxiliaryClass', 'Auxiliary-Class', S.oid, false),
  a('systemAuxiliaryClass', 'System-Auxiliary-Class', S.oid, false),
  a('possSuperiors', 'Poss-Superiors', S.oid, false),
  a('defaultObjectCategory', 'Default-Object-Category', S.dn, true),
  a('schemaIDGUID', 'Schema-ID-GUID', S.octet, true),
];

const TOP_MAY = [
  'cn', 'name', 'distinguishedName', 'objectGUID', 'objectCategory', 'instanceType', 'whenCreated', 'whenChanged',
  'uSNCreated', 'uSNChanged', 'description', 'displayName', 'showInAdvancedViewOnly', 'isCriticalSystemObject',
  'systemFlags', 'adminDescription', 'adminDisplayName', 'memberOf', 'wellKnownObjects', 'fSMORoleOwner',
];
const PRINCIPAL = ['objectSid', 'sAMAccountName', 'sAMAccountType'];
const MAIL = ['mail', 'proxyAddresses'];

export const BASE_CLASSES: ClassDef[] = [
  c('top', 'Top', 'top', 2, ['objectClass'], TOP_MAY),
  c('person', 'Person', 'top', 1, [], ['sn', 'telephoneNumber', 'unicodePwd']),
  c('organizationalPerson', 'Organizational-Person', 'person', 1, [], ['givenName', 'initials', 'title', 'department', 'company', 'info'], { categoryCn: 'Person' }),
  c('user', 'User', 'organizationalPerson', 1, [], [
    ...PRINCIPAL, ...MAIL, 'userPrincipalName', 'userAccountControl', 'pwdLastSet', 'accountExpires', 'lockoutTime',
    'primaryGroupID', 'adminCount', 'servicePrincipalName',
  ], { categoryCn: 'Person' }),
  c('inetOrgPerson', 'inetOrgPerson', 'user', 1, [], [], { categoryCn: 'Person' }),
  c('computer', 'Computer', 'user', 1, [], ['dNSHostName', 'operatingSystem', 'operatingSystemVersion', 'operatingSystemServicePack']),
  c('contact', 'Contact', 'organizationalPerson', 1, [], [...MAIL], { categoryCn: 'Person' }),
  c('group', 'Group', 'top', 1, ['groupType'], [...PRINCIPAL, ...MAIL, 'member', 'adminCount', 'info']),
  c('container', 'Container', 'top', 1, [], []),
  c('organizationalUnit', 'Organizational-Unit', 'top', 1, [], ['ou']),
  c('domain', 'Domain', 'top', 2, [], ['dc']),
  c('domainDNS', 'Domain-DNS', 'domain', 1, [], [
    'objectSid', 'maxPwdAge', 'minPwdAge', 'minPwdLength', 'pwdProperties', 'pwdHistoryLength', 'lockoutThreshold', 'msDS-Behavior-Version',
  ]),
  c('builtinDomain', 'Builtin-Domain', 'top', 1, [], ['objectSid']),
  c('configuration', 'Configuration', 'top', 1, [], []),
  c('dMD', 'DMD', 'top', 1, [], []),
  c('sitesContainer', 'Sites-Container', 'top', 1, [], []),
  c('site', 'Site', 'top', 1, [], ['options']),
  c('serversContainer', 'Servers-Container', 'top', 1, [], []),
  c('server', 'Server', 'top', 1, [], ['dNSHostName', 'serverReference']),
  c('nTDSDSA', 'NTDS-DSA', 'top', 1, [], ['options']),
  c('crossRefContainer', 'Cross-Ref-Container', 'top', 1, [], ['msDS-Behavior-Version']),
  c('crossRef', 'Cross-Ref', 'top', 1, ['nCName'], ['dnsRoot', 'nETBIOSName']),
  c('controlAccessRight', 'Control-Access-Right', 'top', 1, [], ['rightsGuid', 'appliesTo', 'validAccesses']),
  c('attributeSchema', 'Attribute-Schema', 'top', 1, ['lDAPDisplayName', 'attributeSyntax'], [
    'attributeID', 'oMSyntax', 'isSingleValued', 'systemOnly', 'rangeLower', 'rangeUpper', 'searchFlags', 'isMemberOfPartialAttributeSet', 'schemaIDGUID',
  ]),
  c('classSchema', 'Class-Schema', 'top', 1, ['lDAPDisplayName', 'subClassOf'], [
    'governsID', 'objectClassCategory', 'mustContain', 'mayContain', 'systemMustContain', 'systemMayContain', 'auxiliaryClass',
    'systemAuxiliaryClass', 'possSuperiors', 'defaultObjectCategory', 'schemaIDGUID',
  ]),
];

// ---------------------------------------------------------------------------------------------------
// The OCS 2007 R2 schema extension (Schema.ldf). OIDs from ocs-facts §2 where listed.

const RTC = '1.2.840.113556.1.6.24.1.';

/** rangeUpper of CN=ms-RTC-SIP-SchemaVersion once SchemaPrep of OCS 2007 R2 has run. */
export const OCS_R2_SCHEMA_VERSION = 1008;

/** Per-user attributes "Enable users for Communications Server" writes (ocs-facts §2, user attributes). */
export const RTC_USER_ATTRIBUTES: AttributeDef[] = [
  a('msRTCSIP-PrimaryUserAddress', 'ms-RTC-SIP-PrimaryUserAddress', S.unicode, true, `${RTC}1`),
  a('msRTCSIP-UserEnabled', 'ms-RTC-SIP-UserEnabled', S.boolean, true, `${RTC}6`),
  a('msRTCSIP-TargetHomeServer', 'ms-RTC-SIP-TargetHomeServer', S.dn, true, `${RTC}47`),
  a('msRTCSIP-OriginatorSid', 'ms-RTC-SIP-OriginatorSid', S.sid, true, `${RTC}50`),
  a('msRTCSIP-PrimaryHomeServer', 'ms-RTC-SIP-PrimaryHomeServer', S.dn, true, `${RTC}57`),
  a('msRTCSIP-UserExtension', 'ms-RTC-SIP-UserExtension', S.unicode, true, `${RTC}63`),
  a('msRTCSIP-FederationEnabled', 'ms-RTC-SIP-FederationEnabled', S.boolean, true, `${RTC}67`),
  a('msRTCSIP-InternetAccessEnabled', 'ms-RTC-SIP-InternetAccessEnabled', S.boolean, true, `${RTC}68`),
  a('msRTCSIP-ArchivingEnabled', 'ms-RTC-SIP-ArchivingEnabled', S.integer, true, `${RTC}80`),
  a('msRTCSIP-OptionFlags', 'ms-RTC-SIP-OptionFlags', S.integer, true, `${RTC}87`),
  a('msRTCSIP-Line', 'ms-RTC-SIP-Line', S.unicode, true, `${RTC}88`),
  a('msRTCSIP-LineServer', 'ms-RTC-SIP-LineServer', S.unicode, true, `${RTC}89`),
  a('msRTCSIP-UserPolicy', 'ms-RTC-SIP-UserPolicy', S.dnBinary, false, `${RTC}132`),
  a('msRTCSIP-UserLocationProfile', 'ms-RTC-SIP-UserLocationProfile', S.dn, true),
];

/** Attributes of the service objects (pools, trusted servers, global settings); OIDs not in the fact sheet. */
export const RTC_SERVICE_ATTRIBUTES: AttributeDef[] = [
  // rangeUpper 1008 is how a forest says it holds the OCS 2007 R2 schema (1007 OCS 2007, 1006 LCS 2005):
  // the R2 guide's "To manually verify schema preparation" checks exactly that.
  { ...a('msRTCSIP-SchemaVersion', 'ms-RTC-SIP-SchemaVersion', S.integer, true), rangeUpper: OCS_R2_SCHEMA_VERSION },
  a('msRTCSIP-TrustedServerFQDN', 'ms-RTC-SIP-TrustedServerFQDN', S.unicode, true),
  a('msRTCSIP-TrustedServerVersion', 'ms-RTC-SIP-TrustedServerVersion', S.integer, true),
  a('msRTCSIP-TrustedServiceType', 'ms-RTC-SIP-TrustedServiceType', S.unicode, true),
  a('msRTCSIP-TrustedServicePort', 'ms-RTC-SIP-TrustedServicePort', S.integer, true),
  a('msRTCSIP-TrustedServiceLinks', 'ms-RTC-SIP-TrustedServiceLinks', S.dn, false),
  a('msRTCSIP-PoolAddresses', 'ms-RTC-SIP-PoolAddresses', S.dn, false),
  a('msRTCSIP-PoolAddress', 'ms-RTC-SIP-PoolAddress', S.dn, true),
  a('msRTCSIP-PoolDisplayName', 'ms-RTC-SIP-PoolDisplayName', S.unicode, true),
  a('msRTCSIP-PoolType', 'ms-RTC-SIP-PoolType', S.unicode, true),
  a('msRTCSIP-PoolVersion', 'ms-RTC-SIP-PoolVersion', S.integer, true),
  a('msRTCSIP-BackEndServer', 'ms-RTC-SIP-BackEndServer', S.unicode, true),
  a('msRTCSIP-FrontEndServers', 'ms-RTC-SIP-FrontEndServers', S.dn, false),
  a('msRTCSIP-ApplicationDestination', 'ms-RTC-SIP-ApplicationDestination', S.unicode, true),
  a('msRTCSIP-ServerVersion', 'ms-RTC-SIP-ServerVersion', S.unicode, true),
  a('msRTCSIP-DomainName', 'ms-RTC-SIP-DomainName', S.unicode, true),
  a('msRTCSIP-DefaultRouteToEdgeProxy', 'ms-RTC-SIP-DefaultRouteToEdgeProxy', S.unicode, true),
  a('msRTCSIP-ExtensionData', 'ms-RTC-SIP-ExtensionData', S.unicode, false),
];

const RTC_USER_NAMES = RTC_USER_ATTRIBUTES.map((x) => x.name);

export const RTC_CLASSES: ClassDef[] = [
  c('msRTCSIP-GlobalContainer', 'ms-RTC-SIP-GlobalContainer', 'top', 1, [], ['msRTCSIP-SchemaVersion', 'msRTCSIP-DefaultRouteToEdgeProxy', 'msRTCSIP-ExtensionData']),
  c('msRTCSIP-Domain', 'ms-RTC-SIP-Domain', 'top', 1, [], ['msRTCSIP-DomainName']),
  c('msRTCSIP-Pools', 'ms-RTC-SIP-Pools', 'top', 1, [], []),
  c('msRTCSIP-Pool', 'ms-RTC-SIP-Pool', 'top', 1, [], [
    'dNSHostName', 'msRTCSIP-PoolDisplayName', 'msRTCSIP-PoolType', 'msRTCSIP-PoolVersion', 'msRTCSIP-BackEndServer', 'msRTCSIP-FrontEndServers', 'msRTCSIP-ExtensionData',
  ]),
  c('msRTCSIP-PoolService', 'ms-RTC-SIP-PoolService', 'top', 1, [], ['msRTCSIP-PoolAddress', 'msRTCSIP-ExtensionData']),
  c('msRTCSIP-Service', 'ms-RTC-SIP-Service', 'top', 1, [], ['msRTCSIP-ServerVersion', 'msRTCSIP-PoolAddress', 'msRTCSIP-ExtensionData']),
  c('msRTCSIP-TrustedServer', 'ms-RTC-SIP-TrustedServer', 'top', 1, [], ['msRTCSIP-TrustedServerFQDN', 'msRTCSIP-TrustedServerVersion']),
  c('msRTCSIP-TrustedServers', 'ms-RTC-SIP-TrustedServers', 'top', 1, [], []),
  c('msRTCSIP-TrustedService', 'ms-RTC-SIP-TrustedService', 'top', 1, [], [
    'msRTCSIP-TrustedServerFQDN', 'msRTCSIP-TrustedServiceType', 'msRTCSIP-TrustedServicePort', 'msRTCSIP-TrustedServiceLinks', 'msRTCSIP-ExtensionData',
  ]),
  c('msRTCSIP-TrustedServices', 'ms-RTC-SIP-TrustedServices', 'top', 1, [], []),
  c('msRTCSIP-TrustedMCUs', 'ms-RTC-SIP-TrustedMCUs', 'top', 1, [], []),
  c('msRTCSIP-TrustedProxies', 'ms-RTC-SIP-TrustedProxies', 'top', 1, [], []),
  c('msRTCSIP-ApplicationServer', 'ms-RTC-SIP-ApplicationServer', 'top', 1, [], ['dNSHostName', 'msRTCSIP-ApplicationDestination', 'msRTCSIP-ExtensionData']),
];

/** The existing classes SchemaPrep extends with the per-user attributes (ocs-facts §2). */
export const RTC_EXTENDED_CLASSES: Record<string, string[]> = {
  user: RTC_USER_NAMES,
  contact: RTC_USER_NAMES,
};

/** attributeSyntax → oMSyntax, as the schema stores both. */
export const OM_SYNTAX: Record<string, number> = {
  '2.5.5.1': 127,
  '2.5.5.2': 6,
  '2.5.5.3': 27,
  '2.5.5.4': 20,
  '2.5.5.5': 22,
  '2.5.5.6': 18,
  '2.5.5.7': 127,
  '2.5.5.8': 1,
  '2.5.5.9': 2,
  '2.5.5.10': 4,
  '2.5.5.11': 24,
  '2.5.5.12': 64,
  '2.5.5.15': 66,
  '2.5.5.16': 65,
  '2.5.5.17': 4,
};

// ---------------------------------------------------------------------------------------------------
// Schema cache: what one DC knows of the schema, compiled from the attributeSchema / classSchema objects
// that have reached it.

export interface SchemaIndex {
  attributes: Record<string, AttributeDef>;
  classes: Record<string, ClassDef>;
}

export function schemaFromDefs(attributes: readonly AttributeDef[], classes: readonly ClassDef[]): SchemaIndex {
  const index: SchemaIndex = { attributes: {}, classes: {} };
  for (const a of attributes) index.attributes[a.name.toLowerCase()] = a;
  for (const c of classes) index.classes[c.name.toLowerCase()] = c;
  return index;
}

const values = (e: AdEntry, n: string) => attr(e, n) ?? [];

/** The schema cache with one attributeSchema / classSchema object (added or modified) taken in. */
/** The attribute or class definition a schema object describes, if it describes one. */
function schemaDefinition(e: AdEntry): { attribute: AttributeDef } | { class: ClassDef } | undefined {
  const classes = values(e, 'objectClass').map((x) => x.toLowerCase());
  const name = first(e, 'lDAPDisplayName');
  const cn = first(e, 'cn');
  if (!name || !cn) return undefined;
  const isAttribute = classes.includes('attributeschema');
  const oidValue = first(e, isAttribute ? 'attributeID' : 'governsID');
  const oid = oidValue ? { oid: oidValue } : {};
  if (isAttribute) {
    return {
      attribute: {
        name,
        cn,
        syntax: first(e, 'attributeSyntax') ?? SYNTAX.unicode,
        single: first(e, 'isSingleValued') === 'TRUE',
        ...oid,
        ...(first(e, 'systemOnly') === 'TRUE' ? { systemOnly: true } : {}),
        ...(Number.isInteger(Number(first(e, 'rangeUpper') ?? 'x')) ? { rangeUpper: Number(first(e, 'rangeUpper')) } : {}),
      },
    };
  }
  if (!classes.includes('classschema')) return undefined;
  const category = Number(first(e, 'objectClassCategory') ?? '1');
  const catDn = first(e, 'defaultObjectCategory');
  const catCn = catDn ? firstRdn(catDn)?.value : undefined;
  return {
    class: {
      name,
      cn,
      superior: first(e, 'subClassOf') ?? 'top',
      category: category === 2 || category === 3 ? category : 1,
      must: [...values(e, 'systemMustContain'), ...values(e, 'mustContain')],
      may: [...values(e, 'systemMayContain'), ...values(e, 'mayContain')],
      aux: [...values(e, 'systemAuxiliaryClass'), ...values(e, 'auxiliaryClass')],
      ...oid,
      ...(catCn && catCn !== cn ? { categoryCn: catCn } : {}),
    },
  };
}

/** The schema cache after a schema object was written; in place when the index is privately owned. */
export function absorbSchemaEntry(index: SchemaIndex, e: AdEntry, inPlace = false): SchemaIndex {
  const def = schemaDefinition(e);
  if (!def) return index;
  if ('attribute' in def) {
    const key = def.attribute.name.toLowerCase();
    if (inPlace) return ((index.attributes[key] = def.attribute), index);
    return { ...index, attributes: { ...index.attributes, [key]: def.attribute } };
  }
  const key = def.class.name.toLowerCase();
  if (inPlace) return ((index.classes[key] = def.class), index);
  return { ...index, classes: { ...index.classes, [key]: def.class } };
}

/** Builds a DC's schema cache from the schema objects in its directory. */
export function compileSchema(directory: Directory, schemaDn: string): SchemaIndex {
  const schemaKey = dnKey(schemaDn);
  let index: SchemaIndex = { attributes: {}, classes: {} };
  for (const [key, e] of Object.entries(directory)) if (key.endsWith(`,${schemaKey}`)) index = absorbSchemaEntry(index, e);
  return index;
}

export const inSchema = (key: string, ncs: NamingContexts) => key.endsWith(`,${dnKey(ncs.schema)}`);

/** The attributeSchema object for a definition, as SchemaPrep / the seed write it. */
export function attributeSchemaEntry(def: AttributeDef, schemaDn: string): { dn: string; attributes: Record<string, string[]> } {
  return {
    dn: `CN=${def.cn},${schemaDn}`,
    attributes: {
      objectClass: ['attributeSchema'],
      lDAPDisplayName: [def.name],
      ...(def.oid ? { attributeID: [def.oid] } : {}),
      attributeSyntax: [def.syntax],
      oMSyntax: [String(OM_SYNTAX[def.syntax] ?? 64)],
      isSingleValued: [def.single ? 'TRUE' : 'FALSE'],
      ...(def.systemOnly ? { systemOnly: ['TRUE'] } : {}),
      ...(def.rangeUpper !== undefined ? { rangeUpper: [String(def.rangeUpper)] } : {}),
    },
  };
}

export function classSchemaEntry(def: ClassDef, schemaDn: string, base = true): { dn: string; attributes: Record<string, string[]> } {
  const sys = (name: string) => (base ? `system${name}` : name.charAt(0).toLowerCase() + name.slice(1));
  const list = (name: string, xs: string[]) => (xs.length ? { [name]: [...xs] } : {});
  return {
    dn: `CN=${def.cn},${schemaDn}`,
    attributes: {
      objectClass: ['classSchema'],
      lDAPDisplayName: [def.name],
      ...(def.oid ? { governsID: [def.oid] } : {}),
      subClassOf: [def.superior],
      objectClassCategory: [String(def.category)],
      ...list(sys('MustContain'), def.must),
      ...list(sys('MayContain'), def.may),
      ...list(sys('AuxiliaryClass'), def.aux),
      defaultObjectCategory: [`CN=${def.categoryCn ?? def.cn},${schemaDn}`],
    },
  };
}

/** The class and its superclasses, most specific first. */
function classChain(schema: SchemaIndex, name: string): ClassDef[] {
  const chain: ClassDef[] = [];
  let current = schema.classes[name.toLowerCase()];
  while (current && !chain.includes(current)) {
    chain.push(current);
    if (current.name.toLowerCase() === 'top') break;
    current = schema.classes[current.superior.toLowerCase()];
  }
  return chain;
}

/** objectClass values as AD stores them (top … structural, then auxiliaries); undefined names the unknown class. */
export function expandObjectClasses(schema: SchemaIndex, given: readonly string[]): { classes: string[]; structural: ClassDef } | { unknown: string } | { noStructural: true } {
  const defs: ClassDef[] = [];
  for (const g of given) {
    const d = schema.classes[g.toLowerCase()];
    if (!d) return { unknown: g };
    defs.push(d);
  }
  let structural: ClassDef | undefined;
  let best = -1;
  for (const d of defs) {
    if (d.category !== 1) continue;
    const len = classChain(schema, d.name).length;
    if (len > best) {
      best = len;
      structural = d;
    }
  }
  if (!structural) return { noStructural: true };
  const chain = classChain(schema, structural.name).reverse();
  const names = chain.map((c) => c.name);
  for (const d of defs) if (d.category === 3 && !names.includes(d.name)) names.push(d.name);
  return { classes: names, structural };
}

/** Lower-cased names of every attribute the classes allow. */
export function allowedAttributes(schema: SchemaIndex, classes: readonly string[]): { may: Set<string>; must: Set<string> } {
  const may = new Set<string>();
  const must = new Set<string>();
  const seen = new Set<string>();
  const visit = (name: string) => {
    for (const c of classChain(schema, name)) {
      if (seen.has(c.name)) continue;
      seen.add(c.name);
      for (const m of c.must) {
        must.add(m.toLowerCase());
        may.add(m.toLowerCase());
      }
      for (const m of c.may) may.add(m.toLowerCase());
      for (const aux of c.aux) visit(aux);
    }
  };
  for (const c of classes) visit(c);
  return { may, must };
}

export function categoryDn(schema: SchemaIndex, ncs: NamingContexts, className: string): string | undefined {
  const d = schema.classes[className.toLowerCase()];
  return d ? `CN=${d.categoryCn ?? d.cn},${ncs.schema}` : undefined;
}
