// Engine behaviour that surviving mutants showed no test pinned (see docs/mutation-testing.md).
import { describe, expect, it } from 'vitest';
import { BookingError, JOB_NAMES, type PaymentEvent } from '../../src/index.js';
import { createFixture, DOCTOR, PATIENTS, rejectionOf } from '../support/engine-fixture.js';

type F = ReturnType<typeof createFixture>;

/** A paid booking on a slot `startInMinutes` ahead, still pending, with its checkout session id. */
async function pendingBooking(f: F, startInMinutes = 24 * 60, patientId: string = PATIENTS.standard) {
  const slot = await f.slot(startInMinutes);
  const { booking } = await f.engine.book({ patientId, scheduleId: slot.id });
  const sessionId = f.gateway.sessionForBooking(booking.id)?.id ?? '';
  return { slot, booking, sessionId };
}

/** A paid booking on a slot `startInMinutes` ahead, paid and scheduled. */
async function paidBooking(f: F, startInMinutes = 24 * 60, patientId: string = PATIENTS.standard) {
  const { slot, booking, sessionId } = await pendingBooking(f, startInMinutes, patientId);
  const paid = f.gateway.pay(sessionId);
  expect((await f.engine.handlePaymentEvent(paid)).outcome).toBe('confirmed');
  return {
    slot,
    booking: await f.engine.getBooking(booking.id),
    paymentId: paid.type === 'payment.succeeded' ? paid.payment.paymentId : '',
  };
}

async function paymentOf(f: F, bookingId: string) {
  const [payment] = await f.store.findPaymentTransactions({ bookingId });
  if (!payment) throw new Error(`no payment recorded for ${bookingId}`);
  return payment;
}

function failures(f: F) {
  return f.events
    .filter((e) => e.name === 'effect.failed')
    .map((e) => e.payload as { effect: string; bookingId?: string });
}

describe('book()', () => {
  it('returns the first booking to a retry with the same idempotency key after the slot started', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    const first = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id, idempotencyKey: 'visit-1' });
    f.clock.advanceMinutes(61);
    const retry = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id, idempotencyKey: 'visit-1' });
    expect(retry.booking.id).toBe(first.booking.id);
  });

  it('refuses a slot starting right now as unavailable before it looks at the plan', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    f.clock.advanceMinutes(60);
    const error = await rejectionOf(f.engine.book({ patientId: PATIENTS.none, scheduleId: slot.id }));
    expect(error).toMatchObject({ code: 'SCHEDULE_UNAVAILABLE', message: 'This slot has already started' });
  });

  it('refuses a taken slot as unavailable before it looks at the plan', async () => {
    const f = createFixture();
    const slot = await f.slot();
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    const error = await rejectionOf(f.engine.book({ patientId: PATIENTS.none, scheduleId: slot.id }));
    expect(error).toMatchObject({ code: 'SCHEDULE_UNAVAILABLE', message: 'This slot is not available' });
  });

  it('refuses a free booking whose slot started while the relation was being checked', async () => {
    const f = createFixture();
    const slot = await f.slot(60);
    const hasRelation = f.patients.hasRelation.bind(f.patients);
    f.patients.hasRelation = async (args) => {
      f.clock.advanceMinutes(60); // the directory answered exactly at the start of the slot
      return hasRelation(args);
    };
    const error = await rejectionOf(f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id }));
    expect(error).toMatchObject({ code: 'SCHEDULE_UNAVAILABLE', message: 'This slot has already started' });
    expect(await f.engine.listBookings({ scheduleId: slot.id })).toEqual([]);
    expect((await f.engine.getSchedule(slot.id)).status).toBe('available');
  });

  it('refuses, as INVALID_INPUT, the loser of two bookings of different slots racing with one idempotency key', async () => {
    const f = createFixture();
    const a = await f.slot(24 * 60);
    const b = await f.slot(26 * 60);
    const settled = await Promise.allSettled([
      f.engine.book({ patientId: PATIENTS.vise, scheduleId: a.id, idempotencyKey: 'same-key' }),
      f.engine.book({ patientId: PATIENTS.vise, scheduleId: b.id, idempotencyKey: 'same-key' }),
    ]);
    const won = settled.filter((s) => s.status === 'fulfilled');
    const lost = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason] : []));
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]).toBeInstanceOf(BookingError);
    expect(lost[0]).toMatchObject({ code: 'INVALID_INPUT' });
    expect(await f.engine.listBookings({ patientId: PATIENTS.vise })).toHaveLength(1);
  });

  it('hands the provider the customer stored for the patient on the next checkout', async () => {
    const f = createFixture();
    const passed: (string | null)[] = [];
    const ensureCustomer = f.gateway.ensureCustomer.bind(f.gateway);
    f.gateway.ensureCustomer = (args) => {
      passed.push(args.customerId);
      return ensureCustomer(args);
    };
    await pendingBooking(f, 24 * 60);
    await pendingBooking(f, 26 * 60);
    expect(passed).toEqual([null, 'cus_test_000001']);
  });
});

