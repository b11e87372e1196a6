// The availability part of the BookingStore conformance suite: rule versions, time off, and slots materialized from rules.
import { beforeEach, describe, expect, it } from 'vitest';
import type { BookingStore, NewAvailabilityRecord, StoreOperations } from '../../src/index.js';
import { autocommit } from '../support/autocommit.js';
import { DOCTOR_ID, at as minutes, newSchedule } from '../support/records.js';
import type { StoreHarness } from './store-conformance.js';

const DOC2 = '64b0000000000000000000d2';

/** Weekday hours in Berlin, 30-minute slots, 50 EUR: a complete, validated rule set. */
export function availabilityRecord(overrides: Partial<NewAvailabilityRecord> = {}): NewAvailabilityRecord {
  return {
    doctorId: DOCTOR_ID,
    rules: {
      timeZone: 'Europe/Berlin',
      weekly: [
        { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '12:00' },
        { days: ['sat'], from: '10:00', to: '24:00' },
      ],
      slotMinutes: 30,
      stepMinutes: 15,
      bufferBeforeMinutes: 5,
      bufferAfterMinutes: 10,
      minNoticeMinutes: 60,
      horizonDays: 90,
      fee: { amount: 5000, currency: 'eur' },
    },
    effectiveFrom: minutes(0),
    effectiveUntil: null,
    ...overrides,
  };
}

