// The persistence port: every read and compare-and-set write the engine needs, plus transactions.
import type {
  AvailabilityRecord,
  Booking,
  BookingHistoryEntry,
  LedgerEntry,
  PaymentCustomer,
  PaymentTransaction,
  RefundRecord,
  Schedule,
  TimeOff,
} from '../domain/entities.js';
import type { BookingMode } from '../domain/plan-policy.js';
import type { BookingStatus, PaymentStatus, ScheduleStatus } from '../domain/status.js';
import type { NewOutboxRecord, OutboxClaim, OutboxQuery, OutboxRecord } from './outbox.js';

export type NewSchedule = Omit<Schedule, 'id' | 'createdAt' | 'updatedAt'>;
export type NewBooking = Omit<Booking, 'id' | 'createdAt' | 'updatedAt'>;
export type NewPaymentTransaction = Omit<PaymentTransaction, 'id' | 'createdAt' | 'updatedAt'>;
export type NewLedgerEntry = Omit<LedgerEntry, 'id'>;
export type NewAvailabilityRecord = Omit<AvailabilityRecord, 'id' | 'createdAt'>;
export type NewTimeOff = Omit<TimeOff, 'id' | 'createdAt'>;

/** A doctor's availability versions in force at some instant of `[from, to)`. */
export interface AvailabilityQuery {
  doctorId: string;
  from: Date;
  to: Date;
}

export interface TimeOffQuery {
  doctorId: string;
  /** start < startBefore */
  startBefore?: Date;
  /** end > endAfter (with startBefore: time off overlapping a range) */
  endAfter?: Date;
  /** Results are sorted by start ascending, then id. */
  limit?: number;
}

type OneOrMany<T> = T | readonly T[];

export interface ScheduleQuery {
  doctorId?: string;
  status?: OneOrMany<ScheduleStatus>;
  /** startTime >= startFrom */
  startFrom?: Date;
  /** startTime < startBefore */
  startBefore?: Date;
  /** endTime <= endBefore */
  endBefore?: Date;
  /** endTime > endAfter (with startBefore: slots overlapping a range) */
  endAfter?: Date;
  /** Only slots after this position in (startTime, id) order (keyset paging). */
  after?: ScheduleCursor;
  /** Results are sorted by startTime ascending, then id. */
  limit?: number;
}

/**
 * A position in a list of slots sorted by (startTime, id): the list resumes strictly after it.
 * Take both from the last slot of the previous page.
 */
export interface ScheduleCursor {
  startTime: Date;
  id: string;
}

export interface BookingQuery {
  patientId?: string;
  doctorId?: string;
  scheduleId?: string;
  checkoutSessionId?: string;
  status?: OneOrMany<BookingStatus>;
  paymentStatus?: OneOrMany<PaymentStatus>;
  mode?: BookingMode;
  /** holdExpiresAt <= holdExpiresBefore (bookings without a hold never match). */
  holdExpiresBefore?: Date;
  /** createdAt <= createdBefore */
  createdBefore?: Date;
  /** slotStart >= slotStartFrom */
  slotStartFrom?: Date;
  /** slotStart < slotStartBefore */
  slotStartBefore?: Date;
  /** Only bookings after this position in (createdAt, id) order (keyset paging). */
  after?: KeysetCursor;
  /** Results are sorted by createdAt ascending, then id. */
  limit?: number;
}

/**
 * A position in a list sorted by (createdAt, id): the list resumes strictly after it. Take both
 * from the last record of the previous page.
 */
export interface KeysetCursor {
  createdAt: Date;
  id: string;
}

export interface PaymentQuery {
  bookingId?: string;
  refundStatus?: RefundRecord['status'];
  /** Only records after this position (keyset paging). */
  after?: KeysetCursor;
  limit?: number;
}

export interface LedgerQuery {
  doctorId?: string;
  bookingId?: string;
  /** Only entries after this position (keyset paging). */
  after?: KeysetCursor;
  limit?: number;
}

export type ScheduleChanges = Partial<Pick<Schedule, 'status' | 'bookedBy'>>;

export type BookingChanges = Partial<
  Pick<
    Booking,
    | 'status'
    | 'paymentStatus'
    | 'cancelReason'
    | 'paymentTransactionId'
    | 'checkoutSessionId'
    | 'paymentUrl'
    | 'holdExpiresAt'
    | 'amountRefunded'
    | 'scheduleId'
    | 'slotStart'
    | 'slotEnd'
    | 'timeZone'
    | 'policy'
  >
>;

export interface ScheduleUpdate {
  id: string;
  /** The update applies only while the slot is in (one of) these statuses. */
  expectedStatus: OneOrMany<ScheduleStatus>;
  set: ScheduleChanges;
}

