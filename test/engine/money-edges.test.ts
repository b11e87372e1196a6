// Money that does not fit: mismatched or late payments, holds and the slot's start, delayed payments, and what callers said.
import { describe, expect, it } from 'vitest';
import { JOB_NAMES, type PaymentTransaction } from '../../src/index.js';
import { createFixture, DOCTOR, type Fixture, PATIENTS } from '../support/engine-fixture.js';

async function pendingBooking(f: Fixture, startInMinutes = 24 * 60) {
  const slot = await f.slot(startInMinutes);
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  const sessionId = f.gateway.sessionForBooking(booking.id)?.id ?? '';
  return { slot, booking, sessionId };
}

const refundsOf = (f: Fixture) => f.gateway.refunds.map((r) => r.amount);

describe('a payment that does not match the price', () => {
  it('arriving by webhook is recorded, refunded in full once, reported, and the hold is released on schedule', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f);
    const event = f.gateway.pay(sessionId, { amount: 4000 });
    expect((await f.engine.handlePaymentEvent(event)).outcome).toBe('mismatch');
    expect((await f.engine.handlePaymentEvent(event)).outcome).toBe('duplicate');
    expect(refundsOf(f)).toEqual([4000]);
    const mismatch = f.events.find((e) => e.name === 'payment.mismatch')?.payload as { payment: PaymentTransaction };
    // Reported as recorded, with its full refund pending; the refund then succeeds once.
    expect(mismatch.payment).toMatchObject({ amount: 4000, credited: false, refunds: [{ amount: 4000 }] });
    expect((await f.store.findPaymentTransactions({ bookingId: booking.id }))[0]?.refunds).toMatchObject([
      { amount: 4000, status: 'succeeded', reason: 'payment_mismatch' },
    ]);
    expect((await f.engine.getWallet(DOCTOR)).entries).toEqual([]);

    await f.advance(15);
    expect(await f.engine.getBooking(booking.id)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'payment_timeout',
      paymentStatus: 'refunded',
      amountRefunded: 4000,
    });
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
    expect(refundsOf(f)).toEqual([4000]);
  });

  it('found by the hold timeout (webhook lost) is reported and refunded, and the slot is released, not kept pending', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f);
    f.gateway.pay(sessionId, { currency: 'usd' }); // the webhook never arrives
    f.clock.advanceMinutes(15);
    expect(await f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: booking.id })).toBe('released');
    expect(f.events.filter((e) => e.name === 'payment.mismatch')).toHaveLength(1);
    expect(refundsOf(f)).toEqual([5000]);
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
    expect((await f.engine.getBooking(booking.id)).paymentStatus).toBe('refunded');
  });

  it('found by the sweep counts as no confirmation, is asked about once, and the slot ends normally', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f);
    f.gateway.pay(sessionId, { amount: 1 });
    f.clock.advanceMinutes(8);
    const first = await f.engine.reconcile();
    expect(first.paymentsConfirmed).toBe(0);
    expect(f.events.filter((e) => e.name === 'payment.mismatch')).toHaveLength(1);
    const asked = f.gateway.calls.filter((c) => c.method === 'retrieveCheckout').length;
    f.clock.advanceMinutes(2);
    expect((await f.engine.reconcile()).paymentsConfirmed).toBe(0);
    expect(f.gateway.calls.filter((c) => c.method === 'retrieveCheckout').length).toBe(asked);
    f.clock.advanceMinutes(9);
    expect((await f.engine.reconcile()).holdsReleased).toBe(1);
    expect((await f.engine.getBooking(booking.id)).status).toBe('cancelled');
    f.clock.advanceMinutes(25 * 60);
    expect((await f.engine.reconcile()).slotsFinished).toBe(1);
    expect((await f.engine.getSchedule(slot.id)).status).toBe('expired');
    expect(refundsOf(f)).toEqual([1]);
  });
});

describe('holds and the slot’s start', () => {
  it('clips the hold to the start of a slot that starts sooner than holdMinutes', async () => {
    const f = createFixture({ holdMinutes: 60, minNoticeMinutes: 0 });
    const { slot, booking } = await pendingBooking(f, 20);
    expect(booking.holdExpiresAt?.getTime()).toBe(slot.startTime.getTime());
  });

  it('refuses a paid booking whose slot starts sooner than minNoticeMinutes (default holdMinutes), and changes nothing', async () => {
    const f = createFixture();
    const slot = await f.slot(10);
    await expect(f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id })).rejects.toMatchObject({
      code: 'SCHEDULE_UNAVAILABLE',
      details: { minNoticeMinutes: 15 },
    });
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
    const later = createFixture({ minNoticeMinutes: 5 });
    const soon = await later.slot(10);
    expect((await later.engine.book({ patientId: PATIENTS.standard, scheduleId: soon.id })).booking.status).toBe(
      'pending',
    );
  });

  it('lets the free path book close to the start: minNoticeMinutes is about paying', async () => {
    const f = createFixture();
    const slot = await f.slot(5);
    expect((await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id })).booking.status).toBe('scheduled');
  });

  it('refunds in full a pending booking paid after its slot started, instead of confirming what cannot be refunded', async () => {
    const f = createFixture({ holdMinutes: 30, minNoticeMinutes: 0 });
    const { slot, booking, sessionId } = await pendingBooking(f, 20);
    f.clock.advanceMinutes(21); // the hold job has not run yet
    expect((await f.engine.handlePaymentEvent(f.gateway.pay(sessionId))).outcome).toBe('late_refund');
    expect(refundsOf(f)).toEqual([5000]);
    expect((await f.engine.getWallet(DOCTOR)).entries).toEqual([]);
    expect((await f.engine.getSchedule(slot.id)).status).not.toBe('booked');
    expect((await f.engine.getBooking(booking.id)).status).not.toBe('scheduled');
  });

  it('rejects minNoticeMinutes that is negative or not a number', () => {
    expect(() => createFixture({ minNoticeMinutes: -1 })).toThrow(/minNoticeMinutes must be a number of minutes/);
    expect(() => createFixture({ minNoticeMinutes: Number.NaN })).toThrow(/minNoticeMinutes/);
  });
});

