// The invariant checker catches each kind of violation on hand-corrupted records, and fails an engine test that leaves one.
import { describe, expect, it } from 'vitest';
import type {
  AvailabilityRecord,
  Booking,
  LedgerEntry,
  PaymentTransaction,
  Schedule,
  TimeOff,
} from '../../src/index.js';
import { autocommit } from '../support/autocommit.js';
import { createFixture, DOCTOR, PATIENTS } from '../support/engine-fixture.js';
import { findViolations, type InvariantReads } from '../support/invariants.js';
import { refundRecord } from '../support/records.js';

interface Records {
  schedules: Schedule[];
  bookings: Booking[];
  payments: PaymentTransaction[];
  ledger: LedgerEntry[];
  timeOff: TimeOff[];
  availability: AvailabilityRecord[];
  /** The store's running totals per doctor; absent: the sums of the ledger lines (a consistent store). */
  balances?: Record<string, Record<string, number>>;
}

/** A read-only store over plain records, so a test can corrupt them in ways no store would accept. */
function storeOf(records: Records): InvariantReads {
  return {
    findSchedules: async () => structuredClone(records.schedules),
    findBookings: async () => structuredClone(records.bookings),
    findPaymentTransactions: async (q) =>
      structuredClone(records.payments.filter((p) => q.bookingId === undefined || p.bookingId === q.bookingId)),
    findLedgerEntries: async (q) =>
      structuredClone(records.ledger.filter((e) => q.doctorId === undefined || e.doctorId === q.doctorId)),
    findTimeOff: async (q) => structuredClone(records.timeOff.filter((t) => t.doctorId === q.doctorId)),
    findAvailability: async (q) => structuredClone(records.availability.filter((a) => a.doctorId === q.doctorId)),
    ledgerBalances: async ({ doctorId }) => {
      const kept = records.balances?.[doctorId];
      if (kept) return { ...kept };
      const sums: Record<string, number> = {};
      for (const e of records.ledger.filter((line) => line.doctorId === doctorId)) {
        sums[e.currency] = (sums[e.currency] ?? 0) + (e.kind === 'credit' ? e.amount : -e.amount);
      }
      return sums;
    },
  };
}

/**
 * A consistent store the engine built, as records: a paid booking refunded in part, a pending
 * hold, a free booking, a free slot, and a started slot whose booking was cancelled after its
 * start (it stays booked by that patient).
 */
async function world() {
  const f = createFixture();
  const started = await f.slot(60);
  const startedBooking = (await f.engine.book({ patientId: PATIENTS.standard, scheduleId: started.id })).booking;
  await f.engine.handlePaymentEvent(f.gateway.pay(f.gateway.sessionForBooking(startedBooking.id)?.id ?? ''));
  f.clock.advanceMinutes(70);
  await f.engine.cancelBooking({ bookingId: startedBooking.id, actor: { role: 'patient', id: PATIENTS.standard } });

  const paid = await f.slot(48 * 60);
  const paidBooking = (await f.engine.book({ patientId: PATIENTS.standard, scheduleId: paid.id })).booking;
  await f.engine.handlePaymentEvent(f.gateway.pay(f.gateway.sessionForBooking(paidBooking.id)?.id ?? ''));
  await f.engine.refund({ bookingId: paidBooking.id, amount: 1000 });
  const held = await f.slot(72 * 60);
  const heldBooking = (await f.engine.book({ patientId: PATIENTS.other, scheduleId: held.id })).booking;
  const free = await f.slot(96 * 60);
  const freeBooking = (await f.engine.book({ patientId: PATIENTS.vise, scheduleId: free.id })).booking;
  const open = await f.slot(120 * 60);

  const records: Records = {
    schedules: await f.store.findSchedules({}),
    bookings: await f.store.findBookings({}),
    payments: await f.store.findPaymentTransactions({}),
    ledger: await f.store.findLedgerEntries({}),
    timeOff: [],
    availability: [],
  };
  const slot = (id: string) => records.schedules.find((s) => s.id === id) as Schedule;
  const booking = (id: string) => records.bookings.find((b) => b.id === id) as Booking;
  const paymentOf = (b: Booking) => records.payments.find((p) => p.id === b.paymentTransactionId) as PaymentTransaction;
  const violations = () => findViolations(storeOf(records), { now: f.clock.now() });
  return {
    records,
    violations,
    paid: { slot: slot(paid.id), booking: booking(paidBooking.id), payment: paymentOf(booking(paidBooking.id)) },
    held: { slot: slot(held.id), booking: booking(heldBooking.id) },
    free: { slot: slot(free.id), booking: booking(freeBooking.id) },
    started: { slot: slot(started.id), booking: booking(startedBooking.id) },
    open: slot(open.id),
  };
}