export interface BookingUpdate {
  id: string;
  /** The update applies only while the booking is in (one of) these statuses. */
  expectedStatus: OneOrMany<BookingStatus>;
  /** When given, the payment status must match too. */
  expectedPaymentStatus?: OneOrMany<PaymentStatus>;
  /** When given, the booking must still be on this slot (a reschedule's compare-and-set). */
  expectedScheduleId?: string;
  set: BookingChanges;
  /** Appended to the booking's history in the same write. */
  history?: BookingHistoryEntry;
}

/**
 * What can be read, both on the store (each call atomic, seeing committed data) and inside a
 * transaction (its snapshot plus its own writes).
 *
 * Ids are strings chosen by the store. Every method returns copies: mutating a returned
 * record never changes the store. An id the store cannot parse (e.g. not an ObjectId for
 * MongoDB) throws `BookingError('INVALID_INPUT')`; an id that parses but does not exist
 * gives null.
 */
export interface StoreReads {
  getSchedule(id: string): Promise<Schedule | null>;
  findSchedules(query: ScheduleQuery): Promise<Schedule[]>;
  getBooking(id: string): Promise<Booking | null>;
  findBookings(query: BookingQuery): Promise<Booking[]>;
  countBookings(query: BookingQuery): Promise<number>;
  findBookingByIdempotencyKey(args: { patientId: string; idempotencyKey: string }): Promise<Booking | null>;
  /** The pending or scheduled booking of a slot, if any. */
  findActiveBooking(scheduleId: string): Promise<Booking | null>;
  getPaymentTransaction(id: string): Promise<PaymentTransaction | null>;
  findPaymentTransaction(args: { provider: string; providerPaymentId: string }): Promise<PaymentTransaction | null>;
  /** Transactions of a booking, or those having a refund in `refundStatus`, oldest first (createdAt, then id). */
  findPaymentTransactions(query: PaymentQuery): Promise<PaymentTransaction[]>;
  /** Ledger entries of a doctor or a booking, oldest first (createdAt, then id). */
  findLedgerEntries(query: LedgerQuery): Promise<LedgerEntry[]>;
  /**
   * A doctor's balance per currency: credits minus debits, in minor units. Stores keep it as a
   * running total per (doctor, currency), changed in the same transaction as each ledger line
   * `appendLedgerEntry` adds, so this reads one row per currency however long the ledger; the
   * lines stay the audit trail and always sum to it. Currencies without entries are absent.
   */
  ledgerBalances(args: { doctorId: string }): Promise<Record<string, number>>;
  hasProcessedEvent(id: string): Promise<boolean>;
  getPaymentCustomer(args: { patientId: string; provider: string }): Promise<PaymentCustomer | null>;
  /** Outbox records, sorted by (createdAt, key). */
  findOutbox(query: OutboxQuery): Promise<OutboxRecord[]>;
  /**
   * The doctor's availability versions in force at some instant of `[from, to)`:
   * `effectiveFrom < to`, `effectiveUntil` null or after `from`, and not empty (`effectiveUntil`
   * null or after `effectiveFrom`). Sorted by effectiveFrom, then id; they do not overlap.
   */
  findAvailability(query: AvailabilityQuery): Promise<AvailabilityRecord[]>;
  getTimeOff(id: string): Promise<TimeOff | null>;
  /** The doctor's time off, sorted by start, then id. */
  findTimeOff(query: TimeOffQuery): Promise<TimeOff[]>;
}

/**
 * Inside a transaction: every read, every write, and the locks. careslot writes only here, so
 * every change is atomic with the reads that decided it.
 */
export interface StoreOperations extends StoreReads {
  insertSchedule(schedule: NewSchedule): Promise<Schedule>;
  /**
   * Compare-and-set: applies `set` (and bumps updatedAt) only if the slot's status is still
   * `expectedStatus`. Returns the updated slot, or null when the status no longer matches or
   * the slot does not exist; never throws for that.
   */
  updateScheduleIf(update: ScheduleUpdate): Promise<Schedule | null>;
  /** Deletes the given slots that are still in `expectedStatus`; returns how many went. */
  deleteSchedulesIf(args: { ids: readonly string[]; expectedStatus: ScheduleStatus }): Promise<number>;

  /**
   * Inserts a booking. Returns null, never throws, when it would break a uniqueness rule:
   * a second active (pending or scheduled) booking for the same slot, or a second booking
   * with the same (patientId, idempotencyKey). In MongoDB the unique partial index on active
   * bookings backs this, so the rule holds across processes.
   */
  insertBooking(booking: NewBooking): Promise<Booking | null>;
  /**
   * Compare-and-set on status (and optionally payment status and slot). Returns null when they
   * no longer match or the booking does not exist; never throws for that. A `set` that would
   * make a second active booking for a slot also returns null.
   */
  updateBookingIf(update: BookingUpdate): Promise<Booking | null>;

  /**
   * Adds `key` to the booking's `remindersSent` once: only while the booking is `scheduled` on a
   * slot starting at `slotStart` and the key is not there yet. Returns the updated booking, or null
   * (never throws for that) when the key was added before, the booking moved, or it is not
   * scheduled, so of two concurrent senders exactly one gets the booking back.
   */
  markReminderSent(args: { bookingId: string; key: string; slotStart: Date }): Promise<Booking | null>;

