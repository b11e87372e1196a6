// A clock tests move by hand, so nothing sleeps on wall-clock time.
import type { Clock } from '../ports/clock.js';

export class ManualClock implements Clock {
  private current: number;

  constructor(start: Date | string | number = '2030-01-01T00:00:00Z') {
    this.current = new Date(start).getTime();
    if (Number.isNaN(this.current)) throw new TypeError('ManualClock: start must be a valid date');
  }

  now(): Date {
    return new Date(this.current);
  }

  set(instant: Date | string | number): void {
    this.current = new Date(instant).getTime();
  }

  advance(ms: number): Date {
    this.current += ms;
    return this.now();
  }

  advanceMinutes(minutes: number): Date {
    return this.advance(minutes * 60_000);
  }
}
