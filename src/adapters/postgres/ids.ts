// Record ids careslot generates for PostgreSQL (time-sortable text), and the checks every value passes before it reaches SQL.
import { randomBytes } from 'node:crypto';
import { BookingError } from '../../domain/errors.js';

const processPart = randomBytes(3).toString('hex');
let lastMs = 0;
let counter = randomBytes(3).readUIntBE(0, 3);

/**
 * A new record id: 24 lowercase hex digits, shaped like a MongoDB ObjectId so ids look the same
 * on every store. The first 12 digits are the milliseconds since 1970, then 6 per process and a
 * 6-digit counter, so ids sort by creation time (and, within a process, in creation order: the
 * time never goes back and the counter breaks ties).
 */
export function newRecordId(): string {
  const now = Date.now();
  if (now > lastMs) lastMs = now;
  counter = (counter + 1) % 0x1000000;
  if (counter === 0) lastMs++; // 16.7 million ids in one millisecond: borrow the next one
  return `${lastMs.toString(16).padStart(12, '0')}${processPart}${counter.toString(16).padStart(6, '0')}`;
}

/** The longest id careslot accepts (the engine's own limit), for record and host ids alike. */
export const MAX_ID_LENGTH = 128;

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : `a ${value.length}-character string`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export function invalid(field: string, expected: string, value: unknown): BookingError {
  return new BookingError('INVALID_INPUT', `${field} must be ${expected} (got ${describeValue(value)})`, {
    details: { field },
  });
}

/**
 * A string PostgreSQL can store as text: not empty, at most `max` characters and without NUL
 * (text columns refuse U+0000, which would otherwise surface as a database error).
 */
export function toText(value: unknown, field: string, max = 255): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max || value.includes('\u0000')) {
    throw invalid(field, `a non-empty string of at most ${max} characters without NUL`, value);
  }
  return value;
}

/** A record or host id: any non-empty text up to 128 characters (host ids are stored as given). */
export const toId = (value: unknown, field: string): string => toText(value, field, MAX_ID_LENGTH);

/**
 * The id half of a keyset cursor: a bound, not a stored id, so any text sorts somewhere, even
 * the empty string (before every id). Only NUL, which text cannot hold, and overlong ones are refused.
 */
export function toCursorId(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length > MAX_ID_LENGTH || value.includes('\u0000')) {
    throw invalid(field, `a string of at most ${MAX_ID_LENGTH} characters without NUL`, value);
  }
  return value;
}

/** Text that may be null (a cleared field). */
export function toNullableText(value: unknown, field: string, max = 2048): string | null {
  return value === null ? null : toText(value, field, max);
}

export function toDate(value: unknown, field: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalid(field, 'a valid Date', value);
  return value;
}

// The instants PostgreSQL reads in the ISO form JavaScript writes: years 0001 to 9999.
const FIRST_INSTANT = Date.parse('0001-01-01T00:00:00.000Z');
const LAST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * A query bound (a filter, never a stored value): any valid Date, the ones PostgreSQL cannot read
 * (e.g. `new Date(-8.64e15)`, "since ever") as `-infinity` or `infinity`. No stored time lies
 * beyond them, so every comparison answers as it would with the Date itself.
 */
export function toBound(value: unknown, field: string): Date | '-infinity' | 'infinity' {
  const d = toDate(value, field);
  if (d.getTime() < FIRST_INSTANT) return '-infinity';
  if (d.getTime() > LAST_INSTANT) return 'infinity';
  return d;
}

export function toNullableDate(value: unknown, field: string): Date | null {
  return value === null ? null : toDate(value, field);
}

/** Whole minor units (or a count) that fit a bigint and a JavaScript number exactly. */
export function toAmount(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(field, 'a whole number >= 0', value);
  }
  return value;
}

export function toBoolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw invalid(field, 'true or false', value);
  return value;
}

/** One value, or a non-empty list of values, each one of `allowed`. */
export function oneOrMany<T extends string>(allowed: readonly T[], value: unknown, field: string): T[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0 || !list.every((v) => typeof v === 'string' && (allowed as readonly string[]).includes(v))) {
    throw new BookingError('INVALID_INPUT', `${field} must be one of ${allowed.join(', ')} (or a list of them)`, {
      details: { field },
    });
  }
  return list as T[];
}

export function toLimit(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new BookingError('INVALID_INPUT', 'limit must be a whole number >= 0', { details: { field: 'limit' } });
  }
  return value;
}

export function objectArgument(value: unknown, operation: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new BookingError('INVALID_INPUT', `${operation}: pass an object argument`);
  }
  return value as Record<string, unknown>;
}
