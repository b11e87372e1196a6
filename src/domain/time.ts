// Wall-clock rules: IANA time zones and "same local time next day" across daylight saving.
import { DateTime, IANAZone } from 'luxon';

export function isValidTimeZone(zone: unknown): zone is string {
  return typeof zone === 'string' && zone.length > 0 && IANAZone.isValidZone(zone);
}

/**
 * The instant one calendar day later at the same local wall-clock time in `timeZone`.
 * A 09:00 slot stays at 09:00 local even when the day in between is 23 or 25 hours long.
 * Where the local time does not exist (a spring-forward gap) it moves forward by the gap.
 */
export function sameLocalTimeNextDay(instant: Date, timeZone: string): Date {
  return DateTime.fromJSDate(instant, { zone: timeZone }).plus({ days: 1 }).toJSDate();
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
  return `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute} (${timeZone})`;
}
