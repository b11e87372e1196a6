// Sample domain records and their documents, shared by the offline mongoose tests.
import mongoose from 'mongoose';
import type { Booking, NewBooking, NewSchedule, Schedule } from '../../src/index.js';

export const DOC = '64b0000000000000000000d1';
export const PAT = '64b0000000000000000000a1';
export const PAT2 = '64b0000000000000000000a2';
export const SLOT = '64b0000000000000000000c1';
export const SLOT2 = '64b0000000000000000000c2';
export const BOOKING = '64b0000000000000000000b1';
export const T0 = new Date('2030-03-01T09:00:00Z');
export const at = (minutes: number): Date => new Date(T0.getTime() + minutes * 60_000);
export const oid = (hex: string) => new mongoose.Types.ObjectId(hex);

/** Operator objects a caller might pass where an id or a key belongs. */
export const INJECTIONS: readonly unknown[] = [
  { $gt: '' },
  { $ne: null },
  { $where: '1' },
  ['64b0000000000000000000a1'],
];

export function newSchedule(overrides: Partial<NewSchedule> = {}): NewSchedule {
  return {
    doctorId: DOC,
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

export function newBooking(overrides: Partial<NewBooking> = {}): NewBooking {
  return {
    patientId: PAT,
    doctorId: DOC,
    scheduleId: SLOT,
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
    checkoutSessionId: 'cs_1',
    paymentUrl: 'https://pay.example/cs_1',
    holdExpiresAt: at(-45),
    idempotencyKey: 'req-1',
    amountRefunded: 0,
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
  };
}

export type { Booking, Schedule };
