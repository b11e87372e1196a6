// Sample domain records and their documents, shared by the offline mongoose tests.
import mongoose from 'mongoose';
import type { Booking, NewBooking, Schedule } from '../../src/index.js';
import { at, BOOKING_ID, DOCTOR_ID, PATIENT_ID, newBooking as record, SCHEDULE_ID } from '../support/records.js';

export { at, newSchedule, T0 } from '../support/records.js';
export const DOC = DOCTOR_ID;
export const PAT = PATIENT_ID;
export const PAT2 = '64b0000000000000000000a2';
export const SLOT = SCHEDULE_ID;
export const SLOT2 = '64b0000000000000000000c2';
export const BOOKING = BOOKING_ID;
export const oid = (hex: string) => new mongoose.Types.ObjectId(hex);

/** Operator objects a caller might pass where an id or a key belongs. */
export const INJECTIONS: readonly unknown[] = [
  { $gt: '' },
  { $ne: null },
  { $where: '1' },
  ['64b0000000000000000000a1'],
];

/** A booking whose checkout started an hour before the slot: session, payment URL, idempotency key, one history entry. */
export function newBooking(overrides: Partial<NewBooking> = {}): NewBooking {
  return record({
    checkoutSessionId: 'cs_1',
    paymentUrl: 'https://pay.example/cs_1',
    idempotencyKey: 'req-1',
    history: [
      {
        at: at(-60),
        from: null,
        to: 'pending',
        paymentStatus: 'unpaid',
        actor: { role: 'patient', id: PAT },
        reason: 'checkout_started',
      },
    ],
    ...overrides,
  });
}

export type { Booking, Schedule };
