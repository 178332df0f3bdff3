/**
 * The load balancer's configuration, member health and connection table. Plain data and pure functions.
 */
import { fail, ok, type Result } from '../../sim/result.js';
import {
  RECOMMENDED_IDLE_TIMEOUT_MINUTES,
  REQUIRED_PORTS,
  type BalancingMethod,
  type HlbConnectArgs,
  type HlbConnection,
  type HlbFailure,
  type HlbInput,
  type HlbPoolInput,
  type MemberHealth,
} from './hlb.events.js';

export interface HlbMember {
  server: string;
  ip: string;
  /** Administratively enabled: a disabled member takes no new connections. */
  enabled: boolean;
  /** Last probe result per port ("5061" → "up"). */
  health: Record<string, MemberHealth>;
}

export interface HlbPool {
  name: string;
  fqdn: string;
  vip: string;
  ports: number[];
  /** TCP connection affinity: a connection stays on its member for its life. Always on. */
  affinity: 'tcp';
  method: BalancingMethod;
  /** Round robin: the member the next new connection starts looking from. */
  nextMember: number;
  idleTimeoutMinutes: number;
  snat: boolean;
  members: HlbMember[];
}

export interface HlbStore {
  name: string;
  available: HlbPoolInput[];
  /** Configured pools (virtual servers), in configuration order. */
  pools: HlbPool[];
  connections: HlbConnection[];
}

export const initialStore = (input: HlbInput): HlbStore => ({ name: input.name, available: input.pools, pools: [], connections: [] });

const findPool = (store: HlbStore, pool: string) => store.pools.find((p) => p.name === pool.toLowerCase());

function noSuchPool(store: HlbStore, pool: string): HlbFailure {
  return { kind: 'hlb.noSuchPool', message: `No pool named ${pool} in the topology; pools: ${store.available.map((p) => p.name).join(', ')}`, pool };
}

/** Warnings the configuration deserves, per ocs-facts §5. */
export function configWarnings(pool: Pick<HlbPool, 'ports' | 'idleTimeoutMinutes' | 'snat'>): string[] {
  const w: string[] = [];
  if (pool.idleTimeoutMinutes < RECOMMENDED_IDLE_TIMEOUT_MINUTES) {
    w.push(`TCP idle timeout ${pool.idleTimeoutMinutes} min is below the recommended ${RECOMMENDED_IDLE_TIMEOUT_MINUTES} min: idle client connections will be reset between REGISTER refreshes`);
  }
  const missing = REQUIRED_PORTS.filter((p) => !pool.ports.includes(p));
  if (missing.length) w.push(`ports OCS 2007 R2 requires on the VIP are not balanced: ${missing.join(', ')}`);
  if (!pool.snat) w.push('DNAT is not supported for OCS 2007 R2 pools; use SNAT');
  return w;
}

export function configurePool(
  store: HlbStore,
  args: { pool: string; idleTimeoutMinutes?: number; ports?: number[]; snat?: boolean; method?: BalancingMethod },
): { store: HlbStore; result: Result<{ pool: HlbPool; warnings: string[] }, HlbFailure> } {
  const spec = store.available.find((p) => p.name === args.pool.toLowerCase());
  if (!spec) return { store, result: fail(noSuchPool(store, args.pool)) };
  const before = findPool(store, spec.name);
  const pool: HlbPool = {
    name: spec.name,
    fqdn: spec.fqdn,
    vip: spec.vip,
    ports: args.ports ?? before?.ports ?? [...REQUIRED_PORTS],
    affinity: 'tcp',
    method: args.method ?? before?.method ?? 'leastConnections',
    nextMember: before?.nextMember ?? 0,
    idleTimeoutMinutes: args.idleTimeoutMinutes ?? before?.idleTimeoutMinutes ?? RECOMMENDED_IDLE_TIMEOUT_MINUTES,
    snat: args.snat ?? before?.snat ?? true,
    // A new virtual server starts with every member down until the first probe.
    members: spec.members.map((m) => before?.members.find((b) => b.server === m.server) ?? { server: m.server, ip: m.ip, enabled: true, health: {} }),
  };
  const pools = before ? store.pools.map((p) => (p.name === pool.name ? pool : p)) : [...store.pools, pool];
  return { store: { ...store, pools }, result: ok({ pool, warnings: configWarnings(pool) }) };
}

