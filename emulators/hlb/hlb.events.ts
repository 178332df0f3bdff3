/**
 * Hardware load balancer in front of the Enterprise pool: commands in, events out, input, failure kinds.
 */
import type { Failure, Result } from '../../sim/result.js';

export const HLB_ID = 'hlb';

/** 5060, 5061, 135, 443, 444 (TechNet) plus 5065, 5069, 5071-5074 and 80 (R2 CHM) — ocs-facts §5 [V/B]. */
export const REQUIRED_PORTS: readonly number[] = [5060, 5061, 135, 443, 444, 5065, 5069, 5071, 5072, 5073, 5074, 80];

/** Health monitor interval, simulated. */
export const PROBE_INTERVAL_MS = 15_000;

/** TCP idle timeout Microsoft recommends, at least (REGISTER refresh and SIP keep-alives) — ocs-facts §5. */
export const RECOMMENDED_IDLE_TIMEOUT_MINUTES = 30;

/**
 * The front-end service whose running state decides whether a member is up on a port. Ports served by
 * the conferencing and application services are probed against the Front-End (RtcSrv): the lab runs
 * them as one.
 */
export function serviceForPort(port: number): string {
  return port === 443 || port === 80 ? 'W3SVC' : 'RtcSrv';
}

export type MemberHealth = 'up' | 'down';

/**
 * How the virtual server picks a member for a new connection: the fewest open connections (the default;
 * F5's "Least Connections (member)", what OCS deployment guides configure [U]) or the next member in turn.
 * Either way an established TCP connection stays on its member (affinity).
 */
export const BALANCING_METHODS = ['leastConnections', 'roundRobin'] as const;
export type BalancingMethod = (typeof BALANCING_METHODS)[number];

export interface HlbPoolInput {
  name: string;
  fqdn: string;
  vip: string;
  members: { server: string; ip: string }[];
}

export interface HlbInput {
  /** The device's name in the topology ("hlb01"). */
  name: string;
  /** Every pool of the topology, configured or not. */
  pools: HlbPoolInput[];
}

export interface HlbConnectArgs {
  pool: string;
  clientAddress: string;
  clientPort: number;
  /** The VIP port the client connects to. */
  port: number;
}

export interface HlbConnection {
  pool: string;
  vip: string;
  port: number;
  clientAddress: string;
  clientPort: number;
  server: string;
  serverIp: string;
  /** The source address the front end sees: the VIP under SNAT, the client otherwise. */
  sourceSeenByServer: string;
  /** Simulated ms of the last use, for the idle timeout. */
  lastActivity: number;
}

export type HlbFailureKind = 'hlb.noSuchPool' | 'hlb.notConfigured' | 'hlb.noSuchMember' | 'hlb.portNotBalanced' | 'hlb.noHealthyMember' | 'hlb.noSuchConnection';
export interface HlbFailure extends Failure {
  kind: HlbFailureKind;
}

export type HlbCommand =
  | { type: 'hlb.configurePool'; requestId: string; pool: string; idleTimeoutMinutes?: number; ports?: number[]; snat?: boolean; method?: BalancingMethod }
  | { type: 'hlb.setMemberEnabled'; requestId: string; pool: string; server: string; enabled: boolean }
  | ({ type: 'hlb.connect'; requestId: string } & HlbConnectArgs)
  | ({ type: 'hlb.disconnect'; requestId: string } & HlbConnectArgs);

export type HlbEmitted =
  | { type: 'hlb.reply'; requestId: string; result: Result<unknown> }
  | { type: 'hlb.poolConfigured'; pool: string; vip: string; ports: number[]; idleTimeoutMinutes: number; snat: boolean; warnings: string[]; summary: string }
  | { type: 'hlb.memberStateChanged'; pool: string; server: string; ip: string; ports: number[]; state: MemberHealth; summary: string }
  | { type: 'hlb.memberEnabledChanged'; pool: string; server: string; enabled: boolean; summary: string }
  | { type: 'hlb.connectionsReset'; pool: string; count: number; idleTimeoutMinutes: number; summary: string };
