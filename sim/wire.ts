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

/** Queues long work: it runs a slice at a time, taking turns with all other long work. */
export function giveWay(work: SlicedWork): void {
  waiting.push(work);
  if (!scheduled) {
    scheduled = true;
    setImmediate(turn);
  }
}
