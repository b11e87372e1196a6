// The shapes careslot stores in MongoDB: the original system's models, plus the ledger, events and customers.
import type { Weekday } from '../../domain/availability.js';
import type { Actor, BookingPolicy, RefundStatus } from '../../domain/entities.js';
import type { BookingMode } from '../../domain/plan-policy.js';
import type { BookingStatus, CancelReason, PaymentStatus, ScheduleStatus } from '../../domain/status.js';
import type { OutboxStatus } from '../../ports/outbox.js';
import type { HostId, ObjectId } from './ids.js';

/** The models the store registers on the host's connection. */
export type MongooseStoreModelKey =
  | 'schedule'
  | 'booking'
  | 'payment'
  | 'ledger'
  | 'event'
  | 'customer'
  | 'patientLock'
  | 'doctorLock'
  | 'outbox'
  | 'availability'
  | 'timeOff'
  | 'walletBalance'
  | 'migration';

export const MODEL_KEYS: readonly MongooseStoreModelKey[] = [
  'schedule',
  'booking',
  'payment',
  'ledger',
  'event',
  'customer',
  'patientLock',
  'doctorLock',
  'outbox',
  'availability',
  'timeOff',
  'walletBalance',
  'migration',
];

/**
 * Model names: the original system's for slots, bookings and payments, so existing
 * collections (`doctorappointmentschedules`, ...) keep working.
 */
export const DEFAULT_MODEL_NAMES: Readonly<Record<MongooseStoreModelKey, string>> = Object.freeze({
  schedule: 'DoctorAppointmentSchedule',
  booking: 'DoctorPatientScheduleBooking',
  payment: 'PaymentTransaction',
  ledger: 'DoctorWalletLedger',
  event: 'ProcessedPaymentEvent',
  customer: 'PaymentCustomer',
  patientLock: 'CareslotPatientLock',
  doctorLock: 'CareslotDoctorLock',
  outbox: 'CareslotOutbox',
  availability: 'CareslotAvailability',
  timeOff: 'CareslotTimeOff',
  walletBalance: 'CareslotWalletBalance',
  migration: 'CareslotMigration',
});

/**
 * Collections whose default name is not mongoose's pluralized model name: the outbox, the
 * availability rules and time off, the wallet totals and the migration markers are careslot's own
 * (no original system's data to keep), so they get plain names.
 */
export const DEFAULT_COLLECTION_NAMES: Readonly<Partial<Record<MongooseStoreModelKey, string>>> = Object.freeze({
  outbox: 'careslot_outbox',
  availability: 'careslot_availability',
  timeOff: 'careslot_time_off',
  walletBalance: 'careslot_wallet_balances',
  migration: 'careslot_migrations',
});

export interface MoneyDocument {
  amount: number;
  currency: string;
}

/** `DoctorAppointmentSchedule`: a doctor's slot. */
export interface ScheduleDocument {
  _id: ObjectId;
  /** The doctor. */
  createdBy: HostId;
  startTime: Date;
  endTime: Date;
  timeZone: string;
  fee: MoneyDocument;
  status: ScheduleStatus;
  /** The patient holding the booked slot; null unless booked. */
  booked_by: HostId | null;
  rolledOverFrom: ObjectId | null;
  /** The published wall-clock start (`HH:mm`) a rolled-over copy keeps; absent unless set. */
  localStartTime?: string;
  /** The `CareslotAvailability` version a slot materialized from rules came from; absent unless set. */
  availabilityId?: ObjectId;
  createdAt: Date;
  updatedAt: Date;
  __v?: number;
}

export interface BookingHistoryDocument {
  at: Date;
  from: BookingStatus | null;
  to: BookingStatus;
  paymentStatus: PaymentStatus;
  actor: { role: Actor['role']; id: string };
  reason: string | null;
}

