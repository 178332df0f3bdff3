/**
 * The load balancer part of the rehearsal: configure the pool's virtual server, take a member in and out
 * of rotation, and check what the health monitor shows.
 */
import { z } from 'zod';
import { defineStep, failed, passed, type StepDefinition } from '../../sim/steps.js';
import { BALANCING_METHODS, HLB_ID, RECOMMENDED_IDLE_TIMEOUT_MINUTES } from './hlb.events.js';
import { hlbConfigurePool, hlbMembers, hlbSetMemberEnabled } from './hlb.client.js';

const tcpPort = z.number().int().min(1).max(65535);

const configurePool = defineStep({
  name: 'hlb.configurePool',
  kind: 'action',
  summary: 'Deploy the hardware load balancer for a pool: VIP, members, ports, TCP affinity, idle timeout, SNAT',
  params: z.strictObject({
    pool: z.string(),
    idleTimeoutMinutes: z.number().positive().default(RECOMMENDED_IDLE_TIMEOUT_MINUTES),
    ports: z.array(tcpPort).min(1).optional(),
    snat: z.boolean().default(true),
    method: z.enum(BALANCING_METHODS).default('leastConnections'),
  }),
  refs: { pool: 'pool' },
  title: (p, t) => {
    const pool = t.pools.find((x) => x.name === p.pool.toLowerCase());
    return `Configure the load balancer for ${pool ? `${pool.fqdn} (${pool.vip})` : p.pool}`;
  },
  emulated: ({ lab }, p) => {
    const r = hlbConfigurePool(lab.get(HLB_ID), p);
    if (!r.ok) return failed(r.failure.message);
    const { pool, warnings } = r.value;
    return passed([
      `virtual server ${pool.vip} (${pool.fqdn}), ports ${pool.ports.join(', ')}, ${pool.method === 'roundRobin' ? 'round robin' : 'least connections'}, TCP affinity, idle timeout ${pool.idleTimeoutMinutes} min, ${pool.snat ? 'SNAT' : 'DNAT'}`,
      ...pool.members.map((m) => `member ${m.server} (${m.ip})`),
      ...warnings.map((w) => `Warning: ${w}`),
    ]);
  },
});

const setMemberEnabled = defineStep({
  name: 'hlb.setMemberEnabled',
  kind: 'action',
  summary: 'Enable or disable a front end in the pool (a disabled member takes no new connections)',
  params: z.strictObject({ pool: z.string(), server: z.string(), enabled: z.boolean() }),
  refs: { pool: 'pool', server: 'frontEnd' },
  title: (p) => `${p.enabled ? 'Enable' : 'Disable'} ${p.server} in pool ${p.pool} on the load balancer`,
  emulated: ({ lab }, p) => {
    const r = hlbSetMemberEnabled(lab.get(HLB_ID), p);
    return r.ok ? passed(r.value.changed ? undefined : [`${p.server} was already ${p.enabled ? 'enabled' : 'disabled'}`]) : failed(r.failure.message);
  },
});

const memberHealth = defineStep({
  name: 'hlb.memberHealth',
  kind: 'check',
  summary: "Check a member's health-monitor state on one port of the pool's virtual server",
  params: z.strictObject({ pool: z.string(), server: z.string(), port: tcpPort, state: z.enum(['up', 'down']) }),
  refs: { pool: 'pool', server: 'frontEnd' },
  console: (p) => `the load balancer's console: pool ${p.pool}, member ${p.server}:${p.port} (its health monitor)`,
  title: (p) => `Load balancer shows ${p.server}:${p.port} ${p.state} in pool ${p.pool}`,
  emulated: ({ lab }, p) => {
    const members = hlbMembers(lab.get(HLB_ID), p.pool);
    if (!members.length) return failed(`pool ${p.pool} is not configured on the load balancer`);
    const m = members.find((x) => x.server === p.server.toLowerCase());
    if (!m) return failed(`${p.server} is not a member of pool ${p.pool}; members: ${members.map((x) => x.server).join(', ')}`);
    const actual = m.health[String(p.port)];
    if (actual === undefined) return failed(`port ${p.port} is not balanced for pool ${p.pool}`);
    const details = [`${m.server} (${m.ip}): ${Object.entries(m.health).map(([port, h]) => `${port} ${h}`).join(', ')}${m.enabled ? '' : ' (disabled)'}`];
    return actual === p.state ? passed(details) : failed(`expected ${p.server}:${p.port} ${p.state}, found ${actual}`, details);
  },
});

export const hlbSteps: StepDefinition[] = [configurePool, setMemberEnabled, memberHealth];
