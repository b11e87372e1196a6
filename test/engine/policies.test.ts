// Cancellation tiers with a quote, the policy a booking keeps, and reschedule rules per actor, through the public API.
import { describe, expect, it } from 'vitest';
import type { Actor, BookingEngineOptions } from '../../src/index.js';
import { createFixture, DOCTOR, type Fixture, PATIENTS, rejectionOf } from '../support/engine-fixture.js';

const HOUR = 60;
const patient: Actor = { role: 'patient', id: PATIENTS.standard };
const doctor: Actor = { role: 'doctor', id: DOCTOR };
const admin: Actor = { role: 'admin', id: 'root' };

const TIERS: BookingEngineOptions['cancellation'] = {
  tiers: [
    { hoursBefore: 48, refundPercent: 100 },
    { hoursBefore: 24, refundPercent: 50 },
  ],
  patientCutoffHours: 6,
};

/** A scheduled booking paid 50.00 EUR (minus `startInMinutes`) of a slot `startInMinutes` ahead. */
async function paid(f: Fixture, startInMinutes: number, amount = 5000) {
  const slot = await f.slot(startInMinutes, { amount });
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  await f.engine.handlePaymentEvent(f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''));
  return f.engine.getBooking(booking.id);
}

/** Moves the clock so the booking starts `hours` (fractions allowed) from now. */
function hoursBefore(f: Fixture, start: Date, hours: number) {
  f.clock.set(new Date(start.getTime() - hours * 3_600_000));
}

