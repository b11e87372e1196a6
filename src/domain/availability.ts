// Availability rules (weekly hours, time off, buffers, notice, horizon) expanded into bookable slots.
import { IANAZone } from 'luxon';
import { BookingError } from './errors.js';
import { MAX_AMOUNT, type Money } from './money.js';
import { isValidTimeZone } from './time.js';

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

/** Index 0 is Monday, matching ISO weekday numbers minus one. */
export const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** Hours the doctor works on the given weekdays, in wall-clock time of the rules' `timeZone`. */
export interface WeeklyWindow {
  days: readonly Weekday[];
  /** `HH:mm` (00:00–23:59): the first local time of the window. */
  from: string;
  /** `HH:mm`, exclusive, after `from`; `24:00` means until the end of the local day. */
  to: string;
}

export interface AvailabilityRules {
  /** The doctor's IANA zone: weekly windows are read in it and local dates are its dates. */
  timeZone: string;
  /** At least one window; windows on the same weekday must not overlap (touching is fine). */
  weekly: readonly WeeklyWindow[];
  /** Length of every slot in whole minutes; at least one window must be that long. */
  slotMinutes: number;
  /**
   * Minutes between candidate starts, counted in real elapsed time from the window's start.
   * Smaller than `slotMinutes` offers overlapping candidates (a patient picks one).
   * @defaultValue slotMinutes
   */
  stepMinutes?: number;
  /** Minutes kept free before a slot: it may not overlap a busy interval. @defaultValue 0 */
  bufferBeforeMinutes?: number;
  /** Minutes kept free after a slot: it may not overlap a busy interval. @defaultValue 0 */
  bufferAfterMinutes?: number;
  /** A slot must start at least this many minutes after `now`. @defaultValue 0 */
  minNoticeMinutes?: number;
  /** A slot may start at most this many days (of 24 hours) after `now`; at most 365. @defaultValue 365 */
  horizonDays?: number;
  /** The price of each slot. */
  fee: Money;
}

export interface TimeInterval {
  start: Date;
  /** Exclusive; after `start`. */
  end: Date;
}

export interface AvailabilityInput {
  rules: AvailabilityRules;
  /** The doctor's absences. Any order; the caller may pass only those near `range`. */
  timeOff: readonly TimeInterval[];
  /** Time already taken (booked or held slots). Any order; the caller may pass only those near `range`. */
  busy: readonly TimeInterval[];
  /** Slots starting in `[from, to)` are returned; at most 62 days long. */
  range: { from: Date; to: Date };
  now: Date;
}

export interface AvailableSlot {
  start: Date;
  /** `start` plus `slotMinutes` of real time. */
  end: Date;
  timeZone: string;
  fee: Money;
}

/** The longest `range` accepted, so the cost of one call stays bounded. */
export const MAX_AVAILABILITY_RANGE_DAYS = 62;
/** The furthest booking horizon rules may ask for. */
export const MAX_HORIZON_DAYS = 365;
/** The longest buffer before or after a slot (a day). */
export const MAX_BUFFER_MINUTES = 1440;

const MINUTE = 60_000;
const DAY = 86_400_000;
const WALL = /^([01]\d|2[0-3]):([0-5]\d)$/;

