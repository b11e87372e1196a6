// BookingEngine options: every documented default, and a fail-fast message naming the option for every bad value.
import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../../src/engine/options.js';
import { firstPollAgeMs, pollDue } from '../../src/engine/reconcile.js';
import {
  BookingEngine,
  DEFAULT_PLANS,
  EventEmitterNotifier,
  InProcessScheduler,
  MemoryStore,
} from '../../src/index.js';
import { ManualClock, MemoryPatientDirectory, TestPaymentGateway } from '../../src/testing/index.js';

function ports() {
  const clock = new ManualClock('2030-03-01T08:00:00Z');
  return {
    store: new MemoryStore({ clock }),
    payments: new TestPaymentGateway({ clock }),
    patients: new MemoryPatientDirectory(),
    scheduler: new InProcessScheduler({ clock, timers: false }),
    notifier: new EventEmitterNotifier(),
    clock,
  };
}

const resolve = (override: Record<string, unknown> = {}) => resolveOptions({ ...ports(), ...override } as never);

describe('engine option defaults', () => {
  it('fills every documented default', () => {
    const { reminders, ...rest } = resolve();
    expect(reminders('any doctor')).toEqual([]);
    expect(rest).toEqual({
      holdMinutes: 15,
      minNoticeMinutes: 15,
      maxHorizonDays: 365,
      plans: DEFAULT_PLANS,
      rollover: 'booked',
      cleanupAfterDays: 7,
      cleanupEveryMs: 86_400_000,
      reconcileEveryMs: 60_000,
      reconcileGraceMs: 60_000,
      batchSize: 500,
      outboxMaxAttempts: 20,
      outboxRetryDelayMs: 1_000,
      outboxMaxDelayMs: 3_600_000,
      outboxLeaseMs: 60_000,
      outboxRetentionDays: 7,
      outboxEveryMs: 5_000,
      adminId: 'admin',
      notificationTypes: {
        doctorBooking: 'appointmentBooking',
        adminBooking: 'newBooking',
        cancelled: 'appointmentCancelled',
        refunded: 'paymentRefunded',
        rescheduled: 'appointmentRescheduled',
        reminder: 'appointmentReminder',
        noShow: 'appointmentNoShow',
      },
      successUrl: undefined,
      cancelUrl: undefined,
      cancellation: {
        tiers: [
          { hoursBefore: 24, refundPercent: 100 },
          { hoursBefore: 0, refundPercent: 50 },
        ],
        patientCutoffHours: null,
        afterStart: 'none',
      },
      reschedule: { patientDeadlineHours: 2, staffDeadlineHours: 0, maxPerBooking: null, fee: 'same' },
      maxReminderMinutes: 0,
      lateReminder: 'skip',
      noShowGraceMinutes: 0,
      noShowRefundPercent: 0,
      maxPendingPerPatient: 3,
    });
  });

  it('keeps what the host gave, and takes minNoticeMinutes from holdMinutes unless given', () => {
    const given = {
      holdMinutes: 30,
      rollover: 'all',
      cleanupAfterDays: 0.5,
      cleanupEveryMs: 1000,
      reconcileEveryMs: 2000,
      reconcileGraceMs: 3000,
      batchSize: 10,
      outboxMaxAttempts: 3,
      outboxRetryDelayMs: 250,
      outboxMaxDelayMs: 10_000,
      outboxLeaseMs: 5_000,
      outboxRetentionDays: 0.5,
      outboxEveryMs: 1_000,
      adminId: 'root',
      notificationTypes: {
        doctorBooking: 'a',
        adminBooking: 'b',
        cancelled: 'c',
        refunded: 'd',
        rescheduled: 'e',
        reminder: 'f',
        noShow: 'g',
      },
      successUrl: 'https://host.example/ok',
      cancelUrl: 'https://host.example/back',
      cancellation: { fullRefundHoursBefore: 48, lateRefundPercent: 10 },
      rescheduleDeadlineHours: 0,
      rescheduleFee: 'lowerOrEqual',
      maxPendingPerPatient: 1,
      maxHorizonDays: 30,
    };
    const { reminders, ...rest } = resolve({
      ...given,
      reminders: [{ beforeMinutes: 1440 }, { beforeMinutes: 120, channel: 'sms' }],
      doctorReminders: { d9: [{ beforeMinutes: 30 }] },
      lateReminder: 'sendNow',
      noShowGraceMinutes: 45,
      noShowRefundPercent: 25,
    });
    const { cancellation, rescheduleDeadlineHours, rescheduleFee, ...kept } = given;
    expect(rest).toEqual({
      ...kept,
      cancellation: {
        tiers: [
          { hoursBefore: 48, refundPercent: 100 },
          { hoursBefore: 0, refundPercent: 10 },
        ],
        patientCutoffHours: null,
        afterStart: 'none',
      },
      reschedule: { patientDeadlineHours: 0, staffDeadlineHours: 0, maxPerBooking: null, fee: 'lowerOrEqual' },
      maxReminderMinutes: 1440,
      lateReminder: 'sendNow',
      noShowGraceMinutes: 45,
      noShowRefundPercent: 25,
      minNoticeMinutes: 30,
      plans: DEFAULT_PLANS,
    });
    expect([cancellation, rescheduleDeadlineHours, rescheduleFee]).toEqual([
      { fullRefundHoursBefore: 48, lateRefundPercent: 10 },
      0,
      'lowerOrEqual',
    ]);
    expect(reminders('d1')).toEqual([
      { beforeMinutes: 1440, channel: 'default' },
      { beforeMinutes: 120, channel: 'sms' },
    ]);
    expect(reminders('d9')).toEqual([{ beforeMinutes: 30, channel: 'default' }]);
    expect(resolve({ holdMinutes: 30, minNoticeMinutes: 0 }).minNoticeMinutes).toBe(0);
    expect(resolve({ minNoticeMinutes: 525_600 }).minNoticeMinutes).toBe(525_600);
    expect(resolve({ holdMinutes: 1440 }).holdMinutes).toBe(1440);
    expect(resolve({ rescheduleFee: 'any', rollover: 'none' })).toMatchObject({
      reschedule: { fee: 'any' },
      rollover: 'none',
    });
  });
});

