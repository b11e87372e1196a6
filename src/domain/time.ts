// Wall-clock rules: IANA time zones and "same local time next day" across daylight saving.
import { DateTime, IANAZone } from 'luxon';

export function isValidTimeZone(zone: unknown): zone is string {
  if (typeof zone !== 'string' || zone.length === 0) return false;
  // Luxon asks Intl each time (~0.2 ms); the zone database does not change while a process runs.
  let valid = validZones.get(zone);
  if (valid === undefined) {
    valid = IANAZone.isValidZone(zone);
    if (validZones.size < 1000) validZones.set(zone, valid);
  }
  return valid;
}

const validZones = new Map<string, boolean>();

/**
 * The instant one calendar day later at the same local wall-clock time in `timeZone`.
 * A 09:00 slot stays at 09:00 local even when the day in between is 23 or 25 hours long.
 * Where the local time does not exist (a spring-forward gap) it moves forward by the gap.
 */
export function sameLocalTimeNextDay(instant: Date, timeZone: string): Date {
  return DateTime.fromJSDate(instant, { zone: timeZone }).plus({ days: 1 }).toJSDate();
}

/** A wall-clock time of day: `HH:mm`, or `HH:mm:ss.SSS` when it has seconds. */
export type WallClock = string;

/** The wall-clock time of an instant in `timeZone`: `HH:mm`, with `:ss.SSS` only when not on a whole minute. */
export function wallClockOf(instant: Date, timeZone: string): WallClock {
  const local = DateTime.fromJSDate(instant, { zone: timeZone });
  return local.toFormat(local.second === 0 && local.millisecond === 0 ? 'HH:mm' : 'HH:mm:ss.SSS');
}

/**
 * The instant at wall-clock `wall` on the local date `date` in `timeZone`. In a fall-back
 * overlap (the time happens twice) it is the first occurrence; in a spring-forward gap (it does
 * not happen) it is moved forward by the gap (02:30 in a 02:00–03:00 gap is 03:30).
 */
export function atWallClock(
  date: { year: number; month: number; day: number },
  wall: WallClock,
  timeZone: string,
): Date {
  const [hour = 0, minute = 0, seconds = 0] = wall.split(':').map(Number);
  const second = Math.floor(seconds);
  const millisecond = Math.round((seconds - second) * 1000);
  const guess = DateTime.fromObject({ ...date, hour, minute, second, millisecond }, { zone: timeZone });
  const naive = Date.UTC(date.year, date.month - 1, date.day, hour, minute, second, millisecond);
  // An overlap has two offsets in force around it: try each, keep those that land on the time.
  const offsets = new Set([guess.offset, guess.minus({ hours: 25 }).offset, guess.plus({ hours: 25 }).offset]);
  const matches = [...offsets]
    .map((offset) => naive - offset * 60_000)
    .filter((ms) => {
      const local = DateTime.fromMillis(ms, { zone: timeZone });
      return (
        local.year === date.year &&
        local.month === date.month &&
        local.day === date.day &&
        local.hour === hour &&
        local.minute === minute
      );
    })
    .sort((x, y) => x - y);
  return matches.length > 0 ? new Date(matches[0] as number) : guess.toJSDate();
}

/**
 * The next-day copy of a slot: one local day later at the wall-clock start `wall` (the time the
 * doctor published, which a copy shifted past a gap keeps, so later days return to it), with the
 * slot's own duration; repeated a day at a time until it starts after `now` (a late catch-up
 * moves start and end together).
 */
export function nextDayCopy(
  slot: { startTime: Date; endTime: Date; timeZone: string },
  wall: WallClock,
  now: Date,
): { startTime: Date; endTime: Date } {
  const duration = slot.endTime.getTime() - slot.startTime.getTime();
  const day = DateTime.fromJSDate(slot.startTime, { zone: slot.timeZone }).startOf('day');
  for (let days = 1; ; days++) {
    const next = day.plus({ days });
    const startTime = atWallClock({ year: next.year, month: next.month, day: next.day }, wall, slot.timeZone);
    if (startTime > now) return { startTime, endTime: new Date(startTime.getTime() + duration) };
  }
}

export function addMinutes(instant: Date, minutes: number): Date {
  return new Date(instant.getTime() + minutes * 60_000);
}

export function addDays(instant: Date, days: number): Date {
  return new Date(instant.getTime() + days * 86_400_000);
}

// One formatter per zone: building an Intl.DateTimeFormat (or a luxon DateTime) per message
// was a tenth of the engine's time per booking.
const formatters = new Map<string, Intl.DateTimeFormat>();

/** Formats an instant in the slot's zone for notification text, e.g. `2026-03-08 09:00 (America/New_York)`. */
export function formatLocal(instant: Date, timeZone: string): string {
  // One booking's notifications format the same instant one after another: the last answer is kept.
  const time = instant.getTime();
  if (time === lastFormatted.time && timeZone === lastFormatted.timeZone) return lastFormatted.text;
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, formatter);
  }
  const part: Partial<Record<Intl.DateTimeFormatPartTypes, string>> = {};
  for (const { type, value } of formatter.formatToParts(instant)) part[type] = value;
  const text = `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute} (${timeZone})`;
  lastFormatted = { time, timeZone, text };
  return text;
}

let lastFormatted = { time: Number.NaN, timeZone: '', text: '' };