/**
 * The slots a doctor can be booked for in `range`, sorted by start (each start once).
 *
 * - Local dates: every date of `rules.timeZone` that can overlap `range` (one day either side of
 *   it) is visited, nothing else, so the cost follows the range, not the doctor's history.
 * - Windows: on each date, every weekly window for that weekday covers the instants from the
 *   **first** moment the wall clock shows a time in `[from, to)` to the **last** such moment
 *   (in short: from the first occurrence of `from` to the last occurrence of `to`).
 *   In a spring-forward gap the missing local times do not exist: a window starting or ending in
 *   the gap starts or ends where the gap ends, so the window is shorter in real time (00:00–06:00
 *   is 5 hours, 02:30–04:00 across a 02:00–03:00 gap starts at 03:00). In a fall-back overlap the
 *   repeated hour is worked twice: 00:00–04:00 across a repeated 02:00–03:00 is 5 hours, a window
 *   ending at 02:30 ends at the second 02:30 and one starting at 02:30 starts at the first; a
 *   window ending at 02:00, where the repeat begins, ends at the first 02:00 (the clock shows
 *   nothing before 02:00 again that day). Two windows that meet inside a repeated hour share
 *   part of it; a start they both offer is returned once.
 * - Candidates: starts step by `stepMinutes` of real elapsed time from the window's start; a slot
 *   `[start, start + slotMinutes)` must end at or before the window's end.
 * - Busy: every visit occupies its slot widened by the buffers, `[start - bufferBefore, end +
 *   bufferAfter)`, busy intervals too (published slots and other visits need the same time around
 *   them). A slot is dropped when its occupied interval overlaps a busy one's, that is when
 *   `[start - before - after, end + after + before)` overlaps a busy interval: consecutive visits
 *   are at least `bufferAfter + bufferBefore` apart (all intervals are half-open, so touching is
 *   not overlapping).
 * - Time off: a slot is dropped when the slot itself overlaps time off. Buffers do not apply
 *   against time off: like the end of working hours, a slot may end exactly when time off begins.
 * - Notice and horizon: a slot is dropped when `start < now + minNoticeMinutes` or
 *   `start > now + horizonDays × 24 h`.
 * - Only slots with `start` in `[range.from, range.to)` are returned, each with the rules' zone
 *   and a copy of the fee.
 *
 * @throws BookingError `INVALID_INPUT` naming the field, for an unknown zone, a bad `HH:mm`, a
 * window whose `to` is not after `from`, overlapping windows on one weekday, a slot longer than
 * every window, non-positive slot or step, negative buffers or notice, a horizon beyond 365
 * days, an empty or over-long range, an interval that ends before it starts, or an invalid Date.
 */
export function expandAvailability(input: AvailabilityInput): AvailableSlot[] {
  const rules = validateRules(input.rules);
  const from = validDate(input.range?.from, 'range.from');
  const to = validDate(input.range?.to, 'range.to');
  const now = validDate(input.now, 'now');
  if (to <= from) invalid('range.to', `range.to must be after range.from`);
  if (to - from > MAX_AVAILABILITY_RANGE_DAYS * DAY)
    invalid('range', `range must span at most ${MAX_AVAILABILITY_RANGE_DAYS} days; ask for the slots in pieces`);
  const timeOff = mergeIntervals(validIntervals(input.timeOff, 'timeOff'));
  const busy = mergeIntervals(validIntervals(input.busy, 'busy'));

  const zone = zoneOffsets(rules.timeZone);
  const slotMs = rules.slotMinutes * MINUTE;
  const stepMs = rules.stepMinutes * MINUTE;
  const before = rules.bufferBeforeMinutes * MINUTE;
  const after = rules.bufferAfterMinutes * MINUTE;
  const earliest = Math.max(from, now + rules.minNoticeMinutes * MINUTE);
  const latest = now + rules.horizonDays * DAY;

  const starts = new Set<number>();
  const first = localDate(from, zone);
  const last = localDate(to, zone);
  for (let day = first - 1; day <= last + 1; day++) {
    const date = civil(day);
    const windows = rules.byWeekday[weekdayIndex(day)] ?? [];
    for (const window of windows) {
      const windowStart = firstAtOrAfter(date, window.from, zone);
      const windowEnd = window.to === 1440 ? endBefore(civil(day + 1), 0, zone) : endBefore(date, window.to, zone);
      // Skip the candidates before `earliest` arithmetically: the cost follows the range.
      let start = windowStart + Math.max(0, Math.ceil((earliest - windowStart) / stepMs)) * stepMs;
      for (; start + slotMs <= windowEnd && start < to && start <= latest; start += stepMs) {
        if (overlapsAny(timeOff, start, start + slotMs)) continue;
        // Both occupied intervals carry both buffers: widen by their sum on each side.
        if (overlapsAny(busy, start - before - after, start + slotMs + after + before)) continue;
        starts.add(start);
      }
    }
  }
  return [...starts]
    .sort((x, y) => x - y)
    .map((start) => ({
      start: new Date(start),
      end: new Date(start + slotMs),
      timeZone: rules.timeZone,
      fee: { amount: rules.fee.amount, currency: rules.fee.currency },
    }));
}

/**
 * Validates rules and returns them complete: every default filled in, days listed once, fresh
 * arrays and objects. Fields are named `${prefix}timeZone` etc. in errors (`prefix: ''` names
 * them as top-level input fields).
 *
 * @param options.maxHorizonDays the largest `horizonDays` accepted, and the default (at most 365).
 * @throws BookingError `INVALID_INPUT` naming the field, as `expandAvailability` does.
 */