describe('a delayed payment still settling when the hold ends', () => {
  it('keeps the slot held while the provider says processing, then confirms when it settles', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f);
    f.gateway.payDelayed(sessionId);
    f.clock.advanceMinutes(15);
    expect(await f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: booking.id })).toBe('processing');
    expect((await f.engine.reconcile()).holdsReleased).toBe(0);
    expect((await f.engine.getSchedule(slot.id)).status).toBe('pending');
    expect((await f.engine.handlePaymentEvent(f.gateway.settleDelayed(sessionId, { succeed: true }))).outcome).toBe(
      'confirmed',
    );
    expect((await f.engine.getSchedule(slot.id)).status).toBe('booked');
  });

  it('releases the slot when the delayed payment fails', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f);
    f.gateway.payDelayed(sessionId);
    f.clock.advanceMinutes(15);
    expect(await f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: booking.id })).toBe('processing');
    await f.engine.handlePaymentEvent(f.gateway.settleDelayed(sessionId, { succeed: false }));
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
    expect((await f.engine.getBooking(booking.id)).cancelReason).toBe('payment_failed');
  });
});

describe('what the caller said is what is recorded', () => {
  it('records the refund’s actor in the booking history, not the system', async () => {
    const f = createFixture();
    const { booking, sessionId } = await pendingBooking(f);
    await f.engine.handlePaymentEvent(f.gateway.pay(sessionId));
    const admin = { role: 'admin' as const, id: 'admin-7' };
    await f.engine.refund({ bookingId: booking.id, amount: 1000, actor: admin });
    const history = (await f.engine.getBooking(booking.id)).history;
    expect(history.find((h) => h.reason?.startsWith('refund_requested:'))?.actor).toEqual(admin);
  });

  it('keeps the reason a patient gave for cancelling a pending booking', async () => {
    const f = createFixture();
    const { booking } = await pendingBooking(f);
    await f.engine.cancelBooking({
      bookingId: booking.id,
      actor: { role: 'patient', id: PATIENTS.standard },
      reason: 'found an earlier slot',
    });
    const cancelled = await f.engine.getBooking(booking.id);
    expect(cancelled.cancelReason).toBe('by_patient');
    expect(cancelled.history.at(-1)?.reason).toBe('found an earlier slot');
  });

  it('records a cancellation by careslot itself as by_system, not by_admin', async () => {
    const f = createFixture();
    const { booking } = await pendingBooking(f);
    await f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'system', id: 'careslot' } });
    expect((await f.engine.getBooking(booking.id)).cancelReason).toBe('by_system');
  });
});

describe('money shown to people', () => {
  it('formats a refund with the currency’s own digits: JPY 5000 is ¥5,000', async () => {
    const f = createFixture();
    const start = new Date(f.clock.now().getTime() + 2 * 86_400_000);
    const slot = await f.engine.createSchedule({
      doctorId: DOCTOR,
      startTime: start,
      endTime: new Date(start.getTime() + 1_800_000),
      fee: { amount: 5000, currency: 'JPY' },
      timeZone: 'Asia/Tokyo',
    });
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    await f.engine.handlePaymentEvent(f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''));
    await f.engine.refund({ bookingId: booking.id });
    const refunded = f.notifications.find((n) => n.type === 'paymentRefunded');
    expect(refunded?.message).toMatch(/^¥5,000 was refunded/);
  });
});

describe('a payment reported without an amount', () => {
  it('is a mismatch, not a validation error: recorded, everything it took refunded, the hold released', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f);
    expect((await f.engine.handlePaymentEvent(f.gateway.pay(sessionId, { amount: null }))).outcome).toBe('mismatch');
    expect(refundsOf(f)).toEqual([5000]);
    expect((await f.engine.getWallet(DOCTOR)).entries).toEqual([]);
    await f.advance(15);
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
    expect((await f.engine.getBooking(booking.id)).status).toBe('cancelled');
  });
});
