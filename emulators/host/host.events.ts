/**
 * Windows Server 2008 host: commands in, events out. Other emulators use these types; the host machine
 * (`host.machine.ts`) is the only thing that handles them.
 */
import type { EventLogWrite, LabEvent } from '../../sim/journal.js';
import type { LabEnv } from '../../sim/emulator.js';
import type { Result } from '../../sim/result.js';
import type { HostSpec } from '../../sim/topology.js';

/** SERVICE_STATUS.dwCurrentState, as `sc query` and services.msc show it. */
export type ServiceState = 'Stopped' | 'Start Pending' | 'Running' | 'Stop Pending';
export type StartupType = 'Automatic' | 'Automatic (Delayed Start)' | 'Manual' | 'Disabled';

export interface ServiceSpec {
  /** Service key name, as `sc` uses it: "RtcSrv", "CertSvc", "NTDS", "MSMQ". */
  name: string;
  /** As services.msc shows it: "Office Communications Server Front-End". */
  displayName: string;
  startupType: StartupType;
  /** "LocalSystem", "NT AUTHORITY\\NetworkService", or a domain account "CORP\\RTCService". */
  logOnAs: string;
  /** Service key names this one depends on (SCM starts them first). */
  dependsOn: string[];
  /** Simulated time from Start Pending to Running. */
  startMs: number;
  /**
   * The systemId of the component this service belongs to ("ca", "sql:sql01", "ocs"). The host asks it
   * `host.serviceStarting` before a start completes, and notifies it of every state change.
   */
  owner?: string;
}

export interface ServiceStatus extends ServiceSpec {
  state: ServiceState;
  /** Password the SCM holds for a domain logon account (what "Log On" tab has). */
  password?: string;
}

/** A certificate in the LocalMachine\\My store (what the Certificates snap-in shows). */
export interface HostCertificate {
  /** SHA-1 thumbprint, upper-case hex without separators, as IIS and the OCS wizard show it. */
  thumbprint: string;
  subject: string;
  subjectCN: string;
  issuer: string;
  sans: string[];
  notBefore: string;
  notAfter: string;
  friendlyName: string;
  certPem: string;
  /** The key ring entry holding the private key (the key never leaves the lab's key ring). */
  keyId: string;
}

export interface FirewallRule {
  name: string;
  protocol: 'TCP' | 'UDP';
  port: number;
  program?: string;
}

/** Why a service could not start, as the owner answers `host.serviceStarting`. */
export interface StartRefusal {
  /** SCM event written to the System log: 7000 (failed to start), 7024 (service-specific error), 7038 (logon) ... */
  scmEventId: number;
  /** The error text SCM shows after "failed to start due to the following error:" */
  error: string;
  /** Extra entries the service itself writes (Application / OCS logs) before it dies. */
  events: EventLogWrite['entry'][];
}

export type HostCommand =
  | { type: 'host.installFeatures'; requestId?: string; features: string[] }
  | { type: 'host.removeFeatures'; requestId?: string; features: string[] }
  | { type: 'host.installService'; requestId?: string; service: ServiceSpec; password?: string }
  | { type: 'host.startService'; requestId?: string; name: string }
  | { type: 'host.stopService'; requestId?: string; name: string }
  | { type: 'host.setStartupType'; requestId?: string; name: string; startupType: StartupType }
  | { type: 'host.setServiceLogon'; requestId?: string; name: string; account: string; password: string }
  | { type: 'host.addServiceDependency'; requestId?: string; name: string; dependsOn: string }
  | { type: 'host.setFirewall'; requestId?: string; enabled: boolean }
  | { type: 'host.addFirewallRules'; requestId?: string; rules: FirewallRule[] }
  | { type: 'host.importCertificate'; requestId?: string; certPem: string; keyId: string; friendlyName: string }
  | { type: 'host.removeCertificate'; requestId?: string; thumbprint: string }
  | { type: 'host.shutdown'; requestId?: string }
  | { type: 'host.boot'; requestId?: string }
  /** The system clock set (or drifted) `offsetMs` away from true time (Date and Time, or a bad CMOS clock). */
  | { type: 'host.setClockOffset'; requestId?: string; offsetMs: number }
  /** `w32tm /resync`: the Windows Time service takes the time of the domain hierarchy (a DC). */
  | { type: 'host.syncTime'; requestId?: string }
  /**
   * A boot-time platform condition (the Windows Server 2008 startup hang, ocs-facts §3): at boot the
   * services owned by `owner` sit in Start Pending `delayMs` longer, unless one of them depends on the
   * WMI Performance Adapter (wmiApSrv) and wmiApSrv is Automatic. `owner: null` clears it.
   */
  | { type: 'host.setBootHang'; requestId?: string; owner: string | null; delayMs?: number }
  /** Forwarded to the host when a service's owner changes its mind about a running service (e.g. a crash). */
  | { type: 'host.serviceTerminated'; name: string; refusal: StartRefusal };

/** The host asks a service's owner this, synchronously, before a start completes. */
export interface ServiceStartingQuery {
  type: 'host.serviceStarting';
  requestId: string;
  host: string;
  service: string;
}

export interface ServiceStateChanged extends LabEvent {
  type: 'host.serviceStateChanged';
  host: string;
  service: string;
  displayName: string;
  from: ServiceState;
  to: ServiceState;
  notify?: string[];
}

/**
 * A host telling a service's owner the service's state, without a change to journal: when the lab starts
 * and when the service is installed. Owners know their service's state from these and from
 * `host.serviceStateChanged`, never by reading the host.
 */
export interface ServiceStateReported {
  type: 'host.serviceStateReported';
  host: string;
  service: string;
  state: ServiceState;
}

export type HostEmitted =
  | { type: 'host.reply'; requestId: string; result: Result<unknown> }
  | ServiceStateChanged
  | { type: 'host.featuresInstalled'; host: string; features: string[]; summary: string; notify?: string[] }
  | { type: 'host.featuresRemoved'; host: string; features: string[]; summary: string; notify?: string[] }
  | { type: 'host.serviceInstalled'; host: string; service: string; displayName: string; summary: string }
  | { type: 'host.serviceConfigChanged'; host: string; service: string; summary: string }
  | { type: 'host.firewallChanged'; host: string; enabled: boolean; summary: string }
  | { type: 'host.firewallRulesAdded'; host: string; rules: string[]; summary: string }
  | { type: 'host.certificateImported'; host: string; thumbprint: string; subject: string; summary: string }
  | { type: 'host.certificateRemoved'; host: string; thumbprint: string; summary: string }
  | { type: 'host.powerChanged'; host: string; power: 'on' | 'off'; summary: string }
  | { type: 'host.clockChanged'; host: string; offsetMs: number; summary: string }
  | { type: 'host.bootConditionChanged'; host: string; summary: string }
  | EventLogWrite;

export interface HostInput {
  env: LabEnv;
  spec: HostSpec;
  /** NetBIOS domain name, for logon account display. */
  netbios: string;
  /** Certificates already in LocalMachine\\My. */
  certificates: HostCertificate[];
  firewallRules: FirewallRule[];
  /** Services present when the lab starts (from the host's roles), in their initial state. */
  services: ServiceStatus[];
  features: string[];
  firewallEnabled: boolean;
}

/** The systemId of a host's actor. */
export const hostId = (host: string) => `host:${host.toLowerCase()}`;
