/** Faults of the dns emulator (see docs/emulator-guide.md, "Faults"). */
import { firstPool, firstSipDomain, type FaultContext, type FaultDefinition } from '../../sim/faults.js';
import { dnsAddRecord, dnsQuery, dnsRemoveRecord } from './dns.client.js';
import { DNS_ID } from './dns.events.js';

const lc = (s: string) => s.toLowerCase().replace(/\.$/, '');

function exists(ctx: FaultContext, name: string, type: 'A' | 'SRV'): boolean {
  const r = dnsQuery(ctx.lab.get(DNS_ID), { name, type });
  return r.ok && r.value.answers.some((a) => a.type === type);
}

function remove(ctx: FaultContext, name: string, type: 'A' | 'SRV'): boolean {
  return dnsRemoveRecord(ctx.lab.get(DNS_ID), { name, type }).ok;
}

/** The next `dns.addRecord` of this name and type is done with `change` applied: the operator's mistake. */
function mistypeNext(ctx: FaultContext, name: string, type: 'A' | 'SRV', change: (p: Record<string, unknown>) => Record<string, unknown>): void {
  ctx.rewriteNext('dns.addRecord', (p) => (typeof p.name === 'string' && lc(p.name) === lc(name) && p.type === type ? change(p) : undefined));
}

const forestOf = (ctx: FaultContext) => ctx.topology.forest.fqdn.toLowerCase();
const poolFqdn = (ctx: FaultContext) => ctx.topology.pools.find((p) => p.name === ctx.target)?.fqdn ?? `${ctx.target}.${forestOf(ctx)}`;

