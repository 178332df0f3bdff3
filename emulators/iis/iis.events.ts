/**
 * IIS 7.0 on a Windows Server 2008 OCS front end: commands in, events out, failure kinds. Other
 * emulators and steps use these types; `iis.machine.ts` is the only thing that handles them.
 */
import type { EventLogWrite } from '../../sim/journal.js';
import type { Failure, Result } from '../../sim/result.js';
import type { ServiceStartingQuery, ServiceStateChanged } from '../host/host.events.js';
import type { HttpResponse } from './iis.requests.js';
import type { AppPoolState, Binding, VirtualDirectory, WebComponentsInstall } from './iis.store.js';

export interface IisInput {
  /** Short host name, e.g. "ocsfe01". */
  host: string;
  hostFqdn: string;
  /** NetBIOS domain name ("CORP"), for account display. */
  netbios: string;
  /** Windows features installed when the lab starts (ServerManagerCmd names: "Web-Server", "Web-Windows-Auth" ...). */
  installedFeatures?: string[];
}

export type IisFailureKind =
  | 'iis.notInstalled'
  | 'iis.prerequisiteMissing'
  | 'iis.connectionRefused'
  | 'iis.certificateNotTrusted'
  | 'iis.certificateNameMismatch'
  | 'iis.noSuchSite'
  | 'iis.noSuchAppPool'
  | 'iis.noSuchBinding'
  | 'iis.certificateNotFound'
  | 'iis.noSuchVirtualDirectory';

export interface IisFailure extends Failure {
  kind: IisFailureKind;
}

export type Credentials = { user: string; password: string } | 'kerberos' | 'ntlm' | 'anonymous';

export interface HttpRequest {
  scheme: 'http' | 'https';
  /** URL path, e.g. "/Abs/Int/Handler/F-0a2c.lsabs" (a query string is ignored). */
  path: string;
  /** The Host header / the name the client dialled (default: the server FQDN). */
  hostHeader?: string;
  credentials?: Credentials;
  /** Whether the client trusts the chain of the certificate the server presents (default true). */
  clientTrustsCertificate?: boolean;
  method?: 'GET' | 'HEAD';
}

export interface InstallWebComponentsParams {
  pool: string;
  poolFqdn: string;
  internalWebFqdn?: string;
  /** Identity of LsGroupExpAppPool: "CORP\\RTCComponentService". */
  appPoolIdentity: string;
  /** What R2 setup does on Windows Server 2008: turn kernel-mode authentication off for the Default Web Site. */
  disableKernelMode: boolean;
}

export interface BindCertificateParams {
  site?: string;
  /** "*" (All Unassigned) or an address. */
  ip?: string;
  port?: number;
  thumbprint: string;
  hostFqdn?: string;
}

export interface RemoveBindingParams {
  site?: string;
  protocol: 'https' | 'http';
  port?: number;
}

export interface SetWindowsAuthenticationParams {
  /** "Default Web Site" or "Default Web Site/Abs/Int/Handler" (an applicationHost.config location path). */
  location: string;
  enabled?: boolean;
  useKernelMode?: boolean;
  useAppPoolCredentials?: boolean;
}

export interface SetAppPoolStateParams {
  name: string;
  state: AppPoolState;
}

export interface PublishFilesParams {
  vdir: string;
  files: Array<{ name: string; content: string }>;
}

export type IisCommand =
  | ({ type: 'iis.installOcsWebComponents'; requestId?: string } & InstallWebComponentsParams)
  | ({ type: 'iis.bindCertificate'; requestId?: string } & BindCertificateParams)
  | ({ type: 'iis.removeBinding'; requestId?: string } & RemoveBindingParams)
  | ({ type: 'iis.setWindowsAuthentication'; requestId?: string } & SetWindowsAuthenticationParams)
  | ({ type: 'iis.setAppPoolState'; requestId?: string } & SetAppPoolStateParams)
  | ({ type: 'iis.publishFiles'; requestId?: string } & PublishFilesParams)
  | ({ type: 'iis.request'; requestId?: string } & HttpRequest)
  /** The full list of installed Windows features (for labs where the host does not notify IIS). */
  | { type: 'iis.hostFeaturesChanged'; requestId?: string; features: string[] }
  | { type: 'host.featuresInstalled'; host: string; features: string[]; summary?: string }
  | { type: 'host.featuresRemoved'; host: string; features: string[]; summary?: string }
  | ServiceStartingQuery
  | ServiceStateChanged;

export type IisEmitted =
  | { type: 'iis.reply'; requestId: string | undefined; result: Result<unknown> }
  | { type: 'iis.installed'; host: string; features: string[]; summary: string }
  | { type: 'iis.removed'; host: string; summary: string }
  | { type: 'iis.webComponentsInstalled'; host: string; pool: string; virtualDirectories: string[]; appPool: string; kernelModeDisabled: boolean; summary: string }
  | { type: 'iis.bindingAdded'; host: string; site: string; binding: Binding; summary: string }
  | { type: 'iis.bindingRemoved'; host: string; site: string; binding: Binding; summary: string }
  | { type: 'iis.authenticationChanged'; host: string; location: string; windowsAuthentication: Record<string, boolean>; summary: string }
  | { type: 'iis.appPoolStateChanged'; host: string; appPool: string; from: AppPoolState; to: AppPoolState; summary: string }
  | { type: 'iis.filesPublished'; host: string; vdir: string; files: string[]; summary: string }
  | EventLogWrite;

export type { Binding, HttpResponse, VirtualDirectory, WebComponentsInstall };

/** The systemId of a host's IIS actor. */
export const iisId = (host: string) => `iis:${host.toLowerCase()}`;
