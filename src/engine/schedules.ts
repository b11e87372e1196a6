// Slot use cases: publish, list, end-of-slot (expire, complete, roll over) and clean-up.
import { type Booking, type Schedule, SYSTEM_ACTOR } from '../domain/entities.js';
import { BookingError } from '../domain/errors.js';
import { addDays, nextDayCopy, wallClockOf } from '../domain/time.js';
import type { StoreOperations } from '../ports/booking-store.js';
import type { Effect, EngineContext } from './context.js';
import { scheduleExpiry } from './jobs.js';
import { assertNotAway } from './offered-slots.js';
import { releaseHold } from './release.js';
import { createScheduleSchema, listSchedulesSchema, parseId, parseInput } from './validation.js';

export interface CreateScheduleInput {
  doctorId: string;
  /** A Date or an ISO-8601 string with offset. Must be in the future. */
  startTime: Date | string;
  endTime: Date | string;
  /** Integer minor units and an ISO currency (any case; stored lowercase). */
  fee: { amount: number; currency: string };
  /** The doctor's IANA time zone, e.g. `Europe/Berlin`. */
  timeZone: string;
}

export interface ListSchedulesQuery {
  doctorId?: string;
  status?: Schedule['status'];
  /** Slots starting at or after this instant. */
  from?: Date | string;
  /** Slots starting before this instant. */
  to?: Date | string;
  /** @defaultValue 100 (at most 1000) */
  limit?: number;
}

const LIVE_STATUSES = ['available', 'pending', 'booked'] as const;
/** The longest a slot may last (createSchedule refuses longer ones). */
const MAX_SLOT_MS = 86_400_000;

async function overlapping(
  ops: StoreOperations,
  doctorId: string,
  startTime: Date,
  endTime: Date,
): Promise<Schedule | null> {
  const [hit] = await ops.findSchedules({
    doctorId,
    status: LIVE_STATUSES,
    // A slot lasts at most a day, so one that overlaps starts at most a day before this one.
    startFrom: new Date(startTime.getTime() - MAX_SLOT_MS),
    startBefore: endTime,
    endAfter: startTime,
    limit: 1,
  });
  return hit ?? null;
}

function endOfSlotJob(ctx: EngineContext, schedule: Schedule): Effect {
  return scheduleExpiry(ctx, schedule, { scheduleId: schedule.id });
}

export async function createSchedule(ctx: EngineContext, input: CreateScheduleInput): Promise<Schedule> {
  const args = parseInput(createScheduleSchema, input, 'createSchedule');
  if (args.startTime <= ctx.now()) {
    throw new BookingError('INVALID_INPUT', 'createSchedule: startTime must be in the future', {
      details: { issues: [{ path: 'startTime', message: 'must be in the future' }] },
    });
  }
  return ctx.commit(
    async (tx) => {
      // The overlap check reads slots this transaction does not write: the doctor's lock makes a
      // concurrent creation (or rollover) for the same doctor conflict instead of skewing it.
      await tx.lockDoctor(args.doctorId);
      const clash = await overlapping(tx, args.doctorId, args.startTime, args.endTime);
      if (clash) {
        throw new BookingError('SCHEDULE_UNAVAILABLE', 'The doctor already has a slot overlapping this time', {
          details: { scheduleId: clash.id },
        });
      }
      await assertNotAway(tx, { doctorId: args.doctorId, startTime: args.startTime, endTime: args.endTime });
      return tx.insertSchedule({
        doctorId: args.doctorId,
        startTime: args.startTime,
        endTime: args.endTime,
        timeZone: args.timeZone,
        fee: args.fee,
        status: 'available',
        bookedBy: null,
        rolledOverFrom: null,
      });
    },
    (schedule) => [endOfSlotJob(ctx, schedule), ctx.emitEffect('schedule.created', { schedule })],
  );
}

export async function listSchedules(ctx: EngineContext, query: ListSchedulesQuery = {}): Promise<Schedule[]> {
  const args = parseInput(listSchedulesSchema, query, 'listSchedules');
  return ctx.store.findSchedules({
    ...(args.doctorId === undefined ? {} : { doctorId: args.doctorId }),
    ...(args.status === undefined ? {} : { status: args.status }),
    ...(args.from === undefined ? {} : { startFrom: args.from }),
    ...(args.to === undefined ? {} : { startBefore: args.to }),
    limit: args.limit ?? 100,
  });
}

export type FinishSlotOutcome = 'not_found' | 'not_ended' | 'already_expired' | 'expired' | 'completed' | 'hold_open';