export const dnsFaults: FaultDefinition[] = [
  {
    id: 'pool-a-record-missing',
    title: "The pool's FQDN has no DNS A record",
    category: 'dns',
    target: 'pool',
    defaultTarget: firstPool,
    where: "Any time. Before the operator creates the pool's A record, that record is created in the SIP domain's zone instead (pool01.example.com); once it exists, it is deleted.",
    symptoms: [
      'Create Enterprise Pool succeeds with the warning "The pool FQDN pool01.corp.example.net could not be resolved in DNS. Create a DNS A record ..."',
      'nslookup pool01.corp.example.net: Non-existent domain',
      'Validate Server and Pool Functionality: "DNS A record for pool01.corp.example.net: Failure"',
      'Communicator: "Cannot synchronize with the corporate address book. The cause of the problem is unknown. ..." (the internal Address Book URL is on the pool FQDN)',
    ],
    fix: "Create the A record for the pool FQDN in the AD zone, pointing at the load balancer's virtual IP (dns.addRecord pool01.corp.example.net A 127.0.10.30).",
    certainty: 'practitioner',
    note: 'Address book symptom: the internal web farm FQDN defaults to the pool FQDN in this lab, so the download URL does not resolve; sign-in via sip.<domain> is unaffected.',
    inject: (ctx) => {
      const fqdn = poolFqdn(ctx);
      if (exists(ctx, fqdn, 'A')) {
        remove(ctx, fqdn, 'A');
        return { applied: true, note: `deleted the A record of ${fqdn}` };
      }
      const sip = firstSipDomain(ctx.topology) ?? forestOf(ctx);
      const wrong = `${ctx.target}.${sip}`;
      mistypeNext(ctx, fqdn, 'A', (p) => ({ ...p, name: wrong }));
      return { applied: true, note: `the next dns.addRecord of ${fqdn} A creates ${wrong} instead` };
    },
  },
  {
    id: 'sipinternaltls-srv-missing',
    title: 'No _sipinternaltls._tcp SRV record (nor sip.<SIP domain>) for automatic sign-in',
    category: 'dns',
    target: 'sipDomain',
    defaultTarget: firstSipDomain,
    where: 'Any time. Before the operator publishes the automatic sign-in records, they are created in the AD zone instead of the SIP domain; once they exist, they are deleted.',
    symptoms: [
      'Communicator (automatic configuration): "Cannot sign in because the server is temporarily unavailable. If the problem persists, contact your system administrator."',
      'Client Application/Communicator/1: "Communicator was unable to locate the login server. No DNS SRV records exist for domain example.com, so Communicator was unable to login."',
      'Client Application/Communicator/3: "Communicator was unable to resolve the DNS hostname of the login server sipinternal.example.com." (and sip., sipexternal.)',
      'nslookup -type=SRV _sipinternaltls._tcp.example.com: Non-existent domain',
    ],
    fix: 'Publish _sipinternaltls._tcp.<SIP domain> SRV 0 0 5061 sip.<SIP domain> and the A record sip.<SIP domain> on the pool VIP, in the SIP domain\'s zone.',
    certainty: 'practitioner',
    note: 'Both records go, as in the Perficient lab the client events come from; with only the SRV missing, the sip.<domain> A fallback still signs users in.',
    inject: (ctx) => {
      const d = lc(ctx.target);
      const srv = `_sipinternaltls._tcp.${d}`;
      const a = `sip.${d}`;
      const notes: string[] = [];
      for (const [name, type] of [[srv, 'SRV'], [a, 'A']] as const) {
        if (exists(ctx, name, type)) {
          remove(ctx, name, type);
          notes.push(`deleted ${name} ${type}`);
        } else {
          const wrong = name.replace(new RegExp(`${d.replace(/\./g, '\\.')}$`), forestOf(ctx));
          mistypeNext(ctx, name, type, (p) => ({ ...p, name: wrong }));
          notes.push(`the next dns.addRecord of ${name} ${type} creates ${wrong}`);
        }
      }
      return { applied: true, note: notes.join('; ') };
    },
  },
  {
    id: 'srv-target-outside-sip-domain',
    title: 'The _sipinternaltls._tcp SRV record points at the pool FQDN outside the SIP domain',
    category: 'dns',
    target: 'sipDomain',
    defaultTarget: firstSipDomain,
    where: 'Any time. Before the operator publishes the SRV record, it is created with the pool FQDN as target and the sip.<domain> A record is never made (created as <pool>.<SIP domain>); once they exist, the SRV is re-pointed and sip.<domain> deleted.',
    symptoms: [
      'nslookup -type=SRV _sipinternaltls._tcp.example.com: 0 0 5061 pool01.corp.example.net (it resolves)',
      'Communicator: "Cannot sign in because the server is temporarily unavailable. If the problem persists, contact your system administrator."',
      'Client Application/Communicator/3: "... unable to resolve the DNS hostname of the login server sip.example.com." (no event 1: an SRV record exists)',
      'Manual configuration with pool01.corp.example.net signs in (the pool certificate names it)',
    ],
    fix: 'Point the SRV record at sip.<SIP domain>, create sip.<SIP domain> A on the pool VIP, and keep sip.<SIP domain> in the pool certificate\'s SAN.',
    certainty: 'practitioner',
    note: 'Strict name matching [B] (Doug L., 2009). Whether Communicator logs event 1 when the only SRV target is set aside is not sourced; the lab logs only events 3 for the fallbacks.',
    inject: (ctx) => {
      const d = lc(ctx.target);
      const srv = `_sipinternaltls._tcp.${d}`;
      const a = `sip.${d}`;
      const pool = ctx.topology.pools[0];
      if (!pool) return { applied: false, note: 'no pool in the topology' };
      const notes: string[] = [];
      const ref = ctx.lab.get(DNS_ID);
      const current = dnsQuery(ref, { name: srv, type: 'SRV' });
      const srvs = current.ok ? current.value.answers.filter((x) => x.type === 'SRV') : [];
      if (srvs.length) {
        remove(ctx, srv, 'SRV');
        for (const s of srvs) {
          if (s.type !== 'SRV') continue;
          dnsAddRecord(ref, { name: srv, type: 'SRV', priority: s.data.priority, weight: s.data.weight, port: s.data.port, target: pool.fqdn });
        }
        notes.push(`re-pointed ${srv} at ${pool.fqdn}`);
      } else {
        mistypeNext(ctx, srv, 'SRV', (p) => ({ ...p, target: pool.fqdn }));
        notes.push(`the next dns.addRecord of ${srv} targets ${pool.fqdn}`);
      }
      if (exists(ctx, a, 'A')) {
        remove(ctx, a, 'A');
        notes.push(`deleted ${a} A`);
      } else {
        mistypeNext(ctx, a, 'A', (p) => ({ ...p, name: `${pool.name}.${d}` }));
        notes.push(`the next dns.addRecord of ${a} creates ${pool.name}.${d}`);
      }
      return { applied: true, note: notes.join('; ') };
    },
  },
];
