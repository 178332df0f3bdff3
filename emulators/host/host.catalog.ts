/**
 * What a Windows Server 2008 x64 machine of the lab has: the features ServerManagerCmd knows (IDs and
 * display names as `ServerManagerCmd -query` prints them) and the services each role brings.
 */
import type { HostRole } from '../../sim/topology.js';
import type { ServiceStatus, StartupType } from './host.events.js';

export interface FeatureInfo {
  id: string;
  displayName: string;
  /** Installing this feature also installs its parent (role services need their role). */
  parent?: string;
  /** Services the feature adds when installed. */
  services?: (host: string) => ServiceStatus[];
}

const svc = (
  name: string,
  displayName: string,
  startupType: StartupType,
  logOnAs: string,
  opts: { dependsOn?: string[]; startMs?: number; owner?: string; state?: ServiceStatus['state'] } = {},
): ServiceStatus => ({
  name,
  displayName,
  startupType,
  logOnAs,
  dependsOn: opts.dependsOn ?? [],
  startMs: opts.startMs ?? 2000,
  ...(opts.owner ? { owner: opts.owner } : {}),
  state: opts.state ?? (startupType === 'Automatic' || startupType === 'Automatic (Delayed Start)' ? 'Running' : 'Stopped'),
});

const LOCAL_SYSTEM = 'LocalSystem';
const LOCAL_SERVICE = 'NT AUTHORITY\\LocalService';
const NETWORK_SERVICE = 'NT AUTHORITY\\NetworkService';

export const FEATURES: readonly FeatureInfo[] = [
  {
    id: 'Web-Server',
    displayName: 'Web Server (IIS)',
    services: (host) => [
      svc('WAS', 'Windows Process Activation Service', 'Manual', LOCAL_SYSTEM, { dependsOn: ['RpcSs'], state: 'Running' }),
      svc('W3SVC', 'World Wide Web Publishing Service', 'Automatic', LOCAL_SYSTEM, { dependsOn: ['WAS', 'HTTP'], owner: `iis:${host}` }),
    ],
  },
  { id: 'Web-WebServer', displayName: 'Web Server', parent: 'Web-Server' },
  { id: 'Web-Static-Content', displayName: 'Static Content', parent: 'Web-Server' },
  { id: 'Web-Default-Doc', displayName: 'Default Document', parent: 'Web-Server' },
  { id: 'Web-Http-Errors', displayName: 'HTTP Errors', parent: 'Web-Server' },
  { id: 'Web-Asp-Net', displayName: 'ASP.NET', parent: 'Web-Server' },
  { id: 'Web-Net-Ext', displayName: '.NET Extensibility', parent: 'Web-Server' },
  { id: 'Web-Http-Logging', displayName: 'HTTP Logging', parent: 'Web-Server' },
  { id: 'Web-Basic-Auth', displayName: 'Basic Authentication', parent: 'Web-Server' },
  { id: 'Web-Windows-Auth', displayName: 'Windows Authentication', parent: 'Web-Server' },
  { id: 'Web-Filtering', displayName: 'Request Filtering', parent: 'Web-Server' },
  { id: 'Web-Stat-Compression', displayName: 'Static Content Compression', parent: 'Web-Server' },
  { id: 'Web-Mgmt-Console', displayName: 'IIS Management Console', parent: 'Web-Server' },
  {
    id: 'Web-Mgmt-Compat',
    displayName: 'IIS 6 Management Compatibility',
    parent: 'Web-Server',
    services: () => [svc('IISADMIN', 'IIS Admin Service', 'Automatic', LOCAL_SYSTEM, { dependsOn: ['RpcSs'] })],
  },
  { id: 'Web-Metabase', displayName: 'IIS 6 Metabase Compatibility', parent: 'Web-Mgmt-Compat' },
  { id: 'Web-WMI', displayName: 'IIS 6 WMI Compatibility', parent: 'Web-Mgmt-Compat' },
  { id: 'Web-Lgcy-Scripting', displayName: 'IIS 6 Scripting Tools', parent: 'Web-Mgmt-Compat' },
  { id: 'Web-Lgcy-Mgmt-Console', displayName: 'IIS 6 Management Console', parent: 'Web-Mgmt-Compat' },
  {
    id: 'MSMQ',
    displayName: 'Message Queuing',
  },
  {
    id: 'MSMQ-Services',
    displayName: 'Message Queuing Services',
    parent: 'MSMQ',
  },
  {
    id: 'MSMQ-Server',
    displayName: 'Message Queuing Server',
    parent: 'MSMQ-Services',
    services: () => [svc('MSMQ', 'Message Queuing', 'Automatic', NETWORK_SERVICE, { dependsOn: ['RpcSs', 'NTLMSSP'], startMs: 3000 })],
  },
  { id: 'NET-Framework', displayName: '.NET Framework 3.0 Features' },
  { id: 'NET-Framework-Core', displayName: '.NET Framework 3.0', parent: 'NET-Framework' },
  { id: 'RSAT', displayName: 'Remote Server Administration Tools' },
  { id: 'RSAT-ADDS', displayName: 'Active Directory Domain Services Tools', parent: 'RSAT' },
  { id: 'AD-Domain-Services', displayName: 'Active Directory Domain Services' },
  { id: 'DNS', displayName: 'DNS Server' },
  { id: 'AD-Certificate', displayName: 'Active Directory Certificate Services' },
  { id: 'ADCS-Cert-Authority', displayName: 'Certification Authority', parent: 'AD-Certificate' },
  { id: 'ADCS-Web-Enrollment', displayName: 'Certification Authority Web Enrollment', parent: 'AD-Certificate' },
  { id: 'File-Services', displayName: 'File Services' },
  { id: 'FS-FileServer', displayName: 'File Server', parent: 'File-Services' },
];

