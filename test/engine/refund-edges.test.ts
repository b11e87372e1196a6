// Refunds at their edges: what the API refuses and why, provider answers other than success, and provider refund events matched exactly once.
import { describe, expect, it } from 'vitest';
import type { PaymentEvent, RefundRecord } from '../../src/index.js';
import { createFixture, DOCTOR, type Fixture, PATIENTS, rejectionOf } from '../support/engine-fixture.js';

/** A booking paid in full (50.00 EUR), with the provider's payment id. */
async function paidBooking(f: Fixture) {
  const slot = await f.slot();
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  const sessionId = f.gateway.sessionForBooking(booking.id)?.id ?? '';
  const paid = f.gateway.pay(sessionId);
  await f.engine.handlePaymentEvent(paid);
  const paymentId = paid.type === 'payment.succeeded' ? paid.payment.paymentId : '';
  return { slot, booking, sessionId, paymentId };
}

const refundEvent = (over: Partial<Extract<PaymentEvent, { type: 'refund.updated' }>>): PaymentEvent => ({
  type: 'refund.updated',
  id: 'evt_refund',
  paymentId: 'pi_unknown',
  providerRefundId: 're_x',
  refundId: null,
  amount: 1000,
  currency: 'eur',
  status: 'succeeded',
  ...over,
});

describe('the refund API', () => {
  it('refuses a booking with no payment, saying so and giving the payment status', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    const error = await rejectionOf(f.engine.refund({ bookingId: booking.id }));
    expect(error).toMatchObject({
      code: 'INVALID_TRANSITION',
      message: 'This booking has no payment to refund',
      details: { paymentStatus: 'unpaid' },
    });
    await expect(f.engine.refund({ bookingId: '64b0000000000000000000ff' })).rejects.toMatchObject({
      code: 'BOOKING_NOT_FOUND',
      message: 'No booking 64b0000000000000000000ff',
    });
  });

  it('refuses more than is left, saying how much is left', async () => {
    const f = createFixture();
    const { booking } = await paidBooking(f);
    await f.engine.refund({ bookingId: booking.id, amount: 2000 });
    const error = await rejectionOf(f.engine.refund({ bookingId: booking.id, amount: 3001 }));
    expect(error).toMatchObject({
      code: 'INVALID_INPUT',
      message: 'Refund of 3001 exceeds the 3000 left to refund on this booking',
      details: { refundable: 3000 },
    });
    const rest = await f.engine.refund({ bookingId: booking.id });
    expect(rest.refund.amount).toBe(3000);
    await expect(f.engine.refund({ bookingId: booking.id })).rejects.toMatchObject({
      code: 'INVALID_TRANSITION',
      message: 'Everything paid for this booking is already refunded',
    });
    expect(f.gateway.refunds.map((r) => r.amount)).toEqual([2000, 3000]);
  });

  it('records the reason given (default requested), sends it to the provider, and keys the refund by the idempotency key', async () => {
    const f = createFixture();
    const { booking, paymentId } = await paidBooking(f);
    const sent: unknown[] = [];
    const refund = f.gateway.refund.bind(f.gateway);
    f.gateway.refund = (request) => {
      sent.push(request);
      return refund(request);
    };
    const first = await f.engine.refund({ bookingId: booking.id, amount: 1000, idempotencyKey: 'k1' });
    expect(first.refund).toMatchObject({ id: `api-${booking.id}-k1`, reason: 'requested', status: 'succeeded' });
    const second = await f.engine.refund({ bookingId: booking.id, amount: 500, reason: 'goodwill' });
    expect(second.refund.reason).toBe('goodwill');
    expect(sent).toEqual([
      {
        bookingId: booking.id,
        paymentId,
        amount: 1000,
        currency: 'eur',
        idempotencyKey: `api-${booking.id}-k1`,
        reason: 'requested',
      },
      expect.objectContaining({ amount: 500, reason: 'goodwill' }),
    ]);
    expect(second.booking).toMatchObject({ paymentStatus: 'partially_refunded', amountRefunded: 1500 });
    expect(second.booking.history.at(-1)).toMatchObject({ paymentStatus: 'partially_refunded', reason: 'goodwill' });
  });

  it('leaves a refund the provider answers pending as pending: no debit, no notification, the booking unchanged', async () => {
    const f = createFixture();
    const { booking } = await paidBooking(f);
    f.gateway.refund = async () => ({ providerRefundId: 're_pending', status: 'pending' });
    f.notifications.length = 0;
    const { refund } = await f.engine.refund({ bookingId: booking.id, amount: 1000 });
    expect(refund).toMatchObject({ status: 'pending', providerRefundId: 're_pending', failureMessage: null });
    expect(f.events.map((e) => e.name)).not.toContain('refund.succeeded');
    expect(f.events.map((e) => e.name)).not.toContain('refund.failed');
    expect(f.notifications).toEqual([]);
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
    expect(await f.engine.getBooking(booking.id)).toMatchObject({ paymentStatus: 'paid', amountRefunded: 0 });
  });

  it('throws PAYMENT_PROVIDER_ERROR naming the recorded refund when the provider refuses, and reports refund.failed', async () => {
    const f = createFixture();
    const { booking } = await paidBooking(f);
    f.gateway.refund = async () => ({ providerRefundId: 're_refused', status: 'failed' });
    const error = await rejectionOf(f.engine.refund({ bookingId: booking.id, amount: 1000, idempotencyKey: 'k' }));
    expect(error).toMatchObject({
      code: 'PAYMENT_PROVIDER_ERROR',
      message: 'The provider did not make the refund; it is recorded and will be retried',
      details: { refundId: `api-${booking.id}-k` },
    });
    const failed = f.events.find((e) => e.name === 'refund.failed')?.payload as { refund: RefundRecord; error: Error };
    expect(failed.refund).toMatchObject({
      id: `api-${booking.id}-k`,
      status: 'failed',
      providerRefundId: 're_refused',
      failureMessage: 'refused by the payment provider',
    });
    expect(failed.error.message).toBe('refused by the payment provider');
    expect(f.events.filter((e) => e.name === 'refund.failed')).toHaveLength(1);
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
  });

  it('keeps the provider error message on a refund whose call threw, and reports it with the recorded refund', async () => {
    const f = createFixture();
    const { booking } = await paidBooking(f);
    f.gateway.failNext('refund');
    const error = await rejectionOf(f.engine.refund({ bookingId: booking.id, amount: 700 }));
    expect(error.code).toBe('PAYMENT_PROVIDER_ERROR');
    const failed = f.events.find((e) => e.name === 'refund.failed')?.payload as { refund: RefundRecord };
    expect(failed.refund).toMatchObject({
      amount: 700,
      status: 'failed',
      failureMessage: 'Test provider failed in refund',
    });
    const [payment] = await f.store.findPaymentTransactions({ bookingId: booking.id });
    expect(payment?.refunds).toEqual([failed.refund]);
  });
});

