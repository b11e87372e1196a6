// Edge cases of money, holds and end-of-slot timing that the main suites reach only on the happy side (mutation testing found them).
import { describe, expect, it } from 'vitest';
import { BookingError, JOB_NAMES } from '../../src/index.js';
import { createFixture, DOCTOR, PATIENTS } from '../support/engine-fixture.js';

type F = ReturnType<typeof createFixture>;

/** A paid booking on a slot `startInMinutes` ahead (30 minutes long), with its checkout session id. */
async function pendingBooking(f: F, startInMinutes = 60) {
  const slot = await f.slot(startInMinutes);
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  const sessionId = f.gateway.sessionForBooking(booking.id)?.id ?? '';
  return { slot, booking, sessionId };
}

/** The provider took the money on a session careslot had already expired (a race inside the provider). */
function payOnExpiredSession(f: F, sessionId: string) {
  const session = f.gateway.sessions.get(sessionId);
  if (session) session.status = 'open';
  return f.gateway.pay(sessionId);
}

describe('a late payment for a slot that has already started', () => {
  it('is refunded in full and never revives the released booking, once the start has passed', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f, 60);
    await f.advance(15); // hold timeout: booking released, slot available again
    expect((await f.engine.getBooking(booking.id)).status).toBe('cancelled');
    f.clock.advanceMinutes(50); // 5 minutes after the start, 25 before the end: the slot is still 'available'
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');

    const event = payOnExpiredSession(f, sessionId);
    expect(await f.engine.handlePaymentEvent(event)).toEqual({ outcome: 'late_refund', bookingId: booking.id });

    expect(await f.engine.getBooking(booking.id)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'payment_timeout',
      paymentStatus: 'refunded',
      amountRefunded: 5000,
    });
    expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'available', bookedBy: null });
    expect(f.gateway.refunds).toEqual([expect.objectContaining({ amount: 5000 })]);
    expect((await f.engine.getWallet(DOCTOR)).entries).toEqual([]);
    expect(f.events.map((e) => e.name)).not.toContain('booking.confirmed');
  });

  it('is refunded when it arrives at the very instant the slot starts', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f, 60);
    await f.advance(15);
    f.clock.set(slot.startTime);
    expect(await f.engine.handlePaymentEvent(payOnExpiredSession(f, sessionId))).toEqual({
      outcome: 'late_refund',
      bookingId: booking.id,
    });
    expect((await f.engine.getBooking(booking.id)).status).toBe('cancelled');
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
  });

  it('still revives the booking one minute before the start (the slot is free and in the future)', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f, 60);
    await f.advance(15);
    f.clock.set(new Date(slot.startTime.getTime() - 60_000));
    expect((await f.engine.handlePaymentEvent(payOnExpiredSession(f, sessionId))).outcome).toBe('confirmed');
    expect(await f.engine.getBooking(booking.id)).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
    expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'booked', bookedBy: PATIENTS.standard });
  });
});