const oneOf = (pattern: RegExp) => expect.arrayContaining([expect.stringMatching(pattern)]);

describe('findViolations', () => {
  it('finds nothing in a store the engine left consistent, a started slot booked by a cancelled booking included', async () => {
    const w = await world();
    expect(w.started.slot).toMatchObject({ status: 'booked', bookedBy: PATIENTS.standard });
    expect(w.started.booking.status).toBe('cancelled');
    expect(w.paid.booking).toMatchObject({ paymentStatus: 'partially_refunded', amountRefunded: 1000 });
    expect(w.records.ledger.map((e) => e.kind).sort()).toEqual(['credit', 'credit', 'debit']);
    expect(await w.violations()).toEqual([]);
  });

  describe('slots and their bookings', () => {
    it('reports a second active booking on one slot', async () => {
      const w = await world();
      w.records.bookings.push({ ...structuredClone(w.held.booking), id: '64b0000000000000000000e1' });
      expect(await w.violations()).toEqual(oneOf(new RegExp(`slot ${w.held.slot.id} has 2 active bookings`)));
    });

    it('reports an active booking whose slot is gone', async () => {
      const w = await world();
      w.records.schedules = w.records.schedules.filter((s) => s.id !== w.held.slot.id);
      expect(await w.violations()).toEqual(oneOf(/booking .* is pending on a missing slot/));
    });

    it('reports a pending slot without a pending booking', async () => {
      const w = await world();
      w.open.status = 'pending';
      expect(await w.violations()).toEqual([`slot ${w.open.id} is pending without a pending booking`]);
    });

    it('reports a pending slot whose active booking is scheduled', async () => {
      const w = await world();
      w.free.slot.status = 'pending';
      expect(await w.violations()).toEqual(oneOf(new RegExp(`slot ${w.free.slot.id} is pending without a pending`)));
    });

    it('reports a future booked slot whose booking is no longer active', async () => {
      const w = await world();
      w.free.booking.status = 'cancelled';
      w.free.booking.history.push({
        ...structuredClone(w.free.booking.history[0]),
        from: 'scheduled',
        to: 'cancelled',
      } as Booking['history'][number]);
      expect(await w.violations()).toEqual([`future slot ${w.free.slot.id} is booked without a scheduled booking`]);
    });

    it('reports a booked slot whose active booking is still pending', async () => {
      const w = await world();
      w.held.slot.status = 'booked';
      w.held.slot.bookedBy = w.held.booking.patientId;
      expect(await w.violations()).toEqual([
        `slot ${w.held.slot.id} is booked but its active booking ${w.held.booking.id} is pending`,
      ]);
    });

    it('reports a booked slot whose booked_by is not its booking’s patient, or is missing', async () => {
      const w = await world();
      w.free.slot.bookedBy = PATIENTS.other;
      w.paid.slot.bookedBy = null;
      expect(await w.violations()).toEqual([
        `slot ${w.paid.slot.id} is booked without booked_by`,
        `slot ${w.paid.slot.id} booked_by mismatch`,
        `slot ${w.free.slot.id} booked_by mismatch`,
      ]);
    });

    it('reports a started booked slot whose patient has no booking of it', async () => {
      const w = await world();
      w.started.slot.bookedBy = PATIENTS.other;
      expect(await w.violations()).toEqual([
        `started slot ${w.started.slot.id} is booked by ${PATIENTS.other} who has no booking of it`,
      ]);
    });

    it('reports an available slot that a booking holds, or that keeps booked_by', async () => {
      const w = await world();
      w.free.slot.status = 'available';
      w.open.bookedBy = PATIENTS.standard;
      expect(await w.violations()).toEqual([
        `slot ${w.free.slot.id} is available but booking ${w.free.booking.id} holds it`,
        `slot ${w.free.slot.id} is available but booked_by is ${PATIENTS.vise}`,
        `slot ${w.open.id} is available but booked_by is ${PATIENTS.standard}`,
      ]);
    });

    it('reports an expired slot that an active booking still holds', async () => {
      const w = await world();
      w.free.slot.status = 'expired';
      expect(await w.violations()).toEqual([
        `slot ${w.free.slot.id} is expired but booking ${w.free.booking.id} is still scheduled`,
      ]);
    });
  });

  describe('slot times', () => {
    it('reports a slot that does not end after it starts', async () => {
      const w = await world();
      w.open.endTime = new Date(w.open.startTime);
      expect(await w.violations()).toEqual(oneOf(new RegExp(`slot ${w.open.id} ends at .*, not after its start`)));
    });

    it('reports two live slots of one doctor that overlap, but not expired or back-to-back ones or other doctors', async () => {
      const w = await world();
      const near = (id: string, minutes: number, patch: Partial<Schedule> = {}): Schedule => ({
        ...structuredClone(w.open),
        id,
        startTime: new Date(w.open.startTime.getTime() + minutes * 60_000),
        endTime: new Date(w.open.endTime.getTime() + minutes * 60_000),
        ...patch,
      });
      w.records.schedules.push(
        near('64b0000000000000000000e1', 30), // starts as the open slot ends
        near('64b0000000000000000000e2', -30), // ends as the open slot starts
        near('64b0000000000000000000e3', 10, { status: 'expired' }),
        near('64b0000000000000000000e4', 10, { doctorId: '64b0000000000000000000d9' }),
      );
      expect(await w.violations()).toEqual([]);
      // Inside the open slot, touching neither neighbour.
      w.records.schedules.push(
        near('64b0000000000000000000e5', 5, { endTime: new Date(w.open.startTime.getTime() + 25 * 60_000) }),
      );
      expect(await w.violations()).toEqual([
        `doctor ${DOCTOR} has overlapping live slots ${w.open.id} and 64b0000000000000000000e5`,
      ]);
    });

    it('reports a slot inside a longer one even when a shorter slot sits between them', async () => {
      const w = await world();
      const long = { ...structuredClone(w.open), id: '64b0000000000000000000e1' };
      long.startTime = new Date(w.open.startTime.getTime() - 60 * 60_000);
      long.endTime = new Date(w.open.startTime.getTime() + 120 * 60_000);
      w.open.startTime = new Date(w.open.startTime.getTime() + 60 * 60_000);
      w.open.endTime = new Date(w.open.startTime.getTime() + 30 * 60_000);
      w.records.schedules.push(long);
      expect(await w.violations()).toEqual([`doctor ${DOCTOR} has overlapping live slots ${long.id} and ${w.open.id}`]);
    });
  });

  describe('money', () => {
    it('reports a ledger key written twice', async () => {
      const w = await world();
      const credit = w.records.ledger.find((e) => e.key === `credit:${w.paid.booking.id}`) as LedgerEntry;
      w.records.ledger.push({ ...credit, id: '64b0000000000000000000e1' });
      expect(await w.violations()).toEqual(oneOf(new RegExp(`ledger key credit:${w.paid.booking.id} appears 2 times`)));
    });

    it('reports a wallet that is not credits minus debits of what was paid and refunded, per currency', async () => {
      const w = await world();
      const debit = w.records.ledger.find((e) => e.kind === 'debit') as LedgerEntry;
      debit.currency = 'usd';
      expect(await w.violations()).toEqual([
        `doctor ${DOCTOR} wallet 10000 eur != paid minus refunded 9000 eur`,
        `doctor ${DOCTOR} wallet -1000 usd != paid minus refunded 0 usd`,
      ]);
    });

    it("reports a store's running total that is not the sum of the doctor's ledger lines", async () => {
      const w = await world();
      w.records.balances = { [DOCTOR]: { eur: 9001, usd: 5 } };
      expect(await w.violations()).toEqual([
        `doctor ${DOCTOR} running total 9001 eur != sum of lines 9000 eur`,
        `doctor ${DOCTOR} running total 5 usd != sum of lines 0 usd`,
      ]);
      w.records.balances = { [DOCTOR]: {} };
      expect(await w.violations()).toEqual([`doctor ${DOCTOR} running total absent eur != sum of lines 9000 eur`]);
    });

    it('reports a missing credit for a credited payment', async () => {
      const w = await world();
      w.records.ledger = w.records.ledger.filter((e) => e.key !== `credit:${w.paid.booking.id}`);
      expect(await w.violations()).toEqual([`doctor ${DOCTOR} wallet 4000 eur != paid minus refunded 9000 eur`]);
    });

    it('reports a payment refunded beyond what was paid', async () => {
      const w = await world();
      w.paid.payment.refunds.push(refundRecord({ id: 'extra', amount: 4500, status: 'succeeded' }));
      expect(await w.violations()).toEqual(oneOf(new RegExp(`payment ${w.paid.payment.id} refunded 5500 of 5000`)));
    });

    it('reports pending and succeeded refunds together above what was paid', async () => {
      const w = await world();
      w.paid.payment.refunds.push(refundRecord({ id: 'extra', amount: 4500, status: 'pending' }));
      expect(await w.violations()).toEqual([`payment ${w.paid.payment.id} has 5500 refunded or pending of 5000`]);
    });

    it('reports a booking whose refunded total differs from its payment’s', async () => {
      const w = await world();
      w.paid.booking.amountRefunded = 2000;
      expect(await w.violations()).toEqual([`booking ${w.paid.booking.id} says 2000 refunded, payment says 1000`]);
    });

    it('reports a paid booking that is scheduled while unpaid', async () => {
      const w = await world();
      w.paid.booking.paymentStatus = 'unpaid';
      expect(await w.violations()).toEqual([`booking ${w.paid.booking.id} is scheduled but unpaid`]);
    });
  });

  describe('history', () => {
    it('reports a history that skips a step, takes a forbidden one, or ends elsewhere than the status', async () => {
      const w = await world();
      const [first, ...rest] = w.paid.booking.history;
      w.paid.booking.history = rest; // starts from pending instead of null
      w.free.booking.history.push({
        ...structuredClone(w.free.booking.history[0]),
        from: 'scheduled',
        to: 'pending',
      } as Booking['history'][number]);
      w.held.booking.status = 'scheduled';
      w.held.slot.status = 'booked';
      w.held.slot.bookedBy = w.held.booking.patientId;
      w.held.booking.paymentStatus = 'paid';
      expect(first?.from).toBeNull();
      expect(await w.violations()).toEqual(
        expect.arrayContaining([
          `booking ${w.paid.booking.id} history step 0 starts from pending, expected null`,
          `booking ${w.free.booking.id} history step 1 (scheduled → pending) is not an allowed transition`,
          `booking ${w.free.booking.id} history ends at pending but status is scheduled`,
          `booking ${w.held.booking.id} history ends at pending but status is scheduled`,
        ]),
      );
    });
  });
});