describe('refund events from the provider', () => {
  it('ignores an event for a payment careslot does not know, and says so', async () => {
    const f = createFixture();
    const event = refundEvent({ id: 'evt_unknown' });
    expect(await f.engine.handlePaymentEvent(event)).toEqual({ outcome: 'ignored', bookingId: null });
    expect(f.events.find((e) => e.name === 'payment.ignored')?.payload).toEqual({ event, reason: 'unknown payment' });
    expect(await f.engine.handlePaymentEvent(event)).toEqual({ outcome: 'duplicate', bookingId: null });
  });

  it('ignores a refund in another currency than the payment, naming the booking, and debits nothing', async () => {
    const f = createFixture();
    const { booking, paymentId } = await paidBooking(f);
    const event = refundEvent({ paymentId, currency: 'usd' });
    expect(await f.engine.handlePaymentEvent(event)).toEqual({ outcome: 'ignored', bookingId: booking.id });
    expect(f.events.find((e) => e.name === 'payment.ignored')?.payload).toEqual({
      event,
      reason: 'refund currency differs from the payment',
    });
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
    expect((await f.store.findPaymentTransactions({ bookingId: booking.id }))[0]?.refunds).toEqual([]);
  });

  it('records a dashboard refund as ext-<provider id> (provider_refund), debits and notifies once', async () => {
    const f = createFixture();
    const { booking, paymentId } = await paidBooking(f);
    f.notifications.length = 0;
    const event = refundEvent({ paymentId, providerRefundId: 're_dash', amount: 1500 });
    expect(await f.engine.handlePaymentEvent(event)).toEqual({ outcome: 'refund_updated', bookingId: booking.id });
    const [payment] = await f.store.findPaymentTransactions({ bookingId: booking.id });
    expect(payment?.refunds).toEqual([
      expect.objectContaining({ id: 'ext-re_dash', amount: 1500, status: 'succeeded', reason: 'provider_refund' }),
    ]);
    expect(f.notifications.map((n) => n.type)).toEqual(['paymentRefunded']);
    expect(f.events.filter((e) => e.name === 'refund.succeeded')).toHaveLength(1);
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 3500 });
    expect(await f.engine.getBooking(booking.id)).toMatchObject({
      amountRefunded: 1500,
      paymentStatus: 'partially_refunded',
    });
    expect((await f.engine.getBooking(booking.id)).history.at(-1)).toMatchObject({ reason: 'provider_refund' });
  });

  it('settles a pending API refund by its careslot id when the provider reports it succeeded, debiting once', async () => {
    const f = createFixture();
    const { booking, paymentId } = await paidBooking(f);
    f.gateway.refund = async () => ({ providerRefundId: 're_later', status: 'pending' });
    const { refund } = await f.engine.refund({ bookingId: booking.id, amount: 1000 });
    // The provider reports it under another id than it answered (its id changed, or a second object).
    const event = refundEvent({ paymentId, providerRefundId: 're_other', refundId: refund.id, amount: 1000 });
    expect((await f.engine.handlePaymentEvent(event)).outcome).toBe('refund_updated');
    const [payment] = await f.store.findPaymentTransactions({ bookingId: booking.id });
    expect(payment?.refunds).toEqual([
      expect.objectContaining({
        id: refund.id,
        status: 'succeeded',
        providerRefundId: 're_other',
        createdAt: refund.createdAt,
        reason: 'requested',
      }),
    ]);
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 4000 });
    // The same change again under a new event id changes nothing more.
    expect((await f.engine.handlePaymentEvent({ ...event, id: 'evt_again' })).outcome).toBe('refund_updated');
    expect((await f.engine.getWallet(DOCTOR)).entries.filter((e) => e.kind === 'debit')).toHaveLength(1);
    expect(f.events.filter((e) => e.name === 'refund.succeeded')).toHaveLength(1);
  });

  it('matches by provider refund id when the event carries no careslot id', async () => {
    const f = createFixture();
    const { booking, paymentId } = await paidBooking(f);
    f.gateway.refund = async () => ({ providerRefundId: 're_known', status: 'pending' });
    const { refund } = await f.engine.refund({ bookingId: booking.id, amount: 800 });
    await f.engine.handlePaymentEvent(refundEvent({ paymentId, providerRefundId: 're_known', amount: 800 }));
    const [payment] = await f.store.findPaymentTransactions({ bookingId: booking.id });
    expect(payment?.refunds).toEqual([expect.objectContaining({ id: refund.id, status: 'succeeded', amount: 800 })]);
  });

  it('does not take a careslot id of another refund for a match: an event naming a different id is a new refund', async () => {
    const f = createFixture();
    const { booking, paymentId } = await paidBooking(f);
    f.gateway.refund = async () => ({ providerRefundId: 're_a', status: 'pending' });
    const { refund } = await f.engine.refund({ bookingId: booking.id, amount: 800 });
    await f.engine.handlePaymentEvent(
      refundEvent({ paymentId, providerRefundId: 're_b', refundId: 'someone-else', amount: 300 }),
    );
    const [payment] = await f.store.findPaymentTransactions({ bookingId: booking.id });
    expect(payment?.refunds.map((r) => [r.id, r.status, r.amount])).toEqual([
      [refund.id, 'pending', 800],
      ['ext-re_b', 'succeeded', 300],
    ]);
  });

  it('marks a refund the provider reports failed, without debiting or notifying', async () => {
    const f = createFixture();
    const { booking, paymentId } = await paidBooking(f);
    f.notifications.length = 0;
    const event = refundEvent({ paymentId, providerRefundId: 're_f', status: 'failed', amount: 1000 });
    expect((await f.engine.handlePaymentEvent(event)).outcome).toBe('refund_updated');
    expect(f.notifications).toEqual([]);
    expect(f.events.map((e) => e.name)).not.toContain('refund.succeeded');
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 5000 });
    expect(await f.engine.getBooking(booking.id)).toMatchObject({ amountRefunded: 0, paymentStatus: 'paid' });
  });
});

