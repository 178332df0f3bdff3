/**
 * The lab's topology: the forest, the SIP domains, the servers and their roles, the pool, the users.
 * Scenarios either say `topology: default` or give one in full; either way it is validated here.
 */
import { z } from 'zod';

const hostName = z.string().regex(/^[a-z][a-z0-9-]{0,14}$/i, 'a NetBIOS-style host name (letters, digits, "-", at most 15)');
const fqdn = z.string().regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$/i, 'a fully qualified domain name');
/** Lab addresses are loopback addresses, so anything a real client learns from the lab's DNS stays on this machine. */
const ipv4 = z.string().regex(/^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, 'an address in 127.0.0.0/8 (lab addresses stay on loopback)');

export const HOST_ROLES = ['domainController', 'dnsServer', 'enterpriseRootCa', 'sqlServer', 'ocsFrontEnd', 'fileServer'] as const;
export type HostRole = (typeof HOST_ROLES)[number];

export const HostSchema = z.strictObject({
  name: hostName,
  fqdn: fqdn.optional(),
  ip: ipv4,
  os: z.string().default('Windows Server 2008 Enterprise x64 SP2'),
  roles: z.array(z.enum(HOST_ROLES)).default([]),
  /** Windows features already installed when the lab starts (names as ServerManagerCmd shows them). */
  features: z.array(z.string()).default([]),
});

export const UserSchema = z.strictObject({
  sam: z.string().regex(/^[A-Za-z0-9._-]{1,20}$/, 'a sAMAccountName (at most 20 characters)'),
  givenName: z.string(),
  sn: z.string(),
  displayName: z.string().optional(),
  /** Primary SMTP address (mailbox in the SIP domain in the seed). */
  mail: z.string().email().optional(),
  password: z.string().min(1),
  ou: z.string().default('CN=Users'),
  /** Whether the account is already in AD when the lab starts; otherwise a step creates it (ADUC). */
  existsAtStart: z.boolean().default(true),
});

export const PoolSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,14}$/i),
  fqdn: fqdn.optional(),
  /** The hardware load balancer's virtual IP for the pool. */
  vip: ipv4,
  backEnd: hostName,
  frontEnds: z.array(hostName).min(1),
});

export const TopologySchema = z.strictObject({
  forest: z.strictObject({ fqdn, netbios: z.string().regex(/^[A-Z0-9-]{1,15}$/, 'an upper-case NetBIOS domain name') }),
  sipDomains: z.array(fqdn).min(1),
  hosts: z.array(HostSchema).min(1),
  ca: z.strictObject({ name: z.string().min(1), host: hostName }),
  pools: z.array(PoolSchema).min(1),
  hlb: z.strictObject({ name: z.string().default('hlb01') }).default({ name: 'hlb01' }),
  administrator: z.strictObject({ sam: z.string().default('Administrator'), password: z.string() }),
  users: z.array(UserSchema).default([]),
});

export type TopologyInput = z.input<typeof TopologySchema>;
export type HostSpec = z.output<typeof HostSchema> & { fqdn: string };
export type PoolSpec = z.output<typeof PoolSchema> & { fqdn: string };
export type UserSpec = z.output<typeof UserSchema>;
export interface Topology extends Omit<z.output<typeof TopologySchema>, 'hosts' | 'pools'> {
  hosts: HostSpec[];
  pools: PoolSpec[];
}

/** The default topology mirrors the seed: the SIP namespace (example.com) differs from the AD namespace. */
export const DEFAULT_TOPOLOGY: TopologyInput = {
  forest: { fqdn: 'corp.example.net', netbios: 'CORP' },
  sipDomains: ['example.com'],
  hosts: [
    { name: 'dc01', ip: '127.0.10.11', roles: ['domainController', 'dnsServer', 'enterpriseRootCa'] },
    { name: 'dc02', ip: '127.0.10.12', roles: ['domainController', 'dnsServer'] },
    { name: 'sql01', ip: '127.0.10.21', roles: ['sqlServer', 'fileServer'], os: 'Windows Server 2008 Enterprise x64 SP2' },
    { name: 'ocsfe01', ip: '127.0.10.31', roles: ['ocsFrontEnd'] },
  ],
  ca: { name: 'corp-DC01-CA', host: 'dc01' },
  pools: [{ name: 'pool01', vip: '127.0.10.30', backEnd: 'sql01', frontEnds: ['ocsfe01'] }],
  hlb: { name: 'hlb01' },
  administrator: { sam: 'Administrator', password: 'P@ssw0rd-Lab1' },
  users: [
    { sam: 'ocsuser1', givenName: 'OCS', sn: 'User1', displayName: 'OCS User 1', mail: 'ocsuser1@example.com', password: 'Us3r1-P@ss', existsAtStart: false },
    { sam: 'ocsuser2', givenName: 'OCS', sn: 'User2', displayName: 'OCS User 2', mail: 'ocsuser2@example.com', password: 'Us3r2-P@ss', existsAtStart: false },
  ],
};

