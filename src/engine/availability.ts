// Availability use cases: weekly rules, time off, the computed slot list, and withdrawing a free slot.
import { assertMayManageSlot } from '../domain/authorization.js';
import { type AvailabilityRules, MAX_AVAILABILITY_RANGE_DAYS, parseAvailabilityRules } from '../domain/availability.js';
import type { Actor, AvailabilityRecord, Booking, Schedule, TimeOff } from '../domain/entities.js';
import { BookingError, isBookingError } from '../domain/errors.js';
import type { Money } from '../domain/money.js';
import type { StoreOperations } from '../ports/booking-store.js';
import { type CancelOutcome, cancelBooking } from './cancel.js';
import type { Effect, EngineContext } from './context.js';
import { cancelExpiry } from './jobs.js';
import { type ComputedSlot, computeSlots, MAX_SLOT_MS } from './offered-slots.js';
import {
  addTimeOffSchema,
  clearAvailabilitySchema,
  findSlotsSchema,
  getAvailabilitySchema,
  listTimeOffSchema,
  parseInput,
  removeTimeOffSchema,
  setAvailabilitySchema,
  withdrawScheduleSchema,
} from './validation.js';

/**
 * The rules as `AvailabilityRules` states them (weekly hours in `timeZone`, `slotMinutes`,
 * `stepMinutes`, buffers), for one doctor, from `effectiveFrom` on.
 */
export interface SetAvailabilityInput extends Omit<AvailabilityRules, 'fee' | 'minNoticeMinutes' | 'horizonDays'> {
  doctorId: string;
  /** Integer minor units and an ISO currency (any case; stored lowercase). */
  fee: { amount: number; currency: string };
  /**
   * A slot is offered only this many minutes or more ahead. Paid bookings also need the engine's
   * `minNoticeMinutes`, so a smaller value lists slots only free plans can book.
   * @defaultValue the engine's `minNoticeMinutes` rounded up to a whole minute (its `holdMinutes`, 15, unless set)
   */
  minNoticeMinutes?: number;
  /** How many days ahead slots are offered. @defaultValue the engine's `maxHorizonDays` (365) */
  horizonDays?: number;
  /**
   * From when these rules apply (to slots starting then or later); earlier slots keep the rules
   * in force before. Past instants mean now. @defaultValue now
   */
  effectiveFrom?: Date | string;
}

export interface AddTimeOffInput {
  doctorId: string;
  start: Date | string;
  /** Exclusive; after `start`, at most 366 days later, in the future. */
  end: Date | string;
  reason?: string;
  /**
   * What to do with pending or scheduled bookings in the period: `reject` refuses the time off
   * (SCHEDULE_UNAVAILABLE listing them), `cancelAndRefund` cancels each as the doctor (full
   * refund, notifications), as `cancelBooking` by the doctor does.
   * @defaultValue 'reject'
   */
  onConflict?: 'reject' | 'cancelAndRefund';
}

export interface AddTimeOffOutcome {
  timeOff: TimeOff;
  /** The bookings cancelled for it (`cancelAndRefund`), with their refunds. */
  cancelled: CancelOutcome[];
  /** Free slots in the period taken off offer (deleted), published or freed computed ones. */
  withdrawn: Schedule[];
}

