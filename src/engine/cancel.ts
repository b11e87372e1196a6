// Cancellation by the patient, the doctor or an admin, with the refund the policy allows.
import { assertMayAct } from '../domain/authorization.js';
import { refundForCancellation } from '../domain/cancellation-policy.js';
import type { Actor, Booking, RefundRecord } from '../domain/entities.js';
import { BookingError } from '../domain/errors.js';
import { refundable } from '../domain/payment-rules.js';
import type { CancelReason } from '../domain/status.js';
import type { Effect, EngineContext } from './context.js';
import { cancelCompletion, scheduleExpiry } from './jobs.js';
import { cancelledNotifications } from './notifications.js';
import { addPendingRefund, settleRefund } from './refund.js';
import { cancelPending, closeCheckout } from './release.js';
import { cancelSchema, parseInput } from './validation.js';

export interface CancelInput {
  bookingId: string;
  /** Who cancels: the booking's patient, its doctor, or an admin. */
  actor: Actor;
  /** Free text kept in the booking's history. */
  reason?: string;
}

export interface CancelOutcome {
  booking: Booking;
  /** The refund made (or recorded for retry); null when nothing was paid or the policy gives nothing back. */
  refund: RefundRecord | null;
}

const REASON_BY_ROLE: Record<Actor['role'], CancelReason> = {
  patient: 'by_patient',
  doctor: 'by_doctor',
  admin: 'by_admin',
  system: 'by_system',
};

/**
 * Cancels a booking. Pending: the Checkout Session is expired first and the hold released (if
 * the patient paid meanwhile, the paid booking is cancelled instead, with its refund). Scheduled:
 * the slot returns to available if it is still in the future, the end-of-slot job is removed,
 * and the refund follows the cancellation policy (doctors and admins refund in full).
 */
export async function cancelBooking(ctx: EngineContext, input: CancelInput): Promise<CancelOutcome> {
  const args = parseInput(cancelSchema, input, 'cancelBooking');
  const booking = await ctx.store.getBooking(args.bookingId);
  if (!booking) throw new BookingError('BOOKING_NOT_FOUND', `No booking ${args.bookingId}`);
  assertMayAct(args.actor, booking, 'cancel');
  const reason = REASON_BY_ROLE[args.actor.role];

  if (booking.status === 'pending') {
    if ((await closeCheckout(ctx, booking)) === 'processing') {
      throw new BookingError('INVALID_TRANSITION', 'The payment is still being processed; try again once it settles');
    }
    const outcome = await cancelPending(ctx, {
      bookingId: booking.id,
      event: null,
      sessionId: null,
      reason,
      actor: args.actor,
      note: args.reason ?? null,
    });
    if (outcome === 'cancelled') {
      return { booking: await requireBooking(ctx, booking.id), refund: null };
    }
    // Paid meanwhile (by the expiry answer or a webhook): cancel the scheduled booking instead.
  }
  return cancelScheduled(ctx, booking.id, args.actor, reason, args.reason ?? null);
}

async function requireBooking(ctx: EngineContext, id: string): Promise<Booking> {
  const booking = await ctx.store.getBooking(id);
  if (!booking) throw new BookingError('BOOKING_NOT_FOUND', `No booking ${id}`);
  return booking;
}

async function cancelScheduled(
  ctx: EngineContext,
  bookingId: string,
  actor: Actor,
  reason: CancelReason,
  note: string | null,
): Promise<CancelOutcome> {
  const result = await ctx.commit(
    async (tx) => {
      const booking = await tx.getBooking(bookingId);
      if (!booking) throw new BookingError('BOOKING_NOT_FOUND', `No booking ${bookingId}`);
      if (booking.status !== 'scheduled') {
        throw new BookingError('INVALID_TRANSITION', `A ${booking.status} booking cannot be cancelled`, {
          details: { status: booking.status },
        });
      }
      const now = ctx.now();
      const payment = booking.paymentTransactionId
        ? await tx.getPaymentTransaction(booking.paymentTransactionId)
        : null;
      const amount = payment
        ? refundForCancellation({
            policy: ctx.options.cancellation,
            actorRole: actor.role,
            refundable: refundable(payment),
            startTime: booking.slotStart,
            now,
          })
        : 0;
      const cancelled = await tx.updateBookingIf({
        id: booking.id,
        expectedStatus: 'scheduled',
        set: { status: 'cancelled', cancelReason: reason },
        history: ctx.history('scheduled', 'cancelled', booking.paymentStatus, actor, note ?? reason),
      });
      if (!cancelled) throw new BookingError('INVALID_TRANSITION', 'The booking changed while cancelling; try again');
      const released =
        booking.slotStart > now
          ? await ctx.moveSlot(tx, { id: booking.scheduleId, from: 'booked', to: 'available', bookedBy: null })
          : null;
      const added =
        amount > 0
          ? await addPendingRefund(ctx, tx, { booking: cancelled, amount, refundId: `cancel-${booking.id}`, reason })
          : null;
      return { cancelled, released, added };
    },
    ({ cancelled, released }) => {
      const ids = { bookingId: cancelled.id, scheduleId: cancelled.scheduleId };
      const effects: Effect[] = [
        cancelCompletion(ctx, cancelled.scheduleId, ids),
        ctx.emitEffect('booking.cancelled', { booking: cancelled, reason }),
        ...cancelledNotifications(ctx, cancelled, reason),
      ];
      if (released) {
        effects.push(
          scheduleExpiry(ctx, released, ids),
          ctx.emitEffect('schedule.released', { schedule: released, bookingId: cancelled.id, reason }),
        );
      }
      return effects;
    },
  );

  const { cancelled, added } = result;
  const refund = added ? await settleRefund(ctx, added.payment.id, added.refund.id) : null;
  return { booking: await requireBooking(ctx, cancelled.id), refund };
}
