// MemoryStore's sorted-index reads return exactly what a full scan returns, for random data, random writes (some rolled back) and random queries.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BookingQuery,
  type BookingStore,
  type LedgerQuery,
  MemoryStore,
  type OutboxQuery,
  type PaymentQuery,
  type ScheduleQuery,
  type StoreOperations,
} from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { at, ledgerEntry, newBooking, newPaymentTransaction, newSchedule, refundRecord } from '../support/records.js';

const DOCTORS = ['64b0000000000000000000d1', '64b0000000000000000000d2', '64b0000000000000000000d3'];
const PATIENTS = ['64b0000000000000000000a1', '64b0000000000000000000a2', '64b0000000000000000000a3'];
const SLOT_STATUSES = ['available', 'pending', 'booked', 'expired'] as const;
const BOOKING_STATUSES = ['pending', 'scheduled', 'cancelled', 'completed', 'no_show'] as const;
const PAYMENT_STATUSES = ['unpaid', 'paid', 'refunded'] as const;
const REFUND_STATUSES = ['pending', 'succeeded', 'failed'] as const;
const CONSUMERS = ['careslot:notifier', 'careslot:events'] as const;

/** One write step: picks (by index) among the records made so far. */
type Step =
  | { kind: 'slot'; doctor: number; start: number; length: number; status: number }
  | { kind: 'slotStatus'; pick: number; status: number }
  | { kind: 'deleteSlot'; pick: number }
  | { kind: 'booking'; patient: number; slot: number; status: number; pay: number; hold: number; session: boolean }
  | { kind: 'bookingStatus'; pick: number; status: number; pay: number; move: number }
  | { kind: 'payment'; booking: number; refunds: number[] }
  | { kind: 'ledger'; booking: number; debit: boolean; amount: number; currency: boolean }
  | { kind: 'outbox'; booking: number; consumer: number }
  | { kind: 'outboxState'; pick: number; to: 'claim' | 'complete' | 'fail' | 'dead' | 'redrive' }
  | { kind: 'tick'; minutes: number };

const pick = fc.nat({ max: 40 });
const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });
const step: fc.Arbitrary<Step> = fc.oneof(
  w(
    3,
    fc.record({
      kind: fc.constant('slot' as const),
      doctor: fc.nat({ max: 2 }),
      start: fc.integer({ min: -6, max: 12 }),
      length: fc.integer({ min: 1, max: 3 }),
      status: fc.nat({ max: 3 }),
    }),
  ),
  w(2, fc.record({ kind: fc.constant('slotStatus' as const), pick, status: fc.nat({ max: 3 }) })),
  w(1, fc.record({ kind: fc.constant('deleteSlot' as const), pick })),
  w(
    4,
    fc.record({
      kind: fc.constant('booking' as const),
      patient: fc.nat({ max: 2 }),
      slot: pick,
      status: fc.nat({ max: 4 }),
      pay: fc.nat({ max: 2 }),
      hold: fc.integer({ min: -3, max: 3 }),
      session: fc.boolean(),
    }),
  ),
  w(
    4,
    fc.record({
      kind: fc.constant('bookingStatus' as const),
      pick,
      status: fc.nat({ max: 4 }),
      pay: fc.nat({ max: 2 }),
      move: fc.integer({ min: -1, max: 40 }),
    }),
  ),
  w(
    2,
    fc.record({
      kind: fc.constant('payment' as const),
      booking: pick,
      refunds: fc.array(fc.nat({ max: 2 }), { maxLength: 3 }),
    }),
  ),
  w(
    3,
    fc.record({
      kind: fc.constant('ledger' as const),
      booking: pick,
      debit: fc.boolean(),
      amount: fc.integer({ min: 1, max: 9000 }),
      currency: fc.boolean(),
    }),
  ),
  w(
    3,
    fc.record({
      kind: fc.constant('outbox' as const),
      booking: fc.integer({ min: -1, max: 40 }),
      consumer: fc.nat({ max: 1 }),
    }),
  ),
  w(
    3,
    fc.record({
      kind: fc.constant('outboxState' as const),
      pick,
      to: fc.constantFrom('claim', 'complete', 'fail', 'dead', 'redrive') as fc.Arbitrary<
        'claim' | 'complete' | 'fail' | 'dead' | 'redrive'
      >,
    }),
  ),
  w(2, fc.record({ kind: fc.constant('tick' as const), minutes: fc.constantFrom(0, 0, 1, 30) })),
);