export interface TopologyProblem {
  path: (string | number)[];
  message: string;
}

/** Validates the parsed topology and fills in derived names; cross-references are checked here too. */
export function resolveTopology(input: unknown): { ok: true; topology: Topology } | { ok: false; problems: TopologyProblem[] } {
  const parsed = TopologySchema.safeParse(input);
  if (!parsed.success) {
    return { ok: false, problems: parsed.error.issues.map((i) => ({ path: i.path.map((p) => (typeof p === 'symbol' ? String(p) : p)), message: i.message })) };
  }
  const t = parsed.data;
  const domain = t.forest.fqdn.toLowerCase();
  const hosts: HostSpec[] = t.hosts.map((h) => ({ ...h, name: h.name.toLowerCase(), fqdn: (h.fqdn ?? `${h.name}.${domain}`).toLowerCase() }));
  const pools: PoolSpec[] = t.pools.map((p) => ({ ...p, fqdn: (p.fqdn ?? `${p.name}.${domain}`).toLowerCase() }));
  const problems: TopologyProblem[] = [];
  const names = hosts.map((h) => h.name);
  const hostNamed = (name: string) => hosts.find((h) => h.name === name.toLowerCase());
  const need = (path: (string | number)[], name: string, role: HostRole) => {
    const h = hostNamed(name);
    if (!h) problems.push({ path, message: `no host named "${name}" in the topology; hosts: ${names.join(', ')}` });
    else if (!h.roles.includes(role)) problems.push({ path, message: `host "${name}" does not have the ${role} role` });
  };
  need(['ca', 'host'], t.ca.host, 'enterpriseRootCa');
  pools.forEach((p, i) => {
    need(['pools', i, 'backEnd'], p.backEnd, 'sqlServer');
    p.frontEnds.forEach((fe, j) => need(['pools', i, 'frontEnds', j], fe, 'ocsFrontEnd'));
    if (hosts.some((h) => h.fqdn === p.fqdn)) problems.push({ path: ['pools', i, 'fqdn'], message: `pool FQDN ${p.fqdn} collides with a server FQDN; a pool needs its own name` });
  });
  if (!hosts.some((h) => h.roles.includes('domainController'))) problems.push({ path: ['hosts'], message: 'the topology needs at least one domainController' });
  const seen = new Set<string>();
  hosts.forEach((h, i) => {
    if (seen.has(h.name)) problems.push({ path: ['hosts', i, 'name'], message: `duplicate host name "${h.name}"` });
    seen.add(h.name);
  });
  const sams = new Set<string>();
  t.users.forEach((u, i) => {
    if (sams.has(u.sam.toLowerCase())) problems.push({ path: ['users', i, 'sam'], message: `duplicate user "${u.sam}"` });
    sams.add(u.sam.toLowerCase());
  });
  if (problems.length) return { ok: false, problems };
  return { ok: true, topology: { ...t, hosts, pools } };
}

export function defaultTopology(): Topology {
  const r = resolveTopology(DEFAULT_TOPOLOGY);
  if (!r.ok) throw new Error(`default topology is invalid: ${JSON.stringify(r.problems)}`);
  return r.topology;
}

/** "corp.example.net" -> "DC=corp,DC=example,DC=net". */
export function domainDn(fqdnText: string): string {
  return fqdnText
    .split('.')
    .map((p) => `DC=${p}`)
    .join(',');
}
