/**
 * The DNS part of the rehearsal: what the operator does in DNS Manager (or with dnscmd) and checks with
 * nslookup.
 */
import { z } from 'zod';
import { defineCheck, defineStep, failed, passed, type StepDefinition } from '../../sim/steps.js';
import { isUnreachable, unreachableText } from '../../sim/probes.js';
import { DNS_ID } from './dns.events.js';
import { dnsAddRecord, dnsAddZone, dnsRemoveRecord } from './dns.client.js';

const recordType = z.enum(['A', 'SRV', 'CNAME']);
const port = z.number().int().min(0).max(65535);
const recordFields = {
  name: z.string().min(1),
  type: recordType,
  address: z.string().optional(),
  target: z.string().optional(),
  port: port.optional(),
  priority: port.optional(),
  weight: port.optional(),
};

/** "_sipinternaltls._tcp.example.com SRV 0 0 5061 sip.example.com", from step parameters. */
function describe(p: { name: string; type: string; address?: string | undefined; target?: string | undefined; port?: number | undefined; priority?: number | undefined; weight?: number | undefined }): string {
  if (p.type === 'A') return `${p.name} A ${p.address ?? '?'}`;
  if (p.type === 'CNAME') return `${p.name} CNAME ${p.target ?? '?'}`;
  return `${p.name} SRV ${p.priority ?? 0} ${p.weight ?? 0} ${p.port ?? '?'} ${p.target ?? '?'}`;
}

const addRecord = defineStep({
  name: 'dns.addRecord',
  kind: 'action',
  writes: 'directory',
  summary: 'Add an A, SRV or CNAME record to the zone that holds its name',
  params: z.strictObject({ ...recordFields, ttl: z.number().int().positive().optional() }),
  title: (p) => `Add DNS record ${describe(p)}`,
  emulated: ({ lab }, p) => {
    const r = dnsAddRecord(lab.get(DNS_ID), p);
    return r.ok ? passed([`${r.value.record.text} in zone ${r.value.zone}`]) : failed(r.failure.message);
  },
});

const removeRecord = defineStep({
  name: 'dns.removeRecord',
  kind: 'action',
  summary: 'Delete the records at a name of a type (matching the data given)',
  params: z.strictObject(recordFields),
  title: (p) => `Delete DNS record ${p.name} ${p.type}`,
  emulated: ({ lab }, p) => {
    const r = dnsRemoveRecord(lab.get(DNS_ID), p);
    return r.ok ? passed(r.value.removed.map((x) => `deleted ${x.text}`)) : failed(r.failure.message);
  },
});

const addZone = defineStep({
  name: 'dns.addZone',
  kind: 'action',
  summary: 'Create an Active Directory-integrated primary forward lookup zone',
  params: z.strictObject({ zone: z.string().min(1) }),
  title: (p) => `Create DNS zone ${p.zone}`,
  emulated: ({ lab }, p) => {
    const r = dnsAddZone(lab.get(DNS_ID), p);
    return r.ok ? passed() : failed(r.failure.message);
  },
});

/** What nslookup got: the response code and the answers, as text. */
type ResolveObservation = { unreachable: string; timedOut: boolean } | { rcode: string; answers: Array<{ type: string; data: string; text: string }> };

/** Lines in the spirit of nslookup's output, for the report. */
function nslookupLines(name: string, r: Extract<ResolveObservation, { rcode: string }>): string[] {
  if (r.rcode === 'REFUSED') return [`*** lab DNS can't find ${name}: Query refused`];
  if (r.rcode === 'NXDOMAIN') return [`*** lab DNS can't find ${name}: Non-existent domain`];
  if (r.rcode === 'SERVFAIL') return [`*** lab DNS can't find ${name}: Server failed`];
  if (!r.answers.length) return [`${name}: no records of that type (NOERROR, no answers)`];
  return r.answers.map((a) => a.text);
}

const resolveCheck = defineCheck({
  name: 'dns.resolve',
  summary: 'Query the lab DNS as nslookup would and compare the answer (rcode, answer data, or a substring)',
  params: z.strictObject({
    name: z.string().min(1),
    type: z.enum(['A', 'SRV', 'CNAME', 'SOA', 'NS', 'ANY']).default('A'),
    expect: z
      .strictObject({
        rcode: z.enum(['NOERROR', 'NXDOMAIN', 'REFUSED', 'SERVFAIL']).optional(),
        answers: z.array(z.string()).optional(),
        contains: z.string().optional(),
      })
      .default({}),
  }),
  title: (p) => `nslookup -type=${p.type} ${p.name}`,
  probe: {
    observe: async (probes, p): Promise<ResolveObservation> => {
      const r = await probes.dnsQuery({ name: p.name, type: p.type });
      if (isUnreachable(r)) return { unreachable: unreachableText(r), timedOut: r.error.startsWith('timeout') };
      return { rcode: r.rcode, answers: r.answers.map((a) => ({ type: a.type, data: a.data, text: `${a.name} ${a.type} ${a.data}` })) };
    },
    judge: (q: ResolveObservation, p) => {
      // nslookup's words when nothing answers; the address and error go in the details.
      if ('unreachable' in q) return failed(q.timedOut ? 'DNS request timed out.' : q.unreachable, [q.unreachable]);
      const details = nslookupLines(p.name, q);
      const problems: string[] = [];
      const { rcode, answers, contains } = p.expect;
      // With no expectation at all, the operator expects the name to resolve.
      const wantRcode = rcode ?? (answers || contains ? undefined : 'NOERROR');
      if (wantRcode && q.rcode !== wantRcode) problems.push(`expected ${wantRcode}, found ${q.rcode}`);
      if (!rcode && !answers && !contains && q.rcode === 'NOERROR' && !q.answers.length) problems.push('expected answers, found none');
      if (answers) {
        const found = q.answers.filter((a) => p.type === 'ANY' || a.type === p.type).map((a) => a.data);
        const norm = (xs: string[]) => xs.map((x) => x.toLowerCase().replace(/\.$/, '')).sort();
        if (JSON.stringify(norm(found)) !== JSON.stringify(norm(answers))) problems.push(`expected answers [${answers.join(', ')}], found [${found.join(', ')}]`);
      }
      if (contains && !q.answers.some((a) => a.text.toLowerCase().includes(contains.toLowerCase()))) problems.push(`expected an answer containing "${contains}", found [${q.answers.map((a) => a.text).join('; ')}]`);
      return problems.length ? failed(problems.join('; '), details) : passed(details);
    },
  },
});

export const dnsSteps: StepDefinition[] = [addRecord, removeRecord, addZone, resolveCheck];