export function setMemberEnabled(store: HlbStore, args: { pool: string; server: string; enabled: boolean }): { store: HlbStore; result: Result<{ changed: boolean }, HlbFailure> } {
  const pool = findPool(store, args.pool);
  if (!pool) return { store, result: fail(notConfigured(store, args.pool)) };
  const server = args.server.toLowerCase();
  const member = pool.members.find((m) => m.server === server);
  if (!member) {
    return { store, result: fail({ kind: 'hlb.noSuchMember', message: `${args.server} is not a member of pool ${pool.name}; members: ${pool.members.map((m) => m.server).join(', ')}`, pool: pool.name, server: args.server }) };
  }
  if (member.enabled === args.enabled) return { store, result: ok({ changed: false }) };
  const next = { ...pool, members: pool.members.map((m) => (m.server === server ? { ...m, enabled: args.enabled } : m)) };
  return { store: { ...store, pools: store.pools.map((p) => (p.name === pool.name ? next : p)) }, result: ok({ changed: true }) };
}

function notConfigured(store: HlbStore, pool: string): HlbFailure {
  const spec = store.available.find((p) => p.name === pool.toLowerCase());
  if (!spec) return noSuchPool(store, pool);
  return { kind: 'hlb.notConfigured', message: `No virtual server answers at ${spec.vip}: the connection attempt timed out (pool ${spec.name} is not configured on the load balancer)`, pool: spec.name, vip: spec.vip };
}

export interface HealthChange {
  pool: string;
  server: string;
  ip: string;
  ports: number[];
  state: MemberHealth;
}

/** Applies one round of probes: `isUp(server, port)` says what the monitor saw. Changes come grouped by member and new state. */
export function probe(store: HlbStore, isUp: (server: string, port: number) => boolean): { store: HlbStore; changes: HealthChange[] } {
  const changes: HealthChange[] = [];
  const pools = store.pools.map((pool) => ({
    ...pool,
    members: pool.members.map((m) => {
      const health: Record<string, MemberHealth> = {};
      const up: number[] = [];
      const down: number[] = [];
      for (const port of pool.ports) {
        const now: MemberHealth = isUp(m.server, port) ? 'up' : 'down';
        const was = m.health[String(port)];
        health[String(port)] = now;
        if (now !== (was ?? 'down') || (was === undefined && now === 'down')) (now === 'up' ? up : down).push(port);
      }
      if (up.length) changes.push({ pool: pool.name, server: m.server, ip: m.ip, ports: up, state: 'up' });
      if (down.length) changes.push({ pool: pool.name, server: m.server, ip: m.ip, ports: down, state: 'down' });
      return { ...m, health };
    }),
  }));
  return { store: { ...store, pools }, changes };
}

const sameConnection = (c: HlbConnection, a: HlbConnectArgs) => c.pool === a.pool.toLowerCase() && c.clientAddress === a.clientAddress && c.clientPort === a.clientPort && c.port === a.port;

/**
 * A client's TCP connection to the VIP: an existing one stays on its member (TCP affinity); a new one goes
 * to an enabled member that is up on the port, by the pool's method: the fewest open connections (ties to
 * the first listed), or round robin from the member after the last one chosen. The connection is in the
 * table until the client closes it (`disconnect`) or it is idle past the pool's idle timeout.
 */
