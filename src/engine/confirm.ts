// Confirmation: money arrived for a booking (paid on time, paid late, or to be given back), and what follows.
import { type Booking, type PaymentTransaction, type RefundRecord, SYSTEM_ACTOR } from '../domain/entities.js';
import { BookingError, isBookingError } from '../domain/errors.js';
import { decideLatePayment, paysPrice } from '../domain/payment-rules.js';
import type { StoreOperations } from '../ports/booking-store.js';
import type { PaymentDetails, PaymentEvent } from '../ports/payment-gateway.js';
import type { Effect, EngineContext } from './context.js';
import { cancelExpiry, cancelHoldTimeout, scheduleCompletion, scheduleReminders } from './jobs.js';
import { creditBooking } from './ledger.js';
import { bookedNotifications } from './notifications.js';
import { stillOffered } from './offered-slots.js';

/** What `confirmPayment` did with the money. */
export type ConfirmOutcome = 'confirmed' | 'duplicate' | 'mismatch' | 'late_refund';

type ConfirmResult =
  | { kind: 'duplicate' }
  | { kind: 'confirmed'; booking: Booking; payment: PaymentTransaction }
  | { kind: 'mismatch' | 'late_refund'; booking: Booking; payment: PaymentTransaction; refundId: string };

/**
 * Money arrived for a booking. If it pays the booking's price and `decideLatePayment` says
 * confirm, the booking is confirmed; otherwise (wrong amount or currency, no amount, slot gone,
 * taken or started, a person cancelled) the money is recorded and refunded in full, keyed, so
 * the sweep retries it and it happens once. Runs in one transaction; the payment's provider id
 * makes it exactly-once. A mismatch is reported on `payment.mismatch` whichever path found it
 * (webhook, hold timeout, sweep).
 */
export async function confirmPayment(
  ctx: EngineContext,
  args: { event: PaymentEvent | null; bookingId: string; sessionId: string | null; payment: PaymentDetails },
): Promise<ConfirmOutcome> {
  const { event, payment } = args;
  const provider = ctx.payments.provider;
  const confirmed = ctx.commit(
    async (tx): Promise<ConfirmResult> => {
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
      const now = ctx.now();
      const slot = await tx.getSchedule(booking.scheduleId);
      const fits = paysPrice(payment, booking.price);
      let decision = fits ? decideLatePayment(booking, slot, now) : ({ action: 'refund' } as const);
      // A freed slot is confirmed late only if it is still on offer: not in time off, and (computed) still in the rules.
      if (slot && decision.action === 'confirm' && decision.late && !(await stillOffered(tx, slot, now))) {
        decision = { action: 'refund' };
      }
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
                // What the patient agreed to, kept: a later configuration change does not alter it.
                policy: ctx.currentPolicy(),
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
        // The money paid the price exactly (checked above): credit the price.
        await creditBooking(ctx, tx, booking, booking.price);
        await markEvent();
        return { kind: 'confirmed', booking: confirmed, payment: paymentRecord };
      }
      // Give the money back in full: recorded (never credited) with a pending refund the sweep retries.
      const kind = fits ? 'late_refund' : 'mismatch';
      const refundId = `${fits ? 'late' : 'mismatch'}-${booking.id}-${payment.paymentId}`.slice(0, 255);
      // An amount the provider never reported is recorded as 0 and refunded as "everything".
      const paymentRecord = await insertPayment(tx, provider, booking, args.sessionId, payment, false, {
        id: refundId,
        amount: payment.amount ?? 0,
        status: 'pending',
        providerRefundId: null,
        reason: fits ? 'late_payment' : 'payment_mismatch',
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
      return { kind, booking: current, payment: paymentRecord, refundId };
    },
    (result) => confirmResultEffects(ctx, event, result),
  );
  const result = await confirmed.catch((error: unknown) =>
    afterUnknownCommit(ctx, error, { provider, bookingId: args.bookingId, paymentId: payment.paymentId }),
  );
  return result.kind;
}

/** What follows each outcome, appended in the confirming transaction. */
function confirmResultEffects(ctx: EngineContext, event: PaymentEvent | null, result: ConfirmResult): Effect[] {
  if (result.kind === 'duplicate') return [];
  if (result.kind === 'confirmed') return confirmationEffects(ctx, result.booking, result.payment);
  const { booking, payment: recorded, refundId } = result;
  return [
    result.kind === 'mismatch'
      ? ctx.emitEffect('payment.mismatch', { event, booking, payment: recorded })
      : ctx.emitEffect('payment.lateRefund', { booking, payment: recorded }),
    {
      name: `refund:${result.kind === 'mismatch' ? 'payment_mismatch' : 'late_payment'}`,
      bookingId: booking.id,
      spec: { kind: 'refund.settle', paymentId: recorded.id, refundId },
    },
  ];
}

/**
 * A commit whose outcome the store could not learn (STORE_ERROR with `details.commitOutcome:
 * 'unknown'`) may have committed. If it did, the provider's retry finds the payment recorded
 * and stops at 'duplicate', and the after-commit work (jobs, `booking.confirmed`, notifications,
 * the refund) would never run. So read what is stored: this payment recorded for this booking
 * means the commit happened, and the result is rebuilt from it so the caller runs that work
 * now; otherwise the error stands and the provider's retry confirms.
 */
async function afterUnknownCommit(
  ctx: EngineContext,
  error: unknown,
  args: { provider: string; bookingId: string; paymentId: string },
): Promise<ConfirmResult> {
  if (!isBookingError(error) || error.details?.commitOutcome !== 'unknown') throw error;
  const recorded = await ctx.store.findPaymentTransaction({
    provider: args.provider,
    providerPaymentId: args.paymentId,
  });
  const booking = recorded?.bookingId === args.bookingId ? await ctx.store.getBooking(args.bookingId) : null;
  if (!recorded || !booking) throw error;
  const refund = recorded.refunds[0];
  if (!recorded.credited && !refund) throw error;
  // It committed, and with it the outbox records of its effects: deliver them now.
  await ctx.outbox.deliverPendingOf(booking.id);
  if (recorded.credited || !refund) return { kind: 'confirmed', booking, payment: recorded };
  const kind = refund.reason === 'late_payment' ? 'late_refund' : 'mismatch';
  return { kind, booking, payment: recorded, refundId: refund.id };
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
    amount: payment.amount ?? 0,
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
    ...scheduleReminders(ctx, booking),
    ctx.emitEffect('booking.confirmed', { booking, payment }),
    ...bookedNotifications(ctx, booking),
  ];
}
