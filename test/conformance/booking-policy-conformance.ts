// The reminders and policy part of the BookingStore conformance suite: the policy snapshot, reminder compare-and-set, no-show, slot-start queries.
import { beforeEach, describe, expect, it } from 'vitest';
import type { BookingPolicy, BookingStore, Schedule, StoreOperations } from '../../src/index.js';
import { autocommit } from '../support/autocommit.js';
import { at as minutes, newBookingOf, newSchedule, PATIENT_ID } from '../support/records.js';
import type { StoreHarness } from './store-conformance.js';

const PAT2 = '64b0000000000000000000a2';

export const POLICY: BookingPolicy = {
  cancellation: {
    tiers: [
      { hoursBefore: 48, refundPercent: 100 },
      { hoursBefore: 24, refundPercent: 50 },
    ],
    patientCutoffHours: 12,
    afterStart: 'none',
  },
  reschedule: { patientDeadlineHours: 24, staffDeadlineHours: 0, maxPerBooking: 2, fee: 'lowerOrEqual' },
};

export function describeBookingPolicyConformance(name: string, harness: StoreHarness): void {
  describe(`BookingStore conformance (policy, reminders, no-show): ${name}`, () => {
    let store: BookingStore;
    let ops: StoreOperations;
    let slot: Schedule;
    beforeEach(async () => {
      store = await harness.fresh();
      ops = autocommit(store);
      slot = await ops.insertSchedule(newSchedule({ status: 'booked', bookedBy: PATIENT_ID }));
    });

    const scheduled = (overrides = {}) =>
      ops.insertBooking(
        newBookingOf(slot, { status: 'scheduled', paymentStatus: 'paid', holdExpiresAt: null, ...overrides }),
      );

    it('keeps the policy snapshot a booking is given, at insert and by a later update', async () => {
      const withPolicy = await scheduled({ policy: POLICY });
      expect(withPolicy?.policy).toEqual(POLICY);
      expect((await store.getBooking(withPolicy?.id ?? ''))?.policy).toEqual(POLICY);
      await ops.updateBookingIf({
        id: withPolicy?.id ?? '',
        expectedStatus: 'scheduled',
        set: { status: 'cancelled' },
      });
      const plain = await ops.insertBooking(newBookingOf(slot, { patientId: PAT2 }));
      expect(plain?.policy ?? null).toBeNull();
      const updated = await ops.updateBookingIf({
        id: plain?.id ?? '',
        expectedStatus: 'pending',
        set: { policy: POLICY },
      });
      expect(updated?.policy).toEqual(POLICY);
      expect((await store.findBookings({ patientId: PAT2 }))[0]?.policy).toEqual(POLICY);
    });

    it('keeps what a policy object held when it was written, even if the caller changes that object later', async () => {
      const mutable = structuredClone(POLICY);
      const first = await scheduled({ policy: mutable });
      await ops.updateBookingIf({ id: first?.id ?? '', expectedStatus: 'scheduled', set: { status: 'cancelled' } });
      const tier = mutable.cancellation.tiers[0];
      if (tier) tier.refundPercent = 10;
      const second = await scheduled({ policy: mutable, patientId: PAT2 });
      expect((await store.getBooking(first?.id ?? ''))?.policy).toEqual(POLICY);
      expect((await store.getBooking(second?.id ?? ''))?.policy?.cancellation.tiers[0]?.refundPercent).toBe(10);
      // A deeply frozen one (as the engine hands in) reads back equal, however often it is written.
      const frozen = Object.freeze({
        cancellation: Object.freeze({
          ...POLICY.cancellation,
          tiers: Object.freeze(POLICY.cancellation.tiers.map((t) => Object.freeze({ ...t }))),
        }),
        reschedule: Object.freeze({ ...POLICY.reschedule }),
      }) as BookingPolicy;
      await ops.updateBookingIf({ id: second?.id ?? '', expectedStatus: 'scheduled', set: { policy: frozen } });
      await ops.updateBookingIf({ id: second?.id ?? '', expectedStatus: 'scheduled', set: { policy: frozen } });
      expect((await store.getBooking(second?.id ?? ''))?.policy).toEqual(POLICY);
    });

    it('adds each reminder key once, only while scheduled at that start', async () => {
      const b = await scheduled();
      expect(b?.remindersSent ?? []).toEqual([]);
      const id = b?.id ?? '';
      const first = await ops.markReminderSent({ bookingId: id, key: '1440:email', slotStart: slot.startTime });
      expect(first?.remindersSent).toEqual(['1440:email']);
      expect(await ops.markReminderSent({ bookingId: id, key: '1440:email', slotStart: slot.startTime })).toBeNull();
      expect(await ops.markReminderSent({ bookingId: id, key: '120:sms', slotStart: minutes(999) })).toBeNull();
      const second = await ops.markReminderSent({ bookingId: id, key: '120:sms', slotStart: slot.startTime });
      expect(second?.remindersSent).toEqual(['1440:email', '120:sms']);
      expect((await store.getBooking(id))?.remindersSent).toEqual(['1440:email', '120:sms']);
      await ops.updateBookingIf({ id, expectedStatus: 'scheduled', set: { status: 'cancelled' } });
      expect(await ops.markReminderSent({ bookingId: id, key: '60:email', slotStart: slot.startTime })).toBeNull();
      expect(
        await ops.markReminderSent({ bookingId: '64b0000000000000000000b9', key: 'x', slotStart: slot.startTime }),
      ).toBeNull();
    });

    it('lets exactly one of two concurrent transactions mark a reminder', async () => {
      const b = await scheduled();
      const mark = () =>
        store.transaction((tx) =>
          tx.markReminderSent({ bookingId: b?.id ?? '', key: '1440:email', slotStart: slot.startTime }),
        );
      const results = await Promise.all([mark(), mark(), mark()]);
      expect(results.filter((r) => r !== null)).toHaveLength(1);
      expect((await store.getBooking(b?.id ?? ''))?.remindersSent).toEqual(['1440:email']);
    });

    it('stores no_show, which is not active: the slot may hold another active booking', async () => {
      const b = await scheduled();
      const noShow = await ops.updateBookingIf({
        id: b?.id ?? '',
        expectedStatus: 'scheduled',
        set: { status: 'no_show' },
        history: {
          at: minutes(5),
          from: 'scheduled',
          to: 'no_show',
          paymentStatus: 'paid',
          actor: { role: 'doctor', id: slot.doctorId },
          reason: null,
        },
      });
      expect(noShow?.status).toBe('no_show');
      expect(await store.findActiveBooking(slot.id)).toBeNull();
      expect(await store.countBookings({ status: 'no_show' })).toBe(1);
      expect((await store.findBookings({ status: 'no_show' }))[0]?.history.at(-1)?.to).toBe('no_show');
      const back = await ops.updateBookingIf({
        id: b?.id ?? '',
        expectedStatus: 'no_show',
        set: { status: 'scheduled' },
      });
      expect(back?.status).toBe('scheduled');
      expect((await store.findActiveBooking(slot.id))?.id).toBe(b?.id);
    });

    it('finds bookings by slot start range and pages them by (createdAt, id)', async () => {
      const slots = [];
      for (let i = 0; i < 4; i++)
        slots.push(
          await ops.insertSchedule(
            newSchedule({ startTime: minutes(100 * (i + 1)), endTime: minutes(100 * (i + 1) + 30) }),
          ),
        );
      const made = [];
      for (const [i, s] of slots.entries()) {
        made.push(
          await ops.insertBooking(newBookingOf(s, { patientId: `64b00000000000000000100${i}`, status: 'scheduled' })),
        );
      }
      const ids = async (q: object) => (await store.findBookings({ status: 'scheduled', ...q })).map((b) => b.id);
      expect(await ids({ slotStartFrom: minutes(200), slotStartBefore: minutes(400) })).toEqual([
        made[1]?.id,
        made[2]?.id,
      ]);
      expect(await ids({ slotStartFrom: minutes(401) })).toEqual([]);
      const all = await store.findBookings({ status: 'scheduled', slotStartFrom: minutes(100) });
      expect(all.map((b) => b.id)).toEqual(made.map((b) => b?.id));
      const page = await store.findBookings({
        status: 'scheduled',
        slotStartFrom: minutes(100),
        after: { createdAt: all[1]!.createdAt, id: all[1]!.id },
        limit: 1,
      });
      expect(page.map((b) => b.id)).toEqual([made[2]?.id]);
      expect(await store.countBookings({ status: 'scheduled', slotStartBefore: minutes(250) })).toBe(2);
    });
  });
}