describe('engine option validation', () => {
  it.each([
    ['holdMinutes', -1, 'BookingEngine: holdMinutes must be a positive number (got -1)'],
    ['holdMinutes', Number.NaN, 'BookingEngine: holdMinutes must be a positive number (got NaN)'],
    ['holdMinutes', '15', 'BookingEngine: holdMinutes must be a positive number (got 15)'],
    ['holdMinutes', 1441, 'BookingEngine: holdMinutes must be at most 1440 (got 1441)'],
    ['cleanupAfterDays', 0, 'BookingEngine: cleanupAfterDays must be a positive number (got 0)'],
    ['cleanupEveryMs', 1.5, 'BookingEngine: cleanupEveryMs must be a positive whole number (got 1.5)'],
    ['reconcileEveryMs', 0, 'BookingEngine: reconcileEveryMs must be a positive whole number (got 0)'],
    ['reconcileGraceMs', 0.5, 'BookingEngine: reconcileGraceMs must be a positive whole number (got 0.5)'],
    ['outboxMaxAttempts', 0, 'BookingEngine: outboxMaxAttempts must be a positive whole number (got 0)'],
    ['outboxRetryDelayMs', 1.5, 'BookingEngine: outboxRetryDelayMs must be a positive whole number (got 1.5)'],
    ['outboxMaxDelayMs', -1, 'BookingEngine: outboxMaxDelayMs must be a positive whole number (got -1)'],
    ['outboxLeaseMs', 0, 'BookingEngine: outboxLeaseMs must be a positive whole number (got 0)'],
    ['outboxRetentionDays', 0, 'BookingEngine: outboxRetentionDays must be a positive number (got 0)'],
    ['outboxEveryMs', 0.5, 'BookingEngine: outboxEveryMs must be a positive whole number (got 0.5)'],
    ['batchSize', 2.5, 'BookingEngine: batchSize must be a positive whole number (got 2.5)'],
    ['batchSize', Number.POSITIVE_INFINITY, 'BookingEngine: batchSize must be a positive whole number (got Infinity)'],
    ['maxPendingPerPatient', 0, 'BookingEngine: maxPendingPerPatient must be a positive whole number (got 0)'],
    ['maxPendingPerPatient', 1.5, 'BookingEngine: maxPendingPerPatient must be a positive whole number (got 1.5)'],
    ['maxHorizonDays', 0, 'BookingEngine: maxHorizonDays must be a positive whole number (got 0)'],
    ['maxHorizonDays', 366, 'BookingEngine: maxHorizonDays must be at most 365 (got 366)'],
    [
      'minNoticeMinutes',
      525_601,
      'BookingEngine: minNoticeMinutes must be a number of minutes from 0 to 525600 (got 525601)',
    ],
    [
      'minNoticeMinutes',
      Number.NaN,
      'BookingEngine: minNoticeMinutes must be a number of minutes from 0 to 525600 (got NaN)',
    ],
    ['minNoticeMinutes', '5', 'BookingEngine: minNoticeMinutes must be a number of minutes from 0 to 525600 (got 5)'],
    ['rescheduleDeadlineHours', -1, 'BookingEngine: rescheduleDeadlineHours must be a number of hours >= 0 (got -1)'],
    [
      'rescheduleDeadlineHours',
      Number.POSITIVE_INFINITY,
      'BookingEngine: rescheduleDeadlineHours must be a number of hours >= 0 (got Infinity)',
    ],
    ['rescheduleDeadlineHours', '2', 'BookingEngine: rescheduleDeadlineHours must be a number of hours >= 0 (got 2)'],
    [
      'reschedule',
      { maxPerBooking: -1 },
      'BookingEngine: reschedule.maxPerBooking must be a whole number >= 0 (got -1)',
    ],
    [
      'reschedule',
      { staffDeadlineHours: -1 },
      'BookingEngine: reschedule.staffDeadlineHours must be a number of hours >= 0 (got -1)',
    ],
    [
      'reminders',
      [{ beforeMinutes: 0 }],
      'BookingEngine: reminders[0].beforeMinutes must be a whole number of minutes from 1 to 525600 (got 0)',
    ],
    ['reminders', [{ beforeMinutes: 60 }, { beforeMinutes: 60 }], 'BookingEngine: reminders lists 60:default twice'],
    [
      'reminders',
      [{ beforeMinutes: 60, channel: 'a:b' }],
      "BookingEngine: reminders[0].channel must be 1–64 characters without ':' or '@'",
    ],
    ['lateReminder', 'later', "BookingEngine: lateReminder must be 'skip' or 'sendNow' (got later)"],
    ['noShowGraceMinutes', -1, 'BookingEngine: noShowGraceMinutes must be a number of minutes >= 0 (got -1)'],
    ['noShowRefundPercent', 101, 'BookingEngine: noShowRefundPercent must be between 0 and 100 (got 101)'],
    ['rescheduleFee', 'lower', "BookingEngine: rescheduleFee must be 'same', 'lowerOrEqual' or 'any' (got lower)"],
    ['rollover', 'weekly', "BookingEngine: rollover must be 'booked', 'all' or 'none' (got weekly)"],
    [
      'cancellation',
      { lateRefundPercent: 120 },
      'BookingEngine: cancellation.lateRefundPercent must be between 0 and 100 (got 120)',
    ],
  ])('refuses %s = %s with “%s”', (name, value, message) => {
    expect(() => resolve({ [name]: value })).toThrow(new TypeError(message));
  });

  it('refuses a call without an options object', () => {
    for (const bad of [null, undefined, 'store']) {
      expect(() => resolveOptions(bad as never)).toThrow(
        new TypeError('BookingEngine: pass an options object ({ store, payments, patients, ... })'),
      );
    }
  });

  it.each([
    ['store', ['transaction', 'getSchedule', 'getBooking', 'findSchedules', 'findBookings'], 'pass new MemoryStore()'],
    [
      'payments',
      ['createCheckout', 'expireCheckout', 'retrieveCheckout', 'refund', 'ensureCustomer'],
      'StripeCheckoutGateway',
    ],
    ['patients', ['getPatient', 'hasRelation'], 'implement PatientDirectory'],
    ['clock', ['now'], 'pass { now: () => new Date() }'],
    ['scheduler', ['schedule', 'cancel', 'scheduleRecurring'], 'pass an InProcessScheduler or a BullMQScheduler'],
    ['notifier', ['notify'], 'pass an object with notify(notification)'],
  ])('refuses a %s missing any of its methods, naming the method and how to fix it', (port, methods, hint) => {
    const complete = ports()[port as keyof ReturnType<typeof ports>];
    for (const method of methods) {
      const broken = Object.assign(Object.create(complete), { [method]: undefined });
      let message = '';
      try {
        resolve({ [port]: broken });
      } catch (error) {
        expect(error).toBeInstanceOf(TypeError);
        message = (error as Error).message;
      }
      expect(message.startsWith(`BookingEngine: options.${port}.${method} must be a function: `)).toBe(true);
      expect(message).toContain(hint);
    }
    for (const missing of [undefined, null, 42]) {
      expect(() => resolve({ [port]: missing })).toThrow(`BookingEngine: options.${port} is required: `);
      expect(() => resolve({ [port]: missing })).toThrow(hint);
    }
  });

  it('fills scheduler, notifier and clock when BookingEngine is given none, and keeps the store and gateway it was given', () => {
    const { store, payments, patients } = ports();
    const engine = new BookingEngine({ store, payments, patients });
    expect(engine.store).toBe(store);
    expect(engine.payments).toBe(payments);
    expect(engine.notifier).toBeInstanceOf(EventEmitterNotifier);
  });
});