export const featureInfo = (id: string): FeatureInfo | undefined => FEATURES.find((f) => f.id.toLowerCase() === id.toLowerCase());

/** The feature and all its ancestors, parents first. */
export function withParents(id: string): FeatureInfo[] {
  const chain: FeatureInfo[] = [];
  let f = featureInfo(id);
  while (f) {
    chain.unshift(f);
    f = f.parent ? featureInfo(f.parent) : undefined;
  }
  return chain;
}

/** Services every Windows Server 2008 member of the lab runs. */
export function baseServices(): ServiceStatus[] {
  return [
    svc('RpcSs', 'Remote Procedure Call (RPC)', 'Automatic', NETWORK_SERVICE, { startMs: 500 }),
    svc('HTTP', 'HTTP', 'Manual', LOCAL_SYSTEM, { state: 'Running', startMs: 200 }),
    svc('NTLMSSP', 'NTLM Security Support Provider', 'Manual', LOCAL_SYSTEM, { state: 'Running', startMs: 200 }),
    svc('EventLog', 'Windows Event Log', 'Automatic', LOCAL_SERVICE, { startMs: 500 }),
    svc('Winmgmt', 'Windows Management Instrumentation', 'Automatic', LOCAL_SYSTEM, { dependsOn: ['RpcSs'], startMs: 1500 }),
    svc('wmiApSrv', 'WMI Performance Adapter', 'Manual', LOCAL_SYSTEM, { dependsOn: ['Winmgmt'], startMs: 1000 }),
    svc('RemoteRegistry', 'Remote Registry', 'Automatic', LOCAL_SERVICE, { dependsOn: ['RpcSs'], startMs: 1000 }),
    svc('W32Time', 'Windows Time', 'Automatic', LOCAL_SERVICE, { startMs: 1000 }),
    svc('MpsSvc', 'Windows Firewall', 'Automatic', LOCAL_SERVICE, { startMs: 1000 }),
    svc('LanmanServer', 'Server', 'Automatic', LOCAL_SYSTEM, { startMs: 1000 }),
    svc('LanmanWorkstation', 'Workstation', 'Automatic', NETWORK_SERVICE, { startMs: 1000 }),
    svc('Netlogon', 'Netlogon', 'Automatic', LOCAL_SYSTEM, { dependsOn: ['LanmanWorkstation'], startMs: 1500 }),
  ];
}