describe('a delayed payment still settling when the hold times out', () => {
  it('keeps the slot held and the booking pending, and the payment confirms it once it settles', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f, 24 * 60);
    f.gateway.payDelayed(sessionId);

    expect(await f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: booking.id })).toBe('not_due');
    f.clock.advanceMinutes(15);
    expect(await f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: booking.id })).toBe('processing');
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
    expect((await f.engine.getSchedule(slot.id)).status).toBe('pending');
    expect(f.events.map((e) => e.name)).not.toContain('schedule.released');
    expect(f.gateway.sessionForBooking(booking.id)?.status).toBe('complete');

    const settled = f.gateway.settleDelayed(sessionId, { succeed: true });
    expect((await f.engine.handlePaymentEvent(settled)).outcome).toBe('confirmed');
    expect(await f.engine.getBooking(booking.id)).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
    expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'booked', bookedBy: PATIENTS.standard });
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
  });

  it('is not released by the sweep either, which counts no released hold', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f, 24 * 60);
    f.gateway.payDelayed(sessionId);
    f.clock.advanceMinutes(20);
    const report = await f.engine.reconcile();
    expect(report).toMatchObject({ holdsReleased: 0, paymentsConfirmed: 0, errors: 0 });
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
    expect((await f.engine.getSchedule(slot.id)).status).toBe('pending');
  });

  it('releases the slot once the delayed payment fails', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f, 24 * 60);
    f.gateway.payDelayed(sessionId);
    await f.advance(15);
    const failed = f.gateway.settleDelayed(sessionId, { succeed: false });
    expect((await f.engine.handlePaymentEvent(failed)).outcome).toBe('cancelled');
    expect(await f.engine.getBooking(booking.id)).toMatchObject({
      status: 'cancelled',
      cancelReason: 'payment_failed',
      paymentStatus: 'failed',
    });
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
  });

  it('refuses a patient cancelling while the payment settles, leaving the hold in place', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f, 24 * 60);
    f.gateway.payDelayed(sessionId);
    await expect(
      f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'patient', id: PATIENTS.standard } }),
    ).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
    expect((await f.engine.getSchedule(slot.id)).status).toBe('pending');
  });

  it('keeps an ended slot open (hold_open) rather than expiring it under a settling payment', async () => {
    const f = createFixture({ minNoticeMinutes: 0 });
    const { slot, booking, sessionId } = await pendingBooking(f, 10);
    f.gateway.payDelayed(sessionId);
    f.clock.set(slot.endTime);
    expect(await f.engine.runJob(JOB_NAMES.expireUnbooked, { scheduleId: slot.id })).toBe('hold_open');
    expect((await f.engine.getSchedule(slot.id)).status).toBe('pending');
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
  });
});

describe('rollover of a slot whose end-of-slot job runs days late', () => {
  it('moves start and end together to the next future day, so the copy keeps its 30 minutes', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    f.clock.advanceMinutes(90 + 3 * 24 * 60);
    expect(await f.engine.runJob(JOB_NAMES.completeBooked, { scheduleId: slot.id })).toBe('completed');
    const [next] = await f.engine.listSchedules({ status: 'available' });
    expect(next).toMatchObject({
      rolledOverFrom: slot.id,
      startTime: new Date(slot.startTime.getTime() + 4 * 86_400_000),
      endTime: new Date(slot.endTime.getTime() + 4 * 86_400_000),
    });
    expect((next?.endTime.getTime() ?? 0) - (next?.startTime.getTime() ?? 0)).toBe(30 * 60_000);
  });

  it('skips a next day whose start is exactly now: the copy must start in the future', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    // Exactly one day after the start: a copy starting now could not be booked, so it is two days on.
    f.clock.set(new Date(slot.startTime.getTime() + 86_400_000));
    await f.engine.runJob(JOB_NAMES.completeBooked, { scheduleId: slot.id });
    const [next] = await f.engine.listSchedules({ status: 'available' });
    expect(next?.startTime).toEqual(new Date(slot.startTime.getTime() + 2 * 86_400_000));
    expect(next?.endTime).toEqual(new Date(slot.endTime.getTime() + 2 * 86_400_000));
  });
});

