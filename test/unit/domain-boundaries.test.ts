// The pure domain rules at their edges: exact boundaries of money, time and state, where an off-by-one costs a patient or a doctor.
import { describe, expect, it } from 'vitest';
import {
  addMinutes,
  assertValidPlanTable,
  BOOKING_STATUSES,
  BookingError,
  type BookingStatus,
  CANCEL_REASONS,
  canTransitionBooking,
  canTransitionSchedule,
  DEFAULT_CANCELLATION_POLICY,
  decideLatePayment,
  decidePlan,
  holdEnd,
  isActiveBookingStatus,
  isBookingError,
  isPaymentRelease,
  isValidTimeZone,
  minorUnitDigits,
  paysPrice,
  refundForCancellation,
  resolveCancellationPolicy,
  SCHEDULE_STATUSES,
  type ScheduleStatus,
  SYSTEM_ACTOR,
} from '../../src/index.js';

const start = new Date('2030-03-02T10:00:00Z');
const hours = (h: number) => new Date(start.getTime() - h * 3_600_000);
const policy = resolveCancellationPolicy({ fullRefundHoursBefore: 24, lateRefundPercent: 50 });

describe('refundForCancellation', () => {
  const patient = (now: Date, refundable = 5000) =>
    refundForCancellation({ rules: policy, actorRole: 'patient', refundable, startTime: start, now });

  it('gives a patient everything back at exactly fullRefundHoursBefore, and the late percentage one millisecond later', () => {
    expect(patient(hours(24))).toBe(5000);
    expect(patient(new Date(hours(24).getTime() + 1))).toBe(2500);
    expect(patient(hours(48))).toBe(5000);
  });

  it('gives a patient the late percentage until the start, rounded down, and nothing from the start on', () => {
    expect(patient(hours(1), 3333)).toBe(1666);
    expect(patient(new Date(start.getTime() - 1))).toBe(2500);
    expect(patient(start)).toBe(0);
    expect(patient(new Date(start.getTime() + 60_000))).toBe(0);
  });

  it('refunds doctors, admins and careslot itself in full, even after the start', () => {
    for (const actorRole of ['doctor', 'admin', 'system'] as const) {
      expect(refundForCancellation({ rules: policy, actorRole, refundable: 4321, startTime: start, now: start })).toBe(
        4321,
      );
    }
  });

  it('never refunds when nothing is left, whoever cancels', () => {
    for (const actorRole of ['patient', 'doctor', 'admin'] as const) {
      expect(refundForCancellation({ rules: policy, actorRole, refundable: 0, startTime: start, now: hours(48) })).toBe(
        0,
      );
      expect(
        refundForCancellation({ rules: policy, actorRole, refundable: -5, startTime: start, now: hours(48) }),
      ).toBe(0);
    }
  });

  it('follows a configured policy: 12 hours for everything, 80% later', () => {
    const custom = resolveCancellationPolicy({ fullRefundHoursBefore: 12, lateRefundPercent: 80 });
    const at = (now: Date) =>
      refundForCancellation({ rules: custom, actorRole: 'patient', refundable: 1000, startTime: start, now });
    expect(at(hours(12))).toBe(1000);
    expect(at(hours(11))).toBe(800);
  });
});

describe('resolveCancellationPolicy', () => {
  it('reads the defaults and the shorthand as tiers: 24 hours for everything, 50% until the start', () => {
    const expected = {
      tiers: [
        { hoursBefore: 24, refundPercent: 100 },
        { hoursBefore: 0, refundPercent: 50 },
      ],
      patientCutoffHours: null,
      afterStart: 'none',
    };
    expect(resolveCancellationPolicy({})).toEqual(expected);
    expect(resolveCancellationPolicy({ fullRefundHoursBefore: 24, lateRefundPercent: 50 })).toEqual(expected);
    expect(DEFAULT_CANCELLATION_POLICY).toEqual({ fullRefundHoursBefore: 24, lateRefundPercent: 50 });
    expect(Object.isFrozen(DEFAULT_CANCELLATION_POLICY)).toBe(true);
  });

  it('accepts the edges 0 hours, 0% and 100%', () => {
    expect(resolveCancellationPolicy({ fullRefundHoursBefore: 0, lateRefundPercent: 0 }).tiers).toEqual([
      { hoursBefore: 0, refundPercent: 100 },
    ]);
    expect(resolveCancellationPolicy({ lateRefundPercent: 100 }).tiers[1]?.refundPercent).toBe(100);
  });

  it('sorts tiers largest hoursBefore first and keeps the cutoff', () => {
    const rules = resolveCancellationPolicy({
      tiers: [
        { hoursBefore: 24, refundPercent: 50 },
        { hoursBefore: 48, refundPercent: 100 },
      ],
      patientCutoffHours: 12,
    });
    expect(rules).toEqual({
      tiers: [
        { hoursBefore: 48, refundPercent: 100 },
        { hoursBefore: 24, refundPercent: 50 },
      ],
      patientCutoffHours: 12,
      afterStart: 'none',
    });
  });

  it.each([
    [{ fullRefundHoursBefore: -1 }, 'cancellation.fullRefundHoursBefore must be a number of hours >= 0 (got -1)'],
    [
      { fullRefundHoursBefore: Number.NaN },
      'cancellation.fullRefundHoursBefore must be a number of hours >= 0 (got NaN)',
    ],
    [{ fullRefundHoursBefore: '24' }, 'cancellation.fullRefundHoursBefore must be a number of hours >= 0 (got 24)'],
    [{ lateRefundPercent: 101 }, 'cancellation.lateRefundPercent must be between 0 and 100 (got 101)'],
    [
      { lateRefundPercent: Number.POSITIVE_INFINITY },
      'cancellation.lateRefundPercent must be between 0 and 100 (got Infinity)',
    ],
    [
      { tiers: [{ hoursBefore: 1, refundPercent: -1 }] },
      'cancellation.tiers[0].refundPercent must be between 0 and 100 (got -1)',
    ],
    [
      { tiers: [{ hoursBefore: -2, refundPercent: 10 }] },
      'cancellation.tiers[0].hoursBefore must be a number of hours >= 0 (got -2)',
    ],
    [
      {
        tiers: [
          { hoursBefore: 2, refundPercent: 10 },
          { hoursBefore: 2, refundPercent: 20 },
        ],
      },
      'cancellation.tiers has two tiers at 2 hours before the start',
    ],
    [
      { tiers: [], fullRefundHoursBefore: 2 },
      'cancellation: give tiers, or the fullRefundHoursBefore/lateRefundPercent shorthand, not both',
    ],
    [{ patientCutoffHours: -1 }, 'cancellation.patientCutoffHours must be a number of hours >= 0 (got -1)'],
    [{ afterStart: 'half' }, "cancellation.afterStart must be 'none' (got half)"],
  ])('refuses %j naming the option', (bad, message) => {
    expect(() => resolveCancellationPolicy(bad as never)).toThrow(new TypeError(message));
  });
});

