// Cancellation by the patient, the doctor or an admin, with the refund the policy allows.
import { assertMayAct } from '../domain/authorization.js';
import { quoteRefund, type RefundQuote } from '../domain/cancellation-policy.js';
import type { Actor, Booking, RefundRecord } from '../domain/entities.js';
import { BookingError } from '../domain/errors.js';
import type { Money } from '../domain/money.js';
import { refundable } from '../domain/payment-rules.js';
import type { CancelReason } from '../domain/status.js';
import type { StoreReads } from '../ports/booking-store.js';
import type { Effect, EngineContext } from './context.js';
import { cancelCompletion, cancelReminders, scheduleExpiry } from './jobs.js';
import { cancelledNotifications } from './notifications.js';
import { addPendingRefund, settleRefund } from './refund.js';
import { cancelPending, closeCheckout } from './release.js';
import { cancelSchema, parseInput, quoteCancellationSchema } from './validation.js';

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
/** What `cancelBooking` would do now, in money: `cancelBooking` applies exactly these numbers. */
export interface CancellationQuote {
  allowed: boolean;
  /** What comes back to the patient. */
  refund: Money;
  /** What the doctor keeps of what is still refundable. */
  kept: Money;
  /**
   * `staff`, `tier` (with `tier`), `before_every_tier`, `after_start`, `patient_cutoff` (not
   * allowed, `cutoffHours` says the cutoff), `nothing_paid`, `unpaid_hold` (a pending booking),
   * or `not_cancellable` (completed, cancelled or no-show).
   */
  reason: RefundQuote['reason'] | 'unpaid_hold' | 'not_cancellable';
  tier: RefundQuote['tier'];
  /** The patient's cutoff the booking agreed to, in hours before the start; null: none. */
  cutoffHours: number | null;
}

async function quoteFor(
  ctx: EngineContext,
  reads: StoreReads,
  booking: Booking,
  actor: Actor,
  now: Date,
): Promise<CancellationQuote> {
  const rules = ctx.policyOf(booking).cancellation;
  const money = (amount: number): Money => ({ amount, currency: booking.price.currency });
  const base = { tier: null, cutoffHours: rules.patientCutoffHours };
  if (booking.status === 'pending')
    return { ...base, allowed: true, refund: money(0), kept: money(0), reason: 'unpaid_hold' };
  if (booking.status !== 'scheduled') {
    return { ...base, allowed: false, refund: money(0), kept: money(0), reason: 'not_cancellable' };
  }
  const payment = booking.paymentTransactionId ? await reads.getPaymentTransaction(booking.paymentTransactionId) : null;
  const quote = quoteRefund({
    rules,
    actorRole: actor.role,
    refundable: payment ? refundable(payment) : 0,
    startTime: booking.slotStart,
    now,
  });
  return {
    ...base,
    allowed: quote.allowed,
    refund: money(quote.refund),
    kept: money(quote.kept),
    reason: quote.reason,
    tier: quote.tier,
  };
}

function notAllowed(booking: Booking, quote: CancellationQuote): BookingError {
  return new BookingError(
    'NOT_ALLOWED',
    `Patients cannot cancel within ${quote.cutoffHours} hours of the start; ask the practice`,
    { details: { cutoffHours: quote.cutoffHours, startTime: booking.slotStart.toISOString() } },
  );
}

/**
 * What cancelling the booking as `actor` would give back now, by the policy the booking agreed
 * to. A page shows it before the patient confirms; `cancelBooking` applies the same numbers.
 */
export async function quoteCancellation(
  ctx: EngineContext,
  input: { bookingId: string; actor: Actor },
): Promise<CancellationQuote> {
  const args = parseInput(quoteCancellationSchema, input, 'quoteCancellation');
  const booking = await ctx.store.getBooking(args.bookingId);
  if (!booking) throw new BookingError('BOOKING_NOT_FOUND', `No booking ${args.bookingId}`);
  assertMayAct(args.actor, booking, 'cancel');
  return quoteFor(ctx, ctx.store, booking, args.actor, ctx.now());
}

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
      const quote = await quoteFor(ctx, tx, booking, actor, now);
      if (!quote.allowed) throw notAllowed(booking, quote);
      const amount = quote.refund.amount;
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
        ...cancelReminders(ctx, cancelled),
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
