// The filters and updates the store sends: pure builders, so tests can evaluate them against sample documents.
import type { RefundStatus } from '../../domain/entities.js';
import { BookingError } from '../../domain/errors.js';
import type { BookingStatus, PaymentStatus, ScheduleStatus } from '../../domain/status.js';
import type {
  AvailabilityQuery,
  BookingQuery,
  LedgerQuery,
  PaymentQuery,
  ScheduleQuery,
  TimeOffQuery,
} from '../../ports/booking-store.js';
import type { OutboxStatus } from '../../ports/outbox.js';
import type {
  AvailabilityDocument,
  BookingHistoryDocument,
  PaymentTransactionStatus,
  RefundDocument,
} from './documents.js';
import { type HostId, type HostIdMode, type ObjectId, toHostId, toKey, toObjectId } from './ids.js';
import {
  type BookingChangesDocument,
  bookingStatuses,
  OUTBOX_STATUSES,
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

export function parseLimit(limit: unknown): number | undefined {
  if (limit === undefined) return undefined;
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0) {
    throw new BookingError('INVALID_INPUT', 'limit must be a whole number >= 0', { details: { field: 'limit' } });
  }
  return limit;
}

export function queryObject(query: unknown, what: string): Record<string, unknown> {
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
  if (query.after !== undefined) {
    const after = scheduleCursor(query.after);
    // The range bounds the index scan at the cursor (a later startFrom stays the bound), so a page
    // costs its own size; the `$or` on the index's own keys then drops the ties already seen.
    if (start.$gte === undefined || start.$gte.getTime() < after.startTime.getTime()) start.$gte = after.startTime;
    if (after.id !== null) {
      filter.$or = [{ startTime: { $gt: after.startTime } }, { startTime: after.startTime, _id: { $gt: after.id } }];
    }
  }
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

/**
 * A keyset position in the slots' (startTime, _id) order. An empty id stands before every id
 * (null: the page starts at `startTime` itself, ties included), as a string order puts it.
 */
function scheduleCursor(value: unknown): { startTime: Date; id: ObjectId | null } {
  const cursor = queryObject(value, 'after');
  const startTime = toDate(cursor.startTime, 'after.startTime');
  return { startTime, id: cursor.id === '' ? null : toObjectId(cursor.id, 'after.id') };
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
  const slotStart: Record<string, Date> = {};
  if (query.slotStartFrom !== undefined) slotStart.$gte = toDate(query.slotStartFrom, 'slotStartFrom');
  if (query.slotStartBefore !== undefined) slotStart.$lt = toDate(query.slotStartBefore, 'slotStartBefore');
  if (Object.keys(slotStart).length > 0) filter.slotStart = slotStart;
  return { filter: withKeyset(filter, query.after), limit: parseLimit(query.limit) };
}

/**
 * The reminder compare-and-set: the booking still scheduled on the slot start the reminder was
 * computed for, without the key yet (`$ne` on an array matches when no element equals it, and
 * a missing array). Found by `_id`, so the rest is checked on that one document.
 */
export function reminderFilter(id: ObjectId, key: string, slotStart: Date): Filter {
  return { _id: id, status: 'scheduled', slotStart, remindersSent: { $ne: key } };
}

/** Appends the key (`$push` creates the array on a booking written before careslot kept it). */
export function reminderUpdate(key: string, now: Date): Update {
  return { $push: { remindersSent: key }, $set: { updatedAt: now } };
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
  // Kept beside a range the query already has on createdAt (a booking query's createdBefore).
  const range = (filter.createdAt ?? {}) as Record<string, Date>;
  return {
    ...filter,
    createdAt: { ...range, $gte: createdAt },
    $or: [{ createdAt: { $gt: createdAt } }, { _id: { $gt: id } }],
  };
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

/** What a ledger line does to its doctor's total in its currency. */
export function ledgerDelta(doc: { kind: 'credit' | 'debit'; amount: number }): number {
  return doc.kind === 'credit' ? doc.amount : -doc.amount;
}

/** The ledger's doctor order (the doctor index's own), for the backfill's walk from doctor to doctor. */
export const LEDGER_DOCTOR_SORT = { doctorId: 1, createdAt: 1, _id: 1 } as const;

/** The first ledger line of the next doctor after `previous` (every doctor from the start when null). */
export function nextLedgerDoctorFilter(previous: HostId | null): Filter {
  return previous === null ? {} : { doctorId: { $gt: previous } };
}

// ---- wallet totals and migration markers ----

/** A doctor's totals in currency order, read from the unique (doctorId, currency) index. */
export const WALLET_BALANCE_SORT = { currency: 1 } as const;

export const walletBalancesFilter = (doctorId: HostId): Filter => ({ doctorId });

export function walletBalanceFilter(doctorId: HostId, currency: string): Filter {
  return { doctorId, currency };
}

/** Adds a line to the total; as an upsert, `$inc` on a missing total starts it at `delta`. */
export function walletBalanceIncrement(delta: number, now: Date): Update {
  return { $inc: { balance: delta }, $set: { updatedAt: now } };
}

/** Sets the total to what its lines sum to (the backfill). */
export function walletBalanceReset(balance: number, now: Date): Update {
  return { $set: { balance, updatedAt: now } };
}

/** The marker `backfillWalletBalances()` writes once every doctor's totals were computed from the ledger. */
export const WALLET_BALANCES_MIGRATION = 'wallet-balances';

/** A migration's marker, by its name. */
export const migrationFilter = (name: string): Filter => ({ _id: name });

export function migrationDoneUpdate(processed: number, now: Date): Update {
  return { $set: { state: 'done', finishedAt: now, processed } };
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

// ---- the outbox ----

/** The outbox's order: (createdAt, key), key being unique. */
export const OUTBOX_SORT = { createdAt: 1, key: 1 } as const;
/** The retention sweep's order: oldest delivery first, read from the retention index. */
export const OUTBOX_RETENTION_SORT = { deliveredAt: 1 } as const;

export const outboxKeyFilter = (key: string): Filter => ({ key });

function outboxCursor(value: unknown, field: 'after' | 'before'): { createdAt: Date; key: string } {
  const cursor = queryObject(value, field);
  return { createdAt: toDate(cursor.createdAt, `${field}.createdAt`), key: toKey(cursor.key, `${field}.key`) };
}

/**
 * A listing in (createdAt, key) order. Without a status every status is asked for as a list
 * (merged equalities, SORT_MERGE), so a consumer's listing reads the claim index and the whole
 * outbox the status index in order, instead of sorting in memory. `after` and `before` are
 * keysets: a createdAt range bounds the scan and an `$or` on the index keys drops the ties.
 */
export function outboxQueryFilter(input: unknown): ListFilter {
  const query = queryObject(input, 'query');
  const filter: Filter = {};
  if (query.consumer !== undefined) filter.consumer = toKey(query.consumer, 'consumer');
  // One status or a list (as the other stores accept); none given is every status.
  const statuses =
    query.status === undefined
      ? [...OUTBOX_STATUSES]
      : statusList(OUTBOX_STATUSES, query.status as OutboxStatus | OutboxStatus[], 'status');
  filter.status = statuses.length === 1 ? statuses[0] : { $in: statuses };
  if (query.bookingId !== undefined) filter.bookingId = toKey(query.bookingId, 'bookingId');
  if (query.eventId !== undefined) filter.eventId = toKey(query.eventId, 'eventId');
  const createdAt: Record<string, Date> = {};
  const keysets: Filter[] = [];
  if (query.after !== undefined) {
    const after = outboxCursor(query.after, 'after');
    createdAt.$gte = after.createdAt;
    keysets.push({ $or: [{ createdAt: { $gt: after.createdAt } }, { key: { $gt: after.key } }] });
  }
  if (query.before !== undefined) {
    const before = outboxCursor(query.before, 'before');
    createdAt.$lte = before.createdAt;
    keysets.push({ $or: [{ createdAt: { $lt: before.createdAt } }, { key: { $lt: before.key } }] });
  }
  if (keysets.length > 0) filter.createdAt = createdAt;
  if (keysets.length === 1) Object.assign(filter, keysets[0]);
  if (keysets.length === 2) filter.$and = keysets;
  return { filter, limit: parseLimit(query.limit) };
}

/**
 * What a claim may take: pending, due, and no lease or one that ended at or before `now`
 * (`$not: { $gt }` matches a null lease and an ended one, in one predicate an index can bound).
 */
function outboxDue(now: Date): Filter {
  return { status: 'pending', nextAttemptAt: { $lte: now }, leaseUntil: { $not: { $gt: now } } };
}

/** A claim's candidates: one consumer's due records, optionally only some keys. */
export function outboxClaimFilter(consumer: string, now: Date, keys?: readonly string[]): Filter {
  const filter: Filter = { consumer, ...outboxDue(now) };
  if (keys !== undefined) filter.key = { $in: [...keys] };
  return filter;
}

/**
 * Leases one candidate, only while it is still due: the filter repeats the claim's condition,
 * so a concurrent claimer's lease either hides it or makes this write conflict (the transaction
 * runs again on the other's result), and a record is never leased twice.
 */
export function outboxLeaseFilter(key: string, consumer: string, now: Date): Filter {
  return { key, consumer, ...outboxDue(now) };
}

export function outboxLeaseUpdate(owner: string, leaseUntil: Date): Update {
  return { $set: { leaseOwner: owner, leaseUntil } };
}

/** A record `owner` still holds: pending and leased to it. */
export function outboxHeldFilter(key: string, owner: string): Filter {
  return { key, status: 'pending', leaseOwner: owner };
}

export function outboxCompleteUpdate(at: Date): Update {
  return { $set: { status: 'delivered', deliveredAt: at, leaseOwner: null, leaseUntil: null } };
}

/** A failed attempt: the next try at `retryAt`, or `dead` (due time unchanged) when it is null. */
export function outboxFailUpdate(error: string, retryAt: Date | null): Update {
  const set: Record<string, unknown> = { lastError: error, leaseOwner: null, leaseUntil: null };
  if (retryAt === null) set.status = 'dead';
  else Object.assign(set, { status: 'pending', nextAttemptAt: retryAt });
  return { $set: set, $inc: { attempts: 1 } };
}

export const outboxDeadFilter = (key: string): Filter => ({ key, status: 'dead' });

/** Ends a lease without an attempt. */
export const OUTBOX_RELEASE_UPDATE: Update = { $set: { leaseOwner: null, leaseUntil: null } };

export function outboxRedriveUpdate(at: Date): Update {
  return { $set: { status: 'pending', attempts: 0, nextAttemptAt: at } };
}

/** Delivered before the cutoff (a record not delivered has no deliveredAt, and `$lt` skips null). */
export function outboxRetentionFilter(deliveredBefore: Date): Filter {
  return { status: 'delivered', deliveredAt: { $lt: deliveredBefore } };
}

export function deleteOutboxFilter(ids: readonly ObjectId[]): Filter {
  return { _id: { $in: [...ids] }, status: 'delivered' };
}

// ---- availability versions and time off ----

/** Versions in effectiveFrom order; _id breaks ties (as the port's id order). */
export const AVAILABILITY_SORT = { effectiveFrom: 1, _id: 1 } as const;
export const TIME_OFF_SORT = { start: 1, _id: 1 } as const;

/**
 * Null (open-ended) or after `instant`: `$not: { $lte }` matches a null or missing end and a
 * later one in one predicate on the index key, where an `$or` would not be served in order.
 */
const endsAfter = (instant: Date) => ({ $not: { $lte: instant } });

/**
 * A doctor's versions that start before `to` and end after `from`. Whether a version is empty
 * (ended where it began) compares two fields, which no index bound can say: `isInForce` drops
 * those from what comes back (there are few, and only among one doctor's versions).
 */
export function availabilityQueryFilter(input: AvailabilityQuery, hostIds: HostIdMode): Filter {
  const query = queryObject(input, 'query');
  return {
    doctorId: toHostId(query.doctorId, 'doctorId', hostIds),
    effectiveFrom: { $lt: toDate(query.to, 'to') },
    effectiveUntil: endsAfter(toDate(query.from, 'from')),
  };
}

/** Not empty: open-ended, or ending after it began. */
export function isInForce(doc: Pick<AvailabilityDocument, 'effectiveFrom' | 'effectiveUntil'>): boolean {
  return doc.effectiveUntil == null || doc.effectiveUntil.getTime() > doc.effectiveFrom.getTime();
}

/** The versions `endAvailability` may change: the doctor's that end after `at` (empty ones dropped by `isInForce`). */
export function availabilityEndFilter(doctorId: HostId, at: Date): Filter {
  return { doctorId, effectiveUntil: endsAfter(at) };
}

/**
 * Ends one version read on the transaction's snapshot, only while its end is still what was
 * read: a concurrent change makes the write conflict (the transaction runs again), never overwrites.
 */
export function availabilityEndWrite(
  doc: Pick<AvailabilityDocument, '_id' | 'effectiveFrom' | 'effectiveUntil'>,
  at: Date,
): { filter: Filter; update: Update } {
  const until = doc.effectiveFrom.getTime() > at.getTime() ? doc.effectiveFrom : at;
  return {
    filter: { _id: doc._id, effectiveUntil: doc.effectiveUntil ?? null },
    update: { $set: { effectiveUntil: new Date(until.getTime()) } },
  };
}

/** A doctor's time off, `start < startBefore` and `end > endAfter` when given (both: overlapping a range). */
export function timeOffQueryFilter(input: TimeOffQuery, hostIds: HostIdMode): ListFilter {
  const query = queryObject(input, 'query');
  const filter: Filter = { doctorId: toHostId(query.doctorId, 'doctorId', hostIds) };
  if (query.startBefore !== undefined) filter.start = { $lt: toDate(query.startBefore, 'startBefore') };
  if (query.endAfter !== undefined) filter.end = { $gt: toDate(query.endAfter, 'endAfter') };
  return { filter, limit: parseLimit(query.limit) };
}

/** Brings `active` in line with the status, for documents written before careslot kept it. */
export function activeFlagRepairs(): { filter: Filter; update: Update }[] {
  const live = ['pending', 'scheduled'];
  return [
    { filter: { status: { $in: live }, active: { $ne: true } }, update: { $set: { active: true } } },
    { filter: { status: { $nin: live }, active: { $ne: false } }, update: { $set: { active: false } } },
  ];
}