describe('plans', () => {
  it('makes the free quota exact: free while used < quota, paid from the quota on', () => {
    const plans = { trial: { mode: 'pay' as const, freeQuota: 2 } };
    expect(decidePlan(plans, 'trial', 1)).toEqual({ outcome: 'book', mode: 'free', relationRequired: false });
    expect(decidePlan(plans, 'trial', 2)).toEqual({ outcome: 'book', mode: 'paid', relationRequired: false });
  });

  it('carries relationRequired for paying plans too, and rejects a plan whose mode is reject', () => {
    expect(decidePlan({ p: { mode: 'pay', relationRequired: true } }, 'p', 0)).toEqual({
      outcome: 'book',
      mode: 'paid',
      relationRequired: true,
    });
    expect(decidePlan({ p: { mode: 'reject', relationRequired: true } }, 'p', 0)).toEqual({ outcome: 'reject' });
  });

  it('accepts every mode and a free quota of 0 or more whole bookings', () => {
    expect(() =>
      assertValidPlanTable({
        a: { mode: 'pay', freeQuota: 0 },
        b: { mode: 'free' },
        c: { mode: 'reject' },
        d: { mode: 'pay', freeQuota: 3 },
      }),
    ).not.toThrow();
  });

  it('refuses an unknown mode or a missing rule, naming the plan', () => {
    expect(() => assertValidPlanTable({ gold: { mode: 'paid' as never } })).toThrow(
      new TypeError("plans.gold.mode must be 'pay', 'free' or 'reject'"),
    );
    expect(() => assertValidPlanTable({ gold: null as never })).toThrow(/plans\.gold\.mode/);
    expect(() => assertValidPlanTable({ gold: 'pay' as never })).toThrow(/plans\.gold\.mode/);
  });

  it('refuses a negative, fractional or non-numeric free quota, naming the plan', () => {
    for (const freeQuota of [-1, 1.5, Number.NaN, '2']) {
      expect(() => assertValidPlanTable({ trial: { mode: 'pay', freeQuota: freeQuota as number } })).toThrow(
        new TypeError('plans.trial.freeQuota must be a whole number >= 0'),
      );
    }
  });
});

describe('money rules', () => {
  it('pays the price only with the exact amount and currency', () => {
    const price = { amount: 5000, currency: 'eur' };
    expect(paysPrice({ amount: 5000, currency: 'eur' }, price)).toBe(true);
    expect(paysPrice({ amount: 4999, currency: 'eur' }, price)).toBe(false);
    expect(paysPrice({ amount: 5000, currency: 'usd' }, price)).toBe(false);
    expect(paysPrice({ amount: null, currency: 'eur' }, price)).toBe(false);
  });

  it('ends a hold holdMinutes after booking, or at the slot start when that comes first', () => {
    const now = new Date('2030-03-01T08:00:00Z');
    expect(holdEnd(now, 15, new Date('2030-03-01T09:00:00Z'))).toEqual(new Date('2030-03-01T08:15:00Z'));
    expect(holdEnd(now, 15, new Date('2030-03-01T08:10:00Z'))).toEqual(new Date('2030-03-01T08:10:00Z'));
    expect(holdEnd(now, 0.5, new Date('2030-03-01T09:00:00Z'))).toEqual(new Date('2030-03-01T08:00:30Z'));
  });

  it('knows each currency’s minor-unit digits, and assumes 2 for a code Intl rejects', () => {
    expect(minorUnitDigits('eur')).toBe(2);
    expect(minorUnitDigits('jpy')).toBe(0);
    expect(minorUnitDigits('kwd')).toBe(3);
    expect(minorUnitDigits('not a currency')).toBe(2);
  });
});

