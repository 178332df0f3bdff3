/**
 * Typed calls other emulators (ocs setup, the address book server) and steps make to an IIS actor
 * (`iis:<host>`), and read-only selectors over its snapshot.
 */
import type { AnyActorRef } from 'xstate';
import { request } from '../../sim/emulator.js';
import type { Result } from '../../sim/result.js';
import type {
  BindCertificateParams,
  HttpRequest,
  IisFailure,
  InstallWebComponentsParams,
  PublishFilesParams,
  RemoveBindingParams,
  SetAppPoolStateParams,
  SetWindowsAuthenticationParams,
} from './iis.events.js';
import type { IisContext } from './iis.machine.js';
import type { HttpResponse } from './iis.requests.js';
import {
  allBindings,
  authenticationAt,
  virtualDirectories,
  type AppPool,
  type Binding,
  type EffectiveSettings,
  type IisStore,
  type VirtualDirectory,
  type WebComponentsInstall,
} from './iis.store.js';

export type IisResult<T> = Result<T, IisFailure>;

const call = <T>(ref: AnyActorRef | undefined, command: { type: string; [k: string]: unknown }): IisResult<T> => request<T>(ref, 'iis.reply', command) as IisResult<T>;

/** "Add Server to Pool" installing the OCS Web Components into Default Web Site. */
export const iisInstallOcsWebComponents = (ref: AnyActorRef | undefined, params: InstallWebComponentsParams): IisResult<WebComponentsInstall> =>
  call(ref, { type: 'iis.installOcsWebComponents', ...params });

/** IIS Manager → Default Web Site → Bindings → Add/Edit https (default: All Unassigned, 443). */
export const iisBindCertificate = (ref: AnyActorRef | undefined, params: BindCertificateParams): IisResult<Binding> => call(ref, { type: 'iis.bindCertificate', ...params });

export const iisRemoveBinding = (ref: AnyActorRef | undefined, params: RemoveBindingParams): IisResult<Binding> => call(ref, { type: 'iis.removeBinding', ...params });

/** Authentication → Windows Authentication (Enable, Advanced Settings → kernel mode; useAppPoolCredentials in applicationHost.config). */
export const iisSetWindowsAuthentication = (ref: AnyActorRef | undefined, params: SetWindowsAuthenticationParams): IisResult<EffectiveSettings> =>
  call(ref, { type: 'iis.setWindowsAuthentication', ...params });

export const iisSetAppPoolState = (ref: AnyActorRef | undefined, params: SetAppPoolStateParams): IisResult<AppPool> => call(ref, { type: 'iis.setAppPoolState', ...params });

/** The address book server writing its files into a Web Components folder (replaces the folder's set). */
export const iisPublishFiles = (ref: AnyActorRef | undefined, params: PublishFilesParams): IisResult<{ vdir: string; files: string[] }> =>
  call(ref, { type: 'iis.publishFiles', ...params });

/** What a browser, curl or Communicator gets. Failures: connectionRefused, certificateNotTrusted, certificateNameMismatch. */
export const iisRequest = (ref: AnyActorRef | undefined, req: HttpRequest): IisResult<HttpResponse> => call(ref, { type: 'iis.request', ...req });

/** The full list of installed Windows features, for labs where no host actor notifies IIS. */
export const iisHostFeaturesChanged = (ref: AnyActorRef | undefined, features: string[]): IisResult<undefined> => call(ref, { type: 'iis.hostFeaturesChanged', features });

// Selectors ------------------------------------------------------------------------------------------

const context = (ref: AnyActorRef): IisContext => (ref.getSnapshot() as { context: IisContext }).context;
export const iisStore = (ref: AnyActorRef): IisStore => context(ref).store;

/** The newest file of a virtual directory with this extension (names sort by date: F-<day>.lsabs). */
export const iisNewestFile = (ref: AnyActorRef, vdir: string, extension: string): string | undefined =>
  (iisStore(ref).files[vdir] ?? [])
    .map((f) => f.name)
    .filter((n) => n.endsWith(extension))
    .sort()
    .at(-1);

/** Whether the Web-Server role is present (the machine is in `installed`). */
export const iisInstalled = (ref: AnyActorRef): boolean => (ref.getSnapshot() as { matches(v: string): boolean }).matches('installed');

export const iisBindings = (ref: AnyActorRef): Array<Binding & { site: string }> => allBindings(iisStore(ref));

export const iisVirtualDirectories = (ref: AnyActorRef): Array<VirtualDirectory & { site: string }> => virtualDirectories(iisStore(ref));

export const iisAppPools = (ref: AnyActorRef): AppPool[] => iisStore(ref).config.applicationPools;

/** The Windows/anonymous authentication and sslFlags in force at a location ("Default Web Site", "Default Web Site/Abs/Int/Handler" or "/Abs/Int/Handler"). */
export const iisAuthentication = (ref: AnyActorRef, location: string): EffectiveSettings => authenticationAt(iisStore(ref), location);

export const iisWebComponents = (ref: AnyActorRef): WebComponentsInstall | undefined => iisStore(ref).webComponents;