describe('money that arrives twice or late', () => {
  it('refunds a second payment for a booking already paid and keeps the booking on its first payment', async () => {
    const f = createFixture();
    const { booking, sessionId } = await pendingBooking(f, 24 * 60);
    await f.engine.handlePaymentEvent(f.gateway.pay(sessionId));
    const paid = await f.engine.getBooking(booking.id);
    const second = payOnExpiredSession(f, sessionId);
    expect((await f.engine.handlePaymentEvent(second)).outcome).toBe('late_refund');
    expect(await f.engine.getBooking(booking.id)).toMatchObject({
      status: 'scheduled',
      paymentStatus: 'paid',
      paymentTransactionId: paid.paymentTransactionId,
      amountRefunded: 0,
    });
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
    expect(f.gateway.refunds.map((r) => r.amount)).toEqual([5000]);
  });

  it('gives each late payment its own refund key, so two of them are both refunded', async () => {
    const f = createFixture();
    const a = await pendingBooking(f, 24 * 60);
    const b = await pendingBooking(f, 48 * 60);
    await f.advance(15);
    for (const { slot } of [a, b]) await f.engine.book({ patientId: PATIENTS.other, scheduleId: slot.id });
    const events = [payOnExpiredSession(f, a.sessionId), payOnExpiredSession(f, b.sessionId)];
    for (const event of events) expect((await f.engine.handlePaymentEvent(event)).outcome).toBe('late_refund');
    const keys = f.gateway.refunds.map((r) => r.idempotencyKey);
    expect(keys).toHaveLength(2);
    expect(new Set(keys).size).toBe(2);
    const [payment] = await f.store.findPaymentTransactions({ bookingId: a.booking.id });
    const paymentId = events[0]?.type === 'payment.succeeded' ? events[0].payment.paymentId : '';
    expect(payment?.refunds).toEqual([
      expect.objectContaining({ id: `late-${a.booking.id}-${paymentId}`, reason: 'late_payment', status: 'succeeded' }),
    ]);
    expect(f.events.filter((e) => e.name === 'payment.lateRefund')).toHaveLength(2);
    expect(f.events.map((e) => e.name)).not.toContain('payment.mismatch');
  });

  it('shows a late payment whose refund failed as paid (money held, refund pending a retry), and reports lateRefund with it', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f, 24 * 60);
    await f.advance(15);
    await f.engine.book({ patientId: PATIENTS.other, scheduleId: slot.id });
    f.gateway.failNext('refund');
    const event = payOnExpiredSession(f, sessionId);
    expect((await f.engine.handlePaymentEvent(event)).outcome).toBe('late_refund');
    const after = await f.engine.getBooking(booking.id);
    const [payment] = await f.store.findPaymentTransactions({ bookingId: booking.id });
    expect(after).toMatchObject({ status: 'cancelled', paymentStatus: 'paid', paymentTransactionId: payment?.id });
    expect(payment).toMatchObject({ credited: false, refunds: [expect.objectContaining({ status: 'failed' })] });
    expect(f.events.find((e) => e.name === 'payment.lateRefund')?.payload).toMatchObject({
      booking: { id: booking.id, paymentTransactionId: payment?.id },
      // Reported as recorded: the full refund pending, before the provider is asked.
      payment: { id: payment?.id, refunds: [{ status: 'pending', reason: 'late_payment', amount: 5000 }] },
    });
    expect(await f.store.hasProcessedEvent(event.id)).toBe(true);
  });

  it('records the booking’s own checkout session on a payment event that names none', async () => {
    const f = createFixture();
    const { booking, sessionId } = await pendingBooking(f, 24 * 60);
    const event = { ...f.gateway.pay(sessionId), sessionId: null };
    expect(await f.engine.handlePaymentEvent(event)).toEqual({ outcome: 'confirmed', bookingId: booking.id });
    const [payment] = await f.store.findPaymentTransactions({ bookingId: booking.id });
    expect(payment?.checkoutSessionId).toBe(sessionId);
  });

  it('marks a mismatch event processed, so a replay is a duplicate', async () => {
    const f = createFixture();
    const { sessionId } = await pendingBooking(f, 24 * 60);
    const event = f.gateway.pay(sessionId, { amount: 1 });
    expect((await f.engine.handlePaymentEvent(event)).outcome).toBe('mismatch');
    expect(await f.store.hasProcessedEvent(event.id)).toBe(true);
  });
});

