// The BookingStore conformance suite: every store adapter runs exactly these tests.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { Booking, BookingStatus, BookingStore, NewBooking, Schedule, StoreOperations } from '../../src/index.js';
import { autocommit } from '../support/autocommit.js';
import {
  BOOKING_ID,
  DOCTOR_ID,
  ledgerEntry,
  at as minutes,
  newBookingOf,
  newPaymentTransaction,
  newSchedule,
  PATIENT_ID,
  refundRecord,
  T0,
} from '../support/records.js';
import { describeAvailabilityConformance } from './availability-conformance.js';
import { describeBookingPolicyConformance } from './booking-policy-conformance.js';
import { describeOutboxConformance } from './outbox-conformance.js';

export interface StoreHarness {
  /** A store with no records (called before each test). */
  fresh(): Promise<BookingStore>;
  /** Closes whatever the harness opened. */
  close?(): Promise<void>;
  /**
   * The store deletes an outbox record once it is delivered instead of keeping it for the
   * retention clean-up (`MemoryStore`'s default, `keepDeliveredOutbox: false`).
   */
  dropsDelivered?: boolean;
}

// Ids look like MongoDB ObjectIds so that every adapter can store them as it stores the host's ids.
export const DOC1 = DOCTOR_ID;
export const DOC2 = '64b0000000000000000000d2';
export const PAT1 = PATIENT_ID;
export const PAT2 = '64b0000000000000000000a2';
export const PAT3 = '64b0000000000000000000a3';
export const PAT9 = '64b0000000000000000000a9';
const B1 = BOOKING_ID;
const B2 = '64b0000000000000000000b2';
export const patientId = (i: number): string => `64b00000000000000000${(0x1000 + i).toString(16).padStart(4, '0')}`;

/** A pending booking of `schedule` whose hold expired an hour before the slot. */
export function bookingData(schedule: Schedule, overrides: Partial<NewBooking> = {}): NewBooking {
  return newBookingOf(schedule, { holdExpiresAt: minutes(-60), ...overrides });
}

/** Claims a slot and inserts a pending booking in one transaction, as `book` does. */
async function claim(store: BookingStore, scheduleId: string, patientId: string): Promise<Booking | null> {
  try {
    return await store.transaction(async (tx) => {
      const slot = await tx.updateScheduleIf({
        id: scheduleId,
        expectedStatus: 'available',
        set: { status: 'pending' },
      });
      if (!slot) throw new Error('lost');
      const booking = await tx.insertBooking(bookingData(slot, { patientId }));
      if (!booking) throw new Error('lost');
      return booking;
    });
  } catch (error) {
    if (error instanceof Error && error.message === 'lost') return null;
    throw error;
  }
}