describe('the state machines, cell by cell', () => {
  it('allows exactly the documented slot transitions', () => {
    const allowed: Record<ScheduleStatus, ScheduleStatus[]> = {
      available: ['pending', 'booked', 'expired'],
      pending: ['available', 'booked', 'expired'],
      booked: ['available', 'expired'],
      expired: [],
    };
    expect([...SCHEDULE_STATUSES]).toEqual(['available', 'pending', 'booked', 'expired']);
    for (const from of SCHEDULE_STATUSES) {
      for (const to of SCHEDULE_STATUSES) {
        expect(canTransitionSchedule(from, to), `${from} → ${to}`).toBe(allowed[from].includes(to));
      }
    }
  });

  it('allows exactly the documented booking transitions, and only pending or scheduled as a start', () => {
    const allowed: Record<BookingStatus | 'new', BookingStatus[]> = {
      new: ['pending', 'scheduled'],
      pending: ['pending', 'scheduled', 'cancelled'],
      scheduled: ['scheduled', 'completed', 'cancelled', 'no_show'],
      completed: ['completed'],
      cancelled: ['cancelled', 'scheduled'],
      no_show: ['no_show', 'scheduled'],
    };
    expect([...BOOKING_STATUSES]).toEqual(['pending', 'scheduled', 'completed', 'cancelled', 'no_show']);
    for (const from of [null, ...BOOKING_STATUSES]) {
      for (const to of BOOKING_STATUSES) {
        expect(canTransitionBooking(from, to), `${from ?? '(new)'} → ${to}`).toBe(allowed[from ?? 'new'].includes(to));
      }
    }
  });

  it('counts pending and scheduled bookings as holding their slot, and no other status', () => {
    expect(BOOKING_STATUSES.filter(isActiveBookingStatus)).toEqual(['pending', 'scheduled']);
  });

  it('revives only bookings let go for want of payment, never one a person cancelled', () => {
    expect(CANCEL_REASONS.filter(isPaymentRelease)).toEqual([
      'payment_timeout',
      'payment_failed',
      'checkout_expired',
      'payment_provider_error',
    ]);
    expect(isPaymentRelease(null)).toBe(false);
  });
});

describe('BookingError and isBookingError', () => {
  it('has no cause property unless given one, and no details key in its JSON unless given details', () => {
    const plain = new BookingError('NOT_ALLOWED', 'no');
    expect('cause' in plain).toBe(false);
    expect(Object.keys(plain.toJSON().error)).toEqual(['code', 'message']);
    expect(plain.details).toBeUndefined();
  });

  it('recognises only objects named BookingError with a known code and a numeric status', () => {
    expect(isBookingError({ code: 'NOT_ALLOWED', status: 403, message: 'x' })).toBe(false);
    expect(isBookingError({ name: 'HttpError', code: 'NOT_ALLOWED', status: 403 })).toBe(false);
    expect(isBookingError({ name: 'BookingError', code: 'NOT_ALLOWED', status: '403' })).toBe(false);
    expect(isBookingError({ name: 'BookingError', code: 403, status: 403 })).toBe(false);
    expect(isBookingError({ name: 'BookingError', code: 'NOT_ALLOWED', status: 403 })).toBe(true);
    expect(isBookingError('BookingError')).toBe(false);
    expect(isBookingError(undefined)).toBe(false);
  });
});

describe('time helpers', () => {
  it('adds minutes either way, fractions included', () => {
    const at = new Date('2030-03-01T08:00:00Z');
    expect(addMinutes(at, 90)).toEqual(new Date('2030-03-01T09:30:00Z'));
    expect(addMinutes(at, -0.5)).toEqual(new Date('2030-03-01T07:59:30Z'));
  });

  it('refuses a time zone that is not a non-empty string', () => {
    for (const zone of [42, null, undefined, {}, '']) expect(isValidTimeZone(zone)).toBe(false);
    expect(isValidTimeZone('UTC')).toBe(true);
  });

  it('speaks for careslot itself as the frozen system actor', () => {
    expect(SYSTEM_ACTOR).toEqual({ role: 'system', id: 'careslot' });
    expect(Object.isFrozen(SYSTEM_ACTOR)).toBe(true);
  });
});

describe('decideLatePayment for a booking that is not cancelled', () => {
  it('refunds money for a completed or scheduled booking even if it carries a payment-release reason', () => {
    const slot = { status: 'available' as const, startTime: new Date('2030-03-02T08:00:00Z') };
    const now = new Date('2030-03-01T08:00:00Z');
    for (const status of ['completed', 'scheduled'] as const) {
      expect(decideLatePayment({ status, cancelReason: 'payment_timeout' }, slot, now)).toEqual({ action: 'refund' });
    }
  });
});
