// Confirmation: money arrived for a booking (paid on time, paid late, or to be given back), and what follows.
import { type Booking, type PaymentTransaction, type RefundRecord, SYSTEM_ACTOR } from '../domain/entities.js';
import { BookingError } from '../domain/errors.js';
import { decideLatePayment } from '../domain/payment-rules.js';
import type { StoreOperations } from '../ports/booking-store.js';
import type { PaymentDetails, PaymentEvent } from '../ports/payment-gateway.js';
import type { Effect, EngineContext } from './context.js';
import { cancelExpiry, cancelHoldTimeout, scheduleCompletion } from './jobs.js';
import { creditBooking } from './ledger.js';
import { bookedNotifications } from './notifications.js';
import { settleRefund } from './refund.js';

/** What `confirmPayment` did with the money. */
export type ConfirmOutcome = 'confirmed' | 'duplicate' | 'mismatch' | 'late_refund';

type ConfirmResult =
  | { kind: 'duplicate' }
  | { kind: 'mismatch'; booking: Booking }
  | { kind: 'confirmed'; booking: Booking; payment: PaymentTransaction }
  | { kind: 'late_refund'; booking: Booking; payment: PaymentTransaction; refundId: string };

/**
 * Money arrived for a booking; `decideLatePayment` says whether it confirms the booking or goes
 * back in full. Runs in one transaction; the payment's provider id makes it exactly-once.
 */
export async function confirmPayment(
  ctx: EngineContext,
  args: { event: PaymentEvent | null; bookingId: string; sessionId: string | null; payment: PaymentDetails },
): Promise<ConfirmOutcome> {
  const { event, payment } = args;
  const provider = ctx.payments.provider;
  const result = await ctx.store.transaction(async (tx): Promise<ConfirmResult> => {
    const markEvent = async () => {
      if (event) await tx.recordProcessedEvent({ id: event.id, type: event.type, at: ctx.now() });
    };
    if (event && (await tx.hasProcessedEvent(event.id))) return { kind: 'duplicate' };
    const booking = await tx.getBooking(args.bookingId);
    if (!booking) throw new BookingError('BOOKING_NOT_FOUND', `No booking ${args.bookingId}`);
    if (await tx.findPaymentTransaction({ provider, providerPaymentId: payment.paymentId })) {
      await markEvent();
      return { kind: 'duplicate' };
    }
    if (payment.amount !== booking.price.amount || payment.currency !== booking.price.currency) {
      await markEvent();
      return { kind: 'mismatch', booking };
    }
    const now = ctx.now();
    const slot = await tx.getSchedule(booking.scheduleId);
    const decision = decideLatePayment(booking, slot, now);
    if (slot && decision.action === 'confirm') {
      const paymentRecord = await insertPayment(tx, provider, booking, args.sessionId, payment, true);
      const claimed = await ctx.moveSlot(tx, {
        id: slot.id,
        from: slot.status,
        to: 'booked',
        bookedBy: booking.patientId,
      });
      const confirmed = claimed
        ? await tx.updateBookingIf({
            id: booking.id,
            expectedStatus: booking.status,
            set: {
              status: 'scheduled',
              paymentStatus: 'paid',
              cancelReason: null,
              holdExpiresAt: null,
              paymentTransactionId: paymentRecord.id,
            },
            history: ctx.history(
              booking.status,
              'scheduled',
              'paid',
              SYSTEM_ACTOR,
              decision.late ? 'late_payment_accepted' : 'payment_succeeded',
            ),
          })
        : null;
      // Both were checked in this transaction; failing here means the store broke isolation.
      if (!confirmed)
        throw new BookingError(
          'STORE_ERROR',
          `Could not confirm booking ${booking.id}: state changed inside a transaction`,
        );
      await creditBooking(ctx, tx, booking, payment);
      await markEvent();
      return { kind: 'confirmed', booking: confirmed, payment: paymentRecord };
    }
    // The slot went to someone else, ended, or this booking is already paid: give the money back.
    const refundId = `late-${booking.id}-${payment.paymentId}`.slice(0, 255);
    const paymentRecord = await insertPayment(tx, provider, booking, args.sessionId, payment, false, {
      id: refundId,
      amount: payment.amount,
      status: 'pending',
      providerRefundId: null,
      reason: 'late_payment',
      failureMessage: null,
      createdAt: now,
      updatedAt: now,
    });
    let current = booking;
    if (booking.paymentTransactionId === null) {
      current =
        (await tx.updateBookingIf({
          id: booking.id,
          expectedStatus: booking.status,
          set: { paymentTransactionId: paymentRecord.id, paymentStatus: 'paid' },
        })) ?? booking;
    }
    await markEvent();
    return { kind: 'late_refund', booking: current, payment: paymentRecord, refundId };
  });

  switch (result.kind) {
    case 'duplicate':
      return 'duplicate';
    case 'mismatch':
      if (event) ctx.emit('payment.mismatch', { event, booking: result.booking });
      return 'mismatch';
    case 'late_refund':
      await ctx.runEffects([
        ctx.emitEffect('payment.lateRefund', { booking: result.booking, payment: result.payment }),
        {
          name: 'refund:late_payment',
          bookingId: result.booking.id,
          run: () => settleRefund(ctx, result.payment.id, result.refundId),
        },
      ]);
      return 'late_refund';
    case 'confirmed':
      await ctx.runEffects(confirmationEffects(ctx, result.booking, result.payment));
      return 'confirmed';
  }
}

async function insertPayment(
  tx: StoreOperations,
  provider: string,
  booking: Booking,
  sessionId: string | null,
  payment: PaymentDetails,
  credited: boolean,
  refund?: RefundRecord,
): Promise<PaymentTransaction> {
  const record = await tx.insertPaymentTransaction({
    bookingId: booking.id,
    provider,
    providerPaymentId: payment.paymentId,
    checkoutSessionId: sessionId ?? booking.checkoutSessionId,
    amount: payment.amount,
    currency: payment.currency,
    credited,
    refunds: refund ? [refund] : [],
  });
  if (!record) throw new BookingError('STORE_ERROR', `Payment ${payment.paymentId} was recorded concurrently`);
  return record;
}

/** After a booking becomes scheduled (paid, or on the free path): jobs, the event, notifications. */
export function confirmationEffects(
  ctx: EngineContext,
  booking: Booking,
  payment: PaymentTransaction | null,
): Effect[] {
  const ids = { bookingId: booking.id, scheduleId: booking.scheduleId };
  const slot = { id: booking.scheduleId, endTime: booking.slotEnd };
  return [
    cancelHoldTimeout(ctx, booking.id, ids),
    scheduleCompletion(ctx, slot, ids),
    cancelExpiry(ctx, booking.scheduleId, ids),
    ctx.emitEffect('booking.confirmed', { booking, payment }),
    bookedNotifications(ctx, booking),
  ];
}