/** What every run starts from (committed): 12 slots of the three doctors, each with a booking. */
const BASE: Step[] = Array.from({ length: 12 }, (_, i): Step[] => [
  { kind: 'slot', doctor: i % 3, start: (i % 7) - 3, length: 1 + (i % 2), status: 0 },
  { kind: 'booking', patient: i % 3, slot: i, status: i % 5, pay: i % 3, hold: (i % 5) - 2, session: i % 2 === 0 },
  { kind: 'tick', minutes: i % 3 === 0 ? 1 : 0 },
]).flat();

/** A batch of steps in one transaction, which may be made to throw (a rollback). */
const batch = fc.record({ steps: fc.array(step, { minLength: 1, maxLength: 8 }), rollback: fc.boolean() });

interface Made {
  slots: string[];
  bookings: string[];
  payments: string[];
  outbox: string[];
  seq: number;
}

const nth = <T>(items: readonly T[], i: number): T | undefined =>
  items.length === 0 ? undefined : items[i % items.length];

async function apply(tx: StoreOperations, s: Step, made: Made, clock: ManualClock): Promise<void> {
  const n = made.seq++;
  switch (s.kind) {
    case 'tick':
      clock.advanceMinutes(s.minutes);
      return;
    case 'slot': {
      const slot = await tx.insertSchedule(
        newSchedule({
          doctorId: DOCTORS[s.doctor],
          startTime: at(s.start * 30),
          endTime: at(s.start * 30 + s.length * 30),
          status: SLOT_STATUSES[s.status] as (typeof SLOT_STATUSES)[number],
        }),
      );
      made.slots.push(slot.id);
      return;
    }
    case 'slotStatus': {
      const id = nth(made.slots, s.pick);
      if (id)
        await tx.updateScheduleIf({
          id,
          expectedStatus: [...SLOT_STATUSES],
          set: { status: SLOT_STATUSES[s.status] as (typeof SLOT_STATUSES)[number] },
        });
      return;
    }
    case 'deleteSlot': {
      const id = nth(made.slots, s.pick);
      const slot = id ? await tx.getSchedule(id) : null;
      if (slot) await tx.deleteSchedulesIf({ ids: [slot.id], expectedStatus: slot.status });
      return;
    }
    case 'booking': {
      const slotId = nth(made.slots, s.slot);
      const slot = slotId ? await tx.getSchedule(slotId) : null;
      if (!slot) return;
      const booking = await tx.insertBooking(
        newBooking({
          patientId: PATIENTS[s.patient],
          doctorId: slot.doctorId,
          scheduleId: slot.id,
          slotStart: slot.startTime,
          slotEnd: slot.endTime,
          status: BOOKING_STATUSES[s.status],
          paymentStatus: PAYMENT_STATUSES[s.pay],
          holdExpiresAt: s.hold === 0 ? null : at(s.hold * 15),
          checkoutSessionId: s.session ? `cs_${n % 5}` : null,
          mode: s.pay === 0 ? 'free' : 'paid',
        }),
      );
      if (booking) made.bookings.push(booking.id);
      return;
    }
    case 'bookingStatus': {
      const id = nth(made.bookings, s.pick);
      const target = s.move < 0 ? undefined : nth(made.slots, s.move);
      const slot = target ? await tx.getSchedule(target) : null;
      if (id) {
        await tx.updateBookingIf({
          id,
          expectedStatus: [...BOOKING_STATUSES],
          set: {
            status: BOOKING_STATUSES[s.status],
            paymentStatus: PAYMENT_STATUSES[s.pay],
            ...(slot ? { scheduleId: slot.id, slotStart: slot.startTime, slotEnd: slot.endTime } : {}),
            ...(s.status === 1 ? { holdExpiresAt: null, checkoutSessionId: null } : {}),
          },
          history: {
            at: clock.now(),
            from: null,
            to: BOOKING_STATUSES[s.status] as (typeof BOOKING_STATUSES)[number],
            paymentStatus: 'paid',
            actor: { role: 'system', id: 'careslot' },
            reason: null,
          },
        });
      }
      return;
    }
    case 'payment': {
      const bookingId = nth(made.bookings, s.booking);
      if (!bookingId) return;
      const payment = await tx.insertPaymentTransaction(
        newPaymentTransaction({ bookingId, providerPaymentId: `pi_${n}`, checkoutSessionId: null }),
      );
      if (!payment) return;
      made.payments.push(payment.id);
      for (const [i, status] of s.refunds.entries()) {
        await tx.upsertRefund({
          paymentTransactionId: payment.id,
          refund: refundRecord({ id: `r${n}_${i % 2}`, status: REFUND_STATUSES[status] }),
        });
      }
      return;
    }
    case 'ledger': {
      const bookingId = nth(made.bookings, s.booking);
      const booking = bookingId ? await tx.getBooking(bookingId) : null;
      if (!booking) return;
      await tx.appendLedgerEntry(
        ledgerEntry({
          key: `${s.debit ? 'refund' : 'credit'}:${n % 7}:${booking.id}`,
          doctorId: booking.doctorId,
          bookingId: booking.id,
          kind: s.debit ? 'debit' : 'credit',
          amount: s.amount,
          currency: s.currency ? 'usd' : 'eur',
          createdAt: clock.now(),
        }),
      );
      return;
    }
    case 'outbox': {
      const bookingId = s.booking < 0 ? null : (nth(made.bookings, s.booking) ?? null);
      const eventId = `evt_${String(n).padStart(4, '0')}`;
      const consumer = CONSUMERS[s.consumer] as string;
      await tx.appendOutbox([
        {
          key: `${eventId}/${consumer}`,
          eventId,
          consumer,
          type: 'booking.confirmed',
          bookingId,
          scheduleId: null,
          payload: { n },
          version: 1,
          createdAt: clock.now(),
        },
      ]);
      made.outbox.push(`${eventId}/${consumer}`);
      return;
    }
    case 'outboxState': {
      const key = nth(made.outbox, s.pick);
      if (!key) return;
      const consumer = key.slice(key.indexOf('/') + 1);
      const now = clock.now();
      if (s.to === 'claim') {
        await tx.claimOutbox({ consumer, owner: 'o', now, leaseUntil: at(10_000), limit: 2 });
      } else if (s.to === 'complete') {
        await tx.claimOutbox({ consumer, owner: 'o', now, leaseUntil: now, limit: 50, keys: [key] });
        await tx.completeOutbox({ key, owner: 'o', at: now });
      } else if (s.to === 'fail' || s.to === 'dead') {
        await tx.claimOutbox({ consumer, owner: 'o', now, leaseUntil: now, limit: 50, keys: [key] });
        await tx.failOutbox({ key, owner: 'o', error: 'x', retryAt: s.to === 'dead' ? null : now });
      } else {
        await tx.redriveOutbox({ key, at: now });
      }
      return;
    }
  }
}

