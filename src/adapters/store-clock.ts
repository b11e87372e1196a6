// The stores' `clock` option (and the deprecated `now` it replaces), checked the same way in every store.
import { type Clock, systemClock } from '../ports/clock.js';

/** The time options every store takes. */
export interface StoreClockOptions {
  clock?: Clock;
  /** @deprecated Use `clock`. */
  now?: () => Date;
}

/**
 * The clock a store stamps records with: `clock`, else the deprecated `now` wrapped as a
 * Clock, else the system clock. Fails fast on both at once (they would disagree silently)
 * and on a clock without `now()`.
 */
export function resolveStoreClock(owner: string, options: StoreClockOptions): Clock {
  const { clock, now } = options;
  if (clock !== undefined && now !== undefined) {
    throw new TypeError(
      `${owner}: pass clock or now, not both; keep clock (the engine's option name) and drop the deprecated now`,
    );
  }
  if (now !== undefined) {
    if (typeof now !== 'function') {
      throw new TypeError(
        `${owner}: options.now must be a function returning a Date (now is deprecated: pass clock: { now: () => new Date() })`,
      );
    }
    return { now: () => now() };
  }
  if (clock === undefined) return systemClock;
  if (clock === null || typeof clock !== 'object' || typeof (clock as Partial<Clock>).now !== 'function') {
    throw new TypeError(
      `${owner}: options.clock must be a Clock, an object with a now() function returning a Date (e.g. the engine's clock, or { now: () => new Date() })`,
    );
  }
  return clock;
}
