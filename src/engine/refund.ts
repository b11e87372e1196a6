// All of refunding: the API refund, recording and settling refunds exactly once, and the provider's refund events.
import { randomUUID } from 'node:crypto';
import {
  type Actor,
  type Booking,
  type PaymentTransaction,
  type RefundRecord,
  SYSTEM_ACTOR,
} from '../domain/entities.js';
import { BookingError } from '../domain/errors.js';
import { refundable } from '../domain/payment-rules.js';
import type { StoreOperations } from '../ports/booking-store.js';
import type { PaymentEvent, RefundResult } from '../ports/payment-gateway.js';
import type { Effect, EngineContext } from './context.js';
import { debitRefund } from './ledger.js';
import { refundedNotification } from './notifications.js';
import { parseInput, refundSchema } from './validation.js';

export interface RefundInput {
  bookingId: string;
  /** Minor units; defaults to everything not yet refunded. */
  amount?: number;
  reason?: string;
  /**
   * Makes retries safe: the same booking and key return the first refund instead of making
   * another.
   */
  idempotencyKey?: string;
  /** Who asked, for the booking's history. @defaultValue the system actor */
  actor?: Actor;
}

export interface RefundOutcome {
  booking: Booking;
  refund: RefundRecord;
}

/** What a provider refund event did (a subset of `PaymentEventResult`). */
export interface RefundEventResult {
  outcome: 'duplicate' | 'ignored' | 'refund_updated';
  bookingId: string | null;
}

/**
 * Records a pending refund on the booking's payment inside `tx`. Returns null when nothing
 * is refundable. Throws INVALID_INPUT when `amount` exceeds what is left.
 */
export async function addPendingRefund(
  ctx: EngineContext,
  tx: StoreOperations,
  args: { booking: Booking; amount: number | undefined; refundId: string; reason: string },
): Promise<{ payment: PaymentTransaction; refund: RefundRecord } | null> {
  const { booking } = args;
  if (booking.paymentTransactionId === null) return null;
  const payment = await tx.getPaymentTransaction(booking.paymentTransactionId);
  if (!payment) return null;
  const existing = payment.refunds.find((r) => r.id === args.refundId);
  if (existing) return { payment, refund: existing };
  const left = refundable(payment);
  const amount = args.amount ?? left;
  if (amount > left) {
    throw new BookingError('INVALID_INPUT', `Refund of ${amount} exceeds the ${left} left to refund on this booking`, {
      details: { refundable: left },
    });
  }
  if (amount <= 0) return null;
  const now = ctx.now();
  const refund: RefundRecord = {
    id: args.refundId,
    amount,
    status: 'pending',
    providerRefundId: null,
    reason: args.reason,
    failureMessage: null,
    createdAt: now,
    updatedAt: now,
  };
  const saved = await tx.upsertRefund({ paymentTransactionId: payment.id, refund });
  if (!saved) return null;
  return { payment: saved, refund };
}

/**
 * Refunds a paid booking through the provider. The refund is recorded as pending before the
 * provider is called (its id is the idempotency key), so a crash or a provider failure leaves
 * a record the sweep retries; it is never lost and never made twice.
 */