const times = [-200, -90, -45, -15, 0, 1, 15, 30, 60, 120, 240, 400].map((m) => at(m));
const oneTime = fc.constantFrom(...times);

function scheduleQuery(made: Made): fc.Arbitrary<ScheduleQuery> {
  return fc.record(
    {
      doctorId: fc.constantFrom(...DOCTORS),
      status: fc.oneof(fc.constantFrom(...SLOT_STATUSES), fc.subarray([...SLOT_STATUSES], { minLength: 1 })),
      startFrom: oneTime,
      startBefore: oneTime,
      endBefore: oneTime,
      endAfter: oneTime,
      after: fc.record({ startTime: oneTime, id: fc.constantFrom('', 'f', ...made.slots.slice(0, 5)) }),
      limit: fc.nat({ max: 6 }),
    },
    { requiredKeys: [] },
  );
}

function bookingQuery(made: Made): fc.Arbitrary<BookingQuery> {
  return fc.record(
    {
      patientId: fc.constantFrom(...PATIENTS),
      doctorId: fc.constantFrom(...DOCTORS),
      scheduleId: fc.constantFrom('none', ...made.slots.slice(0, 8)),
      checkoutSessionId: fc.constantFrom('cs_0', 'cs_1', 'cs_2'),
      status: fc.oneof(fc.constantFrom(...BOOKING_STATUSES), fc.subarray([...BOOKING_STATUSES], { minLength: 1 })),
      paymentStatus: fc.constantFrom(...PAYMENT_STATUSES),
      mode: fc.constantFrom('free' as const, 'paid' as const),
      holdExpiresBefore: oneTime,
      createdBefore: oneTime,
      slotStartFrom: oneTime,
      slotStartBefore: oneTime,
      after: fc.record({ createdAt: oneTime, id: fc.constantFrom('', 'f', ...made.bookings.slice(0, 5)) }),
      limit: fc.nat({ max: 6 }),
    },
    { requiredKeys: [] },
  );
}

