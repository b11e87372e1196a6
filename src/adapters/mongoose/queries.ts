// The filters and updates the store sends: pure builders, so tests can evaluate them against sample documents.
import type { RefundStatus } from '../../domain/entities.js';
import { BookingError } from '../../domain/errors.js';
import type { BookingStatus, PaymentStatus, ScheduleStatus } from '../../domain/status.js';
import type { BookingQuery, LedgerQuery, PaymentQuery, ScheduleQuery } from '../../ports/booking-store.js';
import type { BookingHistoryDocument, PaymentTransactionStatus, RefundDocument } from './documents.js';
import { type HostId, type HostIdMode, type ObjectId, toHostId, toKey, toObjectId } from './ids.js';
import {
  type BookingChangesDocument,
  bookingStatuses,
  paymentStatuses,
  type ScheduleChangesDocument,
  scheduleStatuses,
  statusList,
  toDate,
} from './mapping.js';

// Plain records: the driver's Filter<T> types add nothing for filters built from validated values.
export type Filter = Record<string, unknown>;
export type Update = Record<string, Record<string, unknown>>;

export const SCHEDULE_SORT = { startTime: 1, _id: 1 } as const;
export const CREATED_SORT = { createdAt: 1, _id: 1 } as const;

/**
 * Equality on a field that a `$type` partial index covers. A plain `{ field: value }` does not
 * let the planner prove the document is in the index (it might be a number equal to...), so it
 * never chooses the partial index; `{ $eq, $type }` does.
 */
export function typedEquals(value: string): { $eq: string; $type: 'string' } {
  return { $eq: value, $type: 'string' };
}

export interface ListFilter {
  filter: Filter;
  /** Undefined: no limit. 0 is kept (no rows), unlike the driver where 0 means "no limit". */
  limit: number | undefined;
}

function parseLimit(limit: unknown): number | undefined {
  if (limit === undefined) return undefined;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0) {
    throw new BookingError('INVALID_INPUT', 'limit must be a whole number >= 0', { details: { field: 'limit' } });
  }
  return limit;
}

function queryObject(query: unknown, what: string): Record<string, unknown> {
  if (query === null || typeof query !== 'object' || Array.isArray(query)) {
    throw new BookingError('INVALID_INPUT', `${what} must be an object`, { details: { field: what } });
  }
  return query as Record<string, unknown>;
}

// ---- schedules ----

export const byId = (id: ObjectId): Filter => ({ _id: id });

/** Compare-and-set on a slot: matches only while its status is one of `expected`. */
export function scheduleCasFilter(id: ObjectId, expected: readonly ScheduleStatus[]): Filter {
  return { _id: id, status: { $in: [...expected] } };
}

export function scheduleSetUpdate(changes: ScheduleChangesDocument, now: Date): Update {
  return { $set: { ...changes, updatedAt: now } };
}

export function deleteSchedulesFilter(ids: readonly ObjectId[], status: ScheduleStatus): Filter {
  return { _id: { $in: [...ids] }, status };
}

export function scheduleQueryFilter(input: ScheduleQuery, hostIds: HostIdMode): ListFilter {
  const query = queryObject(input, 'query');
  const filter: Filter = {};
  if (query.doctorId !== undefined) filter.createdBy = toHostId(query.doctorId, 'doctorId', hostIds);
  if (query.status !== undefined) {
    filter.status = { $in: scheduleStatuses(query.status as ScheduleStatus | ScheduleStatus[], 'status') };
  }
  const start: Record<string, Date> = {};
  if (query.startFrom !== undefined) start.$gte = toDate(query.startFrom, 'startFrom');
  if (query.startBefore !== undefined) start.$lt = toDate(query.startBefore, 'startBefore');
  if (Object.keys(start).length > 0) filter.startTime = start;
  const end: Record<string, Date> = {};
  if (query.endBefore !== undefined) end.$lte = toDate(query.endBefore, 'endBefore');
  if (query.endAfter !== undefined) end.$gt = toDate(query.endAfter, 'endAfter');
  if (Object.keys(end).length > 0) filter.endTime = end;
  // A slot never ends before it starts, so "ended by T" also bounds the start: the sweep's and the
  // clean-up's index scans stop at T instead of running through every future slot.
  if (end.$lte !== undefined && (start.$lt === undefined || start.$lt > end.$lte)) {
    delete start.$lt;
    start.$lte = end.$lte;
    filter.startTime = start;
  }
  return { filter, limit: parseLimit(query.limit) };
}