describe('events that arrive for a hold that is gone or stale', () => {
  it('ignores an expiry for an older checkout session of the booking, and says the session is stale', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f, 24 * 60);
    const stale = { ...f.gateway.expire(sessionId), sessionId: 'cs_previous' };
    const session = f.gateway.sessions.get(sessionId);
    if (session) session.status = 'open';
    expect(await f.engine.handlePaymentEvent(stale)).toEqual({ outcome: 'ignored', bookingId: booking.id });
    expect(f.events.find((e) => e.name === 'payment.ignored')?.payload).toEqual({
      event: stale,
      reason: 'stale checkout session',
    });
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
    expect((await f.engine.getSchedule(slot.id)).status).toBe('pending');
    expect((await f.engine.handlePaymentEvent(stale)).outcome).toBe('duplicate');
  });

  it('ignores a failure event for a booking that is no longer pending, says why, and treats a replay as a duplicate', async () => {
    const f = createFixture();
    const { booking, sessionId } = await pendingBooking(f, 24 * 60);
    await f.engine.handlePaymentEvent(f.gateway.pay(sessionId));
    const failed = f.gateway.failPayment(sessionId);
    expect(await f.engine.handlePaymentEvent(failed)).toEqual({ outcome: 'ignored', bookingId: booking.id });
    expect(f.events.find((e) => e.name === 'payment.ignored')?.payload).toEqual({
      event: failed,
      reason: 'booking is not pending',
    });
    expect((await f.engine.handlePaymentEvent(failed)).outcome).toBe('duplicate');
    expect((await f.engine.getBooking(booking.id)).status).toBe('scheduled');
  });

  it('cancels once when 10 copies of a failure event arrive at once; the others are duplicates', async () => {
    const f = createFixture();
    const { booking, sessionId } = await pendingBooking(f, 24 * 60);
    const failed = f.gateway.failPayment(sessionId);
    const results = await Promise.all(Array.from({ length: 10 }, () => f.engine.handlePaymentEvent(failed)));
    expect(results.map((r) => r.outcome).sort()).toEqual(['cancelled', ...Array(9).fill('duplicate')]);
    expect(f.events.filter((e) => e.name === 'booking.cancelled')).toHaveLength(1);
    expect((await f.engine.getBooking(booking.id)).status).toBe('cancelled');
  });

  it('records an event for an unknown booking, so its replay is a duplicate, and names why it was ignored', async () => {
    const f = createFixture();
    const event = {
      type: 'checkout.expired' as const,
      id: 'evt_stranger',
      bookingId: '64b0000000000000000000ee',
      sessionId: 'cs_stranger',
    };
    expect(await f.engine.handlePaymentEvent(event)).toMatchObject({ outcome: 'ignored', bookingId: null });
    expect(f.events.find((e) => e.name === 'payment.ignored')?.payload).toEqual({ event, reason: 'unknown booking' });
    expect(await f.engine.handlePaymentEvent(event)).toEqual({ outcome: 'duplicate', bookingId: null });
  });

  it('finds the booking by its id when the event has no session, and by the session when the id is unknown', async () => {
    const f = createFixture();
    const a = await pendingBooking(f, 24 * 60);
    const b = await pendingBooking(f, 48 * 60);
    const byId = { ...f.gateway.expire(a.sessionId), sessionId: null };
    expect(await f.engine.handlePaymentEvent(byId)).toEqual({ outcome: 'cancelled', bookingId: a.booking.id });
    const bySession = { ...f.gateway.expire(b.sessionId), bookingId: '64b0000000000000000000ee' };
    expect(await f.engine.handlePaymentEvent(bySession)).toEqual({ outcome: 'cancelled', bookingId: b.booking.id });
  });
});

