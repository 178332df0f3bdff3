/**
 * What an action wrote to the lab's DNS, as LDAP operations on the AD-integrated zone of a real DC
 * (decision 0016). A Windows (or Samba) DNS server keeps an AD-integrated zone's records in the
 * directory: one `dnsNode` per name under `DC=<zone>,CN=MicrosoftDNS,DC=DomainDnsZones,<domain>`, its
 * records in the binary `dnsRecord` attribute (MS-DNSP §2.3.2.2), and serves what is written there. An
 * LDAP write is therefore a protocol the real server accepts, with the credentials a replay already has.
 *
 * A records are written; other types and new zones are left to the operator (DNS Manager), said so in
 * the plan: the lab does not yet encode their data in the directory's form.
 */
import type { Lab } from '../../sim/lab.js';
import type { PlanContext, PlanOp, Planner } from '../../sim/plan.js';
import { domainDn } from '../../sim/topology.js';
import { DNS_ID, type DnsRecord } from './dns.events.js';
import { dnsZoneStore } from './dns.client.js';

const recordKey = (zone: string, r: DnsRecord) => JSON.stringify([zone, r.name, r.type, r.data]);

/** DNS_RPC_RECORD as `dnsRecord` stores it: A records (type 1), rank zone, TTL big-endian. */
export function dnsRecordValue(r: Extract<DnsRecord, { type: 'A' }>, serial = 1): Buffer {
  const data = Buffer.from(r.data.split('.').map(Number));
  const b = Buffer.alloc(24 + data.length);
  b.writeUInt16LE(data.length, 0);
  b.writeUInt16LE(1, 2);
  b[4] = 0x05;
  b[5] = 0xf0;
  b.writeUInt16LE(0, 6);
  b.writeUInt32LE(serial, 8);
  b.writeUInt32BE(r.ttl, 12);
  data.copy(b, 24);
  return b;
}

export const dnsPlanner: Planner = {
  capture(lab: Lab): Set<string> {
    return new Set(dnsZoneStore(lab.get(DNS_ID)).flatMap((z) => [`zone:${z.name}`, ...z.records.map((r) => recordKey(z.name, r))]));
  },

  plan(lab: Lab, before: unknown, ctx: PlanContext): { ops: PlanOp[]; operator: string[] } {
    const was = before as Set<string>;
    const zones = dnsZoneStore(lab.get(DNS_ID));
    const ops: PlanOp[] = [];
    const operator: string[] = [];
    for (const z of zones) {
      if (!was.has(`zone:${z.name}`)) {
        operator.push(`create the zone ${z.name} (DNS Manager, New Zone: Active Directory-integrated primary)`);
        continue;
      }
      for (const r of z.records) {
        // The SOA's serial moves with every change: the server keeps it, nobody writes it.
        if (r.type === 'SOA' || was.has(recordKey(z.name, r))) continue;
        if (r.type !== 'A') {
          operator.push(`add ${r.name} ${r.type} in zone ${z.name} (DNS Manager)`);
          continue;
        }
        const rel = r.name === z.name ? '@' : r.name.slice(0, -(z.name.length + 1));
        const dn = `DC=${rel},DC=${z.name},CN=MicrosoftDNS,DC=DomainDnsZones,${domainDn(ctx.topology.forest.fqdn)}`;
        ops.push({ op: 'add', dn, attributes: { objectClass: ['top', 'dnsNode'], dnsRecord: [dnsRecordValue(r).toString('hex')] }, binary: ['dnsRecord'], ifExists: 'addValues' });
        // A node whose records were all deleted stays as a tombstone: bring it back, or it is not served.
        ops.push({ op: 'modify', dn, changes: [{ operation: 'replace', attribute: 'dNSTombstoned', values: ['FALSE'] }] });
      }
    }
    return { ops, operator };
  },
};