const ledgerQuery = (made: Made): fc.Arbitrary<LedgerQuery> =>
  fc.record(
    {
      doctorId: fc.constantFrom(...DOCTORS),
      bookingId: fc.constantFrom('none', ...made.bookings.slice(0, 6)),
      after: fc.record({ createdAt: oneTime, id: fc.constantFrom('', 'f') }),
      limit: fc.nat({ max: 6 }),
    },
    { requiredKeys: [] },
  );

const paymentQuery = (made: Made): fc.Arbitrary<PaymentQuery> =>
  fc.record(
    {
      bookingId: fc.constantFrom('none', ...made.bookings.slice(0, 6)),
      refundStatus: fc.constantFrom(...REFUND_STATUSES),
      after: fc.record({ createdAt: oneTime, id: fc.constantFrom('', 'f') }),
      limit: fc.nat({ max: 6 }),
    },
    { requiredKeys: [] },
  );

const outboxQuery = (made: Made): fc.Arbitrary<OutboxQuery> =>
  fc.record(
    {
      consumer: fc.constantFrom(...CONSUMERS),
      status: fc.constantFrom('pending' as const, 'delivered' as const, 'dead' as const),
      bookingId: fc.constantFrom('none', ...made.bookings.slice(0, 6)),
      before: fc.record({ createdAt: oneTime, key: fc.constantFrom('', 'evt_0010', 'z') }),
      after: fc.record({ createdAt: oneTime, key: fc.constantFrom('', 'evt_0010', 'z') }),
      limit: fc.nat({ max: 6 }),
    },
    { requiredKeys: [] },
  );

async function build(store: BookingStore, clock: ManualClock, batches: { steps: Step[]; rollback: boolean }[]) {
  const made: Made = { slots: [], bookings: [], payments: [], outbox: [], seq: 0 };
  for (const b of batches) {
    const before: Made = {
      ...made,
      slots: [...made.slots],
      bookings: [...made.bookings],
      payments: [...made.payments],
      outbox: [...made.outbox],
    };
    try {
      await store.transaction(async (tx) => {
        for (const s of b.steps) await apply(tx, s, made, clock);
        if (b.rollback) throw new Error('rollback');
      });
    } catch (error) {
      if (!(error instanceof Error) || error.message !== 'rollback') throw error;
      Object.assign(made, {
        slots: before.slots,
        bookings: before.bookings,
        payments: before.payments,
        outbox: before.outbox,
      });
    }
  }
  return made;
}

