/**
 * A target file (decision 0016): where the real servers of the topology are. YAML, validated with
 * positions like scenarios:
 *
 * ```yaml
 * target: samba-ci                      # a name for reports
 * hosts:                                # topology hosts (and pools, by name) → real addresses
 *   dc01: { address: 127.0.0.1 }        # every port as the topology has it (389, 53 ...)
 *   ocsfe01: { address: 10.0.0.31, ports: { 443: 8443 } }
 * credentials:
 *   administrator: { user: 'CORP\Administrator', password: { env: OCSLAB_TARGET_PASSWORD } }
 * trust: { caFile: ./corp-root-ca.pem }
 * ```
 *
 * A password is given by reference only (`env`, or `prompt: true` for an interactive run), so it never
 * sits in the file, a trace or a report. `ocslab serve`'s endpoints file (JSON, hence YAML) is read as a
 * target too: its listeners stand for the topology's first domain controller, DNS server, front end
 * and pool, and its lab password is the lab's own.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { closest, positionOf, type ScenarioError } from './scenario.js';
import type { Topology } from './topology.js';

export interface RealHost {
  address: string;
  /** Topology port → real port, where they differ. */
  ports: Record<number, number>;
}

export type PasswordRef = { env: string } | { prompt: true } | { value: string };

export interface TargetConfig {
  name: string;
  file: string;
  /** By lower-case topology host or pool name. */
  hosts: Record<string, RealHost>;
  administrator: { user: string; password: PasswordRef };
  caFile?: string;
  /** `schema: { labOids: true }`: SchemaPrep may write the lab's documentation OIDs (never on a production forest). */
  labSchemaOids: boolean;
  /** `ldap: { plainPasswords: true }`: set passwords over plain LDAP (a lab DC only). */
  plainLdapPasswords: boolean;
  /** `ldap.tls`; `none` for `ocslab serve`'s endpoints (its LDAP has no certificate). */
  ldapTls: 'starttls' | 'ldaps' | 'none';
}

