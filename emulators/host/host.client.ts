/** Typed calls into a host actor (`host:<name>`), for other emulators and steps. */
import type { AnyActorRef } from 'xstate';
import { request } from '../../sim/emulator.js';
import type { Result } from '../../sim/result.js';
import type { FirewallRule, HostCertificate, ServiceSpec, ServiceStatus, StartupType } from './host.events.js';
import { KERBEROS_MAX_SKEW_MS, skewFromDomain, type HostContext } from './host.machine.js';
import { findService } from './host.store.js';

type Ref = AnyActorRef | undefined;
const call = <T>(ref: Ref, command: { type: string; [k: string]: unknown }) => request<T>(ref, 'host.reply', command);

export const hostInstallFeatures = (ref: Ref, a: { features: string[] }): Result<{ installed: string[] }> => call(ref, { type: 'host.installFeatures', ...a });
export const hostRemoveFeatures = (ref: Ref, a: { features: string[] }): Result<{ removed: string[] }> => call(ref, { type: 'host.removeFeatures', ...a });
export const hostInstallService = (ref: Ref, a: { service: ServiceSpec; password?: string }): Result<{ name: string }> => call(ref, { type: 'host.installService', ...a });
export const hostStartService = (ref: Ref, a: { name: string }): Result<{ state: string }> => call(ref, { type: 'host.startService', ...a });
export const hostStopService = (ref: Ref, a: { name: string }): Result<{ state: string }> => call(ref, { type: 'host.stopService', ...a });
export const hostSetStartupType = (ref: Ref, a: { name: string; startupType: StartupType }): Result<{ startupType: StartupType }> => call(ref, { type: 'host.setStartupType', ...a });
export const hostSetServiceLogon = (ref: Ref, a: { name: string; account: string; password: string }): Result<{ account: string }> => call(ref, { type: 'host.setServiceLogon', ...a });
export const hostAddServiceDependency = (ref: Ref, a: { name: string; dependsOn: string }): Result<{ dependsOn: string[] }> => call(ref, { type: 'host.addServiceDependency', ...a });
export const hostSetFirewall = (ref: Ref, a: { enabled: boolean }): Result<{ enabled: boolean }> => call(ref, { type: 'host.setFirewall', ...a });
export const hostAddFirewallRules = (ref: Ref, a: { rules: FirewallRule[] }): Result<{ added: number }> => call(ref, { type: 'host.addFirewallRules', ...a });
export const hostImportCertificate = (ref: Ref, a: { certPem: string; keyId: string; friendlyName: string }): Result<{ thumbprint: string }> => call(ref, { type: 'host.importCertificate', ...a });
export const hostRemoveCertificate = (ref: Ref, a: { thumbprint: string }): Result<Record<string, never>> => call(ref, { type: 'host.removeCertificate', ...a });
export const hostShutdown = (ref: Ref): Result<{ power: 'off' }> => call(ref, { type: 'host.shutdown' });
export const hostBoot = (ref: Ref): Result<{ power: 'on' }> => call(ref, { type: 'host.boot' });
export const hostSetClockOffset = (ref: Ref, a: { offsetMs: number }): Result<{ offsetMs: number }> => call(ref, { type: 'host.setClockOffset', ...a });
export const hostSyncTime = (ref: Ref): Result<{ offsetMs: number }> => call(ref, { type: 'host.syncTime' });
export const hostSetBootHang = (ref: Ref, a: { owner: string | null; delayMs?: number }): Result<Record<string, never>> => call(ref, { type: 'host.setBootHang', ...a });

const ctx = (ref: Ref): HostContext | undefined => (ref?.getSnapshot() as { context?: HostContext } | undefined)?.context;

export const hostServices = (ref: Ref): ServiceStatus[] => ctx(ref)?.services ?? [];
export const hostService = (ref: Ref, name: string): ServiceStatus | undefined => findService(hostServices(ref), name);
export const hostFeatures = (ref: Ref): string[] => ctx(ref)?.features ?? [];
export const hostCertificates = (ref: Ref): HostCertificate[] => ctx(ref)?.certificates ?? [];
export const hostFirewallEnabled = (ref: Ref): boolean => ctx(ref)?.firewallEnabled ?? false;
export const hostFirewallRules = (ref: Ref): FirewallRule[] => ctx(ref)?.firewallRules ?? [];
export const hostPoweredOn = (ref: Ref): boolean => ctx(ref)?.power === 'on';
/** Shut down (not merely a host whose emulator keeps no power state). */
export const hostShutDown = (ref: Ref): boolean => ctx(ref)?.power === 'off';
/** The host's clock offset from true time (ms). */
export const hostClockOffset = (ref: Ref): number => ctx(ref)?.clockOffsetMs ?? 0;
/** True while any service on the host is between states (the SCM is still working). */
export const hostSettled = (ref: Ref): boolean => hostServices(ref).every((s) => s.state === 'Running' || s.state === 'Stopped');

/**
 * Whether Kerberos fails for this host: its clock is more than 5 minutes off the domain controller's
 * (KRB_AP_ERR_SKEW; Win32 1398 "There is a time and/or date difference between the client and server.").
 * For components that authenticate from or to the host (OCS services, wizards, IIS).
 */
export function hostClockSkewed(system: { get(id: string): AnyActorRef | undefined }, host: string): boolean {
  const ref = system.get(`host:${host.toLowerCase()}`);
  if (!ref) return false;
  return skewFromDomain(system, hostClockOffset(ref)) > KERBEROS_MAX_SKEW_MS;
}
