// Payment events: replays, order, late payments, mismatches and refund events count money exactly once.
import { describe, expect, it } from 'vitest';
import type { PaymentEvent } from '../../src/index.js';
import { createFixture, DOCTOR, PATIENTS } from '../support/engine-fixture.js';

async function pendingBooking(f: ReturnType<typeof createFixture>, patientId: string = PATIENTS.standard) {
  const slot = await f.slot();
  const { booking } = await f.engine.book({ patientId, scheduleId: slot.id });
  const sessionId = f.gateway.sessionForBooking(booking.id)?.id ?? '';
  return { slot, booking, sessionId };
}

describe('replayed and out-of-order events', () => {
  it('credits the wallet once when the same payment event is delivered 10 times', async () => {
    const f = createFixture();
    const { booking, sessionId } = await pendingBooking(f);
    const event = f.gateway.pay(sessionId);
    const outcomes = [];
    for (let i = 0; i < 10; i++) outcomes.push((await f.engine.handlePaymentEvent(event)).outcome);
    expect(outcomes).toEqual(['confirmed', ...Array(9).fill('duplicate')]);
    const wallet = await f.engine.getWallet(DOCTOR);
    expect(wallet.balances).toEqual({ eur: 5000 });
    expect(wallet.entries).toHaveLength(1);
    expect(await f.store.findPaymentTransactions({ bookingId: booking.id })).toHaveLength(1);
    expect(f.notifications.filter((n) => n.type === 'appointmentBooking')).toHaveLength(1);
  });

  it('credits once when 10 copies of the event arrive concurrently', async () => {
    const f = createFixture();
    const { sessionId } = await pendingBooking(f);
    const event = f.gateway.pay(sessionId);
    const results = await Promise.all(Array.from({ length: 10 }, () => f.engine.handlePaymentEvent(event)));
    expect(results.filter((r) => r.outcome === 'confirmed')).toHaveLength(1);
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
  });

  it('credits once when the same payment arrives under two different event ids (completed, then async succeeded)', async () => {
    const f = createFixture();
    const { sessionId } = await pendingBooking(f);
    const first = f.gateway.pay(sessionId);
    const second: PaymentEvent = { ...first, id: 'evt_other_delivery' };
    expect((await f.engine.handlePaymentEvent(first)).outcome).toBe('confirmed');
    expect((await f.engine.handlePaymentEvent(second)).outcome).toBe('duplicate');
    expect((await f.engine.getWallet(DOCTOR)).entries).toHaveLength(1);
  });

  it('does not undo a paid booking when an expired event arrives after the completed one', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f);
    await f.engine.handlePaymentEvent(f.gateway.pay(sessionId));
    const late: PaymentEvent = { type: 'checkout.expired', id: 'evt_expired_late', bookingId: booking.id, sessionId };
    expect((await f.engine.handlePaymentEvent(late)).outcome).toBe('ignored');
    expect(await f.engine.getBooking(booking.id)).toMatchObject({ status: 'scheduled', paymentStatus: 'paid' });
    expect((await f.engine.getSchedule(slot.id)).status).toBe('booked');
  });

  it('ignores an event for a booking it does not know, and acknowledges it', async () => {
    const f = createFixture();
    const event: PaymentEvent = {
      type: 'payment.succeeded',
      id: 'evt_foreign',
      bookingId: 'not-ours',
      sessionId: 'cs_foreign',
      payment: { paymentId: 'pi_foreign', amount: 100, currency: 'eur' },
    };
    expect(await f.engine.handlePaymentEvent(event)).toEqual({
      outcome: 'ignored',
      bookingId: null,
      reason: 'unknown booking',
    });
    expect(f.events.map((e) => e.name)).toContain('payment.ignored');
  });

  it('finds the booking by checkout session when the event lacks the booking id', async () => {
    const f = createFixture();
    const { booking, sessionId } = await pendingBooking(f);
    const event = { ...f.gateway.pay(sessionId), bookingId: null } as PaymentEvent;
    expect(await f.engine.handlePaymentEvent(event)).toEqual({ outcome: 'confirmed', bookingId: booking.id });
  });

  it('leaves a booking alone and reports a mismatch when the amount paid differs from the price', async () => {
    const f = createFixture();
    const { booking, sessionId } = await pendingBooking(f);
    const result = await f.engine.handlePaymentEvent(f.gateway.pay(sessionId, { amount: 4000 }));
    expect(result.outcome).toBe('mismatch');
    expect((await f.engine.getBooking(booking.id)).status).toBe('pending');
    expect((await f.engine.getWallet(DOCTOR)).entries).toEqual([]);
    expect(f.events.map((e) => e.name)).toContain('payment.mismatch');
  });

  it('rejects a malformed event with INVALID_INPUT', async () => {
    const f = createFixture();
    await expect(
      f.engine.handlePaymentEvent({ type: 'nope', id: 'x' } as unknown as PaymentEvent),
    ).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    await expect(
      f.engine.handlePaymentEvent({ type: 'payment.succeeded', id: '' } as unknown as PaymentEvent),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});

describe('late payment', () => {
  it('confirms a payment that arrives after the hold expired while the slot is still free', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f);
    const session = f.gateway.sessions.get(sessionId);
    await f.advance(15); // hold released, session expired by careslot
    expect((await f.engine.getBooking(booking.id)).status).toBe('cancelled');
    // The provider had taken the money anyway (e.g. a race inside the provider).
    if (session) session.status = 'open';
    const result = await f.engine.handlePaymentEvent(f.gateway.pay(sessionId));
    expect(result.outcome).toBe('confirmed');
    const revived = await f.engine.getBooking(booking.id);
    expect(revived).toMatchObject({ status: 'scheduled', paymentStatus: 'paid', cancelReason: null });
    expect(revived.history.at(-1)?.reason).toBe('late_payment_accepted');
    expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'booked', bookedBy: PATIENTS.standard });
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
  });

  it('refunds a late payment in full when the slot went to someone else, and tells the patient', async () => {
    const f = createFixture();
    const { slot, booking, sessionId } = await pendingBooking(f);
    const session = f.gateway.sessions.get(sessionId);
    await f.advance(15);
    const rival = await f.engine.book({ patientId: PATIENTS.other, scheduleId: slot.id });
    if (session) session.status = 'open';
    const event = f.gateway.pay(sessionId);
    expect((await f.engine.handlePaymentEvent(event)).outcome).toBe('late_refund');
    expect(f.gateway.refunds).toEqual([
      expect.objectContaining({
        paymentId: event.type === 'payment.succeeded' ? event.payment.paymentId : '',
        amount: 5000,
      }),
    ]);
    const [payment] = await f.store.findPaymentTransactions({ bookingId: booking.id });
    expect(payment).toMatchObject({
      credited: false,
      refunds: [expect.objectContaining({ status: 'succeeded', amount: 5000 })],
    });
    expect(await f.engine.getBooking(booking.id)).toMatchObject({
      status: 'cancelled',
      paymentStatus: 'refunded',
      amountRefunded: 5000,
    });
    expect((await f.engine.getBooking(rival.booking.id)).status).toBe('pending');
    expect((await f.engine.getWallet(DOCTOR)).entries).toEqual([]);
    expect(f.notifications.filter((n) => n.type === 'paymentRefunded').map((n) => n.recipient.id)).toEqual([
      PATIENTS.standard,
    ]);
    // Replaying the event neither refunds again nor credits.
    expect((await f.engine.handlePaymentEvent(event)).outcome).toBe('duplicate');
    expect(f.gateway.refunds).toHaveLength(1);
  });

  it('keeps a failed late refund on record and retries it from the sweep with the same idempotency key', async () => {
    const f = createFixture();
    const { slot, sessionId } = await pendingBooking(f);
    const session = f.gateway.sessions.get(sessionId);
    await f.advance(15);
    await f.engine.book({ patientId: PATIENTS.other, scheduleId: slot.id });
    if (session) session.status = 'open';
    f.gateway.failNext('refund');
    await f.engine.handlePaymentEvent(f.gateway.pay(sessionId));
    const [failed] = await f.store.findPaymentTransactions({ refundStatus: 'failed' });
    expect(failed?.refunds[0]).toMatchObject({ status: 'failed' });
    expect(f.events.map((e) => e.name)).toContain('refund.failed');
    f.clock.advanceMinutes(2);
    const report = await f.engine.reconcile();
    expect(report.refundsRetried).toBe(1);
    const refundCalls = f.gateway.calls.filter((c) => c.method === 'refund');
    expect(refundCalls).toHaveLength(2);
    expect(refundCalls[0]?.idempotencyKey).toBe(refundCalls[1]?.idempotencyKey);
    expect(f.gateway.refunds).toHaveLength(1);
    expect(await f.store.findPaymentTransactions({ refundStatus: 'failed' })).toEqual([]);
  });
});

describe('refund events from the provider', () => {
  it('records a refund made outside careslot once and debits the wallet once', async () => {
    const f = createFixture();
    const { booking, sessionId } = await pendingBooking(f);
    const paid = f.gateway.pay(sessionId);
    await f.engine.handlePaymentEvent(paid);
    const paymentId = paid.type === 'payment.succeeded' ? paid.payment.paymentId : '';
    const refundEvent: PaymentEvent = {
      type: 'refund.updated',
      id: 'evt_refund_1',
      paymentId,
      providerRefundId: 're_dashboard',
      refundId: null,
      amount: 2000,
      currency: 'eur',
      status: 'succeeded',
    };
    expect((await f.engine.handlePaymentEvent(refundEvent)).outcome).toBe('refund_updated');
    expect((await f.engine.handlePaymentEvent(refundEvent)).outcome).toBe('duplicate');
    expect((await f.engine.handlePaymentEvent({ ...refundEvent, id: 'evt_refund_again' })).outcome).toBe(
      'refund_updated',
    );
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 3000 });
    expect(await f.engine.getBooking(booking.id)).toMatchObject({
      paymentStatus: 'partially_refunded',
      amountRefunded: 2000,
    });
  });
});
