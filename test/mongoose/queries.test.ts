// Each compare-and-set filter and update, evaluated by a MongoDB query engine (mingo) against sample documents.
import { Query } from 'mingo';
import { update as applyUpdate } from 'mingo/updater';
import { describe, expect, it } from 'vitest';
import type { BookingDocument, ScheduleDocument } from '../../src/adapters/mongoose/index.js';
import {
  bookingChangesToDocument,
  bookingToDocument,
  historyToDocument,
  paymentToDocument,
  refundToDocument,
  scheduleChangesToDocument,
  scheduleToDocument,
  withRefund,
} from '../../src/adapters/mongoose/mapping.js';
import {
  activeBookingFilter,
  activeFlagRepairs,
  bookingCasFilter,
  bookingQueryFilter,
  bookingUpdate,
  CREATED_SORT,
  customerUpsertUpdate,
  deleteSchedulesFilter,
  doctorLockFilter,
  type Filter,
  idempotencyFilter,
  LEDGER_DOCTOR_SORT,
  ledgerDelta,
  lockUpdate,
  migrationDoneUpdate,
  migrationFilter,
  nextLedgerDoctorFilter,
  patientLockFilter,
  paymentQueryFilter,
  paymentVersionFilter,
  refundsUpdate,
  reminderFilter,
  reminderUpdate,
  SCHEDULE_SORT,
  scheduleCasFilter,
  scheduleQueryFilter,
  scheduleSetUpdate,
  type Update,
  WALLET_BALANCE_SORT,
  WALLET_BALANCES_MIGRATION,
  walletBalanceFilter,
  walletBalanceIncrement,
  walletBalanceReset,
  walletBalancesFilter,
} from '../../src/adapters/mongoose/queries.js';
import { newPaymentTransaction, refundRecord } from '../support/records.js';
import { at, BOOKING, DOC, newBooking, newSchedule, oid, PAT, PAT2, SLOT, SLOT2, T0 } from './samples.js';

const matches = (filter: Filter, doc: object): boolean => new Query(filter).test(doc as Record<string, unknown>);
const NOW = at(5);

/** What MongoDB would store after `update`: mingo applies it to a copy. */
function updated<T extends object>(doc: T, update: Update): T {
  const copy = structuredClone(doc);
  // structuredClone loses ObjectId prototypes; keep the originals for id fields.
  for (const [key, value] of Object.entries(doc)) {
    if (value !== null && typeof value === 'object' && 'toHexString' in value) {
      (copy as Record<string, unknown>)[key] = value;
    }
  }
  applyUpdate(copy as Record<string, unknown>, update as Parameters<typeof applyUpdate>[1]);
  return copy;
}

function scheduleDoc(overrides: Partial<ScheduleDocument> = {}): ScheduleDocument {
  return { ...scheduleToDocument(newSchedule(), 'objectId', T0), ...overrides };
}

function bookingDoc(overrides: Partial<BookingDocument> = {}): BookingDocument {
  return { ...bookingToDocument(newBooking(), 'objectId', T0), ...overrides };
}