export interface FindSlotsQuery {
  doctorId: string;
  /** Slots starting at or after this instant. */
  from: Date | string;
  /** Slots starting before this instant; at most 62 days after `from`. */
  to: Date | string;
  /** @defaultValue 100 (at most 1000) */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

export type { ComputedSlot };

export interface SlotPage {
  slots: ComputedSlot[];
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

const DAY = 86_400_000;
const MAX_TIME_OFF_DAYS = 366;

function invalidField(what: string, field: string, message: string): never {
  throw new BookingError('INVALID_INPUT', `${what}: ${field} ${message}`, {
    details: { field, issues: [{ path: field, message }] },
  });
}

/** Domain validation errors name their field; give them the method's prefix and the `issues` shape. */
function rulesOf(ctx: EngineContext, input: SetAvailabilityInput, fee: Money): Required<AvailabilityRules> {
  try {
    // Listed must mean bookable: by default a slot is offered no sooner than a paid booking may start.
    const minNoticeMinutes = input.minNoticeMinutes ?? Math.ceil(ctx.options.minNoticeMinutes);
    return parseAvailabilityRules(
      { ...input, fee, minNoticeMinutes },
      { prefix: '', maxHorizonDays: ctx.options.maxHorizonDays },
    );
  } catch (error) {
    if (isBookingError(error) && error.code === 'INVALID_INPUT') {
      const field = String((error.details as { field?: string } | undefined)?.field ?? '');
      throw new BookingError('INVALID_INPUT', `setAvailability: ${error.message}`, {
        details: { field, issues: [{ path: field, message: error.message }] },
      });
    }
    throw error;
  }
}

/**
 * A new version of the doctor's rules, in force for slots starting at `effectiveFrom` or later;
 * every earlier version ends there. Bookings already made are never moved or cancelled.
 */
export async function setAvailability(ctx: EngineContext, input: SetAvailabilityInput): Promise<AvailabilityRecord> {
  const args = parseInput(setAvailabilitySchema, input, 'setAvailability');
  const rules = rulesOf(ctx, input, args.fee);
  const now = ctx.now();
  const effectiveFrom = args.effectiveFrom && args.effectiveFrom > now ? args.effectiveFrom : now;
  return ctx.commit(
    async (tx) => {
      // Bookings of computed slots read the versions under this lock: they see the old or the new rules whole.
      await tx.lockDoctor(args.doctorId);
      await tx.endAvailability({ doctorId: args.doctorId, at: effectiveFrom });
      return tx.insertAvailability({ doctorId: args.doctorId, rules, effectiveFrom, effectiveUntil: null });
    },
    (record) => [ctx.emitEffect('availability.changed', { doctorId: record.doctorId, effectiveFrom, record })],
  );
}

/** Ends the doctor's rules at `effectiveFrom` (default now): no computed slots from then on. */
export async function clearAvailability(
  ctx: EngineContext,
  input: { doctorId: string; effectiveFrom?: Date | string },
): Promise<{ ended: number }> {
  const args = parseInput(clearAvailabilitySchema, input, 'clearAvailability');
  const now = ctx.now();
  const effectiveFrom = args.effectiveFrom && args.effectiveFrom > now ? args.effectiveFrom : now;
  const ended = await ctx.commit(
    async (tx) => {
      await tx.lockDoctor(args.doctorId);
      return tx.endAvailability({ doctorId: args.doctorId, at: effectiveFrom });
    },
    (count) =>
      count > 0
        ? [ctx.emitEffect('availability.changed', { doctorId: args.doctorId, effectiveFrom, record: null })]
        : [],
  );
  return { ended };
}

/** The version in force at `at` (default now), or null. */
export async function getAvailability(
  ctx: EngineContext,
  input: { doctorId: string; at?: Date | string },
): Promise<AvailabilityRecord | null> {
  const args = parseInput(getAvailabilitySchema, input, 'getAvailability');
  const at = args.at ?? ctx.now();
  const [record] = await ctx.store.findAvailability({
    doctorId: args.doctorId,
    from: at,
    to: new Date(at.getTime() + 1),
  });
  return record ?? null;
}

/** Bookable slots computed from the doctor's rules, by start, a page at a time. */
export async function findSlots(ctx: EngineContext, query: FindSlotsQuery): Promise<SlotPage> {
  const args = parseInput(findSlotsSchema, query, 'findSlots');
  if (args.to <= args.from) invalidField('findSlots', 'to', 'must be after from');
  if (args.to.getTime() - args.from.getTime() > MAX_AVAILABILITY_RANGE_DAYS * DAY)
    invalidField('findSlots', 'to', `must be at most ${MAX_AVAILABILITY_RANGE_DAYS} days after from; ask in pieces`);
  let from = args.from;
  if (args.cursor !== undefined) {
    const after = decodeCursor(args.cursor);
    if (after >= from.getTime()) from = new Date(after + 1);
  }
  const limit = args.limit ?? 100;
  if (from >= args.to) return { slots: [], nextCursor: null };
  const slots = await computeSlots(ctx.store, args.doctorId, { from, to: args.to }, ctx.now());
  const page = slots.slice(0, limit);
  const last = page[page.length - 1];
  return { slots: page, nextCursor: slots.length > limit && last ? encodeCursor(last.start) : null };
}

const encodeCursor = (start: Date): string => Buffer.from(`s:${start.getTime()}`).toString('base64url');

function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString();
  const ms = text.startsWith('s:') ? Number(text.slice(2)) : Number.NaN;
  if (!Number.isSafeInteger(ms)) invalidField('findSlots', 'cursor', 'is not a cursor findSlots returned');
  return ms;
}

type TimeOffStep = { timeOff: TimeOff; conflicts: Booking[]; withdrawn: Schedule[]; added: boolean };

/** Thrown inside the transaction when a free slot was claimed between reading and deleting it. */
class WithdrawRace extends Error {}

/** Deletes the free slots of the doctor overlapping `[start, end)`; throws WithdrawRace if one was just claimed. */
async function withdrawFree(tx: StoreOperations, doctorId: string, start: Date, end: Date): Promise<Schedule[]> {
  const free = await tx.findSchedules({
    doctorId,
    status: 'available',
    startFrom: new Date(start.getTime() - MAX_SLOT_MS),
    startBefore: end,
    endAfter: start,
  });
  if (free.length === 0) return [];
  const deleted = await tx.deleteSchedulesIf({ ids: free.map((s) => s.id), expectedStatus: 'available' });
  // Read committed: a booking claimed one after we read it; start over on what is there now.
  if (deleted !== free.length) throw new WithdrawRace();
  return free;
}

function withdrawnEffects(ctx: EngineContext, withdrawn: readonly Schedule[], reason: string): Effect[] {
  return withdrawn.flatMap((schedule) => [
    cancelExpiry(ctx, schedule.id, { scheduleId: schedule.id }),
    ctx.emitEffect('schedule.withdrawn', { schedule, reason }),
  ]);
}

/** Runs `work` again (a few times) when it lost a withdraw race. */
async function retryingWithdraw<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof WithdrawRace)) throw error;
      if (attempt >= 5)
        throw new BookingError('SCHEDULE_UNAVAILABLE', 'Slots in this period keep being booked; try again');
    }
  }
}