describe('cancellation tiers: the quote and the cancellation agree at every boundary', () => {
  it.each([
    [72, true, 5000, 'tier'],
    [48, true, 5000, 'tier'],
    [47.999, true, 2500, 'tier'],
    [24, true, 2500, 'tier'],
    [23.5, true, 0, 'before_every_tier'],
    [6, true, 0, 'before_every_tier'],
    [5.999, false, 0, 'patient_cutoff'],
    [0, true, 0, 'after_start'],
    [-1, true, 0, 'after_start'],
  ])('%s hours before the start: allowed %s, refund %s (%s)', async (hours, allowed, refund, reason) => {
    const f = createFixture({ cancellation: TIERS });
    const booking = await paid(f, 100 * HOUR, 5001);
    hoursBefore(f, booking.slotStart, hours);
    const quote = await f.engine.quoteCancellation({ bookingId: booking.id, actor: patient });
    expect(quote).toMatchObject({ allowed, reason, cutoffHours: 6 });
    // Rounded down: 50% of 50.01 is 25.00.
    const expectedRefund = refund === 5000 ? 5001 : refund;
    expect(quote.refund).toEqual({ amount: allowed ? expectedRefund : 0, currency: 'eur' });
    expect(quote.kept).toEqual({ amount: allowed ? 5001 - expectedRefund : 0, currency: 'eur' });
    if (!allowed) {
      const error = await rejectionOf(f.engine.cancelBooking({ bookingId: booking.id, actor: patient }));
      expect(error).toMatchObject({ code: 'NOT_ALLOWED', status: 403, details: { cutoffHours: 6 } });
      expect((await f.engine.getBooking(booking.id)).status).toBe('scheduled');
      return;
    }
    const outcome = await f.engine.cancelBooking({ bookingId: booking.id, actor: patient });
    expect(outcome.refund?.amount ?? 0).toBe(quote.refund.amount);
    const balance = (await f.engine.getWallet(DOCTOR)).balances.eur ?? 0;
    expect(balance).toBe(quote.kept.amount);
  });

  it('doctors and admins are never cut off and refund in full, even inside the cutoff', async () => {
    for (const actor of [doctor, admin]) {
      const f = createFixture({ cancellation: TIERS });
      const booking = await paid(f, 100 * HOUR);
      hoursBefore(f, booking.slotStart, 1);
      const quote = await f.engine.quoteCancellation({ bookingId: booking.id, actor });
      expect(quote).toMatchObject({ allowed: true, reason: 'staff', refund: { amount: 5000 }, kept: { amount: 0 } });
      expect((await f.engine.cancelBooking({ bookingId: booking.id, actor })).refund?.amount).toBe(5000);
    }
  });

  it('quotes a pending hold as nothing to refund, and a finished booking as not cancellable', async () => {
    const f = createFixture({ cancellation: TIERS });
    const slot = await f.slot(100 * HOUR);
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    expect(await f.engine.quoteCancellation({ bookingId: booking.id, actor: patient })).toMatchObject({
      allowed: true,
      reason: 'unpaid_hold',
      refund: { amount: 0, currency: 'eur' },
    });
    await f.engine.cancelBooking({ bookingId: booking.id, actor: patient });
    expect(await f.engine.quoteCancellation({ bookingId: booking.id, actor: patient })).toMatchObject({
      allowed: false,
      reason: 'not_cancellable',
    });
  });

  it('the one-tier shorthand keeps working: full refund up to 24 hours, 50% after', async () => {
    const f = createFixture({ cancellation: { fullRefundHoursBefore: 24, lateRefundPercent: 50 } });
    const booking = await paid(f, 100 * HOUR);
    hoursBefore(f, booking.slotStart, 23);
    expect((await f.engine.quoteCancellation({ bookingId: booking.id, actor: patient })).refund.amount).toBe(2500);
  });

  it('bad input: unknown booking, a stranger, no actor', async () => {
    const f = createFixture();
    const booking = await paid(f, 100 * HOUR);
    expect(
      await rejectionOf(f.engine.quoteCancellation({ bookingId: '64b0000000000000000000ff', actor: patient })),
    ).toMatchObject({
      code: 'BOOKING_NOT_FOUND',
    });
    expect(
      await rejectionOf(
        f.engine.quoteCancellation({ bookingId: booking.id, actor: { role: 'patient', id: PATIENTS.other } }),
      ),
    ).toMatchObject({ code: 'NOT_ALLOWED' });
    expect(await rejectionOf(f.engine.quoteCancellation({ bookingId: booking.id } as never))).toMatchObject({
      code: 'INVALID_INPUT',
    });
  });

  it('refuses an invalid tier configuration at construction, naming the option', () => {
    expect(() => createFixture({ cancellation: { tiers: [{ hoursBefore: 24, refundPercent: 150 }] } })).toThrow(
      'BookingEngine: cancellation.tiers[0].refundPercent must be between 0 and 100 (got 150)',
    );
  });
});

describe('the policy a booking keeps', () => {
  it('is stored when the booking is confirmed, and a later configuration change does not alter it', async () => {
    const store = createFixture().store;
    const f = createFixture({ store, cancellation: TIERS });
    const booking = await paid(f, 100 * HOUR);
    expect(booking.policy?.cancellation).toEqual({
      tiers: [
        { hoursBefore: 48, refundPercent: 100 },
        { hoursBefore: 24, refundPercent: 50 },
      ],
      patientCutoffHours: 6,
      afterStart: 'none',
    });
    // The same store under an engine with harsher rules: the booking keeps what was agreed.
    const harsher = createFixture({
      store,
      clock: f.clock,
      cancellation: { tiers: [{ hoursBefore: 96, refundPercent: 10 }] },
    });
    hoursBefore(f, booking.slotStart, 50);
    const quote = await harsher.engine.quoteCancellation({ bookingId: booking.id, actor: patient });
    expect(quote).toMatchObject({
      reason: 'tier',
      refund: { amount: 5000 },
      tier: { hoursBefore: 48, refundPercent: 100 },
    });
    expect((await harsher.engine.cancelBooking({ bookingId: booking.id, actor: patient })).refund?.amount).toBe(5000);
    // A booking confirmed under the harsher engine gets the harsher rules.
    const later = await paid(harsher, 200 * HOUR);
    expect(later.policy?.cancellation.tiers).toEqual([{ hoursBefore: 96, refundPercent: 10 }]);
  });

  it('a free booking keeps the policy from the start; a pending one has none until paid', async () => {
    const f = createFixture({ cancellation: TIERS });
    const slot = await f.slot(100 * HOUR);
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    expect(booking.policy?.cancellation.patientCutoffHours).toBe(6);
    const other = await f.slot(101 * HOUR);
    const held = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: other.id });
    expect(held.booking.policy ?? null).toBeNull();
  });
});