const address = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}$|^[0-9a-f:]+$|^[a-z0-9.-]+$/i, 'an IP address or a host name');
const port = z.number().int().min(1).max(65535);
const TargetSchema = z.strictObject({
  target: z.string().min(1),
  hosts: z.record(z.string(), z.strictObject({ address, ports: z.record(z.string().regex(/^\d+$/, 'a port number'), port).default({}) })),
  credentials: z.strictObject({
    administrator: z.strictObject({
      user: z.string().min(1),
      password: z.union([z.strictObject({ env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name') }), z.strictObject({ prompt: z.literal(true) })], {
        message: 'a password by reference: { env: NAME } or { prompt: true } (never the password itself)',
      }),
    }),
  }),
  trust: z.strictObject({ caFile: z.string().min(1) }).optional(),
  /** A throw-away forest may take the lab's documentation OIDs for schema objects whose real OIDs the lab lacks. */
  schema: z.strictObject({ labOids: z.boolean() }).optional(),
  /**
   * How to reach the DCs' LDAP: StartTLS on 389 (the default), LDAPS on 636, or plain (`none`, for a lab
   * DC: the administrator's password then crosses the network in clear). `plainPasswords`: a lab DC that
   * takes passwords without TLS (Samba with strong auth off); Windows never does.
   */
  ldap: z.strictObject({ tls: z.enum(['starttls', 'ldaps', 'none']).default('starttls'), plainPasswords: z.boolean().default(false) }).optional(),
});

/** The endpoints file `ocslab serve --endpoints-file` writes (the keys a target needs). */
const EndpointsSchema = z.object({
  dns: z.object({ host: z.string(), port }),
  ldap: z.string().regex(/^ldap:\/\/[^:/]+:\d+$/),
  https: z.string().regex(/^https:\/\/[^:/]+:\d+$/),
  sipTls: z.object({ host: z.string(), port }).nullable(),
  caCertFile: z.string(),
  bindDn: z.string(),
  bindPassword: z.string(),
  poolFqdn: z.string(),
});

export type TargetFileResult = { ok: true; target: TargetConfig } | { ok: false; errors: ScenarioError[] };

const hostPort = (url: string) => {
  const m = /^\w+:\/\/([^:/]+):(\d+)/.exec(url);
  return { host: m?.[1] ?? '127.0.0.1', port: Number(m?.[2] ?? 0) };
};

/** Reads and validates a target file against the topology it will be replayed on. */
export function readTargetFile(display: string, text: string, topology: Topology, baseDir = '.'): TargetFileResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const d = { file: display, doc, lines };
  if (doc.errors.length) {
    return {
      ok: false,
      errors: doc.errors.map((e) => {
        const at = lines.linePos(e.pos[0]);
        return { file: display, line: at.line, column: at.col, message: e.message.split('\n')[0] ?? e.message };
      }),
    };
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 50 });
  } catch (e) {
    return { ok: false, errors: [{ file: display, line: 1, column: 1, message: e instanceof Error ? e.message : String(e) }] };
  }
  const endpoints = EndpointsSchema.safeParse(value);
  if (endpoints.success && value && typeof value === 'object' && !('target' in value)) return { ok: true, target: fromEndpoints(display, endpoints.data, topology) };
  const parsed = TargetSchema.safeParse(value);
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues.map((i) => {
        // An unknown key is reported where it is written, not at its parent.
        const extra = i.code === 'unrecognized_keys' ? (i as { keys: string[] }).keys[0] : undefined;
        const path = [...(i.path as (string | number)[]), ...(extra !== undefined ? [extra] : [])];
        return { ...positionOf(d, path, extra !== undefined), message: `${i.path.join('.') || 'target file'}: ${i.message}` };
      }),
    };
  }
  const known = [...topology.hosts.map((h) => h.name.toLowerCase()), ...topology.pools.map((p) => p.name.toLowerCase())];
  const errors: ScenarioError[] = [];
  const hosts: Record<string, RealHost> = {};
  for (const [name, h] of Object.entries(parsed.data.hosts)) {
    if (!known.includes(name.toLowerCase())) {
      const near = closest(name, known);
      errors.push({ ...positionOf(d, ['hosts', name], true), message: `hosts: the topology has no host or pool "${name}"${near.length ? `; did you mean "${near[0]}"?` : ''}`, hint: `valid: ${known.join(', ')}` });
      continue;
    }
    hosts[name.toLowerCase()] = { address: h.address, ports: Object.fromEntries(Object.entries(h.ports).map(([k, v]) => [Number(k), v])) };
  }
  if (errors.length) return { ok: false, errors };
  const caFile = parsed.data.trust?.caFile;
  return {
    ok: true,
    target: { name: parsed.data.target, file: display, hosts, administrator: parsed.data.credentials.administrator, labSchemaOids: parsed.data.schema?.labOids === true, plainLdapPasswords: parsed.data.ldap?.plainPasswords === true, ldapTls: parsed.data.ldap?.tls ?? 'starttls', ...(caFile ? { caFile: resolve(baseDir, caFile) } : {}) },
  };
}

export function loadTargetFile(path: string, topology: Topology): TargetFileResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return { ok: false, errors: [{ file: path, line: 1, column: 1, message: `cannot read the target file (${(e as NodeJS.ErrnoException).code ?? String(e)})` }] };
  }
  return readTargetFile(path, text, topology, dirname(path));
}

/** `ocslab serve`'s listeners as the real addresses of the topology's servers. */
function fromEndpoints(display: string, e: z.output<typeof EndpointsSchema>, t: Topology): TargetConfig {
  const hosts: Record<string, RealHost> = {};
  const add = (name: string | undefined, labPort: number, real: { host: string; port: number }) => {
    if (!name) return;
    const key = name.toLowerCase();
    const h = (hosts[key] ??= { address: real.host, ports: {} });
    h.ports[labPort] = real.port;
  };
  const dc = t.hosts.find((h) => h.roles.includes('domainController'))?.name;
  const dnsServer = t.hosts.find((h) => h.roles.includes('dnsServer'))?.name;
  add(dc, 389, hostPort(e.ldap));
  add(dnsServer, 53, e.dns);
  const pool = t.pools.find((p) => p.fqdn.toLowerCase() === e.poolFqdn.toLowerCase()) ?? t.pools[0];
  for (const fe of pool?.frontEnds ?? []) add(fe, 443, hostPort(e.https));
  if (pool) add(pool.name, 443, hostPort(e.https));
  if (pool && e.sipTls) add(pool.name, 5061, e.sipTls);
  return { name: `ocslab serve (${display})`, file: display, hosts, administrator: { user: e.bindDn, password: { value: e.bindPassword } }, caFile: e.caCertFile, labSchemaOids: true, plainLdapPasswords: true, ldapTls: 'none' };
}