export function describeAvailabilityConformance(name: string, harness: StoreHarness): void {
  describe(`BookingStore conformance (availability): ${name}`, () => {
    let store: BookingStore;
    let ops: StoreOperations;
    beforeEach(async () => {
      store = await harness.fresh();
      ops = autocommit(store);
    });

    it('stores an availability version with a store-chosen id and reads its rules back intact', async () => {
      const created = await ops.insertAvailability(availabilityRecord());
      expect(typeof created.id).toBe('string');
      expect(created.createdAt).toBeInstanceOf(Date);
      expect(created).toEqual({ ...availabilityRecord(), id: created.id, createdAt: created.createdAt });
      const [read] = await store.findAvailability({ doctorId: DOCTOR_ID, from: minutes(0), to: minutes(1) });
      expect(read).toEqual(created);
      expect(read?.effectiveFrom).toBeInstanceOf(Date);
      expect(read?.effectiveUntil).toBeNull();
    });

    it('returns copies: mutating returned rules does not change the store', async () => {
      const created = await ops.insertAvailability(availabilityRecord());
      created.rules.fee.amount = 1;
      (created.rules.weekly[0]!.days as string[]).push('sun');
      const [read] = await store.findAvailability({ doctorId: DOCTOR_ID, from: minutes(0), to: minutes(1) });
      expect(read?.rules.fee.amount).toBe(5000);
      expect(read?.rules.weekly[0]?.days).toEqual(['mon', 'tue', 'wed', 'thu', 'fri']);
    });

    it('finds the versions in force somewhere in a range, by effectiveFrom, not other doctors', async () => {
      const first = await ops.insertAvailability(
        availabilityRecord({ effectiveFrom: minutes(0), effectiveUntil: minutes(100) }),
      );
      const second = await ops.insertAvailability(
        availabilityRecord({ effectiveFrom: minutes(100), effectiveUntil: minutes(200) }),
      );
      const third = await ops.insertAvailability(availabilityRecord({ effectiveFrom: minutes(200) }));
      await ops.insertAvailability(availabilityRecord({ doctorId: DOC2 }));
      // Empty versions (ended where they began) are never in force.
      await ops.insertAvailability(availabilityRecord({ effectiveFrom: minutes(150), effectiveUntil: minutes(150) }));
      const ids = async (from: number, to: number) =>
        (await store.findAvailability({ doctorId: DOCTOR_ID, from: minutes(from), to: minutes(to) })).map((r) => r.id);
      expect(await ids(-50, 0)).toEqual([]);
      expect(await ids(-50, 1)).toEqual([first.id]);
      expect(await ids(99, 100)).toEqual([first.id]);
      expect(await ids(100, 101)).toEqual([second.id]);
      expect(await ids(50, 250)).toEqual([first.id, second.id, third.id]);
      expect(await ids(10_000, 10_001)).toEqual([third.id]);
      expect(
        await store.findAvailability({ doctorId: '64b0000000000000000000d9', from: minutes(0), to: minutes(1e4) }),
      ).toEqual([]);
    });

    it('ends versions at an instant: open ones end there, ones not yet in force become empty', async () => {
      const running = await ops.insertAvailability(availabilityRecord({ effectiveFrom: minutes(0) }));
      const ended = await ops.insertAvailability(
        availabilityRecord({ effectiveFrom: minutes(-100), effectiveUntil: minutes(-50) }),
      );
      const later = await ops.insertAvailability(availabilityRecord({ effectiveFrom: minutes(500) }));
      const other = await ops.insertAvailability(availabilityRecord({ doctorId: DOC2 }));
      expect(await ops.endAvailability({ doctorId: DOCTOR_ID, at: minutes(300) })).toBe(2);
      const all = await store.findAvailability({ doctorId: DOCTOR_ID, from: minutes(-1000), to: minutes(10_000) });
      expect(all.map((r) => [r.id, r.effectiveUntil?.getTime() ?? null])).toEqual([
        [ended.id, minutes(-50).getTime()],
        [running.id, minutes(300).getTime()],
      ]);
      // `later` ended where it began: stored, but never in force.
      expect(all.some((r) => r.id === later.id)).toBe(false);
      const [untouched] = await store.findAvailability({ doctorId: DOC2, from: minutes(0), to: minutes(1e5) });
      expect(untouched?.id).toBe(other.id);
      expect(untouched?.effectiveUntil).toBeNull();
      // Ending again at a later instant changes nothing that already ended before it.
      expect(await ops.endAvailability({ doctorId: DOCTOR_ID, at: minutes(400) })).toBe(0);
    });

    it('stores, finds by overlap and deletes time off', async () => {
      const a = await ops.insertTimeOff({
        doctorId: DOCTOR_ID,
        start: minutes(0),
        end: minutes(60),
        reason: 'dentist',
      });
      const b = await ops.insertTimeOff({ doctorId: DOCTOR_ID, start: minutes(120), end: minutes(1440), reason: null });
      await ops.insertTimeOff({ doctorId: DOC2, start: minutes(0), end: minutes(60), reason: null });
      expect(typeof a.id).toBe('string');
      expect(a).toEqual({
        id: a.id,
        doctorId: DOCTOR_ID,
        start: minutes(0),
        end: minutes(60),
        reason: 'dentist',
        createdAt: a.createdAt,
      });
      expect(await store.getTimeOff(a.id)).toEqual(a);
      const ids = async (q: { startBefore?: number; endAfter?: number; limit?: number }) =>
        (
          await store.findTimeOff({
            doctorId: DOCTOR_ID,
            ...(q.startBefore === undefined ? {} : { startBefore: minutes(q.startBefore) }),
            ...(q.endAfter === undefined ? {} : { endAfter: minutes(q.endAfter) }),
            ...(q.limit === undefined ? {} : { limit: q.limit }),
          })
        ).map((t) => t.id);
      expect(await ids({})).toEqual([a.id, b.id]);
      expect(await ids({ limit: 1 })).toEqual([a.id]);
      // Half-open: touching is not overlapping.
      expect(await ids({ startBefore: 120, endAfter: 60 })).toEqual([]);
      expect(await ids({ startBefore: 121, endAfter: 59 })).toEqual([a.id, b.id]);
      expect(await ids({ startBefore: 500, endAfter: 400 })).toEqual([b.id]);
      expect(await ids({ endAfter: 1440 })).toEqual([]);
      expect(await ops.deleteTimeOff(a.id)).toBe(true);
      expect(await ops.deleteTimeOff(a.id)).toBe(false);
      expect(await store.getTimeOff(a.id)).toBeNull();
      expect(await ids({})).toEqual([b.id]);
    });

    it('keeps the availability version a materialized slot came from; published slots have none', async () => {
      const version = await ops.insertAvailability(availabilityRecord());
      const computed = await ops.insertSchedule(newSchedule({ availabilityId: version.id }));
      const published = await ops.insertSchedule(newSchedule({ startTime: minutes(60), endTime: minutes(90) }));
      expect(computed.availabilityId).toBe(version.id);
      expect((await store.getSchedule(computed.id))?.availabilityId).toBe(version.id);
      expect((await store.findSchedules({ doctorId: DOCTOR_ID }))[0]?.availabilityId).toBe(version.id);
      expect((await store.getSchedule(published.id))?.availabilityId ?? null).toBeNull();
    });

    it('a rolled-back transaction leaves no version and no time off behind', async () => {
      await expect(
        store.transaction(async (tx) => {
          await tx.insertAvailability(availabilityRecord());
          await tx.insertTimeOff({ doctorId: DOCTOR_ID, start: minutes(0), end: minutes(60), reason: null });
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await store.findAvailability({ doctorId: DOCTOR_ID, from: minutes(-1e4), to: minutes(1e4) })).toEqual([]);
      expect(await store.findTimeOff({ doctorId: DOCTOR_ID })).toEqual([]);
    });

    it('a transaction reads its own availability and time-off writes', async () => {
      await store.transaction(async (tx) => {
        const v = await tx.insertAvailability(availabilityRecord());
        const t = await tx.insertTimeOff({ doctorId: DOCTOR_ID, start: minutes(0), end: minutes(60), reason: null });
        expect((await tx.findAvailability({ doctorId: DOCTOR_ID, from: minutes(0), to: minutes(1) }))[0]?.id).toBe(
          v.id,
        );
        expect((await tx.findTimeOff({ doctorId: DOCTOR_ID }))[0]?.id).toBe(t.id);
        expect(await tx.endAvailability({ doctorId: DOCTOR_ID, at: minutes(0) })).toBe(1);
        expect(await tx.findAvailability({ doctorId: DOCTOR_ID, from: minutes(-10), to: minutes(10) })).toEqual([]);
      });
    });
  });
}
