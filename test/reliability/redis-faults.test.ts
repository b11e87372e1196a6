// Redis stopped and restarted during a stream of bookings: nothing lost, no slot stuck after reconcile, money once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BullMQScheduler, createBookingWorker } from '../../src/adapters/bullmq/index.js';
import { BookingEngine, MemoryStore } from '../../src/index.js';
import { MemoryPatientDirectory, TestPaymentGateway } from '../../src/testing/index.js';
import { findViolations } from '../support/invariants.js';
import { RedisServer } from '../support/redis-server.js';
import { redisAvailability } from '../support/services.js';

const redis = redisAvailability();
if (!redis.available) console.log(`careslot reliability Redis tests skipped: ${redis.detail}`);

const DOCTOR = '64b0000000000000000000d1';
const patientId = (i: number) => `64b00000000000000000${(0x6000 + i).toString(16)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!redis.available)('Redis outage during a stream of bookings', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it('commits every booking while Redis is down, and after it is back the worker and the sweep leave nothing stuck', async () => {
    const store = new MemoryStore();
    const gateway = new TestPaymentGateway();
    const patients = new MemoryPatientDirectory(
      Array.from({ length: 30 }, (_, i) => ({ id: patientId(i), name: `P${i}`, plan: 'standard' })),
    );
    const scheduler = new BullMQScheduler({
      connection: server.connection,
      queueName: 'careslot-reliability',
      timeoutMs: 500,
      onError: () => {},
    });
    const engine = new BookingEngine({ store, payments: gateway, patients, scheduler, holdMinutes: 1.5 / 60 });
    const failed: string[] = [];
    engine.events.on('effect.failed', (e) => failed.push(e.effect));
    const worker = createBookingWorker({
      engine,
      connection: server.connection,
      queueName: 'careslot-reliability',
      onError: () => {},
    });
    try {
      const base = Date.now() + 3_600_000;
      const slots = [];
      for (let i = 0; i < 30; i++) {
        slots.push(
          await engine.createSchedule({
            doctorId: DOCTOR,
            startTime: new Date(base + i * 3_600_000),
            endTime: new Date(base + i * 3_600_000 + 1_800_000),
            fee: { amount: 5000, currency: 'eur' },
            timeZone: 'UTC',
          }),
        );
      }
      const bookings = [];
      for (let i = 0; i < 30; i++) {
        if (i === 10) await server.stop(); // Redis goes away mid-stream…
        if (i === 20) await server.restart(); // …and comes back.
        const result = await engine.book({ patientId: patientId(i), scheduleId: slots[i]?.id ?? '' });
        bookings.push(result.booking);
        // Every third patient pays at once.
        if (i % 3 === 0) {
          await engine.handlePaymentEvent(gateway.pay(gateway.sessionForBooking(result.booking.id)?.id ?? ''));
        }
      }
      // No booking was lost or refused because of the outage.
      expect(bookings).toHaveLength(30);
      expect(await store.countBookings({})).toBe(30);
      // The jobs Redis could not take wait in the outbox for their retry; none was given up.
      expect(failed.filter((f) => f.startsWith('schedule:'))).toEqual([]);
      const waiting = await store.findOutbox({ consumer: 'careslot:scheduler', status: 'pending' });
      expect(waiting.length).toBeGreaterThanOrEqual(10);

      // Let every hold expire; the worker handles holds whose jobs reached Redis, the sweep the rest.
      await sleep(2_000);
      const deadline = Date.now() + 10_000;
      while ((await store.countBookings({ status: 'pending' })) > 0 && Date.now() < deadline) {
        await engine.reconcile();
        await sleep(200);
      }
      expect(await store.countBookings({ status: 'pending' })).toBe(0);
      expect(await store.countBookings({ status: 'scheduled', paymentStatus: 'paid' })).toBe(10);
      const released = await store.findBookings({ status: 'cancelled' });
      expect(released.map((b) => b.cancelReason)).toEqual(Array(20).fill('payment_timeout'));
      expect((await engine.getWallet(DOCTOR)).balances).toEqual({ eur: 50_000 });
      expect(await findViolations(store, { now: new Date() })).toEqual([]);
      // Every unpaid checkout was expired before its slot was released.
      const unpaid = bookings.filter((_, i) => i % 3 !== 0);
      expect(unpaid.every((b) => gateway.sessionForBooking(b.id)?.status === 'expired')).toBe(true);
    } finally {
      await worker.close();
      await scheduler.close();
    }
  }, 60_000);
});
