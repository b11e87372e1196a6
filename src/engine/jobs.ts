// The timed jobs the use cases schedule and cancel after commit, with deterministic ids.

import type { Booking } from '../domain/entities.js';
import { JOB_NAMES } from '../ports/job-scheduler.js';
import type { Effect, EngineContext } from './context.js';

/** Deterministic job ids: scheduling twice adds one job. */
export const jobIds = {
  hold: (bookingId: string) => `hold-${bookingId}`,
  complete: (scheduleId: string) => `complete-${scheduleId}`,
  expire: (scheduleId: string) => `expire-${scheduleId}`,
  reminder: (bookingId: string, beforeMinutes: number, channel: string, slotStart: Date) =>
    `reminder-${bookingId}-${beforeMinutes}-${channel}-${slotStart.getTime()}`,
};

type Ids = { bookingId?: string; scheduleId?: string };
type Slot = { id: string; endTime: Date };

/** The hold timeout of a pending booking. */
export function scheduleHoldTimeout(
  ctx: EngineContext,
  booking: { id: string; scheduleId: string },
  runAt: Date,
): Effect {
  return ctx.scheduleJob(
    { name: JOB_NAMES.holdTimeout, id: jobIds.hold(booking.id), runAt, data: { bookingId: booking.id } },
    { bookingId: booking.id, scheduleId: booking.scheduleId },
  );
}

export function cancelHoldTimeout(ctx: EngineContext, bookingId: string, ids: Ids): Effect {
  return ctx.cancelJob(JOB_NAMES.holdTimeout, jobIds.hold(bookingId), ids);
}

/**
 * After the end of a booked slot and the no-show grace: expire it, complete its booking, roll
 * it over.
 */
export function scheduleCompletion(ctx: EngineContext, slot: Slot, ids: Ids): Effect {
  return ctx.scheduleJob(
    {
      name: JOB_NAMES.completeBooked,
      id: jobIds.complete(slot.id),
      runAt: new Date(slot.endTime.getTime() + ctx.options.noShowGraceMinutes * 60_000),
      data: { scheduleId: slot.id },
    },
    ids,
  );
}

export function cancelCompletion(ctx: EngineContext, scheduleId: string, ids: Ids): Effect {
  return ctx.cancelJob(JOB_NAMES.completeBooked, jobIds.complete(scheduleId), ids);
}

/** After the end of an unbooked slot: expire it. */
export function scheduleExpiry(ctx: EngineContext, slot: Slot, ids: Ids): Effect {
  return ctx.scheduleJob(
    { name: JOB_NAMES.expireUnbooked, id: jobIds.expire(slot.id), runAt: slot.endTime, data: { scheduleId: slot.id } },
    ids,
  );
}

export function cancelExpiry(ctx: EngineContext, scheduleId: string, ids: Ids): Effect {
  return ctx.cancelJob(JOB_NAMES.expireUnbooked, jobIds.expire(scheduleId), ids);
}

/** One job per reminder of a scheduled booking, at the reminder's time (or now, when that passed). */
export function scheduleReminders(ctx: EngineContext, booking: Booking): Effect[] {
  const now = ctx.now().getTime();
  return ctx.options.reminders(booking.doctorId).map((r) =>
    ctx.scheduleJob(
      {
        name: JOB_NAMES.reminder,
        id: jobIds.reminder(booking.id, r.beforeMinutes, r.channel, booking.slotStart),
        runAt: new Date(Math.max(now, booking.slotStart.getTime() - r.beforeMinutes * 60_000)),
        data: { bookingId: booking.id },
      },
      { bookingId: booking.id, scheduleId: booking.scheduleId },
    ),
  );
}

/** Removes the reminder jobs of a booking at `slotStart` (cancelled, or moved to another time). */
export function cancelReminders(ctx: EngineContext, booking: Booking, slotStart: Date = booking.slotStart): Effect[] {
  return ctx.options.reminders(booking.doctorId).map((r) =>
    ctx.cancelJob(JOB_NAMES.reminder, jobIds.reminder(booking.id, r.beforeMinutes, r.channel, slotStart), {
      bookingId: booking.id,
      scheduleId: booking.scheduleId,
    }),
  );
}