describe('MemoryStore sorted-index reads', () => {
  for (const isolation of ['serializable', 'snapshot'] as const) {
    it(`return what a scan returns, after random writes and rollbacks (${isolation})`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(batch, { minLength: 5, maxLength: 25 }), fc.integer(), async (batches, seed) => {
          const clock = new ManualClock(at(-240));
          const store = new MemoryStore({ clock, isolation });
          const made = await build(store, clock, [{ steps: BASE, rollback: false }, ...batches]);
          // The reference: every record, filtered and sorted here by the port's documented rules.
          const sample = <T>(arb: fc.Arbitrary<T>) => fc.sample(arb, { numRuns: 25, seed });
          const reference = await referenceOf(store);
          for (const q of sample(scheduleQuery(made))) {
            expect(await store.findSchedules(q), JSON.stringify(q)).toEqual(reference.schedules(q));
            // Inside a transaction: the same indexes (serializable) or a scan of the snapshot (snapshot).
            expect(await store.transaction((tx) => tx.findSchedules(q)), JSON.stringify(q)).toEqual(
              reference.schedules(q),
            );
          }
          for (const q of sample(bookingQuery(made))) {
            expect(await store.findBookings(q), JSON.stringify(q)).toEqual(reference.bookings(q));
            expect(await store.transaction((tx) => tx.findBookings(q)), JSON.stringify(q)).toEqual(
              reference.bookings(q),
            );
            const { limit: _limit, ...all } = q;
            expect(await store.countBookings(q), JSON.stringify(q)).toBe(reference.bookings(all).length);
          }
          // Every partition of every index, read alone: a missing, extra or stale entry in any shows.
          const byKey: BookingQuery[] = [
            ...DOCTORS.map((doctorId) => ({ doctorId })),
            ...PATIENTS.map((patientId) => ({ patientId })),
            ...made.slots.map((scheduleId) => ({ scheduleId })),
            ...['cs_0', 'cs_1', 'cs_2'].map((checkoutSessionId) => ({ checkoutSessionId })),
            ...BOOKING_STATUSES.map((status) => ({ status })),
            ...BOOKING_STATUSES.map((status) => ({ status, slotStartFrom: at(-1_000), slotStartBefore: at(1_000) })),
          ];
          for (const q of byKey) expect(await store.findBookings(q), JSON.stringify(q)).toEqual(reference.bookings(q));
          const linesByKey: LedgerQuery[] = [
            ...DOCTORS.map((doctorId) => ({ doctorId })),
            ...made.bookings.map((bookingId) => ({ bookingId })),
          ];
          for (const q of linesByKey) {
            expect(await store.findLedgerEntries(q), JSON.stringify(q)).toEqual(reference.ledger(q));
          }
          for (const q of sample(ledgerQuery(made))) {
            expect(await store.findLedgerEntries(q), JSON.stringify(q)).toEqual(reference.ledger(q));
          }
          for (const q of sample(paymentQuery(made))) {
            expect(await store.findPaymentTransactions(q), JSON.stringify(q)).toEqual(reference.payments(q));
          }
          for (const q of sample(outboxQuery(made))) {
            expect(await store.findOutbox(q), JSON.stringify(q)).toEqual(reference.outbox(q));
            expect(await store.transaction((tx) => tx.findOutbox(q)), JSON.stringify(q)).toEqual(reference.outbox(q));
          }
          for (const doctorId of DOCTORS) {
            const sums: Record<string, number> = {};
            for (const e of reference.ledger({ doctorId })) {
              sums[e.currency] = (sums[e.currency] ?? 0) + (e.kind === 'credit' ? e.amount : -e.amount);
            }
            expect(await store.ledgerBalances({ doctorId })).toEqual(sums);
          }
        }),
        { numRuns: 100 },
      );
    });
  }
});

const cmp = (a: number, b: number, x: string, y: string) => a - b || (x < y ? -1 : x > y ? 1 : 0);
const within = <T>(v: T | readonly T[], actual: T) =>
  Array.isArray(v) ? (v as readonly T[]).includes(actual) : v === actual;
const limited = <T>(rows: T[], limit: number | undefined) => (limit === undefined ? rows : rows.slice(0, limit));

/**
 * The expected answer to every query, computed here from all records. The records are the
 * unfiltered reads, checked first to hold exactly the keys of the store's primary tables (so no
 * row is missing from, or left behind in, an index).
 */
