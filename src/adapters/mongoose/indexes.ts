// Every index the store relies on: uniqueness that backs the invariants, and one index per query the sweep, listings, wallet and overlap check send.
import type { MongooseStoreModelKey } from './documents.js';

export interface IndexSpec {
  fields: Readonly<Record<string, 1 | -1>>;
  options: Readonly<{
    /** Stable names, so `syncIndexes` and error messages refer to the same index across versions. */
    name: string;
    unique?: boolean;
    /** Only `$eq`, `$exists: true`, comparisons, `$type` and a top-level `$and`: MongoDB 4.4 accepts nothing else. */
    partialFilterExpression?: Readonly<Record<string, unknown>>;
  }>;
  /** What the index is for, in STORE_ERROR messages and warnings. */
  purpose: string;
}

/** The index careslot's "one active booking per slot" rests on, named in STORE_ERROR messages. */
export const ACTIVE_BOOKING_INDEX = 'careslot_one_active_booking_per_slot';

/**
 * The indexes each model declares; `createIndexes()` / `syncIndexes()` build exactly these, and
 * `ready()` checks that the unique ones exist.
 *
 * Query indexes follow ESR (equality fields, then the sort, then range fields), and every sort
 * ends in `_id` as the store's sorts do, so the server reads the index in order and stops at the
 * limit instead of sorting in memory. A trailing range field (after the sort) is filtered on the
 * index keys, before any document is fetched. A status given as a list of several values is
 * an equality per value, merged in order (SORT_MERGE), which is not a blocking sort.
 */
