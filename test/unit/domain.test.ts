// Pure domain rules: errors, plan policy, money, time zones, transitions.
import { describe, expect, it } from 'vitest';
import {
  BookingError,
  canTransitionBooking,
  canTransitionSchedule,
  DEFAULT_PLANS,
  decidePlan,
  ErrorCodes,
  formatLocal,
  isBookingError,
  isValidTimeZone,
  sameLocalTimeNextDay,
  sumByCurrency,
} from '../../src/index.js';

describe('BookingError', () => {
  it('carries a stable code, the HTTP status from the code map, and a JSON body without a stack', () => {
    const error = new BookingError('SCHEDULE_UNAVAILABLE', 'taken', { details: { scheduleId: 's1' } });
    expect(error).toMatchObject({ code: 'SCHEDULE_UNAVAILABLE', status: 409, name: 'BookingError' });
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      error: { code: 'SCHEDULE_UNAVAILABLE', message: 'taken', details: { scheduleId: 's1' } },
    });
  });

  it('maps every documented code to its status', () => {
    expect(ErrorCodes).toMatchObject({
      INVALID_INPUT: 400,
      SUBSCRIPTION_REQUIRED: 403,
      RELATION_REQUIRED: 403,
      NOT_ALLOWED: 403,
      SCHEDULE_NOT_FOUND: 404,
      BOOKING_NOT_FOUND: 404,
      SCHEDULE_UNAVAILABLE: 409,
      INVALID_TRANSITION: 409,
      INVALID_SIGNATURE: 400,
      PAYMENT_PROVIDER_ERROR: 502,
    });
  });

  it('is recognised by isBookingError across package copies (by code, not only instanceof)', () => {
    const foreign = { name: 'BookingError', code: 'NOT_ALLOWED', status: 403, message: 'no' };
    expect(isBookingError(foreign)).toBe(true);
    expect(isBookingError({ name: 'BookingError', code: 'MADE_UP', status: 400 })).toBe(false);
    expect(isBookingError(new Error('x'))).toBe(false);
    expect(isBookingError(null)).toBe(false);
  });

  it('keeps the provider error as cause', () => {
    const cause = new Error('stripe 500');
    expect(new BookingError('PAYMENT_PROVIDER_ERROR', 'x', { cause }).cause).toBe(cause);
  });
});

describe('plan policy', () => {
  it('follows the original table by default', () => {
    expect(decidePlan(DEFAULT_PLANS, 'none', 0)).toEqual({ outcome: 'reject' });
    for (const plan of ['freeTrial', 'standard', 'standardPlus']) {
      expect(decidePlan(DEFAULT_PLANS, plan, 0)).toEqual({ outcome: 'book', mode: 'paid', relationRequired: false });
    }
    expect(decidePlan(DEFAULT_PLANS, 'vise', 0)).toEqual({ outcome: 'book', mode: 'free', relationRequired: true });
  });

  it('rejects unknown plans and prototype keys', () => {
    expect(decidePlan(DEFAULT_PLANS, 'gold', 0)).toEqual({ outcome: 'reject' });
    expect(decidePlan(DEFAULT_PLANS, 'constructor', 0)).toEqual({ outcome: 'reject' });
    expect(decidePlan(DEFAULT_PLANS, '__proto__', 0)).toEqual({ outcome: 'reject' });
  });

  it('gives a free quota before paying', () => {
    const plans = { freeTrial: { mode: 'pay' as const, freeQuota: 1 } };
    expect(decidePlan(plans, 'freeTrial', 0)).toMatchObject({ mode: 'free' });
    expect(decidePlan(plans, 'freeTrial', 1)).toMatchObject({ mode: 'paid' });
  });
});

describe('transitions', () => {
  it('allows the documented slot and booking transitions only', () => {
    expect(canTransitionSchedule('available', 'pending')).toBe(true);
    expect(canTransitionSchedule('pending', 'available')).toBe(true);
    expect(canTransitionSchedule('expired', 'available')).toBe(false);
    expect(canTransitionBooking('pending', 'scheduled')).toBe(true);
    expect(canTransitionBooking('completed', 'cancelled')).toBe(false);
    expect(canTransitionBooking('cancelled', 'scheduled')).toBe(true);
  });
});

describe('money and time', () => {
  it('formats local times for notifications, midnight as 00', () => {
    expect(formatLocal(new Date('2030-03-02T08:00:00Z'), 'Europe/Berlin')).toBe('2030-03-02 09:00 (Europe/Berlin)');
    expect(formatLocal(new Date('2030-07-01T04:05:00Z'), 'America/New_York')).toBe(
      '2030-07-01 00:05 (America/New_York)',
    );
    expect(formatLocal(new Date('2030-12-31T23:59:00Z'), 'Asia/Kolkata')).toBe('2031-01-01 05:29 (Asia/Kolkata)');
  });

  it('sums per currency and never mixes currencies', () => {
    expect(
      sumByCurrency([
        { amount: 100, currency: 'eur' },
        { amount: 50, currency: 'usd' },
        { amount: -30, currency: 'eur' },
      ]),
    ).toEqual({ eur: 70, usd: 50 });
  });

  it('validates IANA zones', () => {
    expect(isValidTimeZone('Europe/Berlin')).toBe(true);
    expect(isValidTimeZone('Nowhere/Else')).toBe(false);
    expect(isValidTimeZone('')).toBe(false);
  });

  it('moves to the same local time next day across DST in both directions, and through a gap', () => {
    expect(sameLocalTimeNextDay(new Date('2030-03-30T08:00:00Z'), 'Europe/Berlin').toISOString()).toBe(
      '2030-03-31T07:00:00.000Z',
    );
    expect(sameLocalTimeNextDay(new Date('2030-10-26T07:00:00Z'), 'Europe/Berlin').toISOString()).toBe(
      '2030-10-27T08:00:00.000Z',
    );
    // 02:30 does not exist in Berlin on 2030-03-31: it moves forward by the gap to 03:30 CEST.
    expect(sameLocalTimeNextDay(new Date('2030-03-30T01:30:00Z'), 'Europe/Berlin').toISOString()).toBe(
      '2030-03-31T01:30:00.000Z',
    );
  });
});