export function parseAvailabilityRules(
  rules: AvailabilityRules,
  options: { prefix?: string; maxHorizonDays?: number } = {},
): Required<AvailabilityRules> {
  const valid = validateRules(
    rules,
    options.prefix ?? 'rules.',
    Math.min(options.maxHorizonDays ?? MAX_HORIZON_DAYS, MAX_HORIZON_DAYS),
  );
  return {
    timeZone: valid.timeZone,
    weekly: rules.weekly.map((w) => ({ days: [...new Set(w.days)], from: w.from, to: w.to })),
    slotMinutes: valid.slotMinutes,
    stepMinutes: valid.stepMinutes,
    bufferBeforeMinutes: valid.bufferBeforeMinutes,
    bufferAfterMinutes: valid.bufferAfterMinutes,
    minNoticeMinutes: valid.minNoticeMinutes,
    horizonDays: valid.horizonDays,
    fee: { amount: valid.fee.amount, currency: valid.fee.currency },
  };
}

interface Window {
  /** Minutes after local midnight. */
  from: number;
  /** Minutes after local midnight; 1440 is the end of the day. */
  to: number;
}

interface ValidRules {
  timeZone: string;
  byWeekday: Window[][];
  slotMinutes: number;
  stepMinutes: number;
  bufferBeforeMinutes: number;
  bufferAfterMinutes: number;
  minNoticeMinutes: number;
  horizonDays: number;
  fee: Money;
}

function invalid(field: string, message: string): never {
  throw new BookingError('INVALID_INPUT', message, { details: { field } });
}

function validateRules(rules: AvailabilityRules, p = 'rules.', maxHorizonDays = MAX_HORIZON_DAYS): ValidRules {
  const rulesField = p === '' ? 'input' : p.slice(0, -1);
  if (typeof rules !== 'object' || rules === null) invalid(rulesField, `${rulesField} must be an object`);
  if (!isValidTimeZone(rules.timeZone))
    invalid(
      `${p}timeZone`,
      `${p}timeZone must be an IANA time zone such as Europe/Berlin, got ${String(rules.timeZone)}`,
    );
  const slotMinutes = wholeMinutes(rules.slotMinutes, `${p}slotMinutes`, 1);
  const stepMinutes =
    rules.stepMinutes === undefined ? slotMinutes : wholeMinutes(rules.stepMinutes, `${p}stepMinutes`, 1);
  const bufferBeforeMinutes = wholeMinutes(rules.bufferBeforeMinutes ?? 0, `${p}bufferBeforeMinutes`, 0);
  const bufferAfterMinutes = wholeMinutes(rules.bufferAfterMinutes ?? 0, `${p}bufferAfterMinutes`, 0);
  for (const [value, name] of [
    [bufferBeforeMinutes, 'bufferBeforeMinutes'],
    [bufferAfterMinutes, 'bufferAfterMinutes'],
  ] as const) {
    if (value > MAX_BUFFER_MINUTES)
      invalid(`${p}${name}`, `${p}${name} must be at most ${MAX_BUFFER_MINUTES} minutes, got ${value}`);
  }
  const minNoticeMinutes = wholeMinutes(rules.minNoticeMinutes ?? 0, `${p}minNoticeMinutes`, 0);
  const horizonDays = wholeMinutes(rules.horizonDays ?? maxHorizonDays, `${p}horizonDays`, 0);
  if (horizonDays > maxHorizonDays)
    invalid(`${p}horizonDays`, `${p}horizonDays must be at most ${maxHorizonDays}, got ${horizonDays}`);
  const fee = rules.fee;
  if (typeof fee !== 'object' || fee === null) invalid(`${p}fee`, `${p}fee must be { amount, currency }`);
  if (!Number.isInteger(fee.amount) || fee.amount < 0 || fee.amount > MAX_AMOUNT)
    invalid(`${p}fee.amount`, `${p}fee.amount must be an integer in minor units from 0 to ${MAX_AMOUNT}`);
  if (typeof fee.currency !== 'string' || !/^[a-z]{3}$/.test(fee.currency))
    invalid(`${p}fee.currency`, `${p}fee.currency must be a lowercase ISO 4217 code such as eur`);

  if (!Array.isArray(rules.weekly) || rules.weekly.length === 0)
    invalid(
      `${p}weekly`,
      `${p}weekly must list at least one window, e.g. { days: ["mon"], from: "09:00", to: "17:00" }`,
    );
  const byWeekday: Window[][] = WEEKDAYS.map(() => []);
  const labels: string[][] = WEEKDAYS.map(() => []);
  let longest = 0;
  rules.weekly.forEach((entry, i) => {
    const field = `${p}weekly[${i}]`;
    const from = wallMinutes(entry?.from, `${field}.from`, false);
    const to = wallMinutes(entry?.to, `${field}.to`, true);
    if (to <= from) invalid(`${field}.to`, `${field}.to (${entry.to}) must be after ${field}.from (${entry.from})`);
    if (!Array.isArray(entry.days) || entry.days.length === 0)
      invalid(`${field}.days`, `${field}.days must list at least one of ${WEEKDAYS.join(', ')}`);
    for (const day of new Set<unknown>(entry.days)) {
      const index = WEEKDAYS.indexOf(day as Weekday);
      if (index < 0) invalid(`${field}.days`, `${field}.days has ${String(day)}; use ${WEEKDAYS.join(', ')}`);
      const windows = byWeekday[index]!;
      const clash = windows.findIndex((w) => w.from < to && from < w.to);
      if (clash >= 0)
        invalid(
          field,
          `${field} overlaps ${labels[index]![clash]} on ${String(day)}; windows on one day must not overlap`,
        );
      windows.push({ from, to });
      labels[index]!.push(`${field} (${entry.from}–${entry.to})`);
    }
    longest = Math.max(longest, to - from);
  });
  if (slotMinutes > longest)
    invalid(
      `${p}slotMinutes`,
      `${p}slotMinutes (${slotMinutes}) is longer than every weekly window (the longest is ${longest} minutes)`,
    );
  return {
    timeZone: rules.timeZone,
    byWeekday,
    slotMinutes,
    stepMinutes,
    bufferBeforeMinutes,
    bufferAfterMinutes,
    minNoticeMinutes,
    horizonDays,
    fee,
  };
}

