// The transactional outbox through the public API: at least once, once per consumer, never for a rollback, dead letters, subscribers.
import { describe, expect, it } from 'vitest';
import {
  BookingEngine,
  BookingError,
  type BookingStore,
  type Notification,
  type OutboxEvent,
  PermanentDeliveryError,
} from '../../src/index.js';
import { createFixture, type Fixture, PATIENTS } from '../support/engine-fixture.js';
import { interceptOperation } from '../support/intercept.js';

async function paidBooking(f: Fixture, startInMinutes = 24 * 60) {
  const slot = await f.slot(startInMinutes);
  const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
  const sessionId = f.gateway.sessionForBooking(booking.id)?.id ?? '';
  expect((await f.engine.handlePaymentEvent(f.gateway.pay(sessionId))).outcome).toBe('confirmed');
  return { slot, booking };
}

/** A notifier that throws while `down` says so, and records what it delivered with its delivery id. */
function flakyNotifier(down: () => boolean) {
  const sent: { type: string; deliveryId: string | undefined }[] = [];
  let calls = 0;
  return {
    sent,
    calls: () => calls,
    notify(notification: Notification, delivery?: { deliveryId: string }) {
      calls++;
      if (down()) throw new Error('smtp down');
      sent.push({ type: notification.type, deliveryId: delivery?.deliveryId });
    },
  };
}

