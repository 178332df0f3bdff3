/**
 * Steps every lab has, whatever its emulators: letting simulated time pass, and looking at what the
 * journal recorded (Windows event logs, emitted events). Event log checks read what Event Viewer would
 * show on the host; they are how an operator confirms a symptom (SCM 7000, OCS 14428 ...).
 */
import { z } from 'zod';
import { formatDuration, parseDuration } from './clock.js';
import type { WindowsEventRecord } from './journal.js';
import { defineCheck, defineStep, failed, passed, type StepDefinition } from './steps.js';
import { isUnreachable, unreachableText, type PresentedCertificate } from './probes.js';
import type { Topology } from './topology.js';

const duration = z
  .union([z.string(), z.number()])
  .refine((v) => parseDuration(v) !== undefined, { message: 'a duration such as "90s", "15m", "2h", "1d", "500ms" or a number of milliseconds' });

const ms = (v: string | number): number => parseDuration(v) ?? 0;

const LEVELS = ['Information', 'Warning', 'Error', 'Critical'] as const;

/** How Event Viewer lists an entry: `ocsfe01 System Error 7000 Service Control Manager: message`. */
export function formatEventRecord(r: Pick<WindowsEventRecord, 'host' | 'log' | 'level' | 'eventId' | 'source' | 'message'>): string {
  return `${r.host} ${r.log} ${r.level} ${r.eventId} ${r.source}: ${r.message}`;
}

export const labWait = defineStep({
  name: 'lab.wait',
  kind: 'action',
  summary: 'Let simulated time pass (replication, service start-up, scheduled tasks)',
  params: z.strictObject({ duration }),
  title: (p) => `Wait ${formatDuration(ms(p.duration))}`,
  emulated: ({ lab }, p) => {
    lab.advance(ms(p.duration));
    return passed();
  },
});

const eventEntryParams = z.strictObject({
  server: z.string(),
  log: z.string().optional(),
  source: z.string().optional(),
  eventId: z.number().int().nonnegative(),
  level: z.enum(LEVELS).optional(),
  present: z.boolean().default(true),
  messageContains: z.string().optional(),
  /** For `present: true`: let simulated time pass up to this long for the entry to appear. */
  within: duration.optional(),
});

type EventEntryParams = z.output<typeof eventEntryParams>;

function describeEntry(p: EventEntryParams): string {
  const source = p.source ? ` from ${p.source}` : '';
  const level = p.level ? ` ${p.level.toLowerCase()}` : '';
  const log = p.log ? `the ${p.log} log` : 'the event logs';
  const text = p.messageContains ? ` mentioning "${p.messageContains}"` : '';
  return `${level ? `${level.trim()} ` : ''}event ${p.eventId}${source}${text} in ${log} of ${p.server}`;
}

export const eventlogEntry = defineStep({
  name: 'eventlog.entry',
  kind: 'check',
  summary: 'An entry is (or is not) in a host event log, as Event Viewer shows it',
  params: eventEntryParams,
  refs: { server: 'host' },
  console: (p) => `Event Viewer on ${p.server}: ${p.log ?? 'the log'}, event ${p.eventId}${p.source ? ` from ${p.source}` : ''}`,
  title: (p) => (p.present ? `Event log: ${describeEntry(p)}` : `Event log: no ${describeEntry(p)}`),
  emulated: ({ lab }, p) => {
    const matching = () =>
      lab.journal
        .eventLog(p.server, p.log)
        .filter(
          (r) =>
            r.eventId === p.eventId &&
            (!p.source || r.source.toLowerCase() === p.source.toLowerCase()) &&
            (!p.level || r.level === p.level) &&
            (!p.messageContains || r.message.toLowerCase().includes(p.messageContains.toLowerCase())),
        );
    if (p.present && p.within !== undefined) lab.waitFor(() => matching().length > 0, ms(p.within));
    const found = matching();
    if (p.present && found.length) return passed(found.map(formatEventRecord));
    if (!p.present && !found.length) return passed();
    if (p.present) {
      const recent = lab.journal.eventLog(p.server, p.log).slice(-5).map(formatEventRecord);
      return failed(`expected ${describeEntry(p)}, found none`, recent.length ? ['latest entries:', ...recent] : [`${p.server} has no entries${p.log ? ` in ${p.log}` : ''}`]);
    }
    return failed(`expected no ${describeEntry(p)}, found ${found.length}`, found.map(formatEventRecord));
  },
});