// ---- bookings ----

/** What a booking compare-and-set expects to find; each given field must match. */
export interface BookingExpectation {
  status: readonly BookingStatus[];
  paymentStatus?: readonly PaymentStatus[];
  /** The slot the booking must still be on (`doctorScheduleId`): a reschedule's guard. */
  scheduleId?: ObjectId;
}

/** Compare-and-set on a booking's status, and its payment status and slot when given. */
export function bookingCasFilter(id: ObjectId, expected: BookingExpectation): Filter {
  const filter: Filter = { _id: id, status: { $in: [...expected.status] } };
  if (expected.paymentStatus !== undefined) filter.paymentStatus = { $in: [...expected.paymentStatus] };
  if (expected.scheduleId !== undefined) filter.doctorScheduleId = expected.scheduleId;
  return filter;
}

/** `$set` the changes (with `active` following the status) and append the history entry, in one write. */
export function bookingUpdate(
  changes: BookingChangesDocument,
  history: BookingHistoryDocument | null,
  now: Date,
): Update {
  const update: Update = { $set: { ...changes, updatedAt: now } };
  if (history !== null) update.$push = { history };
  return update;
}

/** The booking holding a slot's unique active place, other than `exceptId`. */
export function activeBookingFilter(scheduleId: ObjectId, exceptId?: ObjectId): Filter {
  const filter: Filter = { doctorScheduleId: scheduleId, active: true };
  if (exceptId !== undefined) filter._id = { $ne: exceptId };
  return filter;
}

export function idempotencyFilter(patientId: HostId, idempotencyKey: string): Filter {
  return { patientId, idempotencyKey: typedEquals(idempotencyKey) };
}

export function bookingQueryFilter(input: BookingQuery, hostIds: HostIdMode): ListFilter {
  const query = queryObject(input, 'query');
  const filter: Filter = {};
  if (query.patientId !== undefined) filter.patientId = toHostId(query.patientId, 'patientId', hostIds);
  if (query.doctorId !== undefined) filter.doctorId = toHostId(query.doctorId, 'doctorId', hostIds);
  if (query.scheduleId !== undefined) filter.doctorScheduleId = toObjectId(query.scheduleId, 'scheduleId');
  if (query.checkoutSessionId !== undefined) {
    filter.checkoutSessionId = typedEquals(toKey(query.checkoutSessionId, 'checkoutSessionId'));
  }
  if (query.status !== undefined) {
    filter.status = { $in: bookingStatuses(query.status as BookingStatus | BookingStatus[], 'status') };
  }
  if (query.paymentStatus !== undefined) {
    filter.paymentStatus = {
      $in: paymentStatuses(query.paymentStatus as PaymentStatus | PaymentStatus[], 'paymentStatus'),
    };
  }
  if (query.mode !== undefined) filter.mode = statusList(['paid', 'free'] as const, query.mode as 'paid', 'mode')[0];
  // $lte on a date never matches null or a missing field: bookings without a hold are left out.
  if (query.holdExpiresBefore !== undefined) {
    filter.holdExpiresAt = { $lte: toDate(query.holdExpiresBefore, 'holdExpiresBefore') };
  }
  if (query.createdBefore !== undefined) filter.createdAt = { $lte: toDate(query.createdBefore, 'createdBefore') };
  return { filter, limit: parseLimit(query.limit) };
}

// ---- payments ----

export function providerPaymentFilter(provider: string, providerPaymentId: string): Filter {
  return { provider: typedEquals(provider), providerPaymentId: typedEquals(providerPaymentId) };
}