describe('slot compare-and-set', () => {
  it('matches only that slot, and only while its status is one of the expected', () => {
    const slot = scheduleDoc({ status: 'available' });
    expect(matches(scheduleCasFilter(slot._id, ['available']), slot)).toBe(true);
    expect(matches(scheduleCasFilter(slot._id, ['pending', 'available']), slot)).toBe(true);
    expect(matches(scheduleCasFilter(slot._id, ['pending']), slot)).toBe(false);
    expect(matches(scheduleCasFilter(oid(SLOT2), ['available']), slot)).toBe(false);
  });

  it('sets status and booked_by (the original field name) and bumps updatedAt, nothing else', () => {
    const slot = scheduleDoc({ status: 'pending' });
    const changes = scheduleChangesToDocument({ status: 'booked', bookedBy: PAT }, 'objectId');
    const after = updated(slot, scheduleSetUpdate(changes, NOW));
    expect(after.status).toBe('booked');
    expect(after.booked_by?.toString()).toBe(PAT);
    expect(after.updatedAt).toEqual(NOW);
    expect(after.createdAt).toEqual(T0);
    expect(after.fee).toEqual(slot.fee);
    // A second claim with the old expectation no longer matches: the lost race returns null.
    expect(matches(scheduleCasFilter(slot._id, ['pending']), after)).toBe(false);
  });

  it('clears booked_by when released', () => {
    const slot = scheduleDoc({ status: 'booked', booked_by: oid(PAT) });
    const after = updated(
      slot,
      scheduleSetUpdate(scheduleChangesToDocument({ status: 'available', bookedBy: null }, 'objectId'), NOW),
    );
    expect(after).toMatchObject({ status: 'available', booked_by: null });
  });

  it('deletes only the listed slots still in the expected status', () => {
    const expired = scheduleDoc({ status: 'expired' });
    const live = scheduleDoc({ _id: oid(SLOT2), status: 'available' });
    const filter = deleteSchedulesFilter([expired._id, live._id], 'expired');
    expect([expired, live].filter((d) => matches(filter, d))).toEqual([expired]);
  });
});

describe('slot queries', () => {
  const slots = [
    scheduleDoc({ _id: oid(SLOT), startTime: at(0), endTime: at(30) }),
    scheduleDoc({ _id: oid(SLOT2), startTime: at(60), endTime: at(90), status: 'booked' }),
  ];
  const ids = (filter: Filter) => slots.filter((s) => matches(filter, s)).map((s) => s._id.toHexString());

  it('treats startFrom and endBefore as inclusive, startBefore and endAfter as exclusive', () => {
    const q = (query: Parameters<typeof scheduleQueryFilter>[0]) => ids(scheduleQueryFilter(query, 'objectId').filter);
    expect(q({ startFrom: at(60) })).toEqual([SLOT2]);
    expect(q({ startBefore: at(60) })).toEqual([SLOT]);
    expect(q({ endBefore: at(30) })).toEqual([SLOT]);
    expect(q({ endAfter: at(30) })).toEqual([SLOT2]);
    // Overlap with [25, 65): both; with [30, 60): none.
    expect(q({ startBefore: at(65), endAfter: at(25) })).toEqual([SLOT, SLOT2]);
    expect(q({ startBefore: at(60), endAfter: at(30) })).toEqual([]);
  });

  it('filters by doctor (createdBy) and by one or many statuses', () => {
    expect(ids(scheduleQueryFilter({ doctorId: DOC, status: 'booked' }, 'objectId').filter)).toEqual([SLOT2]);
    expect(ids(scheduleQueryFilter({ status: ['available', 'booked'] }, 'objectId').filter)).toEqual([SLOT, SLOT2]);
    expect(ids(scheduleQueryFilter({ doctorId: '64b0000000000000000000d2' }, 'objectId').filter)).toEqual([]);
    expect(ids(scheduleQueryFilter({ status: [] }, 'objectId').filter)).toEqual([]);
  });

  it('sorts slots by start then id and bookings by creation then id', () => {
    expect(SCHEDULE_SORT).toEqual({ startTime: 1, _id: 1 });
    expect(CREATED_SORT).toEqual({ createdAt: 1, _id: 1 });
  });

  it('keeps limit 0 as "no rows" instead of the driver\'s "no limit"', () => {
    expect(scheduleQueryFilter({ limit: 0 }, 'objectId').limit).toBe(0);
    expect(scheduleQueryFilter({}, 'objectId').limit).toBeUndefined();
  });
});