export const journalEvent = defineStep({
  name: 'journal.event',
  kind: 'check',
  console: () => "nowhere: the lab's journal (what its emulators emitted) has no counterpart on a real server",
  summary: 'A component emitted (or did not emit) an event of this type, optionally with this text in its summary',
  params: z.strictObject({
    type: z.string().regex(/^[^.\s]+\.[^\s]+$/, 'a dot-namespaced event type such as "ad.objectCreated"'),
    present: z.boolean().default(true),
    summaryContains: z.string().optional(),
  }),
  title: (p) => `${p.present ? 'Journal has' : 'Journal has no'} ${p.type}${p.summaryContains ? ` mentioning "${p.summaryContains}"` : ''}`,
  emulated: ({ lab }, p) => {
    const found = lab.journal.entries.filter((e) => e.event.type === p.type && (!p.summaryContains || (e.event.summary ?? '').includes(p.summaryContains)));
    const lines = found.map((e) => `${e.source}: ${e.event.summary ?? e.event.type}`);
    if (p.present === found.length > 0) return passed(lines);
    return p.present ? failed(`expected a ${p.type} event, found none`) : failed(`expected no ${p.type} event, found ${found.length}`, lines);
  },
});

type TlsObservation = { presented: PresentedCertificate } | { noAnswer: string } | { error: string };

/** The address and name a TLS check dials: a pool's virtual IP and FQDN, or a host's. */
function tlsEndpoint(t: Topology, p: { server?: string | undefined; pool?: string | undefined }): { address: string; fqdn: string } | undefined {
  const pool = p.pool ? t.pools.find((x) => x.name.toLowerCase() === p.pool?.toLowerCase()) : undefined;
  if (pool) return { address: pool.vip, fqdn: pool.fqdn };
  const host = p.server ? t.hosts.find((x) => x.name.toLowerCase() === p.server?.toLowerCase()) : undefined;
  return host ? { address: host.ip, fqdn: host.fqdn } : undefined;
}

/**
 * The certificate a TLS port presents, as `openssl s_client -connect` shows it: what a client sees before
 * it decides whether to trust it (a pool certificate named for the server, a SAN without sip.<domain>).
 */
export const tlsCertificate = defineCheck({
  name: 'tls.certificate',
  summary: 'The certificate a TLS port presents (openssl s_client): subject, SAN, issuer; or that nothing answers there',
  params: z
    .strictObject({
      server: z.string().optional(),
      pool: z.string().optional(),
      port: z.number().int().min(1).max(65535).default(443),
      servername: z.string().optional(),
      subjectCN: z.string().optional(),
      sanContains: z.array(z.string()).optional(),
      issuerCN: z.string().optional(),
      listening: z.boolean().default(true),
    })
    .refine((p) => (p.server === undefined) !== (p.pool === undefined), { message: 'give exactly one of server or pool' }),
  refs: { server: 'host', pool: 'pool' },
  title: (p, t) => `openssl s_client -connect ${tlsEndpoint(t, p)?.fqdn ?? p.server ?? p.pool}:${p.port}${p.listening ? (p.subjectCN ? `: CN=${p.subjectCN}` : '') : ': nothing answers'}`,
  probe: {
    observe: async (probes, p, t): Promise<TlsObservation> => {
      const at = tlsEndpoint(t, p) as { address: string; fqdn: string };
      const r = await probes.tlsHandshake({ address: at.address, port: p.port, servername: p.servername ?? at.fqdn });
      if (isUnreachable(r)) return { noAnswer: unreachableText(r) };
      return r.ok ? { presented: r.certificate } : { error: r.error };
    },
    judge: (o: TlsObservation, p) => {
      if (!p.listening) return 'presented' in o ? failed(`expected nothing to answer TLS on port ${p.port}, found CN=${o.presented.subjectCN}`) : passed(['noAnswer' in o ? o.noAnswer : o.error]);
      if ('noAnswer' in o) return failed(o.noAnswer);
      if ('error' in o) return failed(o.error);
      const c = o.presented;
      const seen = [`CN=${c.subjectCN}, issued by CN=${c.issuerCN}`, `SAN: ${c.sans.join(', ') || 'none'}`, `Thumbprint: ${c.thumbprint}`];
      const problems: string[] = [];
      if (p.subjectCN && c.subjectCN.toLowerCase() !== p.subjectCN.toLowerCase()) problems.push(`expected CN=${p.subjectCN}, found CN=${c.subjectCN}`);
      const missing = (p.sanContains ?? []).filter((x) => !c.sans.includes(x.toLowerCase()));
      if (missing.length) problems.push(`expected SAN to contain ${missing.join(', ')}, found ${c.sans.join(', ') || 'no SAN'}`);
      if (p.issuerCN && c.issuerCN.toLowerCase() !== p.issuerCN.toLowerCase()) problems.push(`expected issuer CN=${p.issuerCN}, found CN=${c.issuerCN}`);
      return problems.length ? failed(problems.join('; '), seen) : passed(seen);
    },
  },
});

export const coreSteps: StepDefinition[] = [labWait, eventlogEntry, journalEvent, tlsCertificate];

/** The vocabulary a lab offers: the core steps plus the emulators' (an emulator's step of the same name wins). */
export function withCoreSteps(steps: readonly StepDefinition[]): StepDefinition[] {
  const names = new Set(steps.map((s) => s.name));
  return [...coreSteps.filter((s) => !names.has(s.name)), ...steps];
}