describe('confirming a payment', () => {
  it('keys the refund of a mismatched payment by booking and payment, cut to 255 characters', async () => {
    const f = createFixture();
    const { booking, sessionId } = await pendingBooking(f);
    const event = f.gateway.pay(sessionId, { amount: 100 });
    if (event.type !== 'payment.succeeded') throw new Error('expected a payment event');
    const paymentId = `pi_${'x'.repeat(252)}`;
    const session = f.gateway.sessions.get(sessionId);
    if (session?.payment) session.payment.paymentId = paymentId;
    const outcome = await f.engine.handlePaymentEvent({ ...event, payment: { ...event.payment, paymentId } });
    expect(outcome.outcome).toBe('mismatch');
    const [refund] = (await paymentOf(f, booking.id)).refunds;
    expect(refund?.id).toBe(`mismatch-${booking.id}-${paymentId}`.slice(0, 255));
    expect(refund?.id).toHaveLength(255);
    expect(f.gateway.refunds.map((r) => r.amount)).toEqual([100]);
  });

  it('lets a lost commit answer stand when the payment it found belongs to another booking', async () => {
    const f = createFixture();
    const mine = await pendingBooking(f, 24 * 60, PATIENTS.standard);
    const theirs = await paidBooking(f, 26 * 60, PATIENTS.other);
    // An event naming my booking but carrying the payment already recorded for theirs.
    const forged: PaymentEvent = {
      type: 'payment.succeeded',
      id: 'evt_forged_1',
      bookingId: mine.booking.id,
      sessionId: mine.sessionId,
      payment: { paymentId: theirs.paymentId, amount: 5000, currency: 'eur' },
    };
    const transaction = f.store.transaction.bind(f.store);
    let armed = true;
    f.store.transaction = (async (work: never) => {
      if (!armed) return transaction(work);
      armed = false;
      await transaction(work);
      throw new BookingError('STORE_ERROR', 'connection lost after COMMIT', { details: { commitOutcome: 'unknown' } });
    }) as typeof f.store.transaction;
    const confirmedBefore = f.events.filter((e) => e.name === 'booking.confirmed').length;

    await expect(f.engine.handlePaymentEvent(forged)).rejects.toMatchObject({
      code: 'STORE_ERROR',
      message: 'connection lost after COMMIT',
    });
    expect(f.events.filter((e) => e.name === 'booking.confirmed')).toHaveLength(confirmedBefore);
    expect((await f.engine.getBooking(mine.booking.id)).status).toBe('pending');
  });
});

