import { describe, expect, it } from 'vitest';
import { SimClock } from './clock.js';

describe('a simulated clock resumed after a pause', () => {
  it('moves the date on, keeps what each timer had left, and does not count the pause as elapsed', () => {
    const clock = new SimClock(Date.UTC(2026, 0, 1));
    const fired: Array<[string, number, number]> = [];
    clock.advance(5_000);
    clock.setTimeout(() => fired.push(['a', clock.now(), clock.elapsed()]), 10_000);
    clock.setTimeout(() => fired.push(['b', clock.now(), clock.elapsed()]), 10_000);
    clock.setTimeout(() => fired.push(['c', clock.now(), clock.elapsed()]), 20_000);
    const day = 86_400_000;
    clock.resumeAfter(day);
    expect(fired).toEqual([]);
    expect(clock.now()).toBe(Date.UTC(2026, 0, 2) + 5_000);
    expect(clock.elapsed()).toBe(5_000);
    clock.advance(9_999);
    expect(fired).toEqual([]);
    clock.advance(1);
    clock.advance(10_000);
    expect(fired).toEqual([
      ['a', Date.UTC(2026, 0, 2) + 15_000, 15_000],
      ['b', Date.UTC(2026, 0, 2) + 15_000, 15_000],
      ['c', Date.UTC(2026, 0, 2) + 25_000, 25_000],
    ]);
  });

  it('keeps the pause in its saved reading', () => {
    const clock = new SimClock(1_000_000);
    clock.advance(500);
    clock.resumeAfter(2_000_000);
    const again = SimClock.at(clock.position());
    expect(again.now()).toBe(3_000_500);
    expect(again.elapsed()).toBe(500);
  });
});