describe('slot keyset pages (after)', () => {
  // Three slots tied at 60 (ids a < b < c), one before, one after.
  const A = '64b0000000000000000000a1';
  const B = '64b0000000000000000000a2';
  const C = '64b0000000000000000000a3';
  const slots = [
    scheduleDoc({ _id: oid(SLOT2), startTime: at(0), endTime: at(30) }),
    scheduleDoc({ _id: oid(A), startTime: at(60), endTime: at(90) }),
    scheduleDoc({ _id: oid(B), startTime: at(60), endTime: at(90), status: 'booked' }),
    scheduleDoc({ _id: oid(C), startTime: at(60), endTime: at(90) }),
    scheduleDoc({ _id: oid(SLOT), startTime: at(120), endTime: at(150) }),
  ];
  const ids = (query: Parameters<typeof scheduleQueryFilter>[0]) => {
    const { filter } = scheduleQueryFilter(query, 'objectId');
    return slots.filter((s) => matches(filter, s)).map((s) => s._id.toHexString());
  };

  it('keeps only slots strictly after (startTime, id): later starts, and ties with a greater id', () => {
    expect(ids({ after: { startTime: at(60), id: B } })).toEqual([C, SLOT]);
    expect(ids({ after: { startTime: at(60), id: C } })).toEqual([SLOT]);
    expect(ids({ after: { startTime: at(0), id: SLOT2 } })).toEqual([A, B, C, SLOT]);
    expect(ids({ after: { startTime: at(120), id: SLOT } })).toEqual([]);
    // A position between slots (no slot has it) resumes at the next one.
    expect(ids({ after: { startTime: at(30), id: SLOT } })).toEqual([A, B, C, SLOT]);
  });

  it('sends a startTime range that bounds the index scan at the cursor, and the $or on (startTime, _id) beside it', () => {
    const { filter } = scheduleQueryFilter({ doctorId: DOC, after: { startTime: at(60), id: B } }, 'objectId');
    expect(filter).toEqual({
      createdBy: oid(DOC),
      startTime: { $gte: at(60) },
      $or: [{ startTime: { $gt: at(60) } }, { startTime: at(60), _id: { $gt: oid(B) } }],
    });
  });

  it('combines with the other filters: status, a later startFrom, startBefore and endBefore', () => {
    expect(ids({ status: 'available', after: { startTime: at(60), id: A } })).toEqual([C, SLOT]);
    expect(ids({ startBefore: at(100), after: { startTime: at(60), id: A } })).toEqual([B, C]);
    expect(ids({ endBefore: at(90), after: { startTime: at(0), id: SLOT2 } })).toEqual([A, B, C]);
    // A startFrom after the cursor stays the bound; one before it gives way to the cursor.
    expect(
      scheduleQueryFilter({ startFrom: at(100), after: { startTime: at(60), id: A } }, 'objectId').filter,
    ).toMatchObject({ startTime: { $gte: at(100) } });
    expect(
      scheduleQueryFilter({ startFrom: at(10), after: { startTime: at(60), id: A } }, 'objectId').filter,
    ).toMatchObject({ startTime: { $gte: at(60) } });
    expect(ids({ startFrom: at(100), after: { startTime: at(60), id: A } })).toEqual([SLOT]);
    // endBefore also bounds the start from above; the cursor the start from below.
    expect(
      scheduleQueryFilter({ status: 'expired', endBefore: at(90), after: { startTime: at(0), id: SLOT2 } }, 'objectId')
        .filter.startTime,
    ).toEqual({ $gte: at(0), $lte: at(90) });
  });

  it('takes an empty id as a position before every id at that start (ties included)', () => {
    expect(ids({ after: { startTime: at(60), id: '' } })).toEqual([A, B, C, SLOT]);
    expect(scheduleQueryFilter({ after: { startTime: at(60), id: '' } }, 'objectId').filter).toEqual({
      startTime: { $gte: at(60) },
    });
  });

  it('refuses a cursor that is not { startTime: Date, id: ObjectId string } with INVALID_INPUT, before any query', () => {
    for (const after of [
      null,
      'x',
      { startTime: 'yesterday', id: A },
      { startTime: at(0), id: 'abc' },
      { startTime: at(0), id: { $gt: '' } },
      { id: A },
    ]) {
      expect(() => scheduleQueryFilter({ after: after as never }, 'objectId'), JSON.stringify(after)).toThrow(
        expect.objectContaining({ code: 'INVALID_INPUT' }),
      );
    }
  });
});