export function describeStoreConformance(name: string, harness: StoreHarness): void {
  describe(`BookingStore conformance: ${name}`, () => {
    let store: BookingStore;
    /** The store's operations, each write in a transaction of its own (for setup and single writes). */
    let ops: StoreOperations;
    beforeEach(async () => {
      store = await harness.fresh();
      ops = autocommit(store);
    });
    afterAll(async () => {
      await harness.close?.();
    });

    describe('schedules', () => {
      it('inserts a slot with a store-chosen id and reads it back with Dates intact', async () => {
        const created = await ops.insertSchedule(newSchedule());
        expect(typeof created.id).toBe('string');
        const read = await store.getSchedule(created.id);
        expect(read).toEqual(created);
        expect(read?.startTime).toBeInstanceOf(Date);
        expect(read?.startTime.getTime()).toBe(T0.getTime());
        expect(read?.fee).toEqual({ amount: 5000, currency: 'eur' });
      });

      it('keeps the published local start time a slot carries for its rollovers', async () => {
        const created = await ops.insertSchedule(newSchedule({ localStartTime: '02:30' }));
        expect(created.localStartTime).toBe('02:30');
        expect((await store.getSchedule(created.id))?.localStartTime).toBe('02:30');
        expect((await store.findSchedules({ doctorId: DOC1 }))[0]?.localStartTime).toBe('02:30');
      });

      it('returns copies: mutating a returned slot does not change the store', async () => {
        const created = await ops.insertSchedule(newSchedule());
        created.status = 'booked';
        created.fee.amount = 1;
        const read = await store.getSchedule(created.id);
        expect(read?.status).toBe('available');
        expect(read?.fee.amount).toBe(5000);
      });

      it('compare-and-set applies only while the status matches, and returns null otherwise', async () => {
        const s = await ops.insertSchedule(newSchedule());
        const pending = await ops.updateScheduleIf({
          id: s.id,
          expectedStatus: 'available',
          set: { status: 'pending' },
        });
        expect(pending?.status).toBe('pending');
        const again = await ops.updateScheduleIf({
          id: s.id,
          expectedStatus: 'available',
          set: { status: 'booked' },
        });
        expect(again).toBeNull();
        const booked = await ops.updateScheduleIf({
          id: s.id,
          expectedStatus: ['pending', 'available'],
          set: { status: 'booked', bookedBy: PAT9 },
        });
        expect(booked).toMatchObject({ status: 'booked', bookedBy: PAT9 });
        expect((await store.getSchedule(s.id))?.bookedBy).toBe(PAT9);
      });

      it('compare-and-set lets exactly one of 50 concurrent claims win', async () => {
        const s = await ops.insertSchedule(newSchedule());
        const results = await Promise.all(
          Array.from({ length: 50 }, () =>
            ops.updateScheduleIf({ id: s.id, expectedStatus: 'available', set: { status: 'pending' } }),
          ),
        );
        expect(results.filter((r) => r !== null)).toHaveLength(1);
      });

      it('finds slots by doctor, status and time range, sorted by start, with a limit', async () => {
        const late = await ops.insertSchedule(newSchedule({ startTime: minutes(120), endTime: minutes(150) }));
        const early = await ops.insertSchedule(newSchedule());
        await ops.insertSchedule(newSchedule({ doctorId: DOC2 }));
        const expired = await ops.insertSchedule(
          newSchedule({ startTime: minutes(-120), endTime: minutes(-90), status: 'expired' }),
        );
        const mine = await store.findSchedules({ doctorId: DOC1, status: ['available'] });
        expect(mine.map((s) => s.id)).toEqual([early.id, late.id]);
        expect((await store.findSchedules({ doctorId: DOC1, limit: 1 })).map((s) => s.id)).toEqual([expired.id]);
        expect((await store.findSchedules({ endBefore: minutes(0) })).map((s) => s.id)).toEqual([expired.id]);
        const overlapping = await store.findSchedules({
          doctorId: DOC1,
          startBefore: minutes(130),
          endAfter: minutes(125),
        });
        expect(overlapping.map((s) => s.id)).toEqual([late.id]);
        expect((await store.findSchedules({ startFrom: minutes(60) })).map((s) => s.id)).toEqual([late.id]);
      });

      it('pages slots by (startTime, id) with a keyset cursor, ties included, nothing twice or lost', async () => {
        // Nine slots of two doctors, four of them starting at the same instant: the id breaks the tie.
        const starts = [30, 0, 60, 60, 60, 90, 60, 120, 0];
        for (const [i, start] of starts.entries()) {
          await ops.insertSchedule(
            newSchedule({
              doctorId: i % 3 === 0 ? DOC2 : DOC1,
              startTime: minutes(start),
              endTime: minutes(start + 30),
              status: i === 5 ? 'booked' : 'available',
            }),
          );
        }
        for (const query of [
          {},
          { doctorId: DOC1 },
          { status: ['available', 'booked'] as const },
          { endBefore: minutes(95) },
        ]) {
          const all = await store.findSchedules(query);
          const paged: string[] = [];
          let after: { startTime: Date; id: string } | undefined;
          for (let pages = 0; pages < 20; pages++) {
            const page = await store.findSchedules({ ...query, limit: 2, ...(after ? { after } : {}) });
            paged.push(...page.map((x) => x.id));
            const last = page.at(-1);
            if (page.length < 2 || !last) break;
            after = { startTime: last.startTime, id: last.id };
          }
          expect(paged, JSON.stringify(query)).toEqual(all.map((x) => x.id));
          expect(new Set(paged).size).toBe(paged.length);
        }
        const all = await store.findSchedules({});
        expect(all).toHaveLength(starts.length);
        const tied = all.filter((x) => x.startTime.getTime() === minutes(60).getTime());
        expect(tied).toHaveLength(4);
        const second = tied[1] as Schedule;
        // Resuming inside the tie gives the rest of it, then the later slots, in order.
        const rest = await store.findSchedules({ after: { startTime: second.startTime, id: second.id } });
        expect(rest.map((x) => x.id)).toEqual(all.slice(all.indexOf(second) + 1).map((x) => x.id));
        // A cursor before the range starts it at the range; inside a transaction too.
        const inRange = await store.transaction((tx) =>
          tx.findSchedules({ startFrom: minutes(60), after: { startTime: minutes(-600), id: '' } }),
        );
        expect(inRange.map((x) => x.id)).toEqual(all.filter((x) => x.startTime >= minutes(60)).map((x) => x.id));
      });

      it('deletes only the slots still in the expected status', async () => {
        const expired = await ops.insertSchedule(newSchedule({ status: 'expired' }));
        const live = await ops.insertSchedule(newSchedule({ startTime: minutes(60), endTime: minutes(90) }));
        const count = await ops.deleteSchedulesIf({ ids: [expired.id, live.id], expectedStatus: 'expired' });
        expect(count).toBe(1);
        expect(await store.getSchedule(expired.id)).toBeNull();
        expect(await store.getSchedule(live.id)).not.toBeNull();
        expect((await store.findSchedules({ doctorId: DOC1 })).map((x) => x.id)).toEqual([live.id]);
      });
    });

    describe('transactions', () => {
      it('commits every write of a transaction together', async () => {
        const s = await ops.insertSchedule(newSchedule());
        const booking = await store.transaction(async (tx) => {
          await tx.updateScheduleIf({ id: s.id, expectedStatus: 'available', set: { status: 'pending' } });
          return tx.insertBooking(bookingData(s));
        });
        expect((await store.getSchedule(s.id))?.status).toBe('pending');
        expect(await store.getBooking(booking?.id ?? '')).toMatchObject({ status: 'pending' });
      });

      it('rolls back every write when the function throws, and rethrows', async () => {
        const s = await ops.insertSchedule(newSchedule());
        let bookingId = '';
        await expect(
          store.transaction(async (tx) => {
            await tx.updateScheduleIf({ id: s.id, expectedStatus: 'available', set: { status: 'pending' } });
            const b = await tx.insertBooking(bookingData(s));
            bookingId = b?.id ?? '';
            await tx.appendLedgerEntry(ledgerEntry({ key: 'credit:rolled-back', bookingId, amount: 100 }));
            await tx.recordProcessedEvent({ id: 'evt_rolled_back', type: 'x', at: T0 });
            throw new Error('boom');
          }),
        ).rejects.toThrow('boom');
        expect((await store.getSchedule(s.id))?.status).toBe('available');
        expect(await store.getBooking(bookingId)).toBeNull();
        expect(await store.findActiveBooking(s.id)).toBeNull();
        expect(await store.findBookings({ patientId: PAT1 })).toEqual([]);
        expect(await store.countBookings({ patientId: PAT1 })).toBe(0);
        expect(await store.findLedgerEntries({ doctorId: DOC1 })).toEqual([]);
        expect(await store.hasProcessedEvent('evt_rolled_back')).toBe(false);
        // The rolled-back booking must not keep the slot's unique active place.
        expect(await claim(store, s.id, PAT2)).not.toBeNull();
      });

      it('serializes transactions that lock the same patient, so a per-patient count stays exact', async () => {
        const slots = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            ops.insertSchedule(newSchedule({ startTime: minutes(60 * (i + 1)), endTime: minutes(60 * (i + 1) + 30) })),
          ),
        );
        // Each transaction books only while the patient holds fewer than 3 pending bookings.
        const results = await Promise.all(
          slots.map((slot) =>
            store
              .transaction(async (tx) => {
                await tx.lockPatient(PAT1);
                if ((await tx.countBookings({ patientId: PAT1, status: 'pending' })) >= 3) return null;
                return tx.insertBooking(bookingData(slot));
              })
              .catch(() => null),
          ),
        );
        expect(results.filter((r) => r !== null)).toHaveLength(3);
        expect(await store.countBookings({ patientId: PAT1 })).toBe(3);
      });

      it('serializes transactions that lock the same doctor, so an overlap check cannot be skewed', async () => {
        // Each transaction adds a slot only while the doctor has no live slot overlapping it: the
        // check reads slots the transaction does not write, so only the lock makes them conflict.
        const attempts = [DOC1, DOC2].flatMap((doctorId) =>
          Array.from({ length: 20 }, (_, i) =>
            store.transaction(async (tx) => {
              await tx.lockDoctor(doctorId);
              const clash = await tx.findSchedules({
                doctorId,
                status: ['available', 'pending', 'booked'],
                startBefore: minutes(30 + i),
                endAfter: minutes(i),
                limit: 1,
              });
              if (clash.length > 0) return null;
              return tx.insertSchedule(newSchedule({ doctorId, startTime: minutes(i), endTime: minutes(30 + i) }));
            }),
          ),
        );
        const created = (await Promise.all(attempts)).filter((s) => s !== null);
        expect(created.map((s) => s.doctorId).sort()).toEqual([DOC1, DOC2].sort());
        expect(await store.findSchedules({ doctorId: DOC1 })).toHaveLength(1);
        expect(await store.findSchedules({ doctorId: DOC2 })).toHaveLength(1);
      });

      it("reads inside a transaction see the transaction's own writes", async () => {
        await store.transaction(async (tx) => {
          const s = await tx.insertSchedule(newSchedule());
          expect((await tx.getSchedule(s.id))?.status).toBe('available');
          await tx.updateScheduleIf({ id: s.id, expectedStatus: 'available', set: { status: 'pending' } });
          expect((await tx.findSchedules({ doctorId: DOC1, status: 'pending' })).map((x) => x.id)).toEqual([s.id]);
          const b = await tx.insertBooking(bookingData(s));
          expect((await tx.findActiveBooking(s.id))?.id).toBe(b?.id);
          expect(await tx.countBookings({ patientId: PAT1, status: 'pending' })).toBe(1);
          await tx.appendLedgerEntry(ledgerEntry({ key: 'credit:own-write', bookingId: b?.id ?? '' }));
          expect((await tx.findLedgerEntries({ doctorId: DOC1 })).map((e) => e.key)).toEqual(['credit:own-write']);
        });
        expect(await store.countBookings({ patientId: PAT1 })).toBe(1);
      });

      it("never shows a transaction's writes outside it before it ends, nor after it rolls back", async () => {
        const s = await ops.insertSchedule(newSchedule());
        let wrote = (): void => {};
        const written = new Promise<void>((resolve) => {
          wrote = resolve;
        });
        let release = (): void => {};
        const gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        const running = store.transaction(async (tx) => {
          await tx.updateScheduleIf({ id: s.id, expectedStatus: 'available', set: { status: 'pending' } });
          wrote();
          await gate;
          throw new Error('abort');
        });
        await written;
        // Started while the transaction holds its write (a serializable store may make it wait).
        const outside = store.getSchedule(s.id);
        release();
        await expect(running).rejects.toThrow('abort');
        expect((await outside)?.status).toBe('available');
        expect((await store.getSchedule(s.id))?.status).toBe('available');
      });

      it('never loses an update: 20 concurrent read-modify-write transactions on one booking all count', async () => {
        const s = await ops.insertSchedule(newSchedule());
        const id = (await ops.insertBooking(bookingData(s, { status: 'scheduled' })))?.id ?? '';
        await Promise.all(
          Array.from({ length: 20 }, () =>
            store.transaction(async (tx) => {
              const current = await tx.getBooking(id);
              const updated = await tx.updateBookingIf({
                id,
                expectedStatus: 'scheduled',
                set: { amountRefunded: (current?.amountRefunded ?? 0) + 1 },
              });
              if (!updated) throw new Error('the booking was not updated');
            }),
          ),
        );
        expect((await store.getBooking(id))?.amountRefunded).toBe(20);
      });

      it('lets exactly one of 100 concurrent claim transactions book a slot', async () => {
        const s = await ops.insertSchedule(newSchedule());
        const results = await Promise.all(Array.from({ length: 100 }, (_, i) => claim(store, s.id, patientId(i))));
        const winners = results.filter((r) => r !== null);
        expect(winners).toHaveLength(1);
        expect(await store.countBookings({ scheduleId: s.id })).toBe(1);
        expect((await store.getSchedule(s.id))?.status).toBe('pending');
      });
    });

    describe('bookings', () => {
      it('refuses a second active booking for the same slot, but not after the first is cancelled', async () => {
        const s = await ops.insertSchedule(newSchedule());
        const first = await ops.insertBooking(bookingData(s));
        expect(first).not.toBeNull();
        expect(await ops.insertBooking(bookingData(s, { patientId: PAT2, status: 'scheduled' }))).toBeNull();
        expect(await ops.insertBooking(bookingData(s, { patientId: PAT2, status: 'cancelled' }))).not.toBeNull();
        await ops.updateBookingIf({ id: first?.id ?? '', expectedStatus: 'pending', set: { status: 'cancelled' } });
        expect(await store.findActiveBooking(s.id)).toBeNull();
        const second = await ops.insertBooking(bookingData(s, { patientId: PAT3 }));
        expect(second).not.toBeNull();
        expect((await store.findActiveBooking(s.id))?.id).toBe(second?.id);
      });

      it('refuses an update that would make a second active booking for a slot', async () => {
        const s = await ops.insertSchedule(newSchedule());
        const cancelled = await ops.insertBooking(bookingData(s, { status: 'cancelled' }));
        await ops.insertBooking(bookingData(s, { patientId: PAT2 }));
        const revived = await ops.updateBookingIf({
          id: cancelled?.id ?? '',
          expectedStatus: 'cancelled',
          set: { status: 'scheduled' },
        });
        expect(revived).toBeNull();
        expect((await store.getBooking(cancelled?.id ?? ''))?.status).toBe('cancelled');
      });

      it('keeps idempotency keys unique per patient', async () => {
        const s1 = await ops.insertSchedule(newSchedule());
        const s2 = await ops.insertSchedule(newSchedule({ startTime: minutes(60), endTime: minutes(90) }));
        const first = await ops.insertBooking(bookingData(s1, { idempotencyKey: 'k1' }));
        expect(await ops.insertBooking(bookingData(s2, { idempotencyKey: 'k1' }))).toBeNull();
        expect(await ops.insertBooking(bookingData(s2, { idempotencyKey: 'k1', patientId: PAT2 }))).not.toBeNull();
        expect((await store.findBookingByIdempotencyKey({ patientId: PAT1, idempotencyKey: 'k1' }))?.id).toBe(
          first?.id,
        );
        expect(await store.findBookingByIdempotencyKey({ patientId: PAT1, idempotencyKey: 'nope' })).toBeNull();
      });

      it('compare-and-set on status and payment status appends history in the same write', async () => {
        const s = await ops.insertSchedule(newSchedule());
        const b = await ops.insertBooking(bookingData(s));
        const id = b?.id ?? '';
        const entry = {
          at: T0,
          from: 'pending' as const,
          to: 'scheduled' as const,
          paymentStatus: 'paid' as const,
          actor: { role: 'system' as const, id: 'careslot' },
          reason: 'payment_succeeded',
        };
        expect(
          await ops.updateBookingIf({
            id,
            expectedStatus: 'pending',
            expectedPaymentStatus: 'paid',
            set: { status: 'scheduled' },
          }),
        ).toBeNull();
        const updated = await ops.updateBookingIf({
          id,
          expectedStatus: 'pending',
          expectedPaymentStatus: ['unpaid'],
          set: { status: 'scheduled', paymentStatus: 'paid', holdExpiresAt: null, checkoutSessionId: 'cs_1' },
          history: entry,
        });
        expect(updated).toMatchObject({ status: 'scheduled', paymentStatus: 'paid', holdExpiresAt: null });
        expect(updated?.history).toEqual([entry]);
        expect(await ops.updateBookingIf({ id, expectedStatus: 'pending', set: { status: 'cancelled' } })).toBeNull();
        expect(
          await ops.updateBookingIf({ id: 'ffffffffffffffffffffffff', expectedStatus: 'pending', set: {} }),
        ).toBeNull();
      });

      it('keeps a history of several lines in order, each field as written, and appends after them', async () => {
        const s = await ops.insertSchedule(newSchedule());
        const line = (m: number, from: BookingStatus | null, to: BookingStatus, reason: string | null) => ({
          at: minutes(m),
          from,
          to,
          paymentStatus: 'unpaid' as const,
          actor: { role: 'patient' as const, id: PAT1 },
          reason,
        });
        const first = line(-60, null, 'pending', null);
        const second = line(-59, 'pending', 'pending', 'checkout_started');
        const b = await ops.insertBooking(bookingData(s, { history: [first, second] }));
        expect(b?.history).toEqual([first, second]);
        const third = {
          ...line(-58, 'pending', 'cancelled', 'by_patient'),
          actor: { role: 'admin' as const, id: 'a1' },
        };
        const updated = await ops.updateBookingIf({
          id: b?.id ?? '',
          expectedStatus: 'pending',
          set: { status: 'cancelled' },
          history: third,
        });
        expect(updated?.history).toEqual([first, second, third]);
        expect((await store.getBooking(b?.id ?? ''))?.history).toEqual([first, second, third]);
      });

      it('moves the active place when a booking changes slot', async () => {
        const s1 = await ops.insertSchedule(newSchedule());
        const s2 = await ops.insertSchedule(newSchedule({ startTime: minutes(60), endTime: minutes(90) }));
        const b = await ops.insertBooking(bookingData(s1, { status: 'scheduled' }));
        const moved = await ops.updateBookingIf({
          id: b?.id ?? '',
          expectedStatus: 'scheduled',
          set: { scheduleId: s2.id, slotStart: s2.startTime, slotEnd: s2.endTime },
        });
        expect(moved?.scheduleId).toBe(s2.id);
        expect(await store.findActiveBooking(s1.id)).toBeNull();
        expect((await store.findActiveBooking(s2.id))?.id).toBe(b?.id);
      });

      it('compare-and-set on the expected slot: returns null once the booking has moved to another slot', async () => {
        const s1 = await ops.insertSchedule(newSchedule());
        const s2 = await ops.insertSchedule(newSchedule({ startTime: minutes(60), endTime: minutes(90) }));
        const s3 = await ops.insertSchedule(newSchedule({ startTime: minutes(120), endTime: minutes(150) }));
        const id = (await ops.insertBooking(bookingData(s1, { status: 'scheduled' })))?.id ?? '';
        const moveTo = (target: Schedule) => ({
          scheduleId: target.id,
          slotStart: target.startTime,
          slotEnd: target.endTime,
        });
        const moved = await ops.updateBookingIf({
          id,
          expectedStatus: 'scheduled',
          expectedScheduleId: s1.id,
          set: moveTo(s2),
        });
        expect(moved?.scheduleId).toBe(s2.id);
        // A second move decided on the old read (still on s1) changes nothing.
        const stale = await ops.updateBookingIf({
          id,
          expectedStatus: 'scheduled',
          expectedScheduleId: s1.id,
          set: moveTo(s3),
        });
        expect(stale).toBeNull();
        expect((await store.getBooking(id))?.scheduleId).toBe(s2.id);
        expect(await store.findActiveBooking(s3.id)).toBeNull();
        expect((await store.findActiveBooking(s2.id))?.id).toBe(id);
      });

      it('lets exactly one of 20 concurrent moves expecting the same slot apply', async () => {
        const from = await ops.insertSchedule(newSchedule());
        const targets = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            ops.insertSchedule(newSchedule({ startTime: minutes(60 * (i + 1)), endTime: minutes(60 * (i + 1) + 30) })),
          ),
        );
        const id = (await ops.insertBooking(bookingData(from, { status: 'scheduled' })))?.id ?? '';
        const results = await Promise.all(
          targets.map((target) =>
            store.transaction((tx) =>
              tx.updateBookingIf({
                id,
                expectedStatus: 'scheduled',
                expectedScheduleId: from.id,
                set: { scheduleId: target.id, slotStart: target.startTime, slotEnd: target.endTime },
              }),
            ),
          ),
        );
        const applied = results.filter((r) => r !== null);
        expect(applied).toHaveLength(1);
        expect((await store.getBooking(id))?.scheduleId).toBe(applied[0]?.scheduleId);
      });

      it('finds and counts bookings by every query field', async () => {
        const s = await ops.insertSchedule(newSchedule());
        const s2 = await ops.insertSchedule(newSchedule({ startTime: minutes(60), endTime: minutes(90) }));
        const held = await ops.insertBooking(
          bookingData(s, { holdExpiresAt: minutes(-1), checkoutSessionId: 'cs_a', mode: 'paid' }),
        );
        const free = await ops.insertBooking(
          bookingData(s2, { patientId: PAT2, status: 'scheduled', holdExpiresAt: null, mode: 'free' }),
        );
        expect(
          (await store.findBookings({ status: 'pending', holdExpiresBefore: minutes(0) })).map((b) => b.id),
        ).toEqual([held?.id]);
        expect(await store.findBookings({ holdExpiresBefore: minutes(-2) })).toEqual([]);
        expect((await store.findBookings({ checkoutSessionId: 'cs_a' })).map((b) => b.id)).toEqual([held?.id]);
        expect((await store.findBookings({ mode: 'free' })).map((b) => b.id)).toEqual([free?.id]);
        expect(await store.countBookings({ status: ['pending', 'scheduled'] })).toBe(2);
        expect(await store.countBookings({ patientId: PAT2, paymentStatus: 'unpaid' })).toBe(1);
        expect(await store.countBookings({ doctorId: DOC1, scheduleId: s2.id })).toBe(1);
        expect((await store.findBookings({ limit: 1 })).map((b) => b.id)).toEqual([held?.id]);
        expect(await store.findBookings({ createdBefore: new Date(0) })).toEqual([]);
      });
    });

    describe('money records', () => {
      it('appends a ledger entry exactly once per key, even under concurrency', async () => {
        const entry = ledgerEntry({ key: 'credit:b1', bookingId: B1 });
        const results = await Promise.all(Array.from({ length: 20 }, () => ops.appendLedgerEntry(entry)));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await ops.appendLedgerEntry(entry)).toBe(false);
        const entries = await store.findLedgerEntries({ doctorId: DOC1 });
        expect(entries).toHaveLength(1);
        expect(entries[0]).toMatchObject({ key: 'credit:b1', amount: 5000, kind: 'credit' });
        expect(await store.findLedgerEntries({ bookingId: B2 })).toEqual([]);
      });

      it("sums a doctor's balances per currency in the store, equal to the sum of the entries", async () => {
        const credits = [5000, 2500, 1200].map((amount, i) =>
          ledgerEntry({ key: `credit:${i}`, bookingId: B1, amount, createdAt: minutes(i) }),
        );
        for (const entry of credits) await ops.appendLedgerEntry(entry);
        await ops.appendLedgerEntry(
          ledgerEntry({ key: 'refund:r1', kind: 'debit', amount: 700, createdAt: minutes(5) }),
        );
        await ops.appendLedgerEntry(ledgerEntry({ key: 'credit:usd', currency: 'usd', amount: 900 }));
        await ops.appendLedgerEntry(ledgerEntry({ key: 'credit:other', doctorId: DOC2, amount: 111 }));
        await ops.appendLedgerEntry(ledgerEntry({ key: 'credit:zero', currency: 'jpy', amount: 300 }));
        await ops.appendLedgerEntry(ledgerEntry({ key: 'refund:zero', currency: 'jpy', kind: 'debit', amount: 300 }));
        const balances = await store.ledgerBalances({ doctorId: DOC1 });
        expect(balances).toEqual({ eur: 8000, usd: 900, jpy: 0 });
        const summed: Record<string, number> = {};
        for (const e of await store.findLedgerEntries({ doctorId: DOC1 })) {
          summed[e.currency] = (summed[e.currency] ?? 0) + (e.kind === 'credit' ? e.amount : -e.amount);
        }
        expect(balances).toEqual(summed);
        expect(await store.ledgerBalances({ doctorId: DOC2 })).toEqual({ eur: 111 });
        expect(await store.ledgerBalances({ doctorId: PAT9 })).toEqual({});
        expect(await store.transaction((tx) => tx.ledgerBalances({ doctorId: DOC1 }))).toEqual(balances);
      });

      it('keeps the running total in the transaction of each line: rolled back with it, never moved by a repeated key', async () => {
        await ops.appendLedgerEntry(ledgerEntry({ key: 'credit:kept', amount: 4000 }));
        await expect(
          store.transaction(async (tx) => {
            expect(await tx.appendLedgerEntry(ledgerEntry({ key: 'credit:lost', amount: 999 }))).toBe(true);
            expect(await tx.ledgerBalances({ doctorId: DOC1 })).toEqual({ eur: 4999 });
            throw new Error('roll back');
          }),
        ).rejects.toThrow('roll back');
        expect(await store.ledgerBalances({ doctorId: DOC1 })).toEqual({ eur: 4000 });
        expect(await ops.appendLedgerEntry(ledgerEntry({ key: 'credit:kept', amount: 70 }))).toBe(false);
        expect(await store.ledgerBalances({ doctorId: DOC1 })).toEqual({ eur: 4000 });
        expect(await store.findLedgerEntries({ doctorId: DOC1 })).toHaveLength(1);
      });

      it('keeps the running total equal to the sum of lines when 40 transactions append to one wallet at once', async () => {
        const results = await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            store.transaction(async (tx) => {
              const credit = await tx.appendLedgerEntry(
                ledgerEntry({ key: `credit:c${i}`, amount: 100 + i, createdAt: minutes(i) }),
              );
              // Every fourth also debits; every fifth appends one shared key (only one of them adds it).
              const debit =
                i % 4 === 0 &&
                (await tx.appendLedgerEntry(
                  ledgerEntry({ key: `refund:d${i}`, kind: 'debit', amount: 30, createdAt: minutes(i) }),
                ));
              const shared =
                i % 5 === 0 && (await tx.appendLedgerEntry(ledgerEntry({ key: 'credit:shared', amount: 7 })));
              return { credit, debit, shared };
            }),
          ),
        );
        expect(results.filter((r) => r.credit)).toHaveLength(40);
        expect(results.filter((r) => r.debit)).toHaveLength(10);
        expect(results.filter((r) => r.shared)).toHaveLength(1);
        const lines = await store.findLedgerEntries({ doctorId: DOC1 });
        const sum = lines.reduce((total, e) => total + (e.kind === 'credit' ? e.amount : -e.amount), 0);
        expect(lines).toHaveLength(51);
        expect(sum).toBe(Array.from({ length: 40 }, (_, i) => 100 + i).reduce((a, b) => a + b, 0) - 300 + 7);
        expect(await store.ledgerBalances({ doctorId: DOC1 })).toEqual({ eur: sum });
      });

      it('pages ledger entries by (createdAt, id) with a keyset cursor, ties included, nothing twice or lost', async () => {
        // Seven entries, three of them at the same instant: the id breaks the tie.
        const times = [minutes(3), minutes(1), minutes(2), minutes(2), minutes(2), minutes(0), minutes(4)];
        for (const [i, createdAt] of times.entries()) {
          await ops.appendLedgerEntry(ledgerEntry({ key: `credit:${i}`, createdAt, amount: 100 + i }));
        }
        const all = await store.findLedgerEntries({ doctorId: DOC1 });
        expect(all.map((e) => e.createdAt.getTime())).toEqual([...times].map((t) => t.getTime()).sort((a, b) => a - b));
        const paged: string[] = [];
        let after: { createdAt: Date; id: string } | undefined;
        for (let pages = 0; pages < 10; pages++) {
          const page = await store.findLedgerEntries({ doctorId: DOC1, limit: 3, ...(after ? { after } : {}) });
          expect(page.length).toBeLessThanOrEqual(3);
          paged.push(...page.map((e) => e.key));
          const last = page.at(-1);
          if (page.length < 3 || !last) break;
          after = { createdAt: last.createdAt, id: last.id };
        }
        expect(paged).toEqual(all.map((e) => e.key));
        expect(await store.findLedgerEntries({ doctorId: DOC1, limit: 0 })).toEqual([]);
        const lastEntry = all.at(-1);
        if (!lastEntry) throw new Error('no entries');
        expect(
          await store.findLedgerEntries({
            doctorId: DOC1,
            after: { createdAt: lastEntry.createdAt, id: lastEntry.id },
          }),
        ).toEqual([]);
      });

      it('pages payment transactions with a refund in a status by a keyset cursor', async () => {
        const created: string[] = [];
        for (let i = 0; i < 5; i++) {
          const payment = await ops.insertPaymentTransaction(
            newPaymentTransaction({ providerPaymentId: `pi_page_${i}`, checkoutSessionId: `cs_page_${i}` }),
          );
          if (!payment) throw new Error('not inserted');
          if (i !== 2) {
            await ops.upsertRefund({ paymentTransactionId: payment.id, refund: refundRecord({ id: `r${i}` }) });
          }
          created.push(payment.id);
        }
        const expected = (await store.findPaymentTransactions({ refundStatus: 'pending' })).map((p) => p.id);
        expect([...expected].sort()).toEqual(created.filter((_, i) => i !== 2).sort());
        const first = await store.findPaymentTransactions({ refundStatus: 'pending', limit: 2 });
        expect(first.map((p) => p.id)).toEqual(expected.slice(0, 2));
        const cursor = first.at(-1);
        if (!cursor) throw new Error('empty page');
        const rest = await store.findPaymentTransactions({
          refundStatus: 'pending',
          after: { createdAt: cursor.createdAt, id: cursor.id },
        });
        expect(rest.map((p) => p.id)).toEqual(expected.slice(2));
        expect(await store.findPaymentTransactions({ refundStatus: 'pending', limit: 0 })).toEqual([]);
      });

      it('records a processed event id once', async () => {
        expect(await store.hasProcessedEvent('evt_1')).toBe(false);
        expect(await ops.recordProcessedEvent({ id: 'evt_1', type: 'payment.succeeded', at: T0 })).toBe(true);
        expect(await ops.recordProcessedEvent({ id: 'evt_1', type: 'payment.succeeded', at: T0 })).toBe(false);
        expect(await store.hasProcessedEvent('evt_1')).toBe(true);
      });

      it('keeps one payment transaction per provider payment id and upserts refunds by id', async () => {
        const payment = newPaymentTransaction({ bookingId: B1, provider: 'test' });
        const created = await ops.insertPaymentTransaction(payment);
        expect(created).toMatchObject({ providerPaymentId: 'pi_1', credited: true });
        expect(await ops.insertPaymentTransaction(payment)).toBeNull();
        const other = await ops.insertPaymentTransaction({ ...payment, provider: 'other' });
        expect(other).not.toBeNull();
        expect(other?.id).not.toBe(created?.id);
        // The same provider payment id under a second provider is a payment of its own, once.
        expect(await ops.insertPaymentTransaction({ ...payment, provider: 'other' })).toBeNull();
        expect((await store.findPaymentTransaction({ provider: 'other', providerPaymentId: 'pi_1' }))?.id).toBe(
          other?.id,
        );
        expect((await store.findPaymentTransaction({ provider: 'test', providerPaymentId: 'pi_1' }))?.id).toBe(
          created?.id,
        );
        expect(await store.findPaymentTransaction({ provider: 'third', providerPaymentId: 'pi_1' })).toBeNull();
        const refund = refundRecord();
        await ops.upsertRefund({ paymentTransactionId: created?.id ?? '', refund });
        expect((await store.findPaymentTransactions({ refundStatus: 'pending' })).map((p) => p.id)).toEqual([
          created?.id,
        ]);
        const done = await ops.upsertRefund({
          paymentTransactionId: created?.id ?? '',
          refund: { ...refund, status: 'succeeded', providerRefundId: 're_1' },
        });
        expect(done?.refunds).toEqual([{ ...refund, status: 'succeeded', providerRefundId: 're_1' }]);
        expect(await store.findPaymentTransactions({ refundStatus: 'pending' })).toEqual([]);
        expect(
          (await store.findPaymentTransaction({ provider: 'test', providerPaymentId: 'pi_1' }))?.refunds[0]?.status,
        ).toBe('succeeded');
        expect((await store.findPaymentTransactions({ bookingId: B1 })).length).toBe(2);
        expect(await ops.upsertRefund({ paymentTransactionId: 'ffffffffffffffffffffffff', refund })).toBeNull();
      });

      it('saves a payment customer once and returns the stored one afterwards', async () => {
        expect(await store.getPaymentCustomer({ patientId: PAT1, provider: 'stripe' })).toBeNull();
        const saved = await ops.savePaymentCustomer({ patientId: PAT1, provider: 'stripe', customerId: 'cus_1' });
        expect(saved.customerId).toBe('cus_1');
        const second = await ops.savePaymentCustomer({ patientId: PAT1, provider: 'stripe', customerId: 'cus_2' });
        expect(second.customerId).toBe('cus_1');
        expect((await store.getPaymentCustomer({ patientId: PAT1, provider: 'stripe' }))?.customerId).toBe('cus_1');
      });
    });

    describeOutboxConformance(name, harness);
    describeAvailabilityConformance(name, harness);
    describeBookingPolicyConformance(name, harness);
  });
}