describe('the sweep and refunds', () => {
  it('retries a failed refund only after the grace period, exactly once, and counts it', async () => {
    const f = createFixture({ reconcileGraceMs: 60_000 });
    const { booking } = await paidBooking(f);
    f.gateway.failNext('refund');
    await rejectionOf(f.engine.refund({ bookingId: booking.id, amount: 1000 }));
    f.clock.advanceMinutes(0.5);
    expect((await f.engine.reconcile()).refundsRetried).toBe(0);
    f.clock.advanceMinutes(0.5); // exactly the grace period after the failure: due
    expect((await f.engine.reconcile()).refundsRetried).toBe(1);
    f.clock.advanceMinutes(5);
    expect((await f.engine.reconcile()).refundsRetried).toBe(0);
    expect(f.gateway.refunds.map((r) => r.amount)).toEqual([1000]);
    expect((await f.engine.getWallet(DOCTOR)).balances).toEqual({ eur: 4000 });
  });

  it('retries a refund left pending (no answer recorded) after the grace period, and leaves succeeded ones alone', async () => {
    const f = createFixture();
    const { booking } = await paidBooking(f);
    await f.engine.refund({ bookingId: booking.id, amount: 1000 });
    const original = f.gateway.refund.bind(f.gateway);
    f.gateway.refund = async () => ({ providerRefundId: 're_p', status: 'pending' });
    await f.engine.refund({ bookingId: booking.id, amount: 500 });
    f.gateway.refund = original;
    f.clock.advanceMinutes(2);
    expect((await f.engine.reconcile()).refundsRetried).toBe(1);
    expect(f.gateway.refunds.map((r) => r.amount)).toEqual([1000, 500]);
    expect((await f.engine.getBooking(booking.id)).amountRefunded).toBe(1500);
  });

  it('counts a retry that fails again as retried, not as an error, and keeps the refund failed for the next sweep', async () => {
    const f = createFixture();
    const { booking } = await paidBooking(f);
    f.gateway.failNext('refund', 2);
    await rejectionOf(f.engine.refund({ bookingId: booking.id, amount: 1000 }));
    f.clock.advanceMinutes(2);
    const report = await f.engine.reconcile();
    expect(report).toMatchObject({ refundsRetried: 1, errors: 0 });
    const [payment] = await f.store.findPaymentTransactions({ bookingId: booking.id });
    expect(payment?.refunds[0]).toMatchObject({ status: 'failed' });
  });
});
