// Letting a pending booking go: the hold timeout, a failed or expired checkout, or its patient giving up.
import { type Actor, type Booking, SYSTEM_ACTOR } from '../domain/entities.js';
import type { CancelReason } from '../domain/status.js';
import type { PaymentEvent } from '../ports/payment-gateway.js';
import { confirmPayment } from './confirm.js';
import type { Effect, EngineContext } from './context.js';
import { cancelHoldTimeout } from './jobs.js';
import { pendingEndedNotification } from './notifications.js';

/**
 * Ends a pending booking that will not be paid: booking cancelled, slot available again.
 * A booking that is no longer pending (paid meanwhile, events out of order) is left alone.
 */
export async function cancelPending(
  ctx: EngineContext,
  args: {
    bookingId: string;
    event: PaymentEvent | null;
    sessionId: string | null;
    reason: CancelReason;
    actor?: Actor;
    /** The caller's own words, kept in the history instead of the reason code. */
    note?: string | null;
    /** Set by the hold-timeout job itself: removing its own (running, locked) job is a wasted queue call. */
    inHoldJob?: boolean;
  },
): Promise<'cancelled' | 'duplicate' | 'ignored'> {
  const { event, reason } = args;
  const actor = args.actor ?? SYSTEM_ACTOR;
  const result = await ctx.commit(
    async (tx) => {
      if (event && (await tx.hasProcessedEvent(event.id))) return { kind: 'duplicate' as const };
      const markEvent = async () => {
        if (event) await tx.recordProcessedEvent({ id: event.id, type: event.type, at: ctx.now() });
      };
      const booking = await tx.getBooking(args.bookingId);
      const staleSession =
        args.sessionId !== null && booking?.checkoutSessionId != null && booking.checkoutSessionId !== args.sessionId;
      if (booking?.status !== 'pending' || staleSession) {
        await markEvent();
        return { kind: 'ignored' as const, reason: staleSession ? 'stale checkout session' : 'booking is not pending' };
      }
      // Money already recorded (a mismatch or late payment being refunded) keeps its payment status.
      const paymentStatus =
        booking.paymentTransactionId !== null
          ? booking.paymentStatus
          : reason === 'payment_failed'
            ? 'failed'
            : 'unpaid';
      const cancelled = await tx.updateBookingIf({
        id: booking.id,
        expectedStatus: 'pending',
        set: { status: 'cancelled', paymentStatus, cancelReason: reason, holdExpiresAt: null },
        history: ctx.history('pending', 'cancelled', paymentStatus, actor, args.note ?? reason),
      });
      if (!cancelled) return { kind: 'ignored' as const, reason: 'booking is not pending' };
      const released = await ctx.moveSlot(tx, {
        id: booking.scheduleId,
        from: 'pending',
        to: 'available',
        bookedBy: null,
      });
      await markEvent();
      return { kind: 'cancelled' as const, booking: cancelled, released };
    },
    (outcome) => {
      if (outcome.kind !== 'cancelled') return [];
      const { booking, released } = outcome;
      const ids = { bookingId: booking.id, scheduleId: booking.scheduleId };
      const effects: Effect[] = [
        ...(args.inHoldJob ? [] : [cancelHoldTimeout(ctx, booking.id, ids)]),
        ctx.emitEffect('booking.cancelled', { booking, reason }),
        pendingEndedNotification(ctx, booking, reason),
      ];
      if (released)
        effects.push(ctx.emitEffect('schedule.released', { schedule: released, bookingId: booking.id, reason }));
      return effects;
    },
  );

  if (result.kind === 'duplicate') return 'duplicate';
  if (result.kind === 'ignored') {
    if (event) ctx.emit('payment.ignored', { event, reason: result.reason });
    return 'ignored';
  }
  return 'cancelled';
}

export type ReleaseOutcome = 'released' | 'paid' | 'processing' | 'not_pending' | 'not_due';

/**
 * The hold-timeout job: expire the Checkout Session first (Stripe keeps it open for at least
 * 30 minutes), then release the slot. If the provider says it was paid meanwhile, the
 * payment wins. Provider errors propagate so a queue retries; the sweep also retries.
 * `processing` (a delayed payment still settling) and `not_due` end the job normally on
 * purpose: the async webhook or a later sweep finishes the booking.
 */
export async function releaseHold(
  ctx: EngineContext,
  bookingId: string,
  options: { force?: boolean; inHoldJob?: boolean } = {},
): Promise<ReleaseOutcome> {
  const booking = await ctx.store.getBooking(bookingId);
  if (booking?.status !== 'pending') return 'not_pending';
  if (!options.force && booking.holdExpiresAt !== null && booking.holdExpiresAt > ctx.now()) return 'not_due';
  const closed = await closeCheckout(ctx, booking);
  if (closed === 'settled') return 'not_pending';
  if (closed !== 'closed') return closed;
  const outcome = await cancelPending(ctx, {
    bookingId: booking.id,
    event: null,
    sessionId: booking.checkoutSessionId,
    reason: 'payment_timeout',
    inHoldJob: options.inHoldJob ?? false,
  });
  return outcome === 'cancelled' ? 'released' : 'not_pending';
}

/**
 * Closes a pending booking's Checkout Session before its hold is let go. `paid`: the patient
 * paid meanwhile and the booking is now confirmed; `processing`: a delayed payment is still
 * settling (the slot stays held until it settles or fails); `closed`: nobody can pay any more,
 * or the money that came cannot confirm this booking (wrong amount, slot started) and is being
 * refunded, so the hold is let go as scheduled; `settled`: something else (a webhook) already
 * finished the booking.
 */
export async function closeCheckout(
  ctx: EngineContext,
  booking: Booking,
): Promise<'closed' | 'paid' | 'processing' | 'settled'> {
  const sessionId = booking.checkoutSessionId;
  if (!sessionId) return 'closed';
  const closed = await ctx.payments.expireCheckout({ sessionId });
  if (closed.outcome === 'processing') return 'processing';
  if (closed.outcome === 'paid') {
    const outcome = await confirmPayment(ctx, {
      event: null,
      bookingId: booking.id,
      sessionId,
      payment: closed.payment,
    });
    if (outcome === 'confirmed') return 'paid';
    // Recorded earlier (a webhook, a previous pass): confirmed only if the booking moved on.
    if (outcome === 'duplicate' && (await ctx.store.getBooking(booking.id))?.status !== 'pending') return 'settled';
  }
  return 'closed';
}