/**
 * Blocks a period: no computed slot inside it, free slots in it withdrawn, and bookings in it
 * refused (`reject`) or cancelled by the doctor with a full refund (`cancelAndRefund`). Adding
 * the same period again is safe: it returns the stored time off and finishes what is left.
 */
export async function addTimeOff(ctx: EngineContext, input: AddTimeOffInput): Promise<AddTimeOffOutcome> {
  const args = parseInput(addTimeOffSchema, input, 'addTimeOff');
  if (args.end <= args.start) invalidField('addTimeOff', 'end', 'must be after start');
  if (args.end.getTime() - args.start.getTime() > MAX_TIME_OFF_DAYS * DAY)
    invalidField('addTimeOff', 'end', `must be at most ${MAX_TIME_OFF_DAYS} days after start`);
  if (args.end <= ctx.now()) invalidField('addTimeOff', 'end', 'must be in the future');
  const onConflict = args.onConflict ?? 'reject';
  const doctor: Actor = { role: 'doctor', id: args.doctorId };

  const step = await retryingWithdraw(() =>
    ctx.commit(
      async (tx): Promise<TimeOffStep> => {
        await tx.lockDoctor(args.doctorId);
        const overlapping = await tx.findTimeOff({
          doctorId: args.doctorId,
          startBefore: args.end,
          endAfter: args.start,
        });
        const same = overlapping.find(
          (t) => t.start.getTime() === args.start.getTime() && t.end.getTime() === args.end.getTime(),
        );
        const held = await tx.findSchedules({
          doctorId: args.doctorId,
          status: ['pending', 'booked'],
          startFrom: new Date(args.start.getTime() - MAX_SLOT_MS),
          startBefore: args.end,
          endAfter: args.start,
        });
        const conflicts: Booking[] = [];
        for (const slot of held) {
          const active = await tx.findActiveBooking(slot.id);
          if (active) conflicts.push(active);
        }
        if (conflicts.length > 0 && onConflict === 'reject') {
          throw new BookingError('SCHEDULE_UNAVAILABLE', `${conflicts.length} booking(s) fall in this time off`, {
            details: { bookingIds: conflicts.map((b) => b.id), scheduleIds: conflicts.map((b) => b.scheduleId) },
          });
        }
        const withdrawn = await withdrawFree(tx, args.doctorId, args.start, args.end);
        const timeOff =
          same ??
          (await tx.insertTimeOff({
            doctorId: args.doctorId,
            start: args.start,
            end: args.end,
            reason: args.reason ?? null,
          }));
        return { timeOff, conflicts, withdrawn, added: same === undefined };
      },
      (s) => [
        ...(s.added ? [ctx.emitEffect('timeOff.added', { timeOff: s.timeOff })] : []),
        ...withdrawnEffects(ctx, s.withdrawn, 'time_off'),
      ],
    ),
  );

  const cancelled: CancelOutcome[] = [];
  const failures: { bookingId: string; error: unknown }[] = [];
  for (const booking of step.conflicts) {
    try {
      cancelled.push(await cancelBooking(ctx, { bookingId: booking.id, actor: doctor, reason: 'time_off' }));
    } catch (error) {
      // Ended meanwhile (hold timed out, paid and cancelled elsewhere): nothing left to cancel.
      const current = await ctx.store.getBooking(booking.id);
      if (current && (current.status === 'pending' || current.status === 'scheduled')) {
        failures.push({ bookingId: booking.id, error });
      }
    }
  }
  // Slots the cancellations (or a hold ending meanwhile) freed: off offer too. Bookings cannot take
  // them (every booking checks time off), this only keeps listings honest.
  const freed = step.conflicts.length
    ? await retryingWithdraw(() =>
        ctx.commit(
          async (tx) => {
            await tx.lockDoctor(args.doctorId);
            return withdrawFree(tx, args.doctorId, args.start, args.end);
          },
          (rows) => withdrawnEffects(ctx, rows, 'time_off'),
        ),
      )
    : [];
  if (failures.length > 0) {
    const first = failures[0]!;
    throw new BookingError(
      'INVALID_TRANSITION',
      `The time off is stored, but ${failures.length} booking(s) could not be cancelled yet; call addTimeOff again to finish`,
      {
        details: { timeOffId: step.timeOff.id, bookingIds: failures.map((f) => f.bookingId) },
        cause: first.error,
      },
    );
  }
  return { timeOff: step.timeOff, cancelled, withdrawn: [...step.withdrawn, ...freed] };
}

