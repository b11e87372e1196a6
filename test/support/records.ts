// Domain records for tests and the bench: one builder per record kind, complete and valid, every field overridable.
import type { Booking, RefundRecord, Schedule } from '../../src/domain/entities.js';
import type { NewBooking, NewLedgerEntry, NewPaymentTransaction, NewSchedule } from '../../src/ports/booking-store.js';

// Ids look like MongoDB ObjectIds so that every store can keep them as it keeps the host's ids.
export const DOCTOR_ID = '64b0000000000000000000d1';
export const PATIENT_ID = '64b0000000000000000000a1';
export const SCHEDULE_ID = '64b0000000000000000000c1';
export const BOOKING_ID = '64b0000000000000000000b1';

/** When the default slot starts (it lasts 30 minutes). */
export const T0 = new Date('2030-03-01T09:00:00Z');
/** `minutes` after T0 (before it when negative). */
export const at = (minutes: number): Date => new Date(T0.getTime() + minutes * 60_000);
/** When the stored records were written: an hour before the slot (the booking's 15-minute hold ends at `at(-45)`). */
export const CREATED_AT = at(-60);

/** An available 30-minute slot of DOCTOR_ID at T0, 50 EUR, Europe/Berlin. */
export function newSchedule(overrides: Partial<NewSchedule> = {}): NewSchedule {
  return {
    doctorId: DOCTOR_ID,
    startTime: T0,
    endTime: at(30),
    timeZone: 'Europe/Berlin',
    fee: { amount: 5000, currency: 'eur' },
    status: 'available',
    bookedBy: null,
    rolledOverFrom: null,
    ...overrides,
  };
}

/** `newSchedule` as a store returns it: with SCHEDULE_ID and stamps at CREATED_AT. */
export function schedule(overrides: Partial<Schedule> = {}): Schedule {
  return { id: SCHEDULE_ID, ...newSchedule(), createdAt: CREATED_AT, updatedAt: CREATED_AT, ...overrides };
}

/** PATIENT_ID's pending paid booking of the default slot, before checkout (no session, no history). */
export function newBooking(overrides: Partial<NewBooking> = {}): NewBooking {
  return {
    patientId: PATIENT_ID,
    doctorId: DOCTOR_ID,
    scheduleId: SCHEDULE_ID,
    slotStart: T0,
    slotEnd: at(30),
    timeZone: 'Europe/Berlin',
    mode: 'paid',
    plan: 'standard',
    price: { amount: 5000, currency: 'eur' },
    status: 'pending',
    paymentStatus: 'unpaid',
    cancelReason: null,
    paymentTransactionId: null,
    checkoutSessionId: null,
    paymentUrl: null,
    holdExpiresAt: at(-45),
    idempotencyKey: null,
    amountRefunded: 0,
    history: [],
    ...overrides,
  };
}

/** `newBooking` of `slot`: its doctor, id, times, time zone and fee (the fee object itself, as `book` passes it). */
export function newBookingOf(slot: Schedule, overrides: Partial<NewBooking> = {}): NewBooking {
  return newBooking({
    doctorId: slot.doctorId,
    scheduleId: slot.id,
    slotStart: slot.startTime,
    slotEnd: slot.endTime,
    timeZone: slot.timeZone,
    price: slot.fee,
    ...overrides,
  });
}

/** `newBooking` as a store returns it: with BOOKING_ID and stamps at CREATED_AT. */
export function booking(overrides: Partial<Booking> = {}): Booking {
  return { id: BOOKING_ID, ...newBooking(), createdAt: CREATED_AT, updatedAt: CREATED_AT, ...overrides };
}

/** 50 EUR received through Stripe for BOOKING_ID (`pi_1`, session `cs_1`), credited, no refunds. */
export function newPaymentTransaction(overrides: Partial<NewPaymentTransaction> = {}): NewPaymentTransaction {
  return {
    bookingId: BOOKING_ID,
    provider: 'stripe',
    providerPaymentId: 'pi_1',
    checkoutSessionId: 'cs_1',
    amount: 5000,
    currency: 'eur',
    credited: true,
    refunds: [],
    ...overrides,
  };
}

/** A pending 10 EUR refund `r1` asked for by the patient, not yet sent to the provider. */
export function refundRecord(overrides: Partial<RefundRecord> = {}): RefundRecord {
  return {
    id: 'r1',
    amount: 1000,
    status: 'pending',
    providerRefundId: null,
    reason: 'by_patient',
    failureMessage: null,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

/** The 50 EUR wallet credit of BOOKING_ID to DOCTOR_ID, keyed `credit:<bookingId>`. */
export function ledgerEntry(overrides: Partial<NewLedgerEntry> = {}): NewLedgerEntry {
  return {
    key: `credit:${overrides.bookingId ?? BOOKING_ID}`,
    doctorId: DOCTOR_ID,
    bookingId: BOOKING_ID,
    kind: 'credit',
    amount: 5000,
    currency: 'eur',
    createdAt: T0,
    ...overrides,
  };
}
