// The outbox part of the BookingStore conformance suite: append in the change's transaction, claim with a lease, complete, fail, re-drive, retention.
import { beforeEach, describe, expect, it } from 'vitest';
import type { BookingStore, NewOutboxRecord, StoreOperations } from '../../src/index.js';
import { autocommit } from '../support/autocommit.js';
import { BOOKING_ID, at as minutes, T0 } from '../support/records.js';
import type { StoreHarness } from './store-conformance.js';

/** A `booking.confirmed` delivery of event `eventId` to `consumer`, created `offset` minutes after T0. */
export function outboxRecord(eventId: string, consumer = 'notifier', offset = 0): NewOutboxRecord {
  return {
    key: `${eventId}/${consumer}`,
    eventId,
    consumer,
    type: 'booking.confirmed',
    bookingId: BOOKING_ID,
    scheduleId: null,
    payload: {
      booking: { id: BOOKING_ID, slotStart: T0.toISOString(), amount: 5000, tags: ['a', 'b'], note: null, paid: true },
    },
    version: 1,
    createdAt: minutes(offset),
  };
}

const lease = (owner: string, now: Date, limit = 10, extra: { keys?: string[]; consumer?: string } = {}) => ({
  consumer: extra.consumer ?? 'notifier',
  owner,
  now,
  leaseUntil: new Date(now.getTime() + 60_000),
  limit,
  ...(extra.keys ? { keys: extra.keys } : {}),
});

