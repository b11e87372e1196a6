// Domain records ↔ MongoDB documents, both ways: original field names in the database, camelCase in the domain.
import mongoose from 'mongoose';
import { describe, expect, it } from 'vitest';
import type { BookingDocument, ScheduleDocument } from '../../src/adapters/mongoose/index.js';
import {
  bookingChangesToDocument,
  bookingToDocument,
  documentToBooking,
  documentToCustomer,
  documentToLedger,
  documentToPayment,
  documentToSchedule,
  eventToDocument,
  ledgerToDocument,
  paymentStatusOf,
  paymentToDocument,
  refundToDocument,
  scheduleToDocument,
  withRefund,
} from '../../src/adapters/mongoose/mapping.js';
import type { RefundRecord } from '../../src/index.js';
import { POLICY } from '../conformance/booking-policy-conformance.js';
import { ledgerEntry, newPaymentTransaction, refundRecord } from '../support/records.js';
import { at, BOOKING, DOC, newBooking, newSchedule, oid, PAT, SLOT, T0 } from './samples.js';

const withoutStamps = <T extends { id: string; createdAt: Date; updatedAt: Date }>(record: T) => {
  const { id: _id, createdAt: _c, updatedAt: _u, ...rest } = record;
  return rest;
};

const refund = refundRecord({
  id: 'cancel-b1',
  amount: 2000,
  status: 'succeeded',
  providerRefundId: 're_1',
  createdAt: at(1),
  updatedAt: at(2),
});

const payment = newPaymentTransaction({ bookingId: BOOKING, refunds: [refund] });

describe('slot ↔ DoctorAppointmentSchedule', () => {
  it('stores the doctor as createdBy and the holder as booked_by, both ObjectIds', () => {
    const doc = scheduleToDocument(
      newSchedule({ status: 'booked', bookedBy: PAT, rolledOverFrom: SLOT }),
      'objectId',
      T0,
    );
    expect(doc.createdBy).toBeInstanceOf(mongoose.Types.ObjectId);
    expect(doc.createdBy.toString()).toBe(DOC);
    expect(doc.booked_by?.toString()).toBe(PAT);
    expect(doc.rolledOverFrom?.toString()).toBe(SLOT);
    expect(doc).toMatchObject({ status: 'booked', timeZone: 'Europe/Berlin', fee: { amount: 5000, currency: 'eur' } });
    expect(doc).not.toHaveProperty('doctorId');
    expect(doc).not.toHaveProperty('bookedBy');
    expect(doc.createdAt).toEqual(T0);
    expect(doc.updatedAt).toEqual(T0);
  });

  it('reads back the same slot, with a string id and Dates', () => {
    const input = newSchedule({ status: 'booked', bookedBy: PAT });
    const doc = scheduleToDocument(input, 'objectId', T0);
    const schedule = documentToSchedule(doc);
    expect(withoutStamps(schedule)).toEqual(input);
    expect(schedule.id).toBe(doc._id.toHexString());
    expect(schedule.createdAt).toEqual(T0);
  });

  it('keeps host ids as strings in string mode', () => {
    const doc = scheduleToDocument(newSchedule({ doctorId: 'doc-7', bookedBy: 'pat-9' }), 'string', T0);
    expect(doc.createdBy).toBe('doc-7');
    expect(doc.booked_by).toBe('pat-9');
    expect(documentToSchedule(doc)).toMatchObject({ doctorId: 'doc-7', bookedBy: 'pat-9' });
  });

  it('copies: changing the input or the returned record never reaches the document', () => {
    const input = newSchedule({ startTime: new Date(T0.getTime()) });
    const doc = scheduleToDocument(input, 'objectId', T0);
    input.startTime.setTime(0);
    expect(doc.startTime.getTime()).toBe(T0.getTime());
    const schedule = documentToSchedule(doc);
    schedule.fee.amount = 1;
    schedule.endTime.setTime(0);
    expect(doc.fee.amount).toBe(5000);
    expect(doc.endTime).toEqual(at(30));
  });

  it('stores the published wall-clock start of a rolled-over copy, and leaves it out when unset', () => {
    const copy = scheduleToDocument(newSchedule({ rolledOverFrom: SLOT, localStartTime: '02:30' }), 'objectId', T0);
    expect(copy.localStartTime).toBe('02:30');
    expect(documentToSchedule(copy).localStartTime).toBe('02:30');
    for (const localStartTime of [undefined, null]) {
      const plain = scheduleToDocument(newSchedule({ localStartTime }), 'objectId', T0);
      expect(plain).not.toHaveProperty('localStartTime');
      expect(documentToSchedule(plain)).not.toHaveProperty('localStartTime');
    }
  });

  it('reads a document written before careslot (no booked_by, no rolledOverFrom) with nulls', () => {
    const { booked_by: _b, rolledOverFrom: _r, ...legacy } = scheduleToDocument(newSchedule(), 'objectId', T0);
    expect(documentToSchedule(legacy as ScheduleDocument)).toMatchObject({ bookedBy: null, rolledOverFrom: null });
  });
});

