/**
 * The lifecycle every wire adapter follows (testcontainers' started handle): `start…(lab, options)`
 * resolves once the socket listens, with its address and a `stop()` that closes it and every
 * connection. Nothing listens as a side effect of an import. Adapters bind to loopback by default.
 */
export interface ListenOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface Listening {
  /** "ldap", "dns", "https", "sip-tls" ... */
  protocol: string;
  host: string;
  port: number;
  /** For URL-shaped endpoints: "ldap://127.0.0.1:3890". */
  url?: string;
  stop(): Promise<void>;
}

/** Waits (real time, bounded) until `check` holds; the wire delivers in milliseconds. */
export async function eventually(check: () => boolean, limitMs = 5000): Promise<boolean> {
  const until = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

/**
 * Long work of the wire adapters (a search over a huge filter) runs here, in small slices, one slice per
 * turn of the event loop for all of them together, round robin: between two slices Node reads every
 * socket, so a cheap request (a DNS query, an OPTIONS) waits for at most one slice, however many long
 * ones are running. A real DC runs such searches on other threads; the lab has one, so it takes turns.
 */
export interface SlicedWork {
  /** Does a little more; true once finished. */
  step(): boolean;
}

/** How long one slice may run before the loop is let go (wall time; it only paces, it decides nothing). */
export const SLICE_MS = 1;

const waiting: SlicedWork[] = [];
let scheduled = false;

function turn(): void {
  scheduled = false;
  const work = waiting.shift();
  if (!work) return;
  const end = performance.now() + SLICE_MS;
  let finished = false;
  try {
    do finished = work.step();
    while (!finished && performance.now() < end);
  } catch {
    // `step` reports its own failures; a throw here must not stop everyone else's work.
    finished = true;
  }
  if (!finished) waiting.push(work);
  if (waiting.length && !scheduled) {
    scheduled = true;
    setImmediate(turn);
  }
}

/** How many pieces of long work are waiting for their next slice (diagnostics and tests). */
export const waitingWork = (): number => waiting.length;

/** Queues long work: it runs a slice at a time, taking turns with all other long work. */
export function giveWay(work: SlicedWork): void {
  waiting.push(work);
  if (!scheduled) {
    scheduled = true;
    setImmediate(turn);
  }
}

/**
 * The connections of a listener with a cap, and who makes room when a newcomer arrives at it. The order,
 * the same for LDAP, DNS over TCP and SIP: first a connection that has never completed a message (the
 * longest-connected of those: it had the longest to say something), then one that holds nothing worth
 * keeping (no registration, no bind) and has been idle longest, and only then the longest-idle of the
 * rest. So clients that connect and dribble, or send one message and go silent, are the first to go,
 * and a quiet registered Communicator is the last. Times are wall time: they order, they decide no outcome.
 */
export class ConnectionRoster<K> {
  private readonly entries = new Map<K, { since: number; last: number | undefined }>();

  /** `keeps(k)` says a connection holds something worth keeping (a registration, a bind). */
  constructor(private readonly keeps: (k: K) => boolean = () => false) {}

  get size(): number {
    return this.entries.size;
  }

  add(k: K): void {
    this.entries.set(k, { since: performance.now(), last: undefined });
  }

  /** The connection completed a message (or a keep-alive). */
  active(k: K): void {
    const e = this.entries.get(k);
    if (e) e.last = performance.now();
  }

  delete(k: K): void {
    this.entries.delete(k);
  }

  keys(): IterableIterator<K> {
    return this.entries.keys();
  }

  /** Who makes room; undefined when there is nobody. */
  victim(): K | undefined {
    let best: K | undefined;
    let bestRank: [number, number] | undefined;
    for (const [k, e] of this.entries) {
      const rank: [number, number] = e.last === undefined ? [0, e.since] : [this.keeps(k) ? 2 : 1, e.last];
      if (!bestRank || rank[0] < bestRank[0] || (rank[0] === bestRank[0] && rank[1] < bestRank[1])) [best, bestRank] = [k, rank];
    }
    return best;
  }
}
