// Moving a scheduled booking to another slot of the same doctor, atomically and without a second payment.

import { assertMayAct } from '../domain/authorization.js';
import type { Actor, Booking, Schedule } from '../domain/entities.js';
import { BookingError } from '../domain/errors.js';
import type { EngineContext } from './context.js';
import {
  cancelCompletion,
  cancelExpiry,
  cancelReminders,
  scheduleCompletion,
  scheduleExpiry,
  scheduleReminders,
} from './jobs.js';
import { rescheduledNotifications } from './notifications.js';
import { assertNotAway } from './offered-slots.js';
import { parseInput, rescheduleSchema } from './validation.js';

export interface RescheduleInput {
  bookingId: string;
  newScheduleId: string;
  /** The booking's patient, its doctor, or an admin. */
  actor: Actor;
}

export interface RescheduleOutcome {
  booking: Booking;
  from: Schedule;
  to: Schedule;
}

function assertFeeAllowed(rule: 'same' | 'lowerOrEqual' | 'any', booking: Booking, target: Schedule): void {
  if (rule === 'any') return;
  const sameCurrency = target.fee.currency === booking.price.currency;
  const ok =
    sameCurrency &&
    (rule === 'same' ? target.fee.amount === booking.price.amount : target.fee.amount <= booking.price.amount);
  if (!ok) {
    throw new BookingError(
      'INVALID_INPUT',
      `The new slot's fee must be ${rule === 'same' ? 'the same as' : 'at most'} the booking's price`,
      {
        details: { price: booking.price, fee: target.fee },
      },
    );
  }
}

const RESCHEDULED = 'rescheduled_from:';

/** How often a booking has been moved (its history keeps every move). */
export const timesRescheduled = (booking: Pick<Booking, 'history'>): number =>
  booking.history.filter((h) => h.reason?.startsWith(RESCHEDULED)).length;

/**
 * Every rule a move must pass, by the rules the booking agreed to and who moves it; checked
 * before the transaction (fail fast) and inside it (on what it read).
 */
function assertMayMove(
  ctx: EngineContext,
  booking: Booking,
  target: Schedule | null,
  now: Date,
  actor: Actor,
): Schedule {
  if (booking.status !== 'scheduled') {
    throw new BookingError('INVALID_TRANSITION', `A ${booking.status} booking cannot be rescheduled`);
  }
  const rules = ctx.policyOf(booking).reschedule;
  const deadlineHours = actor.role === 'patient' ? rules.patientDeadlineHours : rules.staffDeadlineHours;
  if (booking.slotStart.getTime() - now.getTime() < deadlineHours * 3_600_000) {
    throw new BookingError('NOT_ALLOWED', `Bookings cannot be changed within ${deadlineHours} hours of the start`, {
      details: { deadlineHours },
    });
  }
  if (rules.maxPerBooking !== null && timesRescheduled(booking) >= rules.maxPerBooking) {
    throw new BookingError('NOT_ALLOWED', `A booking can be rescheduled at most ${rules.maxPerBooking} times`, {
      details: { maxPerBooking: rules.maxPerBooking },
    });
  }
  if (!target) throw new BookingError('SCHEDULE_NOT_FOUND', 'Schedule not found');
  if (target.id === booking.scheduleId) throw new BookingError('INVALID_INPUT', 'The booking is already on that slot');
  if (target.doctorId !== booking.doctorId) {
    throw new BookingError('INVALID_INPUT', 'A booking can only move to another slot of the same doctor');
  }
  if (target.startTime <= now) throw new BookingError('SCHEDULE_UNAVAILABLE', 'That slot has already started');
  if (target.status !== 'available') throw new BookingError('SCHEDULE_UNAVAILABLE', 'That slot is not available');
  assertFeeAllowed(rules.fee, booking, target);
  return target;
}