describe('wallet totals', () => {
  const total = { _id: oid(SLOT), doctorId: oid(DOC), currency: 'eur', balance: 500, updatedAt: T0 };

  it("finds one total by (doctorId, currency), and a doctor's totals by doctorId", () => {
    expect(matches(walletBalanceFilter(oid(DOC), 'eur'), total)).toBe(true);
    expect(matches(walletBalanceFilter(oid(DOC), 'usd'), total)).toBe(false);
    expect(matches(walletBalanceFilter(oid(PAT), 'eur'), total)).toBe(false);
    expect(matches(walletBalancesFilter(oid(DOC)), total)).toBe(true);
    expect(matches(walletBalancesFilter(oid(PAT)), total)).toBe(false);
    expect(WALLET_BALANCE_SORT).toEqual({ currency: 1 });
  });

  it('adds a credit and takes a debit off with $inc, stamping updatedAt; the backfill sets the sum', () => {
    expect(ledgerDelta({ kind: 'credit', amount: 300 })).toBe(300);
    expect(ledgerDelta({ kind: 'debit', amount: 300 })).toBe(-300);
    const credited = updated(total, walletBalanceIncrement(ledgerDelta({ kind: 'credit', amount: 300 }), NOW));
    expect(credited).toMatchObject({ balance: 800, updatedAt: NOW });
    const debited = updated(credited, walletBalanceIncrement(ledgerDelta({ kind: 'debit', amount: 1000 }), NOW));
    expect(debited.balance).toBe(-200);
    expect(updated(debited, walletBalanceReset(4200, NOW)).balance).toBe(4200);
  });

  it('walks the ledger doctor by doctor: the first after the previous one, on the doctor index order', () => {
    const line = { doctorId: oid(DOC) };
    expect(nextLedgerDoctorFilter(null)).toEqual({});
    expect(matches(nextLedgerDoctorFilter(oid('64b0000000000000000000d0')), line)).toBe(true);
    expect(matches(nextLedgerDoctorFilter(oid(DOC)), line)).toBe(false);
    expect(LEDGER_DOCTOR_SORT).toEqual({ doctorId: 1, createdAt: 1, _id: 1 });
  });

  it("keys the backfill's marker by the migration's name", () => {
    const marker = { _id: WALLET_BALANCES_MIGRATION, ...migrationDoneUpdate(3, NOW).$set };
    expect(marker).toEqual({ _id: 'wallet-balances', state: 'done', finishedAt: NOW, processed: 3 });
    expect(matches(migrationFilter(WALLET_BALANCES_MIGRATION), marker)).toBe(true);
    expect(matches(migrationFilter('another'), marker)).toBe(false);
  });
});

