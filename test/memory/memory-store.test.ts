// The memory store passes the shared store conformance suite.
import { describe, expect, it } from 'vitest';
import { type Clock, MemoryStore } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { describeOutboxConformance } from '../conformance/outbox-conformance.js';
import { describeStoreConformance } from '../conformance/store-conformance.js';
import { autocommit } from '../support/autocommit.js';
import { createFixture, PATIENTS } from '../support/engine-fixture.js';
import { ledgerEntry, newBookingOf, newPaymentTransaction, newSchedule, refundRecord, T0 } from '../support/records.js';

describeStoreConformance('MemoryStore (isolation: serializable, the default)', {
  fresh: async () => new MemoryStore(),
  dropsDelivered: true,
});

// The outbox as the database stores keep it: delivered records stay for the retention clean-up.
describeOutboxConformance('MemoryStore (keepDeliveredOutbox: true)', {
  fresh: async () => new MemoryStore({ keepDeliveredOutbox: true }),
});

describe('MemoryStore options', () => {
  it('stamps createdAt and updatedAt from the clock option, following the clock as it moves', async () => {
    const clock = new ManualClock('2031-01-01T00:00:00Z');
    const store = new MemoryStore({ clock });
    const slot = await autocommit(store).insertSchedule(newSchedule());
    expect(slot.createdAt).toEqual(new Date('2031-01-01T00:00:00Z'));
    clock.advance(60_000);
    const held = await autocommit(store).updateScheduleIf({
      id: slot.id,
      expectedStatus: 'available',
      set: { status: 'pending' },
    });
    expect(held?.createdAt).toEqual(new Date('2031-01-01T00:00:00Z'));
    expect(held?.updatedAt).toEqual(new Date('2031-01-01T00:01:00Z'));
  });

  it('stamps records with the system clock when given no clock', async () => {
    const before = Date.now();
    const slot = await autocommit(new MemoryStore()).insertSchedule(newSchedule());
    expect(slot.createdAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(slot.createdAt.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('still stamps records with the deprecated now function', async () => {
    const at = new Date('2031-01-01T00:00:00Z');
    const store = new MemoryStore({ now: () => at });
    const slot = await autocommit(store).insertSchedule(newSchedule());
    expect(slot.createdAt).toEqual(at);
  });

  it('refuses clock and now together, saying to keep clock', () => {
    expect(() => new MemoryStore({ clock: new ManualClock(), now: () => new Date() })).toThrow(
      new TypeError(
        "MemoryStore: pass clock or now, not both; keep clock (the engine's option name) and drop the deprecated now",
      ),
    );
  });

  it.each([
    ['a function instead of a Clock', () => new Date()],
    ['an object without now', {}],
    ['a now that is not a function', { now: new Date() }],
    ['null', null],
  ])('refuses a clock that is %s, with a TypeError saying what a Clock is', (_name, clock) => {
    expect(() => new MemoryStore({ clock: clock as unknown as Clock })).toThrow(TypeError);
    expect(() => new MemoryStore({ clock: clock as unknown as Clock })).toThrow(
      /MemoryStore: options.clock must be a Clock, an object with a now\(\) function returning a Date/,
    );
  });

  it('rejects a now option that is not a function', () => {
    expect(() => new MemoryStore({ now: 'soon' as unknown as () => Date })).toThrow(/options.now must be a function/);
  });
});

describe('MemoryStore outbox payloads', () => {
  const record = (key: string, payload: Record<string, unknown>) => ({
    key,
    eventId: key,
    consumer: 'hooks',
    type: 'booking.created',
    bookingId: null,
    scheduleId: null,
    payload,
    version: 1,
    createdAt: new Date('2031-01-01T00:00:00Z'),
  });

  it('keeps a payload frozen all the way down as given, and copies any other, so no caller changes a stored one', async () => {
    const store = new MemoryStore();
    const deep = Object.freeze({ booking: Object.freeze({ id: 'b1', tags: Object.freeze(['a']) }) });
    const shallow = Object.freeze({ booking: { id: 'b2', tags: ['a'] } });
    const open: { booking: { id: string } } = { booking: Object.freeze({ id: 'b3' }) };
    await store.transaction((tx) =>
      tx.appendOutbox([record('deep', deep), record('shallow', shallow), record('open', open)]),
    );
    const read = async (key: string) => (await store.findOutbox({ eventId: key }))[0]?.payload;
    expect(await read('deep')).toBe(deep);
    // A frozen object holding an unfrozen one is copied: changing the child later changes nothing stored.
    expect(await read('shallow')).not.toBe(shallow);
    shallow.booking.id = 'changed';
    shallow.booking.tags.push('b');
    expect(await read('shallow')).toEqual({ booking: { id: 'b2', tags: ['a'] } });
    open.booking = Object.freeze({ id: 'changed' });
    expect(await read('open')).toEqual({ booking: { id: 'b3' } });
    expect(Object.isFrozen((await read('open'))?.booking)).toBe(true);
  });
});

describe('MemoryStore keepDeliveredOutbox (default false)', () => {
  it('refuses a value that is not a boolean', () => {
    expect(() => new MemoryStore({ keepDeliveredOutbox: 'no' as never })).toThrow(
      'MemoryStore: keepDeliveredOutbox must be a boolean (got "no")',
    );
  });

  for (const isolation of ['serializable', 'snapshot'] as const) {
    it(`deletes a record once delivered and keeps what failed until it goes through or dies (${isolation})`, async () => {
      const clock = new ManualClock('2030-03-01T08:00:00Z');
      // The default: no keepDeliveredOutbox option.
      const store = new MemoryStore({ clock, isolation });
      let down = true;
      const sent: string[] = [];
      const notifier = {
        notify(n: { type: string }) {
          if (down && n.type === 'newBooking') throw new Error('smtp down');
          sent.push(n.type);
        },
      };
      const f = createFixture({ clock, store, notifier, outboxMaxAttempts: 3 });
      const slot = await f.slot();
      const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
      // Everything went through but the admin's notice: only that record is left, pending.
      const left = await store.findOutbox({});
      expect(left.map((r) => [r.consumer, r.status, r.attempts])).toEqual([['careslot:notifier', 'pending', 1]]);
      expect(await store.findOutbox({ status: 'delivered' })).toEqual([]);
      // It retries from the sweep and dies after its last attempt, kept for listDead and redrive.
      for (let i = 0; i < 3; i++) {
        clock.advance(3_600_000);
        await f.engine.outbox.drain();
      }
      const [dead] = await f.engine.outbox.listDead();
      expect(dead).toMatchObject({ bookingId: booking.id, status: 'dead', attempts: 3 });
      down = false;
      expect(await f.engine.outbox.redrive(dead?.key ?? '')).toBe(true);
      expect(sent.filter((t) => t === 'newBooking')).toHaveLength(1);
      expect(await store.findOutbox({})).toEqual([]);
      // Nothing delivered is left for the retention clean-up.
      expect(
        await store.transaction((tx) => tx.deleteDeliveredOutbox({ deliveredBefore: clock.now(), limit: 100 })),
      ).toBe(0);
    });
  }
});

// A partition holding one entry keeps only its id and reads the entry's key back from the row:
// each index must read the field it sorts by, or a cursor or bound at that row gives the wrong answer.
describe('MemoryStore indexes of one entry', () => {
  const C0 = new Date('2031-01-01T00:00:00Z');
  const ms = (d: Date, delta: number) => new Date(d.getTime() + delta);

  for (const isolation of ['serializable', 'snapshot'] as const) {
    it(`page and bound each row by the field its index sorts by, not another stamp (${isolation})`, async () => {
      const clock = new ManualClock(C0);
      const store = new MemoryStore({ clock, isolation });
      const ops = autocommit(store);
      // The slot starts at T0, long before it was written (C0); everything is changed a minute later.
      const slot = await ops.insertSchedule(newSchedule());
      const inserted = await ops.insertBooking(newBookingOf(slot, { checkoutSessionId: 'cs_x' }));
      if (!inserted) throw new Error('the slot had a booking already');
      const booking = inserted;
      const payment = await ops.insertPaymentTransaction(newPaymentTransaction({ bookingId: booking.id }));
      await ops.appendLedgerEntry(ledgerEntry({ bookingId: booking.id, createdAt: ms(C0, 5_000) }));
      const outboxAt = ms(C0, 7_000);
      await store.transaction((tx) =>
        tx.appendOutbox([
          {
            key: 'evt_1/hooks',
            eventId: 'evt_1',
            consumer: 'hooks',
            type: 'booking.created',
            bookingId: booking.id,
            scheduleId: null,
            payload: {},
            version: 1,
            createdAt: outboxAt,
          },
        ]),
      );
      clock.advance(60_000);
      await ops.updateScheduleIf({ id: slot.id, expectedStatus: 'available', set: { status: 'pending' } });
      await ops.updateBookingIf({ id: booking.id, expectedStatus: 'pending', set: { paymentUrl: 'https://pay' } });
      await ops.upsertRefund({ paymentTransactionId: payment?.id ?? '', refund: refundRecord() });

      const ids = (rows: readonly { id: string }[]) => rows.map((r) => r.id);
      // Slots by (startTime, id).
      for (const q of [{ doctorId: slot.doctorId }, { status: 'pending' as const }]) {
        expect(ids(await store.findSchedules({ ...q, startFrom: T0, startBefore: ms(T0, 1) }))).toEqual([slot.id]);
        expect(ids(await store.findSchedules({ ...q, after: { startTime: ms(T0, -1), id: slot.id } }))).toEqual([
          slot.id,
        ]);
        expect(await store.findSchedules({ ...q, after: { startTime: T0, id: slot.id } })).toEqual([]);
      }
      // Bookings by (createdAt, id), through each index a query can take.
      for (const q of [
        { patientId: booking.patientId },
        { checkoutSessionId: 'cs_x' },
        { scheduleId: slot.id },
        { doctorId: booking.doctorId },
        { status: 'pending' as const },
        {},
      ]) {
        const label = JSON.stringify(q);
        expect(ids(await store.findBookings({ ...q, createdBefore: C0 })), label).toEqual([booking.id]);
        expect(await store.findBookings({ ...q, createdBefore: ms(C0, -1) }), label).toEqual([]);
        expect(
          ids(await store.findBookings({ ...q, after: { createdAt: ms(C0, -1), id: booking.id } })),
          label,
        ).toEqual([booking.id]);
        expect(await store.findBookings({ ...q, after: { createdAt: C0, id: booking.id } }), label).toEqual([]);
      }
      // The reminder sweep's window: by slot start, not by when the booking was written.
      const window = { status: 'pending' as const, slotStartFrom: T0, slotStartBefore: ms(T0, 1) };
      expect(ids(await store.findBookings(window))).toEqual([booking.id]);
      expect(await store.findBookings({ ...window, slotStartFrom: ms(T0, 1), slotStartBefore: ms(T0, 2) })).toEqual([]);
      // Payments and ledger lines by (createdAt, id).
      for (const q of [{ bookingId: booking.id }, { refundStatus: 'pending' as const }, {}]) {
        const label = JSON.stringify(q);
        const paid = await store.findPaymentTransactions({
          ...q,
          after: { createdAt: ms(C0, -1), id: payment?.id ?? '' },
        });
        expect(ids(paid), label).toEqual([payment?.id]);
        expect(await store.findPaymentTransactions({ ...q, after: { createdAt: C0, id: payment?.id ?? '' } })).toEqual(
          [],
        );
      }
      const [line] = await store.findLedgerEntries({ bookingId: booking.id });
      expect(line?.createdAt).toEqual(ms(C0, 5_000));
      for (const q of [{ bookingId: booking.id }, { doctorId: booking.doctorId }, {}]) {
        const label = JSON.stringify(q);
        const lineAt = ms(C0, 5_000);
        const id = line?.id ?? '';
        expect(ids(await store.findLedgerEntries({ ...q, after: { createdAt: ms(lineAt, -1), id } })), label).toEqual([
          id,
        ]);
        expect(await store.findLedgerEntries({ ...q, after: { createdAt: lineAt, id } }), label).toEqual([]);
      }
      // Outbox records by (createdAt, key): per booking, per (consumer, status), and merged.
      for (const q of [{ bookingId: booking.id }, { consumer: 'hooks', status: 'pending' as const }, {}]) {
        const label = JSON.stringify(q);
        const keys = async (more: object) => (await store.findOutbox({ ...q, ...more })).map((r) => r.key);
        const key = 'evt_1/hooks';
        expect(await keys({ after: { createdAt: ms(outboxAt, -1), key } }), label).toEqual([key]);
        expect(await keys({ after: { createdAt: outboxAt, key } }), label).toEqual([]);
        expect(await keys({ before: { createdAt: ms(outboxAt, 1), key } }), label).toEqual([key]);
        expect(await keys({ before: { createdAt: outboxAt, key } }), label).toEqual([]);
      }
    });
  }
});
