// Turns domain id strings into MongoDB values, refusing anything that is not plainly an id.
import mongoose from 'mongoose';
import { BookingError } from '../../domain/errors.js';

export type ObjectId = mongoose.Types.ObjectId;

/**
 * How the host's user ids (doctorId, patientId, bookedBy) are stored: `objectId` for hosts whose
 * users are MongoDB documents (the original system: refs to its User model), `string` for any
 * other id scheme (UUIDs, auth-provider ids).
 */
export type HostIdMode = 'objectId' | 'string';

/** A host user id as stored: an ObjectId or, with `hostIds: 'string'`, the string itself. */
export type HostId = ObjectId | string;

// Strictly 24 hex digits: ObjectId.isValid also accepts any 12-character string as raw bytes.
const OBJECT_ID = /^[0-9a-fA-F]{24}$/;
const MAX_HOST_ID_LENGTH = 128;

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : `a ${value.length}-character string`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function invalid(field: string, expected: string, value: unknown, hint = ''): BookingError {
  return new BookingError('INVALID_INPUT', `${field} must be ${expected} (got ${describeValue(value)})${hint}`, {
    details: { field },
  });
}

/** Said with every refused host id in objectId mode: the fix is an option, not the caller's data. */
export const HOST_ID_HINT =
  "; MongooseStore stores doctor and patient ids as ObjectIds by default (hostIds: 'objectId'): " +
  "for other ids (UUIDs, 'p1', auth-provider ids) pass hostIds: 'string' to new MongooseStore({ connection, hostIds: 'string' })";

/** True for a 24-hex-digit string: the only shape careslot turns into an ObjectId. */
export function isObjectIdString(value: unknown): value is string {
  return typeof value === 'string' && OBJECT_ID.test(value);
}

/**
 * Parses a careslot record id (slot, booking, payment). Anything but 24 hex digits, including
 * objects such as `{ $gt: '' }`, is INVALID_INPUT and never reaches a query.
 */
export function toObjectId(value: unknown, field: string): ObjectId {
  if (!isObjectIdString(value)) throw invalid(field, 'a 24-character hex ObjectId string', value);
  return new mongoose.Types.ObjectId(value.toLowerCase());
}

/** Parses a host user id according to `mode`. */
export function toHostId(value: unknown, field: string, mode: HostIdMode): HostId {
  if (mode === 'objectId') {
    if (!isObjectIdString(value)) throw invalid(field, 'a 24-character hex ObjectId string', value, HOST_ID_HINT);
    return new mongoose.Types.ObjectId(value.toLowerCase());
  }
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_HOST_ID_LENGTH) {
    throw invalid(field, `a non-empty string of at most ${MAX_HOST_ID_LENGTH} characters`, value);
  }
  return value;
}

/** A plain string used as a key or filter value (event id, session id, provider...). */
export function toKey(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(field, 'a non-empty string', value);
  return value;
}

/** The domain's string form of a stored id. */
export function idToString(value: HostId): string {
  return typeof value === 'string' ? value : value.toHexString();
}