describe('the sweep’s widening poll schedule', () => {
  const MIN = 60_000;
  const first = 7.5 * MIN;
  const due = (createdAt: number, from: number, to: number) => pollDue(createdAt, from, to, first);

  it('polls each age first · 2^n exactly once when passes tile the time', () => {
    const polled: number[] = [];
    for (let minute = 1; minute <= 130; minute++) if (due(0, (minute - 1) * MIN, minute * MIN)) polled.push(minute);
    expect(polled).toEqual([8, 15, 30, 60, 120]);
  });

  it('polls an age that falls in a long gap between passes once, and nothing before the first age', () => {
    expect(due(0, 0, 7 * MIN)).toBe(false);
    expect(due(0, 0, 7.5 * MIN)).toBe(true);
    expect(due(0, 7.5 * MIN, 14.9 * MIN)).toBe(false);
    expect(due(0, 10 * MIN, 100 * MIN)).toBe(true);
    expect(due(0, 60 * MIN, 60 * MIN)).toBe(false);
    expect(due(5 * MIN, 0, 12 * MIN)).toBe(false);
    expect(due(5 * MIN, 0, 12.5 * MIN)).toBe(true);
  });

  it('waits for reconcileGraceMs or half the hold, whichever is later', () => {
    expect(firstPollAgeMs({ options: { reconcileGraceMs: MIN, holdMinutes: 15 } } as never)).toBe(first);
    expect(firstPollAgeMs({ options: { reconcileGraceMs: 20 * MIN, holdMinutes: 15 } } as never)).toBe(20 * MIN);
  });
});
