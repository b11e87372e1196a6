// The timed jobs the use cases schedule and cancel after commit, with deterministic ids.
import { JOB_NAMES } from '../ports/job-scheduler.js';
import type { Effect, EngineContext } from './context.js';

/** Deterministic job ids: scheduling twice adds one job. */
export const jobIds = {
  hold: (bookingId: string) => `hold-${bookingId}`,
  complete: (scheduleId: string) => `complete-${scheduleId}`,
  expire: (scheduleId: string) => `expire-${scheduleId}`,
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

/** After the end of a booked slot: expire it, complete its booking, roll it over. */
export function scheduleCompletion(ctx: EngineContext, slot: Slot, ids: Ids): Effect {
  return ctx.scheduleJob(
    {
      name: JOB_NAMES.completeBooked,
      id: jobIds.complete(slot.id),
      runAt: slot.endTime,
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