describe('the sweep', () => {
  it('releases every expired hold in one pass, batchSize per page', async () => {
    const f = createFixture({ batchSize: 1 });
    await pendingBooking(f, 24 * 60, PATIENTS.standard);
    await pendingBooking(f, 26 * 60, PATIENTS.other);
    f.clock.advanceMinutes(16); // both holds expired; their timeout jobs did not run
    expect((await f.engine.reconcile()).holdsReleased).toBe(2);
    expect((await f.engine.reconcile()).holdsReleased).toBe(0);
  });

  it('finishes every ended slot in one pass, batchSize per page', async () => {
    const f = createFixture({ batchSize: 1 });
    await f.slot(60);
    await f.slot(120);
    f.clock.advanceMinutes(180); // both ended; their end-of-slot jobs did not run
    expect((await f.engine.reconcile()).slotsFinished).toBe(2);
    expect((await f.engine.reconcile()).slotsFinished).toBe(0);
  });

  it('reports a hold it could not release with the booking it is about', async () => {
    const f = createFixture();
    const { booking } = await pendingBooking(f);
    f.clock.advanceMinutes(16);
    f.gateway.failNext('expireCheckout');
    expect(await f.engine.reconcile()).toMatchObject({ holdsReleased: 0, errors: 1 });
    expect(failures(f)).toEqual([expect.objectContaining({ effect: 'reconcile:hold', bookingId: booking.id })]);
  });

  it('reports a checkout it could not ask about with the booking it is about', async () => {
    const f = createFixture();
    const { booking } = await pendingBooking(f);
    f.clock.advanceMinutes(8); // past the first ask (half the hold), hold still running
    f.gateway.failNext('retrieveCheckout');
    expect(await f.engine.reconcile()).toMatchObject({ errors: 1 });
    expect(failures(f)).toEqual([expect.objectContaining({ effect: 'reconcile:checkout', bookingId: booking.id })]);
  });

  it('still finishes an ended slot whose hold it failed to release a moment before', async () => {
    const f = createFixture();
    const { slot, booking } = await pendingBooking(f, 60);
    f.clock.advanceMinutes(120); // hold expired and slot ended; no job ran
    f.gateway.failNext('expireCheckout');
    expect(await f.engine.reconcile()).toMatchObject({ holdsReleased: 0, slotsFinished: 1, errors: 1 });
    expect((await f.engine.getSchedule(slot.id)).status).toBe('expired');
    expect((await f.engine.getBooking(booking.id)).status).toBe('cancelled');
  });

  it('reports a refund it could not retry with the booking it is about', async () => {
    const f = createFixture();
    const { booking } = await paidBooking(f);
    f.gateway.failNext('refund');
    await expect(f.engine.refund({ bookingId: booking.id, amount: 1000 })).rejects.toMatchObject({
      code: 'PAYMENT_PROVIDER_ERROR',
    });
    f.clock.advanceMinutes(5);
    const getPaymentTransaction = f.store.getPaymentTransaction.bind(f.store);
    let armed = true;
    f.store.getPaymentTransaction = (id: string) => {
      if (!armed) return getPaymentTransaction(id);
      armed = false;
      return Promise.reject(new BookingError('STORE_ERROR', 'read timed out'));
    };
    expect(await f.engine.reconcile()).toMatchObject({ refundsRetried: 0, errors: 1 });
    expect(failures(f)).toEqual([expect.objectContaining({ effect: 'reconcile:refund', bookingId: booking.id })]);
  });
});

describe('refunds', () => {
  it('are recorded as pending before the provider is asked', async () => {
    const f = createFixture();
    const { booking } = await paidBooking(f);
    const seen: (string | undefined)[] = [];
    const refund = f.gateway.refund.bind(f.gateway);
    f.gateway.refund = async (request) => {
      const payment = await paymentOf(f, booking.id);
      seen.push(payment.refunds.find((r) => r.id === request.idempotencyKey)?.status);
      return refund(request);
    };
    await f.engine.refund({ bookingId: booking.id, amount: 1000 });
    expect(seen).toEqual(['pending']);
  });

  it('do not ask the provider again when a retry with the same key finds the refund made', async () => {
    const f = createFixture();
    const { booking } = await paidBooking(f);
    const first = await f.engine.refund({ bookingId: booking.id, amount: 1000, idempotencyKey: 'r-1' });
    const again = await f.engine.refund({ bookingId: booking.id, amount: 1000, idempotencyKey: 'r-1' });
    expect(again.refund).toEqual(first.refund);
    expect(f.gateway.calls.filter((c) => c.method === 'refund')).toHaveLength(1);
    expect(f.gateway.refunds.map((r) => r.amount)).toEqual([1000]);
  });

  it('report a failed refund with the payment as recorded after the failure', async () => {
    const f = createFixture();
    const { booking } = await paidBooking(f);
    f.gateway.failNext('refund');
    await expect(f.engine.refund({ bookingId: booking.id, amount: 1000 })).rejects.toMatchObject({
      code: 'PAYMENT_PROVIDER_ERROR',
    });
    const failed = f.events.filter((e) => e.name === 'refund.failed').map((e) => e.payload);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      refund: { status: 'failed' },
      payment: { refunds: [expect.objectContaining({ status: 'failed' })] },
    });
  });

  it('made outside careslot (e.g. on the provider dashboard) are recorded with the time they were seen', async () => {
    const f = createFixture();
    const { booking, paymentId } = await paidBooking(f);
    f.clock.advanceMinutes(30);
    const result = await f.engine.handlePaymentEvent({
      type: 'refund.updated',
      id: 'evt_dashboard_1',
      paymentId,
      providerRefundId: 're_dashboard_1',
      refundId: null,
      amount: 1000,
      currency: 'eur',
      status: 'succeeded',
    });
    expect(result.outcome).toBe('refund_updated');
    const external = (await paymentOf(f, booking.id)).refunds.find((r) => r.id === 'ext-re_dashboard_1');
    expect(external).toMatchObject({ amount: 1000, status: 'succeeded', createdAt: f.clock.now() });
  });
});