export async function refund(ctx: EngineContext, input: RefundInput): Promise<RefundOutcome> {
  const args = parseInput(refundSchema, input, 'refund');
  const refundId = args.idempotencyKey
    ? `api-${args.bookingId}-${args.idempotencyKey}`.slice(0, 255)
    : `api-${args.bookingId}-${randomUUID()}`;
  const recorded = await ctx.store.transaction(async (tx) => {
    const booking = await tx.getBooking(args.bookingId);
    if (!booking) throw new BookingError('BOOKING_NOT_FOUND', `No booking ${args.bookingId}`);
    if (
      booking.paymentTransactionId === null ||
      !['paid', 'partially_refunded', 'refunded'].includes(booking.paymentStatus)
    ) {
      throw new BookingError('INVALID_TRANSITION', 'This booking has no payment to refund', {
        details: { paymentStatus: booking.paymentStatus },
      });
    }
    const added = await addPendingRefund(ctx, tx, {
      booking,
      amount: args.amount,
      refundId,
      reason: args.reason ?? 'requested',
    });
    if (!added) throw new BookingError('INVALID_TRANSITION', 'Everything paid for this booking is already refunded');
    // Who asked, in the booking's history: the refund settles later, possibly in the sweep.
    const actor = args.actor ?? SYSTEM_ACTOR;
    await tx.updateBookingIf({
      id: booking.id,
      expectedStatus: booking.status,
      set: {},
      history: ctx.history(
        booking.status,
        booking.status,
        booking.paymentStatus,
        actor,
        `refund_requested:${added.refund.id}`,
      ),
    });
    return added;
  });
  const settled = await settleRefund(ctx, recorded.payment.id, recorded.refund.id);
  const booking = await ctx.store.getBooking(args.bookingId);
  if (!settled || !booking) throw new BookingError('STORE_ERROR', 'The refund record disappeared');
  if (settled.status === 'failed') {
    throw new BookingError(
      'PAYMENT_PROVIDER_ERROR',
      'The provider did not make the refund; it is recorded and will be retried',
      { details: { refundId: settled.id } },
    );
  }
  return { booking, refund: settled };
}

/**
 * Records a provider's answer about a refund, exactly once: the first time a refund is seen
 * as succeeded, the doctor's wallet is debited (when the payment had been credited) and the
 * booking's refunded total and payment status move.
 */
async function recordRefundOutcome(
  ctx: EngineContext,
  tx: StoreOperations,
  paymentTransactionId: string,
  update: RefundRecord,
): Promise<{ payment: PaymentTransaction; refund: RefundRecord; succeededNow: boolean } | null> {
  const payment = await tx.getPaymentTransaction(paymentTransactionId);
  if (!payment) return null;
  const previous = payment.refunds.find((r) => r.id === update.id);
  if (previous?.status === 'succeeded') return { payment, refund: previous, succeededNow: false };
  const refund: RefundRecord = {
    ...update,
    providerRefundId: update.providerRefundId ?? previous?.providerRefundId ?? null,
    createdAt: previous?.createdAt ?? update.createdAt,
  };
  const saved = await tx.upsertRefund({ paymentTransactionId, refund });
  if (!saved) return null;
  const succeededNow = refund.status === 'succeeded';
  if (succeededNow) {
    const booking = await tx.getBooking(payment.bookingId);
    if (payment.credited && booking) await debitRefund(ctx, tx, booking, payment, refund);
    if (booking && booking.paymentTransactionId === payment.id) {
      const amountRefunded = booking.amountRefunded + refund.amount;
      const paymentStatus = amountRefunded >= payment.amount ? 'refunded' : 'partially_refunded';
      await tx.updateBookingIf({
        id: booking.id,
        expectedStatus: booking.status,
        set: { amountRefunded, paymentStatus },
        history: ctx.history(booking.status, booking.status, paymentStatus, SYSTEM_ACTOR, refund.reason ?? 'refund'),
      });
    }
  }
  return { payment: saved, refund, succeededNow };
}

function refundEffects(ctx: EngineContext, payment: PaymentTransaction, refund: RefundRecord): Effect[] {
  return [ctx.emitEffect('refund.succeeded', { payment, refund }), refundedNotification(payment, refund)];
}

/**
 * Asks the provider to make a refund already recorded as pending or failed, with the
 * refund's id as idempotency key (so retries never refund twice), and records the answer.
 */
