// The outbox's edges: subscription options and their refusals, age limits, reports, retention, dead-letter queries, store failures on the fast path.
import { describe, expect, it } from 'vitest';
import { BookingError, MemoryStore, type Notification, type OutboxEvent } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';
import { createFixture, type Fixture, PATIENTS } from '../support/engine-fixture.js';
import { interceptOperation } from '../support/intercept.js';

async function paidBooking(f: Fixture, startInMinutes = 24 * 60) {
  const slot = await f.slot(startInMinutes);
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  await f.engine.handlePaymentEvent(f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''));
  return { slot, booking };
}

describe('engine.outbox.subscribe options', () => {
  it('refuses bad names, handlers and numbers with a TypeError naming what is wrong', () => {
    const f = createFixture();
    const sub =
      (name: unknown, options: object = {}, handler: unknown = () => {}) =>
      () =>
        f.engine.outbox.subscribe(name as string, handler as never, options);
    expect(sub('')).toThrow('name must be a non-empty string (up to 200) not starting with "careslot:"');
    expect(sub('x'.repeat(201))).toThrow(TypeError);
    expect(sub('careslot:mine')).toThrow(TypeError);
    expect(sub(42)).toThrow(TypeError);
    expect(sub(`ok-200-${'x'.repeat(193)}`)).not.toThrow();
    expect(sub('h', {}, 'nope')).toThrow('engine.outbox.subscribe: handler must be a function');
    for (const key of ['maxAttempts', 'baseDelayMs', 'maxDelayMs', 'maxAgeMs']) {
      for (const value of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(sub(`n-${key}-${value}`, { [key]: value })).toThrow(`engine.outbox.subscribe: ${key} must be positive`);
      }
    }
    expect(sub('fp', { fastPath: 'yes' })).toThrow('engine.outbox.subscribe: fastPath must be a boolean');
    expect(sub('fp-ok', { fastPath: false })).not.toThrow();
  });

  it('delivers on the fast path by default, and only from a drain with fastPath: false', async () => {
    const f = createFixture();
    const fast: string[] = [];
    const slow: string[] = [];
    f.engine.outbox.subscribe('fast', (e) => {
      fast.push(e.type);
    });
    f.engine.outbox.subscribe(
      'slow',
      (e) => {
        slow.push(e.type);
      },
      { fastPath: false },
    );
    const slot = await f.slot();
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    expect(fast).toEqual(['schedule.created', 'booking.created', 'booking.confirmed']);
    expect(slow).toEqual([]);
    await f.engine.outbox.drain();
    expect(slow).toEqual(['schedule.created', 'booking.created', 'booking.confirmed']);
  });

  it('orders the events of one transaction as they happened (created before confirmed, same instant)', async () => {
    const f = createFixture();
    const got: OutboxEvent[] = [];
    f.engine.outbox.subscribe('order', (e) => {
      got.push(e);
    });
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    const ofBooking = got.filter((e) => e.bookingId === booking.id);
    expect(ofBooking.map((e) => e.type)).toEqual(['booking.created', 'booking.confirmed']);
    expect(ofBooking[0]?.createdAt.getTime()).toBe(ofBooking[1]?.createdAt.getTime());
    expect((ofBooking[0]?.id ?? '') < (ofBooking[1]?.id ?? '')).toBe(true);
  });

  it('gives up on a delivery older than maxAgeMs even with attempts left', async () => {
    const f = createFixture();
    f.engine.outbox.subscribe(
      'aging',
      () => {
        throw new Error('down');
      },
      { maxAgeMs: 10 * 60_000, maxAttempts: 1000, baseDelayMs: 60_000, events: ['booking.created'] },
    );
    const slot = await f.slot();
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    f.clock.advanceMinutes(5);
    await f.engine.outbox.drain();
    expect(await f.engine.outbox.listDead({ consumer: 'aging' })).toEqual([]);
    f.clock.advanceMinutes(6);
    await f.engine.outbox.drain();
    const dead = await f.engine.outbox.listDead({ consumer: 'aging' });
    expect(dead.map((r) => [r.type, r.attempts])).toEqual([['booking.created', 3]]);
    expect(f.events.filter((e) => e.name === 'effect.failed').map((e) => e.payload)).toEqual([
      expect.objectContaining({ effect: 'subscriber:aging', error: new Error('down') }),
    ]);
    expect(f.events.find((e) => e.name === 'outbox.dead')?.payload).toMatchObject({
      record: { consumer: 'aging', status: 'dead', attempts: 3 },
      error: new Error('down'),
    });
  });

  it('stops appending for a consumer once unsubscribed, and leaves what it had pending', async () => {
    const f = createFixture();
    const unsubscribe = f.engine.outbox.subscribe('gone', () => {
      throw new Error('not now');
    });
    await paidBooking(f);
    const before = await f.store.findOutbox({ consumer: 'gone' });
    expect(before.length).toBeGreaterThan(0);
    unsubscribe();
    await paidBooking(f, 48 * 60);
    const after = await f.store.findOutbox({ consumer: 'gone' });
    expect(after.map((r) => r.key)).toEqual(before.map((r) => r.key));
    expect(after.every((r) => r.status === 'pending')).toBe(true);
  });
});