/** Deletes a time off: its period is offered again by the rules (bookings are not touched). */
export async function removeTimeOff(ctx: EngineContext, input: { timeOffId: string }): Promise<TimeOff> {
  const args = parseInput(removeTimeOffSchema, input, 'removeTimeOff');
  const existing = await ctx.store.getTimeOff(args.timeOffId);
  if (!existing) throw new BookingError('TIME_OFF_NOT_FOUND', `No time off ${args.timeOffId}`);
  const removed = await ctx.commit(
    async (tx) => {
      await tx.lockDoctor(existing.doctorId);
      const current = await tx.getTimeOff(args.timeOffId);
      if (!current || !(await tx.deleteTimeOff(current.id))) return null;
      return current;
    },
    (t) => (t ? [ctx.emitEffect('timeOff.removed', { timeOff: t })] : []),
  );
  if (!removed) throw new BookingError('TIME_OFF_NOT_FOUND', `No time off ${args.timeOffId}`);
  return removed;
}

/** The doctor's time off overlapping `[from, to)` (default: from now on), by start. */
export async function listTimeOff(
  ctx: EngineContext,
  query: { doctorId: string; from?: Date | string; to?: Date | string; limit?: number },
): Promise<TimeOff[]> {
  const args = parseInput(listTimeOffSchema, query, 'listTimeOff');
  return ctx.store.findTimeOff({
    doctorId: args.doctorId,
    endAfter: args.from ?? ctx.now(),
    ...(args.to === undefined ? {} : { startBefore: args.to }),
    limit: args.limit ?? 100,
  });
}

/** Takes a free slot off offer (deletes it); SCHEDULE_UNAVAILABLE when it is held or booked. */
export async function withdrawSchedule(
  ctx: EngineContext,
  input: { scheduleId: string; actor: Actor },
): Promise<Schedule> {
  const { scheduleId, actor } = parseInput(withdrawScheduleSchema, input, 'withdrawSchedule');
  const seen = await ctx.store.getSchedule(scheduleId);
  if (!seen) throw new BookingError('SCHEDULE_NOT_FOUND', 'Schedule not found');
  assertMayManageSlot(actor, seen, 'withdraw');
  const withdrawn = await ctx.commit(
    async (tx) => {
      await tx.lockDoctor(seen.doctorId);
      const slot = await tx.getSchedule(scheduleId);
      if (!slot) throw new BookingError('SCHEDULE_NOT_FOUND', 'Schedule not found');
      if (slot.status !== 'available') {
        throw new BookingError(
          'SCHEDULE_UNAVAILABLE',
          `A ${slot.status} slot cannot be withdrawn; cancel its booking first`,
          {
            details: { status: slot.status },
          },
        );
      }
      if ((await tx.deleteSchedulesIf({ ids: [slot.id], expectedStatus: 'available' })) !== 1) {
        throw new BookingError('SCHEDULE_UNAVAILABLE', 'The slot was booked meanwhile');
      }
      return slot;
    },
    (slot) => withdrawnEffects(ctx, [slot], 'withdrawn'),
  );
  return withdrawn;
}
