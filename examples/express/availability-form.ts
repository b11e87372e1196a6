// Reads the doctor page's HTML forms (weekly hours, time off) into careslot inputs, naming the field that is wrong.
import { type SetAvailabilityInput, WEEKDAYS, type Weekday } from 'careslot';
import { DateTime } from 'luxon';

/** A form field the doctor has to correct; the page shows it next to the form. */
export class FormError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

type Form = Record<string, unknown>;

const text = (form: Form, field: string): string => {
  const value = form[field];
  return typeof value === 'string' ? value.trim() : '';
};

const WALL = /^([01]\d|2[0-3]):[0-5]\d$/;

function wallTime(form: Form, field: string): string {
  const value = text(form, field);
  if (!WALL.test(value)) throw new FormError(field, `${field} must be a time HH:mm, got "${value}"`);
  return value;
}

/** `50` or `50.00` in the currency's major unit, as integer minor units. */
function amount(form: Form, field: string): number {
  const value = text(form, field);
  if (!/^\d{1,6}(\.\d{1,2})?$/.test(value)) throw new FormError(field, `${field} must be an amount like 50.00`);
  return Math.round(Number(value) * 100);
}

function minutes(form: Form, field: string): number {
  const value = Number(text(form, field));
  if (!Number.isInteger(value) || value < 5 || value > 480)
    throw new FormError(field, `${field} must be a whole number of minutes from 5 to 480`);
  return value;
}

/** The weekly-hours form: days (checkboxes), from, to, slotMinutes, fee, currency, timeZone. */
export function parseHoursForm(form: Form, doctorId: string, defaultZone: string): SetAvailabilityInput {
  const picked = form.days === undefined ? [] : ([] as unknown[]).concat(form.days);
  if (picked.length === 0) throw new FormError('days', 'days: tick at least one weekday');
  const days = picked.map((day) => {
    if (!WEEKDAYS.includes(day as Weekday)) throw new FormError('days', `days has "${String(day)}"; use mon…sun`);
    return day as Weekday;
  });
  const from = wallTime(form, 'from');
  const to = wallTime(form, 'to');
  if (to <= from) throw new FormError('to', `to (${to}) must be after from (${from})`);
  const currency = text(form, 'currency') || 'eur';
  if (!/^[a-zA-Z]{3}$/.test(currency)) throw new FormError('currency', 'currency must be a three-letter code like eur');
  return {
    doctorId,
    timeZone: text(form, 'timeZone') || defaultZone,
    weekly: [{ days: [...new Set(days)], from, to }],
    slotMinutes: minutes(form, 'slotMinutes'),
    fee: { amount: amount(form, 'fee'), currency },
  };
}

/** A `datetime-local` value (`2026-12-24T09:00`) read as wall-clock time in the doctor's zone. */
function localInstant(form: Form, field: string, timeZone: string): Date {
  const value = text(form, field);
  const at = DateTime.fromISO(value, { zone: timeZone });
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(value) || !at.isValid)
    throw new FormError(field, `${field} must be a local date and time like 2026-12-24T09:00, got "${value}"`);
  return at.toJSDate();
}

/** The time-off form: start, end (local to the doctor), reason, cancelBookings (checkbox). */
export function parseTimeOffForm(form: Form, doctorId: string, timeZone: string) {
  const start = localInstant(form, 'start', timeZone);
  const end = localInstant(form, 'end', timeZone);
  if (end <= start) throw new FormError('end', 'end must be after start');
  const reason = text(form, 'reason');
  return {
    doctorId,
    start,
    end,
    ...(reason ? { reason } : {}),
    onConflict: form.cancelBookings === 'on' ? ('cancelAndRefund' as const) : ('reject' as const),
  };
}

/** The form field an engine validation error points at (`weekly[0].to` → `to`, `fee.amount` → `fee`). */
export function formFieldOf(engineField: string): string {
  const last = engineField.split('.').pop() ?? engineField;
  return last === 'amount' ? 'fee' : last;
}