describe('engine.outbox reports and queries', () => {
  it('counts what a drain delivered, retried and gave up, and takes every due record however many batches', async () => {
    const f = createFixture({ batchSize: 2 });
    let mode: 'down' | 'up' = 'down';
    f.engine.outbox.subscribe(
      'count',
      (e) => {
        if (mode === 'down') throw new Error('down');
        if (e.type === 'refund.succeeded') throw new Error('never');
      },
      { maxAttempts: 2, baseDelayMs: 1_000 },
    );
    for (let i = 0; i < 3; i++) await paidBooking(f, 24 * 60 + i * 60);
    const pending = await f.store.findOutbox({ consumer: 'count', status: 'pending' });
    expect(pending).toHaveLength(9); // schedule.created, booking.created, booking.confirmed × 3
    mode = 'up';
    f.clock.advanceMinutes(1);
    const report = await f.engine.outbox.drain();
    expect(report).toEqual({ delivered: 9, failed: 0, dead: 0 });
    const { booking } = await paidBooking(f, 30 * 60);
    await f.engine.refund({ bookingId: booking.id, amount: 100 });
    f.clock.advanceMinutes(1);
    expect(await f.engine.outbox.drain()).toEqual({ delivered: 0, failed: 0, dead: 1 });
  });

  it('lists dead deliveries by consumer and limit, and refuses a redrive without a key', async () => {
    const f = createFixture({ outboxMaxAttempts: 1 });
    for (const name of ['a', 'b']) {
      f.engine.outbox.subscribe(
        name,
        () => {
          throw new Error(name);
        },
        { maxAttempts: 1, events: ['booking.created', 'booking.confirmed'] },
      );
    }
    const slot = await f.slot();
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    expect((await f.engine.outbox.listDead()).map((r) => r.consumer).sort()).toEqual(['a', 'a', 'b', 'b']);
    expect((await f.engine.outbox.listDead({ consumer: 'b' })).map((r) => r.consumer)).toEqual(['b', 'b']);
    expect(await f.engine.outbox.listDead({ consumer: 'a', limit: 1 })).toHaveLength(1);
    await expect(f.engine.outbox.redrive('')).rejects.toThrow('engine.outbox.redrive: pass a record key');
    await expect(f.engine.outbox.redrive(7 as never)).rejects.toThrow(TypeError);
    const calls: string[] = [];
    f.engine.outbox.subscribe('c', (e) => {
      calls.push(e.type);
    });
    const [pendingOne] = await f.store.findOutbox({ consumer: 'a', status: 'dead' });
    expect(await f.engine.outbox.redrive(`${pendingOne?.eventId}/c`)).toBe(false);
    expect(calls).toEqual([]);
  });

  it('keeps delivered records for outboxRetentionDays and deletes them in batches afterwards', async () => {
    const f = createFixture({ outboxRetentionDays: 2, batchSize: 2, keepDeliveredOutbox: true });
    await paidBooking(f);
    await paidBooking(f, 48 * 60);
    const delivered = (await f.store.findOutbox({ status: 'delivered' })).length;
    expect(delivered).toBeGreaterThan(4);
    f.clock.advanceMinutes(36 * 60); // 1.5 days: kept
    await f.engine.runJob('cleanupExpiredSchedules', {});
    expect((await f.store.findOutbox({ status: 'delivered' })).length).toBe(delivered);
    f.clock.advanceMinutes(13 * 60); // 2 days and an hour: gone, all of them, batch after batch
    await f.engine.runJob('cleanupExpiredSchedules', {});
    const left = await f.store.findOutbox({ status: 'delivered' });
    expect(left.every((r) => (r.deliveredAt?.getTime() ?? 0) > f.clock.now().getTime() - 2 * 86_400_000)).toBe(true);
    expect(left.length).toBeLessThan(delivered);
  });
});

