// Every index the store relies on: uniqueness that backs the invariants, and the sweep's and listings' queries.
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
}

/** The index careslot's "one active booking per slot" rests on, named in STORE_ERROR messages. */
export const ACTIVE_BOOKING_INDEX = 'careslot_one_active_booking_per_slot';

/** The indexes each model declares; `createIndexes()` / `syncIndexes()` build exactly these. */
export const MONGOOSE_STORE_INDEXES: Readonly<Record<MongooseStoreModelKey, readonly IndexSpec[]>> = {
  schedule: [
    // Listings and the overlap check: a doctor's slots by start time.
    { fields: { createdBy: 1, startTime: 1 }, options: { name: 'careslot_doctor_start' } },
    // The sweep (ended live slots) and the clean-up (old expired slots).
    { fields: { status: 1, endTime: 1 }, options: { name: 'careslot_status_end' } },
    // Listings across doctors by start time.
    { fields: { startTime: 1 }, options: { name: 'careslot_start' } },
  ],
  booking: [
    {
      fields: { doctorScheduleId: 1 },
      options: { name: ACTIVE_BOOKING_INDEX, unique: true, partialFilterExpression: { active: true } },
    },
    {
      fields: { patientId: 1, idempotencyKey: 1 },
      options: {
        name: 'careslot_booking_idempotency_key',
        unique: true,
        partialFilterExpression: { idempotencyKey: { $type: 'string' } },
      },
    },
    // The sweep: expired holds, and pending bookings old enough to ask the provider about.
    { fields: { status: 1, holdExpiresAt: 1 }, options: { name: 'careslot_status_hold_expiry' } },
    { fields: { status: 1, createdAt: 1 }, options: { name: 'careslot_status_created' } },
    // Webhooks that carry only the Checkout Session.
    {
      fields: { checkoutSessionId: 1 },
      options: {
        name: 'careslot_checkout_session',
        partialFilterExpression: { checkoutSessionId: { $type: 'string' } },
      },
    },
    // Listings and the free-quota count.
    { fields: { patientId: 1, createdAt: 1 }, options: { name: 'careslot_patient_created' } },
    { fields: { doctorId: 1, createdAt: 1 }, options: { name: 'careslot_doctor_created' } },
    { fields: { doctorScheduleId: 1, createdAt: 1 }, options: { name: 'careslot_schedule_created' } },
  ],
  payment: [
    {
      fields: { provider: 1, providerPaymentId: 1 },
      options: { name: 'careslot_provider_payment', unique: true },
    },
    { fields: { referenceId: 1, createdAt: 1 }, options: { name: 'careslot_payment_booking' } },
    // The sweep: refunds left pending or failed.
    { fields: { 'refunds.status': 1, createdAt: 1 }, options: { name: 'careslot_refund_status' } },
  ],
  ledger: [
    // The key names the booking and kind (`credit:<bookingId>`, `refund:<refundId>`), so
    // uniqueness on the key alone is what makes each credit and debit exactly-once.
    { fields: { key: 1 }, options: { name: 'careslot_ledger_key', unique: true } },
    { fields: { doctorId: 1, createdAt: 1 }, options: { name: 'careslot_ledger_doctor' } },
    { fields: { bookingId: 1, createdAt: 1 }, options: { name: 'careslot_ledger_booking' } },
  ],
  event: [{ fields: { eventId: 1 }, options: { name: 'careslot_event_id', unique: true } }],
  customer: [{ fields: { patientId: 1, provider: 1 }, options: { name: 'careslot_patient_provider', unique: true } }],
  patientLock: [{ fields: { patientId: 1 }, options: { name: 'careslot_patient_lock', unique: true } }],
  // Without it two first-time lockers of one doctor insert two lock documents and never conflict.
  doctorLock: [{ fields: { doctorId: 1 }, options: { name: 'careslot_doctor_lock', unique: true } }],
};