describe('the hold timeout racing a payment', () => {
  it('returns paid when the provider says the patient paid as the session was being expired, and the sweep counts it', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f, 24 * 60);
    f.gateway.pay(sessionId); // the webhook is lost
    f.clock.advanceMinutes(15);
    expect(await f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: booking.id })).toBe('paid');
    expect((await f.engine.getSchedule(slot.id)).status).toBe('booked');

    const g = createFixture();
    const other = await pendingBooking(g, 24 * 60);
    g.gateway.pay(other.sessionId);
    g.clock.advanceMinutes(16);
    expect(await g.engine.reconcile()).toMatchObject({ holdsReleased: 0, paymentsConfirmed: 1, errors: 0 });
  });

  it('leaves a booking a webhook confirmed while the session was being expired as it is (not_pending), credited once', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f, 24 * 60);
    const expire = f.gateway.expireCheckout.bind(f.gateway);
    f.gateway.expireCheckout = async (args) => {
      await f.engine.handlePaymentEvent(f.gateway.pay(sessionId)); // the webhook wins the race
      return expire(args);
    };
    f.clock.advanceMinutes(15);
    expect(await f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: booking.id })).toBe('not_pending');
    expect((await f.engine.getBooking(booking.id)).status).toBe('scheduled');
    expect((await f.engine.getSchedule(slot.id)).status).toBe('booked');
    expect((await f.engine.getWallet(DOCTOR)).entries).toHaveLength(1);
  });

  it('answers not_pending for a booking that is no longer pending', async () => {
    const f = createFixture();
    const { booking, sessionId } = await pendingBooking(f, 24 * 60);
    await f.engine.handlePaymentEvent(f.gateway.pay(sessionId));
    f.clock.advanceMinutes(15);
    expect(await f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: booking.id })).toBe('not_pending');
  });

  it('releases a hold whose checkout never opened (the process died before the provider answered) without asking the provider', async () => {
    const f = createFixture();
    const slot = await f.slot(24 * 60);
    f.gateway.createCheckout = () => new Promise(() => {}); // never answers
    void f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    let hold: Awaited<ReturnType<typeof f.engine.listBookings>>[number] | undefined;
    for (let i = 0; i < 50 && !hold; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      [hold] = await f.engine.listBookings({ scheduleId: slot.id });
    }
    expect(hold).toMatchObject({ status: 'pending', checkoutSessionId: null });
    f.clock.advanceMinutes(15);
    const calls = f.gateway.calls.length;
    expect(await f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: hold?.id })).toBe('released');
    expect(f.gateway.calls.slice(calls)).toEqual([]);
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
  });
});

describe('which booking an event is about', () => {
  it('never takes a booking without a session for an event without one', async () => {
    const f = createFixture();
    const slot = await f.slot(24 * 60);
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id }); // free: no checkout session
    const event = {
      type: 'checkout.expired' as const,
      id: 'evt_orphan',
      bookingId: '64b0000000000000000000ee',
      sessionId: null,
    };
    expect(await f.engine.handlePaymentEvent(event)).toMatchObject({ outcome: 'ignored', bookingId: null });
    expect(f.events.find((e) => e.name === 'payment.ignored')?.payload).toMatchObject({ reason: 'unknown booking' });
  });

  it('treats a booking id the store cannot parse as unknown and falls back to the session, but lets other store errors through', async () => {
    const f = createFixture();
    const { booking, sessionId } = await pendingBooking(f, 24 * 60);
    const getBooking = f.store.getBooking.bind(f.store);
    f.store.getBooking = async (id: string) => {
      if (id === 'not-an-object-id') throw new BookingError('INVALID_INPUT', 'bookingId: not an ObjectId');
      if (id === 'db-down') throw new Error('connection reset');
      if (id === 'store-error') throw new BookingError('STORE_ERROR', 'not primary');
      return getBooking(id);
    };
    const garbled = { type: 'checkout.expired' as const, id: 'evt_garbled', sessionId, bookingId: 'not-an-object-id' };
    expect(await f.engine.handlePaymentEvent(garbled)).toEqual({ outcome: 'cancelled', bookingId: booking.id });
    const down = { ...garbled, id: 'evt_down', bookingId: 'db-down' };
    await expect(f.engine.handlePaymentEvent(down)).rejects.toThrow('connection reset');
    await expect(
      f.engine.handlePaymentEvent({ ...garbled, id: 'evt_store', bookingId: 'store-error' }),
    ).rejects.toMatchObject({ code: 'STORE_ERROR', message: 'not primary' });
  });

  it('acknowledges a verified event that can never apply, but lets a store failure (500) through so the provider retries', async () => {
    const f = createFixture();
    const { sessionId } = await pendingBooking(f, 24 * 60);
    const malformed = { type: 'payment.failed', id: '', bookingId: null, sessionId } as never;
    const ignored = await f.engine.handlePaymentEvent(malformed, { verified: true });
    expect(ignored).toMatchObject({ outcome: 'ignored', bookingId: null });
    expect(ignored.reason).toMatch(/^INVALID_INPUT: /);
    await expect(f.engine.handlePaymentEvent(malformed)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    f.store.transaction = (() =>
      Promise.reject(new BookingError('STORE_ERROR', 'replica set lost'))) as typeof f.store.transaction;
    await expect(
      f.engine.handlePaymentEvent(f.gateway.failPayment(sessionId), { verified: true }),
    ).rejects.toMatchObject({
      code: 'STORE_ERROR',
      status: 500,
    });
    f.skipInvariantCheck('the store refuses every transaction from here on, on purpose');
  });

  it('ends a hold whose expiry arrives before the booking saved its session id', async () => {
    const f = createFixture();
    const slot = await f.slot(24 * 60);
    const create = f.gateway.createCheckout.bind(f.gateway);
    f.gateway.createCheckout = async (request) => {
      const session = await create(request);
      await f.engine.handlePaymentEvent(f.gateway.expire(session.sessionId)); // the webhook wins the race
      return session;
    };
    await expect(f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id })).rejects.toMatchObject({
      code: 'SCHEDULE_UNAVAILABLE',
    });
    const [booking] = await f.engine.listBookings({ scheduleId: slot.id });
    expect(booking).toMatchObject({ status: 'cancelled', cancelReason: 'checkout_expired' });
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
  });

  it('returns the booking confirmed when its payment arrives before the session id is saved', async () => {
    const f = createFixture();
    const slot = await f.slot(24 * 60);
    const create = f.gateway.createCheckout.bind(f.gateway);
    f.gateway.createCheckout = async (request) => {
      const session = await create(request);
      await f.engine.handlePaymentEvent(f.gateway.pay(session.sessionId));
      return session;
    };
    const result = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    expect(result).toEqual({ booking: expect.objectContaining({ status: 'scheduled', paymentStatus: 'paid' }) });
    expect((await f.engine.getSchedule(slot.id)).status).toBe('booked');
  });

  it('reports a failed clean-up of an orphan session under its own effect name', async () => {
    const f = createFixture();
    const slot = await f.slot(24 * 60);
    const create = f.gateway.createCheckout.bind(f.gateway);
    f.gateway.createCheckout = async (request) => {
      const session = await create(request);
      f.clock.advanceMinutes(15);
      await f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: request.booking.id });
      f.gateway.failNext('expireCheckout');
      return session;
    };
    await expect(f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id })).rejects.toMatchObject({
      code: 'SCHEDULE_UNAVAILABLE',
    });
    const [booking] = await f.engine.listBookings({ scheduleId: slot.id });
    expect(f.events.filter((e) => e.name === 'effect.failed').map((e) => e.payload)).toEqual([
      expect.objectContaining({ effect: 'expire:orphan_checkout', bookingId: booking?.id }),
    ]);
  });
});