describe('booking compare-and-set', () => {
  it('matches on id and status, and on payment status only when one is expected', () => {
    const booking = bookingDoc();
    expect(matches(bookingCasFilter(booking._id, { status: ['pending'] }), booking)).toBe(true);
    expect(matches(bookingCasFilter(booking._id, { status: ['scheduled'] }), booking)).toBe(false);
    expect(matches(bookingCasFilter(booking._id, { status: ['pending'], paymentStatus: ['unpaid'] }), booking)).toBe(
      true,
    );
    expect(matches(bookingCasFilter(booking._id, { status: ['pending'], paymentStatus: ['paid'] }), booking)).toBe(
      false,
    );
    expect(matches(bookingCasFilter(oid('64b0000000000000000000b9'), { status: ['pending'] }), booking)).toBe(false);
  });

  it('matches only while the booking is still on the expected slot, when one is expected (a reschedule)', () => {
    const booking = bookingDoc({ status: 'scheduled' });
    expect(matches(bookingCasFilter(booking._id, { status: ['scheduled'], scheduleId: oid(SLOT) }), booking)).toBe(
      true,
    );
    expect(matches(bookingCasFilter(booking._id, { status: ['scheduled'], scheduleId: oid(SLOT2) }), booking)).toBe(
      false,
    );
    // A concurrent move already took it to SLOT2: the second move, still expecting SLOT, matches nothing.
    const moved = updated(booking, bookingUpdate(bookingChangesToDocument({ scheduleId: SLOT2 }), null, NOW));
    expect(matches(bookingCasFilter(booking._id, { status: ['scheduled'], scheduleId: oid(SLOT) }), moved)).toBe(false);
    expect(bookingCasFilter(booking._id, { status: ['scheduled'] })).not.toHaveProperty('doctorScheduleId');
  });

  it('confirming sets status, payment status and clears the hold, keeps active true and appends history', () => {
    const booking = bookingDoc();
    const entry = historyToDocument({
      at: NOW,
      from: 'pending',
      to: 'scheduled',
      paymentStatus: 'paid',
      actor: { role: 'system', id: 'careslot' },
      reason: 'payment_succeeded',
    });
    const changes = bookingChangesToDocument({ status: 'scheduled', paymentStatus: 'paid', holdExpiresAt: null });
    const after = updated(booking, bookingUpdate(changes, entry, NOW));
    expect(after).toMatchObject({ status: 'scheduled', active: true, paymentStatus: 'paid', holdExpiresAt: null });
    expect(after.history).toHaveLength(2);
    expect(after.history[1]).toEqual(entry);
    expect(after.updatedAt).toEqual(NOW);
    expect(after.checkoutSessionId).toBe('cs_1');
  });

  it("cancelling turns active off in the same write, freeing the slot's unique place", () => {
    const booking = bookingDoc();
    const after = updated(booking, bookingUpdate(bookingChangesToDocument({ status: 'cancelled' }), null, NOW));
    expect(after).toMatchObject({ status: 'cancelled', active: false });
    expect(after.history).toEqual(booking.history);
    expect(matches(activeBookingFilter(booking.doctorScheduleId), after)).toBe(false);
  });

  it('leaves active alone when the status does not change', () => {
    const update = bookingUpdate(bookingChangesToDocument({ checkoutSessionId: 'cs_2', paymentUrl: null }), null, NOW);
    expect(update.$set).not.toHaveProperty('active');
    expect(update).not.toHaveProperty('$push');
  });

  it('moving a booking writes doctorScheduleId, so the active place moves with it', () => {
    const booking = bookingDoc({ status: 'scheduled' });
    const changes = bookingChangesToDocument({ scheduleId: SLOT2, slotStart: at(60), slotEnd: at(90) });
    const after = updated(booking, bookingUpdate(changes, null, NOW));
    expect(matches(activeBookingFilter(oid(SLOT)), after)).toBe(false);
    expect(matches(activeBookingFilter(oid(SLOT2)), after)).toBe(true);
  });

  it("finds the holder of a slot's active place, other than the booking being changed", () => {
    const holder = bookingDoc();
    const cancelled = bookingDoc({ _id: oid('64b0000000000000000000b2'), status: 'cancelled', active: false });
    expect(matches(activeBookingFilter(oid(SLOT)), holder)).toBe(true);
    expect(matches(activeBookingFilter(oid(SLOT)), cancelled)).toBe(false);
    expect(matches(activeBookingFilter(oid(SLOT), holder._id), holder)).toBe(false);
    expect(matches(activeBookingFilter(oid(SLOT2)), holder)).toBe(false);
  });

  it('finds a booking by (patient, idempotency key) only', () => {
    const booking = bookingDoc();
    expect(matches(idempotencyFilter(oid(PAT), 'req-1'), booking)).toBe(true);
    expect(matches(idempotencyFilter(oid(PAT2), 'req-1'), booking)).toBe(false);
    expect(matches(idempotencyFilter(oid(PAT), 'req-2'), booking)).toBe(false);
  });
});