describe('the outbox: effects at least once', () => {
  for (const [label, failures] of [
    ['once', 1],
    ['twice', 2],
    ['for an hour', 'hour'],
  ] as const) {
    it(`delivers the doctor's notification exactly once after a notifier that failed ${label}`, async () => {
      let failuresLeft = failures === 'hour' ? Number.POSITIVE_INFINITY : failures;
      let until = 0;
      const f0 = createFixture();
      if (failures === 'hour') until = f0.clock.now().getTime() + 3_600_000;
      const notifier = flakyNotifier(() => {
        if (failures === 'hour') return f0.clock.now().getTime() < until;
        return failuresLeft-- > 0;
      });
      const f = createFixture({ notifier, clock: f0.clock, store: f0.store });
      await paidBooking(f);
      for (let minute = 0; minute < 120; minute++) {
        f.clock.advanceMinutes(1);
        await f.engine.runJob('deliverCareslotOutbox', {});
      }
      const doctor = notifier.sent.filter((n) => n.type === 'appointmentBooking');
      expect(doctor).toHaveLength(1);
      expect(notifier.sent.filter((n) => n.type === 'newBooking')).toHaveLength(1);
      expect(f.events.filter((e) => e.name === 'effect.failed')).toEqual([]);
      expect(await f.store.findOutbox({ status: 'pending' })).toEqual([]);
      // The delivery id is stable: the same on the failed attempts and the one that went through.
      expect(doctor[0]?.deliveryId).toMatch(/^evt_/);
    });
  }

  it('delivers across a process restart: a new engine on the same store sends what the first could not', async () => {
    const f = createFixture({ notifier: flakyNotifier(() => true) });
    await paidBooking(f);
    expect(await f.store.findOutbox({ consumer: 'careslot:notifier', status: 'pending' })).toHaveLength(2);
    // The first process is gone; a second one starts on the same store with a working notifier.
    const working = flakyNotifier(() => false);
    const second = createFixture({ notifier: working, store: f.store, clock: f.clock });
    f.clock.advanceMinutes(5);
    await second.engine.reconcile();
    expect(working.sent.map((n) => n.type)).toEqual(['appointmentBooking', 'newBooking']);
    await second.engine.reconcile();
    expect(working.sent).toHaveLength(2);
  });

  it('never delivers for a transaction that rolled back', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const outboxBefore = (await f.store.findOutbox({})).length;
    const eventsBefore = f.events.length;
    // The booking transaction fails after its writes: nothing of it may reach the outbox or the host.
    const transaction = f.store.transaction.bind(f.store);
    f.store.transaction = ((work) =>
      transaction(async (tx) => {
        const result = await work(tx);
        if (result !== null && typeof result === 'object' && 'patientId' in result) {
          throw new BookingError('STORE_ERROR', 'disk full at commit');
        }
        return result;
      })) as BookingStore['transaction'];
    await expect(f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id })).rejects.toMatchObject({
      code: 'STORE_ERROR',
    });
    f.store.transaction = transaction;
    expect(await f.store.findOutbox({})).toHaveLength(outboxBefore);
    expect(f.events.slice(eventsBefore).map((e) => e.name)).toEqual([]);
    expect(f.notifications).toEqual([]);
    await f.engine.reconcile();
    expect(f.notifications).toEqual([]);
  });

  it('delivers once a commit whose outcome was unknown turns out to have happened', async () => {
    const f = createFixture();
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    const transaction = f.store.transaction.bind(f.store);
    let failCommit = true;
    f.store.transaction = (async (work) => {
      const result = await transaction(work);
      if (failCommit) {
        failCommit = false;
        throw new BookingError('STORE_ERROR', 'commit outcome unknown', { details: { commitOutcome: 'unknown' } });
      }
      return result;
    }) as BookingStore['transaction'];
    const paid = f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? '');
    expect((await f.engine.handlePaymentEvent(paid)).outcome).toBe('confirmed');
    f.store.transaction = transaction;
    expect((await f.engine.handlePaymentEvent(paid)).outcome).toBe('duplicate');
    await f.engine.reconcile();
    expect(f.notifications.filter((n) => n.type === 'appointmentBooking')).toHaveLength(1);
    expect(f.events.filter((e) => e.name === 'booking.confirmed')).toHaveLength(1);
  });

  it('ends in the dead letters after outboxMaxAttempts, reports it once, and redrive delivers it', async () => {
    let down = true;
    const notifier = flakyNotifier(() => down);
    const f = createFixture({ notifier, outboxMaxAttempts: 3, outboxRetryDelayMs: 1_000 });
    const { booking } = await paidBooking(f);
    for (let i = 0; i < 10; i++) {
      f.clock.advanceMinutes(2);
      await f.engine.reconcile();
    }
    const dead = await f.engine.outbox.listDead({ consumer: 'careslot:notifier' });
    expect(dead.map((r) => [r.type, r.attempts, r.lastError])).toEqual([
      ['notify.booked', 3, 'Error: smtp down'],
      ['notify.booked', 3, 'Error: smtp down'],
    ]);
    const failed = f.events.filter((e) => e.name === 'effect.failed').map((e) => e.payload);
    expect(failed).toEqual([
      expect.objectContaining({ effect: 'notify:appointmentBooking', bookingId: booking.id }),
      expect.objectContaining({ effect: 'notify:newBooking', bookingId: booking.id }),
    ]);
    expect(f.events.filter((e) => e.name === 'outbox.dead')).toHaveLength(2);
    expect(notifier.calls()).toBe(6);
    down = false;
    for (const record of dead) expect(await f.engine.outbox.redrive(record.key)).toBe(true);
    expect(notifier.sent.map((n) => n.type)).toEqual(['appointmentBooking', 'newBooking']);
    expect(await f.engine.outbox.redrive(dead[0]?.key ?? '')).toBe(false);
    expect(await f.engine.outbox.listDead()).toEqual([]);
  });

  it('emits engine.events once per event id in a process, even when the record is delivered again', async () => {
    const f = createFixture();
    const seen: string[] = [];
    f.engine.events.on('booking.confirmed', (e) => seen.push(e.booking.id));
    // The first completion of an events delivery is lost (the store fails): the record stays leased.
    let lose = false;
    interceptOperation(f.store, 'completeOutbox', async (original, args) => {
      if (args.key.endsWith('/careslot:events') && lose) {
        lose = false;
        throw new BookingError('STORE_ERROR', 'connection reset');
      }
      return original(args);
    });
    const slot = await f.slot();
    const { booking } = await f.engine.book({ patientId: PATIENTS.standard, scheduleId: slot.id });
    // Armed now: the next events delivery to complete is booking.confirmed's.
    lose = true;
    await f.engine.handlePaymentEvent(f.gateway.pay(f.gateway.sessionForBooking(booking.id)?.id ?? ''));
    expect(lose).toBe(false);
    expect(seen).toEqual([booking.id]);
    // After the lease, the sweep takes the record again: completed without a second emit.
    f.clock.advanceMinutes(2);
    await f.engine.reconcile();
    expect(seen).toEqual([booking.id]);
    expect(await f.store.findOutbox({ consumer: 'careslot:events', status: 'pending' })).toEqual([]);
    // Dates come back as Dates for in-process listeners.
    expect(f.events.find((e) => e.name === 'booking.confirmed')?.payload).toMatchObject({
      booking: { slotStart: expect.any(Date) },
    });
  });

  it('deletes delivered records after outboxRetentionDays in the daily clean-up, and keeps pending ones', async () => {
    const notifier = flakyNotifier(() => true);
    const f = createFixture({ notifier, outboxRetentionDays: 1, keepDeliveredOutbox: true });
    await paidBooking(f);
    const before = await f.store.findOutbox({});
    expect(before.some((r) => r.status === 'delivered')).toBe(true);
    f.clock.advanceMinutes(2 * 24 * 60);
    await f.engine.runJob('cleanupExpiredSchedules', {});
    const after = await f.store.findOutbox({});
    expect(after.every((r) => r.status !== 'delivered')).toBe(true);
    expect(after.filter((r) => r.consumer === 'careslot:notifier')).toHaveLength(2);
  });
});

