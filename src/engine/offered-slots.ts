// What a doctor's rules offer: the one slot computation `findSlots` and every booking check run, and the time-off checks.
import { expandAvailability } from '../domain/availability.js';
import type { Schedule, TimeOff } from '../domain/entities.js';
import { BookingError, isBookingError } from '../domain/errors.js';
import type { Money } from '../domain/money.js';
import type { StoreOperations, StoreReads } from '../ports/booking-store.js';

const LIVE = ['available', 'pending', 'booked'] as const;
const MINUTE = 60_000;
/** Published slots last at most a day, so one that overlaps a range starts at most a day before it. */
export const MAX_SLOT_MS = 86_400_000;

/** A slot computed from a doctor's rules: book it with `book({ patientId, doctorId, startTime: start })`. */
export interface ComputedSlot {
  doctorId: string;
  start: Date;
  end: Date;
  timeZone: string;
  fee: Money;
  /** The availability version that offers it. */
  availabilityId: string;
}

/** A free row materialized from rules: its time is the rules' to offer again, not the row's. */
export const isFreedComputedSlot = (s: Schedule): boolean => s.status === 'available' && s.availabilityId != null;

/**
 * The slots `[range.from, range.to)` offers under the versions in force there, minus time off,
 * live slots and their buffers, notice and horizon. The one computation both `findSlots` and the
 * booking check run, so the list and the check cannot disagree.
 */
export async function computeSlots(
  reads: StoreReads,
  doctorId: string,
  range: { from: Date; to: Date },
  now: Date,
): Promise<ComputedSlot[]> {
  const versions = await reads.findAvailability({ doctorId, from: range.from, to: range.to });
  if (versions.length === 0) return [];
  // A candidate's occupied time reaches `before + after` beyond its slot on each side, and so does
  // a busy slot's: read every slot that close to the range, or the check and the list disagree.
  let pad = 0;
  let longest = 0;
  for (const v of versions) {
    pad = Math.max(pad, (v.rules.bufferBeforeMinutes + v.rules.bufferAfterMinutes) * MINUTE);
    longest = Math.max(longest, v.rules.slotMinutes * MINUTE);
  }
  const from = range.from.getTime();
  const to = range.to.getTime();
  const rows = await reads.findSchedules({
    doctorId,
    status: LIVE,
    startFrom: new Date(from - pad - MAX_SLOT_MS),
    startBefore: new Date(to + longest + pad),
    endAfter: new Date(from - pad),
  });
  const busy = rows.filter((s) => !isFreedComputedSlot(s)).map((s) => ({ start: s.startTime, end: s.endTime }));
  // Time off only blocks the slot itself.
  const timeOff = (
    await reads.findTimeOff({ doctorId, startBefore: new Date(to + longest), endAfter: range.from })
  ).map((t) => ({ start: t.start, end: t.end }));
  const slots: ComputedSlot[] = [];
  for (const v of versions) {
    const segmentFrom = Math.max(from, v.effectiveFrom.getTime());
    const segmentTo = Math.min(to, v.effectiveUntil?.getTime() ?? to);
    if (segmentTo <= segmentFrom) continue;
    const expanded = expandAvailability({
      rules: v.rules,
      timeOff,
      busy,
      range: { from: new Date(segmentFrom), to: new Date(segmentTo) },
      now,
    });
    for (const slot of expanded) slots.push({ doctorId, ...slot, availabilityId: v.id });
  }
  return slots;
}

/**
 * Inside a booking transaction, under the doctor's lock: the computed slot starting exactly at
 * `startTime`, or SCHEDULE_UNAVAILABLE saying why not.
 */
export async function computedSlotAt(
  tx: StoreOperations,
  doctorId: string,
  startTime: Date,
  now: Date,
): Promise<ComputedSlot> {
  const [slot] = await computeSlots(tx, doctorId, { from: startTime, to: new Date(startTime.getTime() + 1) }, now);
  if (slot && slot.start.getTime() === startTime.getTime()) return slot;
  const [version] = await tx.findAvailability({ doctorId, from: startTime, to: new Date(startTime.getTime() + 1) });
  if (!version) throw new BookingError('SCHEDULE_UNAVAILABLE', 'The doctor offers no slots at this time');
  const off = await timeOffDuring(
    tx,
    doctorId,
    startTime,
    new Date(startTime.getTime() + version.rules.slotMinutes * MINUTE),
  );
  if (off)
    throw new BookingError('SCHEDULE_UNAVAILABLE', 'The doctor is away at this time', {
      details: { timeOffId: off.id },
    });
  throw new BookingError(
    'SCHEDULE_UNAVAILABLE',
    'This time is not bookable: taken, outside the working hours or slot grid, or too soon or too far ahead',
  );
}

/** The first time off of the doctor overlapping `[start, end)`, if any. */
export async function timeOffDuring(
  reads: StoreReads,
  doctorId: string,
  start: Date,
  end: Date,
): Promise<TimeOff | null> {
  const [off] = await reads.findTimeOff({ doctorId, startBefore: end, endAfter: start, limit: 1 });
  return off ?? null;
}

/** Throws SCHEDULE_UNAVAILABLE when the doctor has time off during the slot. */
export async function assertNotAway(reads: StoreReads, slot: Pick<Schedule, 'doctorId' | 'startTime' | 'endTime'>) {
  const off = await timeOffDuring(reads, slot.doctorId, slot.startTime, slot.endTime);
  if (off) {
    throw new BookingError('SCHEDULE_UNAVAILABLE', 'The doctor is away at this time', {
      details: { timeOffId: off.id },
    });
  }
}

/**
 * Whether a free slot may still be confirmed for money that arrived late: not during time off,
 * and, when it came from rules, still offered by the rules in force.
 */
export async function stillOffered(tx: StoreOperations, slot: Schedule, now: Date): Promise<boolean> {
  // Time off: addTimeOff deletes the free slot it covers, so it conflicts with this claim on the row.
  if (await timeOffDuring(tx, slot.doctorId, slot.startTime, slot.endTime)) return false;
  if (slot.availabilityId == null) return true;
  // The rules and the other slots are read, not written: the doctor's lock orders this against them.
  await tx.lockDoctor(slot.doctorId);
  try {
    const offered = await computedSlotAt(tx, slot.doctorId, slot.startTime, now);
    return offered.end.getTime() === slot.endTime.getTime();
  } catch (error) {
    if (isBookingError(error) && error.code === 'SCHEDULE_UNAVAILABLE') return false;
    throw error;
  }
}