describe('the check after every engine-suite test', () => {
  it.fails('fails a test that leaves a slot available while its booking holds it (this test must fail)', async () => {
    const f = createFixture();
    const slot = await f.slot();
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    await autocommit(f.store).updateScheduleIf({
      id: slot.id,
      expectedStatus: 'booked',
      set: { status: 'available', bookedBy: null },
    });
    // No assertion here: only the afterEach check in engine-fixture.ts can fail this test.
  });

  it('checks each fixture at its own clock: a slot booked by a booking cancelled after its start is fine then', async () => {
    // Against the wall clock (years before 2030) this slot would still be in the future, booked
    // without a scheduled booking: the check must use the fixture's clock to pass.
    createFixture({ start: '2031-01-01T00:00:00Z' });
    const f = createFixture();
    const slot = await f.slot(60);
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    f.clock.advanceMinutes(70);
    await f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'patient', id: PATIENTS.vise } });
    expect(await f.engine.getSchedule(slot.id)).toMatchObject({ status: 'booked', bookedBy: PATIENTS.vise });
    expect(f.clock.now().getTime()).toBeGreaterThan(Date.now());
  });

  it.fails('fails a test when the second of two fixtures is inconsistent (this test must fail)', async () => {
    createFixture();
    const f = createFixture();
    const slot = await f.slot();
    await autocommit(f.store).updateScheduleIf({
      id: slot.id,
      expectedStatus: 'available',
      set: { status: 'pending' },
    });
  });

  it('skips a fixture that opted out with a reason, and refuses an opt-out without one', async () => {
    const f = createFixture();
    const slot = await f.slot();
    await autocommit(f.store).updateScheduleIf({
      id: slot.id,
      expectedStatus: 'available',
      set: { status: 'pending' },
    });
    expect(() => f.skipInvariantCheck('  ')).toThrow(/needs a reason/);
    f.skipInvariantCheck('this test leaves a pending slot without a booking on purpose');
  });
  describe('availability', () => {
    const timeOff = (start: Date, end: Date): TimeOff => ({
      id: '64b0000000000000000000f1',
      doctorId: DOCTOR,
      start,
      end,
      reason: null,
      createdAt: new Date(0),
    });

    it('reports an active booking and a free slot during time off', async () => {
      const w = await world();
      w.records.timeOff.push(timeOff(w.held.slot.startTime, w.open.endTime));
      const found = await w.violations();
      expect(found).toEqual(oneOf(new RegExp(`booking ${w.held.booking.id} is pending during time off`)));
      expect(found).toEqual(oneOf(new RegExp(`booking ${w.free.booking.id} is scheduled during time off`)));
      expect(found).toEqual(oneOf(new RegExp(`slot ${w.open.id} is available during time off`)));
    });

    it('reports a computed slot made within its buffers of a slot that existed before it', async () => {
      const w = await world();
      const rules = {
        timeZone: 'Europe/Berlin',
        weekly: [{ days: ['mon' as const], from: '09:00', to: '17:00' }],
        slotMinutes: 30,
        stepMinutes: 30,
        bufferBeforeMinutes: 0,
        bufferAfterMinutes: 60,
        minNoticeMinutes: 0,
        horizonDays: 365,
        fee: { amount: 5000, currency: 'eur' },
      };
      w.records.availability.push({
        id: '64b0000000000000000000f2',
        doctorId: DOCTOR,
        rules,
        effectiveFrom: new Date(0),
        effectiveUntil: null,
        createdAt: new Date(0),
      });
      // The free slot ends 24 h before the open one starts; made from rules 30 minutes before it, later.
      const made = structuredClone(w.open);
      made.id = '64b0000000000000000000f3';
      made.availabilityId = '64b0000000000000000000f2';
      made.startTime = new Date(w.open.startTime.getTime() - 60 * 60_000);
      made.endTime = new Date(w.open.startTime.getTime() - 30 * 60_000);
      made.createdAt = new Date(w.open.createdAt.getTime() + 1);
      made.status = 'expired';
      w.records.schedules.push(made);
      expect(await w.violations()).toEqual([]); // expired: not live
      made.status = 'pending';
      w.records.bookings.push({
        ...structuredClone(w.held.booking),
        id: '64b0000000000000000000f4',
        scheduleId: made.id,
        slotStart: made.startTime,
        slotEnd: made.endTime,
      });
      expect(await w.violations()).toEqual([
        `computed slot ${made.id} is within its buffers of slot ${w.open.id} that existed before it`,
      ]);
      // Made before the open slot, the open one (published) owes it nothing.
      made.createdAt = new Date(w.open.createdAt.getTime() - 1);
      expect(await w.violations()).toEqual([]);
    });
  });
});
