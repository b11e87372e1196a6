// No-shows: the doctor or an admin marks a scheduled booking whose patient did not come, and may undo it within the grace period.
import { assertMayManageSlot } from '../domain/authorization.js';
import type { Actor, Booking } from '../domain/entities.js';
import { BookingError } from '../domain/errors.js';
import { refundable } from '../domain/payment-rules.js';
import type { StoreOperations } from '../ports/booking-store.js';
import type { EngineContext } from './context.js';
import { noShowNotification } from './notifications.js';
import { addPendingRefund, settleRefund } from './refund.js';
import { bookingActorSchema, parseInput } from './validation.js';

const MINUTE = 60_000;
const noShowRefundId = (bookingId: string) => `noshow-${bookingId}`;

/** From the start until `noShowGraceMinutes` after the end: the window a no-show may be marked or undone in. */
function assertInWindow(ctx: EngineContext, booking: Booking, now: Date, what: string, fromStart: boolean): void {
  const until = new Date(booking.slotEnd.getTime() + ctx.options.noShowGraceMinutes * MINUTE);
  if ((fromStart && now < booking.slotStart) || now > until) {
    throw new BookingError(
      'NOT_ALLOWED',
      `A no-show can be ${what} ${fromStart ? 'from the start ' : ''}until ${ctx.options.noShowGraceMinutes} minutes after the end`,
      { details: { from: booking.slotStart.toISOString(), until: until.toISOString() } },
    );
  }
}

/** Compare-and-set of the booking from its current status to `to`, with the history step. */
async function move(
  ctx: EngineContext,
  tx: StoreOperations,
  booking: Booking,
  to: 'no_show' | 'scheduled',
  actor: Actor,
  reason: string,
): Promise<Booking> {
  const moved = await tx.updateBookingIf({
    id: booking.id,
    expectedStatus: booking.status,
    set: { status: to },
    history: ctx.history(booking.status, to, booking.paymentStatus, actor, reason),
  });
  if (!moved) throw new BookingError('INVALID_TRANSITION', 'The booking changed meanwhile; try again');
  return moved;
}

async function load(ctx: EngineContext, input: { bookingId: string; actor: Actor }, what: string) {
  const args = parseInput(bookingActorSchema, input, what);
  const booking = await ctx.store.getBooking(args.bookingId);
  if (!booking) throw new BookingError('BOOKING_NOT_FOUND', `No booking ${args.bookingId}`);
  assertMayManageSlot(args.actor, booking, 'mark a no-show for');
  return { args, booking };
}

/**
 * Marks a scheduled booking a no-show (status `no_show`), by its doctor or an admin, from its
 * start until `noShowGraceMinutes` after its end. The slot stays booked and the payment is kept,
 * unless `noShowRefundPercent` gives part of it back. The patient is told.
 */
export async function markNoShow(ctx: EngineContext, input: { bookingId: string; actor: Actor }): Promise<Booking> {
  const { args, booking: seen } = await load(ctx, input, 'markNoShow');
  assertInWindow(ctx, seen, ctx.now(), 'marked', true);
  const result = await ctx.commit(
    async (tx) => {
      const booking = await tx.getBooking(seen.id);
      if (booking?.status !== 'scheduled') {
        throw new BookingError(
          'INVALID_TRANSITION',
          `A ${booking?.status ?? 'missing'} booking cannot be marked a no-show`,
        );
      }
      const marked = await move(ctx, tx, booking, 'no_show', args.actor, 'no_show');
      const payment = booking.paymentTransactionId
        ? await tx.getPaymentTransaction(booking.paymentTransactionId)
        : null;
      const amount = payment ? Math.floor((refundable(payment) * ctx.options.noShowRefundPercent) / 100) : 0;
      const added =
        amount > 0
          ? await addPendingRefund(ctx, tx, {
              booking: marked,
              amount,
              refundId: noShowRefundId(booking.id),
              reason: 'no_show',
            })
          : null;
      return { marked, added };
    },
    ({ marked }) => [ctx.emitEffect('booking.noShow', { booking: marked }), noShowNotification(ctx, marked)],
  );
  if (result.added) await settleRefund(ctx, result.added.payment.id, result.added.refund.id);
  return (await ctx.store.getBooking(seen.id)) ?? result.marked;
}

/** Takes a no-show back (scheduled again) within the grace period, unless a no-show refund was made. */
export async function undoNoShow(ctx: EngineContext, input: { bookingId: string; actor: Actor }): Promise<Booking> {
  const { args, booking: seen } = await load(ctx, input, 'undoNoShow');
  assertInWindow(ctx, seen, ctx.now(), 'undone', false);
  return ctx.commit(
    async (tx) => {
      const booking = await tx.getBooking(seen.id);
      if (booking?.status !== 'no_show') {
        throw new BookingError('INVALID_TRANSITION', `A ${booking?.status ?? 'missing'} booking is not a no-show`);
      }
      const payment = booking.paymentTransactionId
        ? await tx.getPaymentTransaction(booking.paymentTransactionId)
        : null;
      if (payment?.refunds.some((r) => r.id === noShowRefundId(booking.id) && r.status !== 'failed')) {
        throw new BookingError('NOT_ALLOWED', 'Money was given back for this no-show; it cannot be undone');
      }
      // The end-of-slot job reads this booking (not active while a no-show) and writes only the
      // slot: writing the slot here too makes the two conflict, so an undo never leaves a
      // scheduled booking on an expired slot.
      const slot = await tx.updateScheduleIf({
        id: booking.scheduleId,
        expectedStatus: 'booked',
        set: { bookedBy: booking.patientId },
      });
      if (!slot) throw new BookingError('INVALID_TRANSITION', 'The slot has ended; the no-show stands');
      return move(ctx, tx, booking, 'scheduled', args.actor, 'no_show_undone');
    },
    (undone) => [ctx.emitEffect('booking.noShowUndone', { booking: undone })],
  );
}