export const MONGOOSE_STORE_INDEXES: Readonly<Record<MongooseStoreModelKey, readonly IndexSpec[]>> = {
  schedule: [
    {
      fields: { createdBy: 1, startTime: 1, _id: 1 },
      options: { name: 'careslot_schedule_doctor_start' },
      purpose: "listings of a doctor's slots by start time",
    },
    {
      fields: { createdBy: 1, status: 1, startTime: 1, _id: 1, endTime: 1 },
      options: { name: 'careslot_schedule_doctor_status_start' },
      purpose: "the overlap check and a doctor's slots by status",
    },
    {
      fields: { status: 1, startTime: 1, _id: 1, endTime: 1 },
      options: { name: 'careslot_schedule_status_start' },
      purpose: 'the sweep of ended live slots, the clean-up of old expired slots, listings by status',
    },
    {
      fields: { startTime: 1, _id: 1 },
      options: { name: 'careslot_schedule_start' },
      purpose: 'listings across doctors by start time',
    },
  ],
  booking: [
    {
      fields: { doctorScheduleId: 1 },
      options: { name: ACTIVE_BOOKING_INDEX, unique: true, partialFilterExpression: { active: true } },
      purpose: 'one active booking per slot',
    },
    {
      fields: { patientId: 1, idempotencyKey: 1 },
      options: {
        name: 'careslot_booking_idempotency_key',
        unique: true,
        partialFilterExpression: { idempotencyKey: { $type: 'string' } },
      },
      purpose: "one booking per patient's idempotency key",
    },
    {
      fields: { status: 1, createdAt: 1, _id: 1, holdExpiresAt: 1 },
      options: { name: 'careslot_booking_status_created' },
      purpose: 'the sweep of expired holds and of pending bookings to ask the provider about, listings by status',
    },
    {
      // ESR for the reminder sweep's pages (status, then the (createdAt, _id) sort, then the slot
      // start window filtered on the index keys): slotStart before the sort would need an
      // in-memory SORT of every booking in the window to serve a page.
      fields: { status: 1, createdAt: 1, _id: 1, slotStart: 1 },
      options: { name: 'careslot_booking_status_created_slot' },
      purpose: 'the reminder sweep of scheduled bookings starting in a window, in pages, listings by slot start',
    },
    {
      fields: { checkoutSessionId: 1, createdAt: 1, _id: 1 },
      options: {
        name: 'careslot_booking_checkout_session',
        partialFilterExpression: { checkoutSessionId: { $type: 'string' } },
      },
      purpose: 'webhooks that carry only the Checkout Session',
    },
    {
      fields: { patientId: 1, createdAt: 1, _id: 1, status: 1, mode: 1 },
      options: { name: 'careslot_booking_patient' },
      purpose: "a patient's bookings: listings, pending holds, free quota",
    },
    {
      fields: { doctorId: 1, createdAt: 1, _id: 1, status: 1 },
      options: { name: 'careslot_booking_doctor' },
      purpose: "listings of a doctor's bookings",
    },
    {
      fields: { doctorScheduleId: 1, createdAt: 1, _id: 1, status: 1 },
      options: { name: 'careslot_booking_schedule' },
      purpose: "listings of a slot's bookings",
    },
    {
      fields: { createdAt: 1, _id: 1 },
      options: { name: 'careslot_booking_created' },
      purpose: 'listings of every booking by creation',
    },
  ],
  payment: [
    {
      fields: { provider: 1, providerPaymentId: 1 },
      // Partial: documents written before careslot without the provider fields stay out, so two
      // of them no longer make the build fail; careslot always writes both as strings.
      options: {
        name: 'careslot_payment_provider_id',
        unique: true,
        partialFilterExpression: { provider: { $type: 'string' }, providerPaymentId: { $type: 'string' } },
      },
      purpose: 'one payment record per provider payment',
    },
    {
      fields: { referenceId: 1, createdAt: 1, _id: 1 },
      options: { name: 'careslot_payment_reference' },
      purpose: "a booking's payments",
    },
    {
      fields: { 'refunds.status': 1, createdAt: 1, _id: 1 },
      options: { name: 'careslot_payment_refund_status' },
      purpose: 'the sweep of refunds left pending or failed',
    },
  ],
  ledger: [
    // The key names the booking and kind (`credit:<bookingId>`, `refund:<refundId>`), so
    // uniqueness on the key alone is what makes each credit and debit exactly-once.
    {
      fields: { key: 1 },
      options: { name: 'careslot_ledger_key', unique: true },
      purpose: 'each wallet credit and debit once',
    },
    {
      fields: { doctorId: 1, createdAt: 1, _id: 1 },
      options: { name: 'careslot_ledger_doctor_created' },
      purpose: "a doctor's wallet entries, and the sums that start or backfill the wallet totals",
    },
    {
      fields: { bookingId: 1, createdAt: 1, _id: 1 },
      options: { name: 'careslot_ledger_booking_created' },
      purpose: "a booking's wallet entries",
    },
  ],
  event: [
    {
      fields: { eventId: 1 },
      options: { name: 'careslot_event_id', unique: true },
      purpose: 'each provider event applied once',
    },
  ],
  customer: [
    {
      fields: { patientId: 1, provider: 1 },
      options: { name: 'careslot_patient_provider', unique: true },
      purpose: 'one provider customer per patient',
    },
  ],
  patientLock: [
    {
      fields: { patientId: 1 },
      options: { name: 'careslot_patient_lock', unique: true },
      purpose: 'the patient lock, for pending holds and free quota under concurrency',
    },
  ],
  // Without it two first-time lockers of one doctor insert two lock documents and never conflict.
  doctorLock: [
    {
      fields: { doctorId: 1 },
      options: { name: 'careslot_doctor_lock', unique: true },
      purpose: 'the doctor lock, for overlap checks under concurrency',
    },
  ],
  // Sorted by (createdAt, key) like the port's listings; a listing without a status asks for
  // every status as a list, so the claim and status indexes serve those too (SORT_MERGE).
  outbox: [
    {
      fields: { key: 1 },
      options: { name: 'careslot_outbox_key', unique: true },
      purpose: 'each delivery (event and consumer) once',
    },
    {
      fields: { consumer: 1, status: 1, createdAt: 1, key: 1, nextAttemptAt: 1, leaseUntil: 1 },
      options: { name: 'careslot_outbox_claim' },
      purpose: "the dispatcher's claims of due deliveries, listings of a consumer's deliveries",
    },
    {
      fields: { status: 1, createdAt: 1, key: 1 },
      options: { name: 'careslot_outbox_status_created' },
      purpose: 'listings of deliveries by status (dead letters) and of the whole outbox',
    },
    {
      fields: { eventId: 1, createdAt: 1, key: 1, consumer: 1, status: 1 },
      options: { name: 'careslot_outbox_event' },
      purpose: "an event's deliveries",
    },
    {
      fields: { bookingId: 1, createdAt: 1, key: 1, consumer: 1, status: 1 },
      options: { name: 'careslot_outbox_booking' },
      purpose: "a booking's deliveries",
    },
    {
      fields: { status: 1, deliveredAt: 1 },
      options: { name: 'careslot_outbox_retention' },
      purpose: 'the retention sweep of old delivered records',
    },
  ],
  // A range read ends in the field the sort does not cover (effectiveUntil, end), filtered on
  // the index keys: a doctor's versions and time off in force around a range, by start.
  availability: [
    {
      fields: { doctorId: 1, effectiveFrom: 1, _id: 1, effectiveUntil: 1 },
      options: { name: 'careslot_availability_doctor_from' },
      purpose: "a doctor's availability versions in force in a range, and ending them",
    },
  ],
  timeOff: [
    {
      fields: { doctorId: 1, start: 1, _id: 1, end: 1 },
      options: { name: 'careslot_time_off_doctor_start' },
      purpose: "a doctor's time off overlapping a range",
    },
  ],
  // Unique: without it two first lines of one doctor and currency, committed at once, upsert two
  // totals instead of conflicting, and one of them is lost. It also serves `ledgerBalances`
  // (the doctor, sorted by currency).
  walletBalance: [
    {
      fields: { doctorId: 1, currency: 1 },
      options: { name: 'careslot_wallet_balance_doctor_currency', unique: true },
      purpose: "one running wallet total per doctor and currency, and a doctor's balances",
    },
  ],
  // Markers are found by their _id (the migration's name): no index of their own.
  migration: [],
};

/**
 * Index names earlier releases declared and this one replaced (new fields need a new name:
 * MongoDB refuses to build a different index under an existing name). They are harmless but
 * cost writes; `dropSupersededIndexes()` drops exactly these, and `syncIndexes()` drops them too.
 */
export const SUPERSEDED_INDEXES: Readonly<Partial<Record<MongooseStoreModelKey, readonly string[]>>> = {
  schedule: ['careslot_doctor_start', 'careslot_status_end', 'careslot_start'],
  booking: [
    'careslot_status_hold_expiry',
    'careslot_status_created',
    'careslot_checkout_session',
    'careslot_patient_created',
    'careslot_doctor_created',
    'careslot_schedule_created',
  ],
  payment: ['careslot_provider_payment', 'careslot_payment_booking', 'careslot_refund_status'],
  ledger: ['careslot_ledger_doctor', 'careslot_ledger_booking'],
};
