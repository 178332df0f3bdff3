/**
 * The journal: every event a lab's actors emit, stamped with simulated time, plus the Windows-style event
 * logs of every host. Reports, checks and the trace all read from here; nothing reads the machines' minds.
 */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** What machines emit. `summary` is the one line an operator would read in the step report. */
export interface LabEvent {
  type: `${string}.${string}`;
  summary?: string;
  [key: string]: unknown;
}

export type EventLevel = 'Information' | 'Warning' | 'Error' | 'Critical';

/** An entry as a component writes it; the journal adds record number and time. */
export interface WindowsEventInput {
  /** Short host name, e.g. "ocsfe01". */
  host: string;
  /** "Application", "System", "Office Communications Server", "Directory Service", "DNS Server" ... */
  log: string;
  /** Event source, e.g. "Service Control Manager", "OCS User Replicator", "CertificationAuthority". */
  source: string;
  eventId: number;
  level: EventLevel;
  message: string;
  category?: string;
}

export interface WindowsEventRecord extends WindowsEventInput {
  recordId: number;
  timeCreated: string;
}

/** The event every machine emits to write a Windows event log entry. */
export interface EventLogWrite extends LabEvent {
  type: 'eventlog.write';
  entry: WindowsEventInput;
}

export interface JournalEntry {
  seq: number;
  /** Simulated milliseconds since the lab started. */
  t: number;
  at: string;
  /** The systemId of the actor that emitted it ("ad", "host:ocsfe01", "runner" ...). */
  source: string;
  event: LabEvent;
  /** Set when the entry was caused by an injected fault ("fault:msmq-not-installed"), not by a step. */
  cause?: string;
}

export interface Clockish {
  now(): number;
  elapsed(): number;
}

export interface SavedJournal {
  entries: JournalEntry[];
  logs: Record<string, WindowsEventRecord[]>;
}

export class Journal {
  readonly entries: JournalEntry[] = [];
  private readonly logs = new Map<string, WindowsEventRecord[]>();
  private readonly listeners = new Set<(entry: JournalEntry) => void>();
  private cause: string | undefined;

  constructor(private readonly clock: Clockish) {}

  record(source: string, event: LabEvent): JournalEntry {
    const entry: JournalEntry = {
      seq: this.entries.length + 1,
      t: this.clock.elapsed(),
      at: new Date(this.clock.now()).toISOString(),
      source,
      event,
      ...(this.cause !== undefined ? { cause: this.cause } : {}),
    };
    this.entries.push(entry);
    if (event.type === 'eventlog.write') this.writeEventLog((event as EventLogWrite).entry, entry.at);
    for (const l of this.listeners) l(entry);
    return entry;
  }

  /** Everything recorded so far, for a lab snapshot. */
  save(): SavedJournal {
    return { entries: [...this.entries], logs: Object.fromEntries([...this.logs].map(([host, records]) => [host, [...records]])) };
  }

  /** Puts back what `save()` returned, on an empty journal. */
  restore(saved: SavedJournal): void {
    if (this.entries.length) throw new Error('Journal.restore: the journal is not empty');
    this.entries.push(...saved.entries);
    for (const [host, records] of Object.entries(saved.logs)) this.logs.set(host, [...records]);
  }

  /** Runs `fn`, tagging every entry recorded meanwhile with `cause`. */
  withCause<T>(cause: string, fn: () => T): T {
    const outer = this.cause;
    this.cause = cause;
    try {
      return fn();
    } finally {
      this.cause = outer;
    }
  }

  /** Calls `listener` for every entry recorded from now on; returns the unsubscribe function. */
  subscribe(listener: (entry: JournalEntry) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every record of one host, optionally one log, oldest first. */
  eventLog(host: string, log?: string): WindowsEventRecord[] {
    const all = this.logs.get(host.toLowerCase()) ?? [];
    return log ? all.filter((r) => r.log.toLowerCase() === log.toLowerCase()) : all;
  }

  hosts(): string[] {
    return [...this.logs.keys()];
  }

  since(seq: number): JournalEntry[] {
    return this.entries.slice(seq);
  }

  private writeEventLog(input: WindowsEventInput, at: string): void {
    const key = input.host.toLowerCase();
    const list = this.logs.get(key) ?? [];
    const recordId = list.filter((r) => r.log === input.log).length + 1;
    list.push({ ...input, recordId, timeCreated: at });
    this.logs.set(key, list);
  }
}

/** One JSON line per journal entry: the trace. Key order is fixed, so equal runs give equal bytes. */
export function traceLine(entry: JournalEntry): string {
  const { type, ...rest } = entry.event;
  return JSON.stringify({ seq: entry.seq, t: entry.t, at: entry.at, source: entry.source, ...(entry.cause !== undefined ? { cause: entry.cause } : {}), type, ...rest });
}

export function traceText(entries: readonly JournalEntry[]): string {
  return entries.map(traceLine).join('\n') + (entries.length ? '\n' : '');
}