describe('the hold-timeout job', () => {
  it('treats a booking the store does not have as no longer pending', async () => {
    const f = createFixture();
    expect(await f.engine.runJob(JOB_NAMES.holdTimeout, { bookingId: '64b00000000000000000ffff' })).toBe('not_pending');
  });
});

describe('reschedule()', () => {
  it('says a taken slot is unavailable before it compares fees', async () => {
    const f = createFixture();
    const from = await f.slot(24 * 60);
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: from.id });
    const taken = await f.slot(26 * 60, { amount: 7000 });
    await f.engine.book({ patientId: PATIENTS.other, scheduleId: taken.id });
    const error = await rejectionOf(
      f.engine.reschedule({ bookingId: booking.id, newScheduleId: taken.id, actor: { role: 'doctor', id: DOCTOR } }),
    );
    expect(error).toMatchObject({ code: 'SCHEDULE_UNAVAILABLE', message: 'That slot is not available' });
  });

  it('says the booking is already on that slot before it checks the deadline', async () => {
    const f = createFixture();
    const slot = await f.slot(60); // inside the 2-hour reschedule deadline
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    const error = await rejectionOf(
      f.engine.reschedule({ bookingId: booking.id, newScheduleId: slot.id, actor: { role: 'doctor', id: DOCTOR } }),
    );
    expect(error).toMatchObject({ code: 'INVALID_INPUT', message: 'The booking is already on that slot' });
  });

  it('tells the loser of two moves of one booking to the same slot where the booking went', async () => {
    const f = createFixture();
    const from = await f.slot(24 * 60);
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: from.id });
    const target = await f.slot(26 * 60);
    const move = () =>
      f.engine.reschedule({ bookingId: booking.id, newScheduleId: target.id, actor: { role: 'doctor', id: DOCTOR } });
    const settled = await Promise.allSettled([move(), move()]);
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
    const lost = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason] : []));
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({
      code: 'INVALID_TRANSITION',
      message: 'The booking was moved meanwhile; nothing was moved',
      details: { scheduleId: target.id },
    });
    expect(await f.engine.getBooking(booking.id)).toMatchObject({ scheduleId: target.id, status: 'scheduled' });
  });
});

describe('input checks', () => {
  it('accept only http and https return URLs, spelled exactly', async () => {
    const f = createFixture();
    const slot = await f.slot();
    for (const successUrl of ['git+https://example.com/done', 'httpx://example.com/done']) {
      const error = await rejectionOf(f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id, successUrl }));
      expect(error, successUrl).toMatchObject({ code: 'INVALID_INPUT' });
    }
    const { paymentUrl } = await f.engine.book({
      patientId: PATIENTS.standard,
      scheduleId: slot.id,
      successUrl: 'https://example.com/done',
    });
    expect(paymentUrl).toBeDefined();
  });

  it('list held slots by status', async () => {
    const f = createFixture();
    const { slot } = await pendingBooking(f);
    await f.slot(26 * 60);
    expect((await f.engine.listSchedules({ status: 'pending' })).map((s) => s.id)).toEqual([slot.id]);
  });

  it('list completed and cancelled bookings by status', async () => {
    const f = createFixture();
    const done = await f.slot(60);
    const { booking: completed } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: done.id });
    const { booking: cancelled } = await pendingBooking(f, 24 * 60);
    await f.engine.cancelBooking({ bookingId: cancelled.id, actor: { role: 'patient', id: PATIENTS.standard } });
    await f.advance(100); // the first slot ended: its booking completed
    expect((await f.engine.listBookings({ status: 'completed' })).map((b) => b.id)).toEqual([completed.id]);
    expect((await f.engine.listBookings({ status: 'cancelled' })).map((b) => b.id)).toEqual([cancelled.id]);
  });
});