/**
 * Claims the new slot, moves the booking and frees the slot it left, in one transaction that
 * re-reads the booking: a lost race for the new slot leaves the booking where it was, and a
 * move applies only to the slot the caller saw the booking on (it is part of the
 * compare-and-set), so of concurrent moves of one booking the first commits and the others get
 * INVALID_TRANSITION, and no slot is ever left booked without its booking.
 */
export async function reschedule(ctx: EngineContext, input: RescheduleInput): Promise<RescheduleOutcome> {
  const args = parseInput(rescheduleSchema, input, 'reschedule');
  const seen = await ctx.store.getBooking(args.bookingId);
  if (!seen) throw new BookingError('BOOKING_NOT_FOUND', `No booking ${args.bookingId}`);
  assertMayAct(args.actor, seen, 'reschedule');
  if (args.newScheduleId === seen.scheduleId) {
    throw new BookingError('INVALID_INPUT', 'The booking is already on that slot');
  }
  assertMayMove(ctx, seen, await ctx.store.getSchedule(args.newScheduleId), ctx.now(), args.actor);

  const result = await ctx.commit(
    async (tx) => {
      const now = ctx.now();
      const booking = await tx.getBooking(args.bookingId);
      if (!booking) throw new BookingError('BOOKING_NOT_FOUND', `No booking ${args.bookingId}`);
      if (booking.status === 'scheduled' && booking.scheduleId !== seen.scheduleId) {
        throw new BookingError('INVALID_TRANSITION', 'The booking was moved meanwhile; nothing was moved', {
          details: { scheduleId: booking.scheduleId },
        });
      }
      const target = assertMayMove(ctx, booking, await tx.getSchedule(args.newScheduleId), now, args.actor);
      // Time off is read, not written: addTimeOff deletes the free target, so the two conflict on its row.
      await assertNotAway(tx, target);
      const claimed = await ctx.moveSlot(tx, {
        id: target.id,
        from: 'available',
        to: 'booked',
        bookedBy: booking.patientId,
      });
      if (!claimed) throw new BookingError('SCHEDULE_UNAVAILABLE', 'That slot is not available');
      const moved = await tx.updateBookingIf({
        id: booking.id,
        expectedStatus: 'scheduled',
        expectedScheduleId: seen.scheduleId,
        set: {
          scheduleId: claimed.id,
          slotStart: claimed.startTime,
          slotEnd: claimed.endTime,
          timeZone: claimed.timeZone,
        },
        history: ctx.history(
          'scheduled',
          'scheduled',
          booking.paymentStatus,
          args.actor,
          `${RESCHEDULED}${booking.scheduleId}`,
        ),
      });
      // Throwing rolls back the claim: the booking changed (cancelled, completed, moved) meanwhile.
      if (!moved)
        throw new BookingError('INVALID_TRANSITION', 'The booking changed while rescheduling; nothing was moved');
      const freed = await ctx.moveSlot(tx, { id: booking.scheduleId, from: 'booked', to: 'available', bookedBy: null });
      const from = freed ?? (await tx.getSchedule(booking.scheduleId));
      if (!from) throw new BookingError('STORE_ERROR', `Slot ${booking.scheduleId} disappeared while rescheduling`);
      return { moved, from, to: claimed, freed: freed !== null };
    },
    ({ moved, from, to, freed }) => {
      const ids = { bookingId: moved.id, scheduleId: to.id };
      return [
        cancelCompletion(ctx, from.id, ids),
        scheduleCompletion(ctx, to, ids),
        ...cancelReminders(ctx, moved, from.startTime),
        ...scheduleReminders(ctx, moved),
        cancelExpiry(ctx, to.id, ids),
        ...(freed
          ? [
              scheduleExpiry(ctx, from, ids),
              ctx.emitEffect('schedule.released', { schedule: from, bookingId: moved.id, reason: 'rescheduled' }),
            ]
          : []),
        ctx.emitEffect('booking.rescheduled', { booking: moved, from, to }),
        ...rescheduledNotifications(ctx, moved, from, to),
      ];
    },
  );

  const { moved, from, to } = result;
  return { booking: moved, from, to };
}
