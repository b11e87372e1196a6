// Domain behaviour that surviving mutants showed no test pinned (see docs/mutation-testing.md).
import { describe, expect, it } from 'vitest';
import { assertValidPlanTable, atWallClock, isBookingError, nextDayCopy, wallClockOf } from '../../src/index.js';

describe('isBookingError on a lookalike', () => {
  it('refuses an error whose code is not a string, even one that reads as a known code', () => {
    // An array stringifies to 'INVALID_INPUT', so only the string check refuses it.
    const lookalike = { name: 'BookingError', code: ['INVALID_INPUT'], status: 400, message: 'x' };
    expect(isBookingError(lookalike)).toBe(false);
    expect(isBookingError({ ...lookalike, code: 'INVALID_INPUT' })).toBe(true);
  });
});

describe('assertValidPlanTable on a host-supplied table', () => {
  it('names the plan whose rule is missing instead of failing on a property read', () => {
    expect(() => assertValidPlanTable({ standard: undefined } as never)).toThrow(
      new TypeError("plans.standard.mode must be 'pay', 'free' or 'reject'"),
    );
  });
});

describe('wallClockOf', () => {
  it('keeps the seconds of an instant that is not on a whole minute', () => {
    expect(wallClockOf(new Date('2030-03-01T09:00:30.000Z'), 'UTC')).toBe('09:00:30.000');
  });

  it('keeps the milliseconds of an instant on a whole second but not a whole minute', () => {
    expect(wallClockOf(new Date('2030-03-01T09:00:00.250Z'), 'UTC')).toBe('09:00:00.250');
  });

  it('is HH:mm on a whole minute', () => {
    expect(wallClockOf(new Date('2030-03-01T09:00:00.000Z'), 'Europe/Berlin')).toBe('10:00');
  });
});

describe('atWallClock next to a skipped calendar day', () => {
  // Samoa moved across the date line: 29 December 2011 (UTC-10) was followed by 31 December (UTC+14).
  // The offset 25 hours later is 24 hours away, so it lands on the same wall-clock time a day off.
  it('keeps the requested date when another offset in force gives the same time on a different day', () => {
    expect(atWallClock({ year: 2011, month: 12, day: 29 }, '09:00', 'Pacific/Apia').toISOString()).toBe(
      '2011-12-29T19:00:00.000Z',
    );
    expect(atWallClock({ year: 2011, month: 12, day: 31 }, '09:00', 'Pacific/Apia').toISOString()).toBe(
      '2011-12-30T19:00:00.000Z',
    );
  });
});

describe('nextDayCopy of a slot whose local date differs from its UTC date', () => {
  it('counts the next day from the local date in the slot’s own zone (east of UTC)', () => {
    // 08:30 in Tokyo on 11 March is 23:30 UTC on 10 March.
    const slot = {
      startTime: new Date('2030-03-10T23:30:00Z'),
      endTime: new Date('2030-03-11T00:00:00Z'),
      timeZone: 'Asia/Tokyo',
    };
    const copy = nextDayCopy(slot, '08:30', new Date('2030-03-01T00:00:00Z'));
    expect(copy.startTime.toISOString()).toBe('2030-03-11T23:30:00.000Z');
    expect(copy.endTime.toISOString()).toBe('2030-03-12T00:00:00.000Z');
  });

  it('counts the next day from the local date in the slot’s own zone (west of UTC)', () => {
    // 20:00 in Los Angeles on 10 March is 03:00 UTC on 11 March (PDT from 10 March 2030).
    const slot = {
      startTime: new Date('2030-03-11T03:00:00Z'),
      endTime: new Date('2030-03-11T03:30:00Z'),
      timeZone: 'America/Los_Angeles',
    };
    const copy = nextDayCopy(slot, '20:00', new Date('2030-03-01T00:00:00Z'));
    expect(copy.startTime.toISOString()).toBe('2030-03-12T03:00:00.000Z');
  });
});
