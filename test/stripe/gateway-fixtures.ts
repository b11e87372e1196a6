// Bookings, slots and patients for calling the gateway directly, without an engine.
import type { Booking, CheckoutRequest, Patient, Schedule } from '../../src/index.js';
import * as record from '../support/records.js';

export { BOOKING_ID, DOCTOR_ID, SCHEDULE_ID } from '../support/records.js';
export const NOW = new Date('2030-03-01T08:00:00Z');
export const PATIENT: Patient = {
  id: record.PATIENT_ID,
  name: 'Ada Standard',
  email: 'ada@example.test',
  plan: 'standard',
};

export function schedule(overrides: Partial<Schedule> = {}): Schedule {
  return record.schedule({
    startTime: new Date('2030-03-02T08:00:00Z'),
    endTime: new Date('2030-03-02T08:30:00Z'),
    status: 'pending',
    createdAt: NOW,
    updatedAt: NOW,
    ...overrides,
  });
}

export function booking(overrides: Partial<Booking> = {}): Booking {
  return record.booking({
    slotStart: new Date('2030-03-02T08:00:00Z'),
    slotEnd: new Date('2030-03-02T08:30:00Z'),
    holdExpiresAt: new Date(NOW.getTime() + 15 * 60_000),
    createdAt: NOW,
    updatedAt: NOW,
    ...overrides,
  });
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
