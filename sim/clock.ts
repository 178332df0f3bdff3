/**
 * The simulated clock every actor of a lab shares (passed to XState as the `clock` actor option).
 *
 * Time only moves when the runner says so: `advance(ms)` or `runUntil(predicate)`. Timers due at the
 * same instant fire in the order they were scheduled, so a run is a pure function of its inputs.
 */
export interface XStateClock {
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): number;
  clearTimeout(id: unknown): void;
}

interface Timer {
  id: number;
  due: number;
  seq: number;
  fn: () => void;
}

/** 6 July 2009, 09:00 UTC: a Monday shortly after the June 2009 update for OCS 2007 R2. */
export const DEFAULT_START = Date.UTC(2009, 6, 6, 9, 0, 0);

export interface RunUntilResult {
  satisfied: boolean;
  elapsedMs: number;
}

export class SimClock implements XStateClock {
  private current: number;
  private start: number;
  private readonly timers = new Map<number, Timer>();
  private nextId = 1;
  private seq = 0;

  constructor(start: number = DEFAULT_START) {
    this.start = start;
    this.current = start;
  }

  /** Milliseconds since the Unix epoch, in simulated time. */
  now(): number {
    return this.current;
  }

  /** Simulated milliseconds since the lab started. */
  elapsed(): number {
    return this.current - this.start;
  }

  iso(): string {
    return new Date(this.current).toISOString();
  }

  setTimeout(fn: (...args: unknown[]) => void, timeout: number): number {
    const id = this.nextId++;
    const delay = Number.isFinite(timeout) && timeout > 0 ? timeout : 0;
    this.timers.set(id, { id, due: this.current + delay, seq: this.seq++, fn: () => fn() });
    return id;
  }

  clearTimeout(id: unknown): void {
    if (typeof id === 'number') this.timers.delete(id);
  }

  /** The clock's reading, for a lab snapshot (timers are saved by who set them). */
  position(): { start: number; now: number } {
    return { start: this.start, now: this.current };
  }

  /** A clock at a saved reading, with no timers. */
  static at(position: { start: number; now: number }): SimClock {
    const clock = new SimClock(position.start);
    clock.current = position.now;
    return clock;
  }

  /**
   * The lab was suspended for `ms` and resumes now, as a virtual machine restored from a saved state: the
   * date moves on by `ms`, every waiting timer keeps the time it had left, and the lab's elapsed time does
   * not count the pause. Nothing fires. (`ocslab serve` resumes a saved rehearsal at today's date this way.)
   */
  resumeAfter(ms: number): void {
    const gap = Math.max(0, Math.round(ms));
    this.start += gap;
    this.current += gap;
    for (const t of this.timers.values()) t.due += gap;
  }

  /** The id the next `setTimeout` will return. */
  peekNextId(): number {
    return this.nextId;
  }

  /** Whether timer `id` is still waiting to fire. */
  has(id: number): boolean {
    return this.timers.has(id);
  }

  /** Number of timers waiting to fire. */
  pending(): number {
    return this.timers.size;
  }

  /** When the next timer is due, or undefined when nothing is scheduled. */
  nextDue(): number | undefined {
    const next = this.earliest();
    return next?.due;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    const target = this.current + Math.max(0, ms);
    for (;;) {
      const next = this.earliest();
      if (!next || next.due > target) break;
      this.fire(next);
    }
    this.current = target;
  }

  /**
   * Fires timers one at a time (moving time to each) until `predicate` holds or `limitMs` of simulated
   * time has passed. Returns whether the predicate held and how much simulated time it took.
   */
  runUntil(predicate: () => boolean, limitMs: number): RunUntilResult {
    const began = this.current;
    const deadline = began + Math.max(0, limitMs);
    while (!predicate()) {
      const next = this.earliest();
      if (!next || next.due > deadline) {
        this.current = Math.max(this.current, deadline);
        return { satisfied: predicate(), elapsedMs: this.current - began };
      }
      this.fire(next);
    }
    return { satisfied: true, elapsedMs: this.current - began };
  }

  private fire(timer: Timer): void {
    this.timers.delete(timer.id);
    if (timer.due > this.current) this.current = timer.due;
    timer.fn();
  }

  private earliest(): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.timers.values()) {
      if (!best || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    }
    return best;
  }
}

/** Parses durations written in scenarios: "90s", "15m", "2h", "1d", "500ms", or a number of milliseconds. */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit] ?? 1;
  return Math.round(n * factor);
}

/** Formats a simulated duration for people: "0 s", "45 s", "2 min 5 s", "1 h 3 min". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return ms === 0 ? '0 s' : `${ms} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  const rs = s % 60;
  if (m < 60) return rs ? `${m} min ${rs} s` : `${m} min`;
  const h = Math.floor(m / 60);
  const rm = m % 60;
  return rm ? `${h} h ${rm} min` : `${h} h`;
}

/**
 * Makes a simulated clock follow the wall clock (optionally faster), for a lab that serves real clients:
 * every `intervalMs` it advances by the real time that passed times `speed`, firing due timers.
 * Returns the function that stops following.
 */
export function followWallClock(
  clock: SimClock,
  options: { speed?: number; intervalMs?: number; now?: () => number; onError?: (error: unknown) => void } = {},
): () => void {
  const speed = options.speed ?? 1;
  const now = options.now ?? (() => Date.now());
  let last = now();
  const timer = setInterval(() => {
    const t = now();
    try {
      clock.advance((t - last) * speed);
    } catch (e) {
      // A timer that throws is a bug in the lab; it must not take a serving process down with it.
      options.onError?.(e);
    }
    last = t;
  }, options.intervalMs ?? 50);
  timer.unref?.();
  return () => clearInterval(timer);
}

