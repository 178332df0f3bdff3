/**
 * What the OCS emulator needs from its neighbours (AD, CA, SQL, DNS, IIS, the hosts), as one interface.
 * `ocs.peers.ts` implements it over the lab's actor system with the neighbours' clients; the tools
 * (`ocs.deployment.ts`, `ocs.certificates.ts`, `ocs.users.ts`, …) see only this.
 */
import type { SubjectInput } from '../ca/pki.js';
import type { Result } from '../../sim/result.js';
import type { FirewallRule, ServiceSpec, ServiceStatus } from '../host/host.events.js';

export interface DirectoryEntry {
  dn: string;
  attributes: Record<string, string[]>;
}

export interface AttributeChange {
  operation: 'add' | 'replace' | 'delete';
  attribute: string;
  values: string[];
}

export interface PrepState {
  schema: 'Ready' | 'Not Ready';
  forest: 'Ready' | 'Not Ready';
  domain: 'Ready' | 'Not Ready';
}

export interface HostCertificate {
  thumbprint: string;
  subjectCN: string;
  sans: string[];
  friendlyName: string;
  notAfter: string;
  certPem: string;
}

export type CaSubmission = { status: 'issued'; requestId: string | number; certPem: string } | { status: 'pending'; requestId: string | number };

export interface CaDescription {
  name: string;
  hostFqdn: string;
  configString: string;
  online: boolean;
}

/** The subject the Certificate Wizard asks for: the CA's own subject shape. */
export type CsrSubject = SubjectInput;

export interface OcsPeers {
  ad: {
    prepState(): PrepState;
    rtcServiceDn(): string;
    domainDn(): string;
    converged(): boolean;
    add(dn: string, attributes: Record<string, string[]>): Result<unknown>;
    modify(dn: string, changes: AttributeChange[]): Result<unknown>;
    /** Several modifies in one request, each applied or refused on its own; their results in order. */
    modifyMany(items: Array<{ dn: string; changes: AttributeChange[] }>): Result<Array<Result<unknown>>>;
    search(base: string, scope: 'base' | 'one' | 'sub', filter: string): Result<DirectoryEntry[]>;
    findUser(sam: string): DirectoryEntry | undefined;
    createUser(user: { sam: string; givenName?: string; sn?: string; displayName: string; password: string; passwordNeverExpires: boolean }): Result<unknown>;
    setPassword(sam: string, password: string): Result<unknown>;
  };
  host: {
    exists(host: string): boolean;
    features(host: string): string[];
    services(host: string): ServiceStatus[];
    certificates(host: string): HostCertificate[];
    firewallEnabled(host: string): boolean;
    installService(host: string, service: ServiceSpec, password?: string): Result<unknown>;
    startService(host: string, name: string): Result<unknown>;
    stopService(host: string, name: string): Result<unknown>;
    importCertificate(host: string, cert: { certPem: string; keyId: string; friendlyName: string }): Result<{ thumbprint: string }>;
    addFirewallRules(host: string, rules: FirewallRule[]): Result<unknown>;
  };
  sql: {
    exists(host: string): boolean;
    online(host: string): boolean;
    createPoolDatabases(host: string, pool: string): Result<unknown>;
    write(host: string, database: string, table: string, key: string, row: Record<string, string | number | boolean | null>): Result<unknown>;
    /** Many rows of one table in one batch: all written, or none. */
    writeRows(host: string, database: string, table: string, rows: Array<{ key: string; row: Record<string, string | number | boolean | null> }>): Result<unknown>;
    read(host: string, database: string, table: string, key?: string): Result<{ key: string; row: Record<string, unknown> }[]>;
    delete(host: string, database: string, table: string, key: string): Result<unknown>;
  };
  dns: {
    /** Addresses an A query for `name` returns (empty: NXDOMAIN or no data). */
    resolveA(name: string): string[];
  };
  ca: {
    /** The enterprise CA the wizard finds, or undefined when none is published. */
    info(): CaDescription | undefined;
    /** Builds a PKCS#10 request with a fresh key from the wizard's id stream. */
    buildCsr(subject: CsrSubject, sans: string[], exportable: boolean): { csrPem: string; keyId: string };
    submit(csrPem: string, requester: string): Result<CaSubmission>;
    retrieve(requestId: string | number): Result<CaSubmission>;
    describe(certPem: string): { subjectCN: string; sans: string[]; thumbprint: string };
  };
  iis: {
    exists(host: string): boolean;
    installOcsWebComponents(host: string, args: { pool: string; poolFqdn: string; internalWebFqdn?: string; appPoolIdentity: string; disableKernelMode: boolean }): Result<unknown>;
    /** Replaces the files of a virtual directory (the Address Book Server's output under /Abs). */
    publishFiles(host: string, vdir: string, files: Array<{ name: string; content: string }>): Result<unknown>;
  };
}

/** The part of the actor system the peers need: find a neighbour by systemId. */
export interface ActorLookup {
  get(systemId: string): import('xstate').AnyActorRef | undefined;
}