async function referenceOf(store: MemoryStore) {
  const tables = (store as unknown as { tables: Record<string, Map<string, unknown>> }).tables;
  const slots = (await store.findSchedules({})).sort((a, b) =>
    cmp(a.startTime.getTime(), b.startTime.getTime(), a.id, b.id),
  );
  const bookings = await store.findBookings({});
  // Each booking as its row is (by id, no index): an index that kept an older row shows.
  const current = await Promise.all([...(tables.bookings?.keys() ?? [])].map((id) => store.getBooking(id)));
  expect(bookings).toEqual(
    current.sort((x, y) => cmp(x?.createdAt.getTime() ?? 0, y?.createdAt.getTime() ?? 0, x?.id ?? '', y?.id ?? '')),
  );
  const ledger = await store.findLedgerEntries({});
  const payments = await store.findPaymentTransactions({});
  const outbox = await store.findOutbox({});
  // The unfiltered reads must hold every row of the primary tables: nothing missing from an index.
  expect(slots.map((s) => s.id).sort()).toEqual([...(tables.schedules?.keys() ?? [])].sort());
  expect(bookings.map((b) => b.id).sort()).toEqual([...(tables.bookings?.keys() ?? [])].sort());
  expect(ledger.map((e) => e.id).sort()).toEqual([...(tables.ledger?.keys() ?? [])].sort());
  expect(payments.map((p) => p.id).sort()).toEqual([...(tables.payments?.keys() ?? [])].sort());
  expect(outbox.map((r) => r.key).sort()).toEqual([...(tables.outbox?.keys() ?? [])].sort());
  return {
    schedules: (q: ScheduleQuery) =>
      limited(
        slots
          .filter(
            (s) =>
              (q.doctorId === undefined || s.doctorId === q.doctorId) &&
              (q.status === undefined || within(q.status, s.status)) &&
              (q.startFrom === undefined || s.startTime >= q.startFrom) &&
              (q.startBefore === undefined || s.startTime < q.startBefore) &&
              (q.endBefore === undefined || s.endTime <= q.endBefore) &&
              (q.endAfter === undefined || s.endTime > q.endAfter) &&
              (q.after === undefined || cmp(s.startTime.getTime(), q.after.startTime.getTime(), s.id, q.after.id) > 0),
          )
          .sort((a, b) => cmp(a.startTime.getTime(), b.startTime.getTime(), a.id, b.id)),
        q.limit,
      ),
    bookings: (q: BookingQuery) =>
      limited(
        bookings
          .filter(
            (b) =>
              (q.patientId === undefined || b.patientId === q.patientId) &&
              (q.doctorId === undefined || b.doctorId === q.doctorId) &&
              (q.scheduleId === undefined || b.scheduleId === q.scheduleId) &&
              (q.checkoutSessionId === undefined || b.checkoutSessionId === q.checkoutSessionId) &&
              (q.status === undefined || within(q.status, b.status)) &&
              (q.paymentStatus === undefined || within(q.paymentStatus, b.paymentStatus)) &&
              (q.mode === undefined || b.mode === q.mode) &&
              (q.holdExpiresBefore === undefined ||
                (b.holdExpiresAt !== null && b.holdExpiresAt <= q.holdExpiresBefore)) &&
              (q.createdBefore === undefined || b.createdAt <= q.createdBefore) &&
              (q.slotStartFrom === undefined || b.slotStart >= q.slotStartFrom) &&
              (q.slotStartBefore === undefined || b.slotStart < q.slotStartBefore) &&
              (q.after === undefined || cmp(b.createdAt.getTime(), q.after.createdAt.getTime(), b.id, q.after.id) > 0),
          )
          .sort((a, b) => cmp(a.createdAt.getTime(), b.createdAt.getTime(), a.id, b.id)),
        q.limit,
      ),
    ledger: (q: LedgerQuery) =>
      limited(
        ledger
          .filter(
            (e) =>
              (q.doctorId === undefined || e.doctorId === q.doctorId) &&
              (q.bookingId === undefined || e.bookingId === q.bookingId) &&
              (q.after === undefined || cmp(e.createdAt.getTime(), q.after.createdAt.getTime(), e.id, q.after.id) > 0),
          )
          .sort((a, b) => cmp(a.createdAt.getTime(), b.createdAt.getTime(), a.id, b.id)),
        q.limit,
      ),
    payments: (q: PaymentQuery) =>
      limited(
        payments
          .filter(
            (p) =>
              (q.bookingId === undefined || p.bookingId === q.bookingId) &&
              (q.refundStatus === undefined || p.refunds.some((r) => r.status === q.refundStatus)) &&
              (q.after === undefined || cmp(p.createdAt.getTime(), q.after.createdAt.getTime(), p.id, q.after.id) > 0),
          )
          .sort((a, b) => cmp(a.createdAt.getTime(), b.createdAt.getTime(), a.id, b.id)),
        q.limit,
      ),
    outbox: (q: OutboxQuery) =>
      limited(
        outbox
          .filter(
            (r) =>
              (q.consumer === undefined || r.consumer === q.consumer) &&
              (q.status === undefined || r.status === q.status) &&
              (q.bookingId === undefined || r.bookingId === q.bookingId) &&
              (q.before === undefined ||
                cmp(r.createdAt.getTime(), q.before.createdAt.getTime(), r.key, q.before.key) < 0) &&
              (q.after === undefined ||
                cmp(r.createdAt.getTime(), q.after.createdAt.getTime(), r.key, q.after.key) > 0),
          )
          .sort((a, b) => cmp(a.createdAt.getTime(), b.createdAt.getTime(), a.key, b.key)),
        q.limit,
      ),
  };
}