/** What each role of the topology brings: features already installed and the services they run. */
export function roleServices(role: HostRole, host: string): { features: string[]; services: ServiceStatus[] } {
  switch (role) {
    case 'domainController':
      return {
        features: ['AD-Domain-Services', 'RSAT', 'RSAT-ADDS'],
        services: [
          svc('NTDS', 'Active Directory Domain Services', 'Automatic', LOCAL_SYSTEM, { dependsOn: ['RpcSs'], startMs: 5000, owner: 'ad' }),
          svc('Kdc', 'Kerberos Key Distribution Center', 'Automatic', LOCAL_SYSTEM, { dependsOn: ['NTDS'], startMs: 1000 }),
          svc('DFSR', 'DFS Replication', 'Automatic', LOCAL_SYSTEM, { dependsOn: ['RpcSs'], startMs: 2000 }),
          svc('IsmServ', 'Intersite Messaging', 'Automatic', LOCAL_SYSTEM, { dependsOn: ['RpcSs'], startMs: 1000 }),
        ],
      };
    case 'dnsServer':
      return { features: ['DNS'], services: [svc('DNS', 'DNS Server', 'Automatic', LOCAL_SYSTEM, { dependsOn: ['RpcSs'], startMs: 2000, owner: 'dns' })] };
    case 'enterpriseRootCa':
      return {
        features: ['AD-Certificate', 'ADCS-Cert-Authority'],
        services: [svc('CertSvc', 'Active Directory Certificate Services', 'Automatic', LOCAL_SYSTEM, { dependsOn: ['RpcSs'], startMs: 3000, owner: 'ca' })],
      };
    case 'sqlServer':
      return {
        features: ['NET-Framework', 'NET-Framework-Core'],
        services: [
          svc('MSSQLSERVER', 'SQL Server (MSSQLSERVER)', 'Automatic', NETWORK_SERVICE, { startMs: 6000, owner: `sql:${host}` }),
          svc('SQLSERVERAGENT', 'SQL Server Agent (MSSQLSERVER)', 'Manual', NETWORK_SERVICE, { dependsOn: ['MSSQLSERVER'], startMs: 3000 }),
          svc('SQLBrowser', 'SQL Server Browser', 'Disabled', LOCAL_SERVICE),
        ],
      };
    case 'fileServer':
      return { features: ['File-Services', 'FS-FileServer'], services: [] };
    case 'ocsFrontEnd':
      return { features: [], services: [] };
  }
}

/** The Windows services the "sc start" error table needs: Win32 error codes and their texts. */
export const WIN32 = {
  serviceDoesNotExist: { code: 1060, text: 'The specified service does not exist as an installed service.' },
  serviceDisabled: { code: 1058, text: 'The service cannot be started, either because it is disabled or because it has no enabled devices associated with it.' },
  alreadyRunning: { code: 1056, text: 'An instance of the service is already running.' },
  notActive: { code: 1062, text: 'The service has not been started.' },
  dependencyFailed: { code: 1068, text: 'The dependency service or group failed to start.' },
  logonFailure: { code: 1069, text: 'The service did not start due to a logon failure.' },
  badPassword: { code: 1326, text: 'Logon failure: unknown user name or bad password.' },
  passwordExpired: { code: 1330, text: 'Logon failure: the specified account password has expired.' },
  accountDisabled: { code: 1331, text: 'Logon failure: account currently disabled.' },
  noLogonServers: { code: 1311, text: 'There are currently no logon servers available to service the logon request.' },
  hostDown: { code: 1722, text: 'The RPC server is unavailable.' },
  timeSkew: { code: 1398, text: 'There is a time and/or date difference between the client and server.' },
  serviceNotStarted: { code: 1062, text: 'The service has not been started. (0x80070426)' },
} as const;