describe('reschedule rules per actor', () => {
  async function withTargets(options: Partial<BookingEngineOptions>) {
    const f = createFixture(options);
    const booking = await paid(f, 100 * HOUR);
    const targets = [await f.slot(120 * HOUR), await f.slot(122 * HOUR), await f.slot(124 * HOUR)];
    return { f, booking, targets };
  }

  it('binds patients by patientDeadlineHours and staff by staffDeadlineHours (default 0)', async () => {
    const { f, booking, targets } = await withTargets({ reschedule: { patientDeadlineHours: 24 } });
    hoursBefore(f, booking.slotStart, 23);
    const refused = await rejectionOf(
      f.engine.reschedule({ bookingId: booking.id, newScheduleId: targets[0]!.id, actor: patient }),
    );
    expect(refused).toMatchObject({ code: 'NOT_ALLOWED', details: { deadlineHours: 24 } });
    const moved = await f.engine.reschedule({ bookingId: booking.id, newScheduleId: targets[0]!.id, actor: doctor });
    expect(moved.booking.scheduleId).toBe(targets[0]!.id);
  });

  it('the old rescheduleDeadlineHours no longer binds doctors and admins', async () => {
    const { f, booking, targets } = await withTargets({ rescheduleDeadlineHours: 48 });
    hoursBefore(f, booking.slotStart, 10);
    expect(
      (await rejectionOf(f.engine.reschedule({ bookingId: booking.id, newScheduleId: targets[0]!.id, actor: patient })))
        .code,
    ).toBe('NOT_ALLOWED');
    await f.engine.reschedule({ bookingId: booking.id, newScheduleId: targets[0]!.id, actor: admin });
  });

  it('staffDeadlineHours binds the doctor too when set', async () => {
    const { f, booking, targets } = await withTargets({ reschedule: { staffDeadlineHours: 2 } });
    hoursBefore(f, booking.slotStart, 1);
    expect(
      await rejectionOf(f.engine.reschedule({ bookingId: booking.id, newScheduleId: targets[0]!.id, actor: doctor })),
    ).toMatchObject({ code: 'NOT_ALLOWED', details: { deadlineHours: 2 } });
  });

  it('allows at most maxPerBooking moves of one booking', async () => {
    const { f, booking, targets } = await withTargets({ reschedule: { maxPerBooking: 2 } });
    await f.engine.reschedule({ bookingId: booking.id, newScheduleId: targets[0]!.id, actor: patient });
    await f.engine.reschedule({ bookingId: booking.id, newScheduleId: targets[1]!.id, actor: patient });
    const third = await rejectionOf(
      f.engine.reschedule({ bookingId: booking.id, newScheduleId: targets[2]!.id, actor: patient }),
    );
    expect(third).toMatchObject({ code: 'NOT_ALLOWED', details: { maxPerBooking: 2 } });
    expect((await f.engine.getBooking(booking.id)).scheduleId).toBe(targets[1]!.id);
  });

  it('refuses reschedule together with its shorthand', () => {
    expect(() => createFixture({ reschedule: { patientDeadlineHours: 1 }, rescheduleDeadlineHours: 2 })).toThrow(
      'BookingEngine: give reschedule, or the rescheduleDeadlineHours/rescheduleFee shorthand, not both',
    );
  });
});