export function connect(store: HlbStore, args: HlbConnectArgs, now: number): { store: HlbStore; result: Result<HlbConnection, HlbFailure> } {
  const pool = findPool(store, args.pool);
  if (!pool) return { store, result: fail(notConfigured(store, args.pool)) };
  const existing = store.connections.find((c) => sameConnection(c, args));
  if (existing) {
    const refreshed = { ...existing, lastActivity: now };
    return { store: { ...store, connections: store.connections.map((c) => (c === existing ? refreshed : c)) }, result: ok(refreshed) };
  }
  if (!pool.ports.includes(args.port)) {
    return { store, result: fail({ kind: 'hlb.portNotBalanced', message: `Connection refused (RST from ${pool.vip}:${args.port}): port ${args.port} is not configured on the virtual server for ${pool.name}`, pool: pool.name, vip: pool.vip, port: args.port }) };
  }
  const healthy = pool.members.map((m, i) => ({ m, i })).filter(({ m }) => m.enabled && m.health[String(args.port)] === 'up');
  const chosen = pool.method === 'roundRobin' ? nextInTurn(healthy, pool.nextMember, pool.members.length) : fewestConnections(store, pool, healthy);
  if (!chosen) {
    return {
      store,
      result: fail({ kind: 'hlb.noHealthyMember', message: `Connection refused (RST from ${pool.vip}:${args.port}): no member of pool ${pool.name} is up on port ${args.port}`, pool: pool.name, vip: pool.vip, port: args.port }),
    };
  }
  const best = chosen.m;
  const conn: HlbConnection = {
    pool: pool.name,
    vip: pool.vip,
    port: args.port,
    clientAddress: args.clientAddress,
    clientPort: args.clientPort,
    server: best.server,
    serverIp: best.ip,
    sourceSeenByServer: pool.snat ? pool.vip : args.clientAddress,
    lastActivity: now,
  };
  const pools = pool.method === 'roundRobin' ? store.pools.map((p) => (p === pool ? { ...p, nextMember: (chosen.i + 1) % p.members.length } : p)) : store.pools;
  return { store: { ...store, pools, connections: [...store.connections, conn] }, result: ok(conn) };
}

type Candidate = { m: HlbMember; i: number };

function fewestConnections(store: HlbStore, pool: HlbPool, healthy: readonly Candidate[]): Candidate | undefined {
  const load = new Map<string, number>();
  for (const c of store.connections) if (c.pool === pool.name) load.set(c.server, (load.get(c.server) ?? 0) + 1);
  let best: Candidate | undefined;
  for (const h of healthy) if (!best || (load.get(h.m.server) ?? 0) < (load.get(best.m.server) ?? 0)) best = h;
  return best;
}

function nextInTurn(healthy: readonly Candidate[], from: number, members: number): Candidate | undefined {
  let best: Candidate | undefined;
  let bestDistance = Infinity;
  for (const h of healthy) {
    const distance = (h.i - from + members) % members;
    if (distance < bestDistance) [best, bestDistance] = [h, distance];
  }
  return best;
}

export function disconnect(store: HlbStore, args: HlbConnectArgs): { store: HlbStore; result: Result<{ server: string }, HlbFailure> } {
  const existing = store.connections.find((c) => sameConnection(c, args));
  if (!existing) {
    return { store, result: fail({ kind: 'hlb.noSuchConnection', message: `No connection from ${args.clientAddress}:${args.clientPort} to pool ${args.pool} port ${args.port}`, pool: args.pool }) };
  }
  return { store: { ...store, connections: store.connections.filter((c) => c !== existing) }, result: ok({ server: existing.server }) };
}

/** Drops connections idle longer than their pool's TCP idle timeout; returns how many per pool. */
export function expireIdle(store: HlbStore, now: number): { store: HlbStore; reset: { pool: string; count: number; idleTimeoutMinutes: number }[] } {
  const timeout = (pool: string) => (findPool(store, pool)?.idleTimeoutMinutes ?? RECOMMENDED_IDLE_TIMEOUT_MINUTES) * 60_000;
  const keep = store.connections.filter((c) => now - c.lastActivity <= timeout(c.pool));
  if (keep.length === store.connections.length) return { store, reset: [] };
  const reset = store.pools
    .map((p) => ({ pool: p.name, count: store.connections.filter((c) => c.pool === p.name && !keep.includes(c)).length, idleTimeoutMinutes: p.idleTimeoutMinutes }))
    .filter((r) => r.count > 0);
  return { store: { ...store, connections: keep }, reset };
}

export interface MemberView {
  server: string;
  ip: string;
  enabled: boolean;
  health: Record<string, MemberHealth>;
  connections: number;
}

export function members(store: HlbStore, pool: string): MemberView[] {
  const p = findPool(store, pool);
  if (!p) return [];
  return p.members.map((m) => ({ ...m, connections: store.connections.filter((c) => c.pool === p.name && c.server === m.server).length }));
}