describe('cancelling while money is moving', () => {
  it('tells the patient to wait while a delayed payment settles', async () => {
    const f = createFixture();
    const { booking, sessionId } = await pendingBooking(f, 24 * 60);
    f.gateway.payDelayed(sessionId);
    await expect(
      f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'patient', id: PATIENTS.standard } }),
    ).rejects.toMatchObject({ message: 'The payment is still being processed; try again once it settles' });
  });

  it('cancels a pending booking paid at the provider (webhook lost) as a paid one, refunded in full, reporting no ignored event', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f, 48 * 60);
    f.gateway.pay(sessionId);
    const { booking: after, refund } = await f.engine.cancelBooking({
      bookingId: booking.id,
      actor: { role: 'patient', id: PATIENTS.standard },
    });
    expect(after).toMatchObject({ status: 'cancelled', cancelReason: 'by_patient', paymentStatus: 'refunded' });
    expect(refund).toMatchObject({ amount: 5000, status: 'succeeded' });
    expect(f.events.map((e) => e.name)).not.toContain('payment.ignored');
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
  });

  it('does not ask the provider to expire anything when cancelling a scheduled booking or running a stale hold job', async () => {
    const f = createFixture();
    const { booking, sessionId } = await pendingBooking(f, 48 * 60);
    await f.engine.handlePaymentEvent(f.gateway.pay(sessionId));
    f.clock.advanceMinutes(15);
    const before = f.gateway.calls.length;
    expect(await f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: booking.id })).toBe('not_pending');
    await f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'patient', id: PATIENTS.standard } });
    expect(f.gateway.calls.slice(before).map((c) => c.method)).toEqual(['refund']);
  });
});

