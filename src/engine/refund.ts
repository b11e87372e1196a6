// The refund workflow: full or partial, never more than was paid, exactly once per refund id.
import { randomUUID } from 'node:crypto';
import type { Actor, Booking, PaymentTransaction, RefundRecord } from '../domain/entities.js';
import { BookingError } from '../domain/errors.js';
import type { StoreOperations } from '../ports/booking-store.js';
import type { EngineContext } from './context.js';
import { settleRefund } from './payments.js';
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

/** What is left to refund: pending and succeeded refunds count, failed ones do not. */
export function refundable(payment: PaymentTransaction): number {
  const committed = payment.refunds.filter((r) => r.status !== 'failed').reduce((sum, r) => sum + r.amount, 0);
  return payment.amount - committed;
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
    return added;
  });
  const settled = await settleRefund(ctx, recorded.payment.id, recorded.refund.id);
  const booking = await ctx.store.getBooking(args.bookingId);
  if (!settled || !booking) throw new BookingError('STORE_ERROR', 'The refund record disappeared');
  if (settled.status === 'failed') {
    throw new BookingError(
      'PAYMENT_PROVIDER_ERROR',
      'The provider did not make the refund; it is recorded and will be retried',
      {
        details: { refundId: settled.id },
      },
    );
  }
  return { booking, refund: settled };
}