describe('the built-in deliveries', () => {
  it('tells the notifier which attempt it is making, and the same delivery id each time', async () => {
    const seen: { type: string; attempt: number; deliveryId: string }[] = [];
    let failures = 1;
    const notifier = {
      notify(n: Notification, delivery?: { deliveryId: string; attempt: number }) {
        seen.push({ type: n.type, attempt: delivery?.attempt ?? 0, deliveryId: delivery?.deliveryId ?? '' });
        if (n.type === 'appointmentBooking' && failures-- > 0) throw new Error('once');
      },
    };
    const f = createFixture({ notifier });
    await paidBooking(f);
    f.clock.advanceMinutes(1);
    await f.engine.outbox.drain();
    const doctor = seen.filter((s) => s.type === 'appointmentBooking');
    expect(doctor.map((s) => s.attempt)).toEqual([1, 2]);
    expect(doctor[0]?.deliveryId).toBe(doctor[1]?.deliveryId);
    expect(seen.filter((s) => s.type === 'newBooking').map((s) => s.attempt)).toEqual([1]);
  });

  it('reports a store failure on the fast path as outbox:deliver, gives the leases back, and the sweep delivers what stayed pending', async () => {
    const f = createFixture();
    let failClaims = true;
    // The fast path's first read (what of the booking is pending ahead) fails, as does any claim.
    const findOutbox = f.store.findOutbox.bind(f.store);
    f.store.findOutbox = async (query) => {
      if (failClaims) throw new BookingError('STORE_ERROR', 'primary stepped down');
      return findOutbox(query);
    };
    interceptOperation(f.store, 'claimOutbox', async (original, claim) => {
      if (failClaims) throw new BookingError('STORE_ERROR', 'primary stepped down');
      return original(claim);
    });
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    expect(booking.status).toBe('scheduled');
    expect(f.notifications).toEqual([]);
    const failed = f.events.filter((e) => e.name === 'effect.failed').map((e) => e.payload);
    expect(failed[0]).toMatchObject({ effect: 'outbox:deliver', error: { code: 'STORE_ERROR' } });
    failClaims = false;
    // Born leased to the fast path, and given back when it failed: the sweep at the same instant takes them.
    expect((await f.store.findOutbox({ status: 'pending' })).every((r) => r.leaseOwner === null)).toBe(true);
    await f.engine.reconcile();
    expect(f.notifications.map((n) => n.type)).toEqual(['appointmentBooking', 'newBooking']);
  });

  it('marks a commit’s job and notification deliveries in one transaction, and delivers them again when that mark is lost', async () => {
    const f = createFixture();
    let failMarks = true;
    const marked: string[][] = [];
    const transaction = f.store.transaction.bind(f.store);
    f.store.transaction = ((work: Parameters<typeof f.store.transaction>[0]) => {
      const keys: string[] = [];
      marked.push(keys);
      return transaction((tx) =>
        work(
          new Proxy(tx, {
            get(target, key) {
              const value = Reflect.get(target, key);
              if (typeof value !== 'function') return value;
              if (key !== 'completeOutbox') return value.bind(target);
              return async (args: { key: string; owner: string; at: Date }) => {
                keys.push(args.key.slice(args.key.indexOf('/') + 1));
                if (failMarks && args.key.endsWith('/careslot:notifier')) {
                  throw new BookingError('STORE_ERROR', 'primary stepped down');
                }
                return target.completeOutbox(args);
              };
            },
          }),
        ),
      );
    }) as typeof f.store.transaction;
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    expect(f.notifications.map((n) => n.type)).toEqual(['appointmentBooking', 'newBooking']);
    // The two notifications and the confirmation's jobs went in one mark, which failed as a whole.
    const batch = marked.find((keys) => keys.includes('careslot:notifier'));
    expect(batch?.filter((c) => c === 'careslot:notifier')).toHaveLength(1);
    const pending = await f.store.findOutbox({ bookingId: booking.id, status: 'pending' });
    expect(pending.map((r) => r.consumer).sort()).toEqual(
      expect.arrayContaining(['careslot:notifier', 'careslot:notifier']),
    );
    expect(f.events.find((e) => e.name === 'effect.failed')?.payload).toMatchObject({ effect: 'outbox:deliver' });
    failMarks = false;
    marked.length = 0;
    // The lease the lost mark left ends, and the sweep takes them again.
    f.clock.advance(60_000);
    await f.engine.outbox.drain();
    // At least once: sent again, and now marked, the notifier's two in one transaction.
    expect(f.notifications.map((n) => n.type)).toEqual([
      'appointmentBooking',
      'newBooking',
      'appointmentBooking',
      'newBooking',
    ]);
    expect(marked.some((keys) => keys.filter((c) => c === 'careslot:notifier').length === 2)).toBe(true);
    expect(await f.store.findOutbox({ bookingId: booking.id, status: 'pending' })).toEqual([]);
  });

  describe('a change of a booking whose earlier effects this process is still delivering', () => {
    /** A notifier whose first `appointmentBooking` waits until `release()`; every notice it got, in order. */
    function slowNotifier() {
      const sent: string[] = [];
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let reached = () => {};
      const reachedHeld = new Promise<void>((resolve) => {
        reached = resolve;
      });
      let first = true;
      const notifier = {
        async notify(n: Notification) {
          if (n.type === 'appointmentBooking' && first) {
            first = false;
            reached();
            await held;
          }
          sent.push(n.type);
        },
      };
      return { notifier, sent, reachedHeld, release: () => release() };
    }

    /** Books a free visit whose notifier hangs, and cancels it while the booking's notices are on their way. */
    async function cancelWhileBookingIsDelivered(f: Fixture, slow: ReturnType<typeof slowNotifier>) {
      const slot = await f.slot();
      const booked = f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
      await slow.reachedHeld;
      const [booking] = await f.store.findBookings({ patientId: PATIENTS.vise });
      if (booking === undefined) throw new Error('the booking was not committed');
      return { booked, booking };
    }

    it('delivers its effects as soon as those earlier deliveries end, not at the next drain', async () => {
      const slow = slowNotifier();
      const f = createFixture({ notifier: slow.notifier });
      const { booked, booking } = await cancelWhileBookingIsDelivered(f, slow);
      await f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'patient', id: PATIENTS.vise } });
      // The cancellation's deliveries wait behind the booking's, which are still running.
      expect(slow.sent).toEqual([]);
      expect(f.events.some((e) => e.name === 'booking.cancelled')).toBe(false);
      slow.release();
      await booked;
      // No drain ran: the booking's fast path handed the waiting deliveries on when it ended.
      expect(slow.sent).toEqual(['appointmentBooking', 'newBooking', 'appointmentCancelled', 'appointmentCancelled']);
      expect(f.events.filter((e) => e.name === 'booking.cancelled')).toHaveLength(1);
      expect(await f.store.findOutbox({ bookingId: booking.id, status: 'pending' })).toEqual([]);
      // Each once: a drain now finds nothing left to deliver.
      expect(await f.engine.outbox.drain()).toEqual({ delivered: 0, failed: 0, dead: 0 });
    });

    it('delivers them itself when the earlier deliveries end while it is still giving them back', async () => {
      const slow = slowNotifier();
      // Snapshot isolation: the earlier deliveries' mark commits while the give-back is open.
      const clock = new ManualClock('2030-03-01T08:00:00Z');
      const f = createFixture({
        clock,
        store: new MemoryStore({ clock, isolation: 'snapshot' }),
        notifier: slow.notifier,
      });
      const { booked, booking } = await cancelWhileBookingIsDelivered(f, slow);
      let gaveBack = 0;
      interceptOperation(f.store, 'releaseOutbox', async (original, args) => {
        if (gaveBack++ === 0) {
          // The first give-back of the cancellation's deliveries waits until the booking's are done.
          slow.release();
          await booked;
        }
        return original(args);
      });
      await f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'patient', id: PATIENTS.vise } });
      expect(gaveBack).toBeGreaterThan(0);
      expect(slow.sent).toEqual(['appointmentBooking', 'newBooking', 'appointmentCancelled', 'appointmentCancelled']);
      expect(f.events.filter((e) => e.name === 'booking.cancelled')).toHaveLength(1);
      expect(await f.store.findOutbox({ bookingId: booking.id, status: 'pending' })).toEqual([]);
      expect(await f.engine.outbox.drain()).toEqual({ delivered: 0, failed: 0, dead: 0 });
    });
  });
});
