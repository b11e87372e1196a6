// Bookings, slots and patients for calling the gateway directly, without an engine.
import type { Booking, CheckoutRequest, Patient, Schedule } from '../../src/index.js';

export const NOW = new Date('2030-03-01T08:00:00Z');
export const BOOKING_ID = '64b0000000000000000000b1';
export const SCHEDULE_ID = '64b0000000000000000000c1';
export const DOCTOR_ID = '64b0000000000000000000d1';
export const PATIENT: Patient = {
  id: '64b0000000000000000000a1',
  name: 'Ada Standard',
  email: 'ada@example.test',
  plan: 'standard',
};

export function schedule(overrides: Partial<Schedule> = {}): Schedule {
  return {
    id: SCHEDULE_ID,
    doctorId: DOCTOR_ID,
    startTime: new Date('2030-03-02T08:00:00Z'),
    endTime: new Date('2030-03-02T08:30:00Z'),
    timeZone: 'Europe/Berlin',
    fee: { amount: 5000, currency: 'eur' },
    status: 'pending',
    bookedBy: null,
    rolledOverFrom: null,
    createdAt: NOW,
    updatedAt: NOW,
    ...overrides,
  };
}

export function booking(overrides: Partial<Booking> = {}): Booking {
  return {
    id: BOOKING_ID,
    patientId: PATIENT.id,
    doctorId: DOCTOR_ID,
    scheduleId: SCHEDULE_ID,
    slotStart: new Date('2030-03-02T08:00:00Z'),
    slotEnd: new Date('2030-03-02T08:30:00Z'),
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
    holdExpiresAt: new Date(NOW.getTime() + 15 * 60_000),
    idempotencyKey: null,
    amountRefunded: 0,
    history: [],
    createdAt: NOW,
    updatedAt: NOW,
    ...overrides,
  };
}

export function checkoutRequest(overrides: Partial<CheckoutRequest> = {}): CheckoutRequest {
  const b = overrides.booking ?? booking();
  return {
    booking: b,
    schedule: schedule(),
    patient: PATIENT,
    customerId: null,
    holdExpiresAt: b.holdExpiresAt ?? NOW,
    idempotencyKey: `checkout-${b.id}`,
    ...overrides,
  };
}
