/**
 * The hardware load balancer: `notConfigured` until the operator deploys it for a pool ("Deploy Hardware
 * Load Balancer", ocs-facts §1.5), then `configured`, where a health monitor probes every member's ports
 * each 15 s of simulated time and idle connections past the TCP idle timeout are reset.
 */
import { enqueueActions, setup } from 'xstate';
import { environmentOf, kernel, kernelActions, type SystemLike } from '../../sim/machine.js';
import { ok } from '../../sim/result.js';
import { hostId, type ServiceStatus } from '../host/host.events.js';
import { PROBE_INTERVAL_MS, serviceForPort, type HlbCommand, type HlbEmitted, type HlbInput } from './hlb.events.js';
import { configurePool, connect, disconnect, expireIdle, initialStore, probe, setMemberEnabled, type HlbStore } from './hlb.store.js';

export interface HlbContext {
  store: HlbStore;
}

/** One round of the health monitor: which member answers on which port ("ocsfe01:5061"). */
type Probed = { type: 'hlb.probed'; up: string[] };

type HlbEvent = HlbCommand | Probed;

/** What the monitor sees: the front end's service for the port is Running. No host actor: nothing answers. */
function serviceUp(system: SystemLike, server: string, port: number): boolean {
  const ref = system.get(hostId(server));
  if (!ref) return false;
  const services = (ref.getSnapshot() as { context?: { services?: ServiceStatus[] } }).context?.services ?? [];
  const name = serviceForPort(port).toLowerCase();
  return services.some((s) => s.name.toLowerCase() === name && s.state === 'Running');
}

export const hlbMachine = setup({
  types: {
    context: {} as HlbContext,
    input: {} as HlbInput,
    events: {} as HlbEvent,
    emitted: {} as HlbEmitted,
  },
  delays: { probeInterval: PROBE_INTERVAL_MS },
  guards: {
    knownPool: ({ context, event }) => event.type === 'hlb.configurePool' && context.store.available.some((p) => p.name === event.pool.toLowerCase()),
  },
  actions: {
    ...kernelActions<HlbContext, HlbEvent, HlbEmitted>(),
    /** The health monitor's probes of every member's ports; reports back to self. */
    probeMembers: ({ context, system, self }) => {
      const up: string[] = [];
      for (const pool of context.store.pools) for (const m of pool.members) for (const port of pool.ports) if (serviceUp(system, m.server, port)) up.push(`${m.server}:${port}`);
      self.send({ type: 'hlb.probed', up });
    },
    configure: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<HlbContext, HlbEvent, HlbEmitted>(put);
      if (event.type !== 'hlb.configurePool') return;
      const r = configurePool(context.store, event);
      if (r.result.ok) {
        const { pool, warnings } = r.result.value;
        enqueue.assign({ store: r.store });
        enqueue.emit({
          type: 'hlb.poolConfigured',
          pool: pool.name,
          vip: pool.vip,
          ports: pool.ports,
          idleTimeoutMinutes: pool.idleTimeoutMinutes,
          snat: pool.snat,
          warnings,
          summary: `Virtual server ${pool.fqdn} (${pool.vip}) ports ${pool.ports.join(', ')}: members ${pool.members.map((m) => `${m.server} (${m.ip})`).join(', ')}; TCP affinity, idle timeout ${pool.idleTimeoutMinutes} min, ${pool.snat ? 'SNAT' : 'DNAT'}${warnings.length ? ` — warning: ${warnings.join('; ')}` : ''}`,
        });
      }
      enqueue.emit({ type: 'hlb.reply', requestId: event.requestId, result: r.result });
    }),
    probe: enqueueActions(({ context, event, system, self, enqueue: put }) => {
      const enqueue = kernel<HlbContext, HlbEvent, HlbEmitted>(put);
      if (event.type !== 'hlb.probed') return;
      const up = new Set(event.up);
      const expired = expireIdle(context.store, environmentOf({ system, self }).now());
      const r = probe(expired.store, (server, port) => up.has(`${server}:${port}`));
      enqueue.assign({ store: r.store });
      for (const x of expired.reset) {
        enqueue.emit({
          type: 'hlb.connectionsReset',
          pool: x.pool,
          count: x.count,
          idleTimeoutMinutes: x.idleTimeoutMinutes,
          summary: `${x.count} connection(s) to pool ${x.pool} reset after ${x.idleTimeoutMinutes} min idle`,
        });
      }
      for (const c of r.changes) {
        enqueue.emit({ type: 'hlb.memberStateChanged', ...c, summary: `${c.server} (${c.ip}):${c.ports.join(',')} marked ${c.state}` });
      }
    }),
    setMemberEnabled: enqueueActions(({ context, event, enqueue: put }) => {
      const enqueue = kernel<HlbContext, HlbEvent, HlbEmitted>(put);
      if (event.type !== 'hlb.setMemberEnabled') return;
      const r = setMemberEnabled(context.store, event);
      if (r.result.ok && r.result.value.changed) {
        enqueue.assign({ store: r.store });
        const server = event.server.toLowerCase();
        enqueue.emit({
          type: 'hlb.memberEnabledChanged',
          pool: event.pool.toLowerCase(),
          server,
          enabled: event.enabled,
          summary: `${server} ${event.enabled ? 'enabled' : 'disabled'} in pool ${event.pool.toLowerCase()}${event.enabled ? '' : ' (no new connections)'}`,
        });
      }
      enqueue.emit({ type: 'hlb.reply', requestId: event.requestId, result: r.result });
    }),
    connect: enqueueActions(({ context, event, system, self, enqueue: put }) => {
      const enqueue = kernel<HlbContext, HlbEvent, HlbEmitted>(put);
      if (event.type !== 'hlb.connect' && event.type !== 'hlb.disconnect') return;
      const r = event.type === 'hlb.connect' ? connect(context.store, event, environmentOf({ system, self }).now()) : disconnect(context.store, event);
      if (r.result.ok) enqueue.assign({ store: r.store });
      enqueue.emit({ type: 'hlb.reply', requestId: event.requestId, result: r.result });
    }),
  },
}).createMachine({
  id: 'hlb',
  context: ({ input }) => ({ store: initialStore(input) }),
  initial: 'notConfigured',
  states: {
    notConfigured: {
      on: {
        'hlb.configurePool': [{ guard: 'knownPool', target: 'configured', actions: ['configure', 'probeMembers'] }, { actions: 'configure' }],
        'hlb.setMemberEnabled': { actions: 'setMemberEnabled' },
        'hlb.connect': { actions: 'connect' },
        'hlb.disconnect': { actions: 'connect' },
      },
    },
    configured: {
      after: { probeInterval: { target: 'configured', reenter: true, actions: 'probeMembers' } },
      on: {
        'hlb.probed': { actions: 'probe' },
        'hlb.configurePool': { actions: ['configure', 'probeMembers'] },
        'hlb.setMemberEnabled': { actions: 'setMemberEnabled' },
        'hlb.connect': { actions: 'connect' },
        'hlb.disconnect': { actions: 'connect' },
      },
    },
  },
});