describe('a payment whose commit outcome the store could not learn', () => {
  /** The next transaction commits, then reports STORE_ERROR with commitOutcome unknown (a lost connection after COMMIT). */
  function loseNextCommitAnswer(f: F, committed = true) {
    const transaction = f.store.transaction.bind(f.store);
    let armed = true;
    f.store.transaction = (async (work: never) => {
      if (!armed) return transaction(work);
      armed = false;
      if (committed) await transaction(work);
      throw new BookingError('STORE_ERROR', 'connection lost after COMMIT', { details: { commitOutcome: 'unknown' } });
    }) as typeof f.store.transaction;
  }

  it('runs the confirmation’s after-commit work when the commit did happen', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f, 24 * 60);
    loseNextCommitAnswer(f);
    expect(await f.engine.handlePaymentEvent(f.gateway.pay(sessionId))).toEqual({
      outcome: 'confirmed',
      bookingId: booking.id,
    });
    expect(f.events.map((e) => e.name)).toContain('booking.confirmed');
    expect(f.scheduler.pending().map((j) => j.id)).toEqual([`complete-${slot.id}`]);
    expect(f.notifications.map((n) => n.type)).toEqual(['appointmentBooking', 'newBooking']);
  });

  it('still refunds a late payment when the commit that recorded it did happen', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f, 24 * 60);
    await f.advance(15);
    await f.engine.book({ patientId: PATIENTS.other, scheduleId: slot.id });
    loseNextCommitAnswer(f);
    expect((await f.engine.handlePaymentEvent(payOnExpiredSession(f, sessionId))).outcome).toBe('late_refund');
    expect(f.gateway.refunds.map((r) => r.amount)).toEqual([5000]);
    expect((await f.engine.getBooking(booking.id)).paymentStatus).toBe('refunded');
    expect(f.events.map((e) => e.name)).toContain('payment.lateRefund');
  });

  it('still refunds a mismatched payment when the commit that recorded it did happen', async () => {
    const f = createFixture();
    const { sessionId } = await pendingBooking(f, 24 * 60);
    loseNextCommitAnswer(f);
    expect((await f.engine.handlePaymentEvent(f.gateway.pay(sessionId, { amount: 100 }))).outcome).toBe('mismatch');
    expect(f.gateway.refunds.map((r) => r.amount)).toEqual([100]);
    expect(f.events.map((e) => e.name)).toContain('payment.mismatch');
  });

  it('lets the error stand when nothing was committed, so the provider retries and the retry confirms', async () => {
    const f = createFixture();
    const { booking, sessionId } = await pendingBooking(f, 24 * 60);
    loseNextCommitAnswer(f, false);
    const event = f.gateway.pay(sessionId);
    await expect(f.engine.handlePaymentEvent(event)).rejects.toMatchObject({ code: 'STORE_ERROR' });
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
    expect((await f.engine.handlePaymentEvent(event)).outcome).toBe('confirmed');
  });

  it('lets any other store error stand', async () => {
    const f = createFixture();
    const { sessionId } = await pendingBooking(f, 24 * 60);
    const transaction = f.store.transaction.bind(f.store);
    let armed = true;
    f.store.transaction = (async (work: never) => {
      if (!armed) return transaction(work);
      armed = false;
      await transaction(work);
      throw new BookingError('STORE_ERROR', 'disk full', { details: { commitOutcome: 'not_committed' } });
    }) as typeof f.store.transaction;
    await expect(f.engine.handlePaymentEvent(f.gateway.pay(sessionId))).rejects.toMatchObject({ message: 'disk full' });
  });

  it('lets a store error without details stand as it is', async () => {
    const f = createFixture();
    const { sessionId } = await pendingBooking(f, 24 * 60);
    const refused = new BookingError('STORE_ERROR', 'not primary');
    f.store.transaction = (() => Promise.reject(refused)) as typeof f.store.transaction;
    await expect(f.engine.handlePaymentEvent(f.gateway.pay(sessionId))).rejects.toBe(refused);
    f.skipInvariantCheck('the store refuses every transaction from here on, on purpose');
  });
});
