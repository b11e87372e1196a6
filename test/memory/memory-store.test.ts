// The memory store passes the shared store conformance suite.
import { describe, expect, it } from 'vitest';
import { type Clock, MemoryStore } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { describeOutboxConformance } from '../conformance/outbox-conformance.js';
import { describeStoreConformance } from '../conformance/store-conformance.js';
import { autocommit } from '../support/autocommit.js';
import { createFixture, PATIENTS } from '../support/engine-fixture.js';
import { newSchedule } from '../support/records.js';

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
