/**
 * Steps every lab has, whatever its emulators: letting simulated time pass, and looking at what the
 * journal recorded (Windows event logs, emitted events). Event log checks read what Event Viewer would
 * show on the host; they are how an operator confirms a symptom (SCM 7000, OCS 14428 ...).
 */
import { z } from 'zod';
import { formatDuration, parseDuration } from './clock.js';
import type { WindowsEventRecord } from './journal.js';
import { defineStep, failed, passed, type StepDefinition } from './steps.js';

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

export const coreSteps: StepDefinition[] = [labWait, eventlogEntry, journalEvent];

/** The vocabulary a lab offers: the core steps plus the emulators' (an emulator's step of the same name wins). */
export function withCoreSteps(steps: readonly StepDefinition[]): StepDefinition[] {
  const names = new Set(steps.map((s) => s.name));
  return [...coreSteps.filter((s) => !names.has(s.name)), ...steps];
}