describe('booking queries', () => {
  const held = bookingDoc({ holdExpiresAt: at(-1), createdAt: at(-10) });
  const free = bookingDoc({
    _id: oid('64b0000000000000000000b2'),
    patientId: oid(PAT2),
    status: 'scheduled',
    mode: 'free',
    holdExpiresAt: null,
    checkoutSessionId: null,
    idempotencyKey: null,
  });
  const found = (query: Parameters<typeof bookingQueryFilter>[0]) =>
    [held, free].filter((b) => matches(bookingQueryFilter(query, 'objectId').filter, b)).map((b) => b.mode);

  it("never matches a booking without a hold on holdExpiresBefore (the sweep's query)", () => {
    expect(found({ holdExpiresBefore: at(0) })).toEqual(['paid']);
    expect(found({ holdExpiresBefore: at(-1) })).toEqual(['paid']);
    expect(found({ holdExpiresBefore: at(-2) })).toEqual([]);
  });

  it('filters by patient, status lists, payment status, mode, session and creation time', () => {
    expect(found({ patientId: PAT2 })).toEqual(['free']);
    expect(found({ status: ['pending', 'scheduled'] })).toEqual(['paid', 'free']);
    expect(found({ paymentStatus: 'unpaid', mode: 'free' })).toEqual(['free']);
    expect(found({ checkoutSessionId: 'cs_1' })).toEqual(['paid']);
    expect(found({ createdBefore: at(-10) })).toEqual(['paid']);
    expect(found({ scheduleId: SLOT, doctorId: DOC })).toEqual(['paid', 'free']);
  });

  it('takes slotStartFrom as inclusive and slotStartBefore as exclusive', () => {
    const start = held.slotStart;
    const later = new Date(start.getTime() + 1);
    expect(found({ slotStartFrom: start })).toEqual(['paid', 'free']);
    expect(found({ slotStartFrom: later })).toEqual([]);
    expect(found({ slotStartBefore: later })).toEqual(['paid', 'free']);
    expect(found({ slotStartBefore: start })).toEqual([]);
    expect(() => bookingQueryFilter({ slotStartFrom: 'tomorrow' as unknown as Date }, 'objectId')).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    );
  });

  it('pages strictly after (createdAt, id), keeping createdBefore beside the keyset range', () => {
    // held: created at(-10), id b1; free: created T0, id b2; tie: created T0, id b3.
    const tie = { ...free, _id: oid('64b0000000000000000000b3'), mode: 'tie' as 'free' };
    const page = (query: Parameters<typeof bookingQueryFilter>[0]) =>
      [held, free, tie].filter((b) => matches(bookingQueryFilter(query, 'objectId').filter, b)).map((b) => b.mode);
    expect(page({ after: { createdAt: at(-10), id: held._id.toHexString() } })).toEqual(['free', 'tie']);
    expect(page({ after: { createdAt: free.createdAt, id: free._id.toHexString() } })).toEqual(['tie']);
    const both = bookingQueryFilter(
      { createdBefore: at(-5), after: { createdAt: at(-20), id: BOOKING } },
      'objectId',
    ).filter;
    expect(both.createdAt).toEqual({ $lte: at(-5), $gte: at(-20) });
    expect(page({ createdBefore: at(-5), after: { createdAt: at(-20), id: BOOKING } })).toEqual(['paid']);
    expect(() => bookingQueryFilter({ after: { createdAt: at(0), id: 'b1' } }, 'objectId')).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    );
  });
});

describe('reminder compare-and-set', () => {
  const scheduled = bookingDoc({ status: 'scheduled', remindersSent: ['1440:email'] });
  const id = scheduled._id;
  const start = scheduled.slotStart;

  it('matches only while scheduled on that slot start and without the key', () => {
    expect(matches(reminderFilter(id, '120:sms', start), scheduled)).toBe(true);
    expect(matches(reminderFilter(id, '1440:email', start), scheduled)).toBe(false);
    expect(matches(reminderFilter(id, '120:sms', at(999)), scheduled)).toBe(false);
    expect(matches(reminderFilter(id, '120:sms', start), { ...scheduled, status: 'no_show' })).toBe(false);
    expect(matches(reminderFilter(oid(SLOT2), '120:sms', start), scheduled)).toBe(false);
  });

  it('matches a booking written before careslot kept reminders (no remindersSent), and $push creates the array', () => {
    const { remindersSent: _, ...legacy } = scheduled;
    expect(matches(reminderFilter(id, '1440:email', start), legacy)).toBe(true);
    const after = updated(legacy as BookingDocument, reminderUpdate('1440:email', NOW));
    expect(after.remindersSent).toEqual(['1440:email']);
    expect(after.updatedAt).toEqual(NOW);
  });

  it('appends the key after those sent, and then no longer matches it', () => {
    const after = updated(scheduled, reminderUpdate('120:sms', NOW));
    expect(after.remindersSent).toEqual(['1440:email', '120:sms']);
    expect(matches(reminderFilter(id, '120:sms', start), after)).toBe(false);
  });
});