describe('booking ↔ DoctorPatientScheduleBooking', () => {
  it('stores the slot as doctorScheduleId and derives active from the status', () => {
    const doc = bookingToDocument(newBooking(), 'objectId', T0);
    expect(doc.doctorScheduleId.toString()).toBe(SLOT);
    expect(doc.patientId.toString()).toBe(PAT);
    expect(doc.doctorId.toString()).toBe(DOC);
    expect(doc).not.toHaveProperty('scheduleId');
    for (const [status, active] of [
      ['pending', true],
      ['scheduled', true],
      ['completed', false],
      ['cancelled', false],
    ] as const) {
      expect(bookingToDocument(newBooking({ status }), 'objectId', T0).active).toBe(active);
    }
  });

  it('reads back the same booking, history included', () => {
    const input = newBooking({ paymentTransactionId: '64b0000000000000000000e1', cancelReason: null });
    const booking = documentToBooking(bookingToDocument(input, 'objectId', T0));
    expect(withoutStamps(booking)).toEqual({ ...input, policy: null, remindersSent: [] });
    expect(booking.history[0]?.at).toBeInstanceOf(Date);
  });

  it('maps the changes of a compare-and-set to document fields', () => {
    expect(
      bookingChangesToDocument({
        status: 'cancelled',
        cancelReason: 'payment_timeout',
        holdExpiresAt: null,
        scheduleId: SLOT,
        paymentTransactionId: null,
        amountRefunded: 500,
      }),
    ).toEqual({
      status: 'cancelled',
      active: false,
      cancelReason: 'payment_timeout',
      holdExpiresAt: null,
      doctorScheduleId: oid(SLOT),
      paymentTransactionId: null,
      amountRefunded: 500,
    });
    expect(bookingChangesToDocument({})).toEqual({});
  });

  it.each([
    ['an unknown status', { status: 'booked' }],
    ['an unknown cancel reason', { cancelReason: 'bored' }],
    ['a fractional refunded amount', { amountRefunded: 1.5 }],
    ['an invalid date', { holdExpiresAt: new Date(Number.NaN) }],
    ['a date string instead of a Date', { slotStart: '2030-03-01T09:00:00Z' }],
  ])('refuses %s in the changes with INVALID_INPUT', (_name, set) => {
    expect(() => bookingChangesToDocument(set as never)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });

  it('reads a legacy booking (no history, no refund total, no session, no policy, no reminders) with empty defaults', () => {
    const doc = bookingToDocument(newBooking(), 'objectId', T0) as Partial<BookingDocument>;
    delete doc.history;
    delete doc.amountRefunded;
    delete doc.checkoutSessionId;
    delete doc.idempotencyKey;
    delete doc.policy;
    delete doc.remindersSent;
    expect(documentToBooking(doc as BookingDocument)).toMatchObject({
      history: [],
      amountRefunded: 0,
      checkoutSessionId: null,
      idempotencyKey: null,
      policy: null,
      remindersSent: [],
    });
  });

  it('keeps the policy snapshot exactly, as copies both ways', () => {
    const policy = structuredClone(POLICY);
    const doc = bookingToDocument(newBooking({ policy, remindersSent: ['1440:email'] }), 'objectId', T0);
    policy.cancellation.tiers[0]!.refundPercent = 0;
    expect(doc.policy).toEqual(POLICY);
    expect(doc.remindersSent).toEqual(['1440:email']);
    const booking = documentToBooking(doc);
    expect(booking.policy).toEqual(POLICY);
    expect(booking.remindersSent).toEqual(['1440:email']);
    booking.policy!.reschedule.maxPerBooking = 99;
    booking.remindersSent!.push('x');
    expect(documentToBooking(doc)).toMatchObject({ policy: POLICY, remindersSent: ['1440:email'] });
  });

  it('refuses a policy that is not a plain JSON object, and reminder keys that are not keys, with INVALID_INPUT', () => {
    for (const policy of ['strict', [POLICY], new Map(), 5]) {
      expect(() =>
        bookingToDocument(newBooking({ policy: policy as unknown as typeof POLICY }), 'objectId', T0),
      ).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', details: { field: 'policy' } }));
      expect(() => bookingChangesToDocument({ policy: policy as unknown as typeof POLICY })).toThrow(
        expect.objectContaining({ code: 'INVALID_INPUT', details: { field: 'set.policy' } }),
      );
    }
    for (const remindersSent of ['1440:email', [{ $ne: 'x' }]]) {
      expect(() =>
        bookingToDocument(newBooking({ remindersSent: remindersSent as unknown as string[] }), 'objectId', T0),
      ).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    }
  });

  it('maps a policy in the changes of a compare-and-set, and null clears it', () => {
    expect(bookingChangesToDocument({ policy: POLICY })).toEqual({ policy: POLICY });
    expect(bookingChangesToDocument({ policy: null })).toEqual({ policy: null });
    expect(bookingChangesToDocument({ status: 'no_show' })).toEqual({ status: 'no_show', active: false });
  });
});

describe('payment ↔ PaymentTransaction', () => {
  it('stores the booking as referenceId, refunds with refundId, and a status derived from refunds', () => {
    const doc = paymentToDocument(payment, T0);
    expect(doc.referenceId.toString()).toBe(BOOKING);
    expect(doc.refunds[0]).toMatchObject({ refundId: 'cancel-b1', amount: 2000 });
    expect(doc.status).toBe('partially_refunded');
    expect(doc.__v).toBe(0);
    expect(withoutStamps(documentToPayment(doc))).toEqual(payment);
  });

  it('derives the payment status from succeeded refunds only', () => {
    const r = (status: RefundRecord['status'], amount: number, id: string) =>
      refundToDocument({ ...refund, status, amount, id });
    expect(paymentStatusOf(5000, [])).toBe('succeeded');
    expect(paymentStatusOf(5000, [r('pending', 5000, 'a'), r('failed', 5000, 'b')])).toBe('succeeded');
    expect(paymentStatusOf(5000, [r('succeeded', 1000, 'a')])).toBe('partially_refunded');
    expect(paymentStatusOf(5000, [r('succeeded', 1000, 'a'), r('succeeded', 4000, 'b')])).toBe('refunded');
  });

  it('replaces a refund with the same id in place and appends a new one', () => {
    const first = refundToDocument(refund);
    const second = refundToDocument({ ...refund, id: 'r2' });
    const changed = refundToDocument({ ...refund, status: 'failed' });
    expect(withRefund([first], second)).toEqual([first, second]);
    expect(withRefund([first, second], changed)).toEqual([changed, second]);
  });
});

describe('ledger, events and customers', () => {
  it('maps a ledger entry both ways with ObjectId doctor and booking', () => {
    const entry = ledgerEntry({ doctorId: DOC, bookingId: BOOKING });
    const doc = ledgerToDocument(entry, 'objectId');
    expect(doc.doctorId.toString()).toBe(DOC);
    const { id, ...rest } = documentToLedger(doc);
    expect(rest).toEqual(entry);
    expect(id).toBe(doc._id.toHexString());
  });

  it('stores a processed event under eventId with its time', () => {
    expect(eventToDocument({ id: 'evt_1', type: 'payment.succeeded', at: T0 })).toMatchObject({
      eventId: 'evt_1',
      type: 'payment.succeeded',
      processedAt: T0,
    });
  });

  it('reads a payment customer mapping', () => {
    expect(
      documentToCustomer({
        _id: oid(SLOT),
        patientId: oid(PAT),
        provider: 'stripe',
        customerId: 'cus_1',
        createdAt: T0,
        updatedAt: T0,
      }),
    ).toEqual({ patientId: PAT, provider: 'stripe', customerId: 'cus_1' });
  });
});