async function rollOver(ctx: EngineContext, tx: StoreOperations, schedule: Schedule): Promise<Schedule | null> {
  // Same wall-clock start a local day later (past a DST gap: shifted, then back), same duration.
  const localStartTime = schedule.localStartTime ?? wallClockOf(schedule.startTime, schedule.timeZone);
  const { startTime, endTime } = nextDayCopy(schedule, localStartTime, ctx.now());
  await tx.lockDoctor(schedule.doctorId);
  // A doctor who already published that time keeps their own slot.
  if (await overlapping(tx, schedule.doctorId, startTime, endTime)) return null;
  return tx.insertSchedule({
    doctorId: schedule.doctorId,
    startTime,
    endTime,
    timeZone: schedule.timeZone,
    fee: schedule.fee,
    status: 'available',
    bookedBy: null,
    rolledOverFrom: schedule.id,
    localStartTime,
  });
}

/**
 * What both end-of-slot jobs do, from whatever state the slot is in: an unbooked slot
 * expires; a booked one expires, its booking completes, and the next-day copy appears per
 * the rollover policy. Safe to run twice, late, or never (the sweep calls it too). A hold
 * whose payment is still settling returns `hold_open` without failing the job: the sweep
 * finishes the slot once the payment settles.
 */
export async function finishSlot(ctx: EngineContext, scheduleIdInput: unknown): Promise<FinishSlotOutcome> {
  const scheduleId = parseId(scheduleIdInput, 'scheduleId');
  const current = await ctx.store.getSchedule(scheduleId);
  if (!current) return 'not_found';
  if (current.status === 'expired') return 'already_expired';
  if (current.endTime > ctx.now()) return 'not_ended';
  // A booked slot waits out the no-show grace: its doctor may still mark (or undo) a no-show.
  const graceEnd = current.endTime.getTime() + ctx.options.noShowGraceMinutes * 60_000;
  if (current.status === 'booked' && graceEnd > ctx.now().getTime()) return 'not_ended';

  if (current.status === 'pending') {
    // A hold outlived its slot (lost timeout job): close the checkout first, as the timeout would.
    const hold = await ctx.store.findActiveBooking(current.id);
    if (hold?.status === 'pending') {
      const outcome = await releaseHold(ctx, hold.id, { force: true });
      if (outcome !== 'released') return 'hold_open';
    }
  }

  const result = await ctx.commit(
    async (tx) => {
      const slot = await tx.getSchedule(scheduleId);
      if (!slot || slot.status === 'expired') return null;
      if (slot.status === 'pending') return { kind: 'hold_open' as const };
      const expired = await ctx.moveSlot(tx, { id: slot.id, from: slot.status, to: 'expired' });
      if (!expired) return null;
      let completed: Booking | null = null;
      if (slot.status === 'booked') {
        const active = await tx.findActiveBooking(slot.id);
        if (active?.status === 'scheduled') {
          completed = await tx.updateBookingIf({
            id: active.id,
            expectedStatus: 'scheduled',
            set: { status: 'completed' },
            history: ctx.history('scheduled', 'completed', active.paymentStatus, SYSTEM_ACTOR, 'slot_ended'),
          });
        }
      }
      const policy = ctx.options.rollover;
      // Computed slots come back from the rules, not as copies.
      const rolls =
        slot.availabilityId == null && (policy === 'all' || (policy === 'booked' && slot.status === 'booked'));
      const next = rolls ? await rollOver(ctx, tx, slot) : null;
      return { kind: 'done' as const, expired, completed, next, wasBooked: slot.status === 'booked' };
    },
    (done) => {
      if (done?.kind !== 'done') return [];
      const effects: Effect[] = [ctx.emitEffect('schedule.expired', { schedule: done.expired })];
      if (done.completed) effects.push(ctx.emitEffect('booking.completed', { booking: done.completed }));
      if (done.next) {
        effects.push(endOfSlotJob(ctx, done.next));
        effects.push(ctx.emitEffect('schedule.rolledOver', { from: done.expired, to: done.next }));
      }
      return effects;
    },
  );

  if (!result) return 'already_expired';
  if (result.kind === 'hold_open') return 'hold_open';
  return result.wasBooked ? 'completed' : 'expired';
}

/** Deletes expired slots whose end is older than `cleanupAfterDays`; bookings keep their copy of the times. */
export async function cleanupExpiredSchedules(ctx: EngineContext): Promise<number> {
  const cutoff = addDays(ctx.now(), -ctx.options.cleanupAfterDays);
  let deleted = 0;
  for (;;) {
    const batch = await ctx.store.findSchedules({ status: 'expired', endBefore: cutoff, limit: ctx.options.batchSize });
    if (batch.length === 0) return deleted;
    const ids = batch.map((s) => s.id);
    const removed = await ctx.store.transaction((tx) => tx.deleteSchedulesIf({ ids, expectedStatus: 'expired' }));
    deleted += removed;
    if (removed === 0 || batch.length < ctx.options.batchSize) return deleted;
    // Lets the event loop run between pages: a long clean-up never blocks requests for long.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