describe('engine.outbox.subscribe', () => {
  it('delivers each committed event to a subscriber once, in order per booking, with a stable id and JSON payload', async () => {
    const f = createFixture();
    const got: OutboxEvent[] = [];
    f.engine.outbox.subscribe('crm', (event) => {
      got.push(event);
    });
    const { booking, slot } = await paidBooking(f);
    await f.engine.cancelBooking({ bookingId: booking.id, actor: { role: 'admin', id: 'a1' } });
    await f.engine.reconcile();
    const ofBooking = got.filter((e) => e.bookingId === booking.id).map((e) => e.type);
    expect(ofBooking).toEqual([
      'booking.created',
      'booking.confirmed',
      'booking.cancelled',
      'schedule.released',
      'refund.succeeded',
    ]);
    expect(new Set(got.map((e) => e.id)).size).toBe(got.length);
    const confirmed = got.find((e) => e.type === 'booking.confirmed');
    expect(confirmed).toMatchObject({ version: 1, attempt: 1, scheduleId: slot.id });
    const payload = confirmed?.payload ?? {};
    expect((payload.booking as { slotStart: unknown }).slotStart).toBe(slot.startTime.toISOString());
    expect(JSON.parse(JSON.stringify(payload))).toEqual(payload);
  });

  it('retries a failing subscriber with backoff and keeps later events of the booking behind it', async () => {
    const f = createFixture();
    let failing = true;
    const got: string[] = [];
    f.engine.outbox.subscribe(
      'ehr',
      (event) => {
        if (event.bookingId === null) return;
        if (failing && event.type === 'booking.created') throw new Error('ehr down');
        got.push(`${event.type}#${event.attempt}`);
      },
      { baseDelayMs: 60_000 },
    );
    await paidBooking(f);
    expect(got).toEqual([]);
    failing = false;
    f.clock.advanceMinutes(0.5);
    await f.engine.reconcile();
    expect(got).toEqual([]); // not due yet (60 s backoff)
    f.clock.advanceMinutes(1);
    await f.engine.reconcile();
    expect(got).toEqual(['booking.created#2', 'booking.confirmed#1']);
  });

  it('takes what waited behind a retried delivery right after it, not after the lease', async () => {
    const f = createFixture({ outboxLeaseMs: 600_000 });
    let failing = true;
    const got: string[] = [];
    f.engine.outbox.subscribe(
      'ehr',
      (event) => {
        if (event.bookingId === null) return;
        if (failing && event.type === 'booking.created') throw new Error('ehr down');
        got.push(event.type);
      },
      { baseDelayMs: 1_000 },
    );
    await paidBooking(f);
    failing = false;
    f.clock.advanceMinutes(2 / 60); // past the 1 s backoff, far inside the 10-minute lease
    await f.engine.outbox.drain();
    expect(got).toEqual(['booking.created', 'booking.confirmed']);
  });

  it('gives up at once on a PermanentDeliveryError, and refuses bad subscriptions', async () => {
    const f = createFixture();
    f.engine.outbox.subscribe(
      'gone',
      () => {
        throw new PermanentDeliveryError('410');
      },
      { events: ['booking.created'] },
    );
    const slot = await f.slot();
    await f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id });
    expect((await f.engine.outbox.listDead({ consumer: 'gone' })).map((r) => [r.type, r.attempts])).toEqual([
      ['booking.created', 1],
    ]);
    expect(() => f.engine.outbox.subscribe('gone', () => {})).toThrow(/already subscribed/);
    expect(() => f.engine.outbox.subscribe('careslot:events', () => {})).toThrow(TypeError);
    expect(() => f.engine.outbox.subscribe('x', () => {}, { events: ['nope' as never] })).toThrow(/unknown event type/);
    expect(() => f.engine.outbox.subscribe('y', 'no' as never)).toThrow(TypeError);
  });

  it('delivers each record once per consumer when two engines drain one store', async () => {
    const f = createFixture();
    const other = new BookingEngine({ store: f.store, payments: f.gateway, patients: f.patients, clock: f.clock });
    const deliveries = new Map<string, number>();
    let down = true;
    const handler = async (event: OutboxEvent) => {
      if (down) throw new Error('audit log down');
      await new Promise((resolve) => setTimeout(resolve, 1));
      deliveries.set(event.id, (deliveries.get(event.id) ?? 0) + 1);
    };
    // The same durable consumer in both processes.
    f.engine.outbox.subscribe('audit', handler);
    other.outbox.subscribe('audit', handler);
    for (let i = 0; i < 5; i++) await paidBooking(f, 24 * 60 + i * 60);
    const records = await f.store.findOutbox({ consumer: 'audit' });
    expect(records.length).toBeGreaterThanOrEqual(10);
    down = false;
    f.clock.advanceMinutes(5);
    await Promise.all([f.engine.outbox.drain(), other.outbox.drain(), f.engine.outbox.drain(), other.outbox.drain()]);
    // A drain that claimed a booking's later record while another drain held its earlier one
    // gives it back when it ends (order per booking): the next drain (the recurring job's) takes
    // it, and a concurrent drain that already ended does not. One more drain, as that job would.
    await other.outbox.drain();
    expect(deliveries.size).toBe(records.length);
    expect([...deliveries.values()].every((n) => n === 1)).toBe(true);
    expect(await f.store.findOutbox({ consumer: 'audit', status: 'pending' })).toEqual([]);
  });

  it.each([true, false])(
    'delivers each fast-path record once while another engine drains the same store the whole time (keepDeliveredOutbox: %s)',
    async (keepDeliveredOutbox) => {
      const f = createFixture({ keepDeliveredOutbox });
      const other = new BookingEngine({ store: f.store, payments: f.gateway, patients: f.patients, clock: f.clock });
      const deliveries = new Map<string, number>();
      const handler = async (event: OutboxEvent) => {
        await new Promise((resolve) => setTimeout(resolve, 0));
        deliveries.set(event.id, (deliveries.get(event.id) ?? 0) + 1);
      };
      f.engine.outbox.subscribe('audit', handler);
      other.outbox.subscribe('audit', handler);
      let booking = true;
      // The other engine drains in a loop while 20 bookings commit and deliver on this engine's fast path.
      const drains = (async () => {
        while (booking) {
          await other.outbox.drain();
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      const slots = await Promise.all(Array.from({ length: 20 }, (_, i) => f.slot(24 * 60 + i * 60)));
      // A free plan: booked and confirmed in one call, all 20 at once.
      await Promise.all(slots.map((slot) => f.engine.book({ patientId: PATIENTS.vise, scheduleId: slot.id })));
      booking = false;
      await drains;
      // Three events per free booking, each delivered once: born leased to the committing engine,
      // so the drain never took one from under its fast path.
      expect(deliveries.size).toBe(60);
      expect([...deliveries.values()].every((n) => n === 1)).toBe(true);
      const records = await f.store.findOutbox({ consumer: 'audit' });
      if (keepDeliveredOutbox) {
        expect(records.length).toBe(60);
        expect(records.every((r) => r.status === 'delivered')).toBe(true);
      } else {
        // A MemoryStore that drops deliveries (and a database store's clean-up, later) keeps none.
        expect(records.filter((r) => r.status !== 'delivered')).toEqual([]);
      }
    },
  );
});