/** `DoctorPatientScheduleBooking`: a patient's booking of a slot. */
export interface BookingDocument {
  _id: ObjectId;
  patientId: HostId;
  doctorId: HostId;
  doctorScheduleId: ObjectId;
  slotStart: Date;
  slotEnd: Date;
  timeZone: string;
  mode: BookingMode;
  plan: string;
  price: MoneyDocument;
  status: BookingStatus;
  /**
   * True exactly while status is pending or scheduled. The unique partial index on
   * `{ doctorScheduleId }` filters on it (an equality works on every MongoDB version, where
   * `$in` in a partial filter does not).
   */
  active: boolean;
  paymentStatus: PaymentStatus;
  cancelReason: CancelReason | null;
  paymentTransactionId: ObjectId | null;
  checkoutSessionId: string | null;
  paymentUrl: string | null;
  holdExpiresAt: Date | null;
  idempotencyKey: string | null;
  amountRefunded: number;
  /**
   * The policy snapshot the booking was confirmed under, stored as the plain JSON object it is
   * (Mixed: a later field of the snapshot is kept, not dropped by a sub-schema). Null or absent:
   * none kept (bookings written before careslot kept them).
   */
  policy?: BookingPolicy | null;
  /** Keys of the reminders sent, each `$push`ed once by `markReminderSent`; absent on older bookings. */
  remindersSent?: string[];
  history: BookingHistoryDocument[];
  createdAt: Date;
  updatedAt: Date;
  __v?: number;
}

