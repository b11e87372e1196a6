// Redis stopped while a patient books: the booking commits, the failure is an event, and the sweep does the job's work.
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { BullMQScheduler } from '../../src/adapters/bullmq/index.js';
import { BookingEngine, JOB_NAMES, MemoryStore } from '../../src/index.js';
import { MemoryPatientDirectory, TestPaymentGateway } from '../../src/testing/index.js';
import { RedisServer } from '../support/redis-server.js';
import { DOCTOR, describeWithRedis, ONE_SECOND_HOLD, PATIENT, sleep, waitFor } from './harness.js';

describeWithRedis('BullMQScheduler while Redis is down', () => {
  // Its own server: this file stops it, which must not disturb the other suites.
  let server: RedisServer;
  let scheduler: BullMQScheduler | null = null;
  const closers: (() => unknown)[] = [];

  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterEach(async () => {
    await scheduler?.close();
    scheduler = null;
    for (const close of closers.splice(0)) await close();
    await server.restart();
  });
  afterAll(async () => {
    await server?.dispose();
  });

  function engineOn(bullmq: BullMQScheduler) {
    const gateway = new TestPaymentGateway();
    const engine = new BookingEngine({
      store: new MemoryStore(),
      payments: gateway,
      patients: new MemoryPatientDirectory([{ id: PATIENT, name: 'Ada Standard', plan: 'standard' }]),
      scheduler: bullmq,
      holdMinutes: ONE_SECOND_HOLD,
    });
    const failures: { effect: string; error: unknown; bookingId?: string }[] = [];
    engine.events.on('effect.failed', (e) => failures.push(e));
    const start = new Date(Date.now() + 60_000);
    const slot = () =>
      engine.createSchedule({
        doctorId: DOCTOR,
        startTime: start,
        endTime: new Date(start.getTime() + 1_800_000),
        fee: { amount: 5000, currency: 'eur' },
        timeZone: 'Europe/Berlin',
      });
    return { engine, gateway, failures, slot };
  }

  it('commits the booking, keeps the failed job in the outbox for its retry, and reconcile releases the expired hold once Redis is back', async () => {
    const queueErrors: Error[] = [];
    // Connection options: careslot opens (and closes) its own connection, failing fast offline.
    scheduler = new BullMQScheduler({
      connection: server.connection,
      queueName: 'careslot-outage',
      timeoutMs: 1_000,
      onError: (error) => queueErrors.push(error),
    });
    const { engine, gateway, failures, slot: createSlot } = engineOn(scheduler);
    const slot = await createSlot();
    expect(await scheduler.queue.getJobState(`expire-${slot.id}`)).toBe('delayed');

    await server.stop();
    const before = Date.now();
    const { booking, paymentUrl } = await engine.book({ patientId: PATIENT, scheduleId: slot.id });
    const took = Date.now() - before;

    expect(booking.status).toBe('pending');
    expect(paymentUrl).toBeDefined();
    expect((await engine.getSchedule(slot.id)).status).toBe('pending');
    expect(took).toBeLessThan(2_000);
    // Not given up: the job waits in the outbox, its failed attempt recorded, for the retry.
    expect(failures).toHaveLength(0);
    const [waiting] = await engine.store.findOutbox({ consumer: 'careslot:scheduler', status: 'pending' });
    expect(waiting).toMatchObject({ type: 'job.schedule', bookingId: booking.id, attempts: 1 });
    expect(waiting?.lastError).toMatch(/Error/);

    await server.restart();
    await sleep(booking.holdExpiresAt!.getTime() + 50 - Date.now());
    const report = await engine.reconcile();
    expect(report).toMatchObject({ holdsReleased: 1, errors: 0 });
    expect(await engine.getBooking(booking.id)).toMatchObject({ status: 'cancelled', cancelReason: 'payment_timeout' });
    expect((await engine.getSchedule(slot.id)).status).toBe('available');
    // The sweep closed the checkout before releasing the slot, as the job would have.
    expect(gateway.sessionForBooking(booking.id)?.status).toBe('expired');
    expect(gateway.calls.map((c) => c.method).at(-1)).toBe('expireCheckout');

    // The scheduler reconnects on its own: the next booking's job goes in again.
    const { booking: next } = await engine.book({ patientId: PATIENT, scheduleId: slot.id });
    await waitFor('the scheduler to work again', async () => {
      if ((await scheduler!.queue.getJobState(`hold-${next.id}`).catch(() => 'unknown')) === 'delayed') return true;
      await scheduler!
        .schedule({
          name: JOB_NAMES.holdTimeout,
          id: `hold-${next.id}`,
          runAt: next.holdExpiresAt!,
          data: { bookingId: next.id },
        })
        .catch(() => {});
      return false;
    });
  });

  it("bounds the wait on a host's ioredis connection that queues commands offline: the booking commits after timeoutMs", async () => {
    // A host's connection keeps commands while Redis is down (ioredis' offline queue); the
    // scheduler stops waiting after timeoutMs so the patient is not kept waiting.
    const host = new Redis({ ...server.connection, maxRetriesPerRequest: null });
    host.on('error', () => {});
    closers.push(() => host.disconnect());
    scheduler = new BullMQScheduler({
      connection: host,
      queueName: 'careslot-outage-host',
      timeoutMs: 300,
      onError: () => {},
    });
    const { engine, failures, slot: createSlot } = engineOn(scheduler);
    const slot = await createSlot();

    await server.stop();
    const before = Date.now();
    const { booking } = await engine.book({ patientId: PATIENT, scheduleId: slot.id });
    const took = Date.now() - before;

    expect(booking.status).toBe('pending');
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1_500);
    expect(failures).toHaveLength(0);
    const [waiting] = await engine.store.findOutbox({ consumer: 'careslot:scheduler', status: 'pending' });
    expect(waiting?.attempts).toBe(1);
    expect(waiting?.lastError).toMatch(/Redis did not answer within 300 ms/);
    expect(host.status).not.toBe('end');
  });
});
