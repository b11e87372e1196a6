// Moving a scheduled booking to another slot of the same doctor, atomically and without a second payment.
import type { Actor, Booking, Schedule } from '../domain/entities.js';
import { BookingError } from '../domain/errors.js';
import { formatLocal } from '../domain/time.js';
import { JOB_NAMES } from '../ports/job-scheduler.js';
import { assertMayAct } from './cancel.js';
import { describeBooking, type EngineContext, jobIds } from './context.js';
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

/**
 * Claims the new slot and moves the booking in one transaction, then frees the old slot in the
 * same transaction: a lost race for the new slot leaves the booking where it was.
 */
export async function reschedule(ctx: EngineContext, input: RescheduleInput): Promise<RescheduleOutcome> {
  const args = parseInput(rescheduleSchema, input, 'reschedule');
  const booking = await ctx.store.getBooking(args.bookingId);
  if (!booking) throw new BookingError('BOOKING_NOT_FOUND', `No booking ${args.bookingId}`);
  assertMayAct(args.actor, booking, 'reschedule');
  if (booking.status !== 'scheduled') {
    throw new BookingError('INVALID_TRANSITION', `A ${booking.status} booking cannot be rescheduled`);
  }
  const now = ctx.now();
  const deadline = ctx.options.rescheduleDeadlineHours * 3_600_000;
  if (booking.slotStart.getTime() - now.getTime() < deadline) {
    throw new BookingError(
      'NOT_ALLOWED',
      `Bookings cannot be changed within ${ctx.options.rescheduleDeadlineHours} hours of the start`,
    );
  }
  if (args.newScheduleId === booking.scheduleId) {
    throw new BookingError('INVALID_INPUT', 'The booking is already on that slot');
  }
  const target = await ctx.store.getSchedule(args.newScheduleId);
  if (!target) throw new BookingError('SCHEDULE_NOT_FOUND', 'Schedule not found');
  if (target.doctorId !== booking.doctorId) {
    throw new BookingError('INVALID_INPUT', 'A booking can only move to another slot of the same doctor');
  }
  if (target.startTime <= now) throw new BookingError('SCHEDULE_UNAVAILABLE', 'That slot has already started');
  if (target.status !== 'available') throw new BookingError('SCHEDULE_UNAVAILABLE', 'That slot is not available');
  assertFeeAllowed(ctx.options.rescheduleFee, booking, target);

  const result = await ctx.store.transaction(async (tx) => {
    const claimed = await tx.updateScheduleIf({
      id: target.id,
      expectedStatus: 'available',
      set: { status: 'booked', bookedBy: booking.patientId },
    });
    if (!claimed) throw new BookingError('SCHEDULE_UNAVAILABLE', 'That slot is not available');
    const moved = await tx.updateBookingIf({
      id: booking.id,
      expectedStatus: 'scheduled',
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
        `rescheduled_from:${booking.scheduleId}`,
      ),
    });
    // Throwing rolls back the claim: the booking changed (cancelled, completed) meanwhile.
    if (!moved)
      throw new BookingError('INVALID_TRANSITION', 'The booking changed while rescheduling; nothing was moved');
    const freed = await tx.updateScheduleIf({
      id: booking.scheduleId,
      expectedStatus: 'booked',
      set: { status: 'available', bookedBy: null },
    });
    const from = freed ?? (await tx.getSchedule(booking.scheduleId));
    if (!from) throw new BookingError('STORE_ERROR', `Slot ${booking.scheduleId} disappeared while rescheduling`);
    return { moved, from, to: claimed, freed: freed !== null };
  });

  const { moved, from, to } = result;
  const ids = { bookingId: moved.id, scheduleId: to.id };
  const message = `The appointment moved from ${formatLocal(from.startTime, from.timeZone)} to ${formatLocal(to.startTime, to.timeZone)}`;
  const data = { ...describeBooking(moved), fromScheduleId: from.id };
  await ctx.runEffects([
    ctx.cancelJob(JOB_NAMES.completeBooked, jobIds.complete(from.id), ids),
    ctx.scheduleJob(
      { name: JOB_NAMES.completeBooked, id: jobIds.complete(to.id), runAt: to.endTime, data: { scheduleId: to.id } },
      ids,
    ),
    ctx.cancelJob(JOB_NAMES.expireUnbooked, jobIds.expire(to.id), ids),
    ...(result.freed
      ? [
          ctx.scheduleJob(
            {
              name: JOB_NAMES.expireUnbooked,
              id: jobIds.expire(from.id),
              runAt: from.endTime,
              data: { scheduleId: from.id },
            },
            ids,
          ),
          ctx.emitEffect('schedule.released', { schedule: from, bookingId: moved.id, reason: 'rescheduled' }),
        ]
      : []),
    ctx.emitEffect('booking.rescheduled', { booking: moved, from, to }),
    ...(['patient', 'doctor'] as const).map((role) =>
      ctx.notify(
        {
          type: ctx.options.notificationTypes.rescheduled,
          recipient: { role, id: role === 'patient' ? moved.patientId : moved.doctorId },
          title: 'Appointment rescheduled',
          message,
          data,
        },
        moved.id,
      ),
    ),
  ]);
  return { booking: moved, from, to };
}