function wholeMinutes(value: unknown, field: string, min: 0 | 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
    invalid(
      field,
      `${field} must be ${min === 0 ? 'a non-negative' : 'a positive'} whole number, got ${String(value)}`,
    );
  return value;
}

function wallMinutes(value: unknown, field: string, endOfDay: boolean): number {
  if (endOfDay && value === '24:00') return 1440;
  const match = typeof value === 'string' ? WALL.exec(value) : null;
  if (!match)
    invalid(field, `${field} must be a wall-clock time HH:mm${endOfDay ? ' (or 24:00)' : ''}, got ${String(value)}`);
  return Number(match[1]) * 60 + Number(match[2]);
}

function validDate(value: unknown, field: string): number {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) invalid(field, `${field} must be a valid Date`);
  return value.getTime();
}

function validIntervals(list: readonly TimeInterval[], field: string): [number, number][] {
  if (!Array.isArray(list)) invalid(field, `${field} must be an array of { start, end }`);
  return list.map((interval, i) => {
    const start = validDate(interval?.start, `${field}[${i}].start`);
    const end = validDate(interval?.end, `${field}[${i}].end`);
    if (end <= start) invalid(`${field}[${i}].end`, `${field}[${i}].end must be after ${field}[${i}].start`);
    return [start, end];
  });
}

