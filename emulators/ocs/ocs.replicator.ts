/** The User Replicator: users homed on a pool, from Active Directory into the pool's RTC database. */
import { domainDn } from '../../sim/topology.js';
import type { EventLogWrite } from '../../sim/journal.js';
import type { HomedUser, OcsStore } from './ocs.store.js';
import { FRONT_END_SERVICE, homedUserBySam, replicationOwner, withServer, withUsers } from './ocs.store.js';
import { attr, ev, type Emitted, type WizardContext } from './ocs.wizard.js';

// ---------------------------------------------------------------------------------------------------
// User Replicator (in RtcSrv.exe; polls AD about every 60 s, ocs-facts §3, §1.10)

export const USER_REPLICATOR_POLL_MS = 60_000;

export function replicateUsers(ctx: WizardContext): { store: OcsStore; emitted: Emitted[] } {
  let store = ctx.store;
  const emitted: Emitted[] = [];
  const { peers } = ctx;
  if (!peers.ad.converged()) return { store, emitted };
  for (const pool of store.pools) {
    const owner = replicationOwner(store, pool.name);
    if (!owner || owner.services[FRONT_END_SERVICE] !== 'Running' || !peers.sql.online(pool.backEnd)) continue;
    const r = peers.ad.search(peers.ad.domainDn(), 'sub', '(objectClass=user)');
    if (!r.ok) continue;
    const homed = r.value.filter((e) => (attr(e, 'msRTCSIP-UserEnabled') ?? '').toUpperCase() === 'TRUE' && (attr(e, 'msRTCSIP-PrimaryHomeServer') ?? '').toLowerCase() === pool.homeServerDn.toLowerCase());
    const changes: HomedUser[] = [];
    for (const e of homed) {
      const uri = attr(e, 'msRTCSIP-PrimaryUserAddress') ?? '';
      const sam = attr(e, 'sAMAccountName') ?? e.dn.slice(3, e.dn.indexOf(','));
      const known = homedUserBySam(store, sam);
      if (known && known.pool === pool.name && known.sipAddress === uri) continue;
      changes.push({ sam, dn: e.dn, sipAddress: uri, pool: pool.name });
    }
    // The pass's changes go to the RTC database in one batch; should it fail, the next pass tries again.
    const rows = changes.map((u) => ({ key: u.sipAddress, row: { sipAddress: u.sipAddress, sam: u.sam, dn: u.dn, homePool: u.pool } }));
    const written = rows.length && !peers.sql.writeRows(pool.backEnd, 'RTC', 'Resource', rows).ok ? [] : changes;
    store = withUsers(store, written);
    const changed = written.length;
    const domain = ctx.topology.forest.fqdn;
    if (!owner.replicatedDomains.includes(domain)) {
      store = withServer(store, { ...owner, replicatedDomains: [...owner.replicatedDomains, domain] });
      emitted.push({
        type: 'eventlog.write',
        summary: `User Replicator on ${owner.host}: initial synchronization of ${domain} complete (event 30024)`,
        entry: {
          host: owner.host,
          log: 'Office Communications Server',
          source: 'OCS User Replicator',
          eventId: 30024,
          level: 'Information',
          // The product's text (TechNet, "verify user replication" [V]).
          message: `User Replicator has completed initial synchronization of domain ${domain} (DN: ${domainDn(domain)}) and the database. Future synchronization for this domain will occur as changes are made in Active Directory.`,
        },
      } as EventLogWrite);
    }
    if (changed) emitted.push(ev('ocs.usersReplicated', `User Replicator on ${owner.host} wrote ${changed} user(s) homed on ${pool.name} into the RTC database`, { pool: pool.name, count: changed }));
  }
  return { store, emitted };
}