export function describeOutboxConformance(name: string, harness: StoreHarness): void {
  describe(`BookingStore conformance (outbox): ${name}`, () => {
    let store: BookingStore;
    let ops: StoreOperations;
    beforeEach(async () => {
      store = await harness.fresh();
      ops = autocommit(store);
    });

    it('appends records pending and due at their creation, each key once, with the payload intact', async () => {
      expect(await ops.appendOutbox([outboxRecord('e1'), outboxRecord('e1', 'events'), outboxRecord('e2')])).toBe(3);
      expect(await ops.appendOutbox([outboxRecord('e1'), outboxRecord('e3')])).toBe(1);
      expect(await ops.appendOutbox([])).toBe(0);
      const [first] = await store.findOutbox({ eventId: 'e1', consumer: 'notifier' });
      expect(first).toEqual({
        ...outboxRecord('e1'),
        status: 'pending',
        attempts: 0,
        nextAttemptAt: minutes(0),
        leaseOwner: null,
        leaseUntil: null,
        lastError: null,
        deliveredAt: null,
      });
      expect(first?.createdAt).toBeInstanceOf(Date);
      expect((await store.findOutbox({})).map((r) => r.key)).toEqual([
        'e1/events',
        'e1/notifier',
        'e2/notifier',
        'e3/notifier',
      ]);
    });

    it('keeps nothing of a transaction that rolled back, and shows the records only once committed', async () => {
      await expect(
        store.transaction(async (tx) => {
          await tx.appendOutbox([outboxRecord('gone')]);
          expect((await tx.findOutbox({ eventId: 'gone' })).length).toBe(1);
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      expect(await store.findOutbox({ eventId: 'gone' })).toEqual([]);
    });

    it('lists by consumer, status, booking and event, in (createdAt, key) order, with limit, before and after', async () => {
      await ops.appendOutbox([
        outboxRecord('e3', 'notifier', 2),
        outboxRecord('e1', 'notifier', 0),
        outboxRecord('e2', 'notifier', 1),
      ]);
      await ops.appendOutbox([{ ...outboxRecord('d4', 'hooks', 1), bookingId: null, scheduleId: 'S1' }]);
      expect((await store.findOutbox({ consumer: 'notifier' })).map((r) => r.eventId)).toEqual(['e1', 'e2', 'e3']);
      expect((await store.findOutbox({ consumer: 'notifier', limit: 2 })).map((r) => r.eventId)).toEqual(['e1', 'e2']);
      expect((await store.findOutbox({ bookingId: BOOKING_ID })).length).toBe(3);
      expect((await store.findOutbox({ status: 'delivered' })).length).toBe(0);
      const e2 = { createdAt: minutes(1), key: 'e2/notifier' };
      expect((await store.findOutbox({ consumer: 'notifier', after: e2 })).map((r) => r.eventId)).toEqual(['e3']);
      expect((await store.findOutbox({ consumer: 'notifier', before: e2 })).map((r) => r.eventId)).toEqual(['e1']);
      // Same instant, the key decides: d4/hooks sorts before e2/notifier.
      expect((await store.findOutbox({ before: e2 })).map((r) => r.key)).toEqual(['e1/notifier', 'd4/hooks']);
      expect(await store.findOutbox({ limit: 0 })).toEqual([]);
    });

    it('claims due records of one consumer, oldest first, and leases them to the claimer', async () => {
      await ops.appendOutbox([
        outboxRecord('e2', 'notifier', 1),
        outboxRecord('e1', 'notifier', 0),
        outboxRecord('e1', 'events', 0),
      ]);
      await ops.appendOutbox([outboxRecord('later', 'notifier', 30)]);
      const now = minutes(5);
      const claimed = await ops.claimOutbox(lease('A', now, 1));
      expect(claimed.map((r) => r.key)).toEqual(['e1/notifier']);
      expect(claimed[0]).toMatchObject({
        leaseOwner: 'A',
        leaseUntil: new Date(now.getTime() + 60_000),
        status: 'pending',
      });
      // Leased to A: B gets the next one, not the same; the future one is not due.
      expect((await ops.claimOutbox(lease('B', now))).map((r) => r.key)).toEqual(['e2/notifier']);
      expect(await ops.claimOutbox(lease('C', now))).toEqual([]);
      expect((await ops.claimOutbox(lease('C', now, 10, { consumer: 'events' }))).map((r) => r.key)).toEqual([
        'e1/events',
      ]);
      // Only the named keys (the fast path).
      await ops.appendOutbox([outboxRecord('k1'), outboxRecord('k2')]);
      expect((await ops.claimOutbox(lease('D', now, 10, { keys: ['k2/notifier'] }))).map((r) => r.key)).toEqual([
        'k2/notifier',
      ]);
    });

    it('lets another claimer take a record whose lease ended; the first owner can then neither complete nor fail it', async () => {
      await ops.appendOutbox([outboxRecord('e1')]);
      await ops.claimOutbox(lease('A', minutes(0)));
      expect(await ops.claimOutbox(lease('B', minutes(0.5)))).toEqual([]);
      const taken = await ops.claimOutbox(lease('B', minutes(1)));
      expect(taken.map((r) => r.leaseOwner)).toEqual(['B']);
      expect(await ops.completeOutbox({ key: 'e1/notifier', owner: 'A', at: minutes(1) })).toBe(false);
      expect(await ops.failOutbox({ key: 'e1/notifier', owner: 'A', error: 'x', retryAt: minutes(2) })).toBe(false);
      expect(await ops.completeOutbox({ key: 'e1/notifier', owner: 'B', at: minutes(1) })).toBe(true);
      expect(await ops.completeOutbox({ key: 'e1/notifier', owner: 'B', at: minutes(1) })).toBe(false);
      expect(await ops.completeOutbox({ key: 'missing/notifier', owner: 'B', at: minutes(1) })).toBe(false);
    });

    it('appends a record already leased: only its owner completes it, nobody claims it before the lease ends', async () => {
      const born = { ...outboxRecord('e1'), leaseOwner: 'A', leaseUntil: minutes(1) };
      expect(await ops.appendOutbox([born, outboxRecord('e2')])).toBe(2);
      expect((await store.findOutbox({ eventId: 'e1' }))[0]).toMatchObject({
        status: 'pending',
        attempts: 0,
        leaseOwner: 'A',
        leaseUntil: minutes(1),
      });
      // Another claimer gets only the unleased record until the lease ends; then the leased one too.
      expect((await ops.claimOutbox(lease('B', minutes(0.5)))).map((r) => r.key)).toEqual(['e2/notifier']);
      expect(await ops.completeOutbox({ key: 'e1/notifier', owner: 'B', at: minutes(0.5) })).toBe(false);
      expect(await ops.completeOutbox({ key: 'e1/notifier', owner: 'A', at: minutes(0.5) })).toBe(true);
      await ops.appendOutbox([{ ...outboxRecord('e3'), leaseOwner: 'A', leaseUntil: minutes(1) }]);
      expect((await ops.claimOutbox(lease('B', minutes(1)))).map((r) => r.key)).toEqual(['e3/notifier']);
      // Owner and time come together, or not at all.
      await expect(ops.appendOutbox([{ ...outboxRecord('e4'), leaseOwner: 'A' }])).rejects.toMatchObject({
        code: 'INVALID_INPUT',
      });
      await expect(ops.appendOutbox([{ ...outboxRecord('e5'), leaseUntil: minutes(1) }])).rejects.toMatchObject({
        code: 'INVALID_INPUT',
      });
      expect(await store.findOutbox({ eventId: 'e4' })).toEqual([]);
    });

    it('ends a lease without an attempt on release, so the next claim takes the record at once', async () => {
      await ops.appendOutbox([outboxRecord('e1')]);
      await ops.claimOutbox(lease('A', minutes(0)));
      expect(await ops.releaseOutbox({ key: 'e1/notifier', owner: 'B' })).toBe(false);
      expect(await ops.releaseOutbox({ key: 'e1/notifier', owner: 'A' })).toBe(true);
      expect((await store.findOutbox({}))[0]).toMatchObject({
        status: 'pending',
        attempts: 0,
        leaseOwner: null,
        leaseUntil: null,
      });
      expect((await ops.claimOutbox(lease('B', minutes(0)))).map((r) => r.leaseOwner)).toEqual(['B']);
      expect(await ops.releaseOutbox({ key: 'e1/notifier', owner: 'A' })).toBe(false);
      await ops.completeOutbox({ key: 'e1/notifier', owner: 'B', at: minutes(1) });
      expect(await ops.releaseOutbox({ key: 'e1/notifier', owner: 'B' })).toBe(false);
      expect(await ops.releaseOutbox({ key: 'missing/notifier', owner: 'B' })).toBe(false);
    });

    it('marks a delivery done: delivered at, lease ended, never claimed again', async () => {
      await ops.appendOutbox([outboxRecord('e1')]);
      await ops.claimOutbox(lease('A', minutes(0)));
      expect(await ops.completeOutbox({ key: 'e1/notifier', owner: 'A', at: minutes(3) })).toBe(true);
      if (harness.dropsDelivered) {
        expect(await store.findOutbox({ eventId: 'e1' })).toEqual([]);
      } else {
        const [done] = await store.findOutbox({ eventId: 'e1' });
        expect(done).toMatchObject({
          status: 'delivered',
          deliveredAt: minutes(3),
          leaseOwner: null,
          leaseUntil: null,
        });
        expect((await store.findOutbox({ status: 'delivered' })).length).toBe(1);
      }
      expect(await ops.claimOutbox(lease('B', minutes(60)))).toEqual([]);
      // Completed once: a second completion, by the owner or anyone else, changes nothing.
      expect(await ops.completeOutbox({ key: 'e1/notifier', owner: 'A', at: minutes(4) })).toBe(false);
      expect(await ops.failOutbox({ key: 'e1/notifier', owner: 'A', error: 'late', retryAt: null })).toBe(false);
      expect(await store.findOutbox({ status: 'pending' })).toEqual([]);
    });

    it('records failed attempts with their retry time, ends dead on a null retry, and re-drives a dead one', async () => {
      await ops.appendOutbox([outboxRecord('e1')]);
      await ops.claimOutbox(lease('A', minutes(0)));
      expect(await ops.failOutbox({ key: 'e1/notifier', owner: 'A', error: 'smtp down', retryAt: minutes(10) })).toBe(
        true,
      );
      expect((await store.findOutbox({}))[0]).toMatchObject({
        status: 'pending',
        attempts: 1,
        lastError: 'smtp down',
        nextAttemptAt: minutes(10),
        leaseOwner: null,
        leaseUntil: null,
      });
      expect(await ops.claimOutbox(lease('B', minutes(9)))).toEqual([]);
      expect((await ops.claimOutbox(lease('B', minutes(10)))).length).toBe(1);
      expect(await ops.failOutbox({ key: 'e1/notifier', owner: 'B', error: 'still down', retryAt: null })).toBe(true);
      expect((await store.findOutbox({}))[0]).toMatchObject({ status: 'dead', attempts: 2, lastError: 'still down' });
      expect(await ops.claimOutbox(lease('C', minutes(999)))).toEqual([]);
      expect((await store.findOutbox({ status: 'dead' })).length).toBe(1);
      expect(await ops.redriveOutbox({ key: 'e1/notifier', at: minutes(20) })).toBe(true);
      expect(await ops.redriveOutbox({ key: 'e1/notifier', at: minutes(20) })).toBe(false);
      expect((await store.findOutbox({}))[0]).toMatchObject({
        status: 'pending',
        attempts: 0,
        nextAttemptAt: minutes(20),
      });
      expect(await ops.claimOutbox(lease('C', minutes(19)))).toEqual([]);
      expect((await ops.claimOutbox(lease('C', minutes(20)))).length).toBe(1);
      expect(await ops.redriveOutbox({ key: 'missing', at: minutes(20) })).toBe(false);
    });

    it('deletes delivered records older than the cutoff, at most limit at a time, and nothing else', async () => {
      await ops.appendOutbox(['a', 'b', 'c', 'd'].map((id, i) => outboxRecord(id, 'notifier', i)));
      for (const [i, key] of ['a/notifier', 'b/notifier', 'c/notifier'].entries()) {
        await ops.claimOutbox(lease('A', minutes(10), 10, { keys: [key] }));
        await ops.completeOutbox({ key, owner: 'A', at: minutes(10 + i) });
      }
      if (harness.dropsDelivered) {
        // Gone once delivered: the clean-up finds nothing, and the pending record stays.
        expect((await store.findOutbox({})).map((r) => r.key)).toEqual(['d/notifier']);
        expect(await ops.deleteDeliveredOutbox({ deliveredBefore: minutes(99), limit: 10 })).toBe(0);
        expect((await store.findOutbox({})).map((r) => r.key)).toEqual(['d/notifier']);
        return;
      }
      expect(await ops.deleteDeliveredOutbox({ deliveredBefore: minutes(12), limit: 1 })).toBe(1);
      expect(await ops.deleteDeliveredOutbox({ deliveredBefore: minutes(12), limit: 10 })).toBe(1);
      expect(await ops.deleteDeliveredOutbox({ deliveredBefore: minutes(12), limit: 10 })).toBe(0);
      expect((await store.findOutbox({})).map((r) => r.key)).toEqual(['c/notifier', 'd/notifier']);
    });

    it('never leases one record to two concurrent claimers (20 claimers, 10 records, one lease each)', async () => {
      await ops.appendOutbox(Array.from({ length: 10 }, (_, i) => outboxRecord(`e${i}`, 'notifier', i / 100)));
      const now = minutes(1);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.transaction((tx) => tx.claimOutbox(lease(`D${i}`, now, 1)))),
      );
      const keys = results.flat().map((r) => r.key);
      expect(new Set(keys).size).toBe(keys.length);
      expect(keys.length).toBeLessThanOrEqual(10);
      // Whatever was not leased is still claimable; everything ends up leased exactly once.
      const rest = await ops.claimOutbox(lease('Z', now, 100));
      expect([...keys, ...rest.map((r) => r.key)].sort()).toEqual(
        Array.from({ length: 10 }, (_, i) => `e${i}/notifier`).sort(),
      );
    });

    it('gives two dispatchers claiming all at once disjoint batches that together hold every due record', async () => {
      await ops.appendOutbox(Array.from({ length: 30 }, (_, i) => outboxRecord(`e${i}`, 'notifier', i / 1000)));
      const now = minutes(1);
      const [a, b] = await Promise.all([
        store.transaction((tx) => tx.claimOutbox(lease('A', now, 100))),
        store.transaction((tx) => tx.claimOutbox(lease('B', now, 100))),
      ]);
      const keys = [...(a ?? []), ...(b ?? [])].map((r) => r.key);
      expect(new Set(keys).size).toBe(keys.length);
      expect(keys.length).toBe(30);
      const owners = new Set((await store.findOutbox({})).map((r) => r.leaseOwner));
      expect([...owners].every((o) => o === 'A' || o === 'B')).toBe(true);
    });
  });
}