describe('payment refunds', () => {
  const refund = (status: 'pending' | 'succeeded', amount = 1000, id = 'r1') =>
    refundToDocument(refundRecord({ id, amount, status }));
  const payment = paymentToDocument(newPaymentTransaction(), T0);

  it('writes only over the version it read: a concurrent refund write makes the stale one match nothing', () => {
    expect(matches(paymentVersionFilter(payment._id, 0), payment)).toBe(true);
    const first = updated(payment, refundsUpdate(withRefund([], refund('pending')), 'succeeded', NOW));
    expect(first.__v).toBe(1);
    expect(matches(paymentVersionFilter(payment._id, 0), first)).toBe(false);
    expect(matches(paymentVersionFilter(payment._id, 1), first)).toBe(true);
  });

  it('matches documents written before careslot (no __v) on the absence of the version', () => {
    const { __v, ...legacy } = payment;
    expect(matches(paymentVersionFilter(payment._id, undefined), legacy)).toBe(true);
    expect(matches(paymentVersionFilter(payment._id, undefined), payment)).toBe(false);
    expect((updated(legacy, refundsUpdate([], 'succeeded', NOW)) as { __v?: number }).__v).toBe(1);
  });

  it('finds payments by booking (referenceId) and by the status of any of their refunds', () => {
    const withPending = { ...payment, refunds: [refund('succeeded', 500, 'r0'), refund('pending')] };
    expect(matches(paymentQueryFilter({ bookingId: '64b0000000000000000000b1' }).filter, payment)).toBe(true);
    expect(matches(paymentQueryFilter({ refundStatus: 'pending' }).filter, withPending)).toBe(true);
    expect(matches(paymentQueryFilter({ refundStatus: 'failed' }).filter, withPending)).toBe(false);
  });
});

describe('upserts and repairs', () => {
  it('inserts a payment customer only on insert: an existing mapping keeps its customer id', () => {
    const update = customerUpsertUpdate('cus_2', NOW);
    expect(Object.keys(update)).toEqual(['$setOnInsert']);
    expect(update.$setOnInsert).toMatchObject({ customerId: 'cus_2' });
  });

  it('writes the lock document on every lock, so concurrent lockers conflict', () => {
    const lock = { patientId: oid(PAT), locks: 3, lockedAt: T0 };
    expect(updated(lock, lockUpdate(NOW))).toEqual({ patientId: oid(PAT), locks: 4, lockedAt: NOW });
  });

  it("finds a patient's lock by patientId and a doctor's by doctorId, never each other's", () => {
    const patientLock = { patientId: oid(PAT), locks: 1, lockedAt: T0 };
    const doctorLock = { doctorId: oid(DOC), locks: 1, lockedAt: T0 };
    expect(matches(patientLockFilter(oid(PAT)), patientLock)).toBe(true);
    expect(matches(doctorLockFilter(oid(DOC)), doctorLock)).toBe(true);
    expect(matches(doctorLockFilter(oid(DOC)), patientLock)).toBe(false);
    expect(matches(doctorLockFilter(oid(PAT)), doctorLock)).toBe(false);
  });

  it('sets the active flag of legacy bookings from their status', () => {
    const legacy = [
      { status: 'pending' },
      { status: 'scheduled', active: false },
      { status: 'cancelled', active: true },
      { status: 'completed' },
      { status: 'no_show', active: true },
    ];
    const repaired = legacy.map((doc) =>
      activeFlagRepairs().reduce((d, r) => (matches(r.filter, d) ? updated(d, r.update) : d), doc as object),
    );
    expect(repaired.map((d) => (d as { active?: boolean }).active)).toEqual([true, true, false, false, false]);
  });
});