  /** Returns null when a transaction with the same (provider, providerPaymentId) exists. */
  insertPaymentTransaction(transaction: NewPaymentTransaction): Promise<PaymentTransaction | null>;
  /** Adds the refund, or replaces the one with the same id. Null when the transaction is missing. */
  upsertRefund(args: { paymentTransactionId: string; refund: RefundRecord }): Promise<PaymentTransaction | null>;

  /**
   * Appends a ledger line once per `key`. Returns false, never throws, when the key exists:
   * this is what makes every wallet credit and debit exactly-once.
   */
  appendLedgerEntry(entry: NewLedgerEntry): Promise<boolean>;

  /** Records a processed payment event id once; false, never throws, when already recorded. */
  recordProcessedEvent(event: { id: string; type: string; at: Date }): Promise<boolean>;

  /**
   * Makes concurrent transactions that lock the same patient conflict, so one of them commits
   * and the other runs again on the new state (MongoDB and snapshot stores: a write to a
   * per-patient lock row; a serializable store may do nothing). This keeps per-patient counts
   * (pending holds, free quota) exact under snapshot isolation and read committed.
   */
  lockPatient(patientId: string): Promise<void>;
  /**
   * The same per doctor: taken by every transaction that creates or moves a doctor's slot, so
   * the overlap check (which reads slots it does not write) cannot be skewed by a concurrent one.
   */
  lockDoctor(doctorId: string): Promise<void>;

  /** Saves the mapping unless one exists; returns whichever mapping is stored afterwards. */
  savePaymentCustomer(customer: PaymentCustomer): Promise<PaymentCustomer>;

  /**
   * Appends outbox records (status pending, no attempts, due at `createdAt`), skipping any whose
   * key exists; returns how many were new. Called in the transaction of the change they describe.
   */
  appendOutbox(records: readonly NewOutboxRecord[]): Promise<number>;
  /**
   * Leases up to `limit` due records of one consumer to `owner`, oldest (createdAt, key) first:
   * pending, `nextAttemptAt <= now`, and no lease or one that ended at or before `now`. Two
   * concurrent claims never get the same record (one of the transactions conflicts and runs again).
   */
  claimOutbox(claim: OutboxClaim): Promise<OutboxRecord[]>;
  /** Marks a record `owner` holds delivered (and ends the lease). False when `owner` no longer holds it. */
  completeOutbox(args: { key: string; owner: string; at: Date }): Promise<boolean>;
  /**
   * Records a failed attempt of a record `owner` holds: attempts + 1, the error, and either the
   * next attempt time or, with `retryAt: null`, the `dead` status. False when `owner` no longer holds it.
   */
  failOutbox(args: { key: string; owner: string; error: string; retryAt: Date | null }): Promise<boolean>;
  /**
   * Ends the lease `owner` holds on a pending record without counting an attempt (the record
   * waited behind an earlier one of its booking), so the next claim takes it. False when `owner`
   * no longer holds it.
   */
  releaseOutbox(args: { key: string; owner: string }): Promise<boolean>;
  /** A dead record back to pending, attempts 0, due at `at`. False unless it was dead. */
  redriveOutbox(args: { key: string; at: Date }): Promise<boolean>;
  /** Deletes up to `limit` delivered records delivered before `deliveredBefore`; returns how many went. */
  deleteDeliveredOutbox(args: { deliveredBefore: Date; limit: number }): Promise<number>;

  /** Stores a new availability version (callers end the earlier ones first, with `endAvailability`). */
  insertAvailability(record: NewAvailabilityRecord): Promise<AvailabilityRecord>;
  /**
   * Ends the doctor's versions at `at`: every non-empty one whose `effectiveUntil` is null or
   * after `at` gets `effectiveUntil = max(effectiveFrom, at)` (a version not yet in force becomes
   * empty). Returns how many changed.
   */
  endAvailability(args: { doctorId: string; at: Date }): Promise<number>;
  insertTimeOff(timeOff: NewTimeOff): Promise<TimeOff>;
  /** Deletes one time off; false when it does not exist. */
  deleteTimeOff(id: string): Promise<boolean>;
}

/**
 * Where careslot keeps its records. Implementations: `MemoryStore` (embedded default) and
 * `MongooseStore` ('careslot/mongoose'); both pass `test/conformance/store-conformance.ts`.
 * Reads may run on the store directly; every write runs inside `transaction`.
 */
export interface BookingStore extends StoreReads {
  /**
   * Runs `fn` atomically and isolated from other transactions: either every write inside it
   * commits, or (when it throws) none does, and the error is rethrown. `fn` may run more than
   * once (MongoDB and snapshot stores retry transient conflicts), so it must do nothing but
   * store calls on `tx`: no payment, queue or notifier calls inside.
   */
  transaction<T>(fn: (tx: StoreOperations) => Promise<T>): Promise<T>;
}
