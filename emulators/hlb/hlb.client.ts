/**
 * How steps and other emulators (a SIP client reaching the pool, the wire adapter) use the load balancer.
 */
import type { AnyActorRef } from 'xstate';
import { request } from '../../sim/emulator.js';
import type { Result } from '../../sim/result.js';
import type { HlbConnectArgs, HlbConnection } from './hlb.events.js';
import type { HlbContext } from './hlb.machine.js';
import { members, type HlbPool, type MemberView } from './hlb.store.js';

type Ref = AnyActorRef | undefined;

function snapshot(ref: Ref): { value: unknown; context: HlbContext } {
  if (!ref) throw new Error('hlb: no such actor in this lab');
  return ref.getSnapshot() as { value: unknown; context: HlbContext };
}

/** Creates or updates the pool's virtual server; `warnings` lists departures from Microsoft's requirements. */
export const hlbConfigurePool = (ref: Ref, args: { pool: string; idleTimeoutMinutes?: number; ports?: number[]; snat?: boolean }): Result<{ pool: HlbPool; warnings: string[] }> =>
  request(ref, 'hlb.reply', { type: 'hlb.configurePool', ...args });

export const hlbSetMemberEnabled = (ref: Ref, args: { pool: string; server: string; enabled: boolean }): Result<{ changed: boolean }> =>
  request(ref, 'hlb.reply', { type: 'hlb.setMemberEnabled', ...args });

/** Opens (or reuses, by TCP affinity) a client connection to the pool's VIP and says which member serves it. */
export const hlbConnect = (ref: Ref, args: HlbConnectArgs): Result<HlbConnection> => request(ref, 'hlb.reply', { type: 'hlb.connect', ...args });

export const hlbDisconnect = (ref: Ref, args: HlbConnectArgs): Result<{ server: string }> => request(ref, 'hlb.reply', { type: 'hlb.disconnect', ...args });

/** The members of a configured pool with their last probe result per port; empty for an unconfigured pool. */
export const hlbMembers = (ref: Ref, pool: string): MemberView[] => members(snapshot(ref).context.store, pool);

export interface HlbConfigView {
  name: string;
  state: 'notConfigured' | 'configured';
  pools: HlbPool[];
}

export function hlbConfig(ref: Ref): HlbConfigView {
  const s = snapshot(ref);
  return { name: s.context.store.name, state: s.value === 'configured' ? 'configured' : 'notConfigured', pools: s.context.store.pools };
}