export async function settleRefund(
  ctx: EngineContext,
  paymentTransactionId: string,
  refundId: string,
): Promise<RefundRecord | null> {
  const payment = await ctx.store.getPaymentTransaction(paymentTransactionId);
  const refund = payment?.refunds.find((r) => r.id === refundId);
  if (!payment || !refund) return null;
  if (refund.status === 'succeeded') return refund;
  let answer: RefundResult;
  try {
    answer = await ctx.payments.refund({
      bookingId: payment.bookingId,
      paymentId: payment.providerPaymentId,
      // A zero refund exists only for a payment of unknown amount: ask for everything left.
      amount: refund.amount > 0 ? refund.amount : null,
      currency: payment.currency,
      idempotencyKey: refund.id,
      ...(refund.reason === null ? {} : { reason: refund.reason }),
    });
  } catch (error) {
    const failed: RefundRecord = {
      ...refund,
      status: 'failed',
      failureMessage: error instanceof Error ? error.message : String(error),
      updatedAt: ctx.now(),
    };
    const saved = await ctx.commit(
      (tx) => recordRefundOutcome(ctx, tx, payment.id, failed),
      (outcome) => [
        ctx.emitEffect('refund.failed', {
          payment: outcome?.payment ?? payment,
          refund: outcome?.refund ?? failed,
          error,
        }),
      ],
    );
    return saved?.refund ?? failed;
  }
  const next: RefundRecord = {
    ...refund,
    status: answer.status,
    providerRefundId: answer.providerRefundId,
    failureMessage: answer.status === 'failed' ? 'refused by the payment provider' : null,
    updatedAt: ctx.now(),
  };
  const saved = await ctx.commit(
    (tx) => recordRefundOutcome(ctx, tx, payment.id, next),
    (outcome): Effect[] => {
      if (!outcome) return [];
      if (outcome.succeededNow) return refundEffects(ctx, outcome.payment, outcome.refund);
      if (outcome.refund.status !== 'failed') return [];
      const error = new Error('refused by the payment provider');
      return [ctx.emitEffect('refund.failed', { payment: outcome.payment, refund: outcome.refund, error })];
    },
  );
  if (!saved) return null;
  return saved.refund;
}

/**
 * A refund event from the provider: matches a refund careslot made (by its id or the
 * provider's) or records one made elsewhere (e.g. the Stripe dashboard), debiting once.
 */
export async function applyRefundEvent(
  ctx: EngineContext,
  event: Extract<PaymentEvent, { type: 'refund.updated' }>,
): Promise<RefundEventResult> {
  const result = await ctx.commit(
    async (tx) => {
      if (await tx.hasProcessedEvent(event.id)) return { kind: 'duplicate' as const };
      await tx.recordProcessedEvent({ id: event.id, type: event.type, at: ctx.now() });
      const payment = await tx.findPaymentTransaction({
        provider: ctx.payments.provider,
        providerPaymentId: event.paymentId,
      });
      if (!payment) return { kind: 'ignored' as const, bookingId: null, reason: 'unknown payment' };
      if (event.currency !== payment.currency) {
        return {
          kind: 'ignored' as const,
          bookingId: payment.bookingId,
          reason: 'refund currency differs from the payment',
        };
      }
      const existing = payment.refunds.find(
        (r) => (event.refundId !== null && r.id === event.refundId) || r.providerRefundId === event.providerRefundId,
      );
      const now = ctx.now();
      const refund: RefundRecord = existing
        ? { ...existing, status: event.status, providerRefundId: event.providerRefundId, updatedAt: now }
        : {
            id: `ext-${event.providerRefundId}`,
            amount: event.amount,
            status: event.status,
            providerRefundId: event.providerRefundId,
            reason: 'provider_refund',
            failureMessage: null,
            createdAt: now,
            updatedAt: now,
          };
      const saved = await recordRefundOutcome(ctx, tx, payment.id, refund);
      return { kind: 'applied' as const, saved, bookingId: payment.bookingId };
    },
    (outcome) =>
      outcome.kind === 'applied' && outcome.saved?.succeededNow
        ? refundEffects(ctx, outcome.saved.payment, outcome.saved.refund)
        : [],
  );
  if (result.kind === 'duplicate') return { outcome: 'duplicate', bookingId: null };
  if (result.kind === 'ignored') {
    ctx.emit('payment.ignored', { event, reason: result.reason });
    return { outcome: 'ignored', bookingId: result.bookingId };
  }
  return { outcome: 'refund_updated', bookingId: result.bookingId };
}