/** Sorted, disjoint intervals covering the same instants (touching ones joined). */
function mergeIntervals(list: [number, number][]): [number, number][] {
  const sorted = [...list].sort((x, y) => x[0] - y[0]);
  const merged: [number, number][] = [];
  for (const [start, end] of sorted) {
    const top = merged[merged.length - 1];
    if (top && start <= top[1]) top[1] = Math.max(top[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

/** A zone's UTC offset in minutes at an instant. */
interface ZoneOffsets {
  offset(instant: number): number;
}

/**
 * luxon's `IANAZone.offset`, remembered per instant: it is a pure function of the instant, and
 * each answer costs an `Intl` `formatToParts` call (half of a computed booking's time before
 * this). Bookings of one doctor on one day ask about the same instants again.
 */
class RememberedOffsets implements ZoneOffsets {
  private readonly known = new Map<number, number>();
  constructor(private readonly zone: IANAZone) {}

  offset(instant: number): number {
    let minutes = this.known.get(instant);
    if (minutes === undefined) {
      minutes = this.zone.offset(instant);
      if (this.known.size >= MAX_REMEMBERED_OFFSETS) this.known.clear();
      this.known.set(instant, minutes);
    }
    return minutes;
  }
}

const MAX_REMEMBERED_OFFSETS = 50_000;
const zones = new Map<string, RememberedOffsets>();

function zoneOffsets(timeZone: string): ZoneOffsets {
  let zone = zones.get(timeZone);
  if (zone === undefined) {
    if (zones.size >= 1_000) zones.clear();
    zone = new RememberedOffsets(IANAZone.create(timeZone));
    zones.set(timeZone, zone);
  }
  return zone;
}

/** Whether `[start, end)` overlaps any of the sorted, disjoint `intervals`. */
function overlapsAny(intervals: [number, number][], start: number, end: number): boolean {
  // The first interval ending after `start` is the only one that can overlap.
  let lo = 0;
  let hi = intervals.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (intervals[mid]![1] <= start) lo = mid + 1;
    else hi = mid;
  }
  const candidate = intervals[lo];
  return candidate !== undefined && candidate[0] < end;
}

// Local dates are counted as days since 1970-01-01 of the proleptic calendar, so stepping a day
// is integer arithmetic and the weekday is a remainder.
type Civil = { year: number; month: number; day: number };

function localDate(instant: number, zone: ZoneOffsets): number {
  return Math.floor((instant + zone.offset(instant) * MINUTE) / DAY);
}

function civil(day: number): Civil {
  const date = new Date(day * DAY);
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1, day: date.getUTCDate() };
}

/** 0 for Monday … 6 for Sunday (1970-01-01 was a Thursday). */
function weekdayIndex(day: number): number {
  return (((day + 3) % 7) + 7) % 7;
}

/**
 * The instants at which the wall clock shows `minutes` on `date`, ascending: none in a
 * spring-forward gap, two in a fall-back overlap. Unlike `atWallClock` (one instant, a gap
 * shifted by its length) a window needs the last occurrence and the gap's end.
 */
function occurrences(date: Civil, minutes: number, zone: ZoneOffsets): { hits: number[]; naive: number } {
  const naive = Date.UTC(date.year, date.month - 1, date.day, 0, minutes);
  // Offsets lie within -12 h … +14 h, so every candidate instant lies in this span.
  const offsets = new Set([
    zone.offset(naive - 14 * 3_600_000),
    zone.offset(naive),
    zone.offset(naive + 12 * 3_600_000),
  ]);
  const hits = [...offsets]
    .map((offset) => naive - offset * MINUTE)
    .filter((instant) => instant + zone.offset(instant) * MINUTE === naive)
    .sort((x, y) => x - y);
  return { hits, naive };
}

/** The first instant on `date` whose wall clock is at or after `minutes`. */
function firstAtOrAfter(date: Civil, minutes: number, zone: ZoneOffsets): number {
  const { hits, naive } = occurrences(date, minutes, zone);
  return hits.length > 0 ? hits[0]! : gapEnd(naive, zone);
}

/**
 * The end of the instants on `date` whose wall clock is before `minutes`: the last occurrence of
 * `minutes` when it happens twice, unless it is where the repeated span begins (then the clock
 * never shows an earlier time after its first occurrence); the gap's end when it never happens.
 */
function endBefore(date: Civil, minutes: number, zone: ZoneOffsets): number {
  const { hits, naive } = occurrences(date, minutes, zone);
  if (hits.length === 0) return gapEnd(naive, zone);
  const last = hits[hits.length - 1]!;
  // A transition at `last` itself means the clock jumped back to `minutes` from a later time.
  return zone.offset(last - 1) === zone.offset(last) ? last : hits[0]!;
}

/**
 * The instant a spring-forward gap containing local `naive` ends (where the clock jumps past it).
 * Between the instant read with the later offset and the one read with the earlier offset the
 * offset changes exactly once; bisect to the minute (zone rules change on whole minutes).
 */
function gapEnd(naive: number, zone: ZoneOffsets): number {
  const offsetBefore = zone.offset(naive - 14 * 3_600_000);
  const offsetAfter = zone.offset(naive + 12 * 3_600_000);
  let lo = Math.floor((naive - offsetAfter * MINUTE) / MINUTE); // still the earlier offset
  let hi = Math.ceil((naive - offsetBefore * MINUTE) / MINUTE); // already the later offset
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (zone.offset(mid * MINUTE) === offsetBefore) lo = mid;
    else hi = mid;
  }
  return hi * MINUTE;
}