export interface RefundDocument {
  /** careslot's refund id (`id` in the domain; `id` is a mongoose virtual, hence the name). */
  refundId: string;
  amount: number;
  status: RefundStatus;
  providerRefundId: string | null;
  reason: string | null;
  failureMessage: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** Money state of a payment, derived from its refunds for hosts' reports; careslot never reads it. */
export type PaymentTransactionStatus = 'succeeded' | 'partially_refunded' | 'refunded';

/** `PaymentTransaction`: money received for a booking. */
export interface PaymentTransactionDocument {
  _id: ObjectId;
  /** The booking. */
  referenceId: ObjectId;
  provider: string;
  providerPaymentId: string;
  checkoutSessionId: string | null;
  amount: number;
  currency: string;
  status: PaymentTransactionStatus;
  credited: boolean;
  refunds: RefundDocument[];
  createdAt: Date;
  updatedAt: Date;
  /** Bumped by every refund change: the store's optimistic lock on `refunds`. */
  __v?: number;
}

/** `DoctorWalletLedger`: one credit or debit of a doctor's wallet. */
export interface LedgerEntryDocument {
  _id: ObjectId;
  key: string;
  doctorId: HostId;
  bookingId: ObjectId;
  kind: 'credit' | 'debit';
  amount: number;
  currency: string;
  createdAt: Date;
  __v?: number;
}

/** `ProcessedPaymentEvent`: a provider event already applied. */
export interface ProcessedEventDocument {
  _id: ObjectId;
  eventId: string;
  type: string;
  processedAt: Date;
  __v?: number;
}

/** `PaymentCustomer`: a patient's customer id at a payment provider. */
export interface PaymentCustomerDocument {
  _id: ObjectId;
  patientId: HostId;
  provider: string;
  customerId: string;
  createdAt: Date;
  updatedAt: Date;
  __v?: number;
}

/**
 * `CareslotPatientLock`: one small document per patient that every booking transaction of
 * that patient writes (`lockPatient`), so two of them can not both commit on one snapshot.
 */
export interface PatientLockDocument {
  _id: ObjectId;
  patientId: HostId;
  /** How many transactions took the lock; only the write matters. */
  locks: number;
  lockedAt: Date;
  __v?: number;
}

/**
 * `CareslotDoctorLock`: the same per doctor (`lockDoctor`), written by every transaction that
 * creates or moves one of the doctor's slots, so two overlap checks can not both pass on one
 * snapshot. A collection of its own: the patient locks' documents and unique index stay as
 * they were, and a user who is both a doctor and a patient has two unrelated locks.
 */
export interface DoctorLockDocument {
  _id: ObjectId;
  doctorId: HostId;
  /** How many transactions took the lock; only the write matters. */
  locks: number;
  lockedAt: Date;
  __v?: number;
}

/**
 * `CareslotOutbox` (collection `careslot_outbox`): one delivery of one committed event to one
 * consumer, with its lease and retries. Appended in the transaction of the change it describes.
 */
export interface OutboxDocument {
  _id: ObjectId;
  /** `<eventId>/<consumer>`: unique. */
  key: string;
  eventId: string;
  consumer: string;
  type: string;
  bookingId: string | null;
  scheduleId: string | null;
  /** The event's JSON-safe payload, stored as a plain object (Dates in it are ISO strings). */
  payload: Record<string, unknown>;
  version: number;
  createdAt: Date;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: Date;
  leaseOwner: string | null;
  leaseUntil: Date | null;
  lastError: string | null;
  deliveredAt: Date | null;
  __v?: number;
}

export interface WeeklyWindowDocument {
  days: Weekday[];
  /** `HH:mm`. */
  from: string;
  /** `HH:mm`, or `24:00` for the end of the local day. */
  to: string;
}

/** Availability rules as validated (every default filled in), as a nested plain object. */
export interface AvailabilityRulesDocument {
  timeZone: string;
  weekly: WeeklyWindowDocument[];
  slotMinutes: number;
  stepMinutes: number;
  bufferBeforeMinutes: number;
  bufferAfterMinutes: number;
  minNoticeMinutes: number;
  horizonDays: number;
  fee: MoneyDocument;
}

/**
 * `CareslotAvailability` (collection `careslot_availability`): one version of a doctor's rules,
 * in force for slots starting in `[effectiveFrom, effectiveUntil)`.
 */
export interface AvailabilityDocument {
  _id: ObjectId;
  doctorId: HostId;
  rules: AvailabilityRulesDocument;
  effectiveFrom: Date;
  /** Null while open-ended; equal to effectiveFrom for a version that never came into force. */
  effectiveUntil: Date | null;
  createdAt: Date;
  __v?: number;
}

/** `CareslotTimeOff` (collection `careslot_time_off`): a period the doctor cannot be booked, `[start, end)`. */
export interface TimeOffDocument {
  _id: ObjectId;
  doctorId: HostId;
  start: Date;
  end: Date;
  reason: string | null;
  createdAt: Date;
  __v?: number;
}

/**
 * `CareslotWalletBalance` (collection `careslot_wallet_balances`): a doctor's running total in one
 * currency (credits minus debits, minor units), changed in the transaction of each ledger line
 * `appendLedgerEntry` adds, so `ledgerBalances` reads one document per currency. The ledger lines
 * stay the audit trail and sum to it.
 */
export interface WalletBalanceDocument {
  _id: ObjectId;
  doctorId: HostId;
  currency: string;
  /** Whole minor units; below zero when debits exceed the credits before them. */
  balance: number;
  updatedAt: Date;
  __v?: number;
}

/**
 * `CareslotMigration` (collection `careslot_migrations`): one marker per data migration, keyed by
 * its name, written when the migration finished (`backfillWalletBalances()` writes
 * `wallet-balances`).
 */
export interface MigrationDocument {
  _id: string;
  state: 'done';
  finishedAt: Date;
  /** How many records the run went through (for the wallet totals: doctors). */
  processed: number;
  __v?: number;
}

export interface DocumentsByKey {
  schedule: ScheduleDocument;
  booking: BookingDocument;
  payment: PaymentTransactionDocument;
  ledger: LedgerEntryDocument;
  event: ProcessedEventDocument;
  customer: PaymentCustomerDocument;
  patientLock: PatientLockDocument;
  doctorLock: DoctorLockDocument;
  outbox: OutboxDocument;
  availability: AvailabilityDocument;
  timeOff: TimeOffDocument;
  walletBalance: WalletBalanceDocument;
  migration: MigrationDocument;
}