export function paymentQueryFilter(input: PaymentQuery): ListFilter {
  const query = queryObject(input, 'query');
  const filter: Filter = {};
  if (query.bookingId !== undefined) filter.referenceId = toObjectId(query.bookingId, 'bookingId');
  if (query.refundStatus !== undefined) {
    filter['refunds.status'] = statusList(
      ['pending', 'succeeded', 'failed'] as const,
      query.refundStatus as RefundStatus,
      'refundStatus',
    )[0];
  }
  return { filter: withKeyset(filter, query.after), limit: parseLimit(query.limit) };
}

/**
 * Resumes a (createdAt, _id) list strictly after `after`. The range `createdAt >= after.createdAt`
 * bounds the index scan (equality prefix, then createdAt, _id), so a page costs its own size and
 * not the pages before it; the `$or` on the index's own keys then drops the ties already seen.
 */
function withKeyset(filter: Filter, after: unknown): Filter {
  if (after === undefined) return filter;
  const cursor = queryObject(after, 'after');
  const createdAt = toDate(cursor.createdAt, 'after.createdAt');
  const id = toObjectId(cursor.id as string, 'after.id');
  return { ...filter, createdAt: { $gte: createdAt }, $or: [{ createdAt: { $gt: createdAt } }, { _id: { $gt: id } }] };
}

/**
 * Optimistic lock on a payment's refunds: matches only the version that was read. Documents
 * written before careslot (no `__v`) match on its absence.
 */
export function paymentVersionFilter(id: ObjectId, version: number | undefined): Filter {
  return version === undefined ? { _id: id, __v: { $exists: false } } : { _id: id, __v: version };
}

export function refundsUpdate(refunds: readonly RefundDocument[], status: PaymentTransactionStatus, now: Date): Update {
  return { $set: { refunds: [...refunds], status, updatedAt: now }, $inc: { __v: 1 } };
}

// ---- ledger, events, customers ----

export const ledgerKeyFilter = (key: string): Filter => ({ key });

export function ledgerQueryFilter(input: LedgerQuery, hostIds: HostIdMode): ListFilter {
  const query = queryObject(input, 'query');
  const filter: Filter = {};
  if (query.doctorId !== undefined) filter.doctorId = toHostId(query.doctorId, 'doctorId', hostIds);
  if (query.bookingId !== undefined) filter.bookingId = toObjectId(query.bookingId, 'bookingId');
  return { filter: withKeyset(filter, query.after), limit: parseLimit(query.limit) };
}

/** Credits minus debits per currency, for one doctor; sorted by currency. */
export function ledgerBalancesPipeline(doctorId: HostId): Record<string, unknown>[] {
  return [
    { $match: { doctorId } },
    {
      $group: {
        _id: '$currency',
        balance: { $sum: { $cond: [{ $eq: ['$kind', 'credit'] }, '$amount', { $multiply: [-1, '$amount'] }] } },
      },
    },
    { $sort: { _id: 1 } },
  ];
}

export const eventFilter = (eventId: string): Filter => ({ eventId });

export function customerFilter(patientId: HostId, provider: string): Filter {
  return { patientId, provider };
}

/** Inserts the mapping only when none exists; an existing one is left as it is. */
export function customerUpsertUpdate(customerId: string, now: Date): Update {
  return { $setOnInsert: { customerId, createdAt: now, updatedAt: now, __v: 0 } };
}

export const patientLockFilter = (patientId: HostId): Filter => ({ patientId });

export const doctorLockFilter = (doctorId: HostId): Filter => ({ doctorId });

/** A write to a lock document (created on first use): what makes concurrent lockers conflict. */
export function lockUpdate(now: Date): Update {
  return { $inc: { locks: 1 }, $set: { lockedAt: now } };
}

/** Brings `active` in line with the status, for documents written before careslot kept it. */
export function activeFlagRepairs(): { filter: Filter; update: Update }[] {
  const live = ['pending', 'scheduled'];
  return [
    { filter: { status: { $in: live }, active: { $ne: true } }, update: { $set: { active: true } } },
    { filter: { status: { $nin: live }, active: { $ne: false } }, update: { $set: { active: false } } },
  ];
}
